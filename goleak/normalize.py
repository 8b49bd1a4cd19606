"""How a stack becomes a cluster key, at each --similarity level.

exact    function, file, line, argument values and state: only byte-identical goroutines
         (ids, +0x offsets and parent ids aside) share a cluster.
default  function, file, line and state: argument values, goroutine ids, +0x offsets,
         fp/sp/pc and parent ids are dropped.
loose    function with closure suffixes (.func1, .gowrap2, .func1.3) removed, and file; no
         line numbers and no state: two builds whose lines drifted still fold together.

At default and loose, leading runtime-internal frames (runtime.gopark, runtime.selectgo...)
are left out of the key: debug=1 profiles and older runtimes print them, Go's debug=2 text
does not, and the same goroutine must get the same key from both.
"""
import hashlib
import re
from typing import Tuple

from goleak.model import Frame, Stack
from goleak.paths import is_runtime_function

SIMILARITIES = ("exact", "default", "loose")

# main.worker.func1.2 -> main.worker ; main.main.gowrap1 -> main.main ; pkg.F.deferwrap1 -> pkg.F
# Matched against the reversed name, anchored: a suffix pattern ending in `$` under sub()
# is tried from every position, quadratic on a long run of ".func1" in a hostile dump.
_CLOSURE_REVERSED_RE = re.compile(r"(?:(?:\d+\.)*\d+(?:cnuf|parwog|parwrefed)\.)+|(?:\d+·)+")


# main.waitOn[go.shape.string] (protobuf profiles) and main.waitOn[...] (text) are one function:
# the text printers elide type arguments, so keys do too.
_TYPE_ARGS_RE = re.compile(r"\[[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\]")


def function_key(function: str) -> str:
    return _TYPE_ARGS_RE.sub("[...]", function) if "[" in function else function


def strip_closure_suffix(function: str) -> str:
    m = _CLOSURE_REVERSED_RE.match(function[::-1])
    return function[: len(function) - m.end()] if m else function


def key_frames(stack: Stack, similarity: str) -> Tuple[Frame, ...]:
    frames = stack.frames
    if similarity != "exact" and frames and is_runtime_function(frames[0].function):
        i = 1
        while i < len(frames) and is_runtime_function(frames[i].function):
            i += 1
        if i < len(frames):
            frames = frames[i:]
    return frames


def frame_key(frame: Frame, similarity: str) -> str:
    function = function_key(frame.function)
    if similarity == "loose":
        return "%s %s" % (strip_closure_suffix(function), frame.file)
    if similarity == "exact":
        return "%s(%s) %s:%d" % (function, frame.args, frame.file, frame.line)
    return "%s %s:%d" % (function, frame.file, frame.line)


# id(frame) -> key text, per similarity: parsers share Frame objects, so a dump with
# 20,000 distinct stacks has only a few thousand frames to format. Keyed by identity, as a
# Frame key would call its Python __hash__ for each of half a million lookups; _KEPT holds
# the frames so that no id is reused while its entry lives.
_FRAME_KEYS = {level: {} for level in SIMILARITIES}
_KEPT = {level: [] for level in SIMILARITIES}


def _frame_keys(frames: Tuple[Frame, ...], similarity: str) -> list:
    table = _FRAME_KEYS[similarity]
    if len(table) > 200_000:
        table.clear()
        _KEPT[similarity].clear()
    out = list(map(table.get, map(id, frames)))  # C-level: no Python step per frame
    if not all(out):  # keys are non-empty strings; a miss is None
        for i, f in enumerate(frames):
            if out[i] is None:
                k = table.get(id(f))
                if k is None:
                    k = table[id(f)] = frame_key(f, similarity)
                    _KEPT[similarity].append(f)
                out[i] = k
    return out


def signatures(stack: Stack, similarity: str) -> Tuple[str, str]:
    """(frames signature, stack signature), built from one pass over the frames.

    The frames signature is the frames alone: what debug=1 and debug=0 profiles (no
    created-by, no state) share with debug=2 text, so clusters match across formats. The
    stack signature always starts with it (see digest_pair)."""
    frames = "\n".join(_frame_keys(key_frames(stack, similarity), similarity))
    tail = []
    if stack.created_by is not None:
        tail.append("created by " + _frame_keys((stack.created_by,), similarity)[0])
    if stack.unavailable:
        tail.append("<stack unavailable>")
    if not tail:
        return frames, frames
    return frames, "\n".join([frames] + tail) if frames else "\n".join(tail)


def shard_key(stack: Stack, similarity: str) -> int:
    """A number that every stack of one cluster shares, to split clusters between processes
    (goleak/shards.py). Every level keys each kept frame by its file, and all but loose by
    its line too, so the count of key frames and their lines (files, for loose) are common to
    a cluster. Five of them, spread over the stack, tell clusters apart about as well as all
    of them and cost a fifth (reading a frame's attribute is most of the cost). Python's
    hash: it agrees between a process and its forked child, which is all a shard needs."""
    frames = key_frames(stack, similarity)
    n = len(frames)
    if not n:
        return 0
    if similarity == "loose":
        return hash((n, frames[0].file, frames[n >> 2].file, frames[n >> 1].file, frames[(3 * n) >> 2].file,
                     frames[-1].file))
    return hash((n, frames[0].line, frames[n >> 2].line, frames[n >> 1].line, frames[(3 * n) >> 2].line,
                 frames[-1].line))


def stack_signature(stack: Stack, similarity: str) -> str:
    """The text that decides cluster membership, without the state."""
    return signatures(stack, similarity)[1]


def state_key(state: str, similarity: str) -> str:
    return "" if similarity == "loose" else state


def digest(text: str) -> str:
    # sha1 of the text, not Python's hash(): keys must match across processes and runs.
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def digest_pair(prefix: str, suffix: str) -> Tuple[str, str]:
    """(digest(prefix), digest(prefix + suffix)), hashing the prefix once."""
    h = hashlib.sha1(prefix.encode("utf-8", "surrogatepass"))
    first = h.hexdigest()[:12]
    h.update(suffix.encode("utf-8", "surrogatepass"))
    return first, h.hexdigest()[:12]


def fuzzy_text(stack: Stack) -> str:
    """What fuzzy matching compares: function names in order, no lines, no closures."""
    names = [strip_closure_suffix(function_key(f.function)) for f in key_frames(stack, "default")]
    if stack.created_by is not None:
        names.append("created by " + strip_closure_suffix(function_key(stack.created_by.function)))
    return "\n".join(names)
