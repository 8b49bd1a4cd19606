"""The summary JSON writer that encodes each frame once gives exactly json.dumps(summary_json)."""
import json

import pytest

from goleak.parse import parse_file
from goleak.report import json_report
from goleak.report.view import ReportOptions, build_summary_view
from goleak.summary import SummarySettings, summarize
from tests.conftest import CORPUS, FIXTURES

INPUTS = sorted(p for p in (FIXTURES / "forms").iterdir() if p.suffix in (".txt", ".gz")) + \
    sorted((FIXTURES / "compare").glob("*.txt")) + \
    (sorted((CORPUS / "dumps").iterdir()) if CORPUS.is_dir() else [])


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_spliced_text_equals_plain_dump(path):
    view = build_summary_view(summarize([parse_file(str(path), path.name)], SummarySettings()),
                              ReportOptions(source_url="https://example.com/{path}#L{line}"))
    text = json_report.render(view)
    plain = json.dumps(json_report.summary_json(view), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert text == plain + "\n"
    assert list(json.loads(text)) == sorted(json.loads(text))
