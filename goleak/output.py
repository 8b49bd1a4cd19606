"""Writing goleak's files: reports, baselines and captured dumps, always atomically."""
import os
import tempfile
from typing import Iterable, Optional, Union

from goleak.errors import UsageError


def check_output_dir(path: Optional[str]) -> None:
    """Refuse an -o whose directory does not exist before the work, not after it."""
    if not path or path == "-":
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError("cannot write %s: directory %s does not exist" % (path, directory))


def write_atomic(path: str, data: Union[bytes, Iterable[bytes]]) -> None:
    """Write data (bytes, or its pieces in order) through a temporary file beside path and a
    rename: a failure never leaves half a file, and a reader never sees one."""
    check_output_dir(path)
    target = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".goleak-", suffix=".tmp", dir=os.path.dirname(target) or ".")
    try:
        # mkstemp makes the file private (0600); ours are ordinary files (0666 - umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        # A big report comes in pieces of about a megabyte (json_report.splice).
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                f.writelines(data)
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
