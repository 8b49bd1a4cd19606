"""The view model: everything a renderer shows, computed and formatted once, no I/O."""
import contextlib
import gc
import string
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple
from urllib.parse import quote

from goleak.errors import UsageError
from goleak.flags import FLAG_HELP, UNKNOWN_FUNCTIONS, is_user_function
from goleak.model import Cluster, Frame
from goleak.paths import is_runtime_function, is_std_function, package_of, shorten_path
from goleak.records import frozen
from goleak.summary import Summary

SCHEMA_VERSION = 1

# --source-url placeholders. {path}: the file relative to the repository (see
# repo_relative_path); {line}: the line number; {file}: the path as the runtime printed it.
SOURCE_URL_FIELDS = ("path", "line", "file")
# Hosts whose module paths are host/owner/repo, so a -trimpath file path
# github.com/org/repo/internal/x/a.go lies at internal/x/a.go in the repository.
REPO_HOSTS = ("github.com/", "gitlab.com/", "bitbucket.org/", "codeberg.org/")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Building a report allocates millions of small acyclic objects (rows, frames, JSON);
    each allocation burst triggers full cyclic-GC passes over everything the parse left
    alive, which doubled the time of a 20,000-cluster HTML report. Nothing here makes
    cycles, so collection can wait until the report is built."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class ReportOptions:
    full_paths: bool = False
    top: Optional[int] = None
    color: bool = False
    width: int = 100
    source_url: Optional[str] = None  # template with {path}, {line}, {file}; see check_source_url
    source_strip: Tuple[str, ...] = ()  # prefixes removed from file paths to make {path}
    version: str = ""
    generated_at: Optional[str] = None  # passed in; never read from the clock here


@frozen
class FrameView:
    function: str
    package: str
    name: str  # the function without its package: "(*conn).serve" of "net/http.(*conn).serve"
    file: str  # as printed by the runtime
    display_file: str  # shortened unless --full-paths
    line: int
    location: str  # "display_file:line"
    is_user: bool
    link: Optional[str] = None  # --source-url filled in, for frames in the user's repository


@frozen
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
    elided_text: str  # "5 frames elided by the runtime" or ""
    truncated: bool
    unavailable: bool
    flags: Tuple[str, ...]
    flag_help: Tuple[Tuple[str, str], ...]
    where: Optional[FrameView]  # innermost frame outside runtime and stdlib
    title: str  # the function people recognise the cluster by
    sample_ids: Tuple[int, ...]
    suspect_reasons: Tuple[str, ...] = ()
    suspect_rank: Optional[int] = None  # 1 for the first suspect


@frozen
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


def check_source_url(template: str) -> str:
    """Refuse a --source-url that is not an http(s) URL or names unknown placeholders."""
    if not template.startswith(("https://", "http://")):
        raise UsageError("--source-url must start with https:// or http://: %s" % template)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as e:
        raise UsageError("--source-url is not a valid template (%s): %s" % (e, template))
    for name in names:
        if name not in SOURCE_URL_FIELDS:
            raise UsageError("--source-url knows the placeholders %s, not {%s}" % (
                ", ".join("{%s}" % n for n in SOURCE_URL_FIELDS), name))
    return template


def repo_relative_path(file: str, strip: Tuple[str, ...]) -> Optional[str]:
    """Where a file lies in the user's repository, or None when that cannot be told.

    With --source-strip, the first matching prefix is removed (and files under no prefix get
    no link). Without it, a -trimpath path on a host/owner/repo host loses those three parts.
    Files in the module cache (path@version) belong to dependencies: no link.
    """
    if not file or "@" in file:
        return None
    for prefix in strip:
        if file.startswith(prefix):
            return file[len(prefix):].lstrip("/") or None
    if strip:
        return None
    if file.startswith(REPO_HOSTS):
        parts = file.split("/", 3)
        return parts[3] if len(parts) == 4 and parts[3] else None
    return None


def source_link(f: Frame, opts: ReportOptions) -> Optional[str]:
    if not opts.source_url or is_runtime_function(f.function) or is_std_function(f.function):
        return None
    path = repo_relative_path(f.file, opts.source_strip)
    if path is None:
        return None
    # Quoted so that nothing from a dump can end the URL or the attribute it lands in.
    return opts.source_url.format(path=quote(path, safe="/"), line=f.line, file=quote(f.file, safe="/"))


def frame_view(f: Frame, full_paths: bool, opts: Optional[ReportOptions] = None) -> FrameView:
    display = f.file if full_paths else shorten_path(f.file)
    package = package_of(f.function)
    return FrameView(
        function=f.function,
        package=package,
        name=f.function[len(package) + 1:] if f.function.startswith(package + ".") else f.function,
        file=f.file,
        display_file=display,
        line=f.line,
        location="%s:%d" % (display, f.line) if display else "?",
        is_user=is_user_function(f.function),
        link=source_link(f, opts) if opts is not None else None,
    )


class FrameViews:
    """frame_view memoised per report: stacks share most frames, and 20,000 clusters of 20
    frames each would otherwise format the same frame thousands of times."""

    def __init__(self, opts: ReportOptions):
        self.opts = opts
        self.memo: Dict[tuple, FrameView] = {}
        # The parser shares one Frame object between all stacks that hold it, so identity
        # answers most lookups. `keep` holds every frame seen, so no id is reused.
        self.by_id: Dict[int, FrameView] = {}
        self.keep: list = []

    def __call__(self, f: Frame) -> FrameView:
        v = self.by_id.get(id(f))
        if v is not None:
            return v
        # A plain tuple key: hashing and comparing it runs in C, while a frozen dataclass
        # as key calls its generated __hash__/__eq__ in Python.
        key = (f.function, f.file, f.line, f.args)
        v = self.memo.get(key)
        if v is None:
            v = self.memo[key] = frame_view(f, self.opts.full_paths, self.opts)
        self.by_id[id(f)] = v
        self.keep.append(f)
        return v

    def many(self, frames: Tuple[Frame, ...]) -> Tuple[FrameView, ...]:
        # Half a million frames in a 20,000-cluster report: hits are looked up with C-level
        # maps, no Python step per frame; a miss (None) is filled in by self.
        views = tuple(map(self.by_id.get, map(id, frames)))
        if not all(views):  # not `None in views`: that calls FrameView.__eq__ per frame
            views = tuple(v or self(f) for v, f in zip(views, frames))
        return views


def cluster_view(c: Cluster, flags: Tuple[str, ...], opts: ReportOptions, reasons: Tuple[str, ...] = (),
                 rank: Optional[int] = None, frames_of: Optional[FrameViews] = None) -> ClusterView:
    fv = frames_of or FrameViews(opts)
    frames = fv.many(c.stack.frames)
    # flags.user_frame, read off the views: each knows whether its frame is user code.
    where = None
    for v in frames:
        if v.is_user and v.function not in UNKNOWN_FUNCTIONS:
            where = v
            break
    if c.labels:
        # Already ordered by key, then most goroutines first (model.StackGroup.labels).
        runs: list = []
        for lc in c.labels:
            if runs and runs[-1][0] == lc.key:
                runs[-1][1].append((lc.value, lc.goroutines))
            else:
                runs.append((lc.key, [(lc.value, lc.goroutines)]))
        labels = tuple([(k, tuple(vals)) for k, vals in runs])
        labels_text = ", ".join([
            "%s=%s" % (k, "|".join([v for v, _ in vals[:3]]) + ("|…" if len(vals) > 3 else "")) for k, vals in labels])
    else:  # most clusters of a big dump: nothing to sort
        labels, labels_text = (), ""
    if c.wait_max is None:
        wait_text = ""
    elif c.wait_min == c.wait_max:
        wait_text = "%d min" % c.wait_max
    else:
        wait_text = "%d-%d min" % (c.wait_min, c.wait_max)
    title_frame = where or (frames[0] if frames else None)
    return ClusterView(
        id=c.id,
        stack_id=c.stack_id,
        count=c.count,
        states=c.states,
        state_text=(c.states[0][0] or "?") if len(c.states) == 1 else ", ".join(
            "%s %d" % (s or "?", n) for s, n in c.states),
        wait_min=c.wait_min,
        wait_max=c.wait_max,
        wait_text=wait_text,
        leaked=c.leaked,
        locked=c.locked,
        labels=labels,
        labels_other=c.labels_other,
        labels_text=labels_text,
        frames=frames,
        created_by=fv(c.stack.created_by) if c.stack.created_by else None,
        elided=c.stack.elided,
        elided_text=("%d frames elided by the runtime" % c.stack.elided if c.stack.elided > 0
                     else "more frames elided by the runtime" if c.stack.elided else ""),
        truncated=c.stack.truncated,
        unavailable=c.stack.unavailable,
        flags=flags,
        flag_help=tuple([(f, FLAG_HELP.get(f, "")) for f in flags]),
        where=where,
        title=title_frame.function if title_frame else "(no frames)",
        sample_ids=c.sample_ids,
        suspect_reasons=reasons,
        suspect_rank=rank,
    )


def build_summary_view(summary: Summary, opts: ReportOptions, frames_of: Optional[FrameViews] = None) -> SummaryView:
    """The view of summary. frames_of: FrameViews(opts) shared with other views of the same
    run (goleak/shards.py builds one view per shard of a summary), new by default."""
    with gc_paused():
        return _build_summary_view(summary, opts, frames_of or FrameViews(opts))


def _build_summary_view(summary: Summary, opts: ReportOptions, frames_of: FrameViews) -> SummaryView:
    reasons = {s.cluster.id: s.reasons for s in summary.suspects}
    ranks = {s.cluster.id: i for i, s in enumerate(summary.suspects, 1)}
    views = tuple(cluster_view(c, f, opts, reasons.get(c.id, ()), ranks.get(c.id), frames_of)
                  for c, f in zip(summary.clusters, summary.flags))
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
