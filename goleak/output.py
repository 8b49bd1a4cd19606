"""Writing goleak's files: reports, baselines and captured dumps, always atomically."""
import os
import tempfile
from typing import Optional

from goleak.errors import UsageError


def check_output_dir(path: Optional[str]) -> None:
    """Refuse an -o whose directory does not exist before the work, not after it."""
    if not path or path == "-":
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError("cannot write %s: directory %s does not exist" % (path, directory))


def write_atomic(path: str, data: bytes) -> None:
    """Write data through a temporary file beside path and a rename: a failure never leaves
    half a file, and a reader never sees one."""
    check_output_dir(path)
    target = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".goleak-", suffix=".tmp", dir=os.path.dirname(target) or ".")
    try:
        # mkstemp makes the file private (0600); ours are ordinary files (0666 - umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError("cannot write %s: %s" % (path, e.strerror or e))
