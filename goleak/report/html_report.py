"""HTML: one self-contained file to attach to an incident.

CSS and JS are inline and a Content-Security-Policy forbids every remote load. The cluster
table is rendered by the page's script from a JSON data block, a batch at a time, so a
report of 20,000 clusters opens as fast as one of twenty. Every string from a dump reaches
the page either through jinja2's autoescape or as JSON (|tojson escapes < > & ') that the
script puts into the DOM with textContent, never as markup.
"""
import base64
import hashlib
from dataclasses import dataclass
from itertools import repeat
from typing import Dict, List, Optional, Sequence, Tuple

from markupsafe import Markup

from goleak.flags import FLAG_HELP
from goleak.report.compare_view import CompareView, ComparedClusterView
from goleak.report.templating import asset, html_environment
from goleak.report.view import ClusterView, FrameView, ReportOptions, SummaryView, gc_paused

# Rows the script renders at first and per "show more"; and stacks open from the start.
ROW_BATCH = 200
EXPANDED_AT_START = 5
# Suspects listed in the static header section (the table holds all of them).
STATIC_SUSPECTS = 10
CHART_HEIGHT = 64
CHART_BAR = 36
CHART_GAP = 14


@dataclass(frozen=True)
class Tally:
    name: str
    count: int
    css: str  # class name: "leak", "transient", "suspect", ...


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    middle: int
    value_y: int
    label_y: int
    value: str
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: int
    bars: Tuple[Bar, ...]
    description: str


@dataclass(frozen=True)
class SnapshotRow:
    name: str
    source: str  # "" when the name is the source
    format: str
    profile: str  # "" for the ordinary goroutine profile
    total: int
    declared_note: str  # "(header: 1,234)" when the header disagrees, else ""
    crash_reason: str


@dataclass(frozen=True)
class SuspectItem:
    """One entry of the static suspects list, the same for a summary and a comparison."""

    rank: int
    counts: str  # "40" or "0 → 40 → 40 (+40)"
    verdict: str  # "" in a summary
    title: str
    state: str  # "chan send, 12-40 min"
    reasons: Tuple[str, ...]
    where: Optional[FrameView]
    created_by: Optional[FrameView]
    flag_help: Tuple[Tuple[str, str], ...]
    match: str
    id: str


@dataclass(frozen=True)
class HtmlPage:
    title: str
    heading: str
    headline: str
    snapshots: Tuple[SnapshotRow, ...]
    chart: Chart
    tallies: Tuple[Tally, ...]
    notes: Tuple[str, ...]
    suspects: Tuple[SuspectItem, ...]
    suspects_more: int
    warnings: Tuple[str, ...]
    warnings_title: str
    footer: str
    group_label: str  # "Verdict" or "Suspect": the column and toggles of the table
    has_counts: bool  # several snapshots: sparkline and delta columns
    csp: str
    style: Markup
    script: Markup
    data: dict
    # Extension point: blocks shown first in <main>, such as the gate's limits
    # (report/gate_report.py). Each must be the output of an autoescaped .html template,
    # never markup put together by hand from dump text.
    sections: Tuple[Markup, ...] = ()


def total_chart(snapshots: Sequence[SnapshotRow], labels: Sequence[str]) -> Chart:
    """Bars of goroutines per snapshot, scaled to the largest total."""
    peak = max([s.total for s in snapshots] + [1])
    bars = []
    for i, (s, label) in enumerate(zip(snapshots, labels)):
        height = max(1, round(s.total * CHART_HEIGHT / peak)) if s.total else 0
        x = CHART_GAP + i * (CHART_BAR + CHART_GAP)
        y = 16 + CHART_HEIGHT - height
        bars.append(Bar(x=x, y=y, width=CHART_BAR, height=height, middle=x + CHART_BAR // 2, value_y=y - 3,
                        label_y=16 + CHART_HEIGHT + 13, value="{:,}".format(s.total), label=label))
    width = CHART_GAP + len(bars) * (CHART_BAR + CHART_GAP)
    description = "Goroutines per snapshot: " + ", ".join("%s %s" % (b.label, b.value) for b in bars)
    return Chart(width=max(width, 80), height=CHART_HEIGHT + 34, baseline=16 + CHART_HEIGHT, bars=tuple(bars),
                 description=description)


def short_label(name: str) -> str:
    """A snapshot's name under its bar: the file name without directories, cut to fit."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base if len(base) <= 12 else base[:11] + "…"


class FrameTable:
    """Frames shared by many stacks are sent once; clusters refer to them by index."""

    def __init__(self):
        # Keyed by identity: view.FrameViews hands out one FrameView per distinct frame, and
        # hashing a dataclass of nine fields half a million times is what made this slow.
        self.index: Dict[int, int] = {}
        self.keep: List[FrameView] = []  # holds the keys' objects, so no id is reused
        self.rows: List[list] = []

    def ref(self, f: Optional[FrameView]) -> Optional[int]:
        if f is None:
            return None
        i = self.index.get(id(f))
        if i is None:
            i = self.index[id(f)] = len(self.rows)
            self.keep.append(f)
            self.rows.append([f.package, f.function, f.location, f.link or "", 1 if f.is_user else 0, f.name])
        return i

    def refs(self, frames: Tuple[FrameView, ...]) -> List[int]:
        # ref() for every frame, through C-level maps once all are known (no Python step
        # per frame; ints compare in C).
        out = list(map(self.index.get, map(id, frames), repeat(-1)))
        return out if -1 not in out else [self.ref(f) for f in frames]


def cluster_record(c: ClusterView, frames: FrameTable, group: str, extra: Optional[dict] = None) -> dict:
    """What the script needs to draw one row and its stack; empty fields are left out."""
    rec = {
        "id": c.id,
        "count": c.count,
        "group": group,
        "state": c.states[0][0] if c.states else "",
        "state_text": c.state_text,
        "title": c.title,
        "frames": frames.refs(c.frames),
    }
    # Frame indexes: 0 is a real index, so these are left out only when absent.
    for key, frame in (("where", c.where), ("created_by", c.created_by)):
        if frame is not None:
            rec[key] = frames.ref(frame)
    optional = {
        "flags": list(c.flags),
        "wait": c.wait_text,
        "wait_max": c.wait_max,
        "labels": [[k, [[v, n] for v, n in vals]] for k, vals in c.labels],
        "labels_other": [[k, n] for k, n in c.labels_other],
        "reasons": list(c.suspect_reasons),
        "rank": c.suspect_rank,
        "leaked": c.leaked,
        "locked": c.locked,
        "elided": c.elided,
        "truncated": c.truncated,
        "unavailable": c.unavailable,
        "samples": list(c.sample_ids),
    }
    if extra:
        optional.update(extra)
    rec.update([(k, v) for k, v in optional.items() if v not in (None, "", [], 0, False)])
    return rec


def tally(records: Sequence[dict], key: str) -> List[list]:
    counts: Dict[str, int] = {}
    for r in records:
        counts[r[key]] = counts.get(r[key], 0) + 1
    return [[k, n] for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def plural(n: int, noun: str) -> str:
    return noun if n == 1 else noun + "s"


def content_security_policy(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    # Nothing may be fetched: no scripts but ours (by hash), no remote styles, fonts,
    # images, frames or connections; inline styles and data: images only.
    return ("default-src 'none'; script-src 'sha256-%s'; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'" % digest)


def snapshot_row(name: str, source: str, fmt: str, profile: str, total: int, declared: Optional[int],
                 crash_reason: Optional[str]) -> SnapshotRow:
    return SnapshotRow(
        name=name, source="" if source == name else source, format=fmt,
        profile="" if profile == "goroutine" else profile, total=total,
        declared_note="(header: {:,})".format(declared) if declared is not None and declared != total else "",
        crash_reason=crash_reason or "")


def wait_state(c: ClusterView) -> str:
    return c.state_text + (", " + c.wait_text if c.wait_text else "")


def page_from_summary(view: SummaryView, opts: ReportOptions) -> HtmlPage:
    frames = FrameTable()
    records = [cluster_record(c, frames, "suspect" if c.suspect_rank else "other") for c in view.clusters]
    n_suspects = len(view.suspects)
    n_other = len(view.clusters) - n_suspects
    headline = "%s goroutines in %s %s · %d %s" % (
        "{:,}".format(view.total), "{:,}".format(len(view.clusters)), plural(len(view.clusters), "cluster"),
        n_suspects, plural(n_suspects, "suspect"))
    data = {
        "clusters": records,
        "frames": frames.rows,
        "flag_help": FLAG_HELP,
        "snapshots": [s.name for s in view.snapshots],
        "groups": [["suspect", n_suspects], ["other", n_other]],
        "states": tally(records, "state"),
        "has_counts": False,
        "batch": ROW_BATCH,
        "expanded_at_start": EXPANDED_AT_START,
    }
    suspects = tuple(SuspectItem(rank=c.suspect_rank or 0, counts="{:,}".format(c.count), verdict="", title=c.title,
                                 state=wait_state(c), reasons=c.suspect_reasons, where=c.where,
                                 created_by=c.created_by, flag_help=c.flag_help, match="", id=c.id)
                     for c in view.suspects[:STATIC_SUSPECTS])
    snapshots = tuple(snapshot_row(s.name, s.source, s.format, s.profile, s.total, s.declared_total, s.crash_reason)
                      for s in view.snapshots)
    notes = (("%s goroutines hidden by ignore rules" % "{:,}".format(view.ignored),) if view.ignored else ()) + (
        ("%d data race report(s) found and skipped" % view.race_reports,) if view.race_reports else ())
    return finish_page(
        view, opts, title="goleak summary: " + headline, heading="Goroutine summary", headline=headline,
        snapshots=snapshots, chart_labels=[short_label(s.name) for s in view.snapshots],
        tallies=(Tally(plural(n_suspects, "suspect"), n_suspects, "suspect" if n_suspects else "other"),
                 Tally(plural(n_other, "other cluster"), n_other, "other")),
        notes=notes, suspects=suspects, suspects_all=n_suspects,
        group_label="Suspect", has_counts=False, data=data)


def page_from_compare(view: CompareView, opts: ReportOptions) -> HtmlPage:
    frames = FrameTable()
    records = [compared_record(c, frames) for c in view.clusters]
    phases = view.phases
    headline = "%d %s · %s %s · %s goroutines" % (
        view.leaks, plural(view.leaks, "leak"), "{:,}".format(len(view.clusters)), plural(len(view.clusters), "stack"),
        " → ".join("{:,}".format(p.total) for p in phases))
    data = {
        "clusters": records,
        "frames": frames.rows,
        "flag_help": FLAG_HELP,
        "snapshots": [p.name for p in phases],
        "groups": [[v, n] for v, n in view.verdict_counts if n],
        "states": tally(records, "state"),
        "has_counts": True,
        "batch": ROW_BATCH,
        "expanded_at_start": EXPANDED_AT_START,
    }
    suspects = tuple(SuspectItem(rank=c.suspect_rank or 0, counts="%s (%s)" % (c.series_text, c.delta_text),
                                 verdict=c.verdict, title=c.title, state=wait_state(c.cluster),
                                 reasons=c.suspect_reasons, where=c.cluster.where, created_by=c.cluster.created_by,
                                 flag_help=c.cluster.flag_help, match=c.match_text, id=c.id)
                     for c in view.suspects[:STATIC_SUSPECTS])
    snapshots = tuple(snapshot_row(p.name, p.source, p.format, p.profile, p.total, p.declared_total, None)
                      for p in phases)
    # Verdicts that need attention always show, even at zero; the rest only when present.
    tallies = tuple(Tally(v, n, v) for v, n in view.verdict_counts if n or v in ("leak", "transient", "stable"))
    notes = tuple(view.notes) + (("hidden by ignore rules (per snapshot): " + view.ignored_text,)
                                 if view.ignored_text else ()) + ("settings: " + view.settings_text,)
    return finish_page(
        view, opts, title="goleak compare: " + headline, heading="Goroutine comparison", headline=headline,
        snapshots=snapshots, chart_labels=[short_label(p.name) for p in phases], tallies=tallies, notes=notes,
        suspects=suspects, suspects_all=len(view.suspects), group_label="Verdict", has_counts=True, data=data)


def compared_record(c: ComparedClusterView, frames: FrameTable) -> dict:
    rec = cluster_record(c.cluster, frames, c.verdict, {
        "counts": list(c.counts),
        "delta": c.delta,
        "match": c.match_text,
        "verdict_help": c.verdict_help,
    })
    rec["title"] = c.title
    rec["state"] = c.state
    rec["count"] = c.counts[-1] if c.counts else 0
    return rec


def finish_page(view, opts: ReportOptions, title: str, heading: str, headline: str,
                snapshots: Tuple[SnapshotRow, ...], chart_labels: Sequence[str], tallies: Tuple[Tally, ...],
                notes: Tuple[str, ...], suspects: Tuple[SuspectItem, ...], suspects_all: int, group_label: str,
                has_counts: bool, data: dict) -> HtmlPage:
    script = asset("report.js")
    footer = "goleak %s" % (opts.version or view.version)
    if view.generated_at:
        footer += " · generated %s" % view.generated_at
    return HtmlPage(
        title=title,
        heading=heading,
        headline=headline,
        snapshots=snapshots,
        chart=total_chart(snapshots, chart_labels),
        tallies=tallies,
        notes=notes,
        suspects=suspects,
        suspects_more=max(0, suspects_all - len(suspects)),
        warnings=tuple(view.warnings),
        warnings_title="%d %s while reading" % (len(view.warnings), plural(len(view.warnings), "warning")),
        footer=footer.strip(),
        group_label=group_label,
        has_counts=has_counts,
        csp=content_security_policy(script),
        style=Markup(asset("report.css")),
        script=Markup(script),
        data=data,
    )


# One adapter per view type; compare views register theirs below.
PAGE_BUILDERS = {SummaryView: page_from_summary, CompareView: page_from_compare}


def build_page(view, opts: ReportOptions) -> HtmlPage:
    return PAGE_BUILDERS[type(view)](view, opts)


def render(view, options: Optional[ReportOptions] = None) -> str:
    opts = options or ReportOptions()
    with gc_paused():
        page = build_page(view, opts)
        return html_environment().get_template("report.html").render(page=page)
