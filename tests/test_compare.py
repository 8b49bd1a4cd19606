"""compare.py on the captured dumps of the leaky server (fixtures/compare) and on the rules alone."""
import json
from dataclasses import replace

import pytest

from goleak.compare import (DRAINING, GONE, LEAK, NOISE, SHRINKING, STABLE, TRANSIENT, VERDICTS, CompareSettings,
                            compare_results, compare_snapshots, default_phase_name, is_draining, is_growing, judge,
                            name_phases, noise_threshold)
from goleak.errors import UsageError
from goleak.flags import BLOCKED, GROWING, IO, LONG_WAIT, NEW, RUNTIME_LEAKED
from goleak.ignore import build_ignore_rules
from goleak.parse import parse_file
from tests.conftest import FIXTURES

COMPARE = FIXTURES / "compare"
FORMS = FIXTURES / "forms"
EXPECTED = json.loads((COMPARE / "expected.json").read_text())
EXPECTED_BY_NAME = {c["name"]: c for c in EXPECTED["clusters"]}
# The two expected clusters the default ignore list hides: signal.Notify's receiver and the
# goroutine writing the dump itself.
DEFAULT_IGNORED = {"signal-loop": "os/signal receiver", "pprof-dump-request": "pprof dump writer"}
LEAK_NAMES = [c["name"] for c in EXPECTED["clusters"] if c["verdict"] == "leak"]


def load(*names):
    return [parse_file(str(COMPARE / n), n) for n in names]


def settings(**kw):
    kw.setdefault("ignore", build_ignore_rules())
    return CompareSettings(**kw)


def row_of(comparison, function):
    """The one row whose stack has a frame of `function` (the oracle's counting rule)."""
    rows = [c for c in comparison.clusters if any(f.function == function for f in c.stack.frames)]
    assert len(rows) == 1, "%s is in %d rows" % (function, len(rows))
    return rows[0]


# -- the rules, on counts alone -----------------------------------------------------
S = CompareSettings()


@pytest.mark.parametrize("counts, verdict", [
    ((0, 40, 40), LEAK),          # the sender leak
    ((0, 60, 0), TRANSIENT),      # a worker pool during load
    ((1, 2, 1), TRANSIENT),       # one more in-flight request during load
    ((3, 3, 3), STABLE),          # idle workers
    ((3, 2, 3), STABLE),          # dipped, never above the start
    ((0, 100, 40), LEAK),         # in flight during load, 40 stuck after it
    ((0, 100, 40, 20), DRAINING),  # still falling after the peak
    ((0, 100, 40, 39), LEAK),     # fell by less than the threshold: stuck
    ((0, 40, 40, 40), LEAK),
    ((0, 1), NOISE),              # one more idle keep-alive connection
    ((3, 3, 4), NOISE),
    ((100, 109), NOISE),          # +9 is under 10% of 100
    ((100, 110), LEAK),           # +10 reaches both thresholds
    ((5, 0), GONE),
    ((5, 9, 0), GONE),
    ((0, 7, 0, 0), TRANSIENT),
    ((10, 4), SHRINKING),
    ((10, 50, 2), TRANSIENT),     # rose with the load, then came back (below the start)
    ((0, 60, 1), TRANSIENT),      # rose and came back to within the noise threshold
])
def test_judge(counts, verdict):
    assert judge(counts, proven=False, long_wait_last=False, settings=S) == verdict


def test_judge_proven_and_long_wait_beat_the_noise_threshold():
    assert judge((1, 1), proven=True, long_wait_last=False, settings=S) == LEAK
    assert judge((0, 1), proven=False, long_wait_last=True, settings=S) == LEAK
    assert judge((3, 4), proven=False, long_wait_last=True, settings=S) == LEAK
    # A long wait does not make a steady goroutine (an accept loop parked for hours) a leak.
    assert judge((1, 1), proven=False, long_wait_last=True, settings=S) == STABLE
    # Nor does anything make an absent one a leak.
    assert judge((3, 0), proven=True, long_wait_last=True, settings=S) == GONE


def test_noise_threshold_takes_the_larger_of_absolute_and_relative():
    assert noise_threshold(0, S) == 2
    assert noise_threshold(15, S) == 2
    assert noise_threshold(100, S) == 10
    assert noise_threshold(101, S) == 11
    assert noise_threshold(100, CompareSettings(min_growth=1, min_growth_pct=0)) == 1


def test_draining_and_growing_need_enough_snapshots():
    assert not is_draining((0, 100, 40), S)  # one snapshot after the peak tells no trend
    assert is_draining((0, 100, 40, 20), S)
    assert is_growing((1, 2, 3))
    assert not is_growing((1, 2))
    assert not is_growing((0, 40, 40))


def test_every_verdict_has_help_and_a_place_in_the_order():
    from goleak.compare import VERDICT_HELP
    assert set(VERDICTS) == set(VERDICT_HELP)
    assert VERDICTS[0] == LEAK


# -- phase names ----------------------------------------------------------------------
def test_phase_names_come_from_the_files_and_number_extra_dumps():
    snaps = [s for r in [parse_file(str(FORMS / "multi-dump.txt"), "logs/multi-dump.txt")] for s in r.snapshots]
    assert [default_phase_name(s) for s in snaps] == ["multi-dump", "multi-dump#2", "multi-dump#3"]
    results = load("before.txt", "after.pb.gz")
    assert name_phases([s for r in results for s in r.snapshots]) == ("before", "after")
    same = load("after.txt", "after.txt")
    assert name_phases([s for r in same for s in r.snapshots]) == ("after@1", "after@2")


def test_names_must_fit_the_snapshots():
    snaps = [s for r in load("before.txt", "after.txt") for s in r.snapshots]
    assert name_phases(snaps, ["b", "a"]) == ("b", "a")
    with pytest.raises(UsageError, match="gives 3 names for 2 snapshots"):
        name_phases(snaps, ["a", "b", "c"])
    with pytest.raises(UsageError, match="repeats"):
        name_phases(snaps, ["a", "a"])
    with pytest.raises(UsageError, match="at least two snapshots"):
        compare_snapshots(snaps[:1])


# -- the captured leaky-server dumps ----------------------------------------------------
@pytest.fixture(scope="module")
def before_during_after():
    return compare_results(load("before.txt", "during.txt", "after.txt"), settings=settings())


def test_every_expected_cluster_gets_its_counts_and_verdict(before_during_after):
    cmp = before_during_after
    assert [p.name for p in cmp.phases] == ["before", "during", "after"]
    assert [p.snapshot.total for p in cmp.phases] == [EXPECTED["totals"][k] for k in ("before", "during", "after")]
    for exp in EXPECTED["clusters"]:
        if exp["name"] in DEFAULT_IGNORED:
            continue
        row = row_of(cmp, exp["function"])
        assert row.counts == tuple(exp["counts"][k] for k in ("before", "during", "after")), exp["name"]
        assert row.verdict == exp["verdict"], exp["name"]
        assert not row.fuzzy
    # Nothing but the five known leaks is a leak; nothing transient is flagged.
    assert cmp.leaks == len(LEAK_NAMES) == 5
    leak_functions = {row_of(cmp, EXPECTED_BY_NAME[n]["function"]).id for n in LEAK_NAMES}
    assert {c.id for c in cmp.clusters if c.verdict == LEAK} == leak_functions
    assert len(cmp.clusters) == len(EXPECTED["clusters"]) - len(DEFAULT_IGNORED)


def test_ignored_goroutines_are_counted_per_snapshot(before_during_after):
    assert dict(before_during_after.ignored) == {"os/signal receiver": (1, 1, 1), "pprof dump writer": (1, 1, 1)}
    assert [p.ignored for p in before_during_after.phases] == [2, 2, 2]


def test_without_default_ignores_the_plumbing_is_stable():
    cmp = compare_results(load("before.txt", "during.txt", "after.txt"), settings=settings(ignore=None))
    for name in DEFAULT_IGNORED:
        row = row_of(cmp, EXPECTED_BY_NAME[name]["function"])
        assert row.verdict == STABLE and row.counts == (1, 1, 1)
    assert len(cmp.clusters) == len(EXPECTED["clusters"])
    assert cmp.ignored == ()


def test_flags_name_the_blocking_class_and_newness(before_during_after):
    cmp = before_during_after
    assert row_of(cmp, "main.leakSender").flags == (BLOCKED, NEW)
    assert row_of(cmp, "main.connReader").flags == (IO, NEW)
    assert row_of(cmp, "main.backgroundWorker").flags == (BLOCKED,)
    assert row_of(cmp, "main.loadWorker").flags == ("sleep",)
    # The ticker loop is caught [select] and [runnable]: one row, its states merged.
    ticker = row_of(cmp, "main.tickerLoop")
    assert ticker.counts == (0, 7, 7) and ticker.state == "select"
    assert sum(n for _, n in ticker.cluster.states) == 7


def test_suspects_name_where_to_look_and_who_spawned_them(before_during_after):
    suspects = before_during_after.suspects
    assert len(suspects) == 5
    first = suspects[0].cluster
    assert first.id == row_of(before_during_after, "main.leakSender").id
    from goleak.flags import user_frame
    assert user_frame(first.stack).function == "main.leakSender"
    assert first.stack.created_by.function == "main.fetchWithTimeout"
    conn = row_of(before_during_after, "main.connReader")
    assert user_frame(conn.stack).function == "main.connReader"
    assert conn.stack.created_by.function == "main.connAcceptLoop"
    assert suspects[0].reasons[0] == "new: none in before, 40 in after"


def test_growth_is_weighted_by_blocking_class(before_during_after):
    # 9 connections in IO wait (weight 2) rank below 7 ticker loops parked in select (weight 3).
    order = [s.cluster.id for s in before_during_after.suspects]
    ticker = row_of(before_during_after, "main.tickerLoop").id
    conn = row_of(before_during_after, "main.connReader").id
    assert order.index(ticker) < order.index(conn)
    assert [s.tier for s in before_during_after.suspects] == [1] * 5


def test_the_goroutineleak_profile_proves_the_sender_but_not_the_ticker():
    cmp = compare_results(load("before.txt", "during.txt", "goroutineleak-after.txt"), settings=settings())
    for exp in EXPECTED["clusters"]:
        if exp["name"] in DEFAULT_IGNORED:
            continue
        row = row_of(cmp, exp["function"])
        assert row.verdict == exp["verdict"], exp["name"]
        assert (RUNTIME_LEAKED in row.flags) == exp["goroutineleak"]["proven"], exp["name"]
        assert row.leaked == exp["goroutineleak"]["leaked"], exp["name"]
    sender, ticker = row_of(cmp, "main.leakSender"), row_of(cmp, "main.tickerLoop")
    assert RUNTIME_LEAKED in sender.flags and sender.leaked == 40
    assert RUNTIME_LEAKED not in ticker.flags and ticker.verdict == LEAK  # only the comparison names it
    # Proven leaks rank first, then growth weighted by class.
    by_id = {c.id: c for c in cmp.clusters}
    ranked = [by_id[s.cluster.id].stack for s in cmp.suspects]
    from goleak.flags import user_frame
    assert [user_frame(s).function for s in ranked] == [
        "main.leakSender", "main.mutexWaiter", "main.waitgroupWaiter", "main.tickerLoop", "main.connReader"]
    assert [s.tier for s in cmp.suspects] == [0, 0, 0, 1, 1]
    assert cmp.suspects[0].reasons[0] == "the runtime proved 40 of them leaked"


def test_a_proven_leak_is_a_leak_even_when_its_count_did_not_change():
    # The same moment twice: no growth at all, yet the runtime proved 51 goroutines leaked.
    cmp = compare_results(load("goroutineleak-after.txt", "goroutineleak-after.txt"), settings=settings())
    leaks = {c.cluster.stack.frames[0].function: c for c in cmp.clusters if c.verdict == LEAK}
    assert sum(c.leaked for c in leaks.values()) == EXPECTED["totals"]["goroutineleak_leaked"]
    assert all(c.delta == 0 for c in leaks.values())
    assert row_of(cmp, "main.tickerLoop").verdict == STABLE


def test_a_goroutineleak_debug1_profile_is_flagged_as_partial():
    cmp = compare_results(load("before-debug1.txt", "goroutineleak-after-debug1.txt"), settings=settings())
    assert any("goroutineleak debug=1 profile" in n for n in cmp.notes)
    assert row_of(cmp, "main.leakSender").flags[0] == RUNTIME_LEAKED


def test_mixed_formats_line_up_by_frames():
    """debug=1 before (no states, no created-by), debug=2 after."""
    cmp = compare_results(load("before-debug1.txt", "after.txt"), settings=settings())
    assert cmp.without_created_by
    assert any("no created-by lines" in n for n in cmp.notes)
    for exp in EXPECTED["clusters"]:
        if exp["name"] in DEFAULT_IGNORED:
            continue
        expected = (exp["debug1_counts"]["before"], exp["counts"]["after"])
        if expected == (0, 0):
            continue  # load goroutines exist only during the load
        row = row_of(cmp, exp["function"])
        assert row.counts == expected, exp["name"]
        assert not row.fuzzy, exp["name"]
        assert row.verdict == (LEAK if exp["verdict"] == LEAK else STABLE), exp["name"]
    # The stack shown is the debug=2 one: it has states and its created-by line.
    sender = row_of(cmp, "main.leakSender")
    assert sender.state == "chan send" and sender.stack.created_by.function == "main.fetchWithTimeout"
    assert cmp.leaks == 5


def test_debug1_before_and_protobuf_after():
    cmp = compare_results(load("before-debug1.txt", "after.pb.gz"), settings=settings())
    assert cmp.leaks == 5
    assert {row_of(cmp, EXPECTED_BY_NAME[n]["function"]).counts[1] for n in LEAK_NAMES} == {40, 9, 7, 6, 5}
    assert row_of(cmp, "main.backgroundWorker").verdict == STABLE


def test_a_file_with_several_dumps_gives_several_phases():
    result = parse_file(str(FORMS / "multi-dump.txt"), "multi-dump.txt")
    cmp = compare_results([result], settings=settings())
    assert [p.name for p in cmp.phases] == ["multi-dump", "multi-dump#2", "multi-dump#3"]
    watch = row_of(cmp, "main.(*Session).watch")
    assert watch.counts == (2, 5, 10) and watch.verdict == LEAK
    assert GROWING in watch.flags
    # runtime.Stack was called from a different line each time: matched fuzzily, score shown.
    snap = row_of(cmp, "main.snapshot")
    assert snap.fuzzy and snap.score == 100.0 and snap.verdict == STABLE
    assert [p.fuzzy for p in snap.phases] == [False, True, True]
    off = compare_results([result], settings=settings(fuzzy_cutoff=None))
    assert sorted(c.verdict for c in off.clusters if c.stack.frames[0].function == "main.snapshot") == \
        [GONE, NOISE, TRANSIENT]


def test_fuzzy_partners_must_share_the_innermost_user_function():
    """A new stack in one function never takes the place of a vanished one in another."""
    before, after = [s for r in load("before.txt", "after.txt") for s in r.snapshots]
    # The after dump as a rebuild would print it: every user line moved by 3 (derived from
    # the real dump, not typed).
    moved = replace(after, groups=tuple(replace(g, stack=_shift_lines(g.stack, 3)) for g in after.groups))
    cmp = compare_snapshots([after, moved], settings=settings())
    assert {c.verdict for c in cmp.clusters} == {STABLE}
    assert all(c.fuzzy and c.score == 100.0 for c in cmp.clusters if c.stack.frames[0].file.startswith("example"))
    # Rename the function the connections are read in: the same 7 standard-library frames
    # below it, so the sequences score 87.5, above a cutoff of 80; but the innermost user
    # function differs, and a new stack there must not stand in for the vanished one.
    renamed = replace(after, groups=tuple(replace(g, stack=_rename(g.stack, "main.connReader", "main.otherReader"))
                                          for g in after.groups))
    from rapidfuzz import fuzz
    from goleak.normalize import fuzzy_text
    conn = next(g.stack for g in after.groups if any(f.function == "main.connReader" for f in g.stack.frames))
    codes = [fuzzy_text(s).split("\n") for s in (conn, _rename(conn, "main.connReader", "main.otherReader"))]
    assert fuzz.ratio(*codes) == 87.5
    cmp = compare_snapshots([after, renamed], settings=settings(fuzzy_cutoff=80))
    from goleak.flags import user_frame
    verdicts = {(user_frame(c.stack).function, c.verdict) for c in cmp.clusters if user_frame(c.stack)}
    assert ("main.connReader", GONE) in verdicts and ("main.otherReader", LEAK) in verdicts
    assert cmp.fuzzy_matches == 0


def test_small_growth_is_noise_unless_it_waited_for_minutes():
    """fixtures/forms/debug2-waitminutes.txt: real `[chan receive, 1 minutes]` goroutines."""
    real = parse_file(str(FORMS / "debug2-waitminutes.txt"), "waitminutes.txt").snapshots[0]
    target = max((g for g in real.groups if g.wait_max), key=lambda g: g.count)
    assert target.count >= 2
    # "before": the same dump with one goroutine of that group fewer.
    fewer = replace(real, groups=tuple(replace(g, count=g.count - 1) if g is target else g for g in real.groups))
    fn = target.stack.frames[0].function
    quiet = compare_snapshots([fewer, real], settings=settings(min_wait=10))
    rows = [c for c in quiet.clusters if c.stack.frames[0].function == fn and c.delta == 1]
    assert [c.verdict for c in rows] == [NOISE]
    loud = compare_snapshots([fewer, real], settings=settings(min_wait=1))
    rows = [c for c in loud.clusters if c.stack.frames[0].function == fn and c.delta == 1]
    assert [c.verdict for c in rows] == [LEAK] and LONG_WAIT in rows[0].flags
    assert any("waiting up to 1 minutes" in r for s in loud.suspects for r in s.reasons)
    assert loud.suspects[-1].tier == 2


def test_min_growth_raises_the_bar_but_never_hides_a_proven_leak():
    results = load("before.txt", "during.txt", "goroutineleak-after.txt")
    cmp = compare_results(results, settings=settings(min_growth=10))
    assert row_of(cmp, "main.leakSender").verdict == LEAK  # proven
    assert row_of(cmp, "main.mutexWaiter").verdict == LEAK  # proven, only 6
    assert row_of(cmp, "main.tickerLoop").verdict == NOISE  # 7 < 10, not proven
    assert row_of(cmp, "main.connReader").verdict == NOISE


def test_comparison_is_deterministic():
    a = compare_results(load("before.txt", "during.txt", "after.txt"), settings=settings())
    b = compare_results(load("before.txt", "during.txt", "after.txt"), settings=settings())
    assert [(c.id, c.counts, c.verdict, c.flags) for c in a.clusters] == \
        [(c.id, c.counts, c.verdict, c.flags) for c in b.clusters]


def _shift_lines(stack, by):
    def move(f):
        return replace(f, line=f.line + by) if f.file.startswith("example.com/") else f
    return replace(stack, frames=tuple(move(f) for f in stack.frames),
                   created_by=move(stack.created_by) if stack.created_by else None)


def _rename(stack, old, new):
    return replace(stack, frames=tuple(replace(f, function=new) if f.function == old else f for f in stack.frames))
