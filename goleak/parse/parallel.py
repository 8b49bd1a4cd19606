"""Read one large plain debug=2 file with several processes, each over its own byte range.

Ranges start and end just after a blank line, so every worker sees exactly the stanzas the
single-process reader would; results are merged in file order. Workers read the file
themselves, so no dump bytes cross a pipe: only the tallies (a few per distinct stack) do.
"""
import itertools
import multiprocessing
import os
import sys
from typing import List, Optional, Tuple

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


def _read_range(args: Tuple[str, int, int, bool]) -> Tuple[List[SnapshotBuilder], list, int]:
    from goleak.parse import read_file_pieces, read_text_builders
    from goleak.parse.text import BlockReader
    path, start, end, keep_args = args
    reader = BlockReader(keep_args)
    builders, lines = read_text_builders(read_file_pieces(path, path, start, end), keep_args, reader=reader)
    # The fast-path tallies travel as stacks and plain tuples (see BlockReader.export_raw).
    exported = [reader.export_raw(b) for b in builders]
    return builders, exported, lines


def parse_file_parallel(path: str, size: int, options, progress=None) -> List[SnapshotBuilder]:
    jobs = max(1, options.jobs)
    # One range per worker: each range parses every distinct stack it meets once, so more
    # ranges repeat that work (measured on distinct-20k: 4 ranges 3.3-3.8 s, 2 ranges
    # 2.7-3.0 s), and byte ranges of a dump are even work anyway.
    # Even ranges: after the reads, the parent only hands the workers' tallies to its
    # builders (BlockReader.import_raw); folding them into groups is finish()'s work.
    bounds = sorted({_align(path, size * i // jobs, size) for i in range(jobs)} | {size})
    ranges = [(path, a, b, options.keep_args) for a, b in zip(bounds, bounds[1:]) if b > a]
    from goleak.parse import read_file_pieces, read_text_builders
    ctx = _context()
    if ctx is None or len(ranges) < 2:
        return read_text_builders(read_file_pieces(path, path), options.keep_args, progress)[0]
    from goleak.parse.text import BlockReader
    merged: List[SnapshotBuilder] = []
    lines_before = 0
    # The parent reads the first range itself while the workers read the rest (it would
    # only wait otherwise), then takes their tallies into its builders.
    with ctx.Pool(len(ranges) - 1) as pool:
        pending = pool.imap(_read_range, ranges[1:])
        reader = BlockReader(options.keep_args)
        builders, lines = read_text_builders(read_file_pieces(path, path, ranges[0][1], ranges[0][2]),
                                             options.keep_args, progress, reader)
        first = (builders, [[] for _ in builders], lines)
        for (_, a, b, _), (builders, exported, lines) in zip(ranges, itertools.chain([first], pending)):
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
    return merged


def _shift_lines(builder: SnapshotBuilder, shift: int) -> None:
    builder.warnings = [(ln + shift if ln else ln, msg) for ln, msg in builder.warnings]


def fork_available() -> bool:
    """fork shares everything a process has read for free; where it is missing (Windows) or
    unsafe (macOS), one process does the work (here and in goleak/shards.py)."""
    return os.name == "posix" and "fork" in multiprocessing.get_all_start_methods() and sys.platform != "darwin"


def _context() -> Optional[multiprocessing.context.BaseContext]:
    return multiprocessing.get_context("fork") if fork_available() else None
