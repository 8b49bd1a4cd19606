"""The CI gate: each limit on a dump (or a series of dumps) evaluated to a result; pure functions.

A gate reads facts, not files: GateFacts holds, for the last source, every cluster with its
count there, its count in the first source (the baseline for growth) and, when there are
two or more sources, its verdict from the compare engine. Each check turns facts and one
limit into a LimitResult that carries the numbers and the clusters it blames, worst first.
"""
import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from goleak.cluster import cluster_groups
from goleak.compare import LEAK, Comparison, CompareSettings, compare_snapshots, default_phase_name
from goleak.errors import UsageError
from goleak.flags import LONG_WAIT, RUNTIME_LEAKED, cluster_flags, user_frame
from goleak.model import Cluster, Frame, ParseResult, Snapshot

FAIL_ON_CHOICES = (LEAK, LONG_WAIT, RUNTIME_LEAKED)

# 25 (goroutines) or 10% (of the first source's total); 12.5% is fine too.
_GROWTH_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class Growth:
    """--max-growth: an absolute number of goroutines, or a percentage of the baseline total."""

    text: str
    amount: Optional[int] = None
    percent: Optional[float] = None


def parse_growth(text: str, option: str = "--max-growth") -> Growth:
    m = _GROWTH_RE.match(text)
    if not m:
        raise UsageError("%s takes a number of goroutines (25) or a percentage (10%%), not %r" % (option, text))
    number, pct = m.group(1), m.group(2)
    if pct:
        return Growth(text=text.strip(), percent=float(number))
    if "." in number:
        raise UsageError("%s: a number of goroutines is a whole number, not %r" % (option, text))
    return Growth(text=text.strip(), amount=int(number))


@dataclass(frozen=True)
class Limits:
    max_goroutines: Optional[int] = None
    max_growth: Optional[Growth] = None
    max_leaks: Optional[int] = None
    fail_on: Tuple[str, ...] = ()

    def given(self) -> bool:
        return (self.max_goroutines is not None or self.max_growth is not None or self.max_leaks is not None
                or bool(self.fail_on))


@dataclass(frozen=True)
class ClusterFacts:
    cluster: Cluster  # as seen in the last source (for a cluster gone by then: as last seen)
    after: int  # goroutines in the last source
    before: Optional[int] = None  # in the first source; None when there is only one
    verdict: Optional[str] = None  # from the compare engine; None for a single source
    flags: Tuple[str, ...] = ()
    match_score: Optional[float] = None  # set when the compare engine matched it fuzzily

    @property
    def delta(self) -> int:
        return self.after - (self.before or 0)


@dataclass(frozen=True)
class GateFacts:
    last_name: str
    last_total: int
    clusters: Tuple[ClusterFacts, ...]  # largest (after) first
    first_name: Optional[str] = None  # what growth is measured from; None: nothing to grow from
    first_total: Optional[int] = None
    compared: bool = False  # verdicts come from the compare engine


@dataclass(frozen=True)
class Offender:
    """A cluster a limit blames: what it is, how many, and where to look."""

    id: str
    stack_id: str
    title: str  # the function people know it by
    state: str
    count: int
    before: Optional[int]
    where: Optional[Frame]  # innermost frame outside runtime and stdlib
    created_by: Optional[Frame]
    note: str = ""  # "new", "3 -> 40, tolerance 6", "fuzzy match 91"


@dataclass(frozen=True)
class LimitResult:
    name: str  # max-goroutines, max-growth, max-leaks, fail-on leak, baseline ...
    limit: str  # as the user wrote it
    actual: str  # the measured value, with its unit
    ok: bool
    detail: str  # one sentence with the numbers
    offenders: Tuple[Offender, ...] = ()  # worst first


@dataclass(frozen=True)
class GateResult:
    results: Tuple[LimitResult, ...]
    last_name: str
    last_total: int

    @property
    def broken(self) -> Tuple[LimitResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def passed(self) -> bool:
        return not self.broken


# -- offenders -------------------------------------------------------------------------------
def offender(facts: ClusterFacts, note: str = "") -> Offender:
    c = facts.cluster
    where = user_frame(c.stack)
    title_frame = where or (c.stack.frames[0] if c.stack.frames else None)
    return Offender(id=c.id, stack_id=c.stack_id, title=title_frame.function if title_frame else "(no frames)",
                    state=c.state, count=facts.after, before=facts.before, where=where,
                    created_by=c.stack.created_by, note=note)


def describe_offender(o: Offender) -> str:
    """`main.leakSender: 40 goroutines [chan send] at example.com/leakyserver/main.go:111`"""
    counts = "%d goroutine%s" % (o.count, "" if o.count == 1 else "s")
    if o.before is not None and o.before != o.count:
        counts = "%d -> %d goroutines" % (o.before, o.count)
    text = "%s: %s" % (o.title, counts)
    if o.state:
        text += " [%s]" % o.state
    if o.where is not None and o.where.file:
        text += " at %s:%d" % (o.where.file, o.where.line)
    if o.note:
        text += " (%s)" % o.note
    return text


def blame(offenders: Sequence[Offender], lead: str = "") -> str:
    """`; <lead>main.leakSender: 40 goroutines ... and 4 more clusters`, or "" when none."""
    if not offenders:
        return ""
    more = len(offenders) - 1
    tail = " and %d more cluster%s" % (more, "" if more == 1 else "s") if more else ""
    return "; " + lead + describe_offender(offenders[0]) + tail


def _plural(n: int, word: str) -> str:
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


# -- the checks --------------------------------------------------------------------------------
def check_max_goroutines(facts: GateFacts, limit: int) -> LimitResult:
    """The last source holds at most `limit` goroutines; blames the largest cluster."""
    total = facts.last_total
    ok = total <= limit
    largest = tuple(offender(f) for f in facts.clusters[:1] if f.after > 0)
    detail = "%s in %s %s %d" % (_plural(total, "goroutine"), facts.last_name, "<=" if ok else ">", limit)
    if not ok:
        detail += blame(largest, "largest cluster ")
    return LimitResult("max-goroutines", str(limit), _plural(total, "goroutine"), ok, detail,
                       () if ok else largest)


def check_max_growth(facts: GateFacts, growth: Growth) -> LimitResult:
    """The total grew by at most N goroutines (or P% of the first total); blames the clusters that grew most."""
    if facts.first_total is None:
        raise UsageError("--max-growth needs a baseline: give two or more sources (the first is the baseline) "
                         "or --baseline FILE")
    grew = facts.last_total - facts.first_total
    if growth.percent is not None:
        pct = _percent(grew, facts.first_total)
        ok = grew <= 0 or (pct is not None and pct <= growth.percent)
        measured = "%+d goroutines (%s)" % (grew, "new from 0" if pct is None else "%+.1f%%" % pct)
    else:
        ok = grew <= growth.amount
        measured = "%+d goroutines" % grew
    grown = sorted((f for f in facts.clusters if f.delta > 0), key=lambda f: (-f.delta, f.cluster.id))
    offenders = tuple(offender(f) for f in grown)
    detail = "%s -> %s: %s, %s %s" % (
        _plural(facts.first_total, "goroutine") + " in " + (facts.first_name or "the baseline"),
        "%d in %s" % (facts.last_total, facts.last_name), measured, "within" if ok else "over", growth.text)
    if not ok:
        detail += blame(offenders, "grew most: ")
    return LimitResult("max-growth", growth.text, measured, ok, detail, () if ok else offenders)


def _percent(grew: int, base: int) -> Optional[float]:
    return None if base == 0 else grew * 100.0 / base


def leaked_clusters(facts: GateFacts) -> Tuple[ClusterFacts, ...]:
    """Clusters whose verdict is leak; with a single source, those the runtime proved leaked."""
    if facts.compared:
        found = [f for f in facts.clusters if f.verdict == LEAK]
    else:
        found = [f for f in facts.clusters if RUNTIME_LEAKED in f.flags]
    return tuple(sorted(found, key=lambda f: (-f.after, f.cluster.id)))


def check_max_leaks(facts: GateFacts, limit: int, name: str = "max-leaks", limit_text: Optional[str] = None
                    ) -> LimitResult:
    leaks = leaked_clusters(facts)
    goroutines = sum(f.after for f in leaks)
    ok = len(leaks) <= limit
    how = "verdict leak" if facts.compared else "proven by the runtime; one snapshot, nothing to compare"
    detail = "%s (%s, %s) %s %d" % (_plural(len(leaks), "leaked cluster"), _plural(goroutines, "goroutine"), how,
                                    "<=" if ok else ">", limit)
    offenders = tuple(offender(f, "new" if f.before == 0 else "") for f in leaks)
    if not ok:
        detail += blame(offenders)
    return LimitResult(name, limit_text or str(limit), _plural(len(leaks), "leaked cluster"), ok, detail,
                       () if ok else offenders)


def check_flag(facts: GateFacts, flag: str) -> LimitResult:
    """--fail-on long-wait / runtime-leaked: no cluster carries the flag."""
    hit = [f for f in facts.clusters if flag in f.flags and f.after > 0]
    if flag == LONG_WAIT:
        hit.sort(key=lambda f: (-(f.cluster.wait_max or 0), -f.after, f.cluster.id))
        offenders = tuple(offender(f, "waiting up to %d min" % (f.cluster.wait_max or 0)) for f in hit)
    else:
        hit.sort(key=lambda f: (-f.cluster.leaked, f.cluster.id))
        offenders = tuple(offender(f, "%d proven leaked" % f.cluster.leaked) for f in hit)
    ok = not hit
    detail = "%s flagged %s" % (_plural(len(hit), "cluster"), flag) + ("" if ok else blame(offenders))
    return LimitResult("fail-on " + flag, flag, _plural(len(hit), "cluster"), ok, detail, offenders)


def check_fail_on(facts: GateFacts, what: str) -> LimitResult:
    if what == LEAK:
        return check_max_leaks(facts, 0, name="fail-on leak", limit_text=LEAK)
    if what in (LONG_WAIT, RUNTIME_LEAKED):
        return check_flag(facts, what)
    raise UsageError("--fail-on takes one of %s, not %r" % (", ".join(FAIL_ON_CHOICES), what))


def evaluate_limits(facts: GateFacts, limits: Limits) -> Tuple[LimitResult, ...]:
    """Every limit given, in a fixed order (the order of the options in --help)."""
    out = []
    if limits.max_goroutines is not None:
        out.append(check_max_goroutines(facts, limits.max_goroutines))
    if limits.max_growth is not None:
        out.append(check_max_growth(facts, limits.max_growth))
    if limits.max_leaks is not None:
        out.append(check_max_leaks(facts, limits.max_leaks))
    for what in sorted(set(limits.fail_on), key=FAIL_ON_CHOICES.index):
        out.append(check_fail_on(facts, what))
    return tuple(out)


def gate_result(facts: GateFacts, results: Sequence[LimitResult]) -> GateResult:
    return GateResult(results=tuple(results), last_name=facts.last_name, last_total=facts.last_total)


# -- words -----------------------------------------------------------------------------------
def broken_lines(result: GateResult) -> Tuple[str, ...]:
    """One line per broken limit, for stderr: the limit, the numbers, the cluster it blames."""
    return tuple("gate failed: %s: %s" % (r.name, r.detail) for r in result.broken)


def format_gate_table(result: GateResult) -> str:
    """The gate's stdout: a headline, then each limit with ok / FAIL and its numbers."""
    n = len(result.results)
    if result.passed:
        head = "goleak gate: passed, %s held (%s in %s)" % (
            _plural(n, "limit"), _plural(result.last_total, "goroutine"), result.last_name)
    else:
        head = "goleak gate: FAILED, %d of %s broken (%s in %s)" % (
            len(result.broken), _plural(n, "limit"), _plural(result.last_total, "goroutine"), result.last_name)
    width = max([len(r.name) for r in result.results] + [0])
    rows = ["  %-4s  %-*s  %s" % ("ok" if r.ok else "FAIL", width, r.name, r.detail) for r in result.results]
    return "\n".join([head] + rows) + "\n"


# -- facts ---------------------------------------------------------------------------------------
def facts_from_clusters(name: str, total: int, clusters: Sequence[Cluster], flags: Sequence[Tuple[str, ...]],
                        first_name: Optional[str] = None, first_total: Optional[int] = None) -> GateFacts:
    """Facts for a single snapshot: no comparison, so no verdicts and no per-cluster before."""
    items = tuple(ClusterFacts(cluster=c, after=c.count, flags=tuple(f)) for c, f in zip(clusters, flags))
    items = tuple(sorted(items, key=lambda f: (-f.after, f.cluster.id)))
    return GateFacts(last_name=name, last_total=total, clusters=items, first_name=first_name,
                     first_total=first_total)


def facts_from_comparison(comparison: Comparison, last_total: int, first_total: int) -> GateFacts:
    """Facts from the compare engine: verdicts, flags and counts first -> last per cluster."""
    items = tuple(ClusterFacts(cluster=c.cluster, after=c.counts[-1], before=c.counts[0], verdict=c.verdict,
                               flags=c.flags, match_score=c.score if c.fuzzy else None)
                  for c in comparison.clusters)
    items = tuple(sorted(items, key=lambda f: (-f.after, f.cluster.id)))
    phases = comparison.phases
    return GateFacts(last_name=phases[-1].name, last_total=last_total, clusters=items,
                     first_name=phases[0].name, first_total=first_total, compared=True)


@dataclass(frozen=True)
class GateOutcome:
    """The gate's answer and the analysis behind it (for reports)."""

    result: GateResult
    facts: GateFacts
    comparison: Optional[Comparison] = None  # when two or more snapshots (or a baseline) were compared
    snapshots: Tuple[Snapshot, ...] = ()


def run_gate(results: Sequence[ParseResult], limits: Limits, settings: CompareSettings = CompareSettings(),
             baseline=None) -> GateOutcome:
    """Evaluate every limit on the sources (and the baseline file, when given).

    One snapshot: its clusters alone, or compared with the baseline file when one is given.
    Two or more snapshots (several sources, or a file holding several dumps): the compare
    engine over all of them, the first being the baseline for growth. `settings` carries
    similarity, min_wait, the noise thresholds and the ignore rules, as for compare.
    """
    from goleak import baseline as baselines  # baseline.py builds on this module

    require_limits(limits, baseline)
    snapshots = tuple(s for r in results for s in r.snapshots)
    if not snapshots:
        raise UsageError("no snapshot to gate")
    last = snapshots[-1]
    comparison = None
    if len(snapshots) >= 2:
        comparison = compare_snapshots(snapshots, None, settings)
        facts = facts_from_comparison(comparison, last.total, snapshots[0].total)
    elif baseline is not None:
        names = ("baseline" if _name(last) != "baseline" else "recorded baseline", _name(last))
        comparison = compare_snapshots([baselines.recorded_snapshot(baseline), last], names, settings)
        facts = facts_from_comparison(comparison, last.total, baseline.total)
    else:
        clusters = _visible_clusters(last, settings)
        flags = [cluster_flags(c, settings.min_wait) for c in clusters]
        facts = facts_from_clusters(_name(last), last.total, clusters, flags)
    checks = list(evaluate_limits(facts, limits))
    if baseline is not None:
        checks.append(baselines.check_baseline(baseline, last, settings))
    return GateOutcome(result=gate_result(facts, checks), facts=facts, comparison=comparison, snapshots=snapshots)


def require_limits(limits: Limits, baseline=None) -> None:
    if not limits.given() and baseline is None:
        raise UsageError("no limit given: pass --max-goroutines, --max-growth, --max-leaks, --fail-on or --baseline")


def _name(snapshot: Snapshot) -> str:
    return default_phase_name(snapshot)


def _visible_clusters(snapshot: Snapshot, settings: CompareSettings) -> Tuple[Cluster, ...]:
    """The clusters of one snapshot, without those the ignore rules hide (as compare hides them)."""
    ignore = settings.ignore
    groups = [g for g in snapshot.groups if ignore is None or ignore.match(g.stack) is None]
    return cluster_groups(groups, settings.similarity)
