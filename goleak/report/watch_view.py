"""The view model of `goleak watch`: every poll, the verdict, and the report over the series."""
import time
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from goleak.model import ParseResult
from goleak.report import Format
from goleak.report.compare_view import CompareView, build_compare_view
from goleak.report.view import ReportOptions, SummaryView, build_summary_view
from goleak.watch import PollLine, WatchSeries, WatchVerdict, format_clock, format_verdict


@dataclass(frozen=True)
class GrowingView:
    title: str
    delta: int
    count: int


@dataclass(frozen=True)
class PollView:
    index: int  # 1-based
    time: str  # UTC, ISO 8601 with milliseconds: "2023-11-14T22:13:20.250Z"
    clock: str  # "22:13:20", as the poll line shows it
    total: Optional[int]  # None when the poll failed
    delta: Optional[int]  # from the previous successful poll; None for the first
    delta_text: str  # "first", "+7", "-2", "" for a failed poll
    growing: Tuple[GrowingView, ...]
    growing_text: str  # "main.slowLeak +5 (12), main.idle +1 (3)"
    error: Optional[str]


@dataclass(frozen=True)
class WatchView:
    command: str
    url: str  # as displayed (no user:password)
    polls: Tuple[PollView, ...]
    polls_failed: int
    interrupted: bool
    leaks: int  # stacks the verdict calls leak
    headline: str  # "5 polls of http://127.0.0.1:6060/... (22:13:20-22:13:24 UTC), 1 failed"
    verdict: str  # "leak", "no leak" or "not enough snapshots"
    verdict_text: str  # the closing lines the text output ends with
    report: Union[CompareView, SummaryView, None]  # over every snapshot kept; a summary when only one


def iso_time(at: float) -> str:
    millis = int(round(at * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + ".%03dZ" % (millis % 1000)


def poll_view(line: PollLine) -> PollView:
    if line.error is not None:
        delta_text = ""
    else:
        delta_text = "first" if line.delta is None else "%+d" % line.delta
    growing = tuple(GrowingView(g.title, g.delta, g.count) for g in line.growing)
    return PollView(index=line.index, time=iso_time(line.at), clock=format_clock(line.at), total=line.total,
                    delta=line.delta, delta_text=delta_text, growing=growing,
                    growing_text=", ".join("%s %+d (%d)" % (g.title, g.delta, g.count) for g in growing),
                    error=line.error)


def series_report(series: WatchSeries, verdict: WatchVerdict, settings, opts: ReportOptions
                  ) -> Union[CompareView, SummaryView, None]:
    """The comparison over the series; with a single snapshot, its summary; with none, nothing."""
    if verdict.comparison is not None:
        return build_compare_view(verdict.comparison, opts)
    if not series.snapshots:
        return None
    from goleak.summary import SummarySettings, summarize
    snap = series.snapshots[-1]
    summary = summarize([ParseResult(snap.source, (snap,))],
                        SummarySettings(similarity=settings.similarity, min_wait=settings.min_wait,
                                        ignore=settings.ignore))
    return build_summary_view(summary, opts)


def watch_headline(url: str, v: WatchVerdict) -> str:
    text = "%d poll%s of %s" % (v.polls, "" if v.polls == 1 else "s", url)
    if v.first_at is not None and v.last_at is not None:
        text += " (%s-%s UTC)" % (format_clock(v.first_at), format_clock(v.last_at))
    if v.failed:
        text += ", %d failed" % v.failed
    if v.interrupted:
        text += ", interrupted"
    return text


def build_watch_view(url: str, series: WatchSeries, verdict: WatchVerdict, settings, opts: ReportOptions,
                     with_report: bool = True) -> WatchView:
    if verdict.comparison is None:
        word = "not enough snapshots"
    else:
        word = "leak" if verdict.leaks else "no leak"
    return WatchView(command="watch", url=url, polls=tuple(poll_view(line) for line in series.lines),
                     polls_failed=verdict.failed, interrupted=verdict.interrupted, leaks=len(verdict.leaks),
                     headline=watch_headline(url, verdict), verdict=word, verdict_text=format_verdict(verdict),
                     report=series_report(series, verdict, settings, opts) if with_report else None)


def poll_lines_to_stderr(fmt: Format, output: Optional[str]) -> bool:
    """Poll lines share stdout with a text verdict; a JSON, Markdown or HTML report on stdout
    must stay parseable, so then they go to stderr."""
    return fmt is not Format.TEXT and (not output or output == "-")
