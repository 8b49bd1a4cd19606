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


def test_hostile_strings_are_written_as_json_dumps_writes_them():
    # Quotes, backslashes, control characters, markup and non-ASCII in function names, file
    # paths, label keys and values: the hand-written cluster text must still be json.dumps.
    from tests.report_helpers import HOSTILE_DUMP
    from goleak.parse import ParseOptions, parse_bytes
    dump = HOSTILE_DUMP + (
        "\ngoroutine 10 [chan send (nil chan), 3 minutes] {k\\\\ey: \"v\\\\al\\tue é日\", \"\\\"\": \"\"}:\n"
        "main.\u00e9\u65e5\\back\"quote(0x1)\n"
        "\t/src/app/\u2028line\\sep.go:4 +0x1\n"
    )
    view = build_summary_view(summarize([parse_bytes(dump.encode(), "hostile.txt", ParseOptions())]),
                              ReportOptions())
    text = json_report.render(view)
    plain = json.dumps(json_report.summary_json(view), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert text == plain + "\n"
    data = json.loads(text)
    assert data["total"] == 4
    functions = {f["function"] for c in data["clusters"] for f in c["frames"]}
    assert 'main.\u00e9\u65e5\\back"quote' in functions
    labels = [c["labels"] for c in data["clusters"] if c["labels"]]
    assert {'"': {"": 1}, "k\\\\ey": {"v\\al\tue é日": 1}} in labels


@pytest.mark.parametrize("per_chunk", [1, 2, 3, 1000])
def test_chunks_join_to_the_same_text_at_any_chunk_size(per_chunk, monkeypatch):
    # The CLI writes the summary chunk by chunk; every boundary (an exact multiple of the
    # chunk size, one over, a single chunk) gives the same text.
    path = FIXTURES / "forms" / "multi-dump.txt"
    view = build_summary_view(summarize([parse_file(str(path), path.name)], SummarySettings()), ReportOptions())
    whole = json.dumps(json_report.summary_json(view), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    monkeypatch.setattr(json_report, "CHUNK_CLUSTERS", per_chunk)
    chunks = list(json_report.render_chunks(view))
    assert "".join(chunks) == whole + "\n"
    assert len(chunks) == -(-len(view.clusters) // per_chunk) + 1
    empty = build_summary_view(summarize([parse_file(str(path), path.name)], SummarySettings(ignore=lambda c: True)),
                               ReportOptions())
    assert json.loads("".join(json_report.render_chunks(empty)))["clusters"] == []
