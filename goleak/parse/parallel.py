"""Read one large plain debug=2 file with several processes, each over its own byte range.

Ranges start and end just after a blank line, so every process sees exactly the stanzas the
single-process reader would; results are merged in file order. Children (goleak/forked.py)
read the file themselves, so no dump bytes cross a pipe: only the tallies (a few per distinct
stack) do.
"""
import itertools
import pickle
from typing import List, Optional, Tuple

from goleak import forked
from goleak.parse.build import SnapshotBuilder

_WINDOW = 1 << 20


def _align(path: str, pos: int, size: int) -> int:
    """The first offset at or after `pos` that follows a blank line ("\\n\\n")."""
    if pos <= 0:
        return 0
    with open(path, "rb") as f:
        at = pos - 1
        while at < size:
            f.seek(at)
            window = f.read(_WINDOW + 1)
            i = window.find(b"\n\n")
            if i >= 0:
                return at + i + 2
            if len(window) <= 1:
                break
            at += len(window) - 1
    return size


def _read_range(path: str, start: int, end: int, keep_args: bool) -> Tuple[List[SnapshotBuilder], list, int]:
    from goleak.parse import read_file_pieces, read_text_builders
    from goleak.parse.text import BlockReader
    reader = BlockReader(keep_args)
    builders, lines = read_text_builders(read_file_pieces(path, path, start, end), keep_args, reader=reader)
    # The fast-path tallies travel as stacks and plain tuples (see BlockReader.export_raw).
    exported = [reader.export_raw(b) for b in builders]
    return builders, exported, lines


# Tallies per pickled batch: the parent unpickles one batch while the child pickles the next
# (both cost about 3 µs a distinct stack), instead of waiting for the whole lot.
_BATCH = 2000


def _send_range(out, path: str, start: int, end: int, keep_args: bool) -> None:
    """A child's work: its range read, then pickled through one Pickler (so each frame is
    pickled once): the builders, the lines read and the number of tallies per builder, then
    the tallies in batches, each flushed to the pipe at once."""
    builders, exported, lines = _read_range(path, start, end, keep_args)
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dump((builders, lines, [len(tallies) for tallies in exported]))
    out.flush()
    for tallies in exported:
        for at in range(0, len(tallies), _BATCH):
            pickler.dump(tallies[at:at + _BATCH])
            out.flush()


def _start_reader(path: str, start: int, end: int, keep_args: bool) -> Optional[forked.Child]:
    return forked.Child.start(lambda out: _send_range(out, path, start, end, keep_args))


def _received(child: Optional[forked.Child], path: str, start: int, end: int, keep_args: bool):
    """What the child read of its range; read here if there is no child or it failed (killed,
    out of memory, an error: this process then meets the same error itself)."""
    if child is not None:
        unpickler = pickle.Unpickler(child.stream)
        try:
            builders, lines, sizes = unpickler.load()
            exported = []
            for size in sizes:
                tallies: list = []
                while len(tallies) < size:
                    tallies.extend(unpickler.load())
                exported.append(tallies)
            child.done = True
            return builders, exported, lines
        except (EOFError, pickle.UnpicklingError):
            pass  # the child stopped short
    return _read_range(path, start, end, keep_args)


def parse_file_parallel(path: str, size: int, options, progress=None) -> List[SnapshotBuilder]:
    jobs = max(1, options.jobs)
    # One range per process: each range parses every distinct stack it meets once, so more
    # ranges repeat that work (measured on distinct-20k: 4 ranges 3.3-3.8 s, 2 ranges
    # 2.7-3.0 s), and byte ranges of a dump are even work anyway.
    # Even ranges: after the reads, the parent only hands the children's tallies to its
    # builders (BlockReader.import_raw); folding them into groups is finish()'s work.
    bounds = sorted({_align(path, size * i // jobs, size) for i in range(jobs)} | {size})
    ranges = [(path, a, b, options.keep_args) for a, b in zip(bounds, bounds[1:]) if b > a]
    from goleak.parse import read_file_pieces, read_text_builders
    if not forked.fork_available() or len(ranges) < 2:
        return read_text_builders(read_file_pieces(path, path), options.keep_args, progress)[0]
    from goleak.parse.text import BlockReader
    merged: List[SnapshotBuilder] = []
    lines_before = 0
    # Each child reads a range of its own, forked before this process has read anything;
    # this process reads the first range meanwhile (it would only wait otherwise), then
    # takes the children's tallies into its builders.
    children: List[Optional[forked.Child]] = []
    try:
        for r in ranges[1:]:
            children.append(_start_reader(*r))
        reader = BlockReader(options.keep_args)
        builders, lines = read_text_builders(read_file_pieces(path, path, ranges[0][1], ranges[0][2]),
                                             options.keep_args, progress, reader)
        first = (builders, [[] for _ in builders], lines)
        others = (_received(child, *r) for child, r in zip(children, ranges[1:]))
        for (_, a, b, _), (builders, exported, lines) in zip(ranges, itertools.chain([first], others)):
            for i, builder in enumerate(builders):
                if not builder.has_goroutines() and not builder.groups and not exported[i] \
                        and not builder.warnings:
                    continue
                if merged and i == 0 and not builder.started_new:
                    merged[-1].merge(builder, lines_before)
                else:
                    _shift_lines(builder, lines_before)
                    merged.append(builder)
                if exported[i]:
                    reader.import_raw(merged[-1], exported[i])
            lines_before += lines
            if progress is not None:
                progress(b)
    finally:
        for child in children:
            if child is not None:
                child.close()
    return merged


def _shift_lines(builder: SnapshotBuilder, shift: int) -> None:
    builder.warnings = [(ln + shift if ln else ln, msg) for ln, msg in builder.warnings]
