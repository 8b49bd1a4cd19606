"""End to end against the real leaky Go server on 127.0.0.1: gate on a file, on stdin piped from
curl, on a URL and on the debug=0 URL; baselines; capture; watch finding a growing leak and
staying quiet on a stable server; the errors a wrong URL gives."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tests.conftest import goleak_exe, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def not_in_github_actions(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def child_env():
    env = dict(os.environ)
    env.pop("GITHUB_ACTIONS", None)
    env["GOLEAK_NO_PROGRESS"] = "1"
    return env


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound, then released."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


DUMP = "/debug/pprof/goroutine?debug=2"


# -- gate on every kind of source ---------------------------------------------------------------
def test_gate_on_a_captured_file(leaky_server, tmp_path):
    leaky_server.get("/leak/sender?n=40")
    snap = tmp_path / "after.txt"
    out = run_cli(["capture", leaky_server.base, "-o", str(snap)], expect=0)
    assert "(debug=2, 49 goroutines" in out.stderr
    assert snap.read_text().startswith("goroutine ")
    run_cli(["gate", str(snap), "--max-goroutines", "49"], expect=0)
    out = run_cli(["gate", str(snap), "--max-goroutines", "48"], expect=1)
    assert out.stderr.startswith("goleak: gate failed: max-goroutines: 49 goroutines in after > 48; largest cluster "
                                 "main.leakSender: 40 goroutines [chan send] at example.com/leakyserver/main.go:")


def test_gate_on_stdin_piped_from_curl(leaky_server):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    leaky_server.get("/leak/mutex?n=6")
    url = leaky_server.url(DUMP)
    cmd = "%s -s '%s' | '%s' gate --max-goroutines %%d -" % (curl, url, goleak_exe())
    ok = subprocess.run(cmd % 15, shell=True, capture_output=True, text=True, env=child_env(), timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("goleak gate: passed, 1 limit held (15 goroutines in stdin)")
    bad = subprocess.run(cmd % 14, shell=True, capture_output=True, text=True, env=child_env(), timeout=60)
    assert bad.returncode == 1
    assert "max-goroutines: 15 goroutines in stdin > 14; largest cluster main.mutexWaiter: 6 goroutines " \
           "[sync.Mutex.Lock]" in bad.stderr


def test_gate_on_a_url(leaky_server):
    leaky_server.get("/leak/waitgroup?n=5")
    run_cli(["gate", leaky_server.url(DUMP), "--max-goroutines", "14"], expect=0)
    out = run_cli(["gate", leaky_server.url(DUMP), "--max-goroutines", "13"], expect=1)
    assert "14 goroutines in %s > 13" % leaky_server.url(DUMP) in out.stderr
    assert "main.waitgroupWaiter: 5 goroutines [sync.WaitGroup.Wait]" in out.stderr


def test_gate_on_the_debug0_url(leaky_server):
    leaky_server.get("/leak/conn?n=9")
    url = leaky_server.url("/debug/pprof/goroutine")  # no debug parameter: gzipped protobuf
    run_cli(["gate", url, "--max-goroutines", "18"], expect=0)
    out = run_cli(["gate", url, "--max-goroutines", "17"], expect=1)
    assert "18 goroutines in %s > 17; largest cluster main.connReader: 9 goroutines" % url in out.stderr


def test_gate_before_and_after_urls_finds_the_leak(leaky_server, tmp_path):
    before = tmp_path / "before.txt"
    run_cli(["capture", leaky_server.base, "-o", str(before)], expect=0)
    leaky_server.get("/leak/sender?n=20")
    out = run_cli(["gate", str(before), leaky_server.url(DUMP), "--fail-on", "leak", "--max-growth", "25"], expect=1)
    lines = out.stderr.splitlines()
    assert len(lines) == 1
    assert "fail-on leak: 1 leaked cluster (20 goroutines, verdict leak) > 0; main.leakSender: 0 -> 20 goroutines " \
           "[chan send]" in lines[0]
    assert "  ok    max-growth" in out.stdout


def test_runtime_proven_leak_from_the_goroutineleak_profile(leaky_server, tmp_path):
    leaky_server.get("/leak/sender?n=12")
    leaky_server.get("/leak/ticker?n=3")
    url = leaky_server.url("/debug/pprof/goroutineleak?debug=2")
    out = run_cli(["gate", url, "--fail-on", "runtime-leaked"], expect=1)
    assert "fail-on runtime-leaked: 1 cluster flagged runtime-leaked; main.leakSender: 12 goroutines " \
           "[chan send]" in out.stderr and "(12 proven leaked)" in out.stderr
    saved = tmp_path / "leaked.txt"
    run_cli(["capture", leaky_server.base, "--profile", "goroutineleak", "-o", str(saved)], expect=0)
    assert "(leaked)" in saved.read_text()


def test_an_empty_goroutineleak_profile_is_a_passing_gate(leaky_server):
    # Nothing leaked yet: the debug=0 leak profile has no samples, which is an answer, not an error.
    url = leaky_server.url("/debug/pprof/goroutineleak")
    out = run_cli(["gate", url, "--fail-on", "runtime-leaked"], expect=0)
    assert out.stdout.startswith("goleak gate: passed, 1 limit held (0 goroutines in %s)" % url)


# -- baselines ------------------------------------------------------------------------------------
def test_baseline_passes_then_fails_on_a_new_kind_of_goroutine(leaky_server, tmp_path):
    leaky_server.get("/leak/ticker?n=4")
    baseline = tmp_path / "goleak-baseline.json"
    url = leaky_server.url(DUMP)
    run_cli(["baseline", url, "-o", str(baseline)], expect=0)
    assert "127.0.0.1" in baseline.read_text()
    out = run_cli(["gate", "--baseline", str(baseline), url], expect=0)
    assert "0 new, 0 grown past tolerance" in out.stdout
    leaky_server.get("/spawn/newkind?n=3")
    out = run_cli(["gate", "--baseline", str(baseline), url, "--junit", str(tmp_path / "j.xml")], expect=1)
    assert out.stderr.count("\n") == 1
    assert "1 new, 0 grown past tolerance; main.newKindWorker: 0 -> 3 goroutines [chan receive] at " \
           "example.com/leakyserver/main.go:" in out.stderr
    assert "(new kind)" in out.stderr
    assert '<testcase classname="goleak.gate" name="baseline">' in (tmp_path / "j.xml").read_text()


# -- capture ------------------------------------------------------------------------------------
def test_capture_forms(leaky_server, tmp_path):
    pb = tmp_path / "g.pb.gz"
    out = run_cli(["capture", leaky_server.base, "--debug", "0", "-o", str(pb)], expect=0)
    assert "/debug/pprof/goroutine?debug=0 (debug=0, 9 goroutines" in out.stderr
    assert pb.read_bytes()[:2] == b"\x1f\x8b"
    d1 = tmp_path / "g1.txt"
    run_cli(["capture", leaky_server.url("/debug/pprof/goroutine?debug=1"), "-o", str(d1)], expect=0)
    assert d1.read_text().startswith("goroutine profile: total 9")
    assert sorted(os.listdir(str(tmp_path))) == ["g.pb.gz", "g1.txt"]  # no temporary file left behind


def test_capture_refuses_what_is_not_a_dump(leaky_server, tmp_path):
    target = tmp_path / "heap.txt"
    out = run_cli(["capture", leaky_server.url("/debug/pprof/heap?debug=1"), "-o", str(target)], expect=2)
    assert "this is a heap (or allocs) profile, not a goroutine dump; use %s%s" % (leaky_server.base, DUMP) \
        in out.stderr
    assert not target.exists()


# -- errors a wrong URL gives ---------------------------------------------------------------------
def test_unreachable_url_exits_2():
    port = free_port()
    out = run_cli(["gate", "http://127.0.0.1:%d%s" % (port, DUMP), "--max-goroutines", "10"], expect=2)
    assert out.stderr == "goleak: error: http://127.0.0.1:%d%s: connection refused: nothing is listening on " \
                         "127.0.0.1:%d; is the service running, and is that its pprof port?\n" % (port, DUMP, port)


def test_the_html_index_page_exits_2_with_the_right_url(leaky_server):
    out = run_cli(["gate", leaky_server.url("/debug/pprof/"), "--max-goroutines", "10"], expect=2)
    assert out.stderr == "goleak: error: %s/debug/pprof/:1: this is the HTML index page of net/http/pprof, not a " \
                         "goroutine dump; use %s%s\n" % (leaky_server.base, leaky_server.base, DUMP)


@pytest.mark.parametrize("path, what", [
    ("/debug/pprof/heap", "a heap (or allocs) profile"),
    ("/debug/pprof/allocs?debug=1", "a heap (or allocs) profile"),
    ("/debug/pprof/threadcreate?debug=1", "a threadcreate profile"),
    ("/debug/pprof/threadcreate", "a threadcreate profile"),
    ("/debug/pprof/block", "a block or mutex contention profile"),
    ("/debug/pprof/mutex?debug=1", "a mutex contention profile"),
])
def test_other_profiles_of_the_server_are_named(leaky_server, path, what):
    out = run_cli(["summary", leaky_server.url(path)], expect=2)
    assert "this is %s, not a goroutine dump; use %s%s" % (what, leaky_server.base, DUMP) in out.stderr


def test_404_exits_2(leaky_server):
    out = run_cli(["gate", leaky_server.url("/goroutines"), "--max-leaks", "0"], expect=2)
    assert "HTTP 404 Not Found; goroutine dumps are served at %s%s" % (leaky_server.base, DUMP) in out.stderr


# -- watch ----------------------------------------------------------------------------------------
def watch_lines(out: str):
    polls = [ln for ln in out.splitlines() if re.match(r"\d\d:\d\d:\d\d  #\d+  ", ln)]
    verdict = [ln for ln in out.splitlines() if ln.startswith("verdict over ")]
    return polls, verdict


def test_watch_finds_a_leak_that_grows_during_the_run(leaky_server, tmp_path):
    leaky_server.get("/grow/start?every_ms=40&max=1000")
    save = tmp_path / "snaps"
    out = run_cli(["watch", leaky_server.base, "--interval", "200ms", "--count", "5", "--save-dir", str(save),
                   "--fail-on-leak"], expect=1)
    polls, verdict = watch_lines(out.stdout)
    assert len(polls) == 5 and len(verdict) == 1
    assert "growing: main.slowLeak +" in polls[1]
    assert re.match(r"verdict over 5 polls \(.*\): LEAK, 1 growing stack", verdict[0])
    leak_line = out.stdout.splitlines()[-1]
    assert leak_line.startswith("  main.slowLeak  ") and "[chan receive]" in leak_line and "growing" in leak_line
    totals = [int(re.search(r"total (\d+)", p).group(1)) for p in polls]
    assert totals == sorted(totals) and totals[-1] > totals[0]
    files = sorted(os.listdir(str(save)))
    assert len(files) == 5 and all(re.fullmatch(r"goroutine-\d{8}T\d{6}\.\d{3}Z-000[1-5]\.txt", f) for f in files)
    assert (save / files[0]).read_text().startswith("goroutine ")
    leaky_server.get("/grow/stop")


def test_watch_stays_quiet_on_a_stable_server(leaky_server):
    leaky_server.get("/leak/sender?n=5")  # leaked before the watch: present, but not growing
    out = run_cli(["watch", leaky_server.url(DUMP), "--interval", "200ms", "--count", "5", "--fail-on-leak"],
                  expect=0)
    polls, verdict = watch_lines(out.stdout)
    assert len(polls) == 5
    assert all("growing:" not in p for p in polls)
    assert verdict == ["verdict over 5 polls (%s): no leak (total 14 -> 14 -> 14 -> 14 -> 14)"
                       % re.search(r"\((.*?)\)", verdict[0]).group(1)]


def test_watch_ctrl_c_ends_cleanly_with_the_verdict_so_far(leaky_server):
    leaky_server.get("/grow/start?every_ms=40&max=1000")
    proc = subprocess.Popen([goleak_exe(), "watch", leaky_server.base, "--interval", "200ms", "--forever"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        seen = []
        deadline = time.time() + 20
        while len(seen) < 3 and time.time() < deadline:
            line = proc.stdout.readline()
            if re.match(r"\d\d:\d\d:\d\d  #\d+  ", line):
                seen.append(line)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    verdict = [ln for ln in rest.splitlines() if ln.startswith("verdict over ")]
    assert len(verdict) == 1 and ", interrupted: LEAK" in verdict[0]
    assert "main.slowLeak" in rest
    leaky_server.get("/grow/stop")


def test_watch_unreachable_exits_2():
    port = free_port()
    out = run_cli(["watch", "http://127.0.0.1:%d" % port, "--interval", "200ms", "--count", "3"], expect=2)
    assert "connection refused" in out.stderr


def test_github_actions_job_against_the_server(leaky_server, tmp_path):
    leaky_server.get("/leak/sender?n=10")
    summary = tmp_path / "summary.md"
    env = child_env()
    env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(tmp_path))
    (tmp_path / "go.mod").write_text("module example.com/leakyserver\n")
    proc = subprocess.run([goleak_exe(), "gate", leaky_server.url("/debug/pprof/goroutineleak?debug=2"),
                           "--fail-on", "runtime-leaked"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    annotation = next(ln for ln in proc.stdout.splitlines() if ln.startswith("::error "))
    assert re.match(r"::error file=main\.go,line=\d+,title=goleak gate%3A fail-on runtime-leaked::main\.leakSender: "
                    r"10 goroutines \[chan send\]", annotation)
    text = summary.read_text()
    assert "## goleak gate: failed\n\n1 of 1 limit broken" in text
    assert "| fail-on runtime-leaked | runtime-leaked | **FAIL** |" in text
