"""Mutation fuzzing: fixtures and corpus dumps truncated, with lines dropped and duplicated
and bytes corrupted, through the real CLI. See harness.py for the oracle."""
from pathlib import Path
from typing import List

import pytest

from tests.conftest import CORPUS, FIXTURES, goleak_exe, needs_shared
from tests.fuzz.harness import (DEADLINE, Case, Seed, cases_for, check, classify_lines, command_for,
                                cut_case, drop_line_case, duplicate_line_case, load_seeds, replace_byte_case,
                                run_in_process, run_subprocess)
from tests.render_go import GoFrame, GoGoroutine, render_debug2

NOT_SEEDS = {".json", ".md", ".go", ".mod", ".sh", ".py"}


def seed_paths(directory: Path) -> List[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix not in NOT_SEEDS)


FIXTURE_SEEDS = seed_paths(FIXTURES / "forms") + seed_paths(FIXTURES / "compare")
CORPUS_SEEDS = seed_paths(CORPUS / "dumps")


def synthetic_seed() -> Seed:
    """A clean dump with what real fixtures have little of: quoted labels, long waits,
    locked threads, runtime-proven leaks, inlined frames, creators without a parent id."""
    f = GoFrame
    goroutines = []
    for i in range(1, 13):
        goroutines.append(GoGoroutine(
            id=i * 7, status=["chan receive (nil chan)", "select (no cases)", "GC worker (idle)", "IO wait"][i % 4],
            frames=(f("main.(*Pool[...]).worker.func%d" % (i % 3 + 1), "/app/pool.go", 40 + i % 3, "0xc000010000, {0x1, 0x2?}, ..."),
                    f("main.run", "/app/main.go", 12, inlined=True)),
            leaked=i % 5 == 0, wait_minutes=[0, 3, 1440][i % 3], locked=i % 4 == 1,
            labels=(("req id", 'a "b" c'), ("worker", "w%d" % (i % 2))) if i % 2 else (),
            created_by=f("main.main", "/app/main.go", 30), parent_id=0 if i % 3 else 1))
    data = render_debug2(goroutines).encode()
    return Seed("synthetic.txt", data, classify_lines(data))


def run_cases(seed: Seed, cases: List[Case], tmp_path: Path) -> None:
    seed_file = tmp_path / ("seed-" + seed.name)
    seed_file.write_bytes(seed.data)
    target = tmp_path / ("mutated-" + seed.name)
    failures = []
    for index, case in enumerate(cases):
        target.write_bytes(case.data)
        args, oracle = command_for(index, str(target), str(seed_file))
        outcome = run_in_process(args)
        problems = check(case, outcome, str(target), oracle)
        if problems:
            keep = tmp_path / ("failing-%d-%s" % (index, seed.name))
            keep.write_bytes(case.data)
            failures.append("%s [%s] `goleak %s`: %s (input kept in %s)" % (
                seed.name, case.what, " ".join(args[:1] + args[2:]), "; ".join(problems), keep))
            if len(failures) >= 5:
                break
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", FIXTURE_SEEDS, ids=lambda p: p.name)
def test_mutated_fixtures(path, fuzz_cases, fuzz_seed, tmp_path):
    seed = load_seeds([path])[0]
    run_cases(seed, cases_for(seed, fuzz_cases, fuzz_seed), tmp_path)


@needs_shared
@pytest.mark.parametrize("path", CORPUS_SEEDS, ids=lambda p: p.name)
def test_mutated_corpus(path, fuzz_cases, fuzz_seed, tmp_path):
    seed = load_seeds([path])[0]
    run_cases(seed, cases_for(seed, fuzz_cases, fuzz_seed), tmp_path)


def test_mutated_inputs_give_the_same_report_in_two_processes(fuzz_cases, fuzz_seed):
    # goleak/shards.py on damaged dumps, forced on however few their stacks, at every
    # similarity: the two-process JSON and Markdown are the one-process reports, byte for
    # byte. A tenth of the cases of the other tests (each case forks twice).
    from goleak.errors import GoleakError
    from goleak.ignore import build_ignore_rules
    from goleak.normalize import SIMILARITIES
    from goleak.parse import ParseOptions, parse_bytes
    from goleak.report.view import ReportOptions
    from goleak.summary import SummarySettings
    from goleak.summary_report import render_summary_report

    def report(result, settings, jobs, fmt):
        pieces = render_summary_report([result], settings, ReportOptions(version="t"), fmt, jobs, 0).chunks
        return b"".join(p if isinstance(p, bytes) else p.encode("utf-8") for p in pieces)

    seeds = load_seeds(FIXTURE_SEEDS + CORPUS_SEEDS) + [synthetic_seed()]
    compared = 0
    for seed in seeds:
        for case in cases_for(seed, max(1, fuzz_cases // 10), fuzz_seed):
            for similarity in SIMILARITIES:
                try:
                    result = parse_bytes(case.data, seed.name,
                                         ParseOptions(keep_args=similarity == "exact", finish=False))
                except GoleakError:
                    continue
                settings = SummarySettings(similarity=similarity, ignore=build_ignore_rules((), True))
                # JSON is written in shards; the other formats render a summary made in shards.
                for fmt in ("json", "markdown"):
                    assert report(result, settings, 2, fmt) == report(result, settings, 1, fmt), \
                        (seed.name, case.what, similarity, fmt)
                compared += 1
    assert compared > len(seeds)


def test_mutated_synthetic(fuzz_cases, fuzz_seed, tmp_path):
    seed = synthetic_seed()
    assert seed.clean and seed.total == 12
    run_cases(seed, cases_for(seed, fuzz_cases * 4, fuzz_seed), tmp_path)


def test_every_cut_of_a_small_dump(tmp_path):
    # Exhaustive where it is cheap: every byte offset, every line dropped or duplicated,
    # of a dump with labels, creators and an inlined frame.
    seed = synthetic_seed()
    seed = Seed(seed.name, seed.data[: seed.data.index(b"\n\ngoroutine 28 ") + 1], None)
    seed.kinds = classify_lines(seed.data)
    assert seed.clean and seed.total == 3
    nlines = seed.data.count(b"\n")
    cases = [cut_case(seed, k) for k in range(1, len(seed.data))]
    cases += [drop_line_case(seed, i) for i in range(1, nlines + 1)]
    cases += [duplicate_line_case(seed, i) for i in range(1, nlines + 1)]
    cases += [replace_byte_case(seed, i, v) for i in range(0, len(seed.data), 3) for v in b"\n\tx]"]
    target = tmp_path / "cut.txt"
    failures = []
    for case in cases:
        target.write_bytes(case.data)
        outcome = run_in_process(["summary", str(target), "--format", "json"])
        problems = check(case, outcome, str(target))
        if problems:
            failures.append("[%s] %s" % (case.what, "; ".join(problems)))
    assert not failures, "%d of %d cases failed:\n%s" % (len(failures), len(cases), "\n".join(failures[:10]))


def test_a_handful_through_a_real_process(tmp_path, fuzz_seed):
    # The installed entry point, in its own process: a traceback or a hang would show here
    # even if click's runner hid it.
    exe = goleak_exe()
    seeds = load_seeds([p for p in FIXTURE_SEEDS if p.name in ("after.txt", "panic-in-log.txt", "after.pb.gz",
                                                                   "debug1-labels.txt")]) + [synthetic_seed()]
    failures = []
    for seed in seeds:
        for index, case in enumerate(cases_for(seed, 2, fuzz_seed + 1)):
            target = tmp_path / ("p-%d-%s" % (index, seed.name))
            target.write_bytes(case.data)
            outcome = run_subprocess(exe, ["summary", str(target), "--format", "json"])
            problems = check(case, outcome, str(target))
            if problems:
                failures.append("%s [%s]: %s" % (seed.name, case.what, "; ".join(problems)))
    assert not failures, "\n".join(failures)
    assert DEADLINE == 10.0
