"""Read one large plain debug=2 file with several processes, each over its own byte range.

Ranges start and end between two goroutine stanzas (see _CUT), so every process sees exactly
the stanzas the single-process reader would; results are merged in file order. Children
(goleak/forked.py) read the file themselves, so no dump bytes cross a pipe: only the tallies
(a few per distinct stack) do. With two ranges, the process that finishes first takes half of
the other's unread tail (_Steal).
"""
import os
import pickle
import re
import select
import struct
from typing import List, Optional, Tuple

from goleak import forked
from goleak.parse.build import SnapshotBuilder

_WINDOW = 1 << 20
# A cut goes where one goroutine stanza ends and the next begins: a whole header row after the
# blank line ("goroutine 7 [chan receive, 3 minutes]:", "goroutine 7 gp=0xc0 m=nil [select]:"),
# and one at the start of the stanza before it. A reader holds nothing across such a cut,
# whereas a crash line ("panic: ...", whose goroutines open a snapshot of their own), a race
# report or a cut-off header before a blank line shape how the next stanza is read.
_HEADER = re.compile(rb"goroutine \d+ [^\n]*:\n")
_CUT = re.compile(rb"\n\n(?=goroutine \d+ [^\n]*:\n)")
_BACK = 64 << 10  # how far before a cut the stanza before it is looked for


def _align(path: str, pos: int, size: int) -> int:
    """The first cut (see _CUT) at or after `pos`, as the offset of the header after it, or
    size if there is none."""
    if pos <= 0:
        return 0
    back = min(_BACK, _WINDOW // 2)
    with open(path, "rb") as f:
        base = max(0, pos - back)
        while base < size:
            f.seek(base)
            window = f.read(_WINDOW)
            for m in _CUT.finditer(window, max(0, pos - 2 - base)):
                before = window.rfind(b"\n\n", 0, m.start())
                if before < 0 and base > 0:
                    continue  # the stanza before began outside the window: not a cut to trust
                if _HEADER.match(window, before + 2 if before >= 0 else 0):
                    return base + m.end()
            if len(window) < _WINDOW:
                break
            base += _WINDOW - back  # windows overlap, so a stanza before a cut is seen whole
    return size


def _read_range(path: str, start: int, end: int, keep_args: bool) -> Tuple[List[SnapshotBuilder], int]:
    """(builders, lines read) of a range read here by a reader of its own: the range of a
    child that failed. Their tallies stay in them, as in the ranges this process reads."""
    from goleak.parse.text import BlockReader
    return _read_pieces(BlockReader(keep_args), _Range(path, start, end))


class _Range:
    """A byte range of the file, read piece by piece; the other process may take its unread
    tail (_Steal), which moves `end` back."""

    def __init__(self, path: str, start: int, end: int, steal: Optional["_Steal"] = None):
        self.path, self.start, self.end = path, start, end
        self.steal = steal

    def pieces(self):
        from goleak.errors import InputError
        from goleak.parse import PIECE
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start)
                at = self.start
                while True:
                    if self.steal is not None:
                        self.end = self.steal.answer_between_pieces(at, self.end)
                    if at >= self.end:
                        break
                    piece = f.read(min(PIECE, self.end - at))
                    if not piece:
                        break
                    at += len(piece)
                    yield piece
        except OSError as e:
            raise InputError("cannot read: %s" % (e.strerror or e), self.path)


def _read_pieces(reader, span: _Range, progress=None) -> Tuple[List[SnapshotBuilder], int]:
    from goleak.parse import read_text_builders
    # Counted from the start of the file, as in one pass: the reader of the last range then
    # knows a dump cut at Go's 64 MiB limit, and progress shows the file's offset.
    reader.bytes_read = span.start
    return read_text_builders(span.pieces(), reader.keep_args, progress, reader)


# A steal halves what the other process has left, if that is at least this much: less would
# cost the thief more (a reader of its own) than it saves.
_MIN_STEAL = 4 << 20


class _Steal:
    """The one steal of a parse in two processes: whichever finishes its range first takes
    the second half of what the other has not read yet (cut between two goroutine stanzas,
    like every range), once. The two vCPUs of a shared machine often run at different speeds
    for a while: with fixed halves, one process idled for up to 0.35 s of a one-second parse
    of big-50 and up to 0.5 s of distinct-20k's. The thief reads the tail with a reader of its
    own that takes the stacks its range read in the same dump (_stolen_range), so the tail
    costs it about what it would have cost the victim, even where most goroutines have a
    stack of their own.

    Who steals is settled by a ticket, one byte in a pipe: a process that finishes its range
    reads it; whoever gets it is the thief and sends the other a request ("R"); the other, the
    victim, answers it with where it will stop ("S" and the offset), between two of its
    pieces, or at once if it has finished (its own end: nothing left). A victim that finds the ticket gone before any message came waits
    for it, so no process ever waits for one that will not come; a process that died closes
    its pipe, which reads as "nothing"."""

    _OFFSET = struct.Struct("<Q")

    def __init__(self, ticket: int, incoming: int, outgoing: int, path: str):
        self.ticket, self.incoming, self.outgoing, self.path = ticket, incoming, outgoing, path
        self.answered = False  # a message from the thief was read (this process is the victim)
        self.gave: Optional[int] = None  # where this process, as victim, said it would stop
        # poll, not select: select refuses descriptors from 1024 on.
        self._waiting = select.poll()
        self._waiting.register(incoming, select.POLLIN)

    @classmethod
    def pipes(cls) -> Optional[Tuple[int, int, int, int, int]]:
        """(ticket, to_child read, to_child write, to_parent read, to_parent write), or None."""
        fds: List[int] = []
        try:
            ticket, ticket_w = os.pipe()
            fds += [ticket, ticket_w]
            os.write(ticket_w, b"T")
            os.close(fds.pop())  # the ticket's write end: an empty pipe then reads as taken
            for _ in range(2):
                fds += os.pipe()
        except OSError:
            for fd in fds:
                os.close(fd)
            return None
        return tuple(fds)  # type: ignore[return-value]

    def answer_between_pieces(self, at: int, end: int) -> int:
        """The end of this process's range, after answering the thief if it has asked."""
        if self.answered or not self._waiting.poll(0):
            return end
        return self._answer(at, end)

    def _answer(self, at: int, end: int) -> int:
        self.answered = True
        message = os.read(self.incoming, 1)
        if message != b"R":  # the thief died
            return end
        stop = end
        if end - at >= _MIN_STEAL:
            stop = min(end, _align(self.path, at + (end - at) // 2, end))
        try:
            os.write(self.outgoing, b"S" + self._OFFSET.pack(stop))
        except OSError:  # the thief died: read the range to its end
            return end
        self.gave = stop  # only once the thief has been told
        return stop

    def after_own_range(self, end: int) -> Optional[int]:
        """Once this process has read its range (to `end`): as the thief, where the other
        process stops (the tail from there to the other's end is this process's to read),
        or None; as the victim, None after answering the thief."""
        if os.read(self.ticket, 1) != b"T":
            if not self.answered:
                self._answer(end, end)  # waits for the thief's message: nothing is left
            return None
        try:
            os.write(self.outgoing, b"R")
        except OSError:
            return None
        reply = _read_exactly(self.incoming, 1 + self._OFFSET.size)
        if len(reply) != 1 + self._OFFSET.size or reply[:1] != b"S":
            return None  # the victim died
        return self._OFFSET.unpack(reply[1:])[0]

    def close(self) -> None:
        for fd in (self.ticket, self.incoming, self.outgoing):
            os.close(fd)


def _read_exactly(fd: int, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _stolen_range(reader, path: str, start: int, end: int, keep_args: bool,
                  known: Optional[dict] = None) -> Tuple[List[SnapshotBuilder], int]:
    """The tail a thief took, read by a reader of its own that shares the thief's caches of
    what a text always means (headers, file rows, creators), not its frame positions, which
    hold only within one dump. known: the raw tallies of the thief's snapshot in the dump the
    tail meets (the parent's last, the child's first), whose stacks the tail's first snapshot
    takes instead of reading them again (BlockReader.known_stacks): the caller checks that
    no dump began in between, and reads the tail again without them if one did."""
    from goleak.parse.text import BlockReader
    thief = BlockReader(keep_args)
    thief.header_cache, thief.file_cache, thief.creators = reader.header_cache, reader.file_cache, reader.creators
    thief.keyed_by_name = reader.keyed_by_name
    thief.known_stacks = known
    return _read_pieces(thief, _Range(path, start, end))


def _one_dump(builders: List[SnapshotBuilder]) -> bool:
    """Whether a range continued the dump before it from its start to its end."""
    return len(builders) <= 1 and not any(b.started_new for b in builders)


# Tallies per pickled batch: the parent unpickles one batch while the child pickles the next
# (both cost about 3 µs a distinct stack), instead of waiting for the whole lot.
_BATCH = 2000


def _send_range(out, path: str, start: int, end: int, keep_args: bool,
                steal: Optional[_Steal] = None, other_end: Optional[int] = None) -> None:
    """A child's work: its range read (and, as thief, the tail it took from the parent's
    range), then pickled through one Pickler (so each frame is pickled once): per range read,
    its bounds, builders, lines read and number of tallies per builder; then the tallies in
    batches, each flushed to the pipe at once."""
    from goleak.parse.text import BlockReader, export_tallies
    reader = BlockReader(keep_args)
    span = _Range(path, start, end, steal)
    builders, lines = _read_pieces(reader, span)
    spans = [(span.start, span.end, builders, lines)]
    if steal is not None:
        stop = steal.after_own_range(span.end)
        if stop is not None and stop < other_end:
            # The tail ends where this range begins: if no dump begins inside it, it is all
            # of the dump this range's first snapshot continues, and takes its stacks.
            first = builders[0] if builders and not builders[0].started_new else None
            tail = _stolen_range(reader, path, stop, other_end, keep_args, first.raw if first else None)
            if first is not None and not _one_dump(tail[0]):
                tail = _stolen_range(reader, path, stop, other_end, keep_args)  # read again, alone
            spans.append((stop, other_end) + tail)
    # The fast-path tallies leave the builders (which go first, without them) and travel as
    # stacks and plain tuples (text.export_tallies), converted a batch at a time, so that the
    # parent starts on the first batch while the rest are converted.
    raws = []
    for _, _, builders, _ in spans:
        raws.append([list(b.raw.values()) for b in builders])
        for b in builders:
            b.raw = {}
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dump([(a, b, builders, lines, [len(entries) for entries in raw])
                  for (a, b, builders, lines), raw in zip(spans, raws)])
    out.flush()
    for raw in raws:
        for entries in raw:
            for at in range(0, len(entries), _BATCH):
                pickler.dump(export_tallies(entries[at:at + _BATCH]))
                out.flush()


def _start_reader(path: str, start: int, end: int, keep_args: bool) -> Optional[forked.Child]:
    return forked.Child.start(lambda out: _send_range(out, path, start, end, keep_args))


def _received(child: Optional[forked.Child], reader):
    """What the child read, as [(start, end, builders, imported tallies, lines)] in file
    order: its range, and a tail it took from this process's range. Each batch of tallies is
    taken in (reader.import_tallies) as it arrives, while the child pickles the next. None if
    there is no child or it failed (killed, out of memory, an error): the caller reads what
    it should have (and meets the same error itself)."""
    if child is None:
        return None
    unpickler = pickle.Unpickler(child.stream)
    try:
        spans = unpickler.load()
        out = []
        for a, b, builders, lines, sizes in spans:
            imported = []
            for size in sizes:
                tallies: list = []
                while len(tallies) < size:
                    tallies.extend(reader.import_tallies(unpickler.load()))
                imported.append(tallies)
            out.append((a, b, builders, imported, lines))
        child.done = True
        return out
    except (EOFError, pickle.UnpicklingError):
        return None  # the child stopped short


def parse_file_parallel(path: str, size: int, options, progress=None) -> List[SnapshotBuilder]:
    jobs = max(1, options.jobs)
    # One range per process: each range parses every distinct stack it meets once, so more
    # ranges repeat that work (measured on distinct-20k: 4 ranges 3.3-3.8 s, 2 ranges
    # 2.7-3.0 s), and byte ranges of a dump are even work anyway; with two, the process that
    # finishes first takes half of the other's unread tail (_Steal).
    bounds = sorted({_align(path, size * i // jobs, size) for i in range(jobs)} | {size})
    ranges = [(path, a, b, options.keep_args) for a, b in zip(bounds, bounds[1:]) if b > a]
    from goleak.parse import read_file_pieces, read_text_builders
    if not forked.fork_available() or len(ranges) < 2:
        return read_text_builders(read_file_pieces(path, path), options.keep_args, progress)[0]
    from goleak.parse.text import BlockReader
    keep_args = options.keep_args
    # Each child reads a range of its own, forked before this process has read anything;
    # this process reads the first range meanwhile (it would only wait otherwise), then
    # takes the children's tallies into its builders.
    children: List[Optional[forked.Child]] = []
    steal = None
    # (start, end, builders, tallies, lines read) of every range read: the tallies a child
    # sent per builder (their HeaderFields read here, BlockReader.import_tallies), or none
    # for a range read here, whose builders keep their own.
    spans = []
    try:
        if len(ranges) == 2:
            child, steal = _start_two(ranges[1], ranges[0][2])
            children.append(child)
        else:
            children = [_start_reader(*r) for r in ranges[1:]]
        reader = BlockReader(keep_args)
        own = _Range(path, 0, ranges[0][2], steal)
        builders, lines = _read_pieces(reader, own, progress)
        spans.append((0, own.end, builders, [[] for _ in builders], lines))
        taken_from = None  # where the child was told to stop, if this process took its tail
        known = None  # the stacks of this process's last snapshot, if the tail took them
        if steal is not None:
            stop = steal.after_own_range(own.end)
            if stop is not None and stop < size:
                taken_from = stop
                known = builders[-1].raw if builders else None
                stolen, stolen_lines = _stolen_range(reader, path, stop, size, keep_args, known)
                spans.append((stop, size, stolen, [[] for _ in stolen], stolen_lines))
        for child, (_, a, b, _) in zip(children, ranges[1:]):
            got = _received(child, reader)
            if got is None:
                # What the child should have read, read here: its range up to where this
                # process took over, and the tail it took of this process's range.
                owed = [(a, taken_from if taken_from is not None else b)]
                if steal is not None and steal.gave is not None:
                    owed.append((steal.gave, a))
                got = []
                for x, y in owed:
                    if y > x:
                        builders, lines = _read_range(path, x, y, keep_args)
                        got.append((x, y, builders, [[] for _ in builders], lines))
            spans.extend(got)
            if known is not None and not all(_one_dump(span[2]) for span in got if span[0] == a):
                # Another dump began in the child's range: the tail's stacks may not be this
                # range's (a position pins its function within one build only). Read again.
                stolen, stolen_lines = _stolen_range(reader, path, taken_from, size, keep_args)
                spans = [span for span in spans if span[0] != taken_from]
                spans.append((taken_from, size, stolen, [[] for _ in stolen], stolen_lines))
    finally:
        for child in children:
            if child is not None:
                child.close()
        if steal is not None:
            steal.close()
    return _merge_spans(sorted(spans, key=lambda span: span[0]), progress)


def _start_two(child_range, other_end: int) -> Tuple[Optional[forked.Child], Optional[_Steal]]:
    """The child of a two-range parse, and this process's side of their steal (None if the
    pipes or the child could not be made: the ranges stay as they are)."""
    path, start, end, keep_args = child_range
    pipes = _Steal.pipes()
    if pipes is None:
        return _start_reader(*child_range), None
    ticket, to_child_r, to_child_w, to_parent_r, to_parent_w = pipes

    def work(out):
        # This process's ends closed, so that either one's death reads as the end of a pipe.
        os.close(to_child_w)
        os.close(to_parent_r)
        _send_range(out, path, start, end, keep_args, _Steal(ticket, to_child_r, to_parent_w, path), other_end)
    child = None
    try:
        child = forked.Child.start(work)
        if child is not None:
            return child, _Steal(ticket, to_parent_r, to_child_w, path)
    except BaseException:  # interrupted while starting the child
        if child is not None:
            child.close()
        child = None
        raise
    finally:
        os.close(to_child_r)
        os.close(to_parent_w)
        if child is None:
            for fd in (ticket, to_parent_r, to_child_w):
                os.close(fd)
    return None, None


def _merge_spans(spans, progress) -> List[SnapshotBuilder]:
    """The builders of every range read, merged in file order: a range's first builder
    continues the previous range's last snapshot unless it began a dump of its own."""
    merged: List[SnapshotBuilder] = []
    lines_before = 0
    for _, b, builders, imported, lines in spans:
        for i, builder in enumerate(builders):
            if not builder.has_goroutines() and not builder.groups and not imported[i] \
                    and not builder.warnings:
                continue
            if merged and i == 0 and not builder.started_new:
                merged[-1].merge(builder, lines_before)
            else:
                _shift_lines(builder, lines_before)
                merged.append(builder)
            merged[-1].imported.extend(imported[i])
        lines_before += lines
        if progress is not None:
            progress(b)
    _one_invalid_utf8_warning(merged)
    return merged


def _one_invalid_utf8_warning(builders: List[SnapshotBuilder]) -> None:
    """One pass tells the first line of invalid UTF-8 once, last, in its last snapshot; the
    reader of each range told its own first one."""
    from goleak.parse.text import INVALID_UTF8
    told = [w for b in builders for w in b.warnings if w[1] == INVALID_UTF8]
    if told:
        for b in builders:
            b.warnings = [w for w in b.warnings if w[1] != INVALID_UTF8]
        builders[-1].warnings.append(min(told))


def _shift_lines(builder: SnapshotBuilder, shift: int) -> None:
    builder.warnings = [(ln + shift if ln else ln, msg) for ln, msg in builder.warnings]
