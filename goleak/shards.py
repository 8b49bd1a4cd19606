"""A JSON summary computed in two processes, one shard of the clusters each."""
import io
import itertools
import os
import pickle
import signal
import struct
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from goleak.model import Stack, Warning
from goleak.normalize import shard_key
from goleak.parse import Parsed, finish_parsed
from goleak.report import json_report
from goleak.report.view import ReportOptions, build_summary_view
from goleak.summary import Summary, SummarySettings, summarize

_SIZE = struct.Struct("<Q")  # the byte length of what follows it on the pipe


def in_shard(shard: int, similarity: str) -> Callable[[Stack], bool]:
    """keep() for one of two shards: all stacks of a cluster fall in the same one."""
    def keep(stack: Stack) -> bool:
        return shard_key(stack, similarity) & 1 == shard
    return keep


@dataclass(frozen=True)
class _Shard:
    """One shard's part of the report: cluster and suspect texts with the keys that order them."""

    summary: Optional[Summary]  # this process's shard only: the report's frame comes from it
    cluster_keys: List[Tuple[int, str]]  # (-count, id), ascending
    cluster_texts: List[bytes]  # encoded, in the order of cluster_keys
    suspects: List[Tuple[Tuple[float, str], str]]  # ((-score, id), text), ascending
    ignored: int
    hidden_ids: List[str]  # of the clusters the ignore rules hid


def _run_shard(results: Sequence[Parsed], settings: SummarySettings, options: ReportOptions, shard: int) -> _Shard:
    keep = in_shard(shard, settings.similarity)
    hidden: List[str] = []
    if settings.ignore is not None:
        rules = settings.ignore

        def ignore(cluster) -> bool:
            # Hidden clusters count in _overlap's check as much as shown ones.
            if rules(cluster):
                hidden.append(cluster.id)
                return True
            return False
        settings = replace(settings, ignore=ignore)
    summary = summarize([finish_parsed(r, keep) for r in results], settings)
    view = build_summary_view(summary, options)
    return _Shard(
        summary=summary,
        cluster_keys=[(-c.count, c.id) for c in summary.clusters],
        cluster_texts=[t.encode("utf-8") for t in json_report.cluster_texts(view.clusters)],
        suspects=[((-s.score, s.cluster.id), json_report.suspect_text(v))
                  for s, v in zip(summary.suspects, view.suspects)],
        ignored=summary.ignored,
        hidden_ids=hidden,
    )


def render_json_in_shards(results: Sequence[Parsed], settings: SummarySettings,
                          options: ReportOptions) -> Optional[Tuple[Tuple[Warning, ...], Iterator[bytes]]]:
    """(warnings, the report's UTF-8 pieces) of the JSON summary of results, computed in two
    processes; None when one process must do it all (the shards overlap).

    A dump with many distinct stacks spends most of a summary after the parse, one distinct
    stack at a time: folding tallies into groups, clustering, the view and the JSON. Each of
    those works cluster by cluster, so the work splits by cluster: normalize.shard_key gives
    every stack a number that all stacks of one cluster share; a forked child takes the
    stacks of shard 1 and this process those of shard 0; each runs the ordinary stages on its
    shard; this process merges the two in the order summarize() gives (clusters by count,
    then id; suspects by score, then id), so the report is byte for byte the one a single
    process writes (tests/test_shards.py). The child inherits the parsed tallies through
    fork, so nothing is pickled on the way in. If it fails at any point, this process does
    its shard too.
    """
    child = None
    try:
        child = _Child.start(lambda: _run_shard(results, settings, options, 1))
        mine = _run_shard(results, settings, options, 0)
        theirs = child.result() if child is not None else None
    finally:
        if child is not None:
            child.close()
    if theirs is None:
        # No child, or it failed (killed, out of memory): this process does its shard too.
        theirs = _run_shard(results, settings, options, 1)
    if _overlap(mine, theirs):
        return None
    # The report's frame (totals, sources, warnings) is every shard's; what the shards
    # split is added up or merged.
    frame = replace(mine.summary, clusters=(), flags=(), suspects=(), ignored=mine.ignored + theirs.ignored)
    head, tail = json_report.summary_frame(
        build_summary_view(frame, options),
        [text for _, text in sorted(mine.suspects + theirs.suspects, key=itemgetter(0))])
    # Two sorted runs of unique keys: sorted() merges them in C in one linear pass, where
    # heapq.merge would step through 20,000 clusters in Python.
    order = sorted(itertools.chain(zip(mine.cluster_keys, mine.cluster_texts),
                                   zip(theirs.cluster_keys, theirs.cluster_texts)), key=itemgetter(0))
    texts = map(itemgetter(1), order)
    return mine.summary.warnings, json_report.splice(head.encode("utf-8"), texts, tail.encode("utf-8"))


def _overlap(mine: _Shard, theirs: _Shard) -> bool:
    """Whether a cluster (shown or hidden by the ignore rules) came out of both shards.
    shard_key reads a cluster's lines off its frames; a function name with a newline in it
    (only a hostile protobuf has one) can make two different frame lists print the same
    cluster key, and so one cluster in both shards."""
    ours = {k[1] for k in mine.cluster_keys}
    ours.update(mine.hidden_ids)
    return not ours.isdisjoint([k[1] for k in theirs.cluster_keys] + theirs.hidden_ids)


class _Child:
    """A forked process that computes a _Shard and sends it through a pipe: the pickled keys,
    suspects and count of cluster texts, then each text with its length."""

    def __init__(self, pid: int, stream: io.BufferedReader):
        self.pid = pid
        self.stream = stream
        self.done = False  # everything received

    @classmethod
    def start(cls, work: Callable[[], _Shard]) -> Optional["_Child"]:
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return None
        try:
            # A megabyte at a time through the pipe, not 64 KiB: fewer turns of the two
            # processes while this one reads the texts. (Linux only; fork is POSIX.)
            import fcntl
            if hasattr(fcntl, "F_SETPIPE_SZ"):
                fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        # Interrupts wait until each side stands where it can handle them: the child inside
        # the try that ends in os._exit, this process with the child on record to reap.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(read_end)
            os.close(write_end)
            return None
        if pid == 0:
            # The child never returns into the caller's code, whatever happens (an exception,
            # an interrupt): its only way out is os._exit, which flushes none of the buffers
            # it shares with the parent.
            status = 1
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                os.close(read_end)
                with os.fdopen(write_end, "wb", buffering=1 << 20) as out:
                    _send(work(), out)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        child = cls(pid, os.fdopen(read_end, "rb", buffering=1 << 20))
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        except BaseException:
            child.close()
            raise
        return child

    def result(self) -> Optional[_Shard]:
        """What the child sent, all of it, or None if it failed before the end."""
        data = self._record()
        if data is None:
            return None
        cluster_keys, count, suspects, ignored, hidden_ids = pickle.loads(data)
        texts = []
        for _ in range(count):
            text = self._record()
            if text is None:
                return None
            texts.append(text)
        if len(cluster_keys) != count:
            return None
        self.done = True
        return _Shard(None, cluster_keys, texts, suspects, ignored, hidden_ids)

    def _record(self) -> Optional[bytes]:
        """The next length-prefixed record of the pipe, or None if the child stopped short."""
        head = self.stream.read(_SIZE.size)
        if len(head) != _SIZE.size:
            return None
        (size,) = _SIZE.unpack(head)
        data = self.stream.read(size)
        return data if len(data) == size else None

    def close(self) -> None:
        """Stop the child unless it sent everything (this process failed or was interrupted),
        close the pipe and reap the child."""
        if not self.done:
            try:
                # Unless it is gone already (its pid could then be another process's).
                if os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                    os.kill(self.pid, signal.SIGTERM)
            except (ChildProcessError, ProcessLookupError):
                pass
        self.stream.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped already, or SIGCHLD ignored
            pass


def _send(shard: _Shard, out: io.BufferedWriter) -> None:
    keys = pickle.dumps((shard.cluster_keys, len(shard.cluster_texts), shard.suspects, shard.ignored,
                         shard.hidden_ids), protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_SIZE.pack(len(keys)))
    out.write(keys)
    for text in shard.cluster_texts:
        out.write(_SIZE.pack(len(text)))
        out.write(text)
