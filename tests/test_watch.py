"""`goleak watch` logic with a fake clock and canned dumps: durations, the plan, poll lines, saving,
Ctrl-C, failed polls, thinning and the verdict from the compare engine. No sleeping; the network
is a server on 127.0.0.1 for the --format/-o tests of the CLI only."""
import os

import pytest

from goleak.compare import CompareSettings
from goleak.errors import FetchError, UsageError
from goleak.model import Frame, Snapshot, Stack, StackGroup
from goleak.watch import (Growing, PollLine, WatchIO, WatchPlan, check_plan, format_poll_line, format_verdict,
                          growing_clusters, judge_series, parse_duration, run_watch, snapshot_file_name, thin_series)
from goleak.cluster import cluster_snapshots
from tests.conftest import run_cli

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def stack(fn: str, line: int = 10) -> Stack:
    return Stack(frames=(Frame(fn, "example.com/app/app.go", line),),
                 created_by=Frame("main.main", "example.com/app/main.go", 5))


def snapshot(name: str, **counts) -> Snapshot:
    groups = tuple(StackGroup(stack("main." + fn), "chan receive", n) for fn, n in sorted(counts.items()) if n)
    return Snapshot(source=name, format="debug=2", groups=groups, total=sum(counts.values()))


class FakeService:
    """Serves a scripted series of bodies; each body is the counts of a snapshot."""

    def __init__(self, series, interval_cost=0.05):
        self.series = list(series)
        self.now = 0.0
        self.fetches = 0
        self.lines = []
        self.saved = {}
        self.cost = interval_cost

    def fetch(self):
        item = self.series[min(self.fetches, len(self.series) - 1)]
        self.fetches += 1
        self.now += self.cost
        if isinstance(item, BaseException):
            raise item
        return repr(sorted(item.items())).encode()

    def parse(self, body, name):
        return snapshot(name, **dict(eval(body.decode())))

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds

    def io(self, save=False):
        return WatchIO(fetch=self.fetch, parse=self.parse, wall_clock=lambda: T0 + self.now,
                       monotonic=lambda: self.now, sleep=self.sleep, emit=self.lines.append,
                       save=(lambda name, data: self.saved.setdefault(name, data) and "dir/" + name) if save else None)


# -- durations and the plan -----------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [("500ms", 0.5), ("5s", 5), ("10m", 600), ("1h", 3600), ("1m30s", 90),
                                           ("1.5s", 1.5), (" 2S ", 2)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "", "0s", "5 s", "1d", "s5", "5s5", "-5s"])
def test_parse_duration_rejects(text):
    with pytest.raises(UsageError, match="--interval"):
        parse_duration(text, "--interval")


def test_unbounded_runs_are_refused():
    with pytest.raises(UsageError, match="watch needs an end"):
        check_plan(WatchPlan("http://127.0.0.1:1/", 5.0))
    with pytest.raises(UsageError, match="cannot be combined"):
        check_plan(WatchPlan("http://127.0.0.1:1/", 5.0, count=3, forever=True))
    assert check_plan(WatchPlan("http://127.0.0.1:1/", 5.0, forever=True)).forever
    assert "watch needs an end" in run_cli(["watch", "http://127.0.0.1:9/"], expect=2).stderr
    assert "not a duration" in run_cli(["watch", "http://127.0.0.1:9/", "--interval", "5", "--count", "2"],
                                       expect=2).stderr


# -- lines ----------------------------------------------------------------------------------------
def test_growing_clusters_by_stack_largest_gain_first():
    before = cluster_snapshots([snapshot("a", leak=3, idle=4, gone=2)])
    after = cluster_snapshots([snapshot("b", leak=9, idle=4, fresh=2, other=1)])
    assert growing_clusters(before, after) == (Growing("main.leak", 6, 9), Growing("main.fresh", 2, 2),
                                               Growing("main.other", 1, 1))
    assert growing_clusters(before, after, top=1) == (Growing("main.leak", 6, 9),)


def test_poll_line_format():
    assert format_poll_line(PollLine(3, T0 + 5, 83, 7, (Growing("main.leak", 5, 12),))) == \
        "22:13:25  #3  total 83  +7  growing: main.leak +5 (12)"
    assert format_poll_line(PollLine(1, T0, 9, None)) == "22:13:20  #1  total 9  first"
    assert format_poll_line(PollLine(2, T0, None, None, error="x: connection refused")) == \
        "22:13:20  #2  poll failed: x: connection refused"


def test_snapshot_file_names_sort_by_time():
    assert snapshot_file_name(T0 + 0.25, 3, b"goroutine 1 [running]:") == "goroutine-20231114T221320.250Z-0003.txt"
    assert snapshot_file_name(T0, 12, b"\x1f\x8b\x08") == "goroutine-20231114T221320.000Z-0012.pb.gz"


# -- the loop -------------------------------------------------------------------------------------
def test_count_polls_and_a_growing_leak_is_the_verdict():
    svc = FakeService([{"idle": 3, "leak": n} for n in (0, 2, 4, 6, 8)])
    series = run_watch(WatchPlan("u", 1.0, count=5), svc.io())
    assert svc.fetches == 5 and series.polls == 5 and not series.interrupted
    assert svc.lines[0] == "22:13:20  #1  total 3  first"
    assert svc.lines[1] == "22:13:21  #2  total 5  +2  growing: main.leak +2 (2)"
    assert svc.now == pytest.approx(4 * 1.0 + 0.05)  # sleeps keep the interval from start to start
    verdict = judge_series(series, CompareSettings())
    assert [c.cluster.stack.frames[0].function for c in verdict.leaks] == ["main.leak"]
    assert verdict.leaks[0].counts == (0, 2, 4, 6, 8)
    assert "growing" in verdict.leaks[0].flags
    text = format_verdict(verdict)
    assert text.splitlines()[0] == "verdict over 5 polls (22:13:20-22:13:24): LEAK, 1 growing stack " \
                                   "(total 3 -> 5 -> 7 -> 9 -> 11)"
    assert text.splitlines()[1].startswith("  main.leak  0 -> 2 -> 4 -> 6 -> 8  +8  [chan receive]")


def test_a_stable_service_is_no_leak():
    svc = FakeService([{"idle": 3, "worker": 5}] * 4)
    verdict = judge_series(run_watch(WatchPlan("u", 0.2, count=4), svc.io()), CompareSettings())
    assert verdict.leaks == ()
    assert format_verdict(verdict) == "verdict over 4 polls (22:13:20-22:13:20): no leak (total 8 -> 8 -> 8 -> 8)\n"


def test_duration_bounds_the_run():
    svc = FakeService([{"idle": 3}])
    series = run_watch(WatchPlan("u", 2.0, duration=10.0), svc.io())
    assert series.polls == 6  # at 0, 2, 4, 6, 8, 10 s
    assert svc.now <= 10.5


def test_ctrl_c_ends_with_the_verdict_so_far():
    svc = FakeService([{"leak": 1}, {"leak": 3}, {"leak": 5}, KeyboardInterrupt()])
    series = run_watch(WatchPlan("u", 1.0, forever=True), svc.io())
    assert series.interrupted and len(series.snapshots) == 3
    verdict = judge_series(series, CompareSettings())
    assert len(verdict.leaks) == 1
    assert format_verdict(verdict).startswith("verdict over 4 polls (22:13:20-22:13:23), interrupted: LEAK")


def test_a_failed_poll_is_reported_and_the_watch_goes_on():
    svc = FakeService([{"idle": 3}, FetchError("connection refused", "u"), {"idle": 3}])
    series = run_watch(WatchPlan("u", 1.0, count=3), svc.io())
    assert svc.lines[1] == "22:13:21  #2  poll failed: u: connection refused"
    assert series.failed == 1 and len(series.snapshots) == 2
    assert "1 failed" in format_verdict(judge_series(series, CompareSettings()))


def test_a_failed_first_poll_ends_the_watch():
    svc = FakeService([FetchError("connection refused", "u")])
    with pytest.raises(FetchError):
        run_watch(WatchPlan("u", 1.0, count=3), svc.io())


def test_one_snapshot_is_not_enough_for_a_verdict():
    svc = FakeService([{"idle": 3}])
    verdict = judge_series(run_watch(WatchPlan("u", 1.0, count=1), svc.io()), CompareSettings())
    assert verdict.comparison is None
    assert format_verdict(verdict) == "verdict over 1 poll (22:13:20-22:13:20): not enough snapshots to compare " \
                                      "(need two)\n"


def test_save_keeps_every_snapshot_under_a_timestamped_name():
    svc = FakeService([{"idle": 3}, {"idle": 4}])
    run_watch(WatchPlan("u", 1.0, count=2), svc.io(save=True))
    # Named by the time each poll started (its interval keeps them 1 s apart).
    assert sorted(svc.saved) == ["goroutine-20231114T221320.000Z-0001.txt", "goroutine-20231114T221321.000Z-0002.txt"]
    assert svc.lines[0].endswith("saved dir/goroutine-20231114T221320.000Z-0001.txt")


def test_long_runs_are_thinned_keeping_first_and_last():
    snaps = [snapshot("s%d" % i, leak=i) for i in range(10)]
    thinned = thin_series(snaps, limit=8)
    assert thinned[0] is snaps[0] and thinned[-1] is snaps[-1]
    assert len(thinned) == 6
    assert thin_series(snaps, limit=10) == snaps
    svc = FakeService([{"leak": n} for n in range(1, 400)])
    series = run_watch(WatchPlan("u", 0.01, count=300), svc.io())
    assert len(series.snapshots) <= 240 and series.snapshots[-1].total == 300
    assert series.snapshots[0].total == 1


# -- --format and -o --------------------------------------------------------------------------
def watched_view(series_counts, with_report=True):
    from goleak.report.watch_view import build_watch_view
    svc = FakeService(series_counts)
    series = run_watch(WatchPlan("u", 1.0, count=len(series_counts)), svc.io())
    verdict = judge_series(series, CompareSettings())
    from goleak.report.view import ReportOptions
    return build_watch_view("http://127.0.0.1:6060/debug/pprof/goroutine?debug=2", series, verdict,
                            CompareSettings(), ReportOptions(version="test"), with_report), verdict


def test_watch_json_holds_every_poll_and_the_comparison():
    import json
    from goleak.report import Format, renderer_for
    view, verdict = watched_view([{"idle": 3, "leak": n} for n in (0, 2, 4)] + [FetchError("refused", "u")])
    data = json.loads(renderer_for(Format.JSON)(view, None))
    assert (data["command"], data["leaks"], data["verdict"], data["polls_failed"]) == ("watch", 1, "leak", 1)
    assert [(p["index"], p["time"], p["total"], p["delta"]) for p in data["polls"]] == [
        (1, "2023-11-14T22:13:20.000Z", 3, None), (2, "2023-11-14T22:13:21.000Z", 5, 2),
        (3, "2023-11-14T22:13:22.000Z", 7, 2), (4, "2023-11-14T22:13:23.000Z", None, None)]
    assert data["polls"][3]["error"] == "u: refused"
    assert data["polls"][1]["growing"] == [{"count": 2, "delta": 2, "title": "main.leak"}]
    report = data["report"]
    assert report["command"] == "compare" and [s["total"] for s in report["snapshots"]] == [3, 5, 7]
    leak = next(c for c in report["clusters"] if c["verdict"] == "leak")
    assert (leak["title"], leak["counts"]) == ("main.leak", [0, 2, 4])
    # Text is the closing lines, as before.
    assert renderer_for(Format.TEXT)(view, None) == format_verdict(verdict)


def test_watch_markdown_and_html_list_polls_then_the_report():
    from goleak.report import Format, renderer_for
    view, _ = watched_view([{"idle": 3, "leak": n} for n in range(70)])
    md = renderer_for(Format.MARKDOWN)(view, None)
    assert md.startswith("## goleak watch: leak\n\n70 polls of http://127.0.0.1:6060/debug/pprof/goroutine?debug=2 "
                         "(22:13:20-22:14:29 UTC)\n")
    assert "| 2 | 22:13:21 | 4 | +1 | main.leak +1 (1) |" in md
    assert "\n| 11 |" not in md and "\n| 21 | 22:13:40 | 23 | +1 |" in md  # the first 10 and the last 50
    assert "Polls #11 to #20 (10) are left out here" in md
    assert "### goleak compare" in md and len(md) <= 65_536
    html = renderer_for(Format.HTML)(view, None)
    section = html[html.index('<section id="watch"'):html.index('<section id="suspects"')]
    assert '<span class="badge leak">leak</span>' in section
    assert section.count("<tr>") == 70 + 1  # every poll, and the header row
    assert '<time datetime="2023-11-14T22:13:21.000Z">22:13:21</time>' in section


def test_one_snapshot_reports_its_summary():
    import json
    from goleak.report import Format, renderer_for
    view, _ = watched_view([{"idle": 3}])
    data = json.loads(renderer_for(Format.JSON)(view, None))
    assert data["verdict"] == "not enough snapshots" and data["report"]["command"] == "summary"
    assert data["report"]["total"] == 3


class SeriesServer:
    """Serves fixture dumps on 127.0.0.1, one per request, the last one again and again."""

    def __init__(self, bodies):
        import http.server
        import threading
        bodies = list(bodies)
        served = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = bodies[min(len(served), len(bodies) - 1)]
                served.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/debug/pprof/goroutine?debug=2" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def series_server():
    from tests.conftest import FIXTURES
    server = SeriesServer([(FIXTURES / "compare" / n).read_bytes() for n in ("before.txt", "after.txt")])
    yield server
    server.close()


def test_cli_json_to_a_file_keeps_poll_lines_on_stdout(series_server, tmp_path):
    import json
    target = tmp_path / "watch.json"
    out = run_cli(["watch", series_server.url, "--interval", "50ms", "--count", "3", "-f", "json", "-o", str(target),
                   "--fail-on-leak"], expect=1)
    polls = out.stdout.splitlines()
    assert len(polls) == 3 and polls[0].endswith("#1  total 9  first") and "total 76  +67" in polls[1]
    assert "verdict over" not in out.stdout
    data = json.loads(target.read_text())
    assert [(p["total"], p["delta"]) for p in data["polls"]] == [(9, None), (76, 67), (76, 0)]
    assert (data["leaks"], data["report"]["leaks"]) == (5, 5)
    assert data["url"] == series_server.url
    assert os.listdir(str(tmp_path)) == ["watch.json"]


def test_cli_json_on_stdout_moves_poll_lines_to_stderr(series_server):
    import json
    out = run_cli(["watch", series_server.url, "--interval", "50ms", "--count", "2", "--format", "json"], expect=0)
    data = json.loads(out.stdout)
    assert [p["total"] for p in data["polls"]] == [9, 76]
    assert [ln for ln in out.stderr.splitlines() if "  #" in ln][1].endswith("#2  total 76  +67  growing: "
                                                                            "main.leakSender +40 (40), "
                                                                            "main.connReader +9 (9), "
                                                                            "main.tickerLoop +7 (7)")


def test_cli_output_directory_is_checked_before_polling(tmp_path):
    out = run_cli(["watch", "http://127.0.0.1:9/", "--count", "2", "-o", str(tmp_path / "no" / "w.json")], expect=2)
    assert "does not exist" in out.stderr and "watching" not in out.stderr
