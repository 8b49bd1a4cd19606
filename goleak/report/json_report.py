"""JSON: the stable, documented schema (docs/json-schema.md). Sorted keys, contract names."""
from __future__ import annotations

import dataclasses
import itertools
import json
from typing import TYPE_CHECKING, Callable, Dict, Iterable, Iterator, Optional, Tuple, TypeVar

from goleak.report.view import SCHEMA_VERSION, ClusterView, FrameView, SummaryView

if TYPE_CHECKING:  # imported when a compare report is rendered: `summary` needs none of it
    from goleak.report.compare_view import CompareView, ComparedClusterView


def frame_json(f: Optional[FrameView]):
    if f is None:
        return None
    return {"function": f.function, "file": f.file, "short_file": f.display_file, "line": f.line}


class _FrameJson:
    """frame_json memoised by view object: the view shares one FrameView per distinct frame,
    so 20,000 clusters of 20 frames build a few thousand small dicts, not 400,000."""

    def __init__(self):
        self.memo: Dict[int, tuple] = {}  # id(view) -> (view kept alive, its dict)

    def __call__(self, f: Optional[FrameView]):
        if f is None:
            return None
        hit = self.memo.get(id(f))
        if hit is None:
            hit = self.memo[id(f)] = (f, frame_json(f))
        return hit[1]


def cluster_json(c: ClusterView, frame_json=frame_json) -> dict:
    return {
        "id": c.id,
        "stack_id": c.stack_id,
        "count": c.count,
        "states": {s: n for s, n in c.states},
        "wait_minutes": None if c.wait_max is None else {"min": c.wait_min, "max": c.wait_max},
        "leaked": c.leaked,
        "locked_to_thread": c.locked,
        "labels": {k: {v: n for v, n in vals} for k, vals in c.labels},
        "labels_other": {k: n for k, n in c.labels_other},
        "frames": [frame_json(f) for f in c.frames],
        "created_by": frame_json(c.created_by),
        "elided_frames": c.elided,
        "truncated": c.truncated,
        "stack_unavailable": c.unavailable,
        "flags": list(c.flags),
        "where": frame_json(c.where),
        "sample_ids": list(c.sample_ids),
    }


def summary_json(view: SummaryView) -> dict:
    frames = _FrameJson()
    return {
        "schema_version": SCHEMA_VERSION,
        "command": view.command,
        "goleak_version": view.version,
        "generated_at": view.generated_at,
        "similarity": view.similarity,
        "sources": list(view.sources),
        "snapshots": [{"name": s.name, "source": s.source, "format": s.format, "profile": s.profile,
                       "total": s.total, "declared_total": s.declared_total, "crash_reason": s.crash_reason}
                      for s in view.snapshots],
        "total": view.total,
        "declared_total": view.declared_total,
        "warnings": list(view.warnings),
        "ignored_goroutines": view.ignored,
        "race_reports": view.race_reports,
        "clusters": [cluster_json(c, frames) for c in view.clusters],
        "suspects": [{"id": c.id, "reasons": list(c.suspect_reasons)} for c in view.suspects],
    }


def compared_cluster_json(c: ComparedClusterView) -> dict:
    data = cluster_json(c.cluster)
    data.update({
        "id": c.id,
        "counts": list(c.counts),
        "delta": c.delta,
        "peak": c.peak,
        "verdict": c.verdict,
        "flags": list(c.flags),
        "state": c.state,
        "title": c.title,
        "match": {"fuzzy": c.fuzzy, "score": c.score},
        # Per snapshot: how this stack was found there (null when absent).
        "phases": [{"count": p.count, "fuzzy": p.fuzzy, "score": p.score, "states": {s: n for s, n in p.states},
                    "wait_max_minutes": p.wait_max, "leaked": p.leaked} if p.present else None
                   for p in c.phases],
        "suspect_rank": c.suspect_rank,
    })
    # A compare row spans snapshots: "count" would be ambiguous next to "counts".
    del data["count"]
    return data


def compare_json(view: CompareView) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "command": view.command,
        "goleak_version": view.version,
        "generated_at": view.generated_at,
        "similarity": view.similarity,
        "settings": {k: v for k, v in view.settings},
        "ignore_patterns": list(view.ignore_patterns),
        "snapshots": [{"name": p.name, "source": p.source, "format": p.format, "profile": p.profile,
                       "total": p.total, "declared_total": p.declared_total, "ignored": p.ignored}
                      for p in view.phases],
        "ignored": {rule: list(counts) for rule, counts in view.ignored},
        "clusters": [compared_cluster_json(c) for c in view.clusters],
        "suspects": [{"id": c.id, "rank": c.suspect_rank, "reasons": list(c.suspect_reasons),
                      "where": frame_json(c.cluster.where), "created_by": frame_json(c.cluster.created_by)}
                     for c in view.suspects],
        "leaks": view.leaks,
        "verdicts": {v: n for v, n in view.verdict_counts},
        "fuzzy_matches": view.fuzzy_matches,
        "matched_without_created_by": view.without_created_by,
        "notes": list(view.notes),
        "warnings": list(view.warnings),
    }


# One builder per view type; a new command adds its view here, not a branch in cli.py.
_BUILDERS: Dict[type, Callable[..., dict]] = {
    SummaryView: summary_json,
}


def _builder_for(view) -> Optional[Callable[..., dict]]:
    builder = _BUILDERS.get(type(view))
    if builder is None:
        from goleak.report.compare_view import CompareView
        _BUILDERS.setdefault(CompareView, compare_json)
        builder = _BUILDERS.get(type(view))
    return builder


def register(view_type: type, builder: Callable[..., dict]) -> None:
    _BUILDERS[view_type] = builder


def _dumps(data) -> str:
    # Compact on purpose: with indent, json falls back to its pure-Python encoder, which
    # takes seconds and gigabytes for 20,000 clusters; `| jq .` pretty-prints.
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# The C string encoder json.dumps(ensure_ascii=False) itself uses: quotes, backslashes and
# control characters escaped, everything else kept as is.
_string = json.encoder.encode_basestring


def _counts(pairs) -> str:
    """{key: count} with sorted keys, as json.dumps writes it."""
    if len(pairs) < 2:  # most clusters: one state, no labels
        return "{%s:%d}" % (_string(pairs[0][0]), pairs[0][1]) if pairs else "{}"
    return "{" + ",".join([_string(k) + ":" + str(n) for k, n in sorted(dict(pairs).items())]) + "}"


_BOOL = ("false", "true")  # indexed by `value is True`


# A cluster object with its keys in sorted order; each %s is filled with JSON text.
_CLUSTER = ('{"count":%d,"created_by":%s,"elided_frames":%d,"flags":[%s],"frames":[%s],"id":%s,"labels":%s,'
            '"labels_other":%s,"leaked":%d,"locked_to_thread":%d,"sample_ids":[%s],"stack_id":%s,'
            '"stack_unavailable":%s,"states":%s,"truncated":%s,"wait_minutes":%s,"where":%s}')


class ClusterTexts:
    """Writes cluster_json(c) as json.dumps would, without building the dict: a 20,000-cluster
    summary holds half a million frames and 87 MB of JSON. Each distinct frame is encoded
    once; tests/test_json_spliced.py proves the text equal to json.dumps, hostile strings
    included."""

    def __init__(self):
        self.texts: Dict[int, str] = {id(None): "null"}  # id(FrameView) -> its JSON text
        self.kept: list = []  # every view with a text, so that no id is reused

    def frame(self, f: Optional[FrameView]) -> str:
        text = self.texts.get(id(f))
        if text is None:
            text = self.texts[id(f)] = _dumps(frame_json(f))
            self.kept.append(f)
        return text

    def frames(self, frames) -> str:
        # Joined through C-level maps, with no Python step per frame once every frame has
        # its text; a frame without one yet (None) is encoded by self.frame.
        texts = list(map(self.texts.get, map(id, frames)))
        if not all(texts):
            texts = [t or self.frame(f) for t, f in zip(texts, frames)]
        return ",".join(texts)

    def cluster(self, c: ClusterView) -> str:
        # Written out for the common shapes (one state, no labels, frames already encoded):
        # this runs 20,000 times for a big dump, and each call saved is 2% of the JSON.
        texts = self.texts
        states = c.states
        return _CLUSTER % (
            c.count, texts.get(id(c.created_by)) or self.frame(c.created_by), c.elided,
            ",".join(map(_string, c.flags)), self.frames(c.frames), _string(c.id),
            "{" + ",".join([_string(k) + ":" + _counts(vals) for k, vals in sorted(dict(c.labels).items())]) + "}"
            if c.labels else "{}",
            _counts(c.labels_other) if c.labels_other else "{}", c.leaked, c.locked,
            ",".join(map(str, c.sample_ids)), _string(c.stack_id), _BOOL[c.unavailable is True],
            "{%s:%d}" % (_string(states[0][0]), states[0][1]) if len(states) == 1 else _counts(states),
            _BOOL[c.truncated is True],
            "null" if c.wait_max is None else '{"max":%d,"min":%d}' % (c.wait_max, c.wait_min),
            texts.get(id(c.where)) or self.frame(c.where))


# Cluster texts per piece of splice(): about a megabyte at 20 frames a cluster.
CHUNK_CLUSTERS = 256


def suspect_text(c: ClusterView) -> str:
    """One entry of "suspects", as json.dumps writes it."""
    return _dumps({"id": c.id, "reasons": list(c.suspect_reasons)})


def summary_frame(view: SummaryView, suspect_texts: Iterable[str]) -> Tuple[str, str]:
    """The summary JSON around its clusters: the text before the first cluster and the text
    after the last, with the suspects (suspect_text() of each, in report order) in it;
    view.clusters and view.suspects are not read. splice() puts the cluster texts between
    them, and the whole is json.dumps(summary_json(view)) plus a newline
    (tests/test_json_spliced.py): sorted keys put "clusters" first and "suspects" between
    "sources" and "total", so the rest of the object is dumped in two halves around the
    suspects."""
    rest = summary_json(dataclasses.replace(view, clusters=(), suspects=()))
    del rest["clusters"], rest["suspects"]
    before = _dumps({k: v for k, v in rest.items() if k < "suspects"})
    after = _dumps({k: v for k, v in rest.items() if k > "suspects"})
    return '{"clusters":[', "]," + before[1:-1] + ',"suspects":[' + ",".join(suspect_texts) + "]," + after[1:-1] + "}\n"


def cluster_texts(clusters: Iterable[ClusterView], writer: Optional[ClusterTexts] = None) -> Iterator[str]:
    """Each cluster_json(c), dumped, encoding each distinct frame once (across calls that
    share a writer)."""
    return map((writer or ClusterTexts()).cluster, clusters)


Text = TypeVar("Text", str, bytes)


def splice(head: Text, texts: Iterable[Text], tail: Text) -> Iterator[Text]:
    """head, the texts joined by commas, tail: in pieces of CHUNK_CLUSTERS texts, so that a
    20,000-cluster summary (87 MB of JSON) is never joined into one string. Text or UTF-8
    bytes alike; with bytes, the texts may be any bytes-like objects (the two-process summary
    passes its child's texts through as memoryviews of the file it wrote them to)."""
    comma = "," if isinstance(head, str) else b","
    texts = iter(texts)
    first = True
    while True:
        batch = list(itertools.islice(texts, CHUNK_CLUSTERS))
        if not batch:
            break
        yield (head if first else comma) + comma.join(batch)
        first = False
    yield head + tail if first else tail


def render_summary_chunks(view: SummaryView) -> Iterator[str]:
    head, tail = summary_frame(view, map(suspect_text, view.suspects))
    return splice(head, cluster_texts(view.clusters), tail)


def render_summary(view: SummaryView) -> str:
    """summary_json, dumped, with its newline, without encoding the same frame 20,000 times."""
    return "".join(render_summary_chunks(view))


def render_chunks(view, options=None) -> Iterator[str]:
    """render(), in pieces (see report.chunk_renderer_for): a summary's in CHUNK_CLUSTERS
    clusters each, any other report's whole."""
    if type(view) is SummaryView:
        return render_summary_chunks(view)
    return iter([render(view, options)])


def render(view, options=None) -> str:
    if type(view) is SummaryView:
        return render_summary(view)
    builder = _builder_for(view)
    data = builder(view) if builder is not None else view.to_json()
    return _dumps(data) + "\n"
