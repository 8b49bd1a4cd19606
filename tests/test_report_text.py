"""The terminal report: aligned, suspects first, --top, colour rules, width, no escape codes from dumps."""
import re

from goleak.report import text_report
from tests.conftest import run_cli
from tests.report_helpers import COMPARE, SERIES, compare_view, hostile_view, summary_view

SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_summary_leads_with_suspects_then_clusters_largest_first():
    view, opts = summary_view()
    out = text_report.render(view, opts)
    lines = out.splitlines()
    assert lines[0] == "goleak summary: 76 goroutines in %d clusters (similarity: default)" % len(view.clusters)
    s = lines.index("Suspects")
    assert lines[s + 1] == "  1. 40  chan send  main.leakSender"
    assert lines[s + 2] == "     why: 40 goroutines parked in chan send"
    assert lines[s + 3] == "     look at: main.leakSender  example.com/leakyserver/main.go:120"
    assert lines[s + 4] == "     created by: main.fetchWithTimeout  example.com/leakyserver/main.go:127"
    c = next(i for i, l in enumerate(lines) if l.startswith("Clusters"))
    assert c > s
    counts = [int(m.group(1)) for m in (re.match(r"^ {0,6}(\d+) ", l) for l in lines[c:]) if m]
    assert counts == sorted(counts, reverse=True) and counts[0] == 40


def test_stack_columns_are_aligned():
    view, opts = summary_view()
    lines = text_report.render(view, opts).splitlines()
    start = lines.index("      internal/poll.runtime_pollWait      runtime/netpoll.go:351")
    block = lines[start:start + 7]
    assert block[-1].startswith("      main.connReader  ")
    # file:line starts in the same column on every frame line.
    assert {l.rindex("  ") for l in block} == {len("      internal/poll.(*pollDesc).waitRead")}, block


def test_top_limits_clusters():
    view, opts = summary_view(top=2)
    out = text_report.render(view, opts)
    assert "Clusters (largest first, top 2 of %d)" % len(view.clusters) in out
    assert out.count("created by ") == 2


def test_width_is_respected_and_long_lines_are_cut():
    view, opts = compare_view(width=64)
    out = text_report.render(view, opts)
    assert max(len(l) for l in out.splitlines()) <= 64
    assert "…" in out  # the settings line did not fit
    # Without a width (a file, a pipe) nothing is cut.
    wide, wopts = compare_view(width=0)
    assert "…" not in text_report.render(wide, wopts)


def test_colour_only_when_asked():
    view, opts = summary_view(color=True, width=80)
    coloured = text_report.render(view, opts)
    assert SGR.search(coloured)
    # Colour codes do not count towards the width.
    assert max(len(SGR.sub("", l)) for l in coloured.splitlines()) <= 80
    plain, popts = summary_view(color=False, width=80)
    assert SGR.sub("", coloured) == text_report.render(plain, popts)


def test_no_color_env_and_color_flags_through_the_cli():
    args = ["summary", str(COMPARE / "after.txt")]
    assert "\x1b[" not in run_cli(args).stdout  # not a terminal
    assert "\x1b[" not in run_cli(args + ["--color", "auto"], env={"NO_COLOR": "1"}).stdout
    assert "\x1b[" not in run_cli(args + ["--color", "never"]).stdout
    assert "\x1b[1m" in run_cli(args + ["--color", "always"]).stdout
    assert "\x1b[" in run_cli(args + ["--color", "always"], env={"NO_COLOR": "1"}).stdout  # explicit wins


def test_columns_env_sets_the_width():
    out = run_cli(["compare", *[str(COMPARE / n) for n in SERIES]], env={"COLUMNS": "70"}).stdout
    assert max(len(l) for l in out.splitlines()) <= 70


def test_control_characters_from_a_dump_are_shown_not_sent():
    for color in (False, True):
        view, opts = hostile_view(color=color)
        out = text_report.render(view, opts)
        assert "\x07" not in out and "]0;pwned" in out
        assert "main.esc\\x1b]0;pwned\\x07" in SGR.sub("", out)
        assert not re.search(r"\x1b(?!\[[0-9;]*m)", out)


def test_compare_text_leads_with_suspects():
    view, opts = compare_view()
    out = text_report.render(view, opts)
    lines = out.splitlines()
    assert lines[0].startswith("goleak compare: 3 snapshots, 13 stacks, 5 leaks")
    s = next(i for i, l in enumerate(lines) if l.startswith("Suspects"))
    assert lines[s + 1].startswith("  1. main.leakSender  0 → 40 → 40 (+40)  chan send")
    assert s < next(i for i, l in enumerate(lines) if l.startswith("Stacks"))
