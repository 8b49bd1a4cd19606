"""Baselines: the file (schema, round trip, errors) and `gate --baseline` (new kinds, growth past
tolerance, matching across formats and drifted builds the way compare matches)."""
import json
import re

import pytest

from goleak.baseline import (SCHEMA_VERSION, baseline_to_json, build_baseline, check_baseline, load_baseline,
                             max_count_for)
from goleak.cluster import cluster_snapshots
from goleak.compare import CompareSettings
from goleak.errors import InputError
from goleak.gate import parse_growth
from goleak.sources import read_source
from tests.conftest import FIXTURES, run_cli

CMP = FIXTURES / "compare"
BEFORE, AFTER = str(CMP / "before.txt"), str(CMP / "after.txt")
BEFORE_D1, AFTER_D1, AFTER_PB = str(CMP / "before-debug1.txt"), str(CMP / "after-debug1.txt"), str(CMP / "after.pb.gz")
# Where the leaked senders wait, as the fixture prints it (the line moves when it is recaptured).
SENDER_AT = re.search(r"\n\t(example\.com/leakyserver/main\.go:\d+) ", (CMP / "after.txt").read_text().split(
    "main.leakSender(", 1)[1]).group(1)


@pytest.fixture(autouse=True)
def not_in_github_actions(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def stanzas(path: str):
    return open(path, encoding="utf-8").read().strip("\n").split("\n\n")


def write_dump(tmp_path, name, parts) -> str:
    p = tmp_path / name
    p.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return str(p)


def record(tmp_path, src, *extra) -> str:
    out = tmp_path / "goleak-baseline.json"
    run_cli(["baseline", src, "-o", str(out), *extra], expect=0)
    return str(out)


# -- the file -----------------------------------------------------------------------------------
def test_max_count_from_tolerance():
    assert max_count_for(3, parse_growth("100%")) == 6
    assert max_count_for(1, parse_growth("50%")) == 2  # rounded up: a single goroutine may become two
    assert max_count_for(40, parse_growth("5")) == 45
    assert max_count_for(7, parse_growth("0")) == 7


def test_baseline_file_contents(tmp_path):
    path = record(tmp_path, BEFORE)
    text = open(path).read()
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION and data["kind"] == "goleak-baseline"
    assert data["total"] == 9 and data["tolerance"] == "100%" and data["format"] == "debug=2"
    assert data["source"].endswith("before.txt")
    assert sum(c["count"] for c in data["clusters"]) == 9
    workers = data["clusters"][0]
    assert workers["count"] == 3 and workers["max_count"] == 6 and workers["state"] == "select"
    assert workers["frames"][0]["function"] == "main.backgroundWorker"
    assert workers["created_by"]["function"] == "main.main"
    assert workers["fuzzy"] == "main.backgroundWorker\ncreated by main.main"
    assert re.fullmatch(r"[0-9a-f]{12}", workers["id"]) and re.fullmatch(r"[0-9a-f]{12}", workers["stack_id"])
    assert list(data) == sorted(data)  # sorted keys: the file diffs well
    # Deterministic: recording again gives the same bytes.
    assert open(record(tmp_path, BEFORE)).read() == text


def test_round_trip():
    result = read_source(AFTER)
    b = build_baseline("after.txt", 76, cluster_snapshots(result.snapshots), "default", parse_growth("10"), "9.9")
    assert load_baseline(baseline_to_json(b), "b.json") == b


@pytest.mark.parametrize("text, message", [
    ("{", "invalid JSON"),
    ("[]", "not a goleak baseline"),
    ('{"kind": "goleak-baseline", "schema_version": 99, "clusters": [], "total": 0}', "schema_version 99"),
    ('{"kind": "goleak-baseline", "schema_version": 1, "total": 3}', "damaged baseline"),
    ('{"kind": "goleak-baseline", "schema_version": 1, "total": 3, "clusters": [{"id": "x", "count": -1, '
     '"frames": []}]}', "damaged baseline"),
])
def test_bad_baseline_files_are_input_errors(text, message):
    with pytest.raises(InputError, match=message):
        load_baseline(text, "b.json")


def test_cli_errors(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text("{")
    err = run_cli(["gate", "--baseline", str(bad), AFTER], expect=2).stderr
    assert "b.json:1: not a goleak baseline: invalid JSON" in err
    err = run_cli(["gate", "--baseline", str(tmp_path / "none.json"), AFTER], expect=2).stderr
    assert "none.json: cannot read" in err
    err = run_cli(["baseline", AFTER, "-o", str(tmp_path / "b.json"), "--tolerance", "x"], expect=2).stderr
    assert "--tolerance takes a number" in err
    both = tmp_path / "both.txt"
    both.write_text(open(BEFORE).read() + "\n" + open(AFTER_D1).read())
    err = run_cli(["baseline", str(both), "-o", str(tmp_path / "b.json")], expect=2).stderr
    assert "holds 2 dumps; a baseline is recorded from one" in err


# -- the gate -------------------------------------------------------------------------------------
def test_same_dump_passes_and_new_kinds_fail(tmp_path):
    path = record(tmp_path, BEFORE)
    out = run_cli(["gate", "--baseline", path, BEFORE], expect=0)
    assert "ok    baseline  7 known clusters in" in out.stdout and "0 new, 0 grown past tolerance" in out.stdout
    out = run_cli(["gate", "--baseline", path, AFTER], expect=1)
    assert out.stderr.count("\n") == 1
    assert ("5 new, 0 grown past tolerance; main.leakSender: 0 -> 40 goroutines [chan send] at " + SENDER_AT
            + " (new kind) and 4 more clusters") in out.stderr


def test_growth_past_tolerance(tmp_path):
    parts = stanzas(AFTER)
    senders = [p for p in parts if "main.leakSender(" in p]
    assert len(senders) == 40
    others = [p for p in parts if "main.leakSender(" not in p]
    ten = write_dump(tmp_path, "ten.txt", others + senders[:10])
    path = record(tmp_path, ten)  # leakSender: 10, may hold 20
    twenty = write_dump(tmp_path, "twenty.txt", others + senders[:20])
    run_cli(["gate", "--baseline", path, twenty], expect=0)
    out = run_cli(["gate", "--baseline", path, AFTER], expect=1)
    assert ("0 new, 1 grown past tolerance; main.leakSender: 10 -> 40 goroutines [chan send] at " + SENDER_AT
            + " (tolerance 20)") in out.stderr
    # An absolute tolerance, chosen when recording.
    path = record(tmp_path, ten, "--tolerance", "30")
    run_cli(["gate", "--baseline", path, AFTER], expect=0)


def test_a_hand_edited_max_count_is_honoured(tmp_path):
    path = record(tmp_path, AFTER)
    data = json.loads(open(path).read())
    sender = next(c for c in data["clusters"] if c["frames"][0]["function"] == "main.leakSender")
    sender["max_count"] = 39
    open(path, "w").write(json.dumps(data))
    out = run_cli(["gate", "--baseline", path, AFTER], expect=1)
    assert "main.leakSender: 40 goroutines [chan send]" in out.stderr and "(tolerance 39)" in out.stderr


def test_a_state_change_is_the_same_kind(tmp_path):
    # A ticker loop caught [select] when recorded and [runnable] now is not a new kind.
    parts = stanzas(AFTER)
    flipped = [re.sub(r"^(goroutine \d+) \[select\]:", r"\1 [runnable]:", p) if "main.tickerLoop(" in p else p
               for p in parts]
    assert flipped != parts
    path = record(tmp_path, AFTER)
    run_cli(["gate", "--baseline", path, write_dump(tmp_path, "flipped.txt", flipped)], expect=0)


def test_baseline_matches_every_format(tmp_path):
    path = record(tmp_path, AFTER)
    for src in (AFTER_D1, AFTER_PB):
        run_cli(["gate", "--baseline", path, src], expect=0)
    path = record(tmp_path, BEFORE_D1)
    run_cli(["gate", "--baseline", path, BEFORE], expect=0)
    out = run_cli(["gate", "--baseline", path, AFTER], expect=1)
    assert "5 new" in out.stderr


def test_a_drifted_build_matches_fuzzily_and_says_so(tmp_path):
    # The same program rebuilt with lines moved: every key differs, the frames do not.
    drifted = re.sub(r"(example\.com/leakyserver/main\.go:)(\d+)", lambda m: m.group(1) + str(int(m.group(2)) + 3),
                     open(AFTER).read())
    drifted_path = tmp_path / "drifted.txt"
    drifted_path.write_text(drifted)
    path = record(tmp_path, AFTER)
    out = run_cli(["gate", "--baseline", path, str(drifted_path)], expect=0)
    m = re.search(r"(\d+) matched by fuzzy match \(lowest score ([\d.]+)\)", out.stdout)
    assert m and int(m.group(1)) >= 5 and float(m.group(2)) >= 90
    # A renamed leak is still new: fuzzy partners must share the innermost user function.
    renamed = tmp_path / "renamed.txt"
    renamed.write_text(drifted.replace("main.leakSender(", "main.leakSenderV2("))
    out = run_cli(["gate", "--baseline", path, str(renamed)], expect=1)
    assert "main.leakSenderV2: 0 -> 40 goroutines [chan send]" in out.stderr and "(new kind)" in out.stderr


def test_check_baseline_directly():
    b = build_baseline("before", 9, cluster_snapshots(read_source(BEFORE).snapshots), "default", parse_growth("100%"))
    after = read_source(AFTER).snapshots[0]
    r = check_baseline(b, after, CompareSettings())
    assert not r.ok and r.actual == "5 new, 0 grown"
    assert [o.title for o in r.offenders] == ["main.leakSender", "main.connReader", "main.tickerLoop",
                                              "main.mutexWaiter", "main.waitgroupWaiter"]
    assert all(o.before == 0 for o in r.offenders)


def test_max_growth_against_the_baseline_total(tmp_path):
    path = record(tmp_path, BEFORE)
    out = run_cli(["gate", "--baseline", path, AFTER, "--max-growth", "50"], expect=1)
    assert "max-growth: 9 goroutines in baseline -> 76 in after: +67 goroutines, over 50" in out.stderr
