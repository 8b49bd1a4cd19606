"""Text for the terminal: aligned, suspects first, fits the width, colour only when asked."""
from typing import List, Optional

from goleak.report.view import ClusterView, ReportOptions, SummaryView

_STYLES = {"bold": "1", "dim": "2", "red": "31", "yellow": "33", "green": "32", "cyan": "36"}


class _Paint:
    def __init__(self, on: bool):
        self.on = on

    def __call__(self, text: str, style: str) -> str:
        if not self.on or not text:
            return text
        codes = ";".join(_STYLES[s] for s in style.split())
        return "\x1b[%sm%s\x1b[0m" % (codes, text)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _n(n: int) -> str:
    return "{:,}".format(n)


def render_stack(c: ClusterView, width: int, paint: _Paint, indent: str = "      ") -> List[str]:
    out = []
    if c.unavailable:
        out.append(indent + paint("(stack unavailable: running on another thread)", "dim"))
    fn_width = max([len(f.function) for f in c.frames] + [10])
    fn_width = min(fn_width, max(20, (width - len(indent)) // 2))
    for f in c.frames:
        fn = _fit(f.function, fn_width).ljust(fn_width)
        line = "%s%s  %s" % (indent, paint(fn, "bold") if f.is_user else fn, paint(f.location, "dim"))
        out.append(line)
    if c.elided:
        out.append(indent + paint("... %s frames elided by the runtime" % (c.elided if c.elided > 0 else "more"), "dim"))
    if c.truncated:
        out.append(indent + paint("... stack cut off in the dump", "yellow"))
    if c.created_by:
        out.append("%screated by %s  %s" % (indent, c.created_by.function, paint(c.created_by.location, "dim")))
    return out


def _cluster_head(c: ClusterView, paint: _Paint) -> str:
    bits = [paint(_n(c.count).rjust(7), "bold"), " ", c.state_text]
    if c.wait_text:
        bits.append(", " + c.wait_text)
    if c.leaked:
        bits.append(", " + paint("%s leaked" % _n(c.leaked), "red"))
    if c.locked:
        bits.append(", %d locked to thread" % c.locked)
    return "".join(bits)


def render(view: SummaryView, options: Optional[ReportOptions] = None) -> str:
    opts = options or ReportOptions()
    width = max(60, opts.width)
    paint = _Paint(opts.color)
    out: List[str] = []
    out.append(paint("goleak summary", "bold") + ": %s goroutines in %s clusters (similarity: %s)" % (
        _n(view.total), _n(len(view.clusters)), view.similarity))
    for s in view.snapshots:
        extra = ""
        if s.declared_total is not None and s.declared_total != s.total:
            extra = " (header says %s)" % _n(s.declared_total)
        if s.crash_reason:
            extra += "  " + paint(_fit(s.crash_reason, width - 40), "red")
        out.append("  %s  %s  %s goroutines%s" % (_fit(s.name, width // 2), s.format, _n(s.total), extra))
    if view.ignored:
        out.append(paint("  %s goroutines hidden by ignore rules" % _n(view.ignored), "dim"))
    if view.race_reports:
        out.append("  %d data race report(s) found and skipped" % view.race_reports)
    if view.distinct_states:
        out.append("  states: " + _fit(", ".join("%s %s" % (s or "?", _n(n)) for s, n in view.distinct_states), width - 10))
    for w in view.warnings:
        out.append(paint("warning: ", "yellow") + _fit(w, width - 9))
    if view.suspects:
        out.append("")
        out.append(paint("Suspects", "bold red"))
        for i, c in enumerate(view.suspects[: opts.top or 10], 1):
            out.append("%3d. %s  %s" % (i, _cluster_head(c, paint).strip(), paint(c.title, "bold")))
            out.append("     why: " + "; ".join(c.suspect_reasons))
            if c.where:
                out.append("     look at: %s  %s" % (c.where.function, c.where.location))
            if c.created_by:
                out.append("     created by: %s  %s" % (c.created_by.function, c.created_by.location))
            out.append("     id: %s" % c.id)
    out.append("")
    out.append(paint("Clusters", "bold") + " (largest first%s)" % (
        ", top %d of %d" % (len(view.shown), len(view.clusters)) if len(view.shown) < len(view.clusters) else ""))
    for c in view.shown:
        out.append("")
        head = _cluster_head(c, paint)
        if c.flags:
            head += "  " + paint("[" + ", ".join(c.flags) + "]", "yellow")
        out.append(head)
        if c.labels_text:
            out.append("      labels: " + _fit(c.labels_text, width - 14))
        out.extend(render_stack(c, width, paint))
    return "\n".join(out) + "\n"
