"""Hostile inputs, each its own test: goleak answers with a clear error or a count, quickly,
and never with a traceback. Every module-level regex in goleak/ is run against 1 MB lines
built to make a backtracking engine explode."""
import ast
import gzip
import importlib
import multiprocessing
import pkgutil
import random
import re
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

import goleak
from goleak.errors import GoleakError
from goleak.parse import ParseOptions, parse_bytes
from tests.conftest import FIXTURES, run_cli
from tests.fuzz.harness import deadline

MB = 1 << 20
SMALL_DUMP = (b"goroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d\n\n"
              b"goroutine 7 [chan receive, 3 minutes]:\nmain.worker(0xc000010000)\n\t/app/main.go:40 +0x2a\n"
              b"created by main.main in goroutine 1\n\t/app/main.go:20 +0x3b\n")


def summary(tmp_path: Path, data: bytes, expect: int, *extra: str, name: str = "dump.txt", seconds: float = 10):
    path = tmp_path / name
    path.write_bytes(data)
    start = time.perf_counter()
    with deadline(seconds):
        result = run_cli(["summary", str(path), *extra], expect=expect)
    assert time.perf_counter() - start < seconds
    assert "Traceback" not in result.stderr
    return path, result


def one_error_line(result, source: str) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("goleak: error: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("goleak: error: %s" % source), lines[0]
    return lines[0]


# -- inputs that are not dumps --------------------------------------------------------------
def test_empty_file(tmp_path):
    path, result = summary(tmp_path, b"", 2)
    assert "the source is empty" in one_error_line(result, str(path))


def test_empty_stdin():
    result = run_cli(["summary", "-"], input=b"", expect=2)
    assert "the source is empty" in one_error_line(result, "<stdin>")


def test_only_blank_lines(tmp_path):
    path, result = summary(tmp_path, b"\n\n  \n\t\n" * 1000, 2)
    assert "no goroutine dump found" in one_error_line(result, str(path) + ":1")


def test_nul_bytes(tmp_path):
    path, result = summary(tmp_path, b"\x00" * 65536, 2)
    assert "binary data" in one_error_line(result, str(path) + ":1")


def test_nul_bytes_inside_a_dump_do_not_lose_goroutines(tmp_path):
    data = SMALL_DUMP.replace(b"main.worker(", b"main.wor\x00ker(") + b"\n\x00\x00\x00\n"
    r = parse_bytes(data, "nul")
    assert sum(s.total for s in r.snapshots) == 2
    functions = {f.function for s in r.snapshots for g in s.groups for f in g.stack.frames}
    assert "main.wor\x00ker" in functions


def test_random_binary(tmp_path):
    data = random.Random(7).getrandbits(8 * MB).to_bytes(MB, "little")
    path, result = summary(tmp_path, data, 2, name="random.bin")
    assert "binary data" in one_error_line(result, str(path) + ":1")


def test_single_8mb_line(tmp_path):
    path, result = summary(tmp_path, b"x" * (8 * MB), 2)
    error = one_error_line(result, str(path) + ":1")
    assert "no goroutine dump found" in error and "'xxxx" in error
    assert len(error) < 1000  # the line is quoted, not printed whole


def test_8mb_frame_line_inside_a_dump(tmp_path):
    huge = b"main." + b"f" * (8 * MB) + b"(0x1)"
    data = SMALL_DUMP.replace(b"main.main()", huge)
    r = parse_bytes(data, "big")
    assert r.snapshots[0].total == 2
    assert max(len(f.function) for g in r.snapshots[0].groups for f in g.stack.frames) == 8 * MB + 5
    summary(tmp_path, data, 0, "--format", "json")


def test_200000_frame_stack(tmp_path):
    frames = b"".join(b"main.recurse(0x%x)\n\t/app/deep.go:%d +0x1d\n" % (i, 10 + i % 5) for i in range(200_000))
    data = b"goroutine 1 [running]:\n" + frames + b"\n" + SMALL_DUMP.replace(b"goroutine 1 ", b"goroutine 2 ")
    start = time.perf_counter()
    with deadline(20):
        r = parse_bytes(data, "deep")
    assert time.perf_counter() - start < 20
    snap = r.snapshots[0]
    assert (snap.total, snap.warnings) == (3, ())
    assert max(len(g.stack.frames) for g in snap.groups) == 200_000
    path, result = summary(tmp_path, data, 0, "--top", "2", seconds=30)
    assert "goroutine" in result.stdout


def test_invalid_utf8_is_replaced_and_reported(tmp_path):
    data = SMALL_DUMP.replace(b"main.worker(", b"main.w\xff\xfeorker(")
    r = parse_bytes(data, "bad")
    snap = r.snapshots[0]
    assert snap.total == 2
    assert "main.w\ufffd\ufffdorker" in {f.function for g in snap.groups for f in g.stack.frames}
    assert [(w.line, w.message) for w in snap.warnings] == [(6, "invalid UTF-8; decoded with replacement characters")]
    path, result = summary(tmp_path, data, 0)
    assert "goleak: warning: %s:6: invalid UTF-8" % path in result.stderr


def test_invalid_utf8_in_labels_and_states(tmp_path):
    data = b'goroutine 3 [chan \xc3receive] {"k\xff": v\xfe}:\nmain.f()\n\t/a.go:1 +0x1\n'
    r = parse_bytes(data, "bad")
    snap = r.snapshots[0]
    assert snap.total == 1
    assert snap.groups[0].state == "chan \ufffdreceive"
    assert [w.line for w in snap.warnings] == [1]


def test_truncated_gzip_text_keeps_what_was_inflated(tmp_path):
    data = (FIXTURES / "compare" / "after.txt").read_bytes()
    blob = gzip.compress(data)
    r = parse_bytes(blob[: len(blob) - 9], "after.txt.gz")  # only the 8-byte trailer and a byte cut
    snap = r.snapshots[0]
    assert snap.total == 76
    assert snap.warnings[-1].message.startswith("truncated gzip data: the compressed stream ends at this line")
    assert snap.warnings[-1].line == data.count(b"\n") + 1
    half = blob[: len(blob) // 2]
    r = parse_bytes(half, "after.txt.gz")
    assert 0 < r.snapshots[0].total < 76
    assert any(w.message.startswith("truncated gzip data") and w.line for w in r.snapshots[0].warnings)
    summary(tmp_path, half, 0, name="after.txt.gz")


def test_truncated_gzip_protobuf_is_an_error(tmp_path):
    # A protobuf cut short cannot be decoded: one error naming the file and the cut, not a
    # complaint about the protobuf the cut broke.
    blob = (FIXTURES / "compare" / "after.pb.gz").read_bytes()
    for cut in (len(blob) // 2, len(blob) - 4):
        path, result = summary(tmp_path, blob[:cut], 2, name="after.pb.gz")
        error = one_error_line(result, str(path))
        assert "truncated gzip data" in error


def test_gzip_header_only(tmp_path):
    path, result = summary(tmp_path, gzip.compress(SMALL_DUMP)[:12], 2, name="x.gz")
    assert "gzip" in one_error_line(result, str(path))


def test_html_page(tmp_path):
    page = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>Sign in</title></head>\n"
            b"<body><form action=\"/login\"><input name=\"user\"></form></body></html>\n")
    path, result = summary(tmp_path, page, 2, name="page.html")
    assert "this is an HTML page, not a goroutine dump" in one_error_line(result, str(path) + ":1")


def test_pprof_index_page(tmp_path):
    page = (b"<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/<br>\n"
            b"Types of profiles available:\n<a href=\"goroutine?debug=1\">goroutine</a>\n</body>\n</html>\n")
    path, result = summary(tmp_path, page, 2, name="index.html")
    assert "use .../debug/pprof/goroutine?debug=2" in one_error_line(result, str(path) + ":1")


def test_unrelated_program_log(tmp_path):
    log = b"".join(b"Nov 22 01:%02d:00 web-3 nginx[812]: 10.0.0.%d - - \"GET /healthz HTTP/1.1\" 200 2 (0.001)\n"
                   % (i % 60, i % 250) for i in range(5000))
    path, result = summary(tmp_path, log, 2, name="nginx.log")
    error = one_error_line(result, str(path) + ":1")
    assert "no goroutine dump found" in error and "It starts with: 'Nov 22 01:00:00 web-3" in error


def test_program_log_with_a_dump_inside(tmp_path):
    log = b"".join(b"2024-05-01T10:00:%02dZ INFO request served id=%d\n" % (i % 60, i) for i in range(2000))
    path, result = summary(tmp_path, log + SMALL_DUMP + log, 0, "--format", "json")
    assert '"total":2' in result.stdout


# -- catastrophic backtracking ------------------------------------------------------------
# 1 MB lines of the characters the patterns care about, alone and after the prefixes that
# steer them into their deepest branches. Built one at a time (they are big).
UNITS = ["(", "[", "{", ":", "\t", " ", " \t", "\n", "\r\n", "0x", "1", "a ", ":1", "a:1 ", "...", '"\\', "+0x",
         "SIG", "\x1b[", "/go/src/", ".func1", "·1", "goroutine 1 [", "goroutine 1 [x] {"]
STEERED = [("goroutine 1 [", "["), ("goroutine 1 [running] {", " "), ("goroutine 1 [running] {", '"a\\'),
           ("goroutine 1 [running] {a:", " "), ("[", "\t"), ("\t", "goroutine 1 ["), ("\t", "a:1 "),
           ("\t/a.go:", "1"), ("created by ", "SIGA: "), ("1 @", " 0x1"), ("#\t0x1\t", "a+0x1 "),
           ("main.f(", "("), ("x", "goroutine 1 [x] {"), ("1", "0"), ("module ", "\n"), ("{", "a: b, ")]
ENDINGS = ["", "]:", "}:", "x", ":1"]


def hostile_strings():
    for n, (prefix, unit) in enumerate([("", u) for u in UNITS] + STEERED):
        yield prefix + unit * (MB // len(unit)) + ENDINGS[n % len(ENDINGS)]


SEARCHING_METHODS = {"search", "sub", "subn", "findall", "finditer", "split"}

try:  # the third-party `regex` module is an allowed dependency
    import regex as _regex
    PATTERN_TYPES = (re.Pattern, _regex.Pattern)
except ImportError:  # pragma: no cover
    PATTERN_TYPES = (re.Pattern,)

# Patterns only ever searched through a guard that keeps them linear: the guard is what
# is timed, and the census checks that no other code calls them.
GUARDED = {
    "goleak.parse.lines.HEADER_RE": "search_header",
    "goleak.parse.lines.HEADER_NO_LABELS_RE": "search_header",
}

# Patterns that do not hold up yet, name -> why; each is a strict expected failure, so it
# reports XPASS (a failure) once fixed. Empty: every pattern is linear on the hostile lines.
KNOWN_SLOW: Dict[str, str] = {}


class Census:
    """Every compiled pattern held by a goleak module, and how its callers call it."""

    def __init__(self):
        found: Dict[int, list] = {}
        root = Path(goleak.__file__).parent
        names = ["goleak"] + [m.name for m in pkgutil.walk_packages(goleak.__path__, "goleak.")]
        for name in names:
            module = importlib.import_module(name)
            for attr, value in vars(module).items():
                if isinstance(value, PATTERN_TYPES):
                    found.setdefault(id(value), [value, set(), set()])[1].add("%s.%s" % (name, attr))
        # Call sites are matched by attribute name; patterns of the same name in two
        # modules both get the calls of either (the stricter test).
        by_attr: Dict[str, List[int]] = {}
        for key, (_, pattern_names, _) in found.items():
            for n in pattern_names:
                by_attr.setdefault(n.rsplit(".", 1)[1], []).append(key)
        for path in root.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for func in [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
                where = getattr(func, "name", "<module>")
                for node in ast.walk(func):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                        target = node.func.value
                        attr = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
                        for key in by_attr.get(attr, ()):
                            found[key][2].add((node.func.attr, where))
        self.patterns = sorted(((min(ns, key=lambda n: (n.count("."), n)), p, calls) for p, ns, calls in found.values()),
                               key=lambda t: t[0])


CENSUS = Census()


def test_the_census_sees_the_parser_and_its_guards():
    calls = {name: c for name, _, c in CENSUS.patterns}
    assert {"goleak.parse.lines.FILE_LINE_RE", "goleak.parse.lines._LABEL_RE", "goleak.parse.lines.CRASH_RE",
            "goleak.parse.lines.HEADER_RE"} <= set(calls)
    assert ("match", "parse_file_line") in calls["goleak.parse.lines.FILE_LINE_RE"]
    for name, guard in GUARDED.items():
        searching = {(m, where) for m, where in calls[name] if m in SEARCHING_METHODS}
        # Walking the module body also sees calls inside functions: only the guard's own count.
        assert {where for _, where in searching} <= {guard, "<module>"}, (name, searching)


# A linear pass over 1 MB takes milliseconds; a bounded rescan (HEADER_RE's status is at
# most 256 characters) well under a second. Anything slower is reported as too slow.
SECONDS_PER_MB = 1.0


def slowest_hostile_string(call, as_bytes: bool) -> Optional[Tuple[str, float]]:
    """Run `call` on every hostile string in a forked child, one at a time; the first that
    takes SECONDS_PER_MB or longer is returned (the child is killed if it is still busy).

    A child, because the re module does not check for signals in every loop: a pattern
    gone quadratic can ignore an alarm for many seconds."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child():
        for i, text in enumerate(hostile_strings()):
            subject = text.encode("utf-8", "surrogatepass") if as_bytes else text
            send.send(("start", i, text[:40]))
            start = time.perf_counter()
            call(subject)
            send.send(("done", i, time.perf_counter() - start))
        send.send(("end", -1, 0.0))

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    send.close()
    current = ""
    try:
        while True:
            if not receive.poll(SECONDS_PER_MB if current else 30):
                return current or "<no progress>", SECONDS_PER_MB
            kind, _, value = receive.recv()
            if kind == "start":
                current = value
            elif kind == "done":
                if value >= SECONDS_PER_MB:
                    return current, value
                current = ""
            else:
                return None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()


@pytest.mark.slow
@pytest.mark.parametrize("name,pattern,calls", [
    pytest.param(n, p, c, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_SLOW[n])] if n in KNOWN_SLOW else [])
    for n, p, c in CENSUS.patterns], ids=[n for n, _, _ in CENSUS.patterns])
def test_no_regex_backtracks_catastrophically(name, pattern, calls):
    # Run it the way its callers do: anchored for match(), from every position otherwise;
    # a guarded pattern through its guard.
    if name in GUARDED:
        from goleak.parse import lines
        call, how = getattr(lines, GUARDED[name]), GUARDED[name]
    else:
        how = "search" if {m for m, _ in calls} & SEARCHING_METHODS or not calls else "match"
        call = getattr(pattern, how)
    slow = slowest_hostile_string(call, isinstance(pattern.pattern, bytes))
    assert slow is None, "%s (%s) took %.2f s or more on a 1 MB line %r..." % (name, how, slow[1], slow[0])


@pytest.mark.parametrize("line", [
    b"(" * MB, b"goroutine 1 [" + b"[" * MB, b"{" * MB, b":" * MB + b"1", b"\t" * MB, b"0x" * (MB // 2),
    b"goroutine 1 [" * (MB // 13) + b"]:", b"x goroutine 1 [" * (MB // 15) + b"]x]:",
    b"goroutine 1 [x] {" * (MB // 17) + b"]:", b"goroutine 1 [x] {" * (MB // 17) + b"}:", b"SIG" * (MB // 3),
    b"goroutine 1 [running] {a:" + b" " * MB + b'"}:', b"goroutine 1 [running] {" + b'"a\\' * (MB // 3) + b"}:",
    b"created by " + b"a " * (MB // 2), b"\tmain.go:" + b"1" * MB + b" +0x", b"\t" + b"a:1 " * (MB // 4),
    b"1 @" + b" 0x1" * (MB // 4) + b" x", b"#\t0x1\t" + b"a+0x1 " * (MB // 6), b"...." * (MB // 4),
    b"main." + b".func1" * (MB // 6) + b"()", b"panic: " + b"panic: " * (MB // 7),
], ids=lambda b: repr(b[:16]) + "x%d" % len(b))
def test_hostile_line_in_every_position(line):
    # The same 1 MB line as a log line before a dump, as a frame, as a file row and as the
    # last line: each read finishes quickly and the two real goroutines are still counted.
    placements = [
        line + b"\n" + SMALL_DUMP,
        SMALL_DUMP.replace(b"main.main()\n", b"main.main()\n" + line + b"\n"),
        SMALL_DUMP.replace(b"\t/app/main.go:12 +0x1d", b"\t" + line),
        SMALL_DUMP + b"\n" + line,
        b"goroutine 9 [select] {" + line + b"}:\nmain.f()\n\t/a.go:1 +0x1\n\n" + SMALL_DUMP,
        b"goroutine profile: total 3\n1 @ 0x1 0x2\n" + line + b"\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n" + SMALL_DUMP,
    ]
    for data in placements:
        start = time.perf_counter()
        with deadline(5):
            try:
                r = parse_bytes(data, "hostile", ParseOptions())
            except GoleakError:
                continue
        assert time.perf_counter() - start < 5
        assert sum(s.total for s in r.snapshots) >= 2
