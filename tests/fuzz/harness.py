"""Mutation fuzzing over real dumps: the mutations, the oracle, and a deadline.

Every mutated input goes through the real CLI (`goleak summary FILE --format json`, and
now and then other commands and formats). Whatever the input, goleak must exit 0, 1 or
2, raise nothing, and finish within DEADLINE seconds. On "clean" seeds (plain debug=2
text, every stanza `header (function file)+ (created-by file)?`) the oracle also knows
the answer, worked out from the seed's lines without goleak's parser:

* cut at byte k: every header line that ends before k is a goroutine, and so is a last
  partial line that already reads `goroutine <digit>`; a cut at a stanza boundary or
  right after a complete `file:line` row is a valid dump (no warning); any other cut
  leaves the last stanza visibly incomplete, so a warning must point into it;
* drop one line: the total stays (a stanza whose header went is counted in an unknown
  state) and, unless the line was blank, a warning points at where it was;
* duplicate one line: a duplicated header adds a goroutine with no stack; any other
  non-blank duplicate leaves the total alone; either way a warning points at it;
* replace one byte: the total moves by at most one, and only with a warning.
"""
import json
import random
import re
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

DEADLINE = 10.0  # seconds, per input

HEADER = re.compile(r"goroutine \d+ (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[[^\]]*\](?: \{.*\})?:$")


class DeadlineExceeded(Exception):
    pass


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise DeadlineExceeded in the main thread after `seconds`, even inside a regex
    match (the re module checks for signals while it backtracks)."""
    def on_alarm(signum, frame):
        raise DeadlineExceeded("still running after %.1f s" % seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- seeds ------------------------------------------------------------------------------
LINE_KINDS = ("header", "func", "file", "created", "created_file", "blank")


@dataclass
class Seed:
    name: str
    data: bytes
    # Set for clean debug=2 seeds: the kind of each line, 1-based (kinds[0] is unused).
    kinds: Optional[List[str]] = None

    @property
    def clean(self) -> bool:
        return self.kinds is not None

    @property
    def total(self) -> int:
        return self.kinds.count("header") if self.kinds else 0


def classify_lines(data: bytes) -> Optional[List[str]]:
    """Line kinds when `data` is a clean debug=2 dump, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.endswith("\n") or "\r" in text:
        return None
    kinds = ["-"]
    expect = "header"
    for line in text[:-1].split("\n"):
        if expect == "header":
            if not HEADER.match(line):
                return None
            kind, expect = "header", "func"
        elif expect in ("func", "func_or_end"):
            if line == "" and expect == "func_or_end":
                kind, expect = "blank", "header"
            elif line.startswith("created by ") and expect == "func_or_end":
                kind, expect = "created", "created_file"
            elif line.endswith(")") and not line.startswith(("\t", " ", "goroutine ", "created by", "[", "...")):
                kind, expect = "func", "file"
            else:
                return None
        elif expect in ("file", "created_file"):
            if not re.match(r"\t\S.*:\d+( \+0x[0-9a-f]+)?$", line):
                return None
            kind = expect
            expect = "func_or_end" if expect == "file" else "end"
        else:  # "end": after a created-by file line only a blank line may come
            if line != "":
                return None
            kind, expect = "blank", "header"
        kinds.append(kind)
    if expect not in ("func_or_end", "end"):
        return None
    return kinds


def window(data: bytes, limit: int) -> bytes:
    """At most `limit` bytes of a big seed, ending at a stanza boundary when it can."""
    if len(data) <= limit:
        return data
    cut = data.rfind(b"\n\n", 0, limit)
    return data[: cut + 1] if cut > 0 else data[:limit]


def load_seeds(paths: List[Path], limit: int = 96 << 10) -> List[Seed]:
    seeds = []
    for p in paths:
        data = window(p.read_bytes(), limit) if not p.name.endswith(".gz") else p.read_bytes()
        seeds.append(Seed(p.name, data, classify_lines(data)))
    return seeds


# -- cases ------------------------------------------------------------------------------
@dataclass
class Expect:
    total: Optional[int] = None  # exact total
    total_near: Optional[int] = None  # total within 1 of this, and a warning if not equal
    no_dump: bool = False  # exit 2 (nothing left that is a dump)
    no_warnings: bool = False
    warn_between: Optional[Tuple[int, int]] = None  # a warning on a line in this range


@dataclass
class Case:
    seed: Seed
    what: str
    data: bytes
    expect: Expect = field(default_factory=Expect)


def lines_of(data: bytes) -> List[bytes]:
    return data.split(b"\n")


def cut_case(seed: Seed, k: int) -> Case:
    data = seed.data[:k]
    case = Case(seed, "cut at byte %d of %d" % (k, len(seed.data)), data)
    if not seed.clean:
        return case
    kinds = seed.kinds
    rows = lines_of(data)
    complete, partial = rows[:-1], rows[-1]
    n = len(complete)
    headers = kinds[1:n + 1].count("header")
    partial_is_header = partial != b"" and kinds[n + 1] == "header"
    counted_partial = partial_is_header and re.match(rb"goroutine \d", partial) is not None
    total = headers + (1 if counted_partial else 0)
    if total == 0:
        case.expect.no_dump = True
        return case
    case.expect.total = total
    if partial == b"":
        after = kinds[n + 1] if n + 1 < len(kinds) else "blank"
        last = kinds[n] if n >= 1 else "blank"
        if last == "blank" or after in ("blank", "header") or last in ("file", "created_file"):
            # A stanza boundary, or the end of a complete frame: a valid dump.
            case.expect.no_warnings = True
            return case
    elif partial_is_header and not counted_partial:
        # "gorout": no goroutine id yet, nothing to count or to point at.
        return case
    stanza_start = max(i for i in range(1, n + 2) if i < len(kinds) and kinds[i] == "header" and i <= n + 1)
    case.expect.warn_between = (stanza_start, n + 2)
    return case


def drop_line_case(seed: Seed, i: int) -> Case:
    rows = lines_of(seed.data)
    data = b"\n".join(rows[: i - 1] + rows[i:])
    case = Case(seed, "drop line %d" % i, data)
    if seed.clean:
        case.expect.total = seed.total
        if seed.kinds[i] == "blank":
            case.expect.no_warnings = True
        else:
            case.expect.warn_between = (i - 1, i + 1)
    return case


def duplicate_line_case(seed: Seed, i: int) -> Case:
    rows = lines_of(seed.data)
    data = b"\n".join(rows[:i] + rows[i - 1:])
    case = Case(seed, "duplicate line %d" % i, data)
    if seed.clean:
        kind = seed.kinds[i]
        case.expect.total = seed.total + (1 if kind == "header" else 0)
        if kind == "blank":
            case.expect.no_warnings = True
        else:
            case.expect.warn_between = (i, i + 2)
    return case


NASTY_BYTES = b"\n\t \x00\xff\xfe\x80[](){}:,.\"\\0123456789abcxyz+@#=\r"


def replace_byte_case(seed: Seed, i: int, value: int) -> Case:
    data = seed.data[:i] + bytes([value]) + seed.data[i + 1:]
    case = Case(seed, "byte %d -> %r" % (i, bytes([value])), data)
    if seed.clean and data != seed.data:
        case.expect.total_near = seed.total
    return case


def random_case(seed: Seed, rnd: random.Random) -> Case:
    """One mutation, chosen at random; the clean-seed oracle is attached where it applies."""
    data = seed.data
    n = len(data)
    nlines = data.count(b"\n")
    choice = rnd.randrange(12)
    if choice <= 2 and n > 1:
        if rnd.random() < 0.5:
            # Favour the interesting places: line ends and just around them.
            ends = [m.end() for m in re.finditer(b"\n", data)]
            k = min(max(1, rnd.choice(ends) + rnd.choice([-2, -1, 0, 0, 1, 2])), n - 1)
        else:
            k = rnd.randrange(1, n)
        return cut_case(seed, k)
    if choice == 3 and nlines > 1:
        return drop_line_case(seed, rnd.randrange(1, nlines + 1))
    if choice == 4 and nlines > 1:
        return duplicate_line_case(seed, rnd.randrange(1, nlines + 1))
    if choice in (5, 6) and n:
        return replace_byte_case(seed, rnd.randrange(n), rnd.choice(NASTY_BYTES))
    if choice == 7 and n:
        i = rnd.randrange(n)
        size = rnd.randint(1, 64)
        return Case(seed, "drop bytes %d..%d" % (i, i + size), data[:i] + data[i + size:])
    if choice == 8 and n:
        i = rnd.randrange(n)
        size = rnd.randint(1, 256)
        return Case(seed, "duplicate bytes %d..%d" % (i, i + size), data[:i + size] + data[i:])
    if choice == 9 and n:
        i = rnd.randrange(n)
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 32)))
        return Case(seed, "insert %r at %d" % (junk, i), data[:i] + junk + data[i:])
    if choice == 10 and nlines > 2:
        rows = lines_of(data)
        i = rnd.randrange(len(rows) - 1)
        rows[i], rows[i + 1] = rows[i + 1], rows[i]
        return Case(seed, "swap lines %d and %d" % (i + 1, i + 2), b"\n".join(rows))
    # Several at once: corruption as it comes from a chat paste or a chopped CI log.
    what = []
    for _ in range(rnd.randint(2, 6)):
        if not data:
            break
        i = rnd.randrange(len(data))
        op = rnd.randrange(4)
        if op == 0:
            data = data[:i]
            what.append("cut %d" % i)
        elif op == 1:
            data = data[:i] + data[i + rnd.randint(1, 200):]
            what.append("drop at %d" % i)
        elif op == 2:
            data = data[:i] + bytes([rnd.choice(NASTY_BYTES)]) + data[i + 1:]
            what.append("byte at %d" % i)
        else:
            j = rnd.randrange(len(data))
            data = data[:i] + data[j:j + rnd.randint(1, 300)] + data[i:]
            what.append("copy %d to %d" % (j, i))
    return Case(seed, "; ".join(what), data)


def cases_for(seed: Seed, count: int, rnd_seed: int) -> List[Case]:
    rnd = random.Random("%s/%d" % (seed.name, rnd_seed))
    return [random_case(seed, rnd) for _ in range(count)]


# -- the oracle -----------------------------------------------------------------------------
@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float


WARNING_LINE = re.compile(r":(\d+): ")


def warning_lines(report: dict, source: str) -> List[Optional[int]]:
    out = []
    for w in report.get("warnings", []):
        text = w if isinstance(w, str) else json.dumps(w)
        rest = text[len(source):] if text.startswith(source) else text
        m = WARNING_LINE.match(rest)
        out.append(int(m.group(1)) if m else None)
    return out


def check(case: Case, outcome: Outcome, source: str, oracle: bool = True) -> List[str]:
    """What is wrong with this outcome; [] when all is well. Without `oracle` (a command
    other than `summary --format json`) only the universal rules apply."""
    problems = []
    if outcome.exit_code not in (0, 1, 2):
        problems.append("exit code %r" % outcome.exit_code)
    if "Traceback" in outcome.stderr or "Traceback" in outcome.stdout:
        problems.append("a traceback was printed")
    if outcome.seconds >= DEADLINE:
        problems.append("took %.1f s" % outcome.seconds)
    if outcome.exit_code == 2:
        errors = [ln for ln in outcome.stderr.splitlines() if ln.startswith("goleak: error: ")]
        if len(errors) != 1 or source not in errors[0]:
            problems.append("exit 2 without one `goleak: error:` line naming %s: %r" % (source, outcome.stderr[-500:]))
        if oracle and (case.expect.total is not None or case.expect.total_near is not None):
            problems.append("exit 2, but the input still holds goroutines: %r" % outcome.stderr[-300:])
        return problems
    if not oracle:
        return problems
    if case.expect.no_dump:
        problems.append("exit %d, expected 2 (nothing left that is a dump)" % outcome.exit_code)
        return problems
    if outcome.exit_code != 0:
        return problems
    try:
        report = json.loads(outcome.stdout)
    except ValueError:
        return problems + ["stdout is not JSON: %r" % outcome.stdout[:200]]
    total = report["total"]
    lines = warning_lines(report, source)
    nlines = case.data.count(b"\n") + 1
    bad = [ln for ln in lines if ln is not None and not 1 <= ln <= nlines + 1]
    if bad:
        problems.append("warning line numbers %s outside 1..%d" % (bad, nlines + 1))
    e = case.expect
    if e.total is not None and total != e.total:
        problems.append("total %d, expected %d" % (total, e.total))
    if e.total_near is not None:
        if abs(total - e.total_near) > 1:
            problems.append("total %d, expected %d +- 1" % (total, e.total_near))
        elif total != e.total_near and not lines:
            problems.append("total %d instead of %d, with no warning" % (total, e.total_near))
    if e.no_warnings and lines:
        problems.append("unexpected warnings: %s" % report["warnings"][:3])
    if e.warn_between is not None:
        lo, hi = e.warn_between
        if not any(ln is not None and lo <= ln <= hi for ln in lines):
            problems.append("no warning on a line in %d..%d; warnings: %s" % (lo, hi, report["warnings"][:4]))
    return problems


def run_in_process(args: List[str]) -> Outcome:
    """The CLI through click's runner (the `main` group `goleak` runs), under the deadline."""
    import time
    from click.testing import CliRunner
    from goleak.cli import main
    kwargs = {"mix_stderr": False} if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else {}
    runner = CliRunner(**kwargs)
    start = time.perf_counter()
    with deadline(DEADLINE):
        result = runner.invoke(main, args, catch_exceptions=True, env={"GOLEAK_NO_PROGRESS": "1"})
    seconds = time.perf_counter() - start
    stderr = getattr(result, "stderr", "") or ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback
        stderr += "Traceback (in-process):\n" + "".join(
            traceback.format_exception(type(result.exception), result.exception, result.exception.__traceback__))
    return Outcome(result.exit_code, result.stdout, stderr, seconds)


def run_subprocess(exe: str, args: List[str]) -> Outcome:
    import subprocess
    import time
    start = time.perf_counter()
    p = subprocess.run([exe] + args, capture_output=True, text=True, errors="replace", timeout=DEADLINE + 5,
                       env={"PATH": "/usr/bin:/bin", "GOLEAK_NO_PROGRESS": "1", "LC_ALL": "C.UTF-8"})
    return Outcome(p.returncode, p.stdout, p.stderr, time.perf_counter() - start)


def command_for(index: int, path: str, seed_path: str) -> Tuple[List[str], bool]:
    """The summary JSON the oracle reads, and every so often another command or format,
    so renderers and comparisons see damaged input too. Returns (args, oracle applies)."""
    extra = index % 10
    if extra == 3:
        return ["summary", path, "--format", "html"], False
    if extra == 5:
        return ["summary", path, "--format", "markdown", "--similarity", "loose"], False
    if extra == 7:
        return ["compare", seed_path, path, "--format", "json"], False
    if extra == 9:
        return ["gate", path, "--max-goroutines", "5", "--fail-on", "runtime-leaked"], False
    return ["summary", path, "--format", "json", "--similarity", "exact" if extra == 1 else "default"], True
