"""Text for the terminal: aligned, suspects first, fits the width, colour only when asked."""
import re
import textwrap
from typing import Callable, Dict, List, Optional

from goleak.report.compare_view import CompareView
from goleak.report.view import ClusterView, ReportOptions, SummaryView

_STYLES = {"bold": "1", "dim": "2", "red": "31", "yellow": "33", "green": "32", "cyan": "36"}


# Lines are laid out for this width when the output is not a terminal (width 0: no limit).
LAYOUT_WIDTH = 100
# Our own colour codes: "\x1b[1;31m" ... "\x1b[0m". Nothing else may reach the terminal.
_OUR_SGR_RE = re.compile(r"\x1b\[[0-9;]*m")
# Control characters from a dump (ESC, BEL, CR, backspace, C1 CSI ...) could move the
# cursor, retitle the window or hide text: shown as \xNN instead. Newlines are ours.
#   "main.a\x1b]0;pwned\x07b" -> "main.a\\x1b]0;pwned\\x07b"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape_controls(text: str) -> str:
    return _CONTROL_RE.sub(lambda m: "\\x%02x" % ord(m.group()), text.replace("\t", " "))


def _clip(line: str, color: bool, width: int) -> str:
    """Cut a line to `width` visible characters; colour codes do not count and stay."""
    parts = _OUR_SGR_RE.split(line) if color else [line]
    codes = _OUR_SGR_RE.findall(line) if color else []
    out, visible, cut = [], 0, False
    for i, text in enumerate(parts):
        if cut:
            text = ""
        elif visible + len(text) > width:
            text = text[: max(0, width - visible - 1)] + "…"
            cut = True
        visible += len(text)
        out.append(text)
        if i < len(codes):
            out.append(codes[i])
    return "".join(out)


def _finish(lines: List[str], opts: ReportOptions) -> str:
    """Escape control characters from the dump (keeping our colour codes), then cut lines
    to the terminal width. Done once over the whole text: a summary of 20,000 clusters has
    a million lines."""
    text = "\n".join(lines) + "\n"
    if opts.color:
        parts = _OUR_SGR_RE.split(text)
        codes = _OUR_SGR_RE.findall(text) + [""]
        text = "".join(_escape_controls(p) + c for p, c in zip(parts, codes))
    else:
        text = _escape_controls(text)
    if opts.width:
        text = "\n".join(_clip(line, opts.color, opts.width) if len(line) > opts.width else line
                         for line in text.split("\n"))
    return text


def _layout_width(opts: ReportOptions) -> int:
    return max(60, opts.width or LAYOUT_WIDTH)


def _plural(n: int, noun: str) -> str:
    return "%s %s" % ("{:,}".format(n), noun if n == 1 else noun + "s")


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
    """Function and file:line side by side; a function too long for its column keeps its
    full name and puts file:line on the next line, as the runtime prints it."""
    out = []
    if c.unavailable:
        out.append(indent + paint("(stack unavailable: running on another thread)", "dim"))
    column = max([len(f.function) for f in c.frames] + [10])
    side_by_side = all(len(indent) + column + 2 + len(f.location) <= width for f in c.frames)
    for f in c.frames:
        fn = paint(f.function, "bold") if f.is_user else f.function
        if side_by_side:
            out.append("%s%s%s  %s" % (indent, fn, " " * (column - len(f.function)), paint(f.location, "dim")))
        else:
            out.append(indent + fn)
            out.append(indent + "    " + paint(f.location, "dim"))
    if c.elided:
        out.append(indent + paint("... " + c.elided_text, "dim"))
    if c.truncated:
        out.append(indent + paint("... stack cut off in the dump", "yellow"))
    if c.created_by:
        line = "%screated by %s" % (indent, c.created_by.function)
        if len(line) + 2 + len(c.created_by.location) <= width:
            out.append("%s  %s" % (line, paint(c.created_by.location, "dim")))
        else:
            out.append(line)
            out.append(indent + "    " + paint(c.created_by.location, "dim"))
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


def render_summary(view: SummaryView, options: Optional[ReportOptions] = None) -> str:
    opts = options or ReportOptions()
    width = _layout_width(opts)
    paint = _Paint(opts.color)
    out: List[str] = []
    out.append(paint("goleak summary", "bold") + ": %s in %s (similarity: %s)" % (
        _plural(view.total, "goroutine"), _plural(len(view.clusters), "cluster"), view.similarity))
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
        listed = view.suspects[: opts.top or 10]
        count_w = max(len(_n(c.count)) for c in listed)
        state_w = min(24, max(len(c.state_text + (", " + c.wait_text if c.wait_text else "")) for c in listed))
        for c in listed:
            state = c.state_text + (", " + c.wait_text if c.wait_text else "")
            out.append("%3d. %s  %s  %s" % (c.suspect_rank or 0, paint(_n(c.count).rjust(count_w), "bold"),
                                           state.ljust(state_w), paint(c.title, "bold")))
            out.append("     why: " + "; ".join(c.suspect_reasons))
            if c.where:
                out.append("     look at: %s  %s" % (c.where.function, paint(c.where.location, "dim")))
            if c.created_by:
                out.append("     created by: %s  %s" % (c.created_by.function, paint(c.created_by.location, "dim")))
            out.append(paint("     id: %s" % c.id, "dim"))
        if len(view.suspects) > len(listed):
            out.append("     … and %s (see --top, or --format html/json)" % _plural(len(view.suspects) - len(listed),
                                                                              "more suspect"))
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
    return _finish(out, opts)


def _verdict_style(verdict: str) -> str:
    return {"leak": "bold red", "draining": "yellow", "transient": "cyan", "noise": "dim"}.get(verdict, "")


def render_compare(view: CompareView, options: Optional[ReportOptions] = None) -> str:
    """Suspects first (where to look, who spawned them), then every stack with its counts."""
    opts = options or ReportOptions()
    width = _layout_width(opts)
    paint = _Paint(opts.color)
    out: List[str] = []
    out.append(paint("goleak compare", "bold") + ": %d snapshots, %s stacks, %s (%s)" % (
        len(view.phases), _n(len(view.clusters)), paint("%d leak%s" % (view.leaks, "" if view.leaks == 1 else "s"),
                                                         "bold red" if view.leaks else "green"), view.settings_text))
    name_w = max(len(p.name) for p in view.phases)
    source_w = min(width // 2, max(len(p.source) for p in view.phases))
    total_w = max(len(_n(p.total)) for p in view.phases)
    for p in view.phases:
        out.append("  %s  %s  %s  %s goroutines" % (p.name.ljust(name_w), _fit(p.source, source_w).ljust(source_w),
                                                   p.format.ljust(7), _n(p.total).rjust(total_w)))
    if view.ignored_text:
        out.append(paint("  hidden by ignore rules (per snapshot): " + _fit(view.ignored_text, width - 42), "dim"))
    out.append("  verdicts: " + view.verdicts_text)
    for note in view.notes:
        out.extend(textwrap.wrap(note, width - 2, initial_indent="  note: ", subsequent_indent="        "))
    for w in view.warnings:
        out.append(paint("warning: ", "yellow") + _fit(w, width - 9))

    if view.suspects:
        out.append("")
        out.append(paint("Suspects", "bold red") + " (most likely leaks first)")
        for c in view.suspects[: opts.top or 10]:
            flags = "  [%s]" % c.flags_text if c.flags_text else ""
            out.append("%3d. %s  %s (%s)  %s%s" % (c.suspect_rank, paint(c.title, "bold"), c.series_text, c.delta_text,
                                                  c.state or "?", paint(flags, "yellow")))
            out.append("     why: " + "; ".join(c.suspect_reasons))
            if c.cluster.where:
                out.append("     look at: %s  %s" % (c.cluster.where.function, paint(c.cluster.where.location, "dim")))
            if c.cluster.created_by:
                out.append("     created by: %s  %s" % (c.cluster.created_by.function,
                                                        paint(c.cluster.created_by.location, "dim")))
            out.append("     id: %s" % c.id)

    out.append("")
    out.append(paint("Stacks", "bold") + " (leaks first%s)" % (
        ", top %d of %d" % (len(view.shown), len(view.clusters)) if len(view.shown) < len(view.clusters) else ""))
    count_w = [max(len(p.name), max([len(c.counts_text[i]) for c in view.shown] + [1]))
               for i, p in enumerate(view.phases)]
    verdict_w = max([len("verdict")] + [len(c.verdict) for c in view.shown])
    delta_w = max([len("delta")] + [len(c.delta_text) for c in view.shown])
    state_w = min(22, max([len("state")] + [len(c.state or "?") for c in view.shown]))
    head = "  %s  %s  %s  %s  %s" % ("verdict".ljust(verdict_w), "  ".join(p.name.rjust(w) for p, w in zip(
        view.phases, count_w)), "delta".rjust(delta_w), "state".ljust(state_w), "function")
    out.append(paint(head, "dim"))
    for c in view.shown:
        extra = ", ".join(x for x in (c.flags_text, c.match_text) if x)
        row = "  %s  %s  %s  %s  %s" % (
            paint(c.verdict.ljust(verdict_w), _verdict_style(c.verdict)),
            "  ".join(t.rjust(w) for t, w in zip(c.counts_text, count_w)),
            c.delta_text.rjust(delta_w), _fit(c.state or "?", state_w).ljust(state_w), c.title)
        out.append(row + (paint("  [%s]" % extra, "yellow") if extra else ""))

    if view.suspects:
        out.append("")
        out.append(paint("Stacks of the suspects", "bold"))
        for c in view.suspects[: opts.top or 10]:
            out.append("")
            out.append("%3d. %s  %s" % (c.suspect_rank, c.series_text, c.cluster.state_text))
            if c.cluster.labels_text:
                out.append("      labels: " + _fit(c.cluster.labels_text, width - 14))
            out.extend(render_stack(c.cluster, width, paint))
    return _finish(out, opts)


# One renderer per view type (cli.py never branches on the command or the format).
_RENDERERS: Dict[type, Callable[..., str]] = {
    SummaryView: render_summary,
    CompareView: render_compare,
}


def register(view_type: type, renderer: Callable[..., str]) -> None:
    """Another command's view (gate, watch: report/gate_report.py) adds its text renderer."""
    _RENDERERS[view_type] = renderer


def render(view, options: Optional[ReportOptions] = None) -> str:
    return _RENDERERS[type(view)](view, options)
