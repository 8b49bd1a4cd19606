"""Snapshots -> clusters: one pass over the groups, deterministic order."""
from typing import Dict, Iterable, List, Optional, Tuple

from goleak.model import Cluster, LabelCount, MAX_SAMPLE_IDS, Snapshot, StackGroup
from goleak.parse.build import label_order, stack_sort_key
from goleak.normalize import digest, digest_pair, signatures, state_key


class _Acc:
    __slots__ = ("groups", "signature", "state", "frames")

    def __init__(self, frames: str, signature: str, state: str):
        self.groups: List[StackGroup] = []
        self.signature = signature
        self.state = state
        self.frames = frames  # the frames signature of the first group's stack


def cluster_groups(groups: Iterable[StackGroup], similarity: str = "default") -> Tuple[Cluster, ...]:
    """Fold groups (of one or several snapshots) into clusters, largest first.

    O(groups): each group's signature is computed once, and groups number at most the
    distinct stacks of the input, never its goroutines.
    """
    accs: Dict[Tuple[str, str], _Acc] = {}
    # id(stack) -> its signatures: by identity, as a Stack key would call its Python __hash__
    # twice per group; the groups hold their stacks, so no id is reused meanwhile. (Equal
    # stacks that are distinct objects get the same signatures twice over.)
    sig_cache: Dict[int, Tuple[str, str]] = {}
    for g in groups:
        sigs = sig_cache.get(id(g.stack))
        if sigs is None:
            sigs = sig_cache[id(g.stack)] = signatures(g.stack, similarity)
        st = state_key(g.state, similarity)
        acc = accs.get((sigs[1], st))
        if acc is None:
            acc = accs[(sigs[1], st)] = _Acc(sigs[0], sigs[1], st)
        acc.groups.append(g)
    clusters = [_merge(acc, sig_cache) for acc in accs.values()]
    clusters.sort(key=lambda c: (-c.count, c.id))
    return tuple(clusters)


def cluster_snapshots(snapshots: Iterable[Snapshot], similarity: str = "default") -> Tuple[Cluster, ...]:
    return cluster_groups((g for s in snapshots for g in s.groups), similarity)


def _merge(acc: _Acc, sig_cache) -> Cluster:
    groups = acc.groups
    suffix = "\n[" + acc.state + "]"
    if len(groups) == 1:
        # One stack: its frames signature starts its stack signature, so one hash pass
        # gives both ids.
        frames = acc.frames
        stack_id, cluster_id = digest_pair(frames, acc.signature[len(frames):] + suffix)
        return merge_groups(groups, cluster_id, stack_id, groups[0])
    rep = representative(groups)
    return merge_groups(groups, digest(acc.signature + suffix), digest(sig_cache[id(rep.stack)][0]), rep)


def representative(groups: List[StackGroup]) -> StackGroup:
    # The biggest group shows its stack; ties go to the shorter stack, then to the state and
    # stack that sort first, so the choice does not depend on input order.
    return min(groups, key=lambda g: (-g.count, len(g.stack.frames), g.state, stack_sort_key(g.stack)))


def merge_groups(groups: List[StackGroup], cluster_id: str, stack_id: str,
                 rep: Optional[StackGroup] = None) -> Cluster:
    """Groups that belong together (one stack in several states, or stacks that normalize
    alike) as one cluster, shown with the stack of rep, by default representative(groups)."""
    if len(groups) == 1:
        # Most clusters of a big dump are one group: nothing to add up.
        g = groups[0]
        return Cluster(
            id=cluster_id, stack_id=stack_id, stack=g.stack, count=g.count,
            states=((g.state, g.count),), wait_min=g.wait_min, wait_max=g.wait_max, leaked=g.leaked,
            locked=g.locked, labels=g.labels, labels_other=g.labels_other, sample_ids=g.sample_ids)
    states: Dict[str, int] = {}
    labels: Dict[Tuple[str, str], int] = {}
    other: Dict[str, int] = {}
    for g in groups:
        states[g.state] = states.get(g.state, 0) + g.count
        for lc in g.labels:
            labels[(lc.key, lc.value)] = labels.get((lc.key, lc.value), 0) + lc.goroutines
        for k, n in g.labels_other:
            other[k] = other.get(k, 0) + n
    waits_min = [g.wait_min for g in groups if g.wait_min is not None]
    waits_max = [g.wait_max for g in groups if g.wait_max is not None]
    return Cluster(
        id=cluster_id,
        stack_id=stack_id,
        stack=(rep or representative(groups)).stack,
        count=sum(g.count for g in groups),
        states=tuple(sorted(states.items(), key=lambda kv: (-kv[1], kv[0]))),
        wait_min=min(waits_min) if waits_min else None,
        wait_max=max(waits_max) if waits_max else None,
        leaked=sum(g.leaked for g in groups),
        locked=sum(g.locked for g in groups),
        labels=tuple(LabelCount(k, v, n) for (k, v), n in sorted(labels.items(), key=label_order)),
        labels_other=tuple(sorted(other.items())),
        sample_ids=tuple(sorted({i for g in groups for i in g.sample_ids})[:MAX_SAMPLE_IDS]),
    )
