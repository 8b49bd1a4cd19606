"""-o writes a file atomically, and leaves alone what is not a file: `-o /dev/null` once
replaced the machine's /dev/null with a regular file (a rename over it). A named pipe stands
for every such target here, so that a failing test cannot break the machine's /dev/null."""
import json
import os
import stat
import threading

import pytest

from goleak.errors import UsageError
from goleak.output import write_atomic
from tests.conftest import FIXTURES, run_cli

DUMP = str(FIXTURES / "compare" / "after.txt")


def read_fifo_in_background(path):
    got = {}

    def read():
        with open(path, "rb") as f:
            got["data"] = f.read()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, got


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_written_in_place_and_stays_a_pipe(tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    reader, got = read_fifo_in_background(fifo)
    run_cli(["summary", DUMP, "--format", "json", "-o", str(fifo)])
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert json.loads(got["data"])["total"] == json.loads(run_cli(["summary", DUMP, "--format", "json"]).stdout)["total"]
    assert os.listdir(tmp_path) == ["report.fifo"]  # no temporary file beside it


def test_a_symlink_stays_a_link_to_the_file_it_names(tmp_path):
    real = tmp_path / "reports" / "leak.md"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "latest.md"
    link.symlink_to(real)
    run_cli(["summary", DUMP, "--format", "markdown", "-o", str(link)])
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("#")
    assert sorted(os.listdir(real.parent)) == ["leak.md"]


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_follows_the_umask(tmp_path):
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    os.chmod(kept, 0o640)
    write_atomic(str(kept), b"[1]")
    assert kept.read_bytes() == b"[1]" and stat.S_IMODE(os.stat(kept).st_mode) == 0o640
    umask = os.umask(0o027)
    try:
        write_atomic(str(tmp_path / "new.json"), [b"[", b"2]"])
    finally:
        os.umask(umask)
    assert (tmp_path / "new.json").read_bytes() == b"[2]"
    assert stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_whose_reader_left_is_a_clear_error(tmp_path):
    fifo = tmp_path / "gone.fifo"
    os.mkfifo(fifo)
    opened = threading.Event()

    def open_and_leave():
        with open(fifo, "rb"):
            opened.set()
    threading.Thread(target=open_and_leave, daemon=True).start()
    with pytest.raises(UsageError, match="cannot write .*gone.fifo"):
        # Enough bytes to fill the pipe: the reader is gone by the time they are written.
        write_atomic(str(fifo), [b"x" * (1 << 20)] * 8)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("args, code", [
    (["gate", "before.txt", "after.txt", "--max-goroutines", "1"], 1),
    (["compare", "--fail-on-leak", "before.txt", "after.txt"], 1),
    (["summary", "after.txt"], 0),
])
def test_a_reader_that_leaves_early_does_not_hide_the_verdict(args, code):
    # `goleak gate ... | true`: stdout's reader is gone before the report is written.
    import subprocess
    from tests.conftest import goleak_exe
    read_end, write_end = os.pipe()
    os.close(read_end)
    argv = [goleak_exe()] + [str(FIXTURES / "compare" / a) if a.endswith(".txt") else a for a in args]
    try:
        done = subprocess.run(argv + ["--format", "json"], stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == code, done.stderr
    assert b"Traceback" not in done.stderr
    if args[0] == "gate":
        assert b"goleak: gate failed: max-goroutines" in done.stderr
