"""Read goroutine text: debug=2 dumps, debug=1 profiles, crashes and the logs around them.

Two paths share one reader:

* `TextReader` is the reference: a line-by-line state machine that accepts every shape in
  lines.py, per-line prefixes (log timestamps, indentation), crash preambles, race reports
  and partial stanzas. It is exact and tolerant, and about 20 MB/s.
* `BlockReader` is the fast path for the stanzas a Go runtime prints verbatim (the bulk of
  any large dump). It splits text at blank lines, recognises a canonical stanza with a few
  C-level bytes operations, and tallies it under a key made of its `file:line +0xoff`
  lines, reading each distinct key's frames once (by position: a row already met in this
  dump gives its Frame without being parsed again). Anything that is not canonical goes to
  the reference reader, so both paths give identical groups (tests/test_fastpath.py proves
  it on every fixture).
"""
import operator
import re
from typing import Callable, List, Optional, Tuple

from goleak.model import Ancestor, Frame, Goroutine, Stack, intern_frame
from goleak.parse import lines as L
from bisect import insort

from goleak.model import MAX_SAMPLE_IDS
from goleak.parse.build import HeaderCount, SnapshotBuilder

# runtime/pprof writeGoroutineStacks gives up growing its buffer at 64 MiB and writes a
# truncated dump: a file of exactly this size is almost certainly cut off.
GO_DEBUG2_CAP = 64 << 20
INVALID_UTF8 = "invalid UTF-8; decoded with replacement characters"

IDLE, FRAMES, FILE, CREATED_FILE, SKIP_FILE, RUNTIME_STACK, RACE, RECORD = range(8)

_DIGITS = re.compile(r"[0-9]")
_LAST_BYTE = operator.itemgetter(-1)
_CLOSE_PAREN = {41}  # ")": the last byte of every function row


def _shape(s: str) -> str:
    return _DIGITS.sub("0", s)


def _is_function_line(text: str) -> bool:
    # `pkg.Func(args)`: ends in ")", and the name before the final "(" has no blank in it,
    # which tells a frame from a log line that happens to end in ")".
    if not text.endswith(")"):
        return False
    open_at = text.rfind("(")
    if open_at <= 0:
        return False
    name = text[:open_at]
    return not any(c in name for c in " \t")


class _Pending:
    """The goroutine being read."""

    __slots__ = ("id", "fields", "frames", "created_by", "parent", "elided", "ancestors",
                 "anc_id", "anc_frames", "line", "func", "truncated", "unavailable")

    def __init__(self, gid: int, fields: L.HeaderFields, line: int):
        self.id = gid
        self.fields = fields
        self.frames: List[Frame] = []
        self.created_by: Optional[Frame] = None
        self.parent: Optional[int] = None
        self.elided = 0
        self.ancestors: List[Ancestor] = []
        self.anc_id: Optional[int] = None
        self.anc_frames: List[Frame] = []
        self.line = line
        self.func: Optional[Frame] = None  # a function line waiting for its file line
        self.truncated = False
        self.unavailable = False


class TextReader:
    """The reference reader. Feed it text; it fills SnapshotBuilders.

    `on_goroutine`, when given, receives each Goroutine instead of the builder (the fast
    path uses that to parse one representative stanza).
    """

    def __init__(self, keep_args: bool = False, on_goroutine: Optional[Callable[[Goroutine], None]] = None):
        self.keep_args = keep_args
        self.on_goroutine = on_goroutine
        self.snapshots: List[SnapshotBuilder] = []
        self.cur: Optional[SnapshotBuilder] = None
        self.mode = IDLE
        self.g: Optional[_Pending] = None
        self.prefix = ""
        self.prefix_shape = ""
        self.gap = False
        self.thread_section = False
        self.other_profile: Optional[str] = None  # "threadcreate", "heap"...: skip its records
        self.crash_pending: Optional[str] = None
        self.record_count = 0
        self.record_frames: List[Frame] = []
        self.record_labels: Tuple = ()
        self.record_line = 0
        # Set whenever the reader saw anything: the fast path then lets it decide whether a
        # stanza opens a new snapshot.
        self.dirty = True
        self.lineno = 0
        # The last line read outside any goroutine, when it is not a header: (line, id if it
        # starts like a header else 0, gap before it, looks like a cut-off header). Frames
        # right after it make it their goroutine's damaged header; at the end of the input
        # a cut-off header is counted.
        self.damaged: Optional[Tuple[int, int, bool, bool]] = None
        # A function line read outside any goroutine: (line, frame, damaged header before
        # it, gap before it). An indented file line next proves it a frame.
        self.orphan: Optional[tuple] = None

    # -- snapshots -----------------------------------------------------------------
    def _new_snapshot(self, fmt: str, profile: str = "goroutine", declared: Optional[int] = None) -> SnapshotBuilder:
        b = SnapshotBuilder(fmt, profile, declared)
        b.started_new = True
        self.snapshots.append(b)
        self.cur = b
        return b

    def _snapshot_for_goroutine(self) -> SnapshotBuilder:
        cur = self.cur
        if cur is not None and cur.format == "race" and not cur.has_goroutines():
            cur.format = "debug=2"
        if cur is None or cur.format == "debug=1" or (self.gap and cur.has_goroutines()):
            fmt = "crash" if self.crash_pending else "debug=2"
            cur = self._new_snapshot(fmt)
            # A parse child that starts mid-file does not know what came before: its first
            # snapshot continues the previous range's unless something started a dump.
            cur.started_new = bool(self.crash_pending) or len(self.snapshots) > 1 or self.gap
            if self.crash_pending:
                cur.crash_reason = self.crash_pending
                self.crash_pending = None
        self.gap = False
        return cur

    def note_goroutine_block(self) -> SnapshotBuilder:
        """The fast path is about to tally a stanza: close what is open, pick the snapshot."""
        if self.mode != IDLE:
            self._end_mode()
        self.dirty = False
        self.damaged = self.orphan = None
        return self._snapshot_for_goroutine()

    def warn(self, line: Optional[int], message: str) -> None:
        target = self.cur
        if target is None:
            target = self._new_snapshot("debug=2")
            target.started_new = False
        target.warnings.append((line, message))

    # -- feeding -------------------------------------------------------------------
    def feed(self, text: str, first_line: int) -> None:
        self.dirty = True
        lineno = first_line - 1
        for raw in text.split("\n"):
            lineno += 1
            self.lineno = lineno
            self._line(raw[:-1] if raw.endswith("\r") else raw, lineno)

    def finish(self) -> List[SnapshotBuilder]:
        self._end_mode(at_eof=True)
        if self.damaged is not None and self.mode == IDLE:
            self._count_cut_header()
        return self.snapshots

    def _strip(self, raw: str) -> str:
        p = self.prefix
        if not p:
            return raw
        if raw.startswith(p):
            return raw[len(p):]
        n = len(p)
        if len(raw) >= n and _shape(raw[:n]) == self.prefix_shape:
            return raw[n:]
        if len(raw) < n and _shape(raw) == self.prefix_shape.rstrip():
            # The prefix alone with its trailing blank trimmed (a logger's empty line, or a
            # copy that lost trailing whitespace): the blank line between two stanzas.
            return ""
        return raw

    def _line(self, raw: str, lineno: int) -> None:
        mode = self.mode
        if mode == IDLE:
            self._idle(raw, lineno)
            return
        if mode == RACE:
            if L.RACE_END_RE.match(raw):
                self.mode = IDLE
            return
        if mode == RUNTIME_STACK:
            # System-stack frames of a crash belong to no goroutine; a blank line ends them.
            s = self._strip(raw)
            if not s.strip():
                self.mode = IDLE
            elif L.search_header(s):
                self.mode = IDLE
                self._idle(raw, lineno)
            return
        if mode == RECORD:
            self._record_line(raw, lineno)
            return
        self._goroutine_line(self._strip(raw), raw, lineno)

    def _idle(self, raw: str, lineno: int) -> None:
        s = raw.strip()
        if not s:
            return
        damaged, self.damaged = self.damaged, None
        orphan, self.orphan = self.orphan, None
        indented = raw[0] in " \t"
        m = L.search_header(raw)
        if m:
            self._start_goroutine(m, raw, lineno)
            return
        # "goroutine 48 [chan rec" (cut off) or "goroutine 4x [select]:" (damaged) is not a
        # header, but its goroutine is not to be lost: see _orphan_frames, _count_cut_header.
        m = L.HEADER_START_RE.match(s)
        self.damaged = (lineno, int(m.group(1)) if m else 0, self.gap, bool(m and m.group(2) is not None))
        m = L.PROFILE_HEADER_RE.search(raw)
        if m:
            self.other_profile = None
            profile = m.group(1)
            self._new_snapshot("debug=1", profile, int(m.group(2)))
            self.gap = False
            return
        if L.RECORD_RE.match(s):
            if self.other_profile:
                return
            self._start_record(s, lineno)
            return
        m = L.OTHER_PROFILE_RE.match(s)
        if m:
            # Records of a threadcreate or heap profile look like goroutine records.
            self.other_profile = m.group(1)
            return
        if s == L.RUNTIME_STACK or raw.endswith(L.RUNTIME_STACK):
            self.mode = RUNTIME_STACK
            self.prefix = raw[: len(raw) - len(raw.lstrip())]
            self.prefix_shape = _shape(self.prefix)
            return
        if s.endswith(L.RACE_START):
            if self.cur is None:
                self._new_snapshot("race").started_new = False
            self.cur.race_reports += 1
            self.mode = RACE
            return
        if s == L.THREAD_SEPARATOR:
            # GOTRACEBACK=crash: after the dump, each other thread prints "-----", its own
            # "SIGQUIT: quit" and its scheduler stack. Same crash, same snapshot.
            self.thread_section = True
            return
        if L.CRASH_DETAIL_RE.match(s):
            return
        m = L.CRASH_RE.search(raw)
        if m and (m.start() == 0 or raw[: m.start()].strip() == "" or m.start() < 40):
            reason = raw[m.start():].strip()
            if self.thread_section:
                return
            if self.cur is not None and self.cur.has_goroutines():
                self.crash_pending = reason
                self.gap = True
            elif self.cur is not None:
                if self.cur.crash_reason is None:
                    self.cur.crash_reason = reason
                    self.cur.format = "crash" if self.cur.format == "debug=2" else self.cur.format
            elif self.crash_pending is None:
                # The first line says what happened; "[signal ...]" and "goroutine N gp=..."
                # details follow it.
                self.crash_pending = reason
            return
        if self._orphan_frames(s, raw, lineno, indented, damaged, orphan):
            return
        if indented or L.CRASH_DETAIL_RE.match(s) or L.CRASH_DETAIL_RE.match(raw):
            # Indented lines are stack or report detail, never the log text that separates
            # two dumps.
            return
        self.gap = True
        self.thread_section = False

    # -- goroutines whose header is damaged or cut off ---------------------------------
    def _orphan_frames(self, s: str, raw: str, lineno: int, indented: bool, damaged, orphan) -> bool:
        """Frames outside any goroutine: their header line was damaged or cut out. Count
        them as one goroutine in an unknown state, with a warning, rather than lose it
        (and rather than let the damaged line split the dump in two).

        A frame is proven by its pair, `pkg.F(...)` then an indented `file:line`, or by an
        indented `file:line +0x1d` (an offset only a Go traceback prints).
        """
        if not indented:
            if _is_function_line(s):
                before = damaged if damaged is not None and damaged[0] == lineno - 1 else None
                self.orphan = (lineno, L.parse_function_line(s, self.keep_args), before, self.gap)
            return False
        fl = L.parse_file_line(raw)
        if fl is None:
            return False
        if orphan is not None and orphan[0] == lineno - 1:
            line, func, before, gap = orphan
            frame = Frame(func.function, fl[0], fl[1], func.args)
        elif " +0x" in raw:
            line, gap = lineno, self.gap
            before = damaged if damaged is not None and damaged[0] == lineno - 1 else None
            frame = Frame("?", fl[0], fl[1])
        else:
            return False
        gid = 0
        if before is not None and before[1]:
            # The damaged line above was this goroutine's header: keep its id, and the gap
            # state from before it.
            line, gid, gap, _ = before
            self.warn(line, "goroutine %d: unreadable header line; its stack is counted as a goroutine "
                            "in an unknown state" % gid)
        else:
            if before is not None:
                # Most likely the header, damaged beyond recognition: it is no gap between dumps.
                gap = before[2]
            self.warn(line, "stack frames with no goroutine header before them (a missing or damaged "
                            "header line?); counted as one goroutine in an unknown state")
        self.gap = gap
        self.prefix = self.prefix_shape = ""
        self.g = _Pending(gid, L.HeaderFields(L.UNKNOWN_STATE, None, False, False, None, ()), line)
        self.g.frames.append(frame)
        self.mode = FRAMES
        return True

    def _count_cut_header(self) -> None:
        """The input ended (blank lines aside) right after a line that starts like a header:
        a dump cut off inside it. The goroutine existed; count it, with no stack."""
        line, gid, gap, cut = self.damaged
        self.damaged = None
        if not cut:
            return
        self.warn(line, "goroutine %d: the input ends inside its header (truncated dump?); counted in an "
                        "unknown state without a stack" % gid)
        self.gap = gap
        goroutine = Goroutine(id=gid, state=L.UNKNOWN_STATE, stack=Stack((), truncated=True), line=line)
        if self.on_goroutine is not None:
            self.on_goroutine(goroutine)
        else:
            self._snapshot_for_goroutine().add_goroutine(goroutine)

    # -- debug=2 stanzas -----------------------------------------------------------
    def _start_goroutine(self, m: "re.Match", raw: str, lineno: int) -> None:
        fields = L.parse_bracket(m.group(2), m.group(3))
        if fields is None:
            # The labels after the bracket did not read; keep the goroutine, drop them.
            fields = L.parse_bracket(m.group(2), None)
            self.warn(lineno, "could not read the labels in this goroutine header; kept the goroutine without them")
        prefix = raw[: m.start()]
        self.prefix = prefix
        self.prefix_shape = _shape(prefix)
        self.g = _Pending(int(m.group(1)), fields, lineno)
        self.mode = FRAMES

    def _goroutine_line(self, s: str, raw: str, lineno: int) -> None:
        g = self.g
        mode = self.mode
        if mode == FILE:
            fl = L.parse_file_line(s)
            if fl is not None:
                f = g.func
                self._add_frame(Frame(f.function, fl[0], fl[1], f.args))
                g.func = None
                self.mode = FRAMES
                return
            self.warn(lineno, "expected a `file:line` line after the frame `%s`; kept the frame without it" % g.func.function)
            self._add_frame(g.func)
            g.func = None
            self.mode = FRAMES
            self._goroutine_line(s, raw, lineno)
            return
        if mode == SKIP_FILE:
            self.mode = FRAMES
            if L.parse_file_line(s) is not None:
                return
            self._goroutine_line(s, raw, lineno)
            return
        if mode == CREATED_FILE:
            fl = L.parse_file_line(s)
            if fl is not None:
                c = g.created_by
                g.created_by = Frame(c.function, fl[0], fl[1])
                self.mode = FRAMES
                return
            self.warn(lineno, "expected the `file:line` of `created by %s`; kept it without one" % g.created_by.function)
            self.mode = FRAMES
            self._goroutine_line(s, raw, lineno)
            return
        # FRAMES: what may follow a header or a complete frame.
        if not s.strip():
            self._end_goroutine()
            return
        if s[0] in " \t":
            body = s.strip()
            if body == L.UNAVAILABLE:
                g.unavailable = True
                return
            fl = L.parse_file_line(s)
            if fl is not None:
                self.warn(lineno, "a `file:line` line with no function line before it; kept as an unnamed frame")
                self._add_frame(Frame("?", fl[0], fl[1]))
                return
            self._end_goroutine()
            self._line(raw, lineno)
            return
        if s.startswith("created by "):
            m = L.CREATED_BY_RE.match(s)
            if m:
                if g.anc_id is None:
                    g.created_by = Frame(m.group(1))
                    g.parent = int(m.group(2)) if m.group(2) else None
                    self.mode = CREATED_FILE
                else:
                    # An ancestor's creator: its file line follows and is skipped as well.
                    self.mode = SKIP_FILE
                return
        m = L.ELIDED_RE.match(s)
        if m:
            n = int(m.group(1)) if m.group(1) else -1
            if g.anc_id is not None:
                return
            g.elided = n if g.elided == 0 else (g.elided + n if n > 0 and g.elided > 0 else -1)
            return
        m = L.ANCESTOR_RE.match(s)
        if m:
            self._close_ancestor()
            g.anc_id = int(m.group(1))
            return
        if _is_function_line(s):
            g.func = L.parse_function_line(s, self.keep_args)
            self.mode = FILE
            return
        if s.startswith("goroutine ") or L.search_header(raw):
            self._end_goroutine()
            self._line(raw, lineno)
            return
        if not any(c in s for c in " \t"):
            # One word where a frame belongs (`main.main)(`): a damaged frame line, not
            # the log text that follows a dump (log lines have blanks in them).
            self.warn(lineno, "goroutine %d: unreadable frame line %r; kept as a frame with that name"
                      % (g.id, s[:80]))
            g.func = Frame(s)
            self.mode = FILE
            return
        # Something else (a log line, a crash detail): the stanza is over.
        self._end_goroutine()
        self._line(raw, lineno)

    def _add_frame(self, frame: Frame) -> None:
        g = self.g
        if g.anc_id is not None:
            g.anc_frames.append(frame)
        else:
            g.frames.append(frame)

    def _close_ancestor(self) -> None:
        g = self.g
        if g.anc_id is not None:
            g.ancestors.append(Ancestor(g.anc_id, tuple(g.anc_frames)))
            g.anc_id = None
            g.anc_frames = []

    def _end_goroutine(self, at_eof: bool = False) -> None:
        g = self.g
        if g is None:
            self.mode = IDLE
            return
        if g.func is not None:
            # The text ended between a frame and its file line: keep what was read.
            self._add_frame(g.func)
            g.func = None
            g.truncated = True
            self.warn(g.line, "goroutine %d: the stack ends inside a frame (truncated dump?); counted with the %d frames read"
                      % (g.id, len(g.frames)))
        elif not g.frames and not g.unavailable and g.created_by is None:
            g.truncated = True
            self.warn(g.line, "goroutine %d: no stack frames after its header; counted without a stack" % g.id)
        self._close_ancestor()
        f = g.fields
        goroutine = Goroutine(
            id=g.id,
            state=f.state,
            stack=Stack(tuple(g.frames), g.created_by, g.elided, g.truncated, g.unavailable),
            wait_minutes=f.wait,
            leaked=f.leaked,
            locked_to_thread=f.locked,
            labels=f.labels,
            parent_id=g.parent,
            ancestors=tuple(g.ancestors),
            synctest_bubble=f.bubble,
            line=g.line,
        )
        self.g = None
        self.mode = IDLE
        if self.on_goroutine is not None:
            self.on_goroutine(goroutine)
        else:
            self._snapshot_for_goroutine().add_goroutine(goroutine)

    # -- debug=1 records -----------------------------------------------------------
    def _start_record(self, s: str, lineno: int) -> None:
        if self.cur is None or self.cur.format != "debug=1":
            b = self._new_snapshot("debug=1")
            b.started_new = len(self.snapshots) > 1
        self.record_count = int(s.split(" ", 1)[0])
        self.record_frames = []
        self.record_labels = ()
        self.record_line = lineno
        self.mode = RECORD

    def _record_line(self, raw: str, lineno: int) -> None:
        s = raw.strip()
        if not s:
            self._end_record()
            return
        if s.startswith(L.RECORD_LABELS_PREFIX.strip()):
            text = s[len(L.RECORD_LABELS_PREFIX.strip()):].strip()
            labels = L.parse_labels(text)
            if labels is None:
                self.warn(lineno, "could not read the labels of this record; kept its goroutines without them")
            else:
                self.record_labels = labels
            return
        m = L.RECORD_FRAME_RE.match(s)
        if m:
            self.record_frames.append(Frame(m.group(1), m.group(2), int(m.group(3))))
            return
        if L.RECORD_PC_ONLY_RE.match(s):
            self.record_frames.append(Frame("?"))
            return
        # Not a record line: the record is over; read the line afresh.
        self._end_record()
        self._line(raw, lineno)

    def _end_record(self) -> None:
        self.mode = IDLE
        cur = self.cur
        leaked = cur.profile == "goroutineleak"
        cur.add_record(self.record_count, Stack(tuple(self.record_frames)), self.record_labels, leaked)

    def _end_mode(self, at_eof: bool = False) -> None:
        if self.mode in (FRAMES, FILE, CREATED_FILE, SKIP_FILE):
            if self.mode in (CREATED_FILE, SKIP_FILE):
                self.mode = FRAMES
            self._end_goroutine(at_eof=at_eof)
        elif self.mode == RECORD:
            self._end_record()
        self.mode = IDLE


def parse_goroutine_text(text: str, keep_args: bool) -> Optional[Goroutine]:
    """Read one canonical stanza; None unless it is exactly one goroutine read cleanly."""
    found: List[Goroutine] = []
    r = TextReader(keep_args, on_goroutine=found.append)
    r.feed(text, 1)
    r.finish()
    if len(found) != 1 or r.snapshots:
        return None
    g = found[0]
    if g.stack.truncated or g.ancestors:
        return None
    return g


class BlockReader:
    """The fast path: canonical stanzas tallied by their raw text, the rest to TextReader."""

    def __init__(self, keep_args: bool = False):
        self.keep_args = keep_args
        self.reader = TextReader(keep_args)
        self.header_cache: dict = {}
        self.carry: List[bytes] = []  # rows of the unfinished block, the last one partial
        self.line_base = 1  # line number of carry[0], or of the next piece's first row
        self.bytes_read = 0
        self.invalid_utf8_line: Optional[int] = None
        # Shared pieces of canonical stacks (see _canonical_stack).
        self.position_frames: dict = {}  # file row -> its Frame, within the current snapshot
        self.position_owner: Optional[SnapshotBuilder] = None
        self.file_cache: dict = {}
        self.creators: dict = {}  # (created-by row, file row) -> Frame, or None if unreadable
        # File-row keys whose stanzas are keyed by function names too (see _feed_rows).
        self.keyed_by_name: set = set()
        # Stanza key -> [Stack, ...] of stacks another reader of this process read in the dump
        # this one starts in (the tail a parse process took over, see parse/parallel.py):
        # used only while the first snapshot lasts, and only if that snapshot continues the
        # dump (a key pins its stack within one build only). Whoever sets it checks
        # afterwards that no other dump began in between.
        self.known_stacks: Optional[dict] = None

    @property
    def lines_read(self) -> int:
        return self.line_base - 1

    def feed(self, piece: bytes) -> None:
        """Read the next piece of the input, cut anywhere.

        The piece is split into rows once; stanzas are the runs of rows between blank rows,
        so no stanza is ever copied into a block of its own. The unfinished last stanza is
        carried over to the next piece as rows.
        """
        if not piece:
            return
        self.bytes_read += len(piece)
        rows = piece.split(b"\n")
        if self.carry:
            carry = self.carry
            carry[-1] += rows[0]
            carry.extend(rows[1:])
            rows = carry
        done = self._feed_rows(rows, len(rows) - 1)
        self.carry = rows[done:]
        self.line_base += done

    def _feed_rows(self, rows: List[bytes], limit: int) -> int:
        """Read the stanzas that end (at a blank row) before rows[limit]; return where the
        first unread stanza starts."""
        reader = self.reader
        cache = self.header_cache
        keep_args = self.keep_args
        by_name = self.keyed_by_name
        find_blank = rows.index
        cur: Optional[SnapshotBuilder] = None
        raw: dict = {}
        i = 0
        while True:
            try:
                j = find_blank(b"", i, limit)
            except ValueError:
                return i
            if j == i:
                i += 1
                continue
            header = rows[i]
            # The shape of a canonical stanza, checked with C-level operations only:
            #   goroutine 7 [chan receive, 3 minutes] {worker: w1}:
            #   main.worker(0xc000010000, ...)
            #   \t/app/main.go:42 +0x1d
            #   created by main.main in goroutine 1
            #   \t/app/main.go:30 +0x2a
            # Function rows and tab-led file rows alternate, so the file rows are every
            # other row from the third, and they hold all the stanza's tabs.
            if header[:10] == b"goroutine ":
                n = j - i - 1  # rows after the header
                sp = header.find(b" ", 10)
                fields = cache.get(header[sp:]) if sp > 0 else False
                if fields is None:
                    fields = self._parse_header_rest(header[sp:])
                gid = header[10:sp]
                if fields and n and not n & 1 and rows[i + 1][0] != 9 and gid.isdigit():  # 9 is a tab
                    # Within one build the `file:line +0xoff` rows pin every function (the
                    # PC decides it), so argument values never enter the key.
                    key = b"\n".join(rows[i + 2:j:2])
                    # A known key needs no more checks: it was checked when first met. A new
                    # one must be canonical: function rows and tab-led file rows alternate, so
                    # the file rows hold all the stanza's tabs.
                    entry = raw.get(key) if cur is not None and not keep_args and not reader.dirty else None
                    if entry is None and key[0] == 9 and key.count(b"\t") == n >> 1:
                        if keep_args:
                            key = _without_parent_id(b"\n".join(rows[i + 1:j]))
                        if cur is None or reader.dirty:
                            cur = reader.note_goroutine_block()
                            raw = cur.raw
                            if cur is not self.position_owner:
                                # Another dump, maybe of another build: positions start over.
                                if self.position_owner is not None or cur.started_new:
                                    self.known_stacks = None
                                self.position_owner = cur
                                self.position_frames.clear()
                        entry = raw.get(key)
                        if entry is None and not keep_args and (
                                key in by_name or b"\t<autogenerated>:" in key or b"\t?" in key):
                            # Positions that pin no function: every method wrapper the
                            # compiler generates is `<autogenerated>:1`, often at the same
                            # offset. The function names join the key for these stanzas
                            # (checked on a miss only, so common stanzas pay nothing).
                            by_name.add(key)
                            key += b"\0" + _function_names(rows, i + 1, j)
                            entry = raw.get(key)
                        if entry is None:
                            known = self.known_stacks.get(key) if self.known_stacks is not None else None
                            stack = known[0] if known is not None else self._stanza_stack(rows, i, j)
                            if stack is not None:
                                entry = raw[key] = [stack, {}]
                    if entry is not None:
                        # Count per distinct header text; states, waits and labels are
                        # folded in once per distinct header at the end.
                        hc = entry[1].get(fields)
                        if hc is None:
                            hc = entry[1][fields] = HeaderCount()
                        hc.count += 1
                        ids = hc.ids
                        if len(ids) < MAX_SAMPLE_IDS:
                            insort(ids, int(gid))
                        else:
                            gid = int(gid)
                            if gid < ids[-1]:
                                insort(ids, gid)
                                ids.pop()
                        i = j + 1
                        continue
            # Anything else: the reference reader, with its line number; the blank row
            # that ends the stanza goes too.
            line = self.line_base + i
            reader.feed(self._decode(b"\n".join(rows[i:j]), line), line)
            reader.feed("", line + j - i)
            cur = None
            i = j + 1

    def _stanza_stack(self, rows: List[bytes], start: int, end: int) -> Optional[Stack]:
        """The stack of the stanza rows[start:end] (header first), read once per key."""
        stack = self._canonical_stack(rows, start + 1, end)
        if stack is None:
            g = self._representative(rows[start:end])
            stack = g.stack if g is not None else None
        return stack

    def import_tallies(self, exported: list) -> list:
        """A parse child's exported tallies (export_tallies) with their header texts read
        here, in the form SnapshotBuilder.imported holds, to be folded in by its finish().
        The child's frames were interned on arrival (Frame.__reduce__), so its stacks hold
        this process's frames."""
        headers = self.header_cache
        parse = self._parse_header_rest
        return [(stack, [(headers.get(text) or parse(text), count, ids) for text, count, ids in counts])
                for stack, counts in exported]

    def _canonical_stack(self, rows: List[bytes], start: int, end: int) -> Optional[Stack]:
        """Read the frames of a canonical stanza (rows[start:end] alternate a function or
        `created by` row and its file row) exactly as the reference reader would, sharing
        every Frame: the stacks of one program repeat the same frames, so a dump with
        20,000 distinct stacks holds a few thousand Frame objects, not 600,000.

        Returns None for anything the reference reader should judge instead.
        """
        calls = rows[start:end:2]
        places = rows[start + 1:end:2]
        created_by = None
        if calls[-1].startswith(b"created by "):
            created_by = self._created_by(calls.pop(), places.pop())
            if created_by is None or not calls:
                return None
        # Within one snapshot a file row pins its function, as it pins the stanza keys in
        # _feed_rows: once every file row of a stanza has been read (the common case in a
        # dump of one program), its frames are found with one C-level map and no Python
        # step per frame (`all`, as `None in` would call Frame.__eq__ per frame). Function rows
        # must still all end in ")" (a set of their last bytes, built in C).
        frames = list(map(self.position_frames.get, places))
        if all(frames) and set(map(_LAST_BYTE, calls)) == _CLOSE_PAREN:  # rows of a stanza are never empty
            return Stack(tuple(frames), created_by)
        for k, frow in enumerate(calls):
            if frames[k] is None:
                frame = self._call_frame(frow, places[k])
                if frame is None:
                    return None
                frames[k] = frame
            elif frow[-1] != 41:  # 41 is ")"
                return None
        return Stack(tuple(frames), created_by)

    def _call_frame(self, frow: bytes, trow: bytes) -> Optional[Frame]:
        """`pkg.Func(args)` over its file row: the name before the final "(" has no blank."""
        cut = frow.rfind(b"(")
        if cut <= 0 or frow[-1] != 41:  # 41 is ")"
            return None
        name = frow[:cut]
        if b" " in name or b"\t" in name:
            return None
        where = self._where(trow)
        if where is None:
            return None
        try:
            function = name.decode("utf-8")
            args = frow[cut + 1:-1].decode("utf-8") if self.keep_args else ""
        except UnicodeDecodeError:
            return None
        frame = self._frame(function, where, args)
        # `<autogenerated>:1` and `?` hold many functions: their frames are read each time.
        if not self.keep_args and trow[1:2] not in (b"<", b"?"):
            self.position_frames[trow] = frame
        return frame

    def _created_by(self, frow: bytes, trow: bytes) -> Optional[Frame]:
        # The same creator, usually with the same parent id, ends thousands of stanzas.
        key = (frow, trow)
        frame = self.creators.get(key, False)
        if frame is False:
            if len(self.creators) > 100_000:  # parent ids of a dump of many creators
                self.creators.clear()
            frame = self.creators[key] = self._read_created_by(frow, trow)
        return frame

    def _read_created_by(self, frow: bytes, trow: bytes) -> Optional[Frame]:
        try:
            m = L.CREATED_BY_RE.match(frow.decode("utf-8"))
        except UnicodeDecodeError:
            return None
        where = self._where(trow)
        if m is None or where is None:
            return None
        return self._frame(m.group(1), where, "")

    def _where(self, trow: bytes):
        where = self.file_cache.get(trow)
        if where is None:
            try:
                where = L.parse_file_line(trow.decode("utf-8"))
            except UnicodeDecodeError:
                return None
            if where is None:
                return None
            self.file_cache[trow] = where
        return where

    def _frame(self, function: str, where, args: str) -> Frame:
        return intern_frame(function, where[0], where[1], args)

    def _parse_header_rest(self, rest: bytes):
        try:
            text = rest.decode("utf-8")
        except UnicodeDecodeError:
            return False
        m = L.HEADER_REST_RE.match(text)
        fields = L.parse_bracket(m.group(1), m.group(2)) if m else None
        if fields is None:
            fields = False  # not canonical: the reference reader will say what is wrong
        else:
            fields.text = rest
        if len(self.header_cache) > 100_000:
            # Unique labels (request ids) would grow this without bound.
            self.header_cache.clear()
        self.header_cache[rest] = fields
        return fields

    def _representative(self, rows: List[bytes]) -> Optional[Goroutine]:
        try:
            text = b"\n".join(rows).decode("utf-8")
        except UnicodeDecodeError:
            return None
        return parse_goroutine_text(text, self.keep_args)

    def _decode(self, block: bytes, line: int) -> str:
        try:
            return block.decode("utf-8")
        except UnicodeDecodeError as e:
            if self.invalid_utf8_line is None:
                self.invalid_utf8_line = line + block.count(b"\n", 0, e.start)
            return block.decode("utf-8", "replace")

    def finish(self) -> List[SnapshotBuilder]:
        rows = self.carry
        self.carry = []
        newlines = max(0, len(rows) - 1)
        if rows and rows[-1]:
            # Go ends every dump with a newline; a last line without one was cut off.
            last_line = self.line_base + len(rows) - 1
            start = len(rows) - 1
            while start > 0 and rows[start - 1]:
                start -= 1
            in_stanza = start < len(rows) - 1 and L.search_header(rows[start].decode("utf-8", "replace")) is not None
            rows.append(b"")
            self._feed_rows(rows, len(rows))
            if self.bytes_read == GO_DEBUG2_CAP:
                self.reader.warn(last_line, "the dump is exactly 64 MiB and ends mid-line: Go's debug=2 handler "
                                            "stops there, so goroutines after this point are missing and the "
                                            "last one is counted as read")
            elif in_stanza:
                # A cut inside a stanza can leave lines that still read well ("\t/app/x.go:4"
                # of ":42 +0x1d"); the missing newline is the only sign, so say so.
                self.reader.warn(last_line, "the input ends mid-line inside a goroutine's stack (truncated "
                                            "dump?); that goroutine is counted with what was read")
        elif rows:
            self._feed_rows(rows, len(rows))
        self.line_base += newlines
        builders = self.reader.finish()
        if self.invalid_utf8_line is not None:
            self.reader.warn(self.invalid_utf8_line, INVALID_UTF8)
        return builders


def export_tallies(entries) -> list:
    """Fast-path tallies (values of SnapshotBuilder.raw) as a parse child sends them to the
    parent's BlockReader.import_tallies: per stack, its count and lowest ids per header text. No
    HeaderFields or HeaderCount objects travel, and the stacks pickle in C but for one
    __reduce__ call each (their frames are pickled once per child)."""
    return [(stack, [(fields.text, hc.count, hc.ids) for fields, hc in by_header.items()])
            for stack, by_header in entries]


def _function_names(rows: List[bytes], start: int, end: int) -> bytes:
    """The function rows of a canonical stanza without their arguments (or parent id)."""
    names = []
    for row in rows[start:end:2]:
        cut = row.rfind(b"(") if row[-1:] == b")" else row.rfind(b" in goroutine ")
        names.append(row[:cut] if cut >= 0 else row)
    return b"\n".join(names)


def _without_parent_id(body: bytes) -> bytes:
    # `created by main.main in goroutine 1`: the parent id is data, never part of a key.
    i = body.rfind(b" in goroutine ")
    if i < 0:
        return body
    j = body.find(b"\n", i)
    return body[:i] + (body[j:] if j >= 0 else b"")
