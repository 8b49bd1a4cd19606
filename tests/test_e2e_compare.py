"""`goleak compare` end to end: the CLI on the captured fixtures, on dumps captured here from a
live leaky server, and on two builds of one program whose lines drifted."""
import json
import shutil
import subprocess
import threading
import time

import pytest

from tests.conftest import FIXTURES, go_build, run_cli

COMPARE = FIXTURES / "compare"
EXPECTED = json.loads((COMPARE / "expected.json").read_text())
BDA = [str(COMPARE / n) for n in ("before.txt", "during.txt", "after.txt")]


def compare_json(*args, expect=0):
    out = run_cli(["compare", *args, "--format", "json"], expect=expect)
    return json.loads(out.stdout)


def rows_with(data, function):
    return [c for c in data["clusters"] if any(f["function"] == function for f in c["frames"])]


def row_with(data, function):
    rows = rows_with(data, function)
    assert len(rows) == 1, "%s in %d rows" % (function, len(rows))
    return rows[0]


# -- the CLI on the captured fixtures ---------------------------------------------------
def test_json_contract():
    out = run_cli(["compare", *BDA, "--format", "json"])
    data = json.loads(out.stdout)
    assert data["schema_version"] == 1 and data["command"] == "compare"
    assert [(s["name"], s["total"]) for s in data["snapshots"]] == [
        ("before", 9), ("during", 139), ("after", 76)]
    assert all(s["source"].endswith(".txt") for s in data["snapshots"])
    assert data["leaks"] == 5 == sum(1 for c in data["clusters"] if c["verdict"] == "leak")
    sender = row_with(data, "main.leakSender")
    for key in ("id", "counts", "verdict", "flags", "frames", "created_by", "match", "delta", "peak"):
        assert key in sender
    assert sender["counts"] == [0, 40, 40] and sender["delta"] == 40 and sender["peak"] == 40
    assert sender["verdict"] == "leak" and sender["flags"] == ["blocked-forever", "new"]
    assert sender["match"] == {"fuzzy": False, "score": 100.0}
    assert sender["frames"][0]["function"] == "main.leakSender"
    assert sender["frames"][0]["file"] == "example.com/leakyserver/main.go"
    assert sender["created_by"]["function"] == "main.fetchWithTimeout"
    assert data["suspects"][0]["id"] == sender["id"]
    assert data["suspects"][0]["where"]["function"] == "main.leakSender"
    assert data["verdicts"] == {"leak": 5, "draining": 0, "transient": 4, "noise": 0, "shrinking": 0,
                                "gone": 0, "stable": 4}
    assert data["ignored"] == {"os/signal receiver": [1, 1, 1], "pprof dump writer": [1, 1, 1]}
    # Sorted keys at every level, so the output diffs cleanly.
    def check_sorted(pairs):
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)
    json.loads(out.stdout, object_pairs_hook=check_sorted)


def test_json_is_identical_across_runs():
    a = run_cli(["compare", *BDA, "--format", "json"]).stdout
    b = run_cli(["compare", *BDA, "--format", "json"]).stdout
    assert a == b


def test_text_leads_with_suspects():
    out = run_cli(["compare", *BDA]).stdout
    lines = out.splitlines()
    assert lines[0].startswith("goleak compare: 3 snapshots, 13 stacks, 5 leaks (similarity default, fuzzy-cutoff 90")
    suspects_at = lines.index("Suspects (most likely leaks first)")
    stacks_at = next(i for i, l in enumerate(lines) if l.startswith("Stacks (leaks first"))
    assert suspects_at < stacks_at
    assert lines[suspects_at + 1] == "  1. main.leakSender  0 → 40 → 40 (+40)  chan send  [blocked-forever, new]"
    assert "     look at: main.leakSender  example.com/leakyserver/main.go:" in lines[suspects_at + 3]
    assert "     created by: main.fetchWithTimeout  example.com/leakyserver/main.go:" in lines[suspects_at + 4]
    table = lines[stacks_at + 1:stacks_at + 15]
    assert table[0].split() == ["verdict", "before", "during", "after", "delta", "state", "function"]
    assert table[1].split()[:6] == ["leak", "0", "40", "40", "+40", "chan"]
    assert any(l.split()[:5] == ["transient", "0", "60", "0", "0"] and "main.loadWorker" in l for l in table)
    assert any(l.split()[:5] == ["stable", "3", "3", "3", "0"] and "main.backgroundWorker" in l for l in table)


def test_fail_on_leak_exits_1_only_when_something_leaked():
    run_cli(["compare", *BDA, "--fail-on-leak"], expect=1)
    run_cli(["compare", *BDA], expect=0)
    same = str(COMPARE / "after.txt")
    out = run_cli(["compare", same, same, "--fail-on-leak", "--format", "json"], expect=0)
    assert json.loads(out.stdout)["leaks"] == 0


def test_names_and_usage_errors():
    data = compare_json(*BDA, "--names", "t0,t1,t2")
    assert [s["name"] for s in data["snapshots"]] == ["t0", "t1", "t2"]
    err = run_cli(["compare", *BDA, "--names", "a,b"], expect=2).stderr
    assert "--names gives 2 names for 3 snapshots" in err
    err = run_cli(["compare", BDA[0]], expect=2).stderr
    assert "compare needs at least two snapshots, found 1" in err
    err = run_cli(["compare", *BDA, "--ignore", "(unclosed"], expect=2).stderr
    assert "not a valid regular expression" in err and "Traceback" not in err


def test_ignore_and_no_default_ignores():
    data = compare_json(*BDA, "--ignore", r"^main\.tickerLoop$")
    assert rows_with(data, "main.tickerLoop") == []
    assert data["ignored"][r"--ignore ^main\.tickerLoop$"] == [0, 7, 7] and data["leaks"] == 4
    data = compare_json(*BDA, "--no-default-ignores")
    assert data["ignored"] == {}
    assert row_with(data, "os/signal.loop")["verdict"] == "stable"
    assert row_with(data, "net/http/pprof.handler.ServeHTTP")["verdict"] == "stable"


def test_mixed_formats_from_the_command_line():
    data = compare_json(str(COMPARE / "before-debug1.txt"), str(COMPARE / "after.txt"))
    assert data["matched_without_created_by"] is True
    assert [s["format"] for s in data["snapshots"]] == ["debug=1", "debug=2"]
    assert row_with(data, "main.leakSender")["counts"] == [0, 40]
    assert row_with(data, "main.backgroundWorker")["verdict"] == "stable"
    assert data["leaks"] == 5


def test_goroutineleak_profile_as_the_last_snapshot():
    data = compare_json(*BDA[:2], str(COMPARE / "goroutineleak-after.txt"))
    proven = {c["function"] for c in EXPECTED["clusters"] if c["goroutineleak"]["proven"]}
    assert proven == {"main.leakSender", "main.mutexWaiter", "main.waitgroupWaiter"}
    for c in EXPECTED["clusters"]:
        if c["verdict"] != "leak":
            continue
        row = row_with(data, c["function"])
        assert row["verdict"] == "leak"
        assert ("runtime-leaked" in row["flags"]) == (c["function"] in proven), c["name"]
    assert [data["suspects"][i]["where"]["function"] for i in range(5)] == [
        "main.leakSender", "main.mutexWaiter", "main.waitgroupWaiter", "main.tickerLoop", "main.connReader"]


# -- a live server -------------------------------------------------------------------------
def fetch(server, path, dest):
    dest.write_text(server.get(path))
    return str(dest)


@pytest.mark.slow
def test_capture_and_compare_a_live_server(leaky_server, tmp_path):
    """Before, during and after a workload, fetched here from 127.0.0.1."""
    dump2 = "/debug/pprof/goroutine?debug=2"
    before = fetch(leaky_server, dump2, tmp_path / "before.txt")
    before1 = fetch(leaky_server, "/debug/pprof/goroutine?debug=1", tmp_path / "before-debug1.txt")
    leaks = {"/leak/sender?n=12": ("main.leakSender", 12), "/leak/ticker?n=3": ("main.tickerLoop", 3),
             "/leak/conn?n=4": ("main.connReader", 4), "/leak/mutex?n=3": ("main.mutexWaiter", 3),
             "/leak/waitgroup?n=4": ("main.waitgroupWaiter", 4)}
    for path in leaks:
        assert leaky_server.get(path).startswith("ok ")
    load = threading.Thread(target=leaky_server.get, args=("/load?n=30&ms=1500&wait=1",))
    load.start()
    time.sleep(0.5)
    during = fetch(leaky_server, dump2, tmp_path / "during.txt")
    load.join(timeout=20)
    assert not load.is_alive()
    time.sleep(0.3)
    after = fetch(leaky_server, dump2, tmp_path / "after.txt")
    leak_profile = fetch(leaky_server, "/debug/pprof/goroutineleak?debug=2", tmp_path / "goroutineleak.txt")

    data = compare_json(before, during, after)
    assert data["leaks"] == 5
    for function, n in leaks.values():
        row = row_with(data, function)
        assert (row["counts"], row["verdict"], "new" in row["flags"]) == ([0, n, n], "leak", True), function
    workers = row_with(data, "main.loadWorker")
    assert (workers["counts"], workers["verdict"]) == ([0, 30, 0], "transient")
    steady = row_with(data, "main.backgroundWorker")
    assert (steady["counts"], steady["verdict"]) == ([3, 3, 3], "stable")
    assert {c["verdict"] for c in data["clusters"] if c["verdict"] != "leak"} <= {"transient", "stable"}

    # debug=1 before, debug=2 after: the same answer.
    mixed = compare_json(before1, after)
    assert mixed["leaks"] == 5
    assert {tuple(row_with(mixed, f)["counts"]) for f, _ in leaks.values()} == {(0, n) for _, n in leaks.values()}

    # The runtime's leak profile proves the sender (its channel is unreachable) but not the
    # ticker (its done channel sits in a global registry and it keeps waking up).
    proof = compare_json(before, during, leak_profile)
    sender, ticker = row_with(proof, "main.leakSender"), row_with(proof, "main.tickerLoop")
    assert "runtime-leaked" in sender["flags"] and sender["leaked"] == 12
    assert "runtime-leaked" not in ticker["flags"] and ticker["verdict"] == "leak"
    assert "runtime-leaked" not in row_with(proof, "main.connReader")["flags"]
    assert proof["suspects"][0]["where"]["function"] == "main.leakSender"


@pytest.mark.slow
def test_compare_reads_stdin_and_a_url(leaky_server):
    url = leaky_server.url("/debug/pprof/goroutine?debug=2")
    before_text = leaky_server.get("/debug/pprof/goroutine?debug=1")
    leaky_server.get("/leak/waitgroup?n=6")
    out = run_cli(["compare", "-", url, "--names", "before,after", "--format", "json"], input=before_text)
    data = json.loads(out.stdout)
    assert [s["name"] for s in data["snapshots"]] == ["before", "after"]
    assert row_with(data, "main.waitgroupWaiter")["counts"] == [0, 6]
    assert data["leaks"] == 1


# -- two builds whose lines drifted --------------------------------------------------------
@pytest.mark.slow
def test_fuzzy_match_across_two_builds(go_cache, tmp_path):
    """fixtures/gen/drift built as is and with every line shifted and a closure renumbered
    (main.spawn.func1 -> main.spawn.func2): real Go output from both builds."""
    src = FIXTURES / "gen" / "drift"
    first = tmp_path / "v1"
    second = tmp_path / "v2"
    shutil.copytree(src, first)
    shutil.copytree(src, second)
    text = (src / "main.go").read_text()
    assert "\t// DRIFT-CLOSURE\n" in text
    drifted = text.replace("package main\n", "package main\n" + "// drift\n" * 7, 1)
    drifted = drifted.replace("\t// DRIFT-CLOSURE\n", "\tdefer func() {}()\n")
    (second / "main.go").write_text(drifted)
    dumps = []
    for name, pkg, leaks in (("v1", first, 2), ("v2", second, 9)):
        binary = go_build(pkg, go_cache, "drift-" + name)
        out = subprocess.run([str(binary), "-leaks", str(leaks)], check=True, capture_output=True, timeout=60)
        path = tmp_path / (name + ".txt")
        path.write_bytes(out.stdout)
        dumps.append(str(path))
    v1, v2 = (open(p).read() for p in dumps)
    assert "main.spawn.func1()" in v1 and "main.spawn.func2()" in v2

    data = compare_json(*dumps)
    deliver, worker = row_with(data, "main.deliver"), row_with(data, "main.worker")
    assert (deliver["counts"], deliver["verdict"]) == ([2, 9], "leak")
    assert (worker["counts"], worker["verdict"]) == ([3, 3], "stable")
    for row in (deliver, worker):
        assert row["match"] == {"fuzzy": True, "score": 100.0}
        assert [p["fuzzy"] for p in row["phases"]] == [False, True]
    assert data["fuzzy_matches"] == 2 and data["leaks"] == 1
    text = run_cli(["compare", *dumps]).stdout
    assert "matched across builds by a fuzzy match (score 100.0)" in text
    assert "[blocked-forever, fuzzy match, score 100.0]" in text

    # Without fuzzy matching, the drifted stacks are strangers: the steady pool looks like
    # it vanished and a new one leaked.
    off = compare_json(*dumps, "--fuzzy-cutoff", "off")
    assert sorted((tuple(c["counts"]), c["verdict"]) for c in rows_with(off, "main.worker")) == [
        ((0, 3), "leak"), ((3, 0), "gone")]
    # --similarity loose ignores lines and closure numbers: an exact match, no fuzz needed.
    loose = compare_json(*dumps, "--similarity", "loose")
    assert row_with(loose, "main.worker")["match"] == {"fuzzy": False, "score": 100.0}
