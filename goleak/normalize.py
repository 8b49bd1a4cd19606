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
_CLOSURE_RE = re.compile(r"(?:\.(?:func|gowrap|deferwrap)\d+(?:\.\d+)*)+$|(?:·\d+)+$")


# main.waitOn[go.shape.string] (protobuf profiles) and main.waitOn[...] (text) are one function:
# the text printers elide type arguments, so keys do too.
_TYPE_ARGS_RE = re.compile(r"\[[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\]")


def function_key(function: str) -> str:
    return _TYPE_ARGS_RE.sub("[...]", function) if "[" in function else function


def strip_closure_suffix(function: str) -> str:
    return _CLOSURE_RE.sub("", function)


def key_frames(stack: Stack, similarity: str) -> Tuple[Frame, ...]:
    frames = stack.frames
    if similarity != "exact":
        i = 0
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


def frames_signature(stack: Stack, similarity: str) -> str:
    """The frames alone: what debug=1 and debug=0 profiles (no created-by, no state) share
    with debug=2 text, so clusters match across formats."""
    return "\n".join(frame_key(f, similarity) for f in key_frames(stack, similarity))


def stack_signature(stack: Stack, similarity: str) -> str:
    """The text that decides cluster membership, without the state."""
    parts = [frame_key(f, similarity) for f in key_frames(stack, similarity)]
    if stack.created_by is not None:
        parts.append("created by " + frame_key(stack.created_by, similarity))
    if stack.unavailable:
        parts.append("<stack unavailable>")
    return "\n".join(parts)


def state_key(state: str, similarity: str) -> str:
    return "" if similarity == "loose" else state


def digest(text: str) -> str:
    # sha1 of the text, not Python's hash(): keys must match across processes and runs.
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def fuzzy_text(stack: Stack) -> str:
    """What fuzzy matching compares: function names in order, no lines, no closures."""
    names = [strip_closure_suffix(function_key(f.function)) for f in key_frames(stack, "default")]
    if stack.created_by is not None:
        names.append("created by " + strip_closure_suffix(function_key(stack.created_by.function)))
    return "\n".join(names)
