"""The benchmark harness (bench/run.py) and its Go parse-only baseline (bench/goparse): the
baseline reads as many goroutines as goleak and every frame of the dump, skipping no line, and
a --quick run of the harness times both on the same dump and reports them side by side."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import FIXTURES, ROOT, go_build, run_cli

pytestmark = pytest.mark.slow

# debug=2 dumps: the baseline reads goroutine stanzas only (no crash text, no debug=1).
DEBUG2 = [FIXTURES / "forms" / "debug2-labels.txt", FIXTURES / "forms" / "debug2-nolabels.txt",
          FIXTURES / "forms" / "debug2-waitminutes.txt", FIXTURES / "forms" / "deep-recursion.txt",
          FIXTURES / "forms" / "goroutineleak-debug2.txt", FIXTURES / "forms" / "synctest-bubble.txt",
          FIXTURES / "compare" / "after.txt", FIXTURES / "compare" / "goroutineleak-after.txt"]


def frame_lines(path):
    """Call frames counted the plain way: every tab-indented file line is a frame's or a
    creator's, and each creator has one "created by" line."""
    lines = path.read_text().splitlines()
    return sum(1 for x in lines if x.startswith("\t")) - sum(1 for x in lines if x.startswith("created by "))


@pytest.mark.parametrize("dump", DEBUG2, ids=lambda p: p.name)
def test_the_go_baseline_reads_every_goroutine_and_frame(dump, go_cache):
    goparse = go_build(ROOT / "bench" / "goparse", go_cache, "goparse")
    out = subprocess.run([str(goparse), str(dump)], capture_output=True, text=True, check=True, timeout=60)
    counted = json.loads(out.stdout)
    total = json.loads(run_cli(["summary", str(dump), "--format", "json"]).stdout)["total"]
    assert counted == {"goroutines": total, "frames": frame_lines(dump), "skipped_lines": 0}


def test_a_quick_bench_run_times_goleak_and_the_go_baseline_on_the_same_dump(tmp_path, go_cache):
    env = dict(os.environ, GOLEAK_BENCH_CACHE=str(tmp_path / "cache"),
               GOLEAK_BENCH_GOLEAK=str(ROOT / ".venv" / "bin" / "goleak"),
               GOCACHE=str(go_cache / "gocache"))  # the packages tests already compiled
    if not os.access(env["GOLEAK_BENCH_GOLEAK"], os.X_OK):
        pytest.skip("no .venv/bin/goleak (run `make test`)")
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "goparse,big-50",
                          "--json", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"big-50", "big-50 --jobs 1", "go parse-only big-50", "go parse-only distinct-20k"}
    baseline = results["go parse-only big-50"]
    assert baseline["goroutines"] == results["big-50"]["goroutines"] == 20_001
    assert baseline["skipped_lines"] == 0 and baseline["frames"] > 20_001
    assert baseline["goleak_summary_ratio"] == pytest.approx(results["big-50"]["seconds"] / baseline["seconds"])
    assert baseline["goleak_jobs1_ratio"] == pytest.approx(results["big-50 --jobs 1"]["seconds"] / baseline["seconds"])
    assert results["go parse-only distinct-20k"]["goleak_summary_ratio"] is None  # its summary did not run
    table = run.stdout
    assert "go parse-only big-50" in table and "goleak summary took" in table and "with --jobs 1" in table
    assert table.index("big-50 --jobs 1") < table.index("go parse-only big-50")  # right after goleak's rows
