"""`goleak gate --format text|markdown|html|json` and `-o`: the limits with the numbers and the
clusters they blame, the analysis report behind them, atomic files, and a default output that
is exactly what the gate printed before --format existed."""
import json
import os

import pytest

from goleak.report import Format
from goleak.report.gate_view import REPORT_FORMATS
from tests.conftest import FIXTURES, run_cli
from tests.report_helpers import HOSTILE_DUMP, HOSTILE_FUNCTION, parse_html

CMP = FIXTURES / "compare"
BEFORE, DURING, AFTER = (str(CMP / n) for n in ("before.txt", "during.txt", "after.txt"))
LEAKED = str(CMP / "goroutineleak-after.txt")
FOUR_LIMITS = ["--max-goroutines", "75", "--max-growth", "50%", "--max-leaks", "5", "--fail-on", "leak"]
LEAKS = ["main.leakSender", "main.connReader", "main.tickerLoop", "main.mutexWaiter", "main.waitgroupWaiter"]


@pytest.fixture(autouse=True)
def not_in_github_actions(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def gate_json(args, expect):
    out = run_cli(["gate"] + args + ["--format", "json"], expect=expect)
    return json.loads(out.stdout), out


# -- text: unchanged ---------------------------------------------------------------------------
def test_default_and_text_output_are_the_limits_table_as_before():
    default = run_cli(["gate", BEFORE, DURING, AFTER] + FOUR_LIMITS, expect=1)
    assert default.stdout.splitlines() == [
        "goleak gate: FAILED, 3 of 4 limits broken (76 goroutines in after)",
        "  FAIL  max-goroutines  " + default.stderr.splitlines()[0].split("max-goroutines: ", 1)[1],
        "  FAIL  max-growth      " + default.stderr.splitlines()[1].split("max-growth: ", 1)[1],
        "  ok    max-leaks       5 leaked clusters (67 goroutines, verdict leak) <= 5",
        "  FAIL  fail-on leak    " + default.stderr.splitlines()[2].split("fail-on leak: ", 1)[1],
    ]
    text = run_cli(["gate", BEFORE, DURING, AFTER] + FOUR_LIMITS + ["-f", "text"], expect=1)
    assert (text.stdout, text.stderr) == (default.stdout, default.stderr)


def test_only_text_skips_building_the_report():
    assert Format.TEXT not in REPORT_FORMATS
    assert REPORT_FORMATS == {Format.MARKDOWN, Format.HTML, Format.JSON}


# -- JSON ------------------------------------------------------------------------------------
def test_json_over_a_comparison_names_limits_numbers_and_blamed_rows():
    data, out = gate_json([BEFORE, DURING, AFTER] + FOUR_LIMITS, expect=1)
    assert sorted(data) == ["command", "limits", "passed", "report", "schema_version"]
    assert (data["schema_version"], data["command"], data["passed"]) == (1, "gate", False)
    limits = data["limits"]
    assert [(x["name"], x["passed"], x["limit"], x["actual"]) for x in limits] == [
        ("max-goroutines", False, "75", "76 goroutines"),
        ("max-growth", False, "50%", "+67 goroutines (+744.4%)"),
        ("max-leaks", True, "5", "5 leaked clusters"),
        ("fail-on leak", False, "leak", "5 leaked clusters"),
    ]
    assert limits[0]["message"].startswith("76 goroutines in after > 75; largest cluster main.leakSender: "
                                           "0 -> 40 goroutines [chan send] at example.com/leakyserver/main.go:")
    # stderr keeps one line per broken limit, with the same sentence.
    assert out.stderr.splitlines() == ["goleak: gate failed: %s: %s" % (x["name"], x["message"])
                                       for x in limits if not x["passed"]]
    report = data["report"]
    assert report["command"] == "compare"
    assert [s["total"] for s in report["snapshots"]] == [9, 139, 76]
    rows = {c["id"]: c for c in report["clusters"]}
    # Every blamed cluster is a row of the report, under its row id.
    fail_on = limits[3]
    assert [rows[i]["title"] for i in fail_on["clusters"]] == LEAKS
    assert all(rows[i]["verdict"] == "leak" for i in fail_on["clusters"])
    assert [rows[i]["counts"] for i in fail_on["clusters"]] == [[0, 40, 40], [0, 9, 9], [0, 7, 7], [0, 6, 6],
                                                               [0, 5, 5]]
    sender = fail_on["blamed"][0]
    assert (sender["title"], sender["state"], sender["count"], sender["before"], sender["note"]) == \
        ("main.leakSender", "chan send", 40, 0, "new")
    assert sender["where"]["function"] == "main.leakSender"
    assert sender["where"]["file"] == "example.com/leakyserver/main.go"
    assert limits[0]["clusters"] == [fail_on["clusters"][0]]  # the largest cluster
    assert limits[1]["clusters"][0] == fail_on["clusters"][0]  # grew most
    assert len(limits[1]["clusters"]) == 5
    # A limit that held blames nobody.
    assert (limits[2]["clusters"], limits[2]["blamed"]) == ([], [])


def test_json_of_one_snapshot_carries_its_summary():
    data, _ = gate_json([LEAKED, "--fail-on", "runtime-leaked", "--max-goroutines", "100"], expect=1)
    assert [(x["name"], x["passed"], x["actual"]) for x in data["limits"]] == [
        ("max-goroutines", True, "76 goroutines"), ("fail-on runtime-leaked", False, "3 clusters")]
    report = data["report"]
    assert report["command"] == "summary" and report["total"] == 76
    by_id = {c["id"]: c for c in report["clusters"]}
    blamed = data["limits"][1]["clusters"]
    assert [by_id[i]["leaked"] for i in blamed] == [b["count"] for b in data["limits"][1]["blamed"]]
    assert data["limits"][1]["blamed"][0]["title"] == "main.leakSender"
    assert data["limits"][1]["blamed"][0]["note"] == "40 proven leaked"
    assert sum(by_id[i]["leaked"] for i in blamed) == 51


def test_json_with_a_baseline_blames_rows_of_the_baseline_comparison(tmp_path):
    baseline = tmp_path / "goleak-baseline.json"
    run_cli(["baseline", BEFORE, "-o", str(baseline), "--tolerance", "0"], expect=0)
    data, _ = gate_json(["--baseline", str(baseline), AFTER], expect=1)
    (limit,) = data["limits"]
    assert (limit["name"], limit["passed"], limit["actual"]) == ("baseline", False, "5 new, 0 grown")
    report = data["report"]
    assert report["command"] == "compare"
    assert [s["name"] for s in report["snapshots"]] == ["baseline", "after"]
    rows = {c["id"]: c for c in report["clusters"]}
    assert [rows[i]["title"] for i in limit["clusters"]] == LEAKS
    assert [b["note"] for b in limit["blamed"]] == ["new kind"] * 5


def test_json_passing_gate_and_sorted_compact_text():
    out = run_cli(["gate", AFTER, "--max-goroutines", "76", "-f", "json"], expect=0)
    data = json.loads(out.stdout)
    assert data["passed"] is True and out.stderr == ""
    assert [(x["name"], x["passed"], x["message"]) for x in data["limits"]] == [
        ("max-goroutines", True, "76 goroutines in after <= 76")]
    assert out.stdout == json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    again = run_cli(["gate", AFTER, "--max-goroutines", "76", "-f", "json"], expect=0)
    assert again.stdout == out.stdout


# -- Markdown ---------------------------------------------------------------------------------
def test_markdown_is_the_step_summary_with_the_report(tmp_path):
    out = run_cli(["gate", BEFORE, AFTER, "--max-goroutines", "100", "--fail-on", "leak", "-f", "markdown"],
                  expect=1)
    lines = out.stdout.splitlines()
    assert lines[:8] == [
        "## goleak gate: failed", "", "1 of 2 limits broken (76 goroutines in after).", "",
        "| limit | value | result | details |", "|---|---|---|---|",
        "| max-goroutines | 100 | ok | 76 goroutines in after &lt;= 100 |",
        lines[7]]
    assert lines[7].startswith("| fail-on leak | leak | **FAIL** | 5 leaked clusters (67 goroutines, verdict "
                               "leak) &gt; 0; main.leakSender: 0 -&gt; 40 goroutines [chan send]")
    assert "### goleak compare" in out.stdout and "**5 leaks · 10 stacks**" in out.stdout
    assert len(out.stdout) <= 65_536
    # The same text the gate appends to $GITHUB_STEP_SUMMARY under GitHub Actions.
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path), "GITHUB_STEP_SUMMARY": str(summary)}
    run_cli(["gate", BEFORE, AFTER, "--max-goroutines", "100", "--fail-on", "leak"], env=env, expect=1)
    assert summary.read_text() == out.stdout


# -- HTML -------------------------------------------------------------------------------------
def test_html_is_the_report_with_the_limits_first():
    out = run_cli(["gate", BEFORE, DURING, AFTER] + FOUR_LIMITS + ["-f", "html"], expect=1)
    html = out.stdout
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>goleak gate: failed, 3 of 4 limits broken (76 goroutines in after) · goleak compare: " in html
    gate = html[html.index('<section id="gate"'):html.index('<section id="suspects"')]
    assert '<h2 id="gate-h">Gate: <span class="badge leak">failed</span></h2>' in gate
    rows = gate.split("<tr class=")[1:]
    assert [r.split('"')[1] for r in rows] == ["fail", "fail", "ok", "fail"]
    assert "<td><code>max-growth</code></td><td>50%</td><td>+67 goroutines (+744.4%)</td>" in gate
    assert "<td><code>max-leaks</code></td><td>5</td><td>5 leaked clusters</td><td>5 leaked clusters (67 " \
           "goroutines, verdict leak) &lt;= 5</td>" in gate
    # Blamed clusters link to their rows of the report.
    data = json.loads(run_cli(["gate", BEFORE, DURING, AFTER] + FOUR_LIMITS + ["-f", "json"], expect=1).stdout)
    sender = data["limits"][3]["clusters"][0]
    assert '<li><a href="#c-%s">main.leakSender: 0 -&gt; 40 goroutines [chan send] at ' % sender in gate
    assert gate.count("<li>") == 1 + 5 + 5  # max-goroutines, max-growth, fail-on leak
    # The report follows, as compare renders it.
    assert '<section id="suspects"' in html and '<h1>Goroutine comparison</h1>' in html


def test_html_escapes_hostile_names_in_the_limits(tmp_path):
    dump = tmp_path / "hostile.txt"
    dump.write_text(HOSTILE_DUMP)
    html = run_cli(["gate", str(dump), "--max-goroutines", "1", "-f", "html"], expect=1).stdout
    gate = html[html.index('<section id="gate"'):html.index('<section id="suspects"')]
    assert "main.(*H).&lt;script&gt;alert(1)&lt;/script&gt;: 2 goroutines" in gate
    assert "<script>alert" not in html and "<img" not in html
    tags = parse_html(html)
    assert [a.get("type") for t, a in tags.tags if t == "script"] == ["application/json", None]
    assert HOSTILE_FUNCTION in "".join(tags.text)


# -- -o ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, head", [("text", "goleak gate: FAILED"), ("markdown", "## goleak gate: failed"),
                                       ("html", "<!DOCTYPE html>"), ("json", '{"command":"gate"')])
def test_output_file_is_written_atomically_and_stderr_is_unchanged(tmp_path, fmt, head):
    target = tmp_path / ("gate." + fmt)
    out = run_cli(["gate", BEFORE, AFTER, "--fail-on", "leak", "-f", fmt, "-o", str(target)], expect=1)
    assert out.stdout == ""
    assert out.stderr.startswith("goleak: gate failed: fail-on leak: 5 leaked clusters") \
        and out.stderr.count("\n") == 1
    assert target.read_text().startswith(head)
    assert os.listdir(str(tmp_path)) == [target.name]  # no temporary file left behind


def test_output_refuses_an_input_and_a_missing_directory(tmp_path):
    copy = tmp_path / "after.txt"
    copy.write_bytes((CMP / "after.txt").read_bytes())
    out = run_cli(["gate", str(copy), "--max-goroutines", "10", "-f", "json", "-o", str(copy)], expect=2)
    assert "refusing to overwrite" in out.stderr
    assert copy.read_bytes() == (CMP / "after.txt").read_bytes()
    out = run_cli(["gate", AFTER, "--max-goroutines", "10", "-o", str(tmp_path / "no" / "g.json")], expect=2)
    assert "does not exist" in out.stderr


def test_exit_2_prints_no_report():
    out = run_cli(["gate", AFTER, "-f", "json"], expect=2)
    assert out.stdout == "" and "no limit given" in out.stderr
