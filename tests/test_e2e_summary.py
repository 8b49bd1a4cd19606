"""`curl -s .../debug/pprof/goroutine?debug=2 | goleak summary -` against the real leaky Go
server on 127.0.0.1, and the same dump through goleak's own URL input and as debug=1 and
debug=0: the first thing an on-call engineer runs."""
import json
import shutil
import subprocess

import pytest

from tests.conftest import goleak_exe, run_cli
from tests.test_e2e_gate import child_env

pytestmark = pytest.mark.slow


def clusters_by_title(report):
    # A cluster is named by where to look: its innermost frame outside runtime and stdlib.
    return {c["where"]["function"]: c for c in report["clusters"] if c["where"]}


def test_curl_piped_into_summary_names_the_leaks(leaky_server):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    leaky_server.get("/leak/sender?n=40")
    leaky_server.get("/leak/mutex?n=6")
    cmd = "%s -s '%s' | '%s' summary - --format json" % (
        curl, leaky_server.url("/debug/pprof/goroutine?debug=2"), goleak_exe())
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=child_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_title = clusters_by_title(report)
    sender, mutex = by_title["main.leakSender"], by_title["main.mutexWaiter"]
    assert (sender["count"], sender["states"]) == (40, {"chan send": 40})
    assert (mutex["count"], mutex["states"]) == (6, {"sync.Mutex.Lock": 6})
    assert sender["frames"][0]["function"] == "main.leakSender"
    assert sender["created_by"]["function"] == "main.fetchWithTimeout"  # where the leak is spawned
    # From one dump, the big cluster parked in a channel send is the first suspect.
    assert report["suspects"][0]["id"] == sender["id"]
    assert report["suspects"][0]["reasons"] == ["40 goroutines parked in chan send"]
    # Every goroutine is in a cluster or in the count of default-ignored runtime ones.
    assert report["total"] == sum(c["count"] for c in report["clusters"]) + report["ignored_goroutines"]


def test_url_input_and_every_debug_level_agree(leaky_server):
    leaky_server.get("/leak/waitgroup?n=5")
    counts = {}
    for level in (2, 1, 0):
        out = run_cli(["summary", leaky_server.url("/debug/pprof/goroutine?debug=%d" % level), "-f", "json"])
        report = json.loads(out.stdout)
        counts[level] = (report["total"], clusters_by_title(report)["main.waitgroupWaiter"]["count"])
    assert counts[2][1] == counts[1][1] == counts[0][1] == 5
    # The server's own goroutines may come and go between fetches, by a few at most.
    assert abs(counts[2][0] - counts[0][0]) <= 2 and abs(counts[1][0] - counts[0][0]) <= 2


@pytest.mark.parametrize("code, stderr, status", [(None, "", 0), (0, "", 0), (1, "", 1), (2, "", 2),
                                                  ("boom", "boom\n", 1)])
def test_console_script_exit_flushes_and_keeps_the_status(code, stderr, status):
    # run() leaves with os._exit after a run (no teardown of a big dump's objects): what was
    # printed still arrives, and sys.exit's argument means what the interpreter makes of it.
    import sys
    program = "import sys\nfrom goleak.cli import leave\nsys.stdout.write('x' * 100000)\nleave(%r)\n" % (code,)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (status, "x" * 100000, stderr)


def test_console_script_holds_the_parsed_sources_until_it_leaves(tmp_path):
    # Freeing a big dump's objects one by one as the command returns is work os._exit skips:
    # run() holds what load_sources parsed until leave(); CliRunner runs hold nothing.
    import sys
    from tests.conftest import FIXTURES
    program = (
        "import sys\n"
        "import goleak.cli as cli\n"
        "def leave(code):\n"
        "    held = cli._held_until_exit\n"
        "    from goleak.parse import finish_parsed\n"
        "    print(code, len(held), [finish_parsed(r).snapshots[0].total for r in held[0]], file=sys.stderr)\n"
        "    cli.os._exit(0)\n"
        "cli.leave = leave\n"
        "sys.argv = ['goleak', 'summary', '-f', 'json', '-o', %r, %r]\n"
        "cli.run()\n" % (str(tmp_path / "out.json"), str(FIXTURES / "forms" / "debug2-labels.txt")))
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    total = json.loads((tmp_path / "out.json").read_text())["total"]
    assert done.stderr == "0 1 [%d]\n" % total
    from goleak import cli
    assert cli._held_until_exit is None
