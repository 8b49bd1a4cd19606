"""The view model of `goleak compare`: a Comparison prepared once, every string pre-formatted."""
from dataclasses import dataclass
from typing import Optional, Tuple

from goleak.compare import VERDICT_HELP, VERDICTS, Comparison, ComparedCluster
from goleak.flags import FLAG_HELP
from goleak.records import frozen
from goleak.report.view import ClusterView, FrameViews, ReportOptions, cluster_view

ARROW = "→"


@dataclass(frozen=True)
class PhaseView:
    name: str
    source: str
    format: str
    profile: str
    total: int
    declared_total: Optional[int]
    ignored: int


@frozen
class PhaseMatchView:
    count: int
    present: bool
    fuzzy: bool
    score: Optional[float]
    states: Tuple[Tuple[str, int], ...]
    wait_max: Optional[int]
    leaked: int


@frozen
class ComparedClusterView:
    id: str
    cluster: ClusterView  # stack, created-by, where, labels, state text of the shown snapshot
    counts: Tuple[int, ...]
    counts_text: Tuple[str, ...]  # per phase, thousands separated
    series_text: str  # "0 → 40 → 40"
    delta: int
    delta_text: str  # "+40", "0", "-3"
    peak: int
    verdict: str
    verdict_help: str
    flags: Tuple[str, ...]
    flags_text: str  # "runtime-leaked, blocked-forever, new" or ""
    fuzzy: bool
    score: float
    match_text: str  # "" when exact, "fuzzy match, score 96.4" otherwise
    phases: Tuple[PhaseMatchView, ...]
    state: str
    title: str  # the function people know the stack by
    suspect_rank: Optional[int]
    suspect_reasons: Tuple[str, ...]


@dataclass(frozen=True)
class CompareView:
    command: str
    version: str
    generated_at: Optional[str]
    similarity: str
    settings: Tuple[Tuple[str, str], ...]  # name -> value as shown, in a fixed order
    settings_text: str
    phases: Tuple[PhaseView, ...]
    clusters: Tuple[ComparedClusterView, ...]  # leaks first
    suspects: Tuple[ComparedClusterView, ...]  # ranked
    shown: Tuple[ComparedClusterView, ...]  # what --top leaves for text output
    leaks: int
    verdict_counts: Tuple[Tuple[str, int], ...]
    verdicts_text: str  # "leak 5, transient 4, stable 4"
    ignored: Tuple[Tuple[str, Tuple[int, ...]], ...]
    ignored_text: str  # "os/signal receiver 1/1/1, pprof dump writer 1/1/1" or ""
    ignore_patterns: Tuple[str, ...]
    notes: Tuple[str, ...]
    warnings: Tuple[str, ...]
    fuzzy_matches: int
    without_created_by: bool
    verdict_help: Tuple[Tuple[str, str], ...]
    flag_help: Tuple[Tuple[str, str], ...]


def _n(n: int) -> str:
    return "{:,}".format(n)


def _title(cv: ClusterView) -> str:
    """The user frame where there is one; else the goroutine's entry function (the outermost
    frame), which names standard-library goroutines: net/http.(*conn).serve, os/signal.loop."""
    if cv.where is not None:
        return cv.where.function
    return cv.frames[-1].function if cv.frames else cv.title


def _compared_view(c: ComparedCluster, opts: ReportOptions, frames_of: FrameViews, rank: Optional[int],
                   reasons: Tuple[str, ...]) -> ComparedClusterView:
    cv = cluster_view(c.cluster, c.flags, opts, reasons, rank, frames_of)
    return ComparedClusterView(
        id=c.id,
        cluster=cv,
        counts=c.counts,
        counts_text=tuple(_n(x) for x in c.counts),
        series_text=(" %s " % ARROW).join(_n(x) for x in c.counts),
        delta=c.delta,
        delta_text="{:+,}".format(c.delta) if c.delta else "0",
        peak=c.peak,
        verdict=c.verdict,
        verdict_help=VERDICT_HELP[c.verdict],
        flags=c.flags,
        flags_text=", ".join(c.flags),
        fuzzy=c.fuzzy,
        score=c.score,
        match_text="fuzzy match, score %.1f" % c.score if c.fuzzy else "",
        phases=tuple(PhaseMatchView(
            count=p.count,
            present=p.cluster is not None,
            fuzzy=p.fuzzy,
            score=p.score,
            states=p.cluster.states if p.cluster is not None else (),
            wait_max=p.cluster.wait_max if p.cluster is not None else None,
            leaked=p.cluster.leaked if p.cluster is not None else 0,
        ) for p in c.phases),
        state=c.state,
        title=_title(cv),
        suspect_rank=rank,
        suspect_reasons=reasons,
    )


def build_compare_view(comparison: Comparison, opts: ReportOptions) -> CompareView:
    ranks = {s.cluster.id: (i, s.reasons) for i, s in enumerate(comparison.suspects, 1)}
    frames_of = FrameViews(opts)
    views = tuple(_compared_view(c, opts, frames_of, *ranks.get(c.id, (None, ()))) for c in comparison.clusters)
    by_id = {v.id: v for v in views}
    s = comparison.settings
    settings = (
        ("similarity", s.similarity),
        ("fuzzy_cutoff", "off" if s.fuzzy_cutoff is None else "%g" % s.fuzzy_cutoff),
        ("min_growth", str(s.min_growth)),
        ("min_growth_pct", "%g" % s.min_growth_pct),
        ("min_wait", str(s.min_wait)),
    )
    phases = comparison.phases
    ignored_text = ", ".join("%s %s" % (rule, "/".join(_n(x) for x in counts)) for rule, counts in comparison.ignored)
    return CompareView(
        command="compare",
        version=opts.version,
        generated_at=opts.generated_at,
        similarity=s.similarity,
        settings=settings,
        settings_text=", ".join("%s %s" % (k.replace("_", "-"), v) for k, v in settings),
        phases=tuple(PhaseView(p.name, p.snapshot.source, p.snapshot.format, p.snapshot.profile, p.snapshot.total,
                               p.snapshot.declared_total, p.ignored) for p in phases),
        clusters=views,
        suspects=tuple(by_id[x.cluster.id] for x in comparison.suspects),
        shown=views[: opts.top] if opts.top else views,
        leaks=comparison.leaks,
        verdict_counts=comparison.verdict_counts,
        verdicts_text=", ".join("%s %d" % (v, n) for v, n in comparison.verdict_counts if n),
        ignored=comparison.ignored,
        ignored_text=ignored_text,
        ignore_patterns=s.ignore.patterns if s.ignore is not None else (),
        notes=comparison.notes,
        warnings=tuple(str(w) for w in comparison.warnings),
        fuzzy_matches=comparison.fuzzy_matches,
        without_created_by=comparison.without_created_by,
        verdict_help=tuple((v, VERDICT_HELP[v]) for v in VERDICTS),
        flag_help=tuple(sorted(FLAG_HELP.items())),
    )
