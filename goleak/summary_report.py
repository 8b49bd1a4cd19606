"""The report of `goleak summary`: parsed sources → summary → view → the rendered report.

The one place that decides how a summary is computed: in this process, or, for a JSON
summary of many distinct stacks, in two (goleak/shards.py), which writes the same bytes.
"""
from dataclasses import dataclass
from typing import Iterable, Sequence, Tuple, Union

from goleak import shards
from goleak.model import Warning
from goleak.parse import Parsed, finish_parsed, stack_count
from goleak.report import Format, chunk_renderer_for
from goleak.report.view import ReportOptions, build_summary_view
from goleak.summary import SummarySettings, summarize

# Distinct stacks below which one process does it all. Two processes save about half of the
# 50-100 µs each distinct stack costs after the parse, and cost a fork, a pipe and a merge
# (0.03-0.05 s): they pay from about a thousand stacks; twice that leaves a margin for the
# machine's noise.
SHARD_MIN_STACKS = 2000


@dataclass(frozen=True)
class SummaryReport:
    warnings: Tuple[Warning, ...]  # of every snapshot, in source order
    chunks: Iterable[Union[str, bytes]]  # the report in order: text, or UTF-8 bytes


def summary_report(results: Sequence[Parsed], settings: SummarySettings, options: ReportOptions, fmt: str,
                   jobs: int = 1, min_stacks: int = SHARD_MIN_STACKS) -> SummaryReport:
    """The summary of results in format fmt: in two processes when jobs > 1, the format is
    JSON, fork is available and the sources hold at least min_stacks distinct stacks."""
    if (jobs > 1 and Format(fmt) is Format.JSON and shards.available()
            and sum(stack_count(r) for r in results) >= min_stacks):
        split = shards.json_summary(results, settings, options)
        if split is not None:
            return SummaryReport(*split)
    summary = summarize([finish_parsed(r) for r in results], settings)
    view = build_summary_view(summary, options)
    return SummaryReport(summary.warnings, chunk_renderer_for(Format(fmt), view)(view, options))
