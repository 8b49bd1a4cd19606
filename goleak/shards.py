"""A JSON summary computed in two processes that share out its clusters in shards."""
import io
import itertools
import mmap
import os
import pickle
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from goleak import forked
from goleak.model import Stack, Warning
from goleak.normalize import shard_key
from goleak.parse import Parsed, finish_parsed
from goleak.report import json_report
from goleak.report.view import FrameViews, ReportOptions, build_summary_view
from goleak.summary import Summary, SummarySettings, summarize

# Clusters fall into FINE_SHARDS shards by normalize.shard_key; the two processes take them a
# token at a time, big tokens first. The two vCPUs of a shared machine often run at different
# speeds for a while (one process doing the same work 10-30 % slower than the other), so a
# fixed half each left the faster one idle for up to 0.3 s of a 1.3 s share on distinct-20k;
# now the last token either process can still be busy with is a sixteenth of the work. Each
# token costs a pass over the tallies (memoised shard keys, ~10 ms for 30,000 stacks), so
# there are few of them.
FINE_SHARDS = 16
TOKENS: Tuple[FrozenSet[int], ...] = tuple(frozenset(t) for t in (
    range(0, 5), range(5, 10), range(10, 12), range(12, 14), (14,), (15,)))


class Sharding:
    """The fine shard of each stack at one similarity, computed once per stack and process:
    all stacks of a cluster share it (normalize.shard_key)."""

    def __init__(self, similarity: str):
        self.similarity = similarity
        # id(stack) -> its fine shard. The parsed results keep every stack alive while a
        # summary runs, so no id is reused; the key is an id because Stack hashes in Python.
        self.of: Dict[int, int] = {}

    def keep(self, shards: FrozenSet[int]) -> Callable[[Stack], bool]:
        """keep() for the stacks of the given fine shards."""
        of = self.of
        similarity = self.similarity

        def keep(stack: Stack) -> bool:
            fine = of.get(id(stack))
            if fine is None:
                fine = of[id(stack)] = shard_key(stack, similarity) % FINE_SHARDS
            return fine in shards
        return keep


@dataclass(frozen=True)
class _Shard:
    """One token's part of the report: cluster and suspect texts with the keys that order them."""

    summary: Optional[Summary]  # this process's tokens only: the report's frame comes from it
    cluster_keys: List[Tuple[int, str]]  # (-count, id), ascending
    cluster_texts: Sequence[bytes]  # encoded (or views of the child's), in the order of cluster_keys
    suspects: List[Tuple[Tuple[float, str], str]]  # ((-score, id), text), ascending
    ignored: int
    hidden_ids: List[str]  # of the clusters the ignore rules hid


class _TokenRunner:
    """What one process needs to compute tokens: the inputs, and the caches its tokens share
    (each shard's view and JSON meet the same few thousand frames)."""

    def __init__(self, results: Sequence[Parsed], settings: SummarySettings, options: ReportOptions):
        self.results = results
        self.settings = settings
        self.options = options
        self.sharding = Sharding(settings.similarity)
        self.frames_of = FrameViews(options)
        self.writer = json_report.ClusterTexts()

    def run(self, token: int) -> _Shard:
        keep = self.sharding.keep(TOKENS[token]) if token >= 0 else (lambda stack: False)
        settings = self.settings
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
        summary = summarize([finish_parsed(r, keep) for r in self.results], settings)
        view = build_summary_view(summary, self.options, self.frames_of)
        return _Shard(
            summary=summary,
            cluster_keys=[(-c.count, c.id) for c in summary.clusters],
            cluster_texts=[t.encode("utf-8") for t in json_report.cluster_texts(view.clusters, self.writer)],
            suspects=[((-s.score, s.cluster.id), json_report.suspect_text(v))
                      for s, v in zip(summary.suspects, view.suspects)],
            ignored=summary.ignored,
            hidden_ids=hidden,
        )


def _run_child(out: io.BufferedWriter, runner: _TokenRunner, queue: int, store: Optional["_TextStore"]) -> None:
    """The child's work: tokens from the queue until it is empty, each sent to this process.
    With a store, a token's texts go there and only its small head through the pipe, at once;
    without one, the texts follow their head through the pipe, so they wait until the queue
    is empty: this process reads the pipe only after its own tokens, and a child that sent
    megabytes as it went would stop at the pipe's first megabyte until then, leaving the
    tokens still queued to this process."""
    held = []
    for token in _take_tokens(queue):
        records = _pack(token, runner.run(token), store)
        if store is not None:
            _send(records, out)
        else:
            held.append(records)
    for records in held:
        _send(records, out)


def _take_tokens(queue: int) -> Iterator[int]:
    """The tokens this process takes from the queue pipe until it is empty. A read of one
    byte from a pipe is atomic, so each token goes to exactly one of the processes."""
    while True:
        token = os.read(queue, 1)
        if not token:
            return
        yield token[0]


def render_json_in_shards(results: Sequence[Parsed], settings: SummarySettings,
                          options: ReportOptions) -> Optional[Tuple[Tuple[Warning, ...], Iterator[bytes]]]:
    """(warnings, the report's UTF-8 pieces) of the JSON summary of results, computed in two
    processes; None when one process must do it all (the shards overlap).

    A dump with many distinct stacks spends most of a summary after the parse, one distinct
    stack at a time: folding tallies into groups, clustering, the view and the JSON. Each of
    those works cluster by cluster, so the work splits by cluster: normalize.shard_key gives
    every stack a number that all stacks of one cluster share, which puts it in one of
    FINE_SHARDS shards; a forked child and this process take TOKENS of shards from a queue
    until none is left, and each runs the ordinary stages on the stacks of its tokens. This
    process merges the results in the order summarize() gives (clusters by count, then id;
    suspects by score, then id), so the report is byte for byte the one a single process
    writes (tests/test_shards.py). The child inherits the parsed tallies through fork, so
    nothing is pickled on the way in. Whatever tokens the child took and did not deliver in
    full (it failed, or was killed), this process computes too.
    """
    runner = _TokenRunner(results, settings, options)
    try:
        read_end, write_end = os.pipe()
    except OSError:  # out of file descriptors: one process it is
        return None
    try:
        os.write(write_end, bytes(range(len(TOKENS))))
    except OSError:
        os.close(read_end)
        return None
    finally:
        # Once the queue is empty, reads see its end instead of waiting for more.
        os.close(write_end)
    child = store = None
    try:
        store = _TextStore.create()
        child = forked.Child.start(lambda out: _run_child(out, runner, read_end, store))
        mine = {token: runner.run(token) for token in _take_tokens(read_end)}
        theirs = _receive(child, store) if child is not None else {}
    finally:
        os.close(read_end)
        if child is not None:
            child.close()
        if store is not None:
            store.close()
    # The child's tokens that never arrived whole (or all, with no child): done here.
    done = {**theirs, **mine}
    for token in range(len(TOKENS)):
        if token not in done:
            done[token] = mine[token] = runner.run(token)
    parts = list(done.values())
    if _overlap(parts):
        return None
    # The report's frame (totals, sources, warnings) is every shard's; what the shards
    # split is added up or merged. One of this process's summaries gives it (an empty one
    # if the child took every token).
    own = next(iter(mine.values())) if mine else runner.run(-1)
    frame = replace(own.summary, clusters=(), flags=(), suspects=(), ignored=sum(p.ignored for p in parts))
    head, tail = json_report.summary_frame(
        build_summary_view(frame, options),
        [text for _, text in sorted([s for p in parts for s in p.suspects], key=itemgetter(0))])
    # Sorted runs of unique keys: sorted() merges them in C, where heapq.merge would step
    # through 20,000 clusters in Python.
    order = sorted([pair for p in parts for pair in zip(p.cluster_keys, p.cluster_texts)], key=itemgetter(0))
    return own.summary.warnings, json_report.splice(head.encode("utf-8"), map(itemgetter(1), order),
                                                    tail.encode("utf-8"))


def _overlap(parts: Sequence[_Shard]) -> bool:
    """Whether a cluster (shown or hidden by the ignore rules) came out of two shards.
    shard_key reads a cluster's lines off its frames; a function name with a newline in it
    (only a hostile protobuf has one) can make two different frame lists print the same
    cluster key, and so one cluster in two shards."""
    ids = [k[1] for p in parts for k in p.cluster_keys]
    for p in parts:
        ids.extend(p.hidden_ids)
    return len(set(ids)) != len(ids)


class _TextStore:
    """A memory file (memfd) both processes share, for the child's cluster texts: written by
    the child with no pipe to wait on, mapped by this process without a copy. The texts of
    distinct-20k are 43 MB a process; through a pipe, a megabyte at a time, they took this
    process 0.1-0.16 s to receive after the last token. Linux only: elsewhere (None) the
    texts follow their keys through the pipe."""

    def __init__(self, fd: int):
        self.fd = fd

    @classmethod
    def create(cls) -> Optional["_TextStore"]:
        try:
            return cls(os.memfd_create("goleak-shards", os.MFD_CLOEXEC))
        except (AttributeError, OSError):
            return None

    def put(self, blob: bytes) -> int:
        """Append blob; where it starts. Only the child writes (one writer, one offset)."""
        start = os.lseek(self.fd, 0, os.SEEK_END)
        view = memoryview(blob)
        while view:
            view = view[os.write(self.fd, view):]
        return start

    def mapped(self) -> memoryview:
        if not os.fstat(self.fd).st_size:  # only empty tokens: nothing to map
            return memoryview(b"")
        return memoryview(mmap.mmap(self.fd, 0, mmap.MAP_SHARED, mmap.PROT_READ))

    def close(self) -> None:
        os.close(self.fd)  # a mapping made from it stays valid


def _pack(token: int, shard: _Shard, store: Optional[_TextStore]) -> List[bytes]:
    """The records of a token: the pickled token, keys, text lengths, suspects and counts,
    with the cluster texts as one blob put in the store at once (its offset in the first
    record), or as a second record (offset None)."""
    blob = b"".join(shard.cluster_texts)
    offset = store.put(blob) if store is not None else None
    head = pickle.dumps((token, shard.cluster_keys, [len(t) for t in shard.cluster_texts], shard.suspects,
                         shard.ignored, shard.hidden_ids, offset), protocol=pickle.HIGHEST_PROTOCOL)
    return [head] if offset is not None else [head, blob]


def _send(records: List[bytes], out: io.BufferedWriter) -> None:
    for record in records:
        forked.send(out, record)
    # A token sent reaches this process whole even if the child dies later.
    out.flush()


def _receive(child: forked.Child, store: Optional[_TextStore]) -> Dict[int, _Shard]:
    """The tokens the child sent in full, by token; one it was cut off in is left out."""
    received: Dict[int, _Shard] = {}
    stored = []  # (token, keys, lengths, suspects, ignored, hidden ids, offset)
    while True:
        data = child.record()
        if data is None:
            # The end of the pipe: after the last token, or where the child stopped short.
            child.done = True
            break
        head = pickle.loads(data)
        token, cluster_keys, lengths, suspects, ignored, hidden_ids, offset = head
        if len(lengths) != len(cluster_keys):
            return received  # not what _send writes: the child is stopped
        if offset is not None:
            stored.append(head)
            continue
        blob = child.record()
        if blob is None:
            child.done = True
            break
        received[token] = _shard_of(head, memoryview(blob), 0)
    if stored:
        # Mapped once all has arrived: a token's head follows its texts into the store.
        try:
            texts = store.mapped()
        except (OSError, ValueError):  # no memory to map it: this process does those tokens
            return received
        for head in stored:
            if head[-1] + sum(head[2]) <= len(texts):
                received[head[0]] = _shard_of(head, texts, head[-1])
    return received


def _shard_of(head: tuple, texts: memoryview, start: int) -> _Shard:
    token, cluster_keys, lengths, suspects, ignored, hidden_ids, _ = head
    # Views into the texts, not copies: the report joins them as they are.
    ends = list(itertools.accumulate(lengths, initial=start))
    return _Shard(None, cluster_keys, list(map(texts.__getitem__, map(slice, ends[:-1], ends[1:]))), suspects,
                  ignored, hidden_ids)
