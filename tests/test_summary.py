"""`goleak summary`: clusters, contract JSON fields, merging sources, suspects, similarity levels."""
import json

from tests.conftest import FIXTURES, run_cli

AFTER = str(FIXTURES / "compare" / "after.txt")
AFTER_D1 = str(FIXTURES / "compare" / "after-debug1.txt")
BEFORE = str(FIXTURES / "compare" / "before.txt")


def summary_json(*args, **kw):
    return json.loads(run_cli(["summary", "--format", "json", *args], **kw).stdout)


def test_json_contract_fields():
    data = summary_json(AFTER)
    assert data["total"] == 76
    assert data["declared_total"] is None
    assert data["warnings"] == []
    first = data["clusters"][0]
    assert first["count"] == 40
    assert first["states"] == {"chan send": 40}
    assert first["frames"][0] == {"function": "main.leakSender", "file": "example.com/leakyserver/main.go",
                                  "line": first["frames"][0]["line"], "short_file": "example.com/leakyserver/main.go"}
    assert first["created_by"]["function"] == "main.fetchWithTimeout"
    assert first["wait_minutes"] is None
    assert first["leaked"] == 0
    assert isinstance(first["labels"], dict)
    assert len(first["id"]) == 12
    assert sum(c["count"] for c in data["clusters"]) + data["ignored_goroutines"] == 76
    counts = [c["count"] for c in data["clusters"]]
    assert counts == sorted(counts, reverse=True)


def test_ids_are_stable_across_runs_and_formats_of_the_same_stack():
    a = summary_json(AFTER)
    b = summary_json(AFTER)
    assert [c["id"] for c in a["clusters"]] == [c["id"] for c in b["clusters"]]
    # debug=1 has no states, so its clusters match debug=2 ones by stack_id.
    d1 = summary_json(AFTER_D1)
    assert d1["total"] == 76 and d1["declared_total"] == 76
    sender_d2 = next(c for c in a["clusters"] if c["frames"][0]["function"] == "main.leakSender")
    sender_d1 = next(c for c in d1["clusters"] if any(f["function"] == "main.leakSender" for f in c["frames"]))
    assert sender_d1["count"] == 40
    assert sender_d1["stack_id"] == sender_d2["stack_id"]


def test_several_sources_are_merged():
    data = summary_json(BEFORE, AFTER)
    assert data["total"] == 9 + 76
    assert [s["total"] for s in data["snapshots"]] == [9, 76]
    workers = next(c for c in data["clusters"] if c["frames"][0]["function"] == "main.backgroundWorker")
    assert workers["count"] == 6


def test_stdin_source():
    data = summary_json("-", input=(FIXTURES / "compare" / "after.txt").read_bytes())
    assert data["total"] == 76
    assert data["sources"] == ["<stdin>"]


def test_suspects_lead_the_text_report():
    out = run_cli(["summary", AFTER, "--color", "never"]).stdout
    assert out.index("Suspects") < out.index("Clusters")
    assert "main.leakSender" in out.split("Clusters")[0]
    assert "\x1b[" not in out


def test_similarity_levels_fold_differently():
    exact = summary_json(AFTER, "--similarity", "exact")
    default = summary_json(AFTER)
    loose = summary_json(AFTER, "--similarity", "loose")
    assert len(exact["clusters"]) > len(default["clusters"]) >= len(loose["clusters"])
    ticker = [c for c in loose["clusters"] if c["frames"] and c["frames"][0]["function"] == "main.tickerLoop"]
    assert len(ticker) == 1 and ticker[0]["count"] == 7


def test_version_and_help():
    assert "goleak, version" in run_cli(["--version"]).stdout
    helptext = run_cli(["summary", "--help"]).stdout
    assert "Examples:" in helptext and "--similarity" in helptext


def test_missing_file_is_exit_2_with_one_line():
    res = run_cli(["summary", "no/such/file.txt"], expect=2)
    assert res.stderr.strip().count("\n") == 0
    assert "no/such/file.txt" in res.stderr and "no such file" in res.stderr


def test_merged_labels_keep_the_report_order():
    # Cluster.labels, like StackGroup.labels: by key, then most goroutines first, then by
    # value, so the view groups them without sorting again.
    from goleak.cluster import cluster_groups
    from goleak.model import Frame, LabelCount, Stack, StackGroup
    stack = Stack((Frame("main.worker", "/app/main.go", 12),))
    a = StackGroup(stack, "chan receive", 3, labels=(LabelCount("tenant", "t1", 2), LabelCount("tenant", "t2", 1)))
    b = StackGroup(stack, "select", 4, labels=(LabelCount("handler", "GET /", 1), LabelCount("tenant", "t2", 3),
                                               LabelCount("tenant", "t3", 1)))
    (cluster,) = cluster_groups([a, b], "loose")
    assert [(lc.key, lc.value, lc.goroutines) for lc in cluster.labels] == [
        ("handler", "GET /", 1), ("tenant", "t2", 4), ("tenant", "t1", 2), ("tenant", "t3", 1)]
