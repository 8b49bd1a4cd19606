"""Writing goleak's files: reports, baselines and captured dumps, atomically where the target is a file."""
import os
import stat
import tempfile
from typing import BinaryIO, Iterable, Optional, Union

from goleak.errors import UsageError


def check_output_dir(path: Optional[str]) -> None:
    """Refuse an -o whose directory does not exist before the work, not after it."""
    if not path or path == "-":
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError("cannot write %s: directory %s does not exist" % (path, directory))


def write_atomic(path: str, data: Union[bytes, Iterable[bytes]]) -> None:
    """Write data (bytes, or its pieces in order) to path. A file is written through a
    temporary file beside it and a rename: a failure never leaves half a file, and a reader
    never sees one. A symbolic link stays a link (the file it names is replaced), and what is
    not a file (/dev/null, /dev/stdout, a named pipe, a process substitution's /dev/fd/N) is
    written in place: renaming over it would put a file where the device or pipe was."""
    check_output_dir(path)
    try:
        existing: Optional[os.stat_result] = os.stat(path)
    except OSError:
        existing = None
    try:
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            with open(path, "wb", buffering=1 << 20) as f:
                _write(f, data)
            return
    except OSError as e:
        raise UsageError("cannot write %s: %s" % (path, e.strerror or e))
    target = os.path.realpath(path)
    fd, tmp = tempfile.mkstemp(prefix=".goleak-", suffix=".tmp", dir=os.path.dirname(target) or ".")
    try:
        if existing is not None:
            mode = stat.S_IMODE(existing.st_mode)  # a file we replace keeps its permissions
        else:
            # mkstemp makes the file private (0600); ours are ordinary files (0666 - umask).
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            _write(f, data)
        os.replace(tmp, target)
    except BaseException as e:
        # Also when the pieces of the report fail to come (an error while rendering them):
        # no temporary file is left behind.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise UsageError("cannot write %s: %s" % (path, e.strerror or e))
        raise


def _write(f: BinaryIO, data: Union[bytes, Iterable[bytes]]) -> None:
    # A big report comes in pieces of about a megabyte (json_report.splice).
    if isinstance(data, bytes):
        f.write(data)
    else:
        f.writelines(data)
