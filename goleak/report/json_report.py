"""JSON: the stable, documented schema (docs/json-schema.md). Sorted keys, contract names."""
import json
from typing import Optional

from goleak.report.view import SCHEMA_VERSION, ClusterView, FrameView, SummaryView


def frame_json(f: Optional[FrameView]):
    if f is None:
        return None
    return {"function": f.function, "file": f.file, "short_file": f.display_file, "line": f.line}


def cluster_json(c: ClusterView) -> dict:
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
        "clusters": [cluster_json(c) for c in view.clusters],
        "suspects": [{"id": c.id, "reasons": list(c.suspect_reasons)} for c in view.suspects],
    }


def render(view, options=None) -> str:
    data = view.to_json() if hasattr(view, "to_json") else summary_json(view)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
