"""A summary computed in two processes that share out its clusters in shards."""
import io
import itertools
import mmap
import os
import pickle
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from operator import attrgetter, itemgetter
from typing import Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from goleak import forked
from goleak.model import Cluster, Stack, Warning
from goleak.normalize import shard_key
from goleak.parse import Parsed, UnfinishedResult, finish_parsed
from goleak.report import json_report
from goleak.report.view import FrameViews, ReportOptions, build_summary_view
from goleak.summary import Summary, SummarySettings, Suspect, summarize

# Clusters fall into FINE_SHARDS shards by normalize.shard_key; the two processes take them a
# token at a time, big tokens first. The two vCPUs of a shared machine often run at different
# speeds for a while (one process doing the same work 10-30 % slower than the other), so a
# fixed half each left the faster one idle for up to 0.3 s of a 1.3 s share on distinct-20k;
# now the last token either process can still be busy with is a sixteenth of the work. Each
# token costs a pass over the tallies (memoised shard keys, ~16 ms for 30,000 stacks), so
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

    def summary(self, token: int) -> Tuple[Summary, List[str]]:
        """The summary of a token's stacks (of none for token -1), and the ids of the
        clusters its ignore rules hid: they count in _overlap's check as much as shown ones."""
        keep = self.sharding.keep(TOKENS[token]) if token >= 0 else (lambda stack: False)
        settings = self.settings
        hidden: List[str] = []
        if settings.ignore is not None:
            rules = settings.ignore

            def ignore(cluster) -> bool:
                if rules(cluster):
                    hidden.append(cluster.id)
                    return True
                return False
            settings = replace(settings, ignore=ignore)
        return summarize([finish_parsed(r, keep, ordered=False) for r in self.results], settings), hidden

    def json_part(self, token: int) -> "_JsonPart":
        summary, hidden = self.summary(token)
        view = build_summary_view(summary, self.options, self.frames_of)
        return _JsonPart(
            summary=summary,
            cluster_keys=[(-c.count, c.id) for c in summary.clusters],
            cluster_texts=[t.encode("utf-8") for t in json_report.cluster_texts(view.clusters, self.writer)],
            suspects=[((-s.score, s.cluster.id), json_report.suspect_text(v))
                      for s, v in zip(summary.suspects, view.suspects)],
            ignored=summary.ignored,
            hidden_ids=hidden,
        )


# -- the JSON summary: each process writes the JSON of its tokens' clusters -------------------

@dataclass(frozen=True)
class _JsonPart:
    """One token's part of the JSON report: cluster and suspect texts with the keys that
    order them."""

    summary: Optional[Summary]  # this process's tokens only: the report's frame comes from it
    cluster_keys: List[Tuple[int, str]]  # (-count, id), ascending
    cluster_texts: Sequence[bytes]  # encoded (or views of the child's), in the order of cluster_keys
    suspects: List[Tuple[Tuple[float, str], str]]  # ((-score, id), text), ascending
    ignored: int
    hidden_ids: List[str]  # of the clusters the ignore rules hid


def render_json_in_shards(results: Sequence[Parsed], settings: SummarySettings,
                          options: ReportOptions) -> Optional[Tuple[Tuple[Warning, ...], Iterator[bytes]]]:
    """(warnings, the report's UTF-8 pieces) of the JSON summary of results, computed in two
    processes; None when one process must do it all (the shards overlap, or no queue).

    A dump with many distinct stacks spends most of a summary after the parse, one distinct
    stack at a time: folding tallies into groups, clustering, the view and the JSON. Each of
    those works cluster by cluster, so the work splits by cluster: normalize.shard_key gives
    every stack a number that all stacks of one cluster share, which puts it in one of
    FINE_SHARDS shards; a forked child and this process take TOKENS of shards from a queue
    until none is left (_share_tokens), and each runs the ordinary stages on the stacks of
    its tokens, down to the JSON text of each cluster. This process merges the results in
    the order summarize() gives (clusters by count, then id; suspects by score, then id), so
    the report is byte for byte the one a single process writes (tests/test_shards.py).
    """
    runner = _TokenRunner(results, settings, options)
    gathered = _gather(runner.json_part, _encode_json_part, _decode_json_part,
                       lambda p: [k[1] for k in p.cluster_keys] + p.hidden_ids)
    if gathered is None:
        return None
    parts, own = gathered
    # The report's frame (totals, sources, warnings) is every shard's; what the shards
    # split is added up or merged.
    frame = _frame(own.summary, sum(p.ignored for p in parts))
    head, tail = json_report.summary_frame(
        build_summary_view(frame, options),
        [text for _, text in sorted([s for p in parts for s in p.suspects], key=itemgetter(0))])
    # Sorted runs of unique keys: sorted() merges them in C, where heapq.merge would step
    # through 20,000 clusters in Python.
    order = sorted([pair for p in parts for pair in zip(p.cluster_keys, p.cluster_texts)], key=itemgetter(0))
    return own.summary.warnings, json_report.splice(head.encode("utf-8"), map(itemgetter(1), order),
                                                    tail.encode("utf-8"))


def _encode_json_part(part: _JsonPart) -> List[Sequence[bytes]]:
    head = pickle.dumps((part.cluster_keys, [len(t) for t in part.cluster_texts], part.suspects, part.ignored,
                         part.hidden_ids), protocol=pickle.HIGHEST_PROTOCOL)
    # The texts as they are, not joined: a token's are up to 25 MB, and _Store.put writes
    # them with writev (joining them cost the child 15-20 ms a token, on its critical path).
    return [[head], part.cluster_texts]


def _decode_json_part(encoded: List[memoryview]) -> Optional[_JsonPart]:
    """A child's token, or None if it is not what _encode_json_part writes (the caller then
    computes the token itself)."""
    try:
        cluster_keys, lengths, suspects, ignored, hidden_ids = pickle.loads(encoded[0])
        texts = encoded[1]
    except (pickle.UnpicklingError, EOFError, IndexError, TypeError, ValueError):
        return None
    if len(lengths) != len(cluster_keys) or sum(lengths) != len(texts):
        return None
    # Views into the texts, not copies: the report joins them as they are.
    ends = list(itertools.accumulate(lengths, initial=0))
    return _JsonPart(None, cluster_keys, list(map(texts.__getitem__, map(slice, ends[:-1], ends[1:]))), suspects,
                     ignored, hidden_ids)


# -- any other format: the summary is computed in shards, then viewed and rendered here -------

def summarize_in_shards(results: Sequence[Parsed], settings: SummarySettings) -> Optional[Summary]:
    """summarize() of results, computed in two processes as render_json_in_shards does, for
    the reports whose renderers need every cluster in one process (text, Markdown, HTML):
    the child sends the clusters, flags and suspects of its tokens, and this process merges
    them in summarize()'s order. The clusters' stacks do not travel: the child names each by
    its address, which fork kept the same in both processes (_Stacks). None when one process
    must do it all. The snapshots of the summary have no groups (reports read their names
    and totals only)."""
    runner = _TokenRunner(results, settings, ReportOptions())
    stacks = _Stacks(results)
    gathered = _gather(runner.summary, stacks.encode, stacks.decode,
                       lambda part: [c.id for c in part[0].clusters] + part[1])
    if gathered is None:
        return None
    parts, (own, _) = gathered
    summaries = [s for s, _ in parts]
    # Clusters by count, then id, each with its flags; suspects by score, then id.
    clusters = sorted([pair for s in summaries for pair in zip(s.clusters, s.flags)],
                      key=lambda pair: (-pair[0].count, pair[0].id))
    return replace(_frame(own, sum(s.ignored for s in summaries)),
                   clusters=tuple(map(itemgetter(0), clusters)), flags=tuple(map(itemgetter(1), clusters)),
                   suspects=tuple(sorted([x for s in summaries for x in s.suspects],
                                         key=lambda x: (-x.score, x.cluster.id))))


class _Stacks:
    """The stacks of the parsed results by address, so that the child's clusters come back
    holding this process's stacks: pickle looks a Stack up in a dispatch table (C, no
    Python call for any other object) and sends its address when it is one of these.
    Clusters travel as tuples of their fields and suspects as (cluster index, score,
    reasons): about a third of what pickling the objects costs either side."""

    def __init__(self, results: Sequence[Parsed]):
        by_address: Dict[int, Stack] = {}
        for r in results:
            if isinstance(r, UnfinishedResult):
                for b in r.builders:
                    by_address.update((id(entry[0]), entry[0]) for entry in b.raw.values())
                    by_address.update((id(stack), stack) for stack, _ in b.imported)
                    by_address.update((id(key[0]), key[0]) for key in b.groups)
            else:
                by_address.update((id(g.stack), g.stack) for s in r.snapshots for g in s.groups)
        self.by_address = by_address

    def _reduce(self, stack: Stack):
        if self.by_address.get(id(stack)) is stack:
            return _stack_at, (id(stack),)
        return stack.__reduce__()  # one the child made itself: sent whole

    def encode(self, result: Tuple[Summary, List[str]]) -> List[Sequence[bytes]]:
        summary, hidden = result
        index = {id(c): i for i, c in enumerate(summary.clusters)}
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = {Stack: self._reduce}
        pickler.dump((list(map(_CLUSTER_FIELDS, summary.clusters)), summary.flags,
                      [(index[id(s.cluster)], s.score, s.reasons) for s in summary.suspects], summary.ignored,
                      hidden))
        return [[out.getvalue()]]

    def decode(self, encoded: List[memoryview]) -> Optional[Tuple["_Part", List[str]]]:
        """A child's token, or None if it is not what encode() writes (the caller then
        computes the token itself)."""
        try:
            fields, flags, suspects, ignored, hidden = _StackUnpickler(encoded[0], self.by_address).load()
            clusters = tuple(itertools.starmap(Cluster, fields))
            return _Part(clusters, flags, tuple(Suspect(clusters[i], score, reasons)
                                                for i, score, reasons in suspects), ignored), hidden
        except (pickle.UnpicklingError, EOFError, KeyError, IndexError, TypeError, ValueError):
            return None


class _StackUnpickler(pickle.Unpickler):
    """Unpickles what _Stacks.encode wrote: the child's _stack_at(address) calls become
    lookups in this process's table of the same stacks."""

    def __init__(self, data: memoryview, by_address: Dict[int, Stack]):
        super().__init__(io.BytesIO(data))
        self.by_address = by_address

    def find_class(self, module: str, name: str):
        if module == __name__ and name == "_stack_at":
            return self.by_address.__getitem__
        return super().find_class(module, name)


# A cluster's fields in the order Cluster() takes them.
_CLUSTER_FIELDS = attrgetter(*[f.name for f in dataclass_fields(Cluster)])


@dataclass(frozen=True)
class _Part:
    """What summarize_in_shards merges of a child's token (a Summary's fields of the same names)."""

    clusters: tuple
    flags: tuple
    suspects: tuple
    ignored: int


def _stack_at(address: int) -> Stack:
    """What a pickled stack address names: pickle refers to a module-level function by name,
    and _StackUnpickler resolves that name to its own table, so this is never called."""
    raise RuntimeError("a stack address is resolved by _StackUnpickler")


def _frame(summary: Summary, ignored: int) -> Summary:
    """What every shard's summary has in common (sources, snapshots' totals, warnings), with
    the ignored count of all: no clusters, and snapshots without their groups, of which a
    shard has only its own."""
    return replace(summary, clusters=(), flags=(), suspects=(), ignored=ignored,
                   snapshots=tuple(replace(s, groups=()) for s in summary.snapshots))


def _gather(compute: Callable[[int], object], encode: Callable[[object], List[Sequence[bytes]]],
            decode: Callable[[List[memoryview]], Optional[object]], ids: Callable[[object], List[str]]
            ) -> Optional[Tuple[List[object], object]]:
    """Every token's result, computed in two processes (_share_tokens): the child's decoded,
    and what it did not deliver whole (or could not be decoded) computed here; with one of
    this process's own results, which carries the summary the report's frame comes from (an
    empty one, token -1, if the child took every token). None when one process must do it
    all: no queue could be made, or a cluster id (ids(result): shown and hidden) came out of
    two tokens."""
    shared = _share_tokens(compute, encode)
    if shared is None:
        return None
    mine, theirs = shared
    parts = {token: part for token, part in ((t, decode(e)) for t, e in theirs.items()) if part is not None}
    parts.update(mine)
    for token in range(len(TOKENS)):
        if token not in parts:
            parts[token] = mine[token] = compute(token)
    if _overlap([ids(p) for p in parts.values()]):
        return None
    return list(parts.values()), next(iter(mine.values())) if mine else compute(-1)


def _overlap(ids_per_part: Sequence[List[str]]) -> bool:
    """Whether a cluster (shown or hidden by the ignore rules) came out of two shards.
    shard_key reads a cluster's lines off its frames; a function name with a newline in it
    (only a hostile protobuf has one) can make two different frame lists print the same
    cluster key, and so one cluster in two shards."""
    ids = [i for ids in ids_per_part for i in ids]
    return len(set(ids)) != len(ids)


# -- the two processes and their queue of tokens -----------------------------------------------

def _share_tokens(compute: Callable[[int], object], encode: Callable[[object], List[Sequence[bytes]]]
                  ) -> Optional[Tuple[Dict[int, object], Dict[int, List[memoryview]]]]:
    """Every token computed once, here or in a forked child: (this process's results by
    token, what the child sent of its tokens, encoded: per token, the parts encode() gave
    (each a list of byte strings), each as one memoryview). A token the child took and did
    not deliver whole (it failed, or was killed) is in neither: the caller computes it. The
    child inherits the parsed tallies through fork, so nothing is pickled on the way in.
    None if no queue could be made (out of file descriptors)."""
    try:
        read_end, write_end = os.pipe()
    except OSError:
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
        store = _Store.create()
        child = forked.Child.start(lambda out: _run_child(out, compute, encode, read_end, store))
        mine = {token: compute(token) for token in _take_tokens(read_end)}
        theirs = _receive(child, store) if child is not None else {}
    finally:
        os.close(read_end)
        if child is not None:
            child.close()
        if store is not None:
            store.close()
    return mine, theirs


def _run_child(out: io.BufferedWriter, compute: Callable[[int], object],
               encode: Callable[[object], List[Sequence[bytes]]], queue: int, store: Optional["_Store"]) -> None:
    """The child's work: tokens from the queue until it is empty, each sent to this process.
    With a store, a token's parts go there and only its small head through the pipe, at once;
    without one, the parts follow their head through the pipe, so they wait until the queue
    is empty: this process reads the pipe only after its own tokens, and a child that sent
    megabytes as it went would stop at the pipe's first megabyte until then, leaving the
    tokens still queued to this process."""
    held = []
    # Each token's result is kept to the end: this process leaves with os._exit, and freeing
    # a token's summary here (11 ms for the largest of distinct-20k's) delays the next token.
    # Kept whole, texts too: the peak PSS of both processes on distinct-20k stayed 223-226 MiB
    # (four bench runs; 223-242 MiB in three before), as freed memory was not returned anyway.
    results = []
    for token in _take_tokens(queue):
        results.append(compute(token))
        records = _pack(token, encode(results[-1]), store)
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


# The most buffers one writev takes (1024 on Linux, the only system with memfd).
_IOV_MAX = 1024


class _Store:
    """A memory file (memfd) both processes share, for what the child sends: written by the
    child with no pipe to wait on, mapped by this process without a copy. The cluster texts
    of distinct-20k are 43 MB a process; through a pipe, a megabyte at a time, they took this
    process 0.1-0.16 s to receive after the last token. Linux only: elsewhere (None) all goes
    through the pipe."""

    def __init__(self, fd: int):
        self.fd = fd

    @classmethod
    def create(cls) -> Optional["_Store"]:
        try:
            return cls(os.memfd_create("goleak-shards", os.MFD_CLOEXEC))
        except (AttributeError, OSError):
            return None

    def put(self, chunks: Sequence[bytes]) -> int:
        """Append the chunks, in order; where they start. Only the child writes (one writer,
        one offset)."""
        start = os.lseek(self.fd, 0, os.SEEK_END)
        views = [memoryview(c) for c in chunks if c]
        i = 0
        while i < len(views):
            # writev takes at most IOV_MAX buffers and may write fewer bytes.
            written = os.writev(self.fd, views[i:i + _IOV_MAX])
            while written:
                if written >= len(views[i]):
                    written -= len(views[i])
                    i += 1
                else:
                    views[i], written = views[i][written:], 0
        return start

    def mapped(self) -> memoryview:
        if not os.fstat(self.fd).st_size:  # only empty parts: nothing to map
            return memoryview(b"")
        return memoryview(mmap.mmap(self.fd, 0, mmap.MAP_SHARED, mmap.PROT_READ))

    def close(self) -> None:
        os.close(self.fd)  # a mapping made from it stays valid


def _pack(token: int, parts: List[Sequence[bytes]], store: Optional[_Store]) -> List[Sequence[bytes]]:
    """The records of a token, each a sequence of byte strings: its head (the pickled token,
    the length of each part, and where the parts start in the store), then the parts
    themselves unless they are in the store (where None)."""
    lengths = [sum(map(len, chunks)) for chunks in parts]
    offset = store.put([c for chunks in parts for c in chunks]) if store is not None else None
    head = pickle.dumps((token, lengths, offset), protocol=pickle.HIGHEST_PROTOCOL)
    return [[head]] if offset is not None else [[head]] + parts


def _send(records: List[Sequence[bytes]], out: io.BufferedWriter) -> None:
    for chunks in records:
        forked.send(out, chunks)
    # A token sent reaches this process whole even if the child dies later.
    out.flush()


def _receive(child: forked.Child, store: Optional[_Store]) -> Dict[int, List[memoryview]]:
    """The tokens the child sent in full, by token, as their parts; one it was cut off in is
    left out."""
    received: Dict[int, List[memoryview]] = {}
    stored = []  # (token, lengths, offset)
    while True:
        data = child.record()
        if data is None:
            # The end of the pipe: after the last token, or where the child stopped short.
            child.done = True
            break
        token, lengths, offset = pickle.loads(data)
        if offset is not None:
            stored.append((token, lengths, offset))
            continue
        parts = []
        for _ in lengths:
            part = child.record()
            if part is None:
                break
            parts.append(memoryview(part))
        if len(parts) != len(lengths):
            child.done = True
            break
        received[token] = parts
    if stored:
        # Mapped once all has arrived: a token's head follows its parts into the store.
        try:
            blob = store.mapped()
        except (OSError, ValueError):  # no memory to map it: this process does those tokens
            return received
        for token, lengths, offset in stored:
            ends = list(itertools.accumulate(lengths, initial=offset))
            if ends[-1] <= len(blob):
                received[token] = list(map(blob.__getitem__, map(slice, ends[:-1], ends[1:])))
    return received

