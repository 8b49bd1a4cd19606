"""`goleak gate`: each limit as a pure check, the CLI's exit codes and lines, JUnit XML and the
GitHub Actions output, on the fixtures captured from the leaky server."""
import re
import xml.etree.ElementTree as ET

import pytest

from goleak import ci
from goleak.errors import UsageError
from goleak.gate import (ClusterFacts, GateFacts, Growth, Limits, broken_lines, check_fail_on, check_max_goroutines,
                         check_max_growth, check_max_leaks, evaluate_limits, format_gate_table, gate_result,
                         parse_growth)
from goleak.model import Cluster, Frame, Stack
from goleak.normalize import digest
from tests.conftest import FIXTURES, run_cli

CMP = FIXTURES / "compare"
BEFORE, DURING, AFTER = (str(CMP / n) for n in ("before.txt", "during.txt", "after.txt"))
AFTER_D1, AFTER_PB = str(CMP / "after-debug1.txt"), str(CMP / "after.pb.gz")
LEAKED = str(CMP / "goroutineleak-after.txt")
# Where the leaked senders wait, as the fixture prints it (the line moves when it is recaptured).
SENDER_AT = re.search(r"\n\t(example\.com/leakyserver/main\.go:\d+) ", (CMP / "after.txt").read_text().split(
    "main.leakSender(", 1)[1]).group(1)


@pytest.fixture(autouse=True)
def not_in_github_actions(monkeypatch):
    # These tests may themselves run under GitHub Actions: keep the gate's CI output out of it.
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def make_cluster(function: str, count: int, state: str = "chan receive", leaked: int = 0, wait=None,
                 file: str = "example.com/app/worker.go", line: int = 42) -> Cluster:
    stack = Stack(frames=(Frame(function, file, line),), created_by=Frame("main.main", "example.com/app/main.go", 7))
    return Cluster(id=digest(function + state), stack_id=digest(function), stack=stack, count=count,
                   states=((state, count),), wait_min=wait, wait_max=wait, leaked=leaked)


def facts(*items, first_total=None, compared=False, last_total=None):
    clusters = tuple(items)
    return GateFacts(last_name="after", last_total=last_total if last_total is not None else sum(f.after for f in clusters),
                     clusters=tuple(sorted(clusters, key=lambda f: -f.after)), first_name="before" if first_total is not None else None,
                     first_total=first_total, compared=compared)


# -- parsing limits ------------------------------------------------------------------------------
def test_parse_growth_absolute_and_percent():
    assert parse_growth("25") == Growth(text="25", amount=25)
    assert parse_growth("10%") == Growth(text="10%", percent=10.0)
    assert parse_growth(" 12.5% ") == Growth(text="12.5%", percent=12.5)
    for bad in ("ten", "-3", "5 goroutines", "1.5", "%"):
        with pytest.raises(UsageError):
            parse_growth(bad)


# -- the checks ----------------------------------------------------------------------------------
def test_max_goroutines_blames_the_largest_cluster():
    f = facts(ClusterFacts(make_cluster("main.worker", 40), 40), ClusterFacts(make_cluster("main.idle", 3), 3))
    r = check_max_goroutines(f, 43)
    assert r.ok and r.offenders == () and r.detail == "43 goroutines in after <= 43"
    r = check_max_goroutines(f, 42)
    assert not r.ok
    assert r.actual == "43 goroutines"
    assert [o.title for o in r.offenders] == ["main.worker"]
    assert r.detail == ("43 goroutines in after > 42; largest cluster main.worker: 40 goroutines [chan receive] "
                        "at example.com/app/worker.go:42")


def test_max_growth_absolute_and_percent_name_the_cluster_that_grew_most():
    grew = ClusterFacts(make_cluster("main.leaky", 30), after=30, before=10)
    steady = ClusterFacts(make_cluster("main.idle", 5), after=5, before=5)
    f = facts(grew, steady, first_total=15)
    assert check_max_growth(f, parse_growth("20")).ok
    r = check_max_growth(f, parse_growth("19"))
    assert not r.ok and r.actual == "+20 goroutines"
    assert r.offenders[0].title == "main.leaky" and r.offenders[0].before == 10
    assert "grew most: main.leaky: 10 -> 30 goroutines" in r.detail
    r = check_max_growth(f, parse_growth("100%"))
    assert not r.ok and r.actual == "+20 goroutines (+133.3%)"
    assert check_max_growth(f, parse_growth("134%")).ok
    # Shrinking always holds, even against 0%.
    assert check_max_growth(facts(steady, first_total=50), parse_growth("0%")).ok
    # From zero any growth is over a percentage.
    assert not check_max_growth(facts(grew, first_total=0), parse_growth("1000%")).ok


def test_max_growth_needs_a_baseline():
    with pytest.raises(UsageError, match="needs a baseline"):
        check_max_growth(facts(ClusterFacts(make_cluster("main.a", 1), 1)), parse_growth("5"))


def test_leaks_come_from_verdicts_or_from_the_runtime_proof():
    proven = ClusterFacts(make_cluster("main.sender", 40, "chan send", leaked=40), 40, flags=("runtime-leaked",))
    plain = ClusterFacts(make_cluster("main.idle", 3), 3)
    single = facts(proven, plain)
    r = check_max_leaks(single, 0)
    assert not r.ok and [o.title for o in r.offenders] == ["main.sender"]
    assert "1 leaked cluster (40 goroutines, proven by the runtime" in r.detail
    assert check_max_leaks(single, 1).ok
    leak = ClusterFacts(make_cluster("main.conn", 9, "IO wait"), 9, before=0, verdict="leak")
    stable = ClusterFacts(make_cluster("main.idle", 3), 3, before=3, verdict="stable")
    compared = facts(leak, stable, first_total=3, compared=True)
    r = check_fail_on(compared, "leak")
    assert r.name == "fail-on leak" and not r.ok
    assert r.offenders[0].note == "new"


def test_fail_on_long_wait_and_runtime_leaked():
    waiting = ClusterFacts(make_cluster("main.stuck", 2, wait=42), 2, flags=("long-wait", "blocked-forever"))
    fine = ClusterFacts(make_cluster("main.idle", 3), 3, flags=("blocked-forever",))
    f = facts(waiting, fine)
    r = check_fail_on(f, "long-wait")
    assert not r.ok and r.offenders[0].note == "waiting up to 42 min"
    assert check_fail_on(f, "runtime-leaked").ok
    with pytest.raises(UsageError):
        check_fail_on(f, "sleepy")


def test_limits_run_in_a_fixed_order_and_lines_name_only_broken_ones():
    f = facts(ClusterFacts(make_cluster("main.worker", 40, leaked=40), 40, flags=("runtime-leaked",)))
    limits = Limits(max_goroutines=100, max_leaks=0, fail_on=("runtime-leaked", "leak"))
    result = gate_result(f, evaluate_limits(f, limits))
    assert [r.name for r in result.results] == ["max-goroutines", "max-leaks", "fail-on leak",
                                                "fail-on runtime-leaked"]
    lines = broken_lines(result)
    assert len(lines) == 3 and all(line.startswith("gate failed: ") for line in lines)
    assert all("main.worker" in line for line in lines)
    table = format_gate_table(result)
    assert table.splitlines()[0] == "goleak gate: FAILED, 3 of 4 limits broken (40 goroutines in after)"
    assert table.splitlines()[1].startswith("  ok    max-goroutines")


# -- the CLI on captured dumps --------------------------------------------------------------------
def test_cli_exit_0_when_limits_hold():
    out = run_cli(["gate", AFTER, "--max-goroutines", "76", "--fail-on", "long-wait"], expect=0)
    assert out.stdout.startswith("goleak gate: passed, 2 limits held (76 goroutines in after)")
    assert out.stderr == ""


def test_cli_exit_1_with_one_stderr_line_per_broken_limit():
    out = run_cli(["gate", BEFORE, DURING, AFTER, "--max-goroutines", "75", "--max-growth", "50%",
                   "--max-leaks", "5", "--fail-on", "leak"], expect=1)
    lines = out.stderr.splitlines()
    assert lines == [
        "goleak: gate failed: max-goroutines: 76 goroutines in after > 75; largest cluster main.leakSender: "
        "0 -> 40 goroutines [chan send] at " + SENDER_AT,
        "goleak: gate failed: max-growth: 9 goroutines in before -> 76 in after: +67 goroutines (+744.4%), over 50%; "
        "grew most: main.leakSender: 0 -> 40 goroutines [chan send] at " + SENDER_AT + " "
        "and 4 more clusters",
        "goleak: gate failed: fail-on leak: 5 leaked clusters (67 goroutines, verdict leak) > 0; main.leakSender: "
        "0 -> 40 goroutines [chan send] at " + SENDER_AT + " (new) and 4 more clusters",
    ]
    assert "  ok    max-leaks" in out.stdout  # 5 leaks <= 5


def test_cli_single_snapshot_leaks_are_the_runtime_proven_ones():
    out = run_cli(["gate", LEAKED, "--fail-on", "runtime-leaked", "--max-leaks", "2"], expect=1)
    assert "3 leaked clusters (51 goroutines, proven by the runtime" in out.stderr
    assert "fail-on runtime-leaked: 3 clusters flagged runtime-leaked; main.leakSender" in out.stderr
    run_cli(["gate", AFTER, "--fail-on", "runtime-leaked", "--max-leaks", "0"], expect=0)


def test_cli_every_format_gates_the_same():
    for src in (AFTER, AFTER_D1, AFTER_PB):
        run_cli(["gate", src, "--max-goroutines", "76"], expect=0)
        run_cli(["gate", src, "--max-goroutines", "75"], expect=1)
    out = run_cli(["gate", "-", "--max-goroutines", "10"], input=(CMP / "after.txt").read_bytes(), expect=1)
    assert "76 goroutines in stdin > 10" in out.stderr


def test_cli_exit_2_when_it_cannot_run(tmp_path):
    assert "no limit given" in run_cli(["gate", AFTER], expect=2).stderr
    assert "needs a baseline" in run_cli(["gate", AFTER, "--max-growth", "5"], expect=2).stderr
    assert "--max-growth takes a number" in run_cli(["gate", AFTER, "--max-growth", "lots"], expect=2).stderr
    assert "no such file" in run_cli(["gate", str(tmp_path / "nope.txt"), "--max-leaks", "0"], expect=2).stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in run_cli(["gate", str(empty), "--max-leaks", "0"], expect=2).stderr


# -- JUnit --------------------------------------------------------------------------------------
def test_junit_has_one_testcase_per_limit(tmp_path):
    junit = tmp_path / "goleak.xml"
    run_cli(["gate", BEFORE, AFTER, "--max-goroutines", "100", "--fail-on", "leak", "--junit", str(junit)], expect=1)
    root = ET.parse(str(junit)).getroot()
    suite = root.find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["max-goroutines", "fail-on leak"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure.get("message") == "fail-on leak: 5 leaked clusters (limit leak)"
    assert "- main.leakSender: 0 -> 40 goroutines [chan send]" in failure.text
    assert "created by main.fetchWithTimeout" in failure.text


def test_junit_escapes_hostile_names():
    hostile = make_cluster('main.(*T[<script>&"\x01]).run', 5, state="chan <-]]>")
    f = facts(ClusterFacts(hostile, 5, flags=("runtime-leaked",)))
    result = gate_result(f, evaluate_limits(f, Limits(fail_on=("runtime-leaked",))))
    text = ci.junit_xml(result)
    root = ET.fromstring(text.encode())  # well-formed despite <, &, quotes, ]]> and a control byte
    failure = root.find("testsuite/testcase/failure")
    assert 'main.(*T[<script>&"\ufffd]).run' in failure.text
    assert "<script>" not in text


# -- GitHub Actions --------------------------------------------------------------------------------
def test_repo_relative_paths():
    # /__w/REPO/REPO is GITHUB_WORKSPACE in a container job (under /home/runner otherwise).
    assert ci.repo_relative("/__w/app/app/srv/conn.go", "/__w/app/app", None) == "srv/conn.go"
    assert ci.repo_relative("example.com/app/srv/conn.go", None, "example.com/app") == "srv/conn.go"
    assert ci.repo_relative("/usr/local/go/src/net/http/server.go", "/__w/app/app", "x") is None
    assert ci.repo_relative("srv/conn.go", None, None) == "srv/conn.go"
    assert ci.module_path('// comment\nmodule example.com/leakyserver\n\ngo 1.27\n') == "example.com/leakyserver"


def test_annotations_are_escaped_workflow_commands():
    c = make_cluster("main.handle", 3, file="example.com/app/a,b:c.go", line=9)
    f = facts(ClusterFacts(c, 3, flags=("runtime-leaked",)))
    result = gate_result(f, evaluate_limits(f, Limits(fail_on=("runtime-leaked",), max_goroutines=1)))
    lines = ci.github_annotations(result, None, "example.com/app")
    assert lines[0] == ("::error file=a%2Cb%3Ac.go,line=9,title=goleak gate%3A max-goroutines::main.handle: "
                        "3 goroutines [chan receive] at example.com/app/a,b:c.go:9; created by main.main")
    assert lines[1].startswith("::error file=a%2Cb%3Ac.go,line=9,title=goleak gate%3A fail-on runtime-leaked::")
    assert all("\n" not in line for line in lines)


def test_github_actions_run(tmp_path):
    ws = tmp_path / "repo"
    ws.mkdir()
    (ws / "go.mod").write_text("module example.com/leakyserver\n\ngo 1.27\n")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(ws), "GITHUB_STEP_SUMMARY": str(summary)}
    out = run_cli(["gate", BEFORE, AFTER, "--fail-on", "leak"], env=env, expect=1)
    annotations = [ln for ln in out.stdout.splitlines() if ln.startswith("::error ")]
    assert len(annotations) == 5
    assert annotations[0].startswith("::error file=main.go,line=%s,title=goleak gate%%3A fail-on leak::main.leakSender"
                                     % SENDER_AT.rsplit(":", 1)[1])
    text = summary.read_text()
    assert text.startswith("earlier step\n## goleak gate: failed\n")
    assert "| fail-on leak | leak | **FAIL** |" in text
    # Outside GitHub Actions: no workflow commands.
    out = run_cli(["gate", BEFORE, AFTER, "--fail-on", "leak"], env={"GITHUB_ACTIONS": ""}, expect=1)
    assert "::error" not in out.stdout


def test_step_summary_escapes_table_cells():
    c = make_cluster("main.a|b`<img src=x>", 3)
    f = facts(ClusterFacts(c, 3))
    result = gate_result(f, evaluate_limits(f, Limits(max_goroutines=1)))
    text = ci.step_summary(result, None)
    row = next(ln for ln in text.splitlines() if ln.startswith("| max-goroutines"))
    assert "main.a\\|b\\`&lt;img src=x&gt;" in row
    assert row.count(" | ") == 3
