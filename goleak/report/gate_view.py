"""The view model of `goleak gate`: each limit's outcome, with the analysis report it was judged on."""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

from goleak.gate import GateOutcome, GateResult, LimitResult, Offender, describe_offender
from goleak.model import ParseResult
from goleak.report import Format
from goleak.report.compare_view import CompareView, build_compare_view
from goleak.report.view import FrameView, ReportOptions, SummaryView, build_summary_view, frame_view

# Formats that carry the analysis report after the limits. Text keeps the limits table
# alone (what `gate` has always printed), so a text gate never pays for building a report
# it would not show: on a 30 MB dump that is as much work again as half the parse.
REPORT_FORMATS = frozenset({Format.MARKDOWN, Format.HTML, Format.JSON})


@dataclass(frozen=True)
class BlamedView:
    """A cluster a broken limit blames."""

    id: str  # the cluster's id in the report (a compare row's id when the gate compared)
    title: str
    state: str
    count: int  # goroutines in the last snapshot
    before: Optional[int]  # in the first snapshot (or the baseline); None with one snapshot
    note: str  # "new", "tolerance 6", "waiting up to 42 min", ...
    where: Optional[FrameView]
    text: str  # one line: "main.leakSender: 0 -> 40 goroutines [chan send] at main.go:111 (new)"


@dataclass(frozen=True)
class LimitView:
    name: str  # max-goroutines, max-growth, max-leaks, fail-on leak, baseline ...
    passed: bool
    limit: str  # as the user wrote it: "75", "10%", "leak"
    actual: str  # what was measured, with its unit: "76 goroutines", "+67 goroutines (+744.4%)"
    message: str  # the sentence stderr prints for a broken limit
    blamed: Tuple[BlamedView, ...]  # worst first; empty when the limit held

    @property
    def clusters(self) -> Tuple[str, ...]:
        return tuple(b.id for b in self.blamed)


@dataclass(frozen=True)
class GateView:
    command: str
    passed: bool
    verdict: str  # "passed" or "failed"
    headline: str  # "2 of 3 limits broken (76 goroutines in after)"
    limits: Tuple[LimitView, ...]
    result: GateResult  # what the text table and the Markdown step summary are written from
    report: Union[SummaryView, CompareView, None]  # the analysis behind the gate; None when not wanted


def _plural(n: int, noun: str) -> str:
    return "%d %s%s" % (n, noun, "" if n == 1 else "s")


def gate_headline(result: GateResult) -> str:
    n = len(result.results)
    where = "%s in %s" % (_plural(result.last_total, "goroutine"), result.last_name)
    if result.passed:
        return "%d of %s held (%s)" % (n, _plural(n, "limit"), where)
    return "%d of %s broken (%s)" % (len(result.broken), _plural(n, "limit"), where)


def build_report_view(outcome: GateOutcome, results: Sequence[ParseResult], settings, opts: ReportOptions
                      ) -> Union[SummaryView, CompareView]:
    """The report the gate was judged on: the comparison it ran, or the summary of its one snapshot."""
    if outcome.comparison is not None:
        return build_compare_view(outcome.comparison, opts)
    from goleak.summary import SummarySettings, summarize
    summary = summarize(results, SummarySettings(similarity=settings.similarity, min_wait=settings.min_wait,
                                                 ignore=settings.ignore))
    return build_summary_view(summary, opts)


def report_ids(outcome: GateOutcome) -> Dict[str, str]:
    """Cluster id -> the id of the report row that holds it.

    A limit blames clusters by their own id; a comparison's rows have ids of their own (one
    row spans snapshots), so a blamed cluster is named by the row it is shown in. With one
    snapshot the report is a summary whose clusters keep their ids.
    """
    if outcome.comparison is None:
        return {}
    return {c.cluster.id: c.id for c in outcome.comparison.clusters}


def blamed_view(o: Offender, ids: Dict[str, str], opts: ReportOptions) -> BlamedView:
    return BlamedView(id=ids.get(o.id, o.id), title=o.title, state=o.state, count=o.count, before=o.before,
                      note=o.note, where=frame_view(o.where, opts.full_paths, opts) if o.where is not None else None,
                      text=describe_offender(o))


def limit_view(r: LimitResult, ids: Dict[str, str], opts: ReportOptions) -> LimitView:
    # A limit that held blames nobody, even when its check listed clusters (fail-on keeps them).
    blamed = () if r.ok else tuple(blamed_view(o, ids, opts) for o in r.offenders)
    return LimitView(name=r.name, passed=r.ok, limit=r.limit, actual=r.actual, message=r.detail, blamed=blamed)


def build_gate_view(outcome: GateOutcome, report: Union[SummaryView, CompareView, None],
                    opts: ReportOptions) -> GateView:
    ids = report_ids(outcome)
    result = outcome.result
    return GateView(command="gate", passed=result.passed, verdict="passed" if result.passed else "failed",
                    headline=gate_headline(result),
                    limits=tuple(limit_view(r, ids, opts) for r in result.results), result=result, report=report)


def shows_report(fmt: Format) -> bool:
    return fmt in REPORT_FORMATS
