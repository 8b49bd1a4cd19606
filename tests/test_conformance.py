"""Conformance: real dumps from public projects parse with the exact totals, and goleak agrees
with DataDog's gostackparse on its own test inputs."""
import json

import pytest

from goleak.cluster import cluster_snapshots
from goleak.parse import parse_file
from goleak.parse.text import TextReader
from tests.conftest import CORPUS, PEERS, needs_shared

pytestmark = needs_shared


def corpus_entries():
    if not CORPUS.is_dir():
        return []
    return json.loads((CORPUS / "expected.json").read_text())


@pytest.mark.parametrize("entry", corpus_entries(), ids=lambda e: e["file"])
def test_corpus_total_is_exact(entry):
    result = parse_file(str(CORPUS / "dumps" / entry["file"]), entry["file"])
    assert sum(s.total for s in result.snapshots) == entry["goroutines"]
    if entry["leak_function"]:
        clusters = cluster_snapshots(result.snapshots)
        biggest = max(clusters, key=lambda c: c.count)
        functions = [f.function for f in biggest.stack.frames]
        assert entry["leak_function"] in functions
        assert biggest.count == entry["leak_count"]


def test_corpus_formats_are_detected():
    expected = {e["file"]: e["format"] for e in corpus_entries()}
    seen = {}
    for name in expected:
        result = parse_file(str(CORPUS / "dumps" / name), name)
        seen[name] = {s.format for s in result.snapshots}
    assert seen["001_erigon-torrent-debug1.txt"] == {"debug=1"}
    assert seen["009_tidb4-debug2-905.txt"] == {"debug=2"}
    assert seen["012_mhub-go13-panic-1752.txt"] == {"crash"}
    assert seen["025_autonity-race-in-go-test.txt"] == {"race"}
    assert seen["031_audiofile-debug0.pb.gz"] == {"debug=0"}


def test_concatenated_dumps_are_separate_snapshots():
    r = parse_file(str(CORPUS / "dumps" / "005_course-multi-snapshot-debug1.txt"), "005")
    assert [s.total for s in r.snapshots] == [2] * 8
    assert all(s.declared_total == 2 for s in r.snapshots)
    r = parse_file(str(CORPUS / "dumps" / "014_droute-logged-stacks-go18.txt"), "014")
    assert [s.total for s in r.snapshots] == [6] * 6


def test_crash_reason_and_race_reports():
    r = parse_file(str(CORPUS / "dumps" / "015_realtimeforum-concurrent-map-writes.txt"), "015")
    assert r.snapshots[0].crash_reason == "fatal error: concurrent map writes"
    r = parse_file(str(CORPUS / "dumps" / "025_autonity-race-in-go-test.txt"), "025")
    assert r.snapshots[0].race_reports == 7
    assert r.snapshots[0].total == 0


def test_crlf_debug1_without_final_newline():
    r = parse_file(str(CORPUS / "dumps" / "003_nats-jetstream-mqtt-debug1.txt"), "003")
    snap = r.snapshots[0]
    assert (snap.total, snap.declared_total, snap.warnings) == (7046, 7046, ())
    clusters = cluster_snapshots(r.snapshots)
    by_fn = {c.stack.frames[0].function: c.count for c in clusters if c.stack.frames}
    assert any("(*raft).fileWriter" in fn and n == 1004 for fn, n in by_fn.items())


def test_windows_paths_and_generics():
    r = parse_file(str(CORPUS / "dumps" / "011_kvstore-windows-debug2-go125.txt"), "011")
    files = {f.file for g in r.snapshots[0].groups for f in g.stack.frames}
    assert any(f.startswith("C:/Program Files/Go/src/") for f in files)
    r = parse_file(str(CORPUS / "dumps" / "010_cdk-erigon-debug2-generics.txt"), "010")
    fns = {f.function for g in r.snapshots[0].groups for f in g.stack.frames}
    assert any(fn.endswith("pumpStreamLoop[...]") for fn in fns)


def peer_names():
    if not PEERS.is_dir():
        return []
    return sorted(p.name[: -len(".golden.json")] for p in PEERS.glob("*.golden.json"))


def read_reference(text):
    found = []
    reader = TextReader(on_goroutine=found.append)
    reader.feed(text, 1)
    warnings = [w for b in reader.finish() for w in b.warnings]
    return {g.id: g for g in found}, warnings


@pytest.mark.parametrize("name", peer_names())
def test_agrees_with_gostackparse(name):
    golden = json.loads((PEERS / (name + ".golden.json")).read_text())
    mine, warnings = read_reference((PEERS / (name + ".txt")).read_text())
    theirs = {g["ID"]: g for g in golden["Goroutines"] or []}
    # goleak reads at least every goroutine gostackparse reads...
    assert set(theirs) <= set(mine)
    for gid, g in theirs.items():
        m = mine[gid]
        assert m.state == g["State"]
        assert (m.wait_minutes or 0) == g["Wait"] // 60_000_000_000
        assert m.locked_to_thread == g["LockedToThread"]
        assert [(f.function, f.file, f.line) for f in m.stack.frames] == \
               [(f["Func"], f["File"], f["Line"]) for f in g["Stack"]]
        assert bool(m.stack.elided) == g["FramesElided"]
        created = g["CreatedBy"]
        mc = m.stack.created_by
        assert (mc is None) == (created is None)
        if created:
            assert (mc.function, mc.file, mc.line) == (created["Func"], created["File"], created["Line"])
    # ...and where gostackparse reports an error and drops a goroutine, goleak keeps it and
    # warns with a line number instead.
    if golden["Errors"]:
        assert len(mine) > len(theirs)
        assert warnings and all(line for line, _ in warnings)
    else:
        assert warnings == []


def test_ancestors_are_kept_apart_from_the_stack():
    mine, _ = read_reference((PEERS / "ancestors.txt").read_text())
    with_ancestors = [g for g in mine.values() if g.ancestors]
    assert with_ancestors
    for g in with_ancestors:
        assert all(a.goroutine_id > 0 and a.frames for a in g.ancestors)
