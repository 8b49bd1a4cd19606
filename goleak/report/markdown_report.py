"""Markdown for a PR comment or $GITHUB_STEP_SUMMARY: a summary line, a suspects table and
each stack in a <details> block, cut to fit GitHub's 65,536-character limit.

Every string from a dump goes through the environment's finalize (templating.py), so no
raw HTML gets in and no pipe or backtick breaks a table.
"""
from dataclasses import dataclass, replace
from typing import Callable, Optional, Tuple

from goleak.report.compare_view import CompareView, ComparedClusterView, PhaseView
from goleak.report.templating import markdown_environment
from goleak.report.view import ClusterView, ReportOptions, SnapshotView, SummaryView

# GitHub refuses comments (and step summaries show an error) beyond 65,536 characters;
# stay a little below so a caller can add a line of its own.
GITHUB_LIMIT = 65_536
MARKDOWN_LIMIT = 65_000
# Rows of the suspects table before it is cut (the details blocks list the rest).
SUSPECT_ROWS = 25
# A details block is never shorter than this, which bounds how many could fit at all.
MIN_BLOCK_CHARS = 120


@dataclass(frozen=True)
class MarkdownPage:
    title: str
    headline: str
    similarity: str
    snapshots: Tuple[SnapshotView, ...]
    warnings: Tuple[str, ...]
    suspects: Tuple[ClusterView, ...]
    suspects_omitted: int
    clusters_title: str
    clusters: Tuple[ClusterView, ...]  # each gets a <details> block
    truncation_note: str
    footer: str


def plural(n: int, noun: str) -> str:
    return "%s %s" % ("{:,}".format(n), noun if n == 1 else noun + "s")


def truncation_note(clusters_shown: int, clusters_all: int, suspects_shown: int, suspects_all: int) -> str:
    parts = []
    if clusters_shown < clusters_all:
        parts.append("%s of %s clusters" % ("{:,}".format(clusters_shown), "{:,}".format(clusters_all)))
    if suspects_shown < suspects_all:
        parts.append("%s of %s suspects" % ("{:,}".format(suspects_shown), "{:,}".format(suspects_all)))
    if not parts:
        return ""
    return ("Truncated to stay under GitHub's %s-character limit: showing %s. "
            "The HTML and JSON reports (--format html, --format json) hold all of them."
            % ("{:,}".format(GITHUB_LIMIT), " and ".join(parts)))


def fit(render_with: Callable[[int, int], str], clusters_all: int, suspects_all: int,
        limit: int = MARKDOWN_LIMIT) -> str:
    """The longest rendering under the limit: all suspects rows that fit, then as many
    details blocks as fit (binary search; rendering is cheap next to the limit)."""
    suspects = min(suspects_all, SUSPECT_ROWS)
    text = render_with(suspects, clusters_all) if clusters_all <= limit // MIN_BLOCK_CHARS else None
    if text is not None and len(text) <= limit:
        return text
    if len(render_with(suspects, 0)) > limit:
        lo, hi = 0, suspects  # fewest suspect rows known to fit, most that might
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(render_with(mid, 0)) <= limit:
                lo = mid
            else:
                hi = mid - 1
        return render_with(lo, 0)
    lo, hi = 0, min(clusters_all, limit // MIN_BLOCK_CHARS)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(render_with(suspects, mid)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return render_with(suspects, lo)


def render_summary(view: SummaryView, opts: ReportOptions, limit: int = MARKDOWN_LIMIT) -> str:
    template = markdown_environment().get_template("summary.md")
    headline = "%s in %s · %s" % (plural(view.total, "goroutine"), plural(len(view.clusters), "cluster"),
                                  plural(len(view.suspects), "suspect"))
    base = MarkdownPage(
        title="goleak summary",
        headline=headline,
        similarity=view.similarity,
        snapshots=view.snapshots,
        warnings=view.warnings,
        suspects=(),
        suspects_omitted=0,
        clusters_title="Clusters, largest first" + (
            " (top %s of %s)" % ("{:,}".format(len(view.shown)), "{:,}".format(len(view.clusters)))
            if len(view.shown) < len(view.clusters) else ""),
        clusters=(),
        truncation_note="",
        footer=footer(view, opts),
    )

    def render_with(n_suspects: int, n_clusters: int) -> str:
        shown = view.shown
        page = replace(base, suspects=view.suspects[:n_suspects],
                       suspects_omitted=len(view.suspects) - n_suspects,
                       clusters=shown[:n_clusters],
                       truncation_note=truncation_note(min(n_clusters, len(shown)), len(shown),
                                                       n_suspects, min(len(view.suspects), SUSPECT_ROWS)))
        return template.render(page=page)

    return fit(render_with, len(view.shown), len(view.suspects), limit)


@dataclass(frozen=True)
class CompareMarkdownPage:
    title: str
    headline: str
    verdicts: str
    phases: Tuple[PhaseView, ...]
    notes: Tuple[str, ...]
    warnings: Tuple[str, ...]
    suspects: Tuple[ComparedClusterView, ...]
    suspects_omitted: int
    clusters_title: str
    clusters: Tuple[ComparedClusterView, ...]
    truncation_note: str
    footer: str


def render_compare(view: CompareView, opts: ReportOptions, limit: int = MARKDOWN_LIMIT) -> str:
    template = markdown_environment().get_template("compare.md")
    base = CompareMarkdownPage(
        title="goleak compare",
        headline="%s · %s" % (plural(view.leaks, "leak"), plural(len(view.clusters), "stack")),
        verdicts=view.verdicts_text,
        phases=view.phases,
        notes=tuple(view.notes) + (("hidden by ignore rules (per snapshot): " + view.ignored_text,)
                                   if view.ignored_text else ()),
        warnings=view.warnings,
        suspects=(),
        suspects_omitted=0,
        clusters_title="Stacks, leaks first" + (
            " (top %s of %s)" % ("{:,}".format(len(view.shown)), "{:,}".format(len(view.clusters)))
            if len(view.shown) < len(view.clusters) else ""),
        clusters=(),
        truncation_note="",
        footer=footer(view, opts),
    )

    def render_with(n_suspects: int, n_clusters: int) -> str:
        page = replace(base, suspects=view.suspects[:n_suspects],
                       suspects_omitted=len(view.suspects) - n_suspects,
                       clusters=view.shown[:n_clusters],
                       truncation_note=truncation_note(min(n_clusters, len(view.shown)), len(view.shown),
                                                       n_suspects, min(len(view.suspects), SUSPECT_ROWS)))
        return template.render(page=page)

    return fit(render_with, len(view.shown), len(view.suspects), limit)


def footer(view, opts: ReportOptions) -> str:
    text = "goleak %s" % (opts.version or view.version)
    if view.generated_at:
        text += " · generated %s" % view.generated_at
    return text.strip()


# One renderer per view type; the compare view registers its own below.
RENDERERS = {SummaryView: render_summary, CompareView: render_compare}


def render(view, options: Optional[ReportOptions] = None) -> str:
    opts = options or ReportOptions()
    return RENDERERS[type(view)](view, opts)
