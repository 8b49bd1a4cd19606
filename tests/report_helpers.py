"""Views built from real fixtures and from a hostile dump, shared by the report tests."""
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from goleak.compare import CompareSettings, compare_results
from goleak.ignore import build_ignore_rules
from goleak.parse import ParseOptions, parse_bytes
from goleak.report.compare_view import build_compare_view
from goleak.report.view import ReportOptions, build_summary_view
from goleak.summary import SummarySettings, summarize

ROOT = Path(__file__).resolve().parents[1]
COMPARE = ROOT / "fixtures" / "compare"
SERIES = ("before.txt", "during.txt", "after.txt")

# Every string a dump can carry, made hostile: label keys and values, function names,
# file paths, with markup, a script end tag, quotes, pipes, backticks, ampersands and an
# escape sequence. A goroutine dump is text anyone can paste into an incident channel.
_HOSTILE_GOROUTINE = (
    "goroutine %d [chan receive, 42 minutes] "
    "{\"<script>alert('label')</script>\": \"</script><img src=x onerror=alert(1)>\", "
    "\"q\\\"uote\": \"a|b`c&d\"}:\n"
    "main.(*H).<script>alert(1)</script>(0xc000010000)\n"
    "\t/src/<img src=x onerror=alert(2)>/app.go:12 +0x1d\n"
    "main.pipe|col`tick`**bold**[link](javascript:x)(...)\n"
    "\t/src/app/x&y.go:3 +0x1\n"
    "created by main.</script><script>alert(3)</script> in goroutine 1\n"
    "\t/src/app/\"quote\".go:9 +0x2\n"
    "\n"
)
HOSTILE_DUMP = _HOSTILE_GOROUTINE % 7 + _HOSTILE_GOROUTINE % 8 + (
    "goroutine 9 [select]:\n"
    "main.esc\x1b]0;pwned\x07(0x1)\n"
    "\t/src/app/esc.go:4 +0x1\n"
)
HOSTILE_FUNCTION = "main.(*H).<script>alert(1)</script>"
HOSTILE_LABEL_KEY = "<script>alert('label')</script>"
HOSTILE_LABEL_VALUE = "</script><img src=x onerror=alert(1)>"


def options(**kw) -> ReportOptions:
    kw.setdefault("version", "test")
    kw.setdefault("width", 0)
    return ReportOptions(**kw)


def parse_file(path: Path, name: Optional[str] = None):
    return parse_bytes(path.read_bytes(), name or "fixtures/compare/" + path.name, ParseOptions())


def summary_view(paths: Sequence[Path] = (COMPARE / "after.txt",), **kw):
    results = [parse_file(p) for p in paths]
    settings = SummarySettings(ignore=build_ignore_rules((), True))
    opts = options(**kw)
    return build_summary_view(summarize(results, settings), opts), opts


def compare_view(**kw):
    results = [parse_file(COMPARE / n) for n in SERIES]
    opts = options(**kw)
    comparison = compare_results(results, None, CompareSettings(ignore=build_ignore_rules((), True)))
    return build_compare_view(comparison, opts), opts


def hostile_view(**kw):
    result = parse_bytes(HOSTILE_DUMP.encode(), "<img src=x onerror=alert(4)>.txt", ParseOptions())
    opts = options(**kw)
    return build_summary_view(summarize([result], SummarySettings()), opts), opts


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: List[Tuple[str, Dict[str, Optional[str]]]] = []
        self.scripts: List[str] = []
        self._in_script = False
        self.text: List[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def parse_html(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags
