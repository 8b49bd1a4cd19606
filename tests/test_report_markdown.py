"""The Markdown report: summary line, suspects table, stacks in <details>, escaped, under the limit."""
import re

from goleak.report import markdown_report
from goleak.report.templating import escape_markdown
from tests.report_helpers import compare_view, hostile_view, summary_view


def table_rows(md: str):
    return [line for line in md.splitlines() if line.startswith("|")]


def cells(row: str):
    # A cell boundary is a pipe not preceded by a backslash.
    return re.split(r"(?<!\\)\|", row)[1:-1]


def test_summary_markdown_shape():
    view, opts = summary_view()
    md = markdown_report.render(view, opts)
    lines = md.splitlines()
    assert lines[0] == "### goleak summary"
    assert lines[2].startswith("**76 goroutines in ") and "1 suspect**" in lines[2]
    assert "| 1 | 40 | chan send | main.leakSender | example.com/leakyserver/main.go:120 | " \
           "main.fetchWithTimeout example.com/leakyserver/main.go:127 | 40 goroutines parked in chan send |" in md
    # One <details> per cluster, each stack in a <pre> Go engineers can read.
    assert md.count("<details>") == md.count("</details>") == len(view.clusters)
    assert "<details><summary><b>40</b> · chan send · <code>main.leakSender</code> · blocked-forever</summary>" in md
    assert "<pre>\nmain.leakSender\n    example.com/leakyserver/main.go:120\ncreated by main.fetchWithTimeout\n" in md
    assert "Truncated" not in md


def test_compare_markdown_has_counts_per_snapshot_and_verdicts():
    view, opts = compare_view()
    md = markdown_report.render(view, opts)
    assert md.splitlines()[2] == "**5 leaks · 13 stacks** · leak 5, transient 4, stable 4"
    header = [r for r in table_rows(md) if r.startswith("| # |")][0]
    assert cells(header)[2:5] == [" before ", " during ", " after "]
    assert "| 1 | **leak** | 0 | 40 | 40 | +40 | chan send | main.leakSender (blocked-forever, new) |" in md
    assert "<details><summary><b>transient</b> · 0 → 60 → 0 (0) · sleep · <code>main.loadWorker</code>" in md


def test_every_table_row_has_as_many_cells_as_its_header():
    for view, opts in (summary_view(), compare_view(), hostile_view()):
        md = markdown_report.render(view, opts)
        rows = table_rows(md)
        assert rows
        widths = []
        for row in rows:
            if re.match(r"\|[-:|]+\|$", row):
                continue
            widths.append(len(cells(row)))
        # Tables follow each other; within each, the width is the header's.
        blocks = re.split(r"\n(?!\|)", md)
        for block in blocks:
            rows = [r for r in block.splitlines() if r.startswith("|")]
            if rows:
                assert len({len(cells(r)) for r in rows}) == 1, rows


def test_hostile_strings_are_escaped():
    view, opts = hostile_view()
    md = markdown_report.render(view, opts)
    assert "<script" not in md and "<img" not in md and "</script" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    # Inline: backslash escapes for Markdown syntax, entities for HTML.
    assert r"q&#34;uote=a\|b\`c&amp;d" in md
    # Inside <summary> and <pre> GitHub shows backslashes literally: entities only there.
    assert "<code>main.(*H).&lt;script&gt;alert(1)&lt;/script&gt;</code>" in md
    assert "\nmain.pipe|col`tick`**bold**[link](javascript:x)\n" in md
    assert "\x1b" not in md and "\x07" not in md
    assert "<code>main.esc\\x1b]0;pwned\\x07</code>" in md
    assert ("labels: &lt;script&gt;alert(&#39;label&#39;)&lt;/script&gt;=&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
            in md)


def test_escape_markdown_handles_newlines_and_pipes():
    assert escape_markdown("a|b\nc`d") == r"a\|b c\`d"
    assert escape_markdown("<b>&") == "&lt;b&gt;&amp;"
    assert escape_markdown("main.pipe|col`tick`**bold**[link](javascript:x)") == \
        r"main.pipe\|col\`tick\`\*\*bold\*\*\[link\](javascript:x)"
    assert escape_markdown("a\x1b[2Jb") == r"a\\x1b\[2Jb"  # shows as a\x1b[2Jb


def test_truncated_to_the_limit_and_says_so():
    view, opts = compare_view()
    full = markdown_report.render(view, opts)
    limit = 4000
    assert len(full) > limit
    md = markdown_report.render_compare(view, opts, limit=limit)
    assert len(md) <= limit
    shown = md.count("<details>")
    assert 0 < shown < len(view.clusters)
    assert ("Truncated to stay under GitHub&#39;s 65,536-character limit: showing %d of %d clusters"
            % (shown, len(view.clusters))) in md
    # The suspects table comes first and is kept whole when it fits.
    assert md.count("| **leak** |") == 5


def test_truncation_cuts_suspect_rows_when_even_they_do_not_fit():
    view, opts = compare_view()
    md = markdown_report.render_compare(view, opts, limit=1900)
    assert len(md) <= 1900
    assert md.count("<details>") == 0
    assert "showing 0 of 13 clusters and " in md and " of 5 suspects" in md


def test_top_limits_the_details_blocks():
    view, opts = summary_view(top=2)
    md = markdown_report.render(view, opts)
    assert md.count("<details>") == 2
    assert "#### Clusters, largest first (top 2 of " in md
