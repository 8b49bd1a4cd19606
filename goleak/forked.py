"""Work in a forked child process, sent back through a pipe as length-prefixed records.

Both parallel stages use it: the parse, a byte range of a large dump per child
(goleak/parse/parallel.py), and the JSON summary, tokens of its clusters per process
(goleak/shards.py). A child inherits everything its parent has read through fork, so nothing
is pickled on the way in; what it sends back is the caller's business. Plain os.fork, not
multiprocessing: importing multiprocessing.pool and starting a pool cost 40-50 ms of a run
before any work, and a pool's helper threads take the GIL from the reading process.
"""
import io
import os
import signal
import struct
import sys
from typing import Callable, Optional, Sequence

_SIZE = struct.Struct("<Q")  # the byte length of the record that follows it
_PIPE_SIZE = 1 << 20


def fork_available() -> bool:
    """fork shares everything a process has read for free; where it is missing (Windows,
    WebAssembly) or unsafe (macOS, whose system libraries may not survive a fork), one
    process does the work."""
    return os.name == "posix" and hasattr(os, "fork") and sys.platform != "darwin"


def send(out: io.BufferedWriter, chunks: Sequence[bytes]) -> None:
    """One record, made of the chunks in order (the reader gets them as one). chunks is
    read twice (its length first): a list, not a one-pass iterator."""
    out.write(_SIZE.pack(sum(map(len, chunks))))
    for chunk in chunks:
        out.write(chunk)


class Child:
    """A forked process running work(out), out being its end of a pipe to this process."""

    def __init__(self, pid: int, stream: io.BufferedReader):
        self.pid = pid
        self.stream = stream
        # Set by the caller once it has read all it needs: close() then lets the child end
        # on its own instead of stopping it.
        self.done = False

    @classmethod
    def start(cls, work: Callable[[io.BufferedWriter], object]) -> Optional["Child"]:
        """The child running work, or None if none could be started (the caller then does
        the work itself)."""
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return None
        if sys.platform.startswith("linux"):
            try:
                # A megabyte at a time through the pipe, not 64 KiB: fewer turns of the two
                # processes while this one reads. Linux only (F_SETPIPE_SZ, 1031, which
                # Python names from 3.10 on); elsewhere the default stays.
                import fcntl
                fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
            except OSError:
                pass
        # Interrupts wait until each side stands where it can handle them: the child inside
        # the try that ends in os._exit, this process with the child on record to reap.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(read_end)
            os.close(write_end)
            return None
        if pid == 0:
            # The child never returns into the caller's code, whatever happens (an exception,
            # an interrupt): its only way out is os._exit, which flushes none of the buffers
            # it shares with the parent.
            status = 1
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                os.close(read_end)
                with os.fdopen(write_end, "wb", buffering=_PIPE_SIZE) as out:
                    work(out)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        child = cls(pid, os.fdopen(read_end, "rb", buffering=_PIPE_SIZE))
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        except BaseException:
            child.close()
            raise
        return child

    def record(self) -> Optional[bytes]:
        """The next record the child sent, or None at the end of the pipe (the child is done,
        or stopped short: killed, out of memory, or failed)."""
        head = self.stream.read(_SIZE.size)
        if len(head) != _SIZE.size:
            return None
        (size,) = _SIZE.unpack(head)
        data = self.stream.read(size)
        return data if len(data) == size else None

    def close(self) -> None:
        """Stop the child unless the caller is done with it (this process failed or was
        interrupted), close the pipe and reap the child."""
        if not self.done:
            try:
                # Unless it is gone already (its pid could then be another process's).
                # SIGKILL: the child has nothing to clean up, and SIGTERM may be ignored.
                if os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                    os.kill(self.pid, signal.SIGKILL)
            except (ChildProcessError, ProcessLookupError):
                pass
        self.stream.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped already, or SIGCHLD ignored
            pass
