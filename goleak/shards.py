"""A summary report from parsed sources: the stages after the parse, on two cores when it pays.

A dump with many distinct stacks (20,000 in a 300 MB file) spends most of a summary after the
parse, one distinct stack at a time: folding tallies into groups, clustering, the view and the
report's text. Each of those works cluster by cluster, so the work splits by cluster:
normalize.shard_key gives every stack a number that all stacks of one cluster share; a forked
child takes the stacks of one share and the parent those of the other; each runs the ordinary
stages on its share (finish → summarize → view → cluster texts); the parent merges the two in
the order summarize() gives (clusters by count, then id; suspects by score, then id), so the
report is byte for byte the one a single process writes (tests/test_shards.py). The child
inherits the parsed tallies through fork, so nothing is pickled on the way in, and sends back
its encoded cluster texts with the keys that order them.

Only the JSON summary is split (the text and Markdown reports show a few clusters, the HTML
one is rendered whole by one template). Where fork is missing, with --jobs 1, or when there are
few distinct stacks, one process does it all; if the child fails, the parent does its share.
"""
import io
import os
import pickle
import struct
import sys
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from goleak.errors import GoleakError
from goleak.model import ParseResult, Stack, Warning
from goleak.normalize import shard_key
from goleak.parse import UnfinishedResult
from goleak.report import Format, renderer_for
from goleak.report.view import ReportOptions, build_summary_view
from goleak.summary import Summary, SummarySettings, summarize

Parsed = Union[ParseResult, UnfinishedResult]

# Distinct stacks below which one process does it all: a fork, a pipe and a merge cost
# about 0.05 s, about what 500 distinct stacks take to cluster and write.
SHARD_MIN_STACKS = 2000

_HEADER = struct.Struct("<Q")  # byte length of the child's pickled keys


@dataclass(frozen=True)
class SummaryReport:
    warnings: Tuple[Warning, ...]  # of every snapshot, in source order
    chunks: Iterable[Union[str, bytes]]  # the report in order: text, or UTF-8 bytes


def summary_report(results: Sequence[Parsed], settings: SummarySettings, options: ReportOptions, fmt: str,
                   jobs: int = 1, min_stacks: int = SHARD_MIN_STACKS) -> SummaryReport:
    """The summary of results in format fmt, in two processes when jobs > 1, the format is
    JSON and the sources hold at least min_stacks distinct stacks."""
    if jobs > 1 and Format(fmt) is Format.JSON and _fork_available() and distinct_stacks(results) >= min_stacks:
        return _json_in_two(results, settings, options)
    summary = summarize([finish(r) for r in results], settings)
    view = build_summary_view(summary, options)
    if Format(fmt) is Format.JSON:
        from goleak.report import json_report
        return SummaryReport(summary.warnings, json_report.render_chunks(view))
    return SummaryReport(summary.warnings, [renderer_for(Format(fmt), view)(view, options)])


def finish(result: Parsed, keep: Optional[Callable[[Stack], bool]] = None) -> ParseResult:
    """The snapshots of result, with the groups of the stacks keep() accepts (all by default)."""
    if isinstance(result, UnfinishedResult):
        return result.finish(keep)
    if keep is None:
        return result
    return replace(result, snapshots=tuple(replace(s, groups=tuple(g for g in s.groups if keep(g.stack)))
                                           for s in result.snapshots))


def distinct_stacks(results: Sequence[Parsed]) -> int:
    """An upper bound of the distinct stacks in results (a stack read by two parse workers
    counts twice): cheap, and enough to tell a big job from a small one."""
    n = 0
    for r in results:
        if isinstance(r, UnfinishedResult):
            n += sum(len(b.groups) + len(b.raw) + len(b.imported) for b in r.builders)
        else:
            n += sum(len(s.groups) for s in r.snapshots)
    return n


def in_share(share: int, similarity: str) -> Callable[[Stack], bool]:
    """keep() for one of two shares: all stacks of a cluster fall in the same one."""
    def keep(stack: Stack) -> bool:
        return shard_key(stack, similarity) & 1 == share
    return keep


@dataclass(frozen=True)
class _Share:
    """One share's part of the report: cluster texts and suspect texts with their order keys."""

    summary: Summary
    cluster_keys: List[Tuple[int, str]]  # (-count, id), ascending
    cluster_texts: List[str]
    suspects: List[Tuple[Tuple[float, str], str]]  # ((-score, id), text), ascending
    ignored: int


def _run_share(results: Sequence[Parsed], settings: SummarySettings, options: ReportOptions, share: int) -> _Share:
    from goleak.report import json_report
    keep = in_share(share, settings.similarity)
    summary = summarize([finish(r, keep) for r in results], settings)
    view = build_summary_view(summary, options)
    return _Share(
        summary=summary,
        cluster_keys=[(-c.count, c.id) for c in summary.clusters],
        cluster_texts=list(json_report.cluster_texts(view.clusters)),
        suspects=[((-s.score, s.cluster.id), json_report.suspect_text(v))
                  for s, v in zip(summary.suspects, view.suspects)],
        ignored=summary.ignored,
    )


def _json_in_two(results: Sequence[Parsed], settings: SummarySettings, options: ReportOptions) -> SummaryReport:
    from goleak.report import json_report
    child = _Child.start(lambda: _run_share(results, settings, options, 1))
    mine = _run_share(results, settings, options, 0)
    theirs = child.result() if child is not None else None
    if theirs is None:
        # No child, or it failed (killed, out of memory): this process does its share too.
        other = _run_share(results, settings, options, 1)
        theirs = _Received(other.cluster_keys, (t.encode("utf-8") for t in other.cluster_texts), other.suspects,
                           other.ignored)
    # The report's frame (totals, sources, warnings) is every share's; what the shares split
    # is added up or merged.
    frame = replace(mine.summary, clusters=(), flags=(), suspects=(), ignored=mine.ignored + theirs.ignored)
    head, tail = json_report.summary_frame(build_summary_view(frame, options),
                                           [text for _, text in _merged(mine.suspects, theirs.suspects)])
    order = _merged([(key, True) for key in mine.cluster_keys], [(key, False) for key in theirs.cluster_keys])
    return SummaryReport(mine.summary.warnings, _json_bytes(head, tail, order, iter(mine.cluster_texts), theirs.texts))


def _json_bytes(head: str, tail: str, order: List[Tuple[object, bool]], mine: Iterator[str],
                theirs: Iterator[bytes]) -> Iterator[bytes]:
    """The report as UTF-8 pieces: the child's texts pass through as the bytes it sent."""
    yield head.encode("utf-8")
    comma = b""
    for _, is_mine in order:
        yield comma
        yield next(mine).encode("utf-8") if is_mine else next(theirs)
        comma = b","
    yield tail.encode("utf-8")


def _merged(a: list, b: list) -> list:
    """Two lists of (key, value), each in ascending key order, as one in ascending order."""
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][0] <= b[j][0]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    out.extend(a[i:])
    out.extend(b[j:])
    return out


@dataclass
class _Received:
    cluster_keys: List[Tuple[int, str]]
    texts: Iterator[bytes]  # encoded
    suspects: List[Tuple[Tuple[float, str], str]]
    ignored: int


class _Child:
    """A forked process that computes a _Share and sends it through a pipe: first the pickled
    keys, suspects and the byte length of each cluster text, then the texts, encoded. The
    parent reads the texts one by one as it writes the report, never all at once."""

    def __init__(self, pid: int, stream: io.BufferedReader):
        self.pid = pid
        self.stream = stream

    @classmethod
    def start(cls, work: Callable[[], _Share]) -> Optional["_Child"]:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            read_end, write_end = os.pipe()
            try:
                # A megabyte at a time through the pipe, not 64 KiB: fewer turns of the two
                # processes while the parent writes the report. (Only where fork is: POSIX.)
                import fcntl
                fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
            except OSError:
                pass
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:  # the child: never returns
            os.close(read_end)
            status = 1
            try:
                _send(work(), os.fdopen(write_end, "wb", buffering=1 << 20))
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        return cls(pid, os.fdopen(read_end, "rb", buffering=1 << 20))

    def result(self) -> Optional[_Received]:
        """What the child sent, or None if it failed before sending all its keys."""
        head = self.stream.read(_HEADER.size)
        keys = None
        if len(head) == _HEADER.size:
            (size,) = _HEADER.unpack(head)
            data = self.stream.read(size)
            if len(data) == size:
                keys = pickle.loads(data)
        if keys is None:
            self.stream.close()
            os.waitpid(self.pid, 0)
            return None
        cluster_keys, lengths, suspects, ignored = keys
        return _Received(cluster_keys, self._texts(lengths), suspects, ignored)

    def _texts(self, lengths: List[int]) -> Iterator[bytes]:
        read = self.stream.read
        try:
            for n in lengths:
                data = read(n)
                if len(data) != n:
                    raise GoleakError("the second process of this report ended before sending all of it "
                                      "(killed? out of memory?); --jobs 1 does it in one process")
                yield data
        finally:
            self.stream.close()
            os.waitpid(self.pid, 0)


def _send(share: _Share, out: io.BufferedWriter) -> None:
    texts = [t.encode("utf-8") for t in share.cluster_texts]
    keys = pickle.dumps((share.cluster_keys, [len(t) for t in texts], share.suspects, share.ignored),
                        protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(keys)))
    out.write(keys)
    for t in texts:
        out.write(t)
    out.flush()


def _fork_available() -> bool:
    # As for the parallel parse (parse/parallel.py): fork shares everything read so far for
    # free; where it is missing (Windows) or unsafe (macOS), one process does the work.
    return hasattr(os, "fork") and sys.platform != "darwin"
