"""Ignore rules: --ignore over any frame or created-by, and the default list on real Go dumps."""
import json
import subprocess

import pytest

from goleak.cluster import cluster_snapshots
from goleak.errors import UsageError
from goleak.ignore import DEFAULT_RULES, build_ignore_rules, describe_defaults
from goleak.parse import parse_file
from tests.conftest import FIXTURES, go_build, run_cli

COMPARE = FIXTURES / "compare"
FORMS = FIXTURES / "forms"


def hidden_and_kept(path, rules):
    clusters = cluster_snapshots(parse_file(str(path), path.name).snapshots)
    hidden, kept = {}, []
    for c in clusters:
        rule = rules.match(c.stack)
        if rule is None:
            kept.append(c)
        else:
            hidden[rule.name] = hidden.get(rule.name, 0) + c.count
    return hidden, kept


def functions(clusters):
    return sorted({f.function for c in clusters for f in c.stack.frames})


def test_user_pattern_matches_any_frame():
    rules = build_ignore_rules([r"^main\.tickerLoop$"], default_ignores=False)
    hidden, kept = hidden_and_kept(COMPARE / "after.txt", rules)
    assert hidden == {r"--ignore ^main\.tickerLoop$": 7}
    assert "main.tickerLoop" not in functions(kept)


def test_user_pattern_matches_created_by():
    # The mutex waiters are created by main.handleLeakMutex, which is in no frame of theirs.
    rules = build_ignore_rules([r"handleLeakMutex"], default_ignores=False)
    hidden, kept = hidden_and_kept(COMPARE / "after.txt", rules)
    assert hidden == {"--ignore handleLeakMutex": 6}
    # A pattern is searched, not anchored: "sync" hides every stack with a sync.* or
    # internal/sync frame (mutex and waitgroup waiters).
    hidden, _ = hidden_and_kept(COMPARE / "after.txt", build_ignore_rules(["sync"], default_ignores=False))
    assert hidden == {"--ignore sync": 11}


def test_a_bad_pattern_is_a_usage_error():
    with pytest.raises(UsageError, match=r"ignore pattern '\(' is not a valid regular expression"):
        build_ignore_rules(["("])


def test_defaults_on_the_leaky_server_hide_only_the_plumbing():
    hidden, kept = hidden_and_kept(COMPARE / "after.txt", build_ignore_rules())
    assert hidden == {"os/signal receiver": 1, "pprof dump writer": 1}
    assert sum(c.count for c in kept) == 76 - 2
    hidden, _ = hidden_and_kept(COMPARE / "after-debug1.txt", build_ignore_rules())
    assert hidden == {"os/signal receiver": 1, "pprof dump writer": 1}  # writeRuntimeProfile
    hidden, _ = hidden_and_kept(COMPARE / "goroutineleak-after.txt", build_ignore_rules())
    assert hidden == {"os/signal receiver": 1, "pprof dump writer": 1}  # via writeGoroutineLeak


def test_defaults_keep_a_stuck_test_visible():
    """fixtures/forms/test-timeout.txt: `go test -timeout 2s` with two hanging tests."""
    hidden, kept = hidden_and_kept(FORMS / "test-timeout.txt", build_ignore_rules())
    assert hidden == {"test runner": 3}  # runner, parent in t.Run, the timeout alarm
    fns = functions(kept)
    assert "example.com/fixtures/timeout.TestParallelWait" in fns
    assert "example.com/fixtures/timeout.(*Pool).drain" in fns


def test_defaults_hide_runtime_internal_goroutines_of_a_system_traceback():
    hidden, kept = hidden_and_kept(FORMS / "gotraceback-system.txt", build_ignore_rules())
    assert hidden == {"runtime internal": 5}  # forcegc, finalizers, sweeper, scavenger, GOMAXPROCS updater
    assert all(any(not f.function.startswith("runtime.") for f in c.stack.frames) for c in kept)


def test_no_default_ignores_hides_nothing():
    hidden, kept = hidden_and_kept(FORMS / "gotraceback-system.txt", build_ignore_rules(default_ignores=False))
    assert hidden == {}


def test_every_default_rule_is_explained():
    text = describe_defaults()
    assert len(text.splitlines()) == len(DEFAULT_RULES)
    assert all(r.reason and r.scope == "top" for r in DEFAULT_RULES)


@pytest.mark.slow
def test_defaults_on_a_real_program(go_cache, tmp_path):
    """fixtures/gen/ignorestacks: signal.Notify and trace.Start in a real program. (The test
    runner's goroutines come from fixtures/forms/test-timeout.txt, above.)"""
    pkg = FIXTURES / "gen" / "ignorestacks"
    binary = go_build(pkg, go_cache, "ignorestacks")
    main_dump = tmp_path / "main.txt"
    main_dump.write_bytes(subprocess.run([str(binary)], check=True, capture_output=True, timeout=60).stdout)
    hidden, kept = hidden_and_kept(main_dump, build_ignore_rules())
    assert hidden == {"os/signal receiver": 1, "runtime/trace reader": 1, "pprof dump writer": 1}
    assert [c.stack.frames[0].function for c in kept] == ["main.stuck"]

    # The same through the CLI: summary reports what it hid.
    out = run_cli(["summary", str(main_dump), "--format", "json"])
    assert json.loads(out.stdout)["ignored_goroutines"] == 3
    out = run_cli(["summary", str(main_dump), "--format", "json", "--no-default-ignores"])
    assert json.loads(out.stdout)["ignored_goroutines"] == 0
