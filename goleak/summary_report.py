"""The report of `goleak summary`: parsed sources → summary → view → the rendered report."""
from dataclasses import dataclass
from typing import Iterable, Sequence, Tuple, Union

from goleak import shards
from goleak.model import Warning
from goleak.parse import Parsed, finish_parsed, stack_count
from goleak.forked import fork_available
from goleak.report import Format, chunk_renderer_for
from goleak.report.view import ReportOptions, build_summary_view
from goleak.summary import SummarySettings, summarize

# Stacks below which one process does it all. Two processes save about half of the ~100 µs
# each distinct stack costs after the parse, and cost a fork, a pipe and a merge
# (0.03-0.05 s): they pay from about a thousand stacks; twice that leaves a margin for the
# machine's noise.
SHARD_MIN_STACKS = 2000


@dataclass(frozen=True)
class SummaryReport:
    warnings: Tuple[Warning, ...]  # of every snapshot, in source order
    chunks: Iterable[Union[str, bytes]]  # the report in order: text, or UTF-8 bytes


def render_summary_report(results: Sequence[Parsed], settings: SummarySettings, options: ReportOptions, fmt: str,
                          jobs: int = 1, min_stacks: int = SHARD_MIN_STACKS) -> SummaryReport:
    """The summary of results in format fmt. In two processes (goleak/shards.py, the same
    bytes) when jobs > 1, fork is available and the sources hold at least min_stacks stacks
    (counted per snapshot and parse process): for JSON down to each cluster's text, for the
    other formats down to the summary, which is then viewed and rendered here. JSON comes as
    UTF-8 bytes either way: it is UTF-8 whatever the locale (RFC 8259), and both ways write
    the same."""
    json = Format(fmt) is Format.JSON
    summary = None
    if jobs > 1 and fork_available() and sum(stack_count(r) for r in results) >= min_stacks:
        if json:
            split = shards.render_json_in_shards(results, settings, options)
            if split is not None:
                return SummaryReport(*split)
        else:
            summary = shards.summarize_in_shards(results, settings)
    if summary is None:
        summary = summarize([finish_parsed(r, ordered=False) for r in results], settings)
    view = build_summary_view(summary, options)
    pieces = chunk_renderer_for(Format(fmt), view)(view, options)
    return SummaryReport(summary.warnings, (p.encode("utf-8") for p in pieces) if json else pieces)
