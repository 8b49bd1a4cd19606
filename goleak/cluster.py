"""Snapshots -> clusters: one pass over the groups, deterministic order."""
from typing import Dict, Iterable, List, Tuple

from goleak.model import Cluster, LabelCount, MAX_SAMPLE_IDS, Snapshot, StackGroup
from goleak.parse.build import stack_sort_text
from goleak.normalize import digest, frames_signature, stack_signature, state_key


class _Acc:
    __slots__ = ("groups", "signature", "state")

    def __init__(self, signature: str, state: str):
        self.groups: List[StackGroup] = []
        self.signature = signature
        self.state = state


def cluster_groups(groups: Iterable[StackGroup], similarity: str = "default") -> Tuple[Cluster, ...]:
    """Fold groups (of one or several snapshots) into clusters, largest first.

    O(groups): each group's signature is computed once, and groups number at most the
    distinct stacks of the input, never its goroutines.
    """
    accs: Dict[Tuple[str, str], _Acc] = {}
    sig_cache: Dict[object, str] = {}
    for g in groups:
        sig = sig_cache.get(g.stack)
        if sig is None:
            sig = sig_cache[g.stack] = stack_signature(g.stack, similarity)
        st = state_key(g.state, similarity)
        acc = accs.get((sig, st))
        if acc is None:
            acc = accs[(sig, st)] = _Acc(sig, st)
        acc.groups.append(g)
    clusters = [_merge(acc, similarity) for acc in accs.values()]
    clusters.sort(key=lambda c: (-c.count, c.id))
    return tuple(clusters)


def cluster_snapshots(snapshots: Iterable[Snapshot], similarity: str = "default") -> Tuple[Cluster, ...]:
    return cluster_groups((g for s in snapshots for g in s.groups), similarity)


def _merge(acc: _Acc, similarity: str) -> Cluster:
    groups = acc.groups
    count = sum(g.count for g in groups)
    states: Dict[str, int] = {}
    for g in groups:
        states[g.state] = states.get(g.state, 0) + g.count
    waits_min = [g.wait_min for g in groups if g.wait_min is not None]
    waits_max = [g.wait_max for g in groups if g.wait_max is not None]
    labels: Dict[Tuple[str, str], int] = {}
    other: Dict[str, int] = {}
    for g in groups:
        for lc in g.labels:
            labels[(lc.key, lc.value)] = labels.get((lc.key, lc.value), 0) + lc.goroutines
        for k, n in g.labels_other:
            other[k] = other.get(k, 0) + n
    ids = sorted({i for g in groups for i in g.sample_ids})[:MAX_SAMPLE_IDS]
    # Show the stack of the biggest group; ties go to the one that sorts first, so the
    # choice does not depend on input order.
    rep = min(groups, key=lambda g: (-g.count, len(g.stack.frames), g.state, stack_sort_text(g.stack)))
    return Cluster(
        id=digest(acc.signature + "\n[" + acc.state + "]"),
        stack_id=digest(frames_signature(rep.stack, similarity)),
        stack=rep.stack,
        count=count,
        states=tuple(sorted(states.items(), key=lambda kv: (-kv[1], kv[0]))),
        wait_min=min(waits_min) if waits_min else None,
        wait_max=max(waits_max) if waits_max else None,
        leaked=sum(g.leaked for g in groups),
        locked=sum(g.locked for g in groups),
        labels=tuple(LabelCount(k, v, n) for (k, v), n in sorted(labels.items())),
        labels_other=tuple(sorted(other.items())),
        sample_ids=tuple(ids),
    )
