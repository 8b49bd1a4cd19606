"""The HTML report: self-contained, escaped, deterministic, built from the view model."""
import base64
import hashlib
import json
import re

import pytest

from goleak.errors import UsageError
from goleak.report import html_report
from goleak.report.view import check_source_url, repo_relative_path
from tests.conftest import run_cli
from tests.report_helpers import (COMPARE, HOSTILE_FUNCTION, HOSTILE_LABEL_KEY, HOSTILE_LABEL_VALUE, compare_view,
                                  hostile_view, parse_html, summary_view)

# The only elements the page itself writes; anything else would have come from a dump.
ALLOWED_TAGS = {
    "html", "head", "meta", "link", "title", "style", "body", "a", "header", "h1", "h2", "p", "div", "table",
    "thead", "tbody", "tr", "th", "td", "span", "figure", "svg", "line", "rect", "text", "figcaption", "ul",
    "li", "b", "main", "section", "ol", "code", "details", "summary", "label", "input", "select", "option",
    "button", "noscript", "footer", "script",
}


def data_block(html: str) -> str:
    m = re.search(r'<script type="application/json" id="goleak-data">(.*?)</script>', html, re.S)
    assert m, "no data block"
    return m.group(1)


def test_summary_page_shows_the_real_leak():
    view, opts = summary_view()
    html = html_report.render(view, opts)
    data = json.loads(data_block(html))
    # after.txt: 40 goroutines of main.leakSender parked in chan send, the first suspect.
    first = data["clusters"][0]
    assert (first["count"], first["state"], first["title"], first["rank"]) == (40, "chan send", "main.leakSender", 1)
    frames = [data["frames"][i] for i in first["frames"]]
    assert frames[0][1] == "main.leakSender" and frames[0][2] == "example.com/leakyserver/main.go:120"
    assert data["frames"][first["created_by"]][1] == "main.fetchWithTimeout"
    assert data["groups"] == [["suspect", 1], ["other", len(data["clusters"]) - 1]]
    assert ["chan send", 1] in data["states"]
    # The static suspects list (works without JS and in print) names it too.
    assert '<code class="fn">main.leakSender</code>' in html
    assert "40 goroutines parked in chan send" in html


def test_compare_page_has_counts_verdicts_and_chart():
    view, opts = compare_view()
    html = html_report.render(view, opts)
    data = json.loads(data_block(html))
    by_title = {c["title"]: c for c in data["clusters"]}
    sender = by_title["main.leakSender"]
    assert (sender["counts"], sender["delta"], sender["group"]) == ([0, 40, 40], 40, "leak")
    assert "new" in sender["flags"] and sender["rank"] == 1
    assert by_title["main.loadWorker"]["group"] == "transient"
    assert by_title["main.loadWorker"]["counts"] == [0, 60, 0]
    assert data["snapshots"] == ["before", "during", "after"]
    assert dict(data["groups"]) == {"leak": 5, "transient": 4, "stable": 4}
    assert data["has_counts"] is True
    # Header: totals per snapshot as an SVG bar chart, verdict tallies.
    assert 'aria-label="Goroutines per snapshot: before 9, during 139, after 76"' in html
    assert re.search(r'<li class="tally leak"><b>5</b> leak</li>', html)
    assert re.search(r'<li class="tally transient"><b>4</b> transient</li>', html)
    assert '<option value="delta">delta</option>' in html


def test_self_contained_with_a_strict_content_security_policy():
    view, opts = compare_view()
    html = html_report.render(view, opts)
    tags = parse_html(html)
    csp = [a["content"] for t, a in tags.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1
    policy = dict(part.strip().split(" ", 1) for part in csp[0].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "data:"
    assert policy["style-src"] == "'unsafe-inline'"
    # The one executable script is allowed by its hash, not by 'unsafe-inline'.
    code = [s for (t, a), s in zip([x for x in tags.tags if x[0] == "script"], tags.scripts) if "type" not in a]
    assert len(code) == 1
    digest = base64.b64encode(hashlib.sha256(code[0].encode()).digest()).decode()
    assert policy["script-src"] == "'sha256-%s'" % digest
    # Nothing is loaded from anywhere: no src attributes, no stylesheets, no remote URLs.
    for tag, attrs in tags.tags:
        assert "src" not in attrs, tag
        if tag == "link":
            assert attrs["rel"] == "icon" and attrs["href"] == "data:,"
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    assert "@import" not in html and "url(" not in html


def test_hostile_dump_strings_never_become_markup():
    view, opts = hostile_view()
    html = html_report.render(view, opts)
    tags = parse_html(html)
    assert {t for t, _ in tags.tags} <= ALLOWED_TAGS
    assert not any(t == "img" for t, _ in tags.tags)
    assert [a.get("type") for t, a in tags.tags if t == "script"] == ["application/json", None]
    for tag, attrs in tags.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    # The text shows the strings as they were, escaped by autoescape.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html and "<img" not in html
    text = "".join(tags.text)
    assert HOSTILE_FUNCTION in text
    assert "<img src=x onerror=alert(4)>.txt" in text  # the source name, too


def test_data_block_escapes_script_end_tags_and_round_trips():
    view, opts = hostile_view()
    block = data_block(html_report.render(view, opts))
    # |tojson writes < > & ' as \\u escapes: nothing inside can close the script element
    # or open a comment, and JSON.parse gives the original strings back.
    for raw in ("<", ">", "&", "'"):
        assert raw not in block
    assert "\\u003c/script\\u003e" in block
    data = json.loads(block)
    labels = dict((k, dict(v)) for k, v in data["clusters"][0]["labels"])
    assert labels[HOSTILE_LABEL_KEY] == {HOSTILE_LABEL_VALUE: 2}
    assert data["frames"][data["clusters"][0]["frames"][0]][1] == HOSTILE_FUNCTION


def test_output_is_deterministic_and_holds_no_clock():
    view, opts = compare_view()
    first = html_report.render(view, opts)
    view2, opts2 = compare_view()
    assert html_report.render(view2, opts2) == first
    assert "generated" not in first
    stamped, sopts = compare_view(generated_at="2026-01-02T03:04:05Z")
    assert "generated 2026-01-02T03:04:05Z" in html_report.render(stamped, sopts)


def test_twenty_thousand_rows_are_not_in_the_markup():
    # Rows are drawn by the script from the data block, a batch at a time.
    view, opts = compare_view()
    html = html_report.render(view, opts)
    assert '<tbody id="rows"></tbody>' in html
    data = json.loads(data_block(html))
    assert data["batch"] == html_report.ROW_BATCH and data["expanded_at_start"] == html_report.EXPANDED_AT_START


def test_frames_are_shared_between_clusters():
    view, opts = summary_view()
    data = json.loads(data_block(html_report.render(view, opts)))
    refs = [i for c in data["clusters"] for i in c["frames"] + [c.get("created_by"), c.get("where")] if i is not None]
    assert len(set(refs)) == len(data["frames"]) < len(refs)


@pytest.mark.parametrize("template, message", [
    ("ftp://example.com/{path}", "must start with https:// or http://"),
    ("javascript:alert(1)//{path}", "must start with https:// or http://"),
    ("https://example.com/{pth}#L{line}", "not {pth}"),
    ("https://example.com/{path", "not a valid template"),
])
def test_bad_source_url_is_a_usage_error(template, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        check_source_url(template)


@pytest.mark.parametrize("file, strip, expected", [
    ("github.com/acme/shop/internal/cart/cart.go", (), "internal/cart/cart.go"),
    ("gitlab.com/acme/shop/main.go", (), "main.go"),
    ("example.com/leakyserver/main.go", (), None),  # module root unknown: ask for --source-strip
    ("example.com/leakyserver/main.go", ("example.com/leakyserver/",), "main.go"),
    ("/home/ci/src/shop/cmd/api/main.go", ("/home/ci/src/shop/",), "cmd/api/main.go"),
    ("/home/ci/src/shop/cmd/api/main.go", ("/elsewhere/",), None),
    ("github.com/acme/dep@v1.2.3/x.go", (), None),  # a dependency in the module cache
])
def test_repo_relative_path(file, strip, expected):
    assert repo_relative_path(file, strip) == expected


def test_source_links_in_html(tmp_path):
    out = tmp_path / "r.html"
    run_cli(["summary", str(COMPARE / "after.txt"), "--format", "html", "-o", str(out),
             "--source-url", "https://git.example.test/leaky/blob/main/{path}#L{line}",
             "--source-strip", "example.com/leakyserver/"])
    html = out.read_text()
    data = json.loads(data_block(html))
    links = {f[1]: f[3] for f in data["frames"]}
    assert links["main.leakSender"] == "https://git.example.test/leaky/blob/main/main.go#L120"
    assert links["internal/poll.runtime_pollWait"] == ""  # runtime and stdlib frames get none
    assert '<a href="https://git.example.test/leaky/blob/main/main.go#L120">' in html  # static suspects list


def test_source_link_quotes_hostile_paths():
    view, opts = hostile_view(source_url="https://x.test/{path}#L{line}", source_strip=("/src/",))
    frame = view.clusters[0].frames[0]
    assert frame.link == "https://x.test/%3Cimg%20src%3Dx%20onerror%3Dalert%282%29%3E/app.go#L12"
