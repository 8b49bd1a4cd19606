"""Baselines: the known kinds of goroutines, recorded once, so a gate fails on any new kind.

`goleak baseline SRC -o goleak-baseline.json` writes every cluster of SRC with its count,
the most goroutines it may hold before the gate calls it grown (count + tolerance), its
frames and the text fuzzy matching compares. `goleak gate --baseline FILE SRC` matches the
clusters of SRC to those of the file the way `goleak compare` matches snapshots (cluster
key, then stack alone, then fuzzy over the frames) and fails on a cluster that matches
nothing, or on a kind of goroutine grown past its tolerance.

The file is JSON with sorted keys and no timestamp, so it diffs well in a pull request and
can be edited by hand (raise a max_count, delete a cluster that should be gone).
"""
import json
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from goleak.errors import InputError
from goleak.compare import CompareSettings, compare_snapshots
from goleak.gate import ClusterFacts, Growth, LimitResult, Offender, blame, offender
from goleak.model import Cluster, Frame, Snapshot, Stack, StackGroup
from goleak.normalize import SIMILARITIES, fuzzy_text

SCHEMA_VERSION = 1
KIND = "goleak-baseline"
# A kind of goroutine may double before the gate calls it grown: enough for a second idle
# connection or a worker that woke up, not for a leak that keeps going.
DEFAULT_TOLERANCE = "100%"


@dataclass(frozen=True)
class BaselineCluster:
    id: str
    stack_id: str
    count: int
    max_count: int  # the gate fails when this kind holds more goroutines than this
    state: str
    fuzzy: str  # normalize.fuzzy_text: what fuzzy matching compares
    frames: Tuple[Frame, ...]
    created_by: Optional[Frame] = None
    unavailable: bool = False

    @property
    def stack(self) -> Stack:
        return Stack(frames=self.frames, created_by=self.created_by, unavailable=self.unavailable)


@dataclass(frozen=True)
class Baseline:
    source: str
    similarity: str
    total: int
    tolerance: str
    clusters: Tuple[BaselineCluster, ...]  # largest first
    goleak_version: str = ""
    format: str = "debug=2"  # of the recorded snapshot: a debug=1 one has no states or created-by


def max_count_for(count: int, tolerance: Growth) -> int:
    if tolerance.percent is not None:
        return count + int(math.ceil(count * tolerance.percent / 100.0))
    return count + (tolerance.amount or 0)


def build_baseline(source: str, total: int, clusters: Sequence[Cluster], similarity: str, tolerance: Growth,
                   version: str = "", format: str = "debug=2") -> Baseline:
    entries = tuple(
        BaselineCluster(id=c.id, stack_id=c.stack_id, count=c.count, max_count=max_count_for(c.count, tolerance),
                        state=c.state, fuzzy=fuzzy_text(c.stack), frames=c.stack.frames,
                        created_by=c.stack.created_by, unavailable=c.stack.unavailable)
        for c in sorted(clusters, key=lambda c: (-c.count, c.id)))
    return Baseline(source=source, similarity=similarity, total=total, tolerance=tolerance.text,
                    clusters=entries, goleak_version=version, format=format)


# -- the file -------------------------------------------------------------------------------------
def _frame_json(f: Optional[Frame]):
    if f is None:
        return None
    return {"function": f.function, "file": f.file, "line": f.line}


def baseline_to_json(b: Baseline) -> str:
    data = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "goleak_version": b.goleak_version,
        "source": b.source,
        "format": b.format,
        "similarity": b.similarity,
        "total": b.total,
        "tolerance": b.tolerance,
        "clusters": [{
            "id": c.id,
            "stack_id": c.stack_id,
            "count": c.count,
            "max_count": c.max_count,
            "state": c.state,
            "fuzzy": c.fuzzy,
            "frames": [_frame_json(f) for f in c.frames],
            "created_by": _frame_json(c.created_by),
            "stack_unavailable": c.unavailable,
        } for c in b.clusters],
    }
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def load_baseline(text: str, source: str) -> Baseline:
    """Read a baseline file; every problem is an InputError naming the file (and line when known)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError("not a goleak baseline: invalid JSON: %s" % e.msg, source, e.lineno)
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise InputError("not a goleak baseline (write one with `goleak baseline SRC -o FILE`)", source)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError("baseline schema_version %r is not supported (this goleak reads %d); record it again"
                         % (version, SCHEMA_VERSION), source)
    try:
        clusters = tuple(_cluster_from_json(c) for c in data["clusters"])
        similarity = data.get("similarity", "default")
        if similarity not in SIMILARITIES:
            raise ValueError("similarity %r" % similarity)
        return Baseline(source=str(data.get("source", "")), similarity=similarity, total=int(data["total"]),
                        tolerance=str(data.get("tolerance", "")), clusters=clusters,
                        goleak_version=str(data.get("goleak_version", "")),
                        format=str(data.get("format", "debug=2")))
    except (KeyError, TypeError, ValueError) as e:
        raise InputError("damaged baseline: %s %s" % (type(e).__name__, e), source)


def _frame_from_json(d) -> Optional[Frame]:
    if d is None:
        return None
    return Frame(function=str(d["function"]), file=str(d.get("file", "")), line=int(d.get("line", 0)))


def _cluster_from_json(d) -> BaselineCluster:
    count = int(d["count"])
    max_count = int(d.get("max_count", count))
    if count < 0 or max_count < 0:
        raise ValueError("negative count")
    return BaselineCluster(id=str(d["id"]), stack_id=str(d.get("stack_id", "")), count=count, max_count=max_count,
                           state=str(d.get("state", "")), fuzzy=str(d.get("fuzzy", "")),
                           frames=tuple(_frame_from_json(f) for f in d["frames"]),
                           created_by=_frame_from_json(d.get("created_by")),
                           unavailable=bool(d.get("stack_unavailable", False)))


# -- the check ------------------------------------------------------------------------------------
def _groups(b: Baseline, counts) -> Tuple[StackGroup, ...]:
    return tuple(StackGroup(stack=c.stack, state=c.state, count=n) for c, n in zip(b.clusters, counts))


def recorded_snapshot(b: Baseline) -> Snapshot:
    """The baseline as the snapshot it was recorded from (its clusters, their counts)."""
    return Snapshot(source=b.source or "baseline", format=b.format, groups=_groups(b, [c.count for c in b.clusters]),
                    total=b.total)


def allowed_snapshot(b: Baseline) -> Snapshot:
    """The same clusters holding their max_count: what the gate still accepts."""
    groups = _groups(b, [c.max_count for c in b.clusters])
    return Snapshot(source="allowed", format=b.format, groups=groups, total=sum(g.count for g in groups))


def check_baseline(b: Baseline, current: Snapshot, settings: CompareSettings = CompareSettings(),
                   name: str = "baseline") -> LimitResult:
    """Fail on a kind of goroutine the baseline does not know, or one grown past its max_count.

    The matching is compare's own: the series (recorded, allowed, current) goes through the
    compare engine, so a cluster matches the baseline exactly when `goleak compare` would
    line it up (stack key, then fuzzy with its cutoff), and growth is judged per kind of
    goroutine, whatever its state (a ticker loop caught runnable or in select is one kind).
    """
    comparison = compare_snapshots([recorded_snapshot(b), allowed_snapshot(b), current],
                                   ("baseline", "allowed", "current"), settings)
    new: List[Offender] = []
    grown: List[Offender] = []
    fuzzy_scores: List[float] = []
    for row in comparison.clusters:
        recorded, allowed, now = row.counts
        if now == 0:
            continue
        fuzzy = ""
        if row.phases[2].fuzzy and row.phases[2].score is not None:
            fuzzy_scores.append(row.phases[2].score)
            fuzzy = ", fuzzy match %.1f" % row.phases[2].score
        if row.phases[0].cluster is None and row.phases[1].cluster is None:
            new.append(offender(ClusterFacts(cluster=row.cluster, after=now, before=0), "new kind"))
        elif now > allowed:
            grown.append(offender(ClusterFacts(cluster=row.cluster, after=now, before=recorded),
                                  "tolerance %d%s" % (allowed, fuzzy)))
    new.sort(key=lambda o: (-o.count, o.id))
    grown.sort(key=lambda o: (-(o.count - (o.before or 0)), o.id))
    offenders = tuple(new + grown)
    ok = not offenders
    detail = "%s known clusters in %s: %d new, %d grown past tolerance" % (
        len(b.clusters), b.source or "the baseline", len(new), len(grown))
    if fuzzy_scores:
        # The score changed the answer (without it these would be new): say so.
        detail += "; %d matched by fuzzy match (lowest score %.1f)" % (len(fuzzy_scores), min(fuzzy_scores))
    if not ok:
        detail += blame(offenders)
    return LimitResult(name, b.tolerance or "0", "%d new, %d grown" % (len(new), len(grown)), ok, detail, offenders)
