"""goleak.parse.pprof_proto: the pure-Python decoder of debug=0 (gzipped protobuf) profiles.

Real profiles: two from the shared corpus, and a goroutine/goroutineleak pair written by a
tiny Go program at one moment in both forms (tests/data/pprof/README.md), whose debug=1
text is the reference for counts, labels and frames. Synthetic profiles, built by the small
encoder below, cover what Go never writes (packed values, numeric labels, unsymbolized
locations, dangling ids, unknown fields). Hostile bytes must only ever raise InputError.
"""
import gzip
import json
import random
import re
import time
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest

from goleak.errors import InputError
from goleak.model import Frame
from goleak.parse import pprof_proto as pp
from goleak.parse.pprof_proto import (DecodedProfile, ProfileSample, decode_profile, is_gzip,
                                      looks_like_profile_proto)

DATA = Path(__file__).resolve().parent / "data" / "pprof"
SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "dumps"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(),
                                  reason="%s (the shared conformance corpus) is absent here" % CORPUS)


def read(path: Path) -> bytes:
    return path.read_bytes()


# -- a tiny protobuf encoder for synthetic profiles -------------------------------------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 goes as two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field: int, n: int) -> bytes:
    return varint(field << 3) + varint(n)


def f_bytes(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def f_repeated(field: int, values: Sequence[int], packed: bool) -> bytes:
    if packed:
        return f_bytes(field, b"".join(varint(v) for v in values))
    return b"".join(f_varint(field, v) for v in values)


class Builder:
    """Builds a Profile message the way profile.proto lays it out."""

    def __init__(self, packed: bool = True):
        self.strings: List[str] = [""]
        self.index = {"": 0}
        self.body = bytearray()
        self.packed = packed

    def s(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.strings)
            self.strings.append(text)
        return self.index[text]

    def value_type(self, field: int, typ: str, unit: str) -> "Builder":
        self.body += f_bytes(field, f_varint(1, self.s(typ)) + f_varint(2, self.s(unit)))
        return self

    def function(self, fid: int, name: str, file: str = "x.go") -> "Builder":
        self.body += f_bytes(5, f_varint(1, fid) + f_varint(2, self.s(name)) + f_varint(3, self.s(name))
                             + f_varint(4, self.s(file)))
        return self

    def location(self, lid: int, lines: Sequence[Tuple[int, int]], address: int = 0x401000) -> "Builder":
        body = f_varint(1, lid) + f_varint(3, address)
        for fid, line in lines:
            body += f_bytes(4, f_varint(1, fid) + f_varint(2, line))
        self.body += f_bytes(4, body)
        return self

    def sample(self, values: Sequence[int], locations: Sequence[int], labels: Sequence[bytes] = ()) -> "Builder":
        body = f_repeated(1, locations, self.packed) + f_repeated(2, values, self.packed)
        for label in labels:
            body += f_bytes(3, label)
        self.body += f_bytes(2, body)
        return self

    def label(self, key: str, text: str = None, num: int = None) -> bytes:
        body = f_varint(1, self.s(key))
        if text is not None:
            body += f_varint(2, self.s(text))
        if num is not None:
            body += f_varint(3, num)
        return body

    def raw(self, data: bytes) -> "Builder":
        self.body += data
        return self

    def encode(self) -> bytes:
        table = b"".join(f_bytes(6, s.encode("utf-8")) for s in self.strings)
        return bytes(self.body) + table


def goroutine_builder(packed: bool = True) -> Builder:
    b = Builder(packed)
    b.value_type(11, "goroutine", "count").raw(f_varint(12, 1)).value_type(1, "goroutine", "count")
    return b


def assert_input_error(data: bytes, contains: str = "") -> InputError:
    with pytest.raises(InputError) as info:
        decode_profile(data, "in.pb.gz")
    err = info.value
    assert err.source == "in.pb.gz"
    assert "\n" not in err.message and err.message
    assert contains in err.message, err.message
    return err


def decode_or_input_error(data: bytes) -> None:
    """Whatever the bytes: a DecodedProfile or an InputError, nothing else."""
    try:
        prof = decode_profile(data, "fuzz")
    except InputError as e:
        assert "\n" not in e.message
        # That prefix marks an exception the decoder did not expect (a bug it wrapped).
        assert not e.message.startswith("could not decode"), e.message
        return
    assert isinstance(prof, DecodedProfile)
    for s in prof.samples:
        assert isinstance(s, ProfileSample) and isinstance(s.count, int)


# -- the debug=1 text, the reference for the generated profiles --------------------------

Record = Tuple[int, Tuple[Tuple[str, str], ...], Tuple[Frame, ...]]


def parse_debug1(text: str) -> Tuple[int, List[Record]]:
    """`N @ 0x...` records: their count, `# labels: {...}` and `#\\t0xPC\\tfunc+0xoff\\tfile:line` frames."""
    lines = text.splitlines()
    total = int(re.match(r"\w+ profile: total (\d+)$", lines[0]).group(1))
    records: List[Record] = []
    for block in "\n".join(lines[1:]).split("\n\n"):
        rows = [r for r in block.splitlines() if r.strip()]
        if not rows:
            continue
        count = int(rows[0].split(" @", 1)[0])
        labels: Tuple[Tuple[str, str], ...] = ()
        frames = []
        for row in rows[1:]:
            if row.startswith("# labels: "):
                pairs = re.findall(r'("(?:[^"\\]|\\.)*"):("(?:[^"\\]|\\.)*")', row)
                labels = tuple((json.loads(k), json.loads(v)) for k, v in pairs)
                continue
            parts = [p for p in row.split("\t") if p]
            assert parts[0] == "#" and len(parts) == 4, row
            function = parts[2].rsplit("+0x", 1)[0]
            file, line = parts[3].rsplit(":", 1)
            frames.append(Frame(function, file, int(line)))
        records.append((count, labels, tuple(frames)))
    return total, records


def as_records(prof: DecodedProfile) -> List[Record]:
    return [(s.count, s.labels, s.frames) for s in prof.samples]


def sorted_labels(records: List[Record]) -> List[Record]:
    # debug=1 sorts the `"k":"v"` strings, the protobuf keeps the label set's key order:
    # the same order unless a key is a prefix of another.
    return [(c, tuple(sorted(lb)), fr) for c, lb, fr in records]


# -- generated profiles ------------------------------------------------------------------

WORKER_FRAMES = (
    Frame("main.wait", "example.com/pprofgen/main.go", 16),    # inlined into main.worker
    Frame("main.worker", "example.com/pprofgen/main.go", 18),
    Frame("main.main.func1.1", "example.com/pprofgen/main.go", 38),
    Frame("runtime/pprof.Do", "runtime/pprof/runtime.go", 57),
)


@pytest.mark.parametrize("name", ["goroutine", "goroutineleak"])
def test_generated_profile_agrees_with_its_debug1_twin(name):
    prof = decode_profile(read(DATA / (name + "-debug0.pb.gz")), name)
    total, records = parse_debug1((DATA / (name + "-debug1.txt")).read_text("utf-8"))
    assert prof.sample_types == ((name, "count"),)
    assert prof.period_type == (name, "count")
    assert sum(s.count for s in prof.samples) == total
    assert sorted_labels(as_records(prof)) == sorted_labels(records)


def test_generated_goroutine_profile_exactly():
    prof = decode_profile(read(DATA / "goroutine-debug0.pb.gz"), "g")
    assert [(s.count, s.labels) for s in prof.samples] == [
        (5, (("worker", "a"),)),
        (4, ()),  # pprof.Do with an empty label set: debug=1 prints `# labels: {}`
        (3, (("req id", 'x "y"'), ("worker", "b"))),
        (2, (("empty", ""), ("unicode", "héllo ✓"))),  # "" is sent as no Label.str at all
        (2, (("leaky", "yes"),)),
        (1, ()),
    ]
    for i in (0, 2, 3):
        assert prof.samples[i].frames == WORKER_FRAMES
    assert prof.samples[1].frames[0] == Frame("main.server", "example.com/pprofgen/main.go", 21)
    assert prof.samples[4].frames[0] == Frame("main.leak", "example.com/pprofgen/main.go", 30)
    # The writer: runtime frames after the first shown one stay (runtime.main at the root).
    writer = [f.function for f in prof.samples[5].frames]
    assert writer[0] == "runtime/pprof.writeRuntimeProfile"
    assert writer[-2:] == ["main.main", "runtime.main"]


def test_generated_profile_has_an_inlined_location():
    """main.wait is inlined into main.worker: one Location, two Lines, innermost first."""
    raw = pp._profile(gzip.decompress(read(DATA / "goroutine-debug0.pb.gz")))
    multi = [pp._location(b)[1] for b in raw.locations if len(pp._location(b)[1]) > 1]
    assert len(multi) == 1
    resolver = pp._Resolver(raw)
    names = [resolver.functions[fid][0] for fid, _ in multi[0]]
    assert names == ["main.wait", "main.worker"]


def test_generated_goroutineleak_profile_exactly():
    prof = decode_profile(read(DATA / "goroutineleak-debug0.pb.gz"), "gl")
    assert len(prof.samples) == 1
    s = prof.samples[0]
    assert (s.count, s.labels) == (2, (("leaky", "yes"),))
    assert [f.function for f in s.frames] == ["main.leak", "main.main.func1.1", "runtime/pprof.Do"]


def test_hide_runtime_off_keeps_the_leading_runtime_frames():
    data = read(DATA / "goroutine-debug0.pb.gz")
    hidden = decode_profile(data, "g")
    shown = decode_profile(data, "g", hide_runtime=False)
    assert [s.count for s in shown.samples] == [s.count for s in hidden.samples]
    worker = shown.samples[0].frames
    assert [f.function for f in worker[:3]] == ["runtime.gopark", "runtime.chanrecv", "runtime.chanrecv1"]
    assert worker[3:] == WORKER_FRAMES
    for a, b in zip(shown.samples, hidden.samples):
        n = len(a.frames) - len(b.frames)
        assert a.frames[n:] == b.frames
        assert all(f.function.startswith("runtime.") for f in a.frames[:n])
        assert all(f.function != "runtime.goexit" for f in a.frames)


def test_repo_fixture_agrees_with_its_debug1_twin():
    compare = Path(__file__).resolve().parents[1] / "fixtures" / "compare"
    if not (compare / "after.pb.gz").is_file():
        pytest.skip("fixtures/compare/after.pb.gz is absent")
    prof = decode_profile(read(compare / "after.pb.gz"), "after.pb.gz")
    total, records = parse_debug1((compare / "after-debug1.txt").read_text("utf-8"))
    assert sum(s.count for s in prof.samples) == total == 76
    assert sorted_labels(as_records(prof)) == sorted_labels(records)


# -- the shared corpus -------------------------------------------------------------------

@needs_corpus
def test_corpus_031_audiofile():
    prof = decode_profile(read(CORPUS / "031_audiofile-debug0.pb.gz"), "031")
    assert prof.sample_types == (("goroutine", "count"),)
    assert prof.period_type == ("goroutine", "count")
    assert [s.count for s in prof.samples] == [1, 1, 1]
    tops = {s.frames[0].function for s in prof.samples}
    assert tops == {"runtime/pprof.runtime_goroutineProfileWithLabels", "syscall.read",
                    "internal/poll.runtime_pollWait"}
    bottoms = {s.frames[-1].function for s in prof.samples}
    assert bottoms == {"net/http.(*conn).serve", "net/http.(*connReader).backgroundRead", "runtime.main"}
    handler = next(s for s in prof.samples if s.frames[-1].function == "net/http.(*conn).serve")
    assert Frame("net/http/pprof.Index", "/usr/local/go/src/net/http/pprof/pprof.go", 371) in handler.frames
    assert all(s.labels == () for s in prof.samples)


@needs_corpus
def test_corpus_032_pcp():
    data = read(CORPUS / "032_pcp-debug0.pb.gz")
    prof = decode_profile(data, "032")
    assert len(prof.samples) == 57
    assert sum(s.count for s in prof.samples) == 873
    by_top = {}
    for s in prof.samples:
        by_top[s.frames[0].function] = by_top.get(s.frames[0].function, 0) + s.count
    assert by_top["github.com/quic-go/quic-go.(*sendQueue).Run"] == 173
    assert by_top["github.com/quic-go/quic-go.(*incomingStreamsMap[...]).AcceptStream"] == 173
    assert by_top["github.com/quic-go/quic-go.(*connection).run"] == 173  # 100 + 73
    assert prof.samples[0].count == 173
    send = next(s for s in prof.samples if s.frames[0].function.endswith("(*sendQueue).Run"))
    assert send.frames[0].line == 67
    assert send.frames[0].file.endswith("/quic-go@v0.34.0/send_queue.go")
    # Nothing but goroutine counts; every frame resolved.
    assert all(f.function != "?" for s in prof.samples for f in s.frames)
    assert all(not f.function.startswith("runtime.") for s in prof.samples for f in s.frames[:1])


@needs_corpus
@pytest.mark.parametrize("name", ["031_audiofile-debug0.pb.gz", "032_pcp-debug0.pb.gz"])
def test_corpus_raw_and_gzipped_decode_alike(name):
    data = read(CORPUS / name)
    assert is_gzip(data)
    raw = gzip.decompress(data)
    assert not is_gzip(raw)
    assert decode_profile(raw, name) == decode_profile(data, name)


# -- format detection --------------------------------------------------------------------

def real_profiles() -> List[bytes]:
    out = [read(DATA / "goroutine-debug0.pb.gz"), read(DATA / "goroutineleak-debug0.pb.gz")]
    if CORPUS.is_dir():
        out += [read(CORPUS / "031_audiofile-debug0.pb.gz"), read(CORPUS / "032_pcp-debug0.pb.gz")]
    return out


def test_looks_like_profile_proto_accepts_profiles_and_their_prefixes():
    for data in real_profiles():
        raw = gzip.decompress(data)
        assert raw[:1] == b"Z"  # Go starts with period_type: field 11, wire type 2
        assert looks_like_profile_proto(data)  # gzipped: inflated first
        assert looks_like_profile_proto(raw)
        # The caller passes the first inflated chunk, cut anywhere.
        for cut in list(range(1, 64)) + [100, 1000, 4095, 4096, 5000]:
            assert looks_like_profile_proto(raw[:cut]), cut
    synthetic = goroutine_builder().encode()
    assert looks_like_profile_proto(synthetic)
    # Another encoder starting with sample_type (field 1), as the brief describes.
    assert looks_like_profile_proto(Builder().value_type(1, "goroutine", "count").encode())


@pytest.mark.parametrize("text", [
    b"",
    b"goroutine profile: total 3\n3 @ 0x1 0x2\n#\t0x1\tmain.f+0x1\tmain.go:3\n",
    b"goroutine 1 [running]:\nmain.main()\n\t/src/main.go:5 +0x1d\n",
    b"\ngoroutine 1 [running]:\nmain.main()\n",
    b"\n\n\npanic: boom\n\ngoroutine 1 [running]:\n",
    b"panic: runtime error: index out of range\n",
    b"<!DOCTYPE html><html><body>/debug/pprof/</body></html>",
    b'{"goroutines": []}',
    b"Zzzz sleepy text that starts with a Z and goes on for a while",
    b"2024-01-02T03:04:05Z INFO server started, listening on :8080 and waiting for the "
    b"goroutine dump to arrive; nothing here is a protobuf profile at all, only log text",
    gzip.compress(b"goroutine 1 [running]:\nmain.main()\n"),
    b"\x1f\x8b\x08\x00garbage",
])
def test_looks_like_profile_proto_rejects_text(text):
    assert not looks_like_profile_proto(text)


def test_looks_like_profile_proto_never_raises():
    rng = random.Random(7)
    for _ in range(2000):
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        assert looks_like_profile_proto(blob) in (True, False)
    assert looks_like_profile_proto(bytearray(b"Z\x04\x08\x01\x10\x02")) is True
    assert looks_like_profile_proto(memoryview(b"garbage")) is False


def test_is_gzip():
    assert is_gzip(b"\x1f\x8b\x08")
    assert not is_gzip(b"")
    assert not is_gzip(b"\x1f")
    assert not is_gzip(b"Z\x04")


# -- synthetic profiles: the parts of profile.proto Go does not exercise -------------------

def simple_profile(packed: bool) -> bytes:
    b = goroutine_builder(packed)
    b.function(1, "runtime.gopark", "runtime/proc.go").function(2, "main.inner").function(3, "main.outer")
    b.function(4, "main.main").function(5, "runtime.main", "runtime/proc.go")
    b.function(6, "runtime.goexit", "runtime/asm_amd64.s")
    b.location(1, [(1, 100)]).location(2, [(2, 7), (3, 20)]).location(3, [(4, 30)])
    b.location(4, [(5, 250)]).location(5, [(6, 1700)])
    b.sample([3], [1, 2, 3, 4, 5], [b.label("k", "v"), b.label("n", num=-42)])
    b.sample([1], [1, 2], [])
    b.sample([2], [3], [b.label("only key")])
    return b.encode()


EXPECTED_SIMPLE = (
    ProfileSample(3, (Frame("main.inner", "x.go", 7), Frame("main.outer", "x.go", 20), Frame("main.main", "x.go", 30),
                      Frame("runtime.main", "runtime/proc.go", 250)),
                  (("k", "v"), ("n", "-42"))),
    ProfileSample(1, (Frame("main.inner", "x.go", 7), Frame("main.outer", "x.go", 20)), ()),
    ProfileSample(2, (Frame("main.main", "x.go", 30),), (("only key", ""),)),
)


@pytest.mark.parametrize("packed", [True, False])
def test_packed_and_unpacked_repeated_fields(packed):
    data = simple_profile(packed)
    prof = decode_profile(data, "s")
    assert prof.samples == EXPECTED_SIMPLE
    assert prof.sample_types == (("goroutine", "count"),)
    assert decode_profile(gzip.compress(data), "s") == prof


def test_mixed_packed_and_unpacked_in_one_sample():
    b = goroutine_builder()
    b.function(1, "main.a").function(2, "main.b").function(3, "main.c")
    b.location(1, [(1, 1)]).location(2, [(2, 2)]).location(3, [(3, 3)])
    body = f_varint(1, 1) + f_bytes(1, varint(2) + varint(3)) + f_bytes(2, varint(4))
    b.raw(f_bytes(2, body))
    prof = decode_profile(b.encode(), "m")
    assert prof.samples[0].count == 4
    assert [f.function for f in prof.samples[0].frames] == ["main.a", "main.b", "main.c"]


def test_hide_runtime_rules():
    data = simple_profile(True)
    unhidden = decode_profile(data, "s", hide_runtime=False)
    assert [f.function for f in unhidden.samples[0].frames] == [
        "runtime.gopark", "main.inner", "main.outer", "main.main", "runtime.main", "runtime.goexit"]
    # All-runtime stacks show everything but runtime.goexit, like printStackRecord's second pass.
    b = goroutine_builder()
    b.function(1, "runtime.gopark").function(2, "internal/runtime/sync.f").function(3, "runtime.goexit")
    b.location(1, [(1, 1)]).location(2, [(2, 2)]).location(3, [(3, 3)])
    b.sample([1], [1, 2, 3])
    prof = decode_profile(b.encode(), "r")
    assert [f.function for f in prof.samples[0].frames] == ["runtime.gopark", "internal/runtime/sync.f"]
    assert pp.hide_runtime_frames(()) == ()


def test_unsymbolized_and_dangling_references_read_as_question_marks():
    b = goroutine_builder()
    b.function(1, "runtime.gopark").function(2, "main.f")
    b.location(1, [(1, 1)])
    b.location(2, [])              # no Line: not symbolized (debug=1 prints only the PC)
    b.location(3, [(2, 5)])
    b.location(4, [(99, 5)])       # function 99 does not exist
    b.sample([1], [1, 2, 3])
    b.sample([1], [3, 77, 4])      # location 77 does not exist
    prof = decode_profile(b.encode(), "u")
    assert prof.samples[0].frames == (Frame("?"), Frame("main.f", "x.go", 5))
    assert prof.samples[1].frames == (Frame("main.f", "x.go", 5), Frame("?"), Frame("?"))


def test_nothing_resolves_is_an_error():
    b = goroutine_builder()
    b.sample([1], [5, 6])
    assert_input_error(b.encode(), "none of the 2 location ids")


def test_a_stackless_sample_is_kept():
    b = goroutine_builder()
    b.sample([2], [])
    prof = decode_profile(b.encode(), "e")
    assert prof.samples == (ProfileSample(2, (), ()),)


def test_unknown_fields_and_wire_types_are_skipped():
    b = goroutine_builder()
    b.raw(f_varint(9, 1_700_000_000_000_000_000))       # time_nanos
    b.raw(varint(99 << 3 | 1) + b"\x00" * 8)            # an unknown fixed64
    b.raw(varint(98 << 3 | 5) + b"\x00" * 4)            # an unknown fixed32
    b.raw(f_bytes(3, f_varint(1, 1) + f_varint(2, 0x400000)))  # a mapping
    b.raw(f_bytes(13, varint(1) + varint(2)))           # packed comments
    b.function(1, "main.f")
    # A function with an extra unknown field, a location with is_folded and a Line column.
    b.raw(f_bytes(5, f_varint(1, 2) + f_varint(2, b.s("main.g")) + f_varint(4, b.s("g.go")) + f_varint(77, 3)))
    b.raw(f_bytes(4, f_varint(1, 1) + f_bytes(4, f_varint(1, 1) + f_varint(2, 9) + f_varint(3, 4)) + f_varint(5, 1)))
    b.location(2, [(2, 3)])
    label = b.label("k", "v") + f_varint(4, b.s("unit")) + varint(50 << 3 | 5) + b"abcd"
    b.raw(f_bytes(2, f_varint(1, 1) + f_varint(1, 2) + f_varint(2, 6) + f_bytes(3, label) + f_bytes(60, b"xyz")))
    prof = decode_profile(b.encode(), "x")
    assert prof.samples == (ProfileSample(6, (Frame("main.f", "x.go", 9), Frame("main.g", "g.go", 3)), (("k", "v"),)),)


def test_negative_int64_and_long_varints():
    b = goroutine_builder()
    b.function(1, "main.f")
    b.location(1, [(1, -1)])  # a 10-byte varint
    b.sample([1], [1])
    assert decode_profile(b.encode(), "n").samples[0].frames == (Frame("main.f", "x.go", -1),)
    b = goroutine_builder()
    b.sample([-3], [])
    assert_input_error(b.encode(), "negative count")


def test_count_is_the_goroutine_value_among_several():
    b = Builder()
    b.value_type(1, "samples", "count").value_type(1, "goroutine", "count")
    b.function(1, "main.f").location(1, [(1, 1)])
    b.sample([10, 4], [1])
    prof = decode_profile(b.encode(), "v")
    assert prof.samples[0].count == 4
    assert prof.period_type is None
    assert prof.sample_types == (("samples", "count"), ("goroutine", "count"))
    b = Builder()
    b.value_type(1, "samples", "count").value_type(1, "goroutine", "count")
    b.sample([10], [])
    assert_input_error(b.encode(), "sample 1 has 1 values")


def test_strings_are_utf8_with_replacement_and_big_indexes_work():
    b = goroutine_builder()
    for i in range(300):  # push indexes past one varint byte
        b.s("filler %d" % i)
    b.function(200, "main.f")
    b.location(300, [(200, 70000)])
    b.sample([1], [300], [b.label("k", "v")])
    data = b.encode().replace("main.f".encode(), b"main.\xff")
    prof = decode_profile(data, "u")
    assert prof.samples[0].frames == (Frame("main.\ufffd", "x.go", 70000),)
    assert prof.samples[0].labels == (("k", "v"),)


def test_multi_member_gzip_and_trailing_garbage():
    data = simple_profile(True)
    z = gzip.compress(data)
    split = gzip.compress(data[:40]) + gzip.compress(data[40:])
    assert decode_profile(split, "m").samples == EXPECTED_SIMPLE
    assert decode_profile(z + b"\x00\x00trailing", "m").samples == EXPECTED_SIMPLE


def test_large_synthetic_profile_is_fast_enough():
    """10,000 samples with unique labels and 2-byte location ids: correct, and no quadratic cost."""
    b = goroutine_builder()
    for f in range(1, 301):
        b.function(f, "pkg.f%d" % f)
        b.location(f, [(f, f)])
    for i in range(10000):
        stack = [1 + (i + k) % 300 for k in range(20)]
        b.sample([1 + i % 5], stack, [b.label("req", "r%d" % i), b.label("shard", str(i % 7))])
    data = b.encode()
    start = time.perf_counter()
    prof = decode_profile(data, "big")
    elapsed = time.perf_counter() - start
    assert len(prof.samples) == 10000
    assert sum(s.count for s in prof.samples) == sum(1 + i % 5 for i in range(10000))
    s = prof.samples[6789]
    assert s.labels == (("req", "r6789"), ("shard", str(6789 % 7)))
    assert [f.line for f in s.frames] == [1 + (6789 + k) % 300 for k in range(20)]
    assert elapsed < 10, "decoding %d bytes took %.1fs" % (len(data), elapsed)


# -- hostile input: only ever InputError -----------------------------------------------

def test_empty_input():
    assert_input_error(b"", "empty profile")
    assert_input_error(gzip.compress(b""), "empty profile")


def test_truncated_gzip():
    data = read(DATA / "goroutine-debug0.pb.gz")
    for cut in range(2, len(data)):
        try:
            decode_profile(data[:cut], "t.pb.gz")
        except InputError as e:
            assert e.message.startswith(("truncated gzip data", "corrupt gzip data")), (cut, e.message)
        else:
            pytest.fail("a gzip stream cut at byte %d decoded" % cut)
    assert_input_error(data[:len(data) // 2], "truncated gzip data")
    assert_input_error(data[:-4], "truncated gzip data")  # the size trailer is missing


def test_corrupt_gzip():
    data = bytearray(read(DATA / "goroutine-debug0.pb.gz"))
    data[len(data) // 2] ^= 0xFF
    decode_or_input_error(bytes(data))
    assert_input_error(b"\x1f\x8b\x08\x00garbage", "gzip")


def assert_cuts_fail(raw: bytes, step: int = 1, gzipped: bool = False) -> Tuple[int, List[str]]:
    """Every proper prefix raises InputError, or (cut inside the mapping strings at the
    very end, which are never used) decodes exactly like the whole.

    Returns how many prefixes decoded and the error messages of the others."""
    full = decode_profile(raw, "whole")
    decoded = 0
    messages = []
    for cut in range(1, len(raw), step):
        data = gzip.compress(raw[:cut]) if gzipped else raw[:cut]
        try:
            prof = decode_profile(data, "cut")
        except InputError as e:
            assert "\n" not in e.message
            messages.append(e.message)
            continue
        assert prof == full, cut
        decoded += 1
    return decoded, messages


def test_profile_cut_in_the_middle():
    raw = gzip.decompress(read(DATA / "goroutine-debug0.pb.gz"))
    # Go writes the string table last; its final four strings (binary, build id, [vdso],
    # [vsyscall]) name the mappings, which the decoder never reads.
    assert raw.endswith(b"[vsyscall]")
    decoded, messages = assert_cuts_fail(raw)
    assert decoded == 4
    assert assert_cuts_fail(raw, step=7, gzipped=True)[0] <= 1
    # Cut between two strings: the names past the cut are missing.
    assert any("string index" in m and "cut short or corrupt" in m for m in messages)
    assert any("claims" in m for m in messages)
    assert_input_error(raw[:len(raw) // 2], "malformed protobuf profile")


@needs_corpus
def test_corpus_profile_cut_in_the_middle():
    raw = gzip.decompress(read(CORPUS / "032_pcp-debug0.pb.gz"))
    assert_cuts_fail(raw, step=97)


@pytest.mark.parametrize("data, message", [
    (b"Z\x04\x08\x01\x10", "claims 4 bytes but only 3 remain"),
    (b"Z\x04\x08\x01\x10\x02\x60", "varint runs past the end"),
    (b"Z\x7f\x08\x01", "claims 127 bytes but only 2 remain"),
    (b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
    (b"\x0b\x00", "wire type 3"),
    (b"\x0c\x00", "wire type 4"),
    (b"\x0e\x00", "wire type 6"),
    (b"\x02\x00", "field number 0"),
    (b"\x09\x00\x00", "runs past the end"),
    (f_varint(9, 1), "no string table"),
    (b"\x08\x01", "Profile field 1 has wire type 0"),
    (f_bytes(6, b"x"), "string_table[0]"),
    (f_bytes(6, b""), "no sample types and no samples"),
    (f_bytes(1, f_bytes(1, b"")) + f_bytes(6, b""), "ValueType.type has wire type 2"),
    (f_bytes(2, f_bytes(2, b"\x80")) + f_bytes(6, b""), "in the packed Sample.value"),
    (f_varint(2, 5) + f_bytes(6, b""), "Profile field 2 has wire type 0"),
])
def test_malformed_protobuf(data, message):
    assert_input_error(data, message)
    assert_input_error(gzip.compress(data), message)


def test_random_bytes():
    rng = random.Random(20240501)
    for _ in range(3000):
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
        decode_or_input_error(blob)
        decode_or_input_error(b"Z" + blob)
    for _ in range(300):
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 2000)))
        decode_or_input_error(gzip.compress(blob))


def test_mutated_profiles():
    """Flip, insert and drop bytes of real profiles: decoded or InputError, never a crash."""
    rng = random.Random(99)
    for data in real_profiles():
        raw = gzip.decompress(data)
        for _ in range(400):
            m = bytearray(raw)
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(m))
                op = rng.randrange(3)
                if op == 0:
                    m[i] = rng.getrandbits(8)
                elif op == 1:
                    m.insert(i, rng.getrandbits(8))
                else:
                    del m[i]
            decode_or_input_error(bytes(m))


def test_non_bytes_input_is_an_input_error():
    assert_input_error(None)  # type: ignore[arg-type]
    assert decode_profile(bytearray(simple_profile(True)), "b").samples == EXPECTED_SIMPLE
    assert decode_profile(memoryview(simple_profile(True)), "b").samples == EXPECTED_SIMPLE


def test_deeply_nested_length_fields_do_not_recurse():
    data = b"x"
    for _ in range(5000):
        data = f_bytes(2, data)
    decode_or_input_error(data)


def test_corrupt_second_gzip_member():
    data = gzip.compress(simple_profile(True)) + b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage"
    assert_input_error(data, "gzip")


def test_hypothesis_bytes_only_raise_input_error():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    profile = simple_profile(True)

    @hypothesis.settings(max_examples=400, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda b: b"Z" + b),
        st.binary(max_size=300).map(gzip.compress),
        st.tuples(st.integers(0, len(profile)), st.binary(max_size=8)).map(
            lambda t: profile[:t[0]] + t[1] + profile[t[0] + len(t[1]):]),
    ))
    def check(data):
        decode_or_input_error(data)
        assert looks_like_profile_proto(data) in (True, False)

    check()
