"""Aggregate goroutines into StackGroups while parsing, so memory follows distinct stacks."""
import bisect
import itertools
import operator
from typing import Callable, Dict, List, Optional, Tuple

from goleak.model import (
    MAX_LABEL_VALUES,
    MAX_SAMPLE_IDS,
    Goroutine,
    LabelCount,
    Snapshot,
    Stack,
    StackGroup,
    Warning,
)

# Distinct values tracked per label key and group before the rest are only counted. Large
# enough that ordinary labels are exact whatever order the chunks merge in; request ids
# overflow it and are reported as "other".
LABEL_TRACK_LIMIT = 1000


class Tally:
    """Running counts for the goroutines of one (stack, state): the unit of aggregation."""

    __slots__ = ("count", "leaked", "locked", "wait_min", "wait_max", "labels", "label_keys", "other", "ids")

    def __init__(self):
        self.count = 0
        self.leaked = 0
        self.locked = 0
        self.wait_min: Optional[int] = None
        self.wait_max: Optional[int] = None
        self.labels: Dict[Tuple[str, str], int] = {}
        self.label_keys: Dict[str, int] = {}  # distinct values tracked per key
        self.other: Dict[str, int] = {}
        self.ids: List[int] = []

    def add(self, gid: Optional[int], n: int, wait: Optional[int], leaked: bool, locked: bool, labels) -> None:
        self.count += n
        if leaked:
            self.leaked += n
        if locked:
            self.locked += n
        if wait is not None:
            if self.wait_min is None or wait < self.wait_min:
                self.wait_min = wait
            if self.wait_max is None or wait > self.wait_max:
                self.wait_max = wait
        if labels:
            self._add_labels(labels, n)
        if gid is not None:
            ids = self.ids
            # Keep the lowest ids: the same sample whatever order goroutines arrive in.
            if len(ids) < MAX_SAMPLE_IDS:
                bisect.insort(ids, gid)
            elif gid < ids[-1]:
                bisect.insort(ids, gid)
                ids.pop()

    def _add_labels(self, labels, n: int) -> None:
        table = self.labels
        for pair in labels:
            if pair in table:
                table[pair] += n
            else:
                key = pair[0]
                tracked = self.label_keys.get(key, 0)
                if tracked < LABEL_TRACK_LIMIT:
                    self.label_keys[key] = tracked + 1
                    table[pair] = n
                else:
                    self.other[key] = self.other.get(key, 0) + n

    def merge(self, other: "Tally") -> None:
        self.count += other.count
        self.leaked += other.leaked
        self.locked += other.locked
        for w in (other.wait_min, other.wait_max):
            if w is not None:
                if self.wait_min is None or w < self.wait_min:
                    self.wait_min = w
                if self.wait_max is None or w > self.wait_max:
                    self.wait_max = w
        for pair, n in other.labels.items():
            self._add_labels((pair,), n)
        for key, n in other.other.items():
            self.other[key] = self.other.get(key, 0) + n
        for gid in other.ids:
            self.add_id(gid)

    def copy(self) -> "Tally":
        t = Tally()
        t.count, t.leaked, t.locked = self.count, self.leaked, self.locked
        t.wait_min, t.wait_max = self.wait_min, self.wait_max
        t.labels, t.label_keys, t.other = dict(self.labels), dict(self.label_keys), dict(self.other)
        t.ids = list(self.ids)
        return t

    def add_id(self, gid: int) -> None:
        ids = self.ids
        if gid in ids:
            return
        if len(ids) < MAX_SAMPLE_IDS:
            bisect.insort(ids, gid)
        elif gid < ids[-1]:
            bisect.insort(ids, gid)
            ids.pop()

    def to_group(self, stack: Stack, state: str) -> StackGroup:
        if not self.labels and not self.other:
            # No labels (most groups of a big dump): nothing to rank.
            return StackGroup(stack, state, self.count, self.leaked, self.locked, self.wait_min, self.wait_max,
                              (), (), tuple(self.ids))
        # Per key: the most frequent values (ties by value), the rest counted as other.
        # One sort over all pairs, then one pass that cuts each key's run.
        labels = []
        other = dict(self.other)
        key, kept = None, 0
        for (k, v), n in sorted(self.labels.items(), key=label_order):
            if k != key:
                key, kept = k, 0
            if kept < MAX_LABEL_VALUES:
                labels.append(LabelCount(k, v, n))
                kept += 1
            else:
                other[k] = other.get(k, 0) + n
        return StackGroup(
            stack=stack,
            state=state,
            count=self.count,
            leaked=self.leaked,
            locked=self.locked,
            wait_min=self.wait_min,
            wait_max=self.wait_max,
            labels=tuple(labels),
            labels_other=tuple(sorted(other.items())),
            sample_ids=tuple(self.ids),
        )


_ORDER = operator.attrgetter("order")


def label_order(item):
    """((key, value), goroutines) by key, then most goroutines first, then by value: the
    order of StackGroup.labels and Cluster.labels."""
    (k, v), n = item
    return k, -n, v


def stack_sort_key(stack: Stack) -> tuple:
    # Compared element by element only until two stacks differ: cheaper than whole texts.
    return tuple(map(_ORDER, stack.frames))


def _distinct_key_pairs(labels) -> Optional[tuple]:
    """A header's label pairs in StackGroup.labels order, or None unless every key is
    distinct (and so within MAX_LABEL_VALUES): then Tally is what folds them."""
    if len({k for k, _ in labels}) != len(labels):
        return None
    return tuple(sorted(labels))


class HeaderCount:
    """Fast-path count of goroutines that share one stanza key and one header text."""

    __slots__ = ("count", "ids")

    def __init__(self):
        self.count = 0
        self.ids: List[int] = []


class SnapshotBuilder:
    """Collects one snapshot's goroutines: by parsed stack (reference path) or by raw
    stanza text (fast path, where each distinct text is parsed once)."""

    def __init__(self, fmt: str, profile: str = "goroutine", declared_total: Optional[int] = None):
        self.format = fmt
        self.profile = profile
        self.declared_total = declared_total
        self.total = 0  # goroutines in groups; the fast path's are counted by finish()
        self.crash_reason: Optional[str] = None
        self.race_reports = 0
        self.warnings: List[Tuple[Optional[int], str]] = []
        # (Stack, state) -> Tally
        self.groups: Dict[Tuple[Stack, str], Tally] = {}
        # raw stanza key -> [Stack, {HeaderFields: HeaderCount}]   (fast path)
        self.raw: Dict[bytes, list] = {}
        # Fast-path tallies of parallel parse children: (Stack, [(HeaderFields, count, lowest ids)]).
        self.imported: List[Tuple[Stack, list]] = []
        # True when this snapshot began at something that starts a dump (a profile header,
        # a crash): a parse child's first builder merges into the previous range's
        # last one otherwise.
        self.started_new = False

    def has_goroutines(self) -> bool:
        return self.total > 0 or bool(self.raw) or bool(self.imported)

    def add_goroutine(self, g: Goroutine) -> None:
        self.total += 1
        key = (g.stack, g.state)
        t = self.groups.get(key)
        if t is None:
            t = self.groups[key] = Tally()
        t.add(g.id, 1, g.wait_minutes, g.leaked, g.locked_to_thread, g.labels)

    def add_record(self, count: int, stack: Stack, labels, leaked: bool) -> None:
        """A debug=1 record or debug=0 sample: `count` goroutines with no state."""
        self.total += count
        key = (stack, "")
        t = self.groups.get(key)
        if t is None:
            t = self.groups[key] = Tally()
        t.add(None, count, None, leaked, False, labels)

    def tallied_stacks(self) -> int:
        """An upper bound of the distinct stacks tallied so far (the parse children's may repeat this
        process's, and a stack counts once per state in the reference path's groups)."""
        return len(self.groups) + len(self.raw) + len(self.imported)

    def fast_tallies(self) -> List[Tuple[Stack, list]]:
        """Every fast-path tally, this process's and the parse children's: per stack,
        [(HeaderFields, count, lowest ids)], one entry per distinct header text."""
        own = [(stack, [(fields, hc.count, hc.ids) for fields, hc in by_header.items()])
               for stack, by_header in self.raw.values()]
        return own + self.imported if self.imported else own

    def merge(self, other: "SnapshotBuilder", line_shift: int) -> None:
        self.total += other.total
        for key, tally in other.groups.items():
            t = self.groups.get(key)
            if t is None:
                self.groups[key] = tally
            else:
                t.merge(tally)
        # A parse child's builders come without their fast-path tallies (those are added to
        # `imported` by parallel._merge_spans); a builder read in this process brings its
        # own, kept for finish() in the same form.
        self.imported.extend(other.fast_tallies())
        other.raw, other.imported = {}, []
        self.warnings.extend((ln + line_shift if ln else ln, msg) for ln, msg in other.warnings)
        self.race_reports += other.race_reports
        if self.crash_reason is None:
            self.crash_reason = other.crash_reason
        if self.declared_total is None:
            self.declared_total = other.declared_total

    def finish(self, source: str, index: int, keep: Optional[Callable[[Stack], bool]] = None,
               ordered: bool = True) -> Snapshot:
        """The snapshot: every group, or only those of the stacks keep() accepts (one shard
        of a summary run in several processes, see goleak/shards.py). Totals and warnings
        always count every goroutine. The builder is not changed, so it can be finished
        again, for another shard.

        Groups come by count, state and stack, an order that does not depend on how the
        input was read (in one process or several) and that compare relies on. With
        ordered=False they come as their tallies were taken: for summarize, whose clusters
        are ordered by count and id whatever order their groups came in, this saves
        sorting 20,000 groups by their stacks (0.2 s, most of them tied on count and state)."""
        groups, total = self._groups(keep)
        if ordered:
            groups.sort(key=lambda g: (-g.count, g.state, stack_sort_key(g.stack)))
        warnings = [Warning(source, ln, msg) for ln, msg in self.warnings]
        if self.declared_total is not None and self.declared_total != total:
            warnings.append(Warning(
                source, None,
                "the profile header says total %d but its records add up to %d; reporting %d"
                % (self.declared_total, total, total)))
        return Snapshot(
            source=source,
            format=self.format,
            groups=tuple(groups),
            total=total,
            declared_total=self.declared_total,
            profile=self.profile,
            index=index,
            warnings=tuple(warnings),
            crash_reason=self.crash_reason,
            race_reports=self.race_reports,
        )

    def _groups(self, keep: Optional[Callable[[Stack], bool]]) -> Tuple[List[StackGroup], int]:
        """The groups of the kept stacks, the fast path's tallies folded into the reference
        path's, and the snapshot's total."""
        # Every goroutine counts in the total, kept or not.
        total = self.total + sum([hc.count for _, by_header in self.raw.values() for hc in by_header.values()]) \
            + sum([n for _, counts in self.imported for _, n, _ in counts])
        own = self.raw.values()
        imported = self.imported
        if keep is not None:
            # Before any tally is read: a shard keeps a fraction of the stacks, and a summary
            # in shards finishes each builder several times.
            own = [entry for entry in own if keep(entry[0])]
            imported = [entry for entry in imported if keep(entry[0])]
        # (stack, state) -> its fast-path tallies: one (HeaderFields, count, ids) tuple, or a
        # list of them when several header texts share a state.
        fast: Dict[Tuple[Stack, str], object] = {}
        tallies = itertools.chain(
            ((stack, [(fields, hc.count, hc.ids) for fields, hc in by_header.items()]) for stack, by_header in own),
            imported)
        for stack, counts in tallies:
            for item in counts:
                key = (stack, item[0].state)
                seen = fast.setdefault(key, item)  # one hash of the key: Stack.__hash__ is Python
                if seen is not item:
                    if type(seen) is tuple:
                        fast[key] = [seen, item]
                    else:
                        seen.append(item)
        groups: List[StackGroup] = []
        # The reference path's groups (a few, where any) that the fast path's tallies join:
        # looked up from their side, as a lookup hashes its key, and Stack hashes in Python.
        shared: Dict[Tuple[Stack, str], Tally] = {}
        for key, t in self.groups.items():
            if keep is None or keep(key[0]):
                if key in fast:
                    shared[key] = t
                else:
                    groups.append(t.to_group(*key))
        label_pairs: Dict[int, Optional[tuple]] = {}  # id(HeaderFields) -> its labels in order
        for key, items in fast.items():
            t = shared.get(key) if shared else None
            if t is None and type(items) is tuple:
                # One header text (most groups of a big dump): the group is that text's
                # count, with no Tally to fill and read back. Its labels, one value per key
                # as pprof prints them, are each carried by all n goroutines.
                fields, n, ids = items
                pairs = label_pairs.get(id(fields), False) if fields.labels else ()
                if pairs is False:
                    pairs = label_pairs[id(fields)] = _distinct_key_pairs(fields.labels)
                if pairs is not None:
                    groups.append(StackGroup(
                        key[0], key[1], n, n if fields.leaked else 0, n if fields.locked else 0,
                        fields.wait, fields.wait, tuple([LabelCount(k, v, n) for k, v in pairs]) if pairs else (),
                        (), tuple(dict.fromkeys(ids))))
                    continue
            # Copied: self.groups stays as it was, for the next finish.
            t = t.copy() if t is not None else Tally()
            for fields, n, ids in (items,) if type(items) is tuple else items:
                t.add(None, n, fields.wait, fields.leaked, fields.locked, fields.labels)
                for gid in ids:
                    t.add_id(gid)
            groups.append(t.to_group(*key))
        return groups, total
