"""The fast block reader and the parallel range reader give exactly what the reference reader gives."""
import pytest

from goleak.parse import ParseOptions, parse_bytes, parse_file, parse_text_reference
from goleak.parse.parallel import parse_file_parallel
from tests.conftest import CORPUS, FIXTURES


def text_inputs():
    paths = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix == ".txt")
    if CORPUS.is_dir():
        paths += sorted((CORPUS / "dumps").glob("*.txt"))
    return paths


def comparable(result):
    # Warnings of the fast path can differ in wording only where a block was cut at a
    # different place; the groups and totals must be identical.
    return [(s.format, s.total, s.declared_total, s.groups, s.crash_reason, s.race_reports) for s in result.snapshots]


@pytest.mark.parametrize("path", text_inputs(), ids=lambda p: p.name)
@pytest.mark.parametrize("keep_args", [False, True], ids=["default", "exact"])
def test_fast_path_equals_reference(path, keep_args):
    data = path.read_bytes()
    fast = parse_bytes(data, path.name, ParseOptions(keep_args=keep_args))
    ref = parse_text_reference(data, path.name, keep_args)
    assert comparable(fast) == comparable(ref)
    assert [w.line for s in fast.snapshots for w in s.warnings] == [w.line for s in ref.snapshots for w in s.warnings]


@pytest.mark.parametrize("path", [p for p in text_inputs() if p.stat().st_size > 50_000], ids=lambda p: p.name)
def test_parallel_ranges_equal_one_pass(path, monkeypatch):
    # Force several small ranges, so workers start mid-dump on real files.
    monkeypatch.setattr("goleak.parse.parallel._WINDOW", 4096)
    whole = parse_file(str(path), path.name)
    builders = parse_file_parallel(str(path), path.stat().st_size, ParseOptions(jobs=3))
    from goleak.parse import _result
    parallel = _result(path.name, builders, ParseOptions(), b"")
    assert comparable(parallel) == comparable(whole)


def test_piece_boundaries_do_not_matter():
    path = next(p for p in text_inputs() if p.stat().st_size > 50_000)
    data = path.read_bytes()[:60_000]
    from goleak.parse import parse_stream
    one = parse_bytes(data, "x")
    for size in (7, 4096, 65536):
        pieces = (data[i:i + size] for i in range(0, len(data), size))
        assert comparable(parse_stream(pieces, "x")) == comparable(one)
