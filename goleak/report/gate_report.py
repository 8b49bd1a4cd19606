"""The gate's and the watch's reports in every format, registered with each format's renderer.

Each one is the command's own part (the limits; the polls and the verdict) followed by the
analysis report it was judged on, rendered by that format's summary or compare renderer:

  text      the limits table / the verdict lines, exactly what the commands have always printed
  markdown  ci.step_summary (the limits table, then the report) / a polls table, then the report
  html      the report page with a gate or watch section first (HtmlPage.sections)
  json      {"command": "gate"|"watch", ..., "report": <the summary or compare JSON>}
"""
from dataclasses import dataclass, replace
from typing import Optional, Tuple

from markupsafe import Markup

from goleak import ci
from goleak.errors import UsageError
from goleak.gate import format_gate_table
from goleak.report import html_report, json_report, markdown_report, text_report
from goleak.report.compare_view import CompareView
from goleak.report.gate_view import GateView, LimitView
from goleak.report.templating import html_environment, markdown_environment
from goleak.report.view import SCHEMA_VERSION, ReportOptions, SummaryView
from goleak.report.watch_view import PollView, WatchView

# Poll rows in Markdown (GitHub's size limit) and in HTML; past that the first and the last
# ones are shown and the JSON report holds them all.
MARKDOWN_POLL_ROWS = 60
HTML_POLL_ROWS = 1000
FIRST_POLL_ROWS = 10

_REPORT_JSON = {SummaryView: json_report.summary_json, CompareView: json_report.compare_json}


def _report(view):
    if view.report is None:
        raise UsageError("goleak %s: this format needs the analysis report, and it was not built" % view.command)
    return view.report


# -- text ------------------------------------------------------------------------------------
def gate_text(view: GateView, options: Optional[ReportOptions] = None) -> str:
    return format_gate_table(view.result)


def watch_text(view: WatchView, options: Optional[ReportOptions] = None) -> str:
    return view.verdict_text


# -- JSON ------------------------------------------------------------------------------------
def limit_json(limit: LimitView) -> dict:
    return {
        "name": limit.name,
        "passed": limit.passed,
        "limit": limit.limit,
        "actual": limit.actual,
        "message": limit.message,
        "clusters": list(limit.clusters),
        "blamed": [{"id": b.id, "title": b.title, "state": b.state, "count": b.count, "before": b.before,
                    "note": b.note, "where": json_report.frame_json(b.where)} for b in limit.blamed],
    }


def gate_json(view: GateView) -> dict:
    report = _report(view)
    return {
        "schema_version": SCHEMA_VERSION,
        "command": view.command,
        "passed": view.passed,
        "limits": [limit_json(x) for x in view.limits],
        "report": _REPORT_JSON[type(report)](report),
    }


def poll_json(p: PollView) -> dict:
    return {"index": p.index, "time": p.time, "total": p.total, "delta": p.delta, "error": p.error,
            "growing": [{"title": g.title, "delta": g.delta, "count": g.count} for g in p.growing]}


def watch_json(view: WatchView) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "command": view.command,
        "url": view.url,
        "polls": [poll_json(p) for p in view.polls],
        "polls_failed": view.polls_failed,
        "interrupted": view.interrupted,
        "leaks": view.leaks,
        "verdict": view.verdict,
        "report": _REPORT_JSON[type(view.report)](view.report) if view.report is not None else None,
    }


# -- Markdown ----------------------------------------------------------------------------------
def _report_markdown(report, opts: ReportOptions, room: int) -> str:
    return markdown_report.RENDERERS[type(report)](report, opts, limit=max(room, 2000))


def gate_markdown(view: GateView, options: Optional[ReportOptions] = None) -> str:
    """What the gate appends to $GITHUB_STEP_SUMMARY: the verdict, the limits table, the report."""
    opts = options or ReportOptions()
    head = ci.step_summary(view.result, None)
    report = _report_markdown(_report(view), opts, markdown_report.MARKDOWN_LIMIT - len(head) - 2)
    return ci.step_summary(view.result, report)


@dataclass(frozen=True)
class WatchPage:
    verdict: str
    leaks: int
    headline: str
    verdict_text: str
    polls: Tuple[PollView, ...]
    polls_omitted: str  # "" when every poll is listed


def watch_page(view: WatchView, rows: int) -> WatchPage:
    polls = view.polls
    omitted = ""
    if len(polls) > rows:
        last = rows - FIRST_POLL_ROWS
        left_out = polls[FIRST_POLL_ROWS:len(polls) - last]
        omitted = ("Polls #%d to #%d (%d) are left out here; the JSON report (--format json) lists every poll."
                   % (left_out[0].index, left_out[-1].index, len(left_out)))
        polls = polls[:FIRST_POLL_ROWS] + polls[len(polls) - last:]
    return WatchPage(verdict=view.verdict, leaks=view.leaks, headline=view.headline,
                     verdict_text=view.verdict_text.rstrip("\n"), polls=polls, polls_omitted=omitted)


def watch_markdown(view: WatchView, options: Optional[ReportOptions] = None) -> str:
    opts = options or ReportOptions()
    head = markdown_environment().get_template("watch.md").render(page=watch_page(view, MARKDOWN_POLL_ROWS))
    if view.report is None:
        return head
    report = _report_markdown(view.report, opts, markdown_report.MARKDOWN_LIMIT - len(head) - 2)
    return head.rstrip("\n") + "\n\n" + report


# -- HTML ----------------------------------------------------------------------------------------
def gate_page(view: GateView, opts: ReportOptions) -> html_report.HtmlPage:
    page = html_report.build_page(_report(view), opts)
    section = Markup(html_environment().get_template("gate_section.html").render(gate=view).rstrip("\n"))
    return replace(page, title="goleak gate: %s, %s · %s" % (view.verdict, view.headline, page.title),
                   sections=(section,) + page.sections)


def watch_page_html(view: WatchView, opts: ReportOptions) -> html_report.HtmlPage:
    page = html_report.build_page(_report(view), opts)
    section = Markup(html_environment().get_template("watch_section.html").render(
        watch=watch_page(view, HTML_POLL_ROWS)).rstrip("\n"))
    return replace(page, title="goleak watch: %s · %s" % (view.verdict, view.headline),
                   sections=(section,) + page.sections)


# -- registration: one entry per renderer, no branch on the command anywhere ----------------------
text_report.register(GateView, gate_text)
text_report.register(WatchView, watch_text)
markdown_report.RENDERERS[GateView] = gate_markdown
markdown_report.RENDERERS[WatchView] = watch_markdown
html_report.PAGE_BUILDERS[GateView] = gate_page
html_report.PAGE_BUILDERS[WatchView] = watch_page_html
json_report.register(GateView, gate_json)
json_report.register(WatchView, watch_json)
