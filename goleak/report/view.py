"""The view model: everything a renderer shows, computed and formatted once, no I/O."""
from dataclasses import dataclass
from typing import Optional, Tuple

from goleak.flags import FLAG_HELP, user_frame
from goleak.model import Cluster, Frame
from goleak.paths import package_of, shorten_path
from goleak.summary import Summary

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ReportOptions:
    full_paths: bool = False
    top: Optional[int] = None
    color: bool = False
    width: int = 100
    source_url: Optional[str] = None  # template with {path} and {line}
    version: str = ""
    generated_at: Optional[str] = None  # passed in; never read from the clock here


@dataclass(frozen=True)
class FrameView:
    function: str
    package: str
    file: str  # as printed by the runtime
    display_file: str  # shortened unless --full-paths
    line: int
    location: str  # "display_file:line"
    is_user: bool


@dataclass(frozen=True)
class ClusterView:
    id: str
    stack_id: str
    count: int
    states: Tuple[Tuple[str, int], ...]
    state_text: str  # "chan receive 40, select 2"
    wait_min: Optional[int]
    wait_max: Optional[int]
    wait_text: str  # "3-12 min" or ""
    leaked: int
    locked: int
    labels: Tuple[Tuple[str, Tuple[Tuple[str, int], ...]], ...]  # key -> ((value, n), ...)
    labels_other: Tuple[Tuple[str, int], ...]
    labels_text: str
    frames: Tuple[FrameView, ...]
    created_by: Optional[FrameView]
    elided: int
    truncated: bool
    unavailable: bool
    flags: Tuple[str, ...]
    flag_help: Tuple[Tuple[str, str], ...]
    where: Optional[FrameView]  # innermost frame outside runtime and stdlib
    title: str  # the function people recognise the cluster by
    sample_ids: Tuple[int, ...]
    suspect_reasons: Tuple[str, ...] = ()


@dataclass(frozen=True)
class SnapshotView:
    name: str
    source: str
    format: str
    profile: str
    total: int
    declared_total: Optional[int]
    crash_reason: Optional[str]


@dataclass(frozen=True)
class SummaryView:
    command: str
    version: str
    generated_at: Optional[str]
    sources: Tuple[str, ...]
    snapshots: Tuple[SnapshotView, ...]
    total: int
    declared_total: Optional[int]
    warnings: Tuple[str, ...]
    similarity: str
    clusters: Tuple[ClusterView, ...]  # largest first
    suspects: Tuple[ClusterView, ...]  # ranked
    shown: Tuple[ClusterView, ...]  # what --top leaves for the text report
    ignored: int
    race_reports: int
    distinct_states: Tuple[Tuple[str, int], ...]


def frame_view(f: Frame, full_paths: bool) -> FrameView:
    from goleak.paths import is_runtime_function, is_std_function
    display = f.file if full_paths else shorten_path(f.file)
    return FrameView(
        function=f.function,
        package=package_of(f.function),
        file=f.file,
        display_file=display,
        line=f.line,
        location="%s:%d" % (display, f.line) if display else "?",
        is_user=not is_runtime_function(f.function) and not is_std_function(f.function),
    )


def cluster_view(c: Cluster, flags: Tuple[str, ...], opts: ReportOptions, reasons: Tuple[str, ...] = ()) -> ClusterView:
    frames = tuple(frame_view(f, opts.full_paths) for f in c.stack.frames)
    where_frame = user_frame(c.stack)
    where = frame_view(where_frame, opts.full_paths) if where_frame else None
    by_key = {}
    for lc in c.labels:
        by_key.setdefault(lc.key, []).append((lc.value, lc.goroutines))
    labels = tuple((k, tuple(sorted(v, key=lambda vn: (-vn[1], vn[0])))) for k, v in sorted(by_key.items()))
    labels_text = ", ".join(
        "%s=%s" % (k, "|".join(v for v, _ in vals[:3]) + ("|…" if len(vals) > 3 else "")) for k, vals in labels)
    if c.wait_max is None:
        wait_text = ""
    elif c.wait_min == c.wait_max:
        wait_text = "%d min" % c.wait_max
    else:
        wait_text = "%d-%d min" % (c.wait_min, c.wait_max)
    title_frame = where_frame or (c.stack.frames[0] if c.stack.frames else None)
    return ClusterView(
        id=c.id,
        stack_id=c.stack_id,
        count=c.count,
        states=c.states,
        state_text=", ".join("%s %d" % (s or "?", n) if len(c.states) > 1 else (s or "?") for s, n in c.states),
        wait_min=c.wait_min,
        wait_max=c.wait_max,
        wait_text=wait_text,
        leaked=c.leaked,
        locked=c.locked,
        labels=labels,
        labels_other=c.labels_other,
        labels_text=labels_text,
        frames=frames,
        created_by=frame_view(c.stack.created_by, opts.full_paths) if c.stack.created_by else None,
        elided=c.stack.elided,
        truncated=c.stack.truncated,
        unavailable=c.stack.unavailable,
        flags=flags,
        flag_help=tuple((f, FLAG_HELP.get(f, "")) for f in flags),
        where=where,
        title=title_frame.function if title_frame else "(no frames)",
        sample_ids=c.sample_ids,
        suspect_reasons=reasons,
    )


def build_summary_view(summary: Summary, opts: ReportOptions) -> SummaryView:
    reasons = {s.cluster.id: s.reasons for s in summary.suspects}
    views = tuple(cluster_view(c, f, opts, reasons.get(c.id, ())) for c, f in zip(summary.clusters, summary.flags))
    by_id = {v.id: v for v in views}
    suspects = tuple(by_id[s.cluster.id] for s in summary.suspects)
    shown = views[: opts.top] if opts.top else views
    states = {}
    for c in summary.clusters:
        for s, n in c.states:
            states[s] = states.get(s, 0) + n
    return SummaryView(
        command="summary",
        version=opts.version,
        generated_at=opts.generated_at,
        sources=summary.sources,
        snapshots=tuple(SnapshotView(s.name, s.source, s.format, s.profile, s.total, s.declared_total, s.crash_reason)
                        for s in summary.snapshots),
        total=summary.total,
        declared_total=summary.declared_total,
        warnings=tuple(str(w) for w in summary.warnings),
        similarity=summary.similarity,
        clusters=views,
        suspects=suspects,
        shown=shown,
        ignored=summary.ignored,
        race_reports=summary.race_reports,
        distinct_states=tuple(sorted(states.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
