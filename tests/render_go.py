"""Print goroutines the way Go prints them, for tests that generate dumps.

Written from the Go sources, not from goleak's parser, so a round trip through goleak is a
real check:

* debug=2: runtime/traceback.go goroutineheader (status, " (leaked)", waits, "locked to
  thread", synctest bubble, labels quoted by tracebackStringNeedsQuoting/printquoted in
  runtime/print.go), traceback2 (`name(args)` then `\\tfile:line +0xoff`, `(...)` and no
  offset for inlined frames, fp/sp/pc at GOTRACEBACK>=system), printArgs (hex values,
  `0x1?` for dead values, `{...}` aggregates, `...`, `_`), "...N frames elided...",
  printcreatedby1 (`created by F in goroutine N`) and printAncestorTraceback.
* debug=1: runtime/pprof/pprof.go printCountProfile/printStackRecord through a
  text/tabwriter with padchar '\\t' (minwidth 1, tabwidth 8, padding 1), label sets
  printed by labelMap.String (`%q:%q` pairs, sorted, joined by ", ").
"""
import unicodedata
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple


@dataclass(frozen=True)
class GoFrame:
    function: str
    file: str
    line: int
    args: str = ""  # the text printArgs wrote; ignored when inlined
    inlined: bool = False
    offset: int = 0x1d


@dataclass(frozen=True)
class GoAncestor:
    goroutine_id: int
    frames: Tuple[GoFrame, ...]


@dataclass(frozen=True)
class GoGoroutine:
    id: int
    status: str  # the wait reason or status string
    frames: Tuple[GoFrame, ...]
    leaked: bool = False
    scan: bool = False
    wait_minutes: int = 0
    locked: bool = False
    bubble: Optional[int] = None
    labels: Tuple[Tuple[str, str], ...] = ()  # in label.Set order (sorted by key)
    created_by: Optional[GoFrame] = None
    parent_id: int = 0  # 0: Go before 1.21 printed no "in goroutine N"
    # (position among frames, count): "...N frames elided..." after that many frames;
    # count -1 prints the pre-1.21 "...additional frames elided...".
    elided: Optional[Tuple[int, int]] = None
    unavailable: bool = False  # "goroutine running on other thread; stack unavailable"
    ancestors: Tuple[GoAncestor, ...] = ()


# -- runtime/traceback.go: labels in a goroutine header ---------------------------------
def traceback_needs_quoting(s: str) -> bool:
    return any(not (c.isascii() and (c.isalnum() or c in "./_")) for c in s)


def runtime_quoted(s: str) -> str:
    """runtime.printquoted: only printable ASCII stays as is."""
    out = ['"']
    for c in s:
        r = ord(c)
        if c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c in '\\"':
            out.append("\\" + c)
        elif 0x20 <= r <= 0x7E:
            out.append(c)
        else:
            # The runtime's printer writes DEL (0x7f) as \u007f, strconv as \x7f.
            out.append(_hex_escape(r, byte_below=0x7F))
    out.append('"')
    return "".join(out)


def _hex_escape(r: int, byte_below: int) -> str:
    if r < byte_below:
        return "\\x%02x" % r
    return "\\u%04x" % r if r < 0x10000 else "\\U%08x" % r


def traceback_label(s: str) -> str:
    return runtime_quoted(s) if traceback_needs_quoting(s) else s


# -- strconv.Quote, as fmt's %q uses it (debug=1 label sets) ----------------------------
_SHORT = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
          "\\": "\\\\", '"': '\\"'}


def _go_is_print(c: str) -> bool:
    # unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    if c == " ":
        return True
    return unicodedata.category(c)[0] in "LMNPS"


def strconv_quote(s: str) -> str:
    out = ['"']
    for c in s:
        r = ord(c)
        if c in _SHORT:
            out.append(_SHORT[c])
        elif _go_is_print(c):
            out.append(c)
        else:
            out.append(_hex_escape(r, byte_below=0x80))
    out.append('"')
    return "".join(out)


# -- debug=2 ----------------------------------------------------------------------------
def goroutine_header(g: GoGoroutine, system: bool = False) -> str:
    parts = ["goroutine %d" % g.id]
    if system:
        # GOTRACEBACK=system and above print the g and m pointers.
        parts.append(" gp=0x%x m=%s" % (0xc000002380 + g.id * 0x1a0, "nil" if g.id % 3 == 0 else
                                         "%d mp=0x%x" % (g.id % 7, 0x5a1b20 + g.id)))
    parts.append(" [" + g.status)
    if g.leaked:
        parts.append(" (leaked)")
    if g.scan:
        parts.append(" (scan)")
    if g.wait_minutes >= 1:
        parts.append(", %d minutes" % g.wait_minutes)
    if g.locked:
        parts.append(", locked to thread")
    if g.bubble is not None:
        parts.append(", synctest bubble %d" % g.bubble)
    parts.append("]")
    if g.labels:
        parts.append(" {" + ", ".join("%s: %s" % (traceback_label(k), traceback_label(v)) for k, v in g.labels) + "}")
    parts.append(":")
    return "".join(parts)


def frame_lines(f: GoFrame, system: bool = False) -> List[str]:
    call = "%s(%s)" % (f.function, "..." if f.inlined else f.args)
    where = "\t%s:%d" % (f.file, f.line)
    if not f.inlined:
        where += " +0x%x" % f.offset
        if system:
            where += " fp=0x%x sp=0x%x pc=0x%x" % (0xc000050f80, 0xc000050f60, 0x46b0e1 + f.offset)
    return [call, where]


def goroutine_stanza(g: GoGoroutine, system: bool = False) -> List[str]:
    lines = [goroutine_header(g, system)]
    if g.unavailable:
        lines.append("\tgoroutine running on other thread; stack unavailable")
    for i, f in enumerate(g.frames):
        if g.elided is not None and g.elided[0] == i:
            lines.append(_elided_line(g.elided[1]))
        lines.extend(frame_lines(f, system))
    if g.elided is not None and g.elided[0] >= len(g.frames):
        lines.append(_elided_line(g.elided[1]))
    if g.created_by is not None:
        c = g.created_by
        lines.append("created by %s%s" % (c.function, " in goroutine %d" % g.parent_id if g.parent_id else ""))
        lines.append("\t%s:%d +0x%x" % (c.file, c.line, c.offset))
    for a in g.ancestors:
        lines.append("[originating from goroutine %d]:" % a.goroutine_id)
        for f in a.frames:
            lines.append("%s(...)" % f.function)
            lines.append("\t%s:%d +0x%x" % (f.file, f.line, f.offset))
    return lines


def _elided_line(n: int) -> str:
    return "...additional frames elided..." if n < 0 else "...%d frames elided..." % n


def render_debug2(goroutines: Sequence[GoGoroutine], system: bool = False, prefix: str = "",
                  newline: str = "\n") -> str:
    """What /debug/pprof/goroutine?debug=2 (runtime.Stack(buf, true)) writes: stanzas
    separated by one blank line, every line ending in a newline."""
    out: List[str] = []
    for i, g in enumerate(goroutines):
        if i:
            out.append(prefix.rstrip() if prefix else "")
        out.extend(prefix + line for line in goroutine_stanza(g, system))
    return "".join(line + newline for line in out)


# -- debug=1 ----------------------------------------------------------------------------
@dataclass(frozen=True)
class GoRecord:
    count: int
    frames: Tuple[GoFrame, ...]  # function/file/line only; pc and offset made up
    labels: Tuple[Tuple[str, str], ...] = ()
    pc_only: Tuple[int, ...] = ()  # positions of frames printed as a bare PC (no symbol)


def label_set_string(labels: Sequence[Tuple[str, str]]) -> str:
    pairs = sorted("%s:%s" % (strconv_quote(k), strconv_quote(v)) for k, v in labels)
    return "{" + ", ".join(pairs) + "}"


def render_debug1(records: Sequence[GoRecord], profile: str = "goroutine") -> str:
    """printCountProfile(debug=1): records by count, largest first (the caller orders
    them), each frame line aligned by a tabwriter that pads with tabs."""
    total = sum(r.count for r in records)
    lines = ["%s profile: total %d" % (profile, total)]
    for r in records:
        pcs = " ".join("0x%x" % (0x401000 + 0x10 * i + r.count) for i in range(len(r.frames) + 1))
        lines.append("%d @ %s" % (r.count, pcs))
        if r.labels:
            lines.append("# labels: " + label_set_string(r.labels))
        for i, f in enumerate(r.frames):
            pc = 0x4a0000 + 0x40 * i + f.offset
            if i in r.pc_only:
                lines.append("#\t0x%x" % pc)
            else:
                lines.append("#\t0x%x\t%s+0x%x\t%s:%d" % (pc, f.function, f.offset, f.file, f.line))
        lines.append("")
    return tabwriter("\n".join(lines) + "\n")


def tabwriter(text: str, minwidth: int = 1, tabwidth: int = 8, padding: int = 1) -> str:
    """text/tabwriter with padchar '\\t' and no flags: cells are tab-terminated; a column
    block is a run of consecutive lines that have a cell in that column; cells are
    padded with tabs to the block's width rounded up to a multiple of tabwidth."""
    lines = [line.split("\t") for line in text.split("\n")]
    widths: List[int] = []
    out: List[str] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            buf = []
            for j, c in enumerate(cells):
                buf.append(c)
                if j < len(widths):
                    # a tab-terminated cell, padded to its column block's width
                    cellw = (widths[j] + tabwidth - 1) // tabwidth * tabwidth
                    buf.append("\t" * ((cellw - len(c) + tabwidth - 1) // tabwidth))
            out.append("".join(buf))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                w = len(lines[this][column]) + padding
                width = max(width, w)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out)
