"""Snapshots -> matched stacks with a count per phase, a verdict, flags and ranked suspects.

One row per stack. A row is keyed by its stack without the wait state: a ticker loop is
[select] in one dump and [runnable] in the next, and debug=1 / debug=0 profiles record no
state at all, yet it is one kind of goroutine whose count is what matters. When any input
is a debug=1 or debug=0 profile the key also leaves out the created-by line (those formats
do not record it), so every format lines up with every other.

A stack with no exact partner in a snapshot gets a fuzzy match (rapidfuzz, always with a
cutoff) against the rows missing from that snapshot and sharing its innermost user
function: two builds whose line numbers or closure names drifted still line up, and the
score is kept wherever it was used.

Verdicts (contract names, JSON `verdict`), decided in this order from the counts
first .. last, with thr(n) = max(min_growth, ceil(n * min_growth_pct / 100)):

  gone       present in the first snapshot, absent from the last
  transient  absent from the first and from the last, present in between (load only)
  leak       present in the last snapshot and the runtime proved some of it leaked
             ((leaked) state, goroutineleak profile); or it grew from first to last by at
             least thr(first) (absent from the first: flag `new`); or it grew by less but
             waits at least --min-wait minutes in the last snapshot (the noise threshold
             never hides a goroutine blocked for minutes)
  draining   grew by at least thr(first), but after its peak it fell again between the last
             two snapshots (needs two snapshots after the peak, so four or more in all):
             take another snapshot later
  transient  rose above its first count at some point and is back to about it
  noise      grew from first to last by less than the threshold (one more idle connection)
  shrinking  fewer in the last snapshot than in the first, never above the first
  stable     the same count in the first and last snapshot, never above it in between
"""
import math
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from goleak.cluster import merge_groups
from goleak.errors import UsageError
from goleak.flags import (CLASS_WEIGHT, GROWING, LONG_WAIT, NEW, RUNTIME_LEAKED, blocking_class, user_frame)
from goleak.ignore import IgnoreRules
from goleak.model import Cluster, ParseResult, Snapshot, Stack, StackGroup, Warning
from goleak.normalize import digest, fuzzy_text, stack_signature, strip_closure_suffix
from goleak.paths import is_runtime_function
from goleak.records import frozen
from goleak.summary import DEFAULT_MIN_WAIT

LEAK = "leak"
DRAINING = "draining"
TRANSIENT = "transient"
NOISE = "noise"
SHRINKING = "shrinking"
GONE = "gone"
STABLE = "stable"

# Report order: what needs attention first.
VERDICTS = (LEAK, DRAINING, TRANSIENT, NOISE, SHRINKING, GONE, STABLE)
VERDICT_HELP = {
    LEAK: "grew from the first snapshot to the last and did not come back, or the runtime proved it leaked",
    DRAINING: "grew, but is falling again after its peak: take another snapshot later",
    TRANSIENT: "rose during the workload and returned to about its starting level",
    NOISE: "grew by less than the noise threshold (--min-growth, --min-growth-pct)",
    SHRINKING: "fewer at the end than at the start",
    GONE: "present at the start, absent at the end",
    STABLE: "the same count at the start and the end, never above it in between",
}

# Growth below both thresholds is noise: one more idle keep-alive connection, a pool of 40
# that has 43 this time. min_growth 2 keeps a single extra goroutine from being a leak; 10%
# keeps big pools from flapping. Neither hides a proven leak or a long wait.
DEFAULT_MIN_GROWTH = 2
DEFAULT_MIN_GROWTH_PCT = 10.0
# rapidfuzz ratio over the frame sequence, each frame one symbol: 90 lets one frame in ten
# differ (an inlined frame that comes and goes between builds or Go versions) and nothing
# more. Line numbers and closure suffixes are not in the compared text at all, so drifted
# builds score 100.
DEFAULT_FUZZY_CUTOFF = 90.0

_PROFILE_FORMATS = ("debug=1", "debug=0")  # no state, no created-by


@dataclass(frozen=True)
class CompareSettings:
    similarity: str = "default"
    fuzzy_cutoff: Optional[float] = DEFAULT_FUZZY_CUTOFF  # None: exact keys only
    min_wait: int = DEFAULT_MIN_WAIT
    min_growth: int = DEFAULT_MIN_GROWTH
    min_growth_pct: float = DEFAULT_MIN_GROWTH_PCT
    ignore: Optional[IgnoreRules] = None


@dataclass(frozen=True)
class Phase:
    """One snapshot in its place in the series."""

    name: str
    snapshot: Snapshot
    ignored: int  # goroutines hidden by ignore rules


@frozen
class PhaseMatch:
    """A row in one snapshot: its goroutines there (states merged) and how they were matched."""

    cluster: Optional[Cluster]  # None: absent from this snapshot
    fuzzy: bool = False
    score: Optional[float] = None  # 100.0 for an exact key match, the rapidfuzz score if fuzzy

    @property
    def count(self) -> int:
        return self.cluster.count if self.cluster is not None else 0


@frozen
class ComparedCluster:
    id: str  # digest of the row's key (see the module docstring)
    cluster: Cluster  # as seen in the representative snapshot: the stack, labels, states to show
    phases: Tuple[PhaseMatch, ...]
    counts: Tuple[int, ...]
    delta: int  # last - first
    peak: int
    verdict: str
    flags: Tuple[str, ...]
    fuzzy: bool  # some snapshot joined this row through a fuzzy match
    score: float  # the lowest match score used (100.0 when every match was exact)
    state: str  # the largest state in the most recent snapshot that records states
    wait_max: Optional[int]  # longest wait in any snapshot, minutes
    leaked: int  # most goroutines the runtime proved leaked in any one snapshot

    @property
    def stack(self) -> Stack:
        return self.cluster.stack


@dataclass(frozen=True)
class Suspect:
    cluster: ComparedCluster
    tier: int  # 0 proven by the runtime, 1 grew, 2 only a long wait
    score: float
    reasons: Tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    phases: Tuple[Phase, ...]
    clusters: Tuple[ComparedCluster, ...]  # leaks first (VERDICTS order), then by size of change
    suspects: Tuple[Suspect, ...]
    leaks: int
    verdict_counts: Tuple[Tuple[str, int], ...]  # every verdict, VERDICTS order
    ignored: Tuple[Tuple[str, Tuple[int, ...]], ...]  # rule name -> goroutines hidden per phase
    notes: Tuple[str, ...]
    warnings: Tuple[Warning, ...]
    settings: CompareSettings
    without_created_by: bool  # a debug=1/debug=0 input made the key drop created-by
    fuzzy_matches: int  # phase matches that were fuzzy


# -- phases ---------------------------------------------------------------------------
_EXTENSIONS = (".gz", ".txt", ".pb", ".pprof", ".prof", ".log", ".out", ".dump")


def default_phase_name(snapshot: Snapshot) -> str:
    """`fixtures/compare/before.txt` -> `before`; the second dump of `ci.log` -> `ci#2`."""
    src = snapshot.source
    if src == "-" or src == "<stdin>":
        base = "stdin"
    elif "://" in src:
        base = src
    else:
        base = src.replace("\\", "/").rsplit("/", 1)[-1]
        stripped = True
        while stripped:
            stripped = False
            for ext in _EXTENSIONS:
                if base.endswith(ext) and len(base) > len(ext):
                    base = base[: -len(ext)]
                    stripped = True
    return base if snapshot.index == 0 else "%s#%d" % (base, snapshot.index + 1)


def name_phases(snapshots: Sequence[Snapshot], names: Optional[Sequence[str]] = None) -> Tuple[str, ...]:
    """--names, or names derived from the sources; made unique by position when they clash."""
    if names:
        names = [n.strip() for n in names]
        if len(names) != len(snapshots):
            raise UsageError("--names gives %d names for %d snapshots (%s)" % (
                len(names), len(snapshots), ", ".join(s.name for s in snapshots)))
        if any(not n for n in names):
            raise UsageError("--names has an empty name")
        if len(set(names)) != len(names):
            raise UsageError("--names repeats a name: %s" % ",".join(names))
        return tuple(names)
    base = [default_phase_name(s) for s in snapshots]
    seen: Dict[str, int] = {}
    for b in base:
        seen[b] = seen.get(b, 0) + 1
    return tuple(b if seen[b] == 1 else "%s@%d" % (b, i + 1) for i, b in enumerate(base))


# -- verdicts and flags (pure, on counts) --------------------------------------------
def noise_threshold(base: int, settings: CompareSettings) -> int:
    return max(settings.min_growth, int(math.ceil(base * settings.min_growth_pct / 100.0)))


def is_draining(counts: Sequence[int], settings: CompareSettings) -> bool:
    """Still falling after its peak: two or more snapshots after the peak, the last lower."""
    peak = max(counts)
    last_peak = max(i for i, c in enumerate(counts) if c == peak)
    after = counts[last_peak + 1:]
    return len(after) >= 2 and after[-2] - after[-1] >= noise_threshold(after[-1], settings)


def judge(counts: Sequence[int], proven: bool, long_wait_last: bool, settings: CompareSettings) -> str:
    """The verdict of one row; see the module docstring for the rules."""
    first, last, peak = counts[0], counts[-1], max(counts)
    if last == 0:
        return GONE if first > 0 else TRANSIENT
    if proven:
        return LEAK
    delta = last - first
    if delta > 0:
        if delta >= noise_threshold(first, settings):
            return DRAINING if is_draining(counts, settings) else LEAK
        if long_wait_last:
            return LEAK
        return TRANSIENT if peak > last else NOISE
    if peak > first:
        return TRANSIENT
    return STABLE if delta == 0 else SHRINKING


def is_growing(counts: Sequence[int]) -> bool:
    return len(counts) >= 3 and all(a < b for a, b in zip(counts, counts[1:]))


# -- matching -------------------------------------------------------------------------
class _Entry:
    """One row's goroutines in one snapshot, before matching."""
    __slots__ = ("key", "cluster", "key_stack", "codes", "_code", "_anchor")

    def __init__(self, key: str, cluster: Cluster, key_stack: Stack, codes: "_Codes"):
        self.key = key
        self.cluster = cluster
        self.key_stack = key_stack
        self.codes = codes
        self._code: Optional[str] = None
        self._anchor: Optional[Tuple[Optional[str]]] = None

    # Both are needed only for stacks left over after exact matching: computed on demand.
    @property
    def code(self) -> str:
        """The frame sequence, one character per function (see _Codes)."""
        if self._code is None:
            self._code = self.codes.encode(fuzzy_text(self.key_stack))
        return self._code

    @property
    def anchor(self) -> Optional[str]:
        """The innermost user function: fuzzy partners must share it."""
        if self._anchor is None:
            uf = user_frame(self.key_stack)
            self._anchor = (strip_closure_suffix(uf.function) if uf else None,)
        return self._anchor[0]


class _Row:
    __slots__ = ("key", "first", "phases")

    def __init__(self, entry: _Entry, n: int):
        self.key = entry.key
        self.first = entry  # the entry that opened the row: its code and anchor stand for it
        self.phases: List[Optional[PhaseMatch]] = [None] * n


class _Codes:
    """Maps each function name to one character, so the fuzzy score counts whole frames
    inserted, removed or renamed rather than characters (two handlers that differ in one
    letter of their name are different stacks)."""

    def __init__(self):
        self.table: Dict[str, str] = {}

    def encode(self, text: str) -> str:
        out = []
        for name in text.split("\n"):
            c = self.table.get(name)
            if c is None:
                c = self.table[name] = chr(0x4E00 + len(self.table))
            out.append(c)
        return "".join(out)


def _key_stack(stack: Stack, without_created_by: bool) -> Stack:
    """The part of a stack that identifies it in every format: runtime frames at the bottom
    (runtime.main, runtime.goexit: debug=1 prints them, debug=2 does not) and, when asked,
    the created-by line are left out."""
    frames = stack.frames
    end = len(frames)
    while end > 1 and is_runtime_function(frames[end - 1].function):
        end -= 1
    if end < len(frames) and any(not is_runtime_function(f.function) for f in frames[:end]):
        frames = frames[:end]
    return Stack(frames=frames, created_by=None if without_created_by else stack.created_by,
                 unavailable=stack.unavailable)


def _merge_groups(groups: Sequence[StackGroup], row_id: str) -> Cluster:
    """The groups of one stack in one snapshot (one per state) as a single cluster."""
    return merge_groups(list(groups), row_id, row_id)


def _entries(snapshot: Snapshot, settings: CompareSettings, without_created_by: bool, codes: _Codes,
             ignored: Dict[str, int]) -> List[_Entry]:
    buckets: Dict[str, List[StackGroup]] = {}
    key_stacks: Dict[str, Stack] = {}
    for g in snapshot.groups:
        rule = settings.ignore.match(g.stack) if settings.ignore is not None else None
        if rule is not None:
            ignored[rule.name] = ignored.get(rule.name, 0) + g.count
            continue
        ks = _key_stack(g.stack, without_created_by)
        sig = stack_signature(ks, settings.similarity)
        bucket = buckets.get(sig)
        if bucket is None:
            buckets[sig] = [g]
            key_stacks[sig] = ks
        else:
            bucket.append(g)
    return [_Entry(digest(sig), _merge_groups(buckets[sig], digest(sig)), key_stacks[sig], codes)
            for sig in sorted(buckets)]


def _match_phase(i: int, n: int, entries: List[_Entry], rows: List[_Row], by_key: Dict[str, _Row],
                 cutoff: Optional[float]) -> None:
    """Join snapshot i's entries to the rows: exact keys first, then fuzzy, then new rows."""
    unmatched = []
    for e in entries:
        row = by_key.get(e.key)
        if row is not None and row.phases[i] is None:
            row.phases[i] = PhaseMatch(e.cluster, False, 100.0)
        else:
            unmatched.append(e)
    # Fuzzy: only rows missing from this snapshot, only partners with the same innermost
    # user function (so a new leak in one handler never hides behind a gone one in another).
    # Pairs are taken best score first (ties by key), one partner each. Score 100 means the
    # same sequence of functions, found by a lookup; rapidfuzz scores only what is left.
    taken_entries = set()
    if cutoff is not None and unmatched:
        candidates = [r for r in rows if r.phases[i] is None]
        by_code: Dict[Tuple[Optional[str], str], List[_Row]] = {}
        for r in candidates:
            by_code.setdefault((r.first.anchor, r.first.code), []).append(r)
        identical = sorted(((e.key, r.key, e, r) for e in unmatched for r in by_code.get((e.anchor, e.code), ())),
                           key=lambda p: p[:2])
        _take(i, ((100.0, e, r) for _, _, e, r in identical), taken_entries, by_key)
        left = [e for e in unmatched if e.key not in taken_entries]
        by_anchor: Dict[Optional[str], List[_Row]] = {}
        for r in candidates:
            if r.phases[i] is None:
                by_anchor.setdefault(r.first.anchor, []).append(r)
        from rapidfuzz import fuzz, process  # here, not at the top: only fuzzy matching needs it
        pairs = []
        for e in left:
            group = by_anchor.get(e.anchor)
            if not group:
                continue
            found = process.extract(e.code, [r.first.code for r in group], scorer=fuzz.ratio,
                                    score_cutoff=cutoff, limit=None)
            for _, score, idx in found:
                pairs.append((-round(score, 1), e.key, group[idx].key, e, group[idx]))
        pairs.sort(key=lambda p: p[:3])
        _take(i, ((-neg_score, e, r) for neg_score, _, _, e, r in pairs), taken_entries, by_key)
    for e in unmatched:
        if e.key not in taken_entries:
            row = _Row(e, n)
            row.phases[i] = PhaseMatch(e.cluster, False, 100.0)
            rows.append(row)
            by_key.setdefault(e.key, row)


def _take(i: int, pairs, taken_entries: set, by_key: Dict[str, _Row]) -> None:
    """Join each (score, entry, row), in order, whose entry and row are both still free."""
    for score, e, row in pairs:
        if e.key in taken_entries or row.phases[i] is not None:
            continue
        taken_entries.add(e.key)
        row.phases[i] = PhaseMatch(e.cluster, True, score)
        by_key.setdefault(e.key, row)


def compare_snapshots(snapshots: Sequence[Snapshot], names: Optional[Sequence[str]] = None,
                      settings: CompareSettings = CompareSettings()) -> Comparison:
    """Match every stack across the snapshots (in order) and judge each one."""
    if len(snapshots) < 2:
        raise UsageError("compare needs at least two snapshots, found %d in %s" % (
            len(snapshots), ", ".join(s.name for s in snapshots) or "the sources"))
    phase_names = name_phases(snapshots, names)
    n = len(snapshots)
    without_created_by = any(s.format in _PROFILE_FORMATS for s in snapshots)
    codes = _Codes()
    rows: List[_Row] = []
    by_key: Dict[str, _Row] = {}
    ignored_by_rule: Dict[str, List[int]] = {}
    ignored_totals = []
    for i, snap in enumerate(snapshots):
        ignored: Dict[str, int] = {}
        entries = _entries(snap, settings, without_created_by, codes, ignored)
        for rule, count in ignored.items():
            ignored_by_rule.setdefault(rule, [0] * n)[i] = count
        ignored_totals.append(sum(ignored.values()))
        _match_phase(i, n, entries, rows, by_key, settings.fuzzy_cutoff)
    clusters = [_judge_row(r, snapshots, settings) for r in rows]
    clusters.sort(key=lambda c: (VERDICTS.index(c.verdict), -abs(c.delta), -c.peak, c.id))
    suspects = rank_suspects(clusters, phase_names, settings)
    verdict_counts = tuple((v, sum(1 for c in clusters if c.verdict == v)) for v in VERDICTS)
    return Comparison(
        phases=tuple(Phase(nm, s, ig) for nm, s, ig in zip(phase_names, snapshots, ignored_totals)),
        clusters=tuple(clusters),
        suspects=suspects,
        leaks=dict(verdict_counts)[LEAK],
        verdict_counts=verdict_counts,
        ignored=tuple((rule, tuple(c)) for rule, c in sorted(ignored_by_rule.items())),
        notes=_notes(snapshots, phase_names, without_created_by, settings.similarity),
        warnings=tuple(w for s in snapshots for w in s.warnings),
        settings=settings,
        without_created_by=without_created_by,
        fuzzy_matches=sum(1 for c in clusters for p in c.phases if p.fuzzy),
    )


def compare_results(results: Sequence[ParseResult], names: Optional[Sequence[str]] = None,
                    settings: CompareSettings = CompareSettings()) -> Comparison:
    """Every snapshot of every source, in order: a file with several dumps gives several phases."""
    return compare_snapshots([s for r in results for s in r.snapshots], names, settings)


def _notes(snapshots: Sequence[Snapshot], names: Sequence[str], without_created_by: bool,
           similarity: str) -> Tuple[str, ...]:
    notes = []
    if similarity == "exact":
        notes.append("--similarity exact keys stacks by argument values: goroutines blocked on different "
                     "objects are separate rows, so growth spreads over many small rows; default is the "
                     "level meant for comparing")
    if without_created_by:
        profiles = [nm for nm, s in zip(names, snapshots) if s.format in _PROFILE_FORMATS]
        notes.append("%s %s no created-by lines (debug=1/debug=0): stacks are matched on their frames only"
                     % (", ".join(profiles), "has" if len(profiles) == 1 else "have"))
    for nm, s in zip(names, snapshots):
        if s.profile == "goroutineleak" and s.format in _PROFILE_FORMATS:
            notes.append("%s is a goroutineleak %s profile: it lists only the goroutines the runtime proved "
                         "leaked, not the whole process" % (nm, s.format))
    return tuple(notes)


def _judge_row(row: _Row, snapshots: Sequence[Snapshot], settings: CompareSettings) -> ComparedCluster:
    phases = tuple(p if p is not None else PhaseMatch(None) for p in row.phases)
    counts = tuple(p.count for p in phases)
    present = [i for i, p in enumerate(phases) if p.cluster is not None]
    # Show the stack as the most recent text dump printed it (it has states and created-by).
    with_text = [i for i in present if snapshots[i].format not in _PROFILE_FORMATS]
    rep_at = (with_text or present)[-1]
    rep = replace(phases[rep_at].cluster, id=row.key, stack_id=row.key)
    with_states = [i for i in present if phases[i].cluster.state]
    state = phases[with_states[-1]].cluster.state if with_states else ""
    waits = [p.cluster.wait_max for p in phases if p.cluster is not None and p.cluster.wait_max is not None]
    wait_max = max(waits) if waits else None
    leaked = max((p.cluster.leaked for p in phases if p.cluster is not None), default=0)
    last = phases[-1].cluster
    long_wait_last = last is not None and last.wait_max is not None and last.wait_max >= settings.min_wait
    verdict = judge(counts, leaked > 0, long_wait_last, settings)
    flags = []
    if leaked:
        flags.append(RUNTIME_LEAKED)
    if wait_max is not None and wait_max >= settings.min_wait:
        flags.append(LONG_WAIT)
    cls = blocking_class(state)
    if cls:
        flags.append(cls)
    if is_growing(counts):
        flags.append(GROWING)
    if counts[0] == 0 and counts[-1] > 0:
        flags.append(NEW)
    scores = [p.score for p in phases if p.score is not None]
    return ComparedCluster(
        id=row.key,
        cluster=rep,
        phases=phases,
        counts=counts,
        delta=counts[-1] - counts[0],
        peak=max(counts),
        verdict=verdict,
        flags=tuple(flags),
        fuzzy=any(p.fuzzy for p in phases),
        score=min(scores) if scores else 100.0,
        state=state,
        wait_max=wait_max,
        leaked=leaked,
    )


# -- suspects -------------------------------------------------------------------------
def _n(n: int) -> str:
    return "{:,}".format(n)


def rank_suspects(clusters: Sequence[ComparedCluster], names: Sequence[str],
                  settings: CompareSettings) -> Tuple[Suspect, ...]:
    """The leaks, most certain first: proven by the runtime, then growth weighted by how
    surely the blocking state means "never wakes up", then long waits alone."""
    out = []
    for c in clusters:
        if c.verdict != LEAK:
            continue
        reasons = []
        first, last = c.counts[0], c.counts[-1]
        grew = c.delta >= noise_threshold(first, settings)
        if c.leaked:
            tier, score = 0, float(c.leaked)
            reasons.append("the runtime proved %s of them leaked" % _n(c.leaked))
        elif grew:
            tier, score = 1, c.delta * CLASS_WEIGHT.get(blocking_class(c.state), 1.0)
        else:
            tier, score = 2, float(c.wait_max or 0)
        if c.delta > 0:
            if first == 0:
                reasons.append("new: none in %s, %s in %s" % (names[0], _n(last), names[-1]))
            else:
                reasons.append("grew from %s in %s to %s in %s (%s)" % (
                    _n(first), names[0], _n(last), names[-1], "{:+,}".format(c.delta)))
        if GROWING in c.flags:
            reasons.append("rose in every snapshot")
        if c.state:
            reasons.append("parked in %s" % c.state)
        if LONG_WAIT in c.flags:
            reasons.append("waiting up to %d minutes" % c.wait_max)
        if c.fuzzy:
            reasons.append("matched across builds by a fuzzy match (score %.1f)" % c.score)
        out.append(Suspect(c, tier, score, tuple(reasons)))
    out.sort(key=lambda s: (s.tier, -s.score, s.cluster.id))
    return tuple(out)
