"""One or more sources merged into one picture: clusters, largest first, and suspects.

Often a single dump is all anyone has, so a summary also ranks suspects: clusters the
runtime proved leaked, big clusters parked in blocked-forever states, and long waits.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

from goleak.cluster import cluster_snapshots
from goleak.flags import BLOCKED, CLASS_WEIGHT, LONG_WAIT, RUNTIME_LEAKED, blocking_class, cluster_flags
from goleak.model import Cluster, ParseResult, Snapshot, Warning
from goleak.records import frozen

# A blocked-forever cluster smaller than this is ordinary plumbing (a few workers waiting
# for jobs), not a suspect, unless the runtime proved it leaked or it waited long.
DEFAULT_MIN_SUSPECT_COUNT = 10
# Minutes. The runtime prints a wait only once a goroutine has been parked for a minute
# (and only after GCs stamped it); 10 minutes parked is long for request-scoped work and
# short enough to show up in a dump taken during an incident.
DEFAULT_MIN_WAIT = 10


@dataclass(frozen=True)
class SummarySettings:
    similarity: str = "default"
    min_wait: int = DEFAULT_MIN_WAIT
    min_suspect_count: int = DEFAULT_MIN_SUSPECT_COUNT
    ignore: Optional[Callable[[Cluster], bool]] = None


@frozen
class Suspect:
    cluster: Cluster
    score: float
    reasons: Tuple[str, ...]


@dataclass(frozen=True)
class Summary:
    sources: Tuple[str, ...]
    snapshots: Tuple[Snapshot, ...]
    total: int
    declared_total: Optional[int]
    warnings: Tuple[Warning, ...]
    clusters: Tuple[Cluster, ...]
    flags: Tuple[Tuple[str, ...], ...]  # per cluster, same order
    suspects: Tuple[Suspect, ...]
    ignored: int  # goroutines in clusters hidden by ignore rules
    similarity: str
    race_reports: int


def summarize(results: Sequence[ParseResult], settings: SummarySettings = SummarySettings()) -> Summary:
    snapshots = tuple(s for r in results for s in r.snapshots)
    clusters = cluster_snapshots(snapshots, settings.similarity)
    ignored = 0
    if settings.ignore is not None:
        kept = []
        for c in clusters:
            if settings.ignore(c):
                ignored += c.count
            else:
                kept.append(c)
        clusters = tuple(kept)
    flags = tuple(cluster_flags(c, settings.min_wait) for c in clusters)
    declared = [s.declared_total for s in snapshots]
    return Summary(
        sources=tuple(r.source for r in results),
        snapshots=snapshots,
        total=sum(s.total for s in snapshots),
        declared_total=sum(d for d in declared) if declared and all(d is not None for d in declared) else None,
        warnings=tuple(w for r in results for w in r.warnings) + tuple(w for s in snapshots for w in s.warnings),
        clusters=clusters,
        flags=flags,
        suspects=rank_single_snapshot_suspects(clusters, flags, settings),
        ignored=ignored,
        similarity=settings.similarity,
        race_reports=sum(s.race_reports for s in snapshots),
    )


def rank_single_snapshot_suspects(clusters: Sequence[Cluster], flags: Sequence[Tuple[str, ...]],
                                  settings: SummarySettings) -> Tuple[Suspect, ...]:
    """Proven leaks first, then big blocked-forever clusters, then long waits."""
    out = []
    for c, fl in zip(clusters, flags):
        reasons = []
        score = 0.0
        if RUNTIME_LEAKED in fl:
            reasons.append("the runtime proved %d of them leaked" % c.leaked)
            score += 1_000_000 + c.leaked
        cls = blocking_class(c.state)
        if cls == BLOCKED and c.count >= settings.min_suspect_count:
            reasons.append("%d goroutines parked in %s" % (c.count, c.state))
            score += c.count * CLASS_WEIGHT[BLOCKED]
        if LONG_WAIT in fl:
            reasons.append("waiting up to %d minutes" % c.wait_max)
            score += 1000 + c.wait_max + c.count
        if reasons:
            out.append(Suspect(c, score, tuple(reasons)))
    out.sort(key=lambda s: (-s.score, s.cluster.id))
    return tuple(out)
