"""The JSON report: schema_version, sorted keys, contract names, every key documented."""
import json
import re

import pytest

from goleak.report import Format, json_report, renderer_for
from goleak.report.view import SCHEMA_VERSION
from tests.conftest import ROOT
from tests.report_helpers import compare_view, hostile_view, summary_view

SCHEMA_DOC = ROOT / "docs" / "json-schema.md"


def all_keys(value, skip=("states", "labels", "labels_other", "verdicts", "ignored", "settings")):
    """Every object key in a report, except those of maps keyed by data (states, labels ...)."""
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            if k not in skip:
                out |= all_keys(v, skip)
    elif isinstance(value, list):
        for v in value:
            out |= all_keys(v, skip)
    return out


def test_summary_contract_names():
    view, opts = summary_view()
    data = json.loads(json_report.render(view, opts))
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["command"] == "summary" and data["total"] == sum(c["count"] for c in data["clusters"]) + \
        data["ignored_goroutines"]
    c = data["clusters"][0]
    assert {"id", "count", "states", "wait_minutes", "leaked", "labels", "frames", "created_by"} <= set(c)
    assert (c["count"], c["states"], c["wait_minutes"], c["leaked"]) == (40, {"chan send": 40}, None, 0)
    assert c["frames"][0] == {"function": "main.leakSender", "file": "example.com/leakyserver/main.go",
                              "short_file": "example.com/leakyserver/main.go", "line": 120}
    assert c["created_by"]["function"] == "main.fetchWithTimeout"
    assert data["suspects"][0] == {"id": c["id"], "reasons": ["40 goroutines parked in chan send"]}


def test_compare_contract_names():
    view, opts = compare_view()
    data = json.loads(json_report.render(view, opts))
    assert [s["name"] for s in data["snapshots"]] == ["before", "during", "after"]
    assert [s["total"] for s in data["snapshots"]] == [9, 139, 76]
    assert data["leaks"] == 5 == sum(1 for c in data["clusters"] if c["verdict"] == "leak")
    sender = next(c for c in data["clusters"] if c["frames"][0]["function"] == "main.leakSender")
    assert (sender["counts"], sender["verdict"], sender["match"]) == ([0, 40, 40], "leak", {"fuzzy": False,
                                                                                           "score": 100.0})
    assert {"blocked-forever", "new"} <= set(sender["flags"])


@pytest.mark.parametrize("make", [summary_view, compare_view, hostile_view])
def test_keys_sorted_and_output_stable(make):
    view, opts = make()
    text = json_report.render(view, opts)
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    again, opts2 = make()
    assert json_report.render(again, opts2) == text


@pytest.mark.parametrize("make", [summary_view, compare_view])
def test_every_key_is_documented(make):
    documented = set(re.findall(r"`([a-z_]+)`", SCHEMA_DOC.read_text()))
    view, opts = make()
    missing = all_keys(json.loads(json_report.render(view, opts))) - documented
    assert not missing, "add these to docs/json-schema.md: %s" % sorted(missing)


def test_every_format_resolves_for_every_view():
    for make in (summary_view, compare_view):
        view, opts = make()
        for fmt in Format:
            out = renderer_for(fmt)(view, opts)
            assert isinstance(out, str) and out.endswith("\n") and len(out) > 100, fmt
