"""Turn the bytes of one source into snapshots: detect the format, pick the reader.

Text (debug=2, debug=1, crashes, logs) streams through the fast BlockReader chunk by chunk,
so memory stays flat whatever the file size; a large plain debug=2 file is split into byte
ranges read by forked child processes and merged in order. Protobuf (debug=0) is decoded whole:
it is small, because the runtime already aggregated it by stack.
"""
import os
import zlib
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, List, Optional, Tuple, Union

from goleak.errors import InputError
from goleak.model import ParseResult, Snapshot, Stack, Warning
from goleak.parse.build import SnapshotBuilder
from goleak.parse.text import BlockReader

INPUT_FORMATS = ("auto", "debug2", "debug1", "debug0", "crash")
PIECE = 2 << 20  # small enough that a piece's rows stay in cache
# Below this a file is read in one process: starting children costs more than it saves.
PARALLEL_MIN_BYTES = 24 << 20

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ParseOptions:
    keep_args: bool = False  # --similarity exact keeps argument values
    jobs: int = 1
    input_format: str = "auto"
    max_bytes: Optional[int] = None
    # False: return an UnfinishedResult, whose snapshots are built later (and maybe per
    # shard of the stacks, in several processes: goleak/shards.py).
    finish: bool = True


@dataclass(frozen=True)
class UnfinishedResult:
    """A source read to its tallies, its snapshots not built yet: finish() builds them from
    all stacks or from those keep() accepts. Finishing leaves the tallies as they were, so
    each shard of a summary can finish its own share."""

    source: str
    builders: Tuple[SnapshotBuilder, ...]
    warnings: Tuple[Warning, ...] = ()  # read before any dump began: the first snapshot's

    def finish(self, keep: Optional[Callable[[Stack], bool]] = None, ordered: bool = True) -> ParseResult:
        snapshots = [b.finish(self.source, index, keep, ordered) for index, b in enumerate(self.builders)]
        if self.warnings:
            first = snapshots[0]
            snapshots[0] = Snapshot(**{**first.__dict__, "warnings": self.warnings + first.warnings})
        return ParseResult(source=self.source, snapshots=tuple(snapshots))


# What the readers return: finished unless ParseOptions(finish=False) asked otherwise (the
# gzip text path and empty protobuf profiles always finish).
Parsed = Union[ParseResult, UnfinishedResult]


def finish_parsed(result: Parsed, keep: Optional[Callable[[Stack], bool]] = None,
                  ordered: bool = True) -> ParseResult:
    """The snapshots of result, with the groups of the stacks keep() accepts (all by default).
    ordered=False is for a caller whose result does not depend on the order of the groups
    (summarize: see SnapshotBuilder.finish)."""
    if isinstance(result, UnfinishedResult):
        return result.finish(keep, ordered)
    if keep is None:
        return result
    return replace(result, snapshots=tuple(replace(s, groups=tuple(g for g in s.groups if keep(g.stack)))
                                           for s in result.snapshots))


def stack_count(result: Parsed) -> int:
    """An upper bound of the distinct stacks of result (a stack counts once per state,
    snapshot and parse process that met it): cheap, and enough to tell a big job from a
    small one."""
    if isinstance(result, UnfinishedResult):
        return sum(b.tallied_stacks() for b in result.builders)
    return sum(len(s.groups) for s in result.snapshots)


def parse_bytes(data: bytes, source: str, options: ParseOptions = ParseOptions()) -> Parsed:
    """Parse an in-memory source (tests, URL bodies)."""
    return parse_stream(iter([data]), source, options)


def parse_stream(pieces: Iterable[bytes], source: str, options: ParseOptions = ParseOptions(),
                 progress: Optional[Progress] = None) -> Parsed:
    pieces = iter(pieces)
    first = b""
    for first in pieces:
        if first:
            break
    if not first:
        raise InputError("the source is empty: expected a goroutine dump or profile", source)
    if first[:2] == b"\x1f\x8b":
        return _parse_gzip(first, pieces, source, options)
    if options.input_format == "debug0":
        raise InputError("expected a gzipped protobuf profile (debug=0), found text", source, 1)
    return _parse_text(_chain(first, pieces), source, options, progress)


def parse_file(path: str, source: str, options: ParseOptions = ParseOptions(),
               progress: Optional[Progress] = None) -> Parsed:
    """Parse a file on disk, in parallel when it is a large plain debug=2 dump."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        raise InputError("cannot read: %s" % (e.strerror or e), source)
    if (options.jobs > 1 and size >= PARALLEL_MIN_BYTES and head.startswith(b"goroutine ")
            and options.input_format in ("auto", "debug2")):
        from goleak.parse.parallel import parse_file_parallel
        return _result(source, parse_file_parallel(path, size, options, progress), options, head)
    return parse_stream(read_file_pieces(path, source), source, options, progress)


def read_file_pieces(path: str, source: str, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            f.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                piece = f.read(PIECE if left is None else min(PIECE, left))
                if not piece:
                    break
                if left is not None:
                    left -= len(piece)
                yield piece
    except OSError as e:
        raise InputError("cannot read: %s" % (e.strerror or e), source)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _normalize_newlines(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """CRLF to LF, so stanzas split at blank lines whatever system wrote the file."""
    carry = b""
    for piece in pieces:
        piece = carry + piece if carry else piece
        if piece.endswith(b"\r"):
            carry, piece = b"\r", piece[:-1]
        else:
            carry = b""
        yield piece.replace(b"\r\n", b"\n") if b"\r" in piece else piece
    if carry:
        yield carry


def read_text_builders(pieces: Iterable[bytes], keep_args: bool, progress: Optional[Progress] = None,
                       reader: Optional[BlockReader] = None) -> Tuple[List[SnapshotBuilder], int]:
    if reader is None:
        reader = BlockReader(keep_args)
    for piece in _normalize_newlines(pieces):
        reader.feed(piece)
        if progress is not None:
            progress(reader.bytes_read)
    builders = reader.finish()
    return builders, reader.lines_read


def _parse_text(pieces: Iterable[bytes], source: str, options: ParseOptions,
                progress: Optional[Progress]) -> Parsed:
    head = bytearray()

    def remember_head(ps):
        for p in ps:
            if len(head) < 4096:
                head.extend(p[:4096])
            yield p

    builders, _ = read_text_builders(remember_head(pieces), options.keep_args, progress)
    return _result(source, builders, options, bytes(head))


def _parse_gzip(first: bytes, rest: Iterator[bytes], source: str, options: ParseOptions) -> Parsed:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    limit = options.max_bytes
    # A gzipped text dump cut short (a .txt.gz chopped by an upload limit) still holds the
    # goroutines inflated before the cut: count them and warn, rather than refuse it all.
    # A protobuf cut short cannot be decoded and stays an error.
    state = {"text": False, "truncated": False, "newlines": 0}

    def inflate() -> Iterator[bytes]:
        total = 0
        try:
            for piece in _chain(first, rest):
                out = inflater.decompress(piece)
                while out or inflater.unconsumed_tail:
                    total += len(out)
                    state["newlines"] += out.count(b"\n")
                    if limit is not None and total > limit:
                        raise InputError("decompressed data exceeds --max-bytes (%d bytes)" % limit, source)
                    if out:
                        yield out
                    if not inflater.unconsumed_tail:
                        break
                    out = inflater.decompress(inflater.unconsumed_tail)
                if inflater.eof:
                    break
            tail = inflater.flush()
            if tail:
                yield tail
        except zlib.error as e:
            raise InputError("corrupt gzip data: %s" % e, source)
        if not inflater.eof:
            if state["text"]:
                state["truncated"] = True
                return
            raise InputError("truncated gzip data: the compressed stream ends early", source)

    stream = inflate()
    head = b""
    for head in stream:
        if head:
            break
    from goleak.parse import pprof_proto
    if options.input_format == "debug0" or (options.input_format == "auto" and pprof_proto.looks_like_profile_proto(head)):
        data = head + b"".join(stream)
        return _result(source, [_builder_from_proto(data, source)], options, b"")
    # A gzipped text dump (curl --compressed not given, a .txt.gz from a ticket).
    state["text"] = True
    # Finished here (ParseOptions.finish aside): the warning joins the last snapshot.
    result = _parse_text(_chain(head, stream), source, replace(options, finish=True), None)
    if state["truncated"]:
        last = result.snapshots[-1]
        cut = Warning(source, state["newlines"] + 1, "truncated gzip data: the compressed stream ends at this "
                                                    "line; the goroutines before it are counted")
        snapshots = result.snapshots[:-1] + (replace(last, warnings=last.warnings + (cut,)),)
        result = replace(result, snapshots=snapshots)
    return result


def _builder_from_proto(data: bytes, source: str) -> SnapshotBuilder:
    from goleak.parse import pprof_proto
    prof = pprof_proto.decode_profile(data, source)
    names = [t for t, _ in prof.sample_types]
    if not {"goroutine", "goroutineleak"} & set(names):
        kinds = ", ".join("%s/%s" % t for t in prof.sample_types) or "no sample types"
        raise InputError("this is a pprof profile of %s, not a goroutine profile; "
                         "use /debug/pprof/goroutine (or ?debug=2 for text)" % kinds, source)
    profile = "goroutineleak" if "goroutineleak" in names else "goroutine"
    b = SnapshotBuilder("debug=0", profile)
    for s in prof.samples:
        b.add_record(s.count, Stack(s.frames), s.labels, profile == "goroutineleak")
    return b


def _result(source: str, builders: List[SnapshotBuilder], options: ParseOptions, head: bytes) -> Parsed:
    """The ParseResult of a source's builders, or its UnfinishedResult (ParseOptions.finish)."""
    kept: List[SnapshotBuilder] = []
    stray: List[Warning] = []
    for b in builders:
        if not b.has_goroutines() and not b.groups and b.format not in ("race", "debug=1", "debug=0"):
            # Warnings read before any dump began (no goroutine in this builder).
            stray.extend(Warning(source, ln, msg) for ln, msg in b.warnings)
            continue
        kept.append(b)
    if not kept:
        raise no_dump_error(source, head, options.input_format)
    expected = {"debug2": ("debug=2", "crash"), "debug1": ("debug=1",), "crash": ("crash", "debug=2")}
    if options.input_format in expected and not any(b.format in expected[options.input_format] for b in kept):
        raise InputError("expected a %s dump (--input-format), found %s" % (
            options.input_format, ", ".join(sorted({b.format for b in kept}))), source)
    unfinished = UnfinishedResult(source, tuple(kept), tuple(stray))
    return unfinished.finish() if options.finish else unfinished


def no_dump_error(source: str, head: bytes, input_format: str = "auto") -> InputError:
    text = head.decode("utf-8", "replace")
    low = text.lstrip().lower()
    from goleak.parse.lines import OTHER_PROFILE_RE
    other = OTHER_PROFILE_RE.match(text.lstrip())
    if other:
        return InputError("this is a %s profile, not a goroutine profile; use /debug/pprof/goroutine?debug=2"
                          % other.group(1), source, 1)
    looked_for = ("expected `goroutine N [state]:` stanzas (debug=2, a panic or SIGQUIT), "
                  "a `goroutine profile: total N` profile (debug=1) or a gzipped protobuf profile (debug=0)")
    if low.startswith("<!doctype html") or low.startswith("<html") or "<body" in low[:2000]:
        if "/debug/pprof/" in text or "profile descriptions" in low:
            return InputError("this is the HTML index page of net/http/pprof, not a goroutine dump; "
                              "use .../debug/pprof/goroutine?debug=2", source, 1)
        return InputError("this is an HTML page, not a goroutine dump; " + looked_for, source, 1)
    if "\x00" in text[:512] or sum(1 for c in text[:512] if c == "\ufffd") > 8:
        return InputError("this is binary data, not a goroutine dump; " + looked_for, source, 1)
    first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(first_line) > 60:
        first_line = first_line[:57] + "..."
    return InputError("no goroutine dump found; %s. It starts with: %r" % (looked_for, first_line), source, 1)


def parse_text_reference(data: bytes, source: str, keep_args: bool = False) -> ParseResult:
    """The straightforward path: every line through the reference reader, no fast path.

    Slow; kept so tests can prove the fast and parallel paths give identical results.
    """
    from goleak.parse.text import TextReader
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    reader = TextReader(keep_args)
    reader.feed(text, 1)
    return _result(source, reader.finish(), ParseOptions(keep_args=keep_args), data[:4096])
