"""`goleak watch`: poll a live endpoint, a line per poll, and a verdict over the whole series.

The loop is written against a small set of callables (fetch, clocks, sleep, emit, save) that
the CLI supplies, so the logic runs in tests with a fake clock and canned dumps, and no wall
clock is read here. The verdict comes from the compare engine, over every snapshot taken.
"""
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from goleak.cluster import cluster_snapshots
from goleak.compare import LEAK, ComparedCluster, Comparison, CompareSettings, compare_snapshots
from goleak.errors import GoleakError, UsageError
from goleak.flags import user_frame
from goleak.model import Cluster, Snapshot

# 500ms, 5s, 10m, 1h, 1.5s, 1m30s (Go's time.ParseDuration units from ms up)
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# A series longer than this is thinned (every other middle snapshot dropped, first and last
# kept), so --forever runs in bounded memory while the trend stays visible to the verdict.
MAX_SERIES = 240
# Clusters named per poll line.
TOP_GROWING = 3


def parse_duration(text: str, option: str = "duration") -> float:
    """Seconds in `text`: 500ms, 5s, 10m, 1h, or a sum such as 1m30s. Raises UsageError."""
    s = text.strip().lower()
    pos = 0
    total = 0.0
    # match() at each part's start, not finditer(): finditer would rescan a long digit run
    # from every digit in it.
    while pos < len(s):
        m = _DURATION_PART_RE.match(s, pos)
        if m is None:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise UsageError("%s: %r is not a duration; write 500ms, 5s, 10m or 1h" % (option, text))
    if total <= 0:
        raise UsageError("%s: %r must be longer than zero" % (option, text))
    return total


@dataclass(frozen=True)
class WatchPlan:
    url: str
    interval: float  # seconds between the starts of two polls
    count: Optional[int] = None  # stop after this many polls
    duration: Optional[float] = None  # or after this many seconds
    forever: bool = False


def check_plan(plan: WatchPlan) -> WatchPlan:
    """A watch must end by itself unless --forever says otherwise."""
    if plan.count is None and plan.duration is None and not plan.forever:
        raise UsageError("watch needs an end: --count N or --duration 10m (or --forever to run until Ctrl-C)")
    if plan.forever and (plan.count is not None or plan.duration is not None):
        raise UsageError("--forever cannot be combined with --count or --duration")
    if plan.count is not None and plan.count < 1:
        raise UsageError("--count must be at least 1")
    return plan


@dataclass(frozen=True)
class Growing:
    title: str
    delta: int
    count: int


@dataclass(frozen=True)
class PollLine:
    """What one poll printed."""

    index: int  # 1-based
    at: float  # wall-clock seconds (passed in), for the time shown
    total: Optional[int]  # None when the poll failed
    delta: Optional[int]  # from the previous successful poll; None for the first
    growing: Tuple[Growing, ...] = ()
    error: Optional[str] = None
    saved: Optional[str] = None


def cluster_title(c: Cluster) -> str:
    f = user_frame(c.stack) or (c.stack.frames[0] if c.stack.frames else None)
    return f.function if f else "(no frames)"


def growing_clusters(previous: Sequence[Cluster], current: Sequence[Cluster], top: int = TOP_GROWING
                     ) -> Tuple[Growing, ...]:
    """The clusters that gained most since the previous poll (by stack, whatever their state)."""
    before: Dict[str, int] = {}
    for c in previous:
        before[c.stack_id] = before.get(c.stack_id, 0) + c.count
    now: Dict[str, int] = {}
    titles: Dict[str, str] = {}
    for c in current:
        now[c.stack_id] = now.get(c.stack_id, 0) + c.count
        titles.setdefault(c.stack_id, cluster_title(c))
    gains = [Growing(titles[sid], n - before.get(sid, 0), n) for sid, n in now.items() if n > before.get(sid, 0)]
    gains.sort(key=lambda g: (-g.delta, g.title))
    return tuple(gains[:top])


def format_clock(at: float) -> str:
    """HH:MM:SS in UTC: the same on every machine, and it matches the saved file names."""
    import time
    return time.strftime("%H:%M:%S", time.gmtime(at))


def poll_name(index: int, at: float) -> str:
    """How a poll's snapshot is named in the verdict: `#3 12:00:05`."""
    return "#%d %s" % (index, format_clock(at))


def format_poll_line(line: PollLine) -> str:
    """`12:00:05  #3  total 83  +7  growing: main.slowLeak +5 (12)`"""
    head = "%s  #%d" % (format_clock(line.at), line.index)
    if line.error is not None:
        return "%s  poll failed: %s" % (head, line.error)
    delta = "first" if line.delta is None else "%+d" % line.delta
    text = "%s  total %d  %s" % (head, line.total, delta)
    if line.growing:
        text += "  growing: " + ", ".join("%s %+d (%d)" % (g.title, g.delta, g.count) for g in line.growing)
    if line.saved:
        text += "  saved %s" % line.saved
    return text


def snapshot_file_name(at: float, index: int, data: bytes) -> str:
    """goroutine-20250102T030405.678Z-0003.txt (.pb.gz for a protobuf): sorts by time."""
    import time
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(at)) + ".%03dZ" % int(round((at % 1) * 1000) % 1000)
    ext = ".pb.gz" if data[:2] == b"\x1f\x8b" else ".txt"
    return "goroutine-%s-%04d%s" % (stamp, index, ext)


def thin_series(snapshots: List[Snapshot], limit: int = MAX_SERIES) -> List[Snapshot]:
    """Keep the first and last snapshot and every other one between, once past `limit`."""
    if len(snapshots) <= limit:
        return snapshots
    middle = snapshots[1:-1][::2]
    return [snapshots[0]] + middle + [snapshots[-1]]


@dataclass(frozen=True)
class WatchIO:
    """The edges the loop needs; the CLI passes real ones, tests pass fakes."""

    fetch: Callable[[], bytes]  # one body from the endpoint; raises GoleakError
    parse: Callable[[bytes, str], Snapshot]  # body, snapshot name -> the snapshot it holds
    wall_clock: Callable[[], float]  # seconds since the epoch: shown, and in file names
    monotonic: Callable[[], float]  # for the schedule
    sleep: Callable[[float], None]
    emit: Callable[[str], None]  # print one line
    save: Optional[Callable[[str, bytes], str]] = None  # (file name, body) -> path written


@dataclass
class WatchSeries:
    """What a watch saw: the snapshots kept for the verdict and every poll line."""

    snapshots: List[Snapshot] = field(default_factory=list)
    lines: List[PollLine] = field(default_factory=list)
    polls: int = 0
    failed: int = 0
    interrupted: bool = False
    first_at: Optional[float] = None
    last_at: Optional[float] = None


def run_watch(plan: WatchPlan, io: WatchIO, similarity: str = "default") -> WatchSeries:
    """Poll until the plan ends or Ctrl-C (KeyboardInterrupt), printing a line per poll.

    A failed first poll raises (the URL is wrong; nothing to watch). Later failures print
    a line and the watch goes on: a service that restarts should not end the watch.
    """
    series = WatchSeries()
    start = io.monotonic()
    previous: Optional[Tuple[Cluster, ...]] = None
    previous_total: Optional[int] = None
    try:
        while True:
            tick = io.monotonic()
            at = io.wall_clock()
            series.polls += 1
            index = series.polls
            if series.first_at is None:
                series.first_at = at
            series.last_at = at
            try:
                body = io.fetch()
                snapshot = io.parse(body, poll_name(index, at))
            except GoleakError as e:
                if not series.snapshots:
                    raise
                series.failed += 1
                line = PollLine(index, at, None, None, error=str(e))
            else:
                saved = io.save(snapshot_file_name(at, index, body), body) if io.save else None
                clusters = cluster_snapshots([snapshot], similarity)
                growing = growing_clusters(previous, clusters) if previous is not None else ()
                delta = None if previous_total is None else snapshot.total - previous_total
                line = PollLine(index, at, snapshot.total, delta, growing, saved=saved)
                previous, previous_total = clusters, snapshot.total
                series.snapshots.append(snapshot)
                series.snapshots[:] = thin_series(series.snapshots)
            series.lines.append(line)
            io.emit(format_poll_line(line))
            if plan.count is not None and index >= plan.count:
                break
            if plan.duration is not None and tick + plan.interval - start > plan.duration + 1e-9:
                break  # the next poll would start after the end
            io.sleep(max(0.0, plan.interval - (io.monotonic() - tick)))
    except KeyboardInterrupt:
        series.interrupted = True
    return series


# -- the verdict ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WatchVerdict:
    polls: int
    failed: int
    interrupted: bool
    first_at: Optional[float]
    last_at: Optional[float]
    totals: Tuple[int, ...]  # of the snapshots judged (thinned on very long runs)
    leaks: Tuple[ComparedCluster, ...]  # verdict leak, most certain first
    comparison: Optional[Comparison] = None  # None with fewer than two snapshots


def judge_series(series: WatchSeries, settings: CompareSettings = CompareSettings()) -> WatchVerdict:
    """The compare engine over every snapshot kept: a stack that kept growing is a leak."""
    comparison = None
    leaks: Tuple[ComparedCluster, ...] = ()
    if len(series.snapshots) >= 2:
        comparison = compare_snapshots(series.snapshots, None, settings)
        leaks = tuple(s.cluster for s in comparison.suspects if s.cluster.verdict == LEAK)
    return WatchVerdict(polls=series.polls, failed=series.failed, interrupted=series.interrupted,
                        first_at=series.first_at, last_at=series.last_at,
                        totals=tuple(s.total for s in series.snapshots), leaks=leaks, comparison=comparison)


def _series_text(counts: Sequence[int]) -> str:
    if len(counts) <= 6:
        return " -> ".join(str(n) for n in counts)
    return "%d -> %d -> %d ... %d -> %d" % (counts[0], counts[1], counts[2], counts[-2], counts[-1])


def format_verdict(v: WatchVerdict) -> str:
    """The closing lines: what the whole series says, and where to look."""
    span = ""
    if v.first_at is not None and v.last_at is not None:
        span = " (%s-%s)" % (format_clock(v.first_at), format_clock(v.last_at))
    how = "%d poll%s%s" % (v.polls, "" if v.polls == 1 else "s", span)
    if v.failed:
        how += ", %d failed" % v.failed
    if v.interrupted:
        how += ", interrupted"
    if v.comparison is None:
        return "verdict over %s: not enough snapshots to compare (need two)\n" % how
    totals = "total %s" % _series_text(v.totals)
    if not v.leaks:
        return "verdict over %s: no leak (%s)\n" % (how, totals)
    lines = ["verdict over %s: LEAK, %d growing stack%s (%s)" % (
        how, len(v.leaks), "" if len(v.leaks) == 1 else "s", totals)]
    for c in v.leaks:
        where = user_frame(c.cluster.stack)
        text = "  %s  %s  %+d  [%s]" % (cluster_title(c.cluster), _series_text(c.counts), c.delta, c.state or "?")
        if c.flags:
            text += "  " + ", ".join(c.flags)
        if where is not None and where.file:
            text += "  at %s:%d" % (where.file, where.line)
        if c.fuzzy:
            text += "  (fuzzy match %.1f)" % c.score
        lines.append(text)
    return "\n".join(lines) + "\n"
