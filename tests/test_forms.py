"""Every dump form Go 1.27 produces here (fixtures/forms, made by fixtures/gen) reads exactly."""
import json

import pytest

from goleak.cluster import cluster_snapshots
from goleak.parse import parse_file
from goleak.parse.text import TextReader
from tests.conftest import FIXTURES

FORMS = FIXTURES / "forms"
MANIFEST = json.loads((FORMS / "manifest.json").read_text())
ENTRIES = MANIFEST if isinstance(MANIFEST, list) else MANIFEST["files"]


def parse(name):
    return parse_file(str(FORMS / name), name)


def goroutines(name):
    found = []
    reader = TextReader(on_goroutine=found.append)
    reader.feed((FORMS / name).read_text(encoding="utf-8").replace("\r\n", "\n"), 1)
    reader.finish()
    return found


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["file"])
def test_manifest_total_is_exact_and_clean(entry):
    result = parse(entry["file"])
    assert sum(s.total for s in result.snapshots) == entry["goroutines"]
    assert [str(w) for s in result.snapshots for w in s.warnings] == []


def test_labels_states_generics_and_locked_threads():
    gs = goroutines("debug2-labels.txt")
    states = {g.state for g in gs}
    assert {"chan receive (nil chan)", "select (no cases)", "sync.Mutex.Lock", "sync.WaitGroup.Wait",
            "IO wait", "sleep", "select", "chan receive"} <= states
    assert (("handler", "/api/v1/items"), ("req id", "a b")) in {g.labels for g in gs}
    assert any(v == "jos\u00e9" for g in gs for _, v in g.labels)
    assert sum(g.locked_to_thread for g in gs) == 1
    assert any(f.function.endswith("[...]") for g in gs for f in g.stack.frames)
    # With labels off, the same program gives the same clusters, without labels.
    with_labels = cluster_snapshots(parse("debug2-labels.txt").snapshots)
    without = cluster_snapshots(parse("debug2-nolabels.txt").snapshots)
    assert sorted(c.count for c in with_labels) == sorted(c.count for c in without)
    assert all(not c.labels for c in without)


def test_one_program_three_formats_agree():
    def by_stack(name):
        out = {}
        for c in cluster_snapshots(parse(name).snapshots):
            out[c.stack_id] = out.get(c.stack_id, 0) + c.count
        return out

    def not_the_writer(table):
        # The goroutine writing each profile sits on a different line for each format.
        return {k: v for k, v in table.items() if v != 1 or k not in writer_ids}

    d2, d1, d0 = by_stack("debug2-labels.txt"), by_stack("debug1-labels.txt"), by_stack("debug0.pb.gz")
    assert sum(d1.values()) == sum(d0.values()) == sum(d2.values()) == 113
    writer_ids = (set(d1) ^ set(d0)) | (set(d1) ^ set(d2))
    assert len(set(d1) ^ set(d0)) == 2  # the two writer stacks, nothing else
    assert not_the_writer(d1) == not_the_writer(d0)
    # debug=2 splits a stack by state; summed per stack it agrees with the profiles, for
    # every stack whose frames the profiles print the same way.
    assert not_the_writer(d1) == not_the_writer(d2)


def test_wait_minutes_leaked_and_bubbles():
    assert {g.wait_minutes for g in goroutines("debug2-waitminutes.txt")} >= {1}
    leaked = [g for g in goroutines("goroutineleak-debug2.txt") if g.leaked]
    assert len(leaked) == 11
    assert {g.state for g in leaked} <= {"chan receive", "chan send", "select", "sync.Mutex.Lock",
                                         "sync.WaitGroup.Wait", "sync.Cond.Wait", "select (no cases)",
                                         "chan receive (nil chan)", "chan send (nil chan)"}
    snap = parse("goroutineleak-debug1.txt").snapshots[0]
    assert (snap.profile, snap.total, sum(g.leaked for g in snap.groups)) == ("goroutineleak", 11, 11)
    bubbles = [g for g in goroutines("synctest-bubble.txt") if g.synctest_bubble is not None]
    assert len(bubbles) >= 10
    assert any(g.state.endswith("(durable)") for g in bubbles)


def test_deep_recursion_ancestors_and_other_threads():
    elided = [g.stack.elided for g in goroutines("deep-recursion.txt")]
    assert 401 in elided
    with_ancestors = [g for g in goroutines("tracebackancestors.txt") if g.ancestors]
    assert max(len(g.ancestors) for g in with_ancestors) == 5
    assert sum(len(g.ancestors) for g in with_ancestors) == 27
    assert sum(g.stack.unavailable for g in goroutines("running-other-thread.txt")) == 1


def test_system_tracebacks_keep_frames_and_drop_fp_sp_pc():
    gs = goroutines("gotraceback-system.txt")
    frames = [f for g in gs for f in g.stack.frames]
    assert frames and all(f.line > 0 for f in frames)
    assert any(f.function.startswith("runtime.") for f in frames)


@pytest.mark.parametrize("name, reason", [
    ("sigquit.txt", "SIGQUIT: quit"),
    ("deadlock.txt", "fatal error: all goroutines are asleep - deadlock!"),
    ("test-timeout.txt", "panic: test timed out after 2s"),
    ("panic.txt", "panic: runtime error: invalid memory address or nil pointer dereference"),
    ("stack-overflow.txt", "fatal error: stack overflow"),
    ("gotraceback-crash-sigabrt.txt", "SIGABRT: abort"),
])
def test_crashes_are_one_snapshot_with_their_reason(name, reason):
    snaps = parse(name).snapshots
    assert len(snaps) == 1
    assert snaps[0].crash_reason == reason
    assert snaps[0].format == "crash"


@pytest.mark.parametrize("variant", ["panic-in-log-ci.txt", "panic-in-log-crlf.txt", "panic-in-log-indented.txt"])
def test_log_prefixes_crlf_and_indentation_change_nothing(variant):
    def shape(name):
        return sorted((c.count, c.id) for c in cluster_snapshots(parse(name).snapshots))
    assert shape(variant) == shape("panic-in-log.txt")


def test_race_reports_and_multi_dumps():
    snap = parse("race.txt").snapshots[0]
    assert (snap.total, snap.race_reports) == (0, 1)
    assert [s.total for s in parse("multi-dump.txt").snapshots] == [4, 7, 12]
