"""The immutable data model every stage shares: frames, stacks, goroutines, groups, snapshots."""
import operator
from dataclasses import field
from typing import Optional, Tuple

from goleak.records import frozen

LabelPair = Tuple[str, str]


@frozen
class Frame:
    """One call frame as printed: `main.(*T).run(0x1, ...)` over `\t/src/t.go:42 +0x1d`."""

    function: str
    file: str = ""
    line: int = 0
    # The argument text between the final parentheses, kept only under --similarity exact
    # (argument values differ per goroutine and would split every cluster otherwise).
    args: str = ""
    # Frames and stacks key the parser's and clusterer's tables; their hashes are computed
    # once, not on every lookup.
    _hash: int = field(default=0, init=False, repr=False, compare=False)
    # (function, file, line, args): what stacks are ordered by, built once per frame.
    order: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        order = (self.function, self.file, self.line, self.args)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "_hash", hash(order))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        # Frames unpickled from parallel parse children are interned: the frames of one
        # program repeat across its stacks, and shared objects make every later table
        # lookup an identity hit instead of a field-by-field __eq__.
        return (intern_frame, (self.function, self.file, self.line, self.args))


_FRAMES: dict = {}


def intern_frame(function: str, file: str, line: int, args: str = "") -> Frame:
    """The one Frame of this process with these fields. The fast parser and unpickling
    both go through here, so a parse child's frames arrive as the parent's own objects."""
    key = (function, file, line, args)
    frame = _FRAMES.get(key)
    if frame is None:
        if len(_FRAMES) > 1_000_000:  # a long `goleak watch`: stay bounded
            _FRAMES.clear()
        frame = _FRAMES[key] = Frame(function, file, line, args)
    return frame


_FRAME_HASH = operator.attrgetter("_hash")


@frozen
class Stack:
    frames: Tuple[Frame, ...]
    created_by: Optional[Frame] = None
    # Frames the runtime left out: N from "...N frames elided...", -1 for the pre-1.21
    # "...additional frames elided..." that gives no count.
    elided: int = 0
    # The text ended or broke inside this stack; what was read is kept.
    truncated: bool = False
    # "goroutine running on other thread; stack unavailable"
    unavailable: bool = False
    # Computed on first use: a parse child never hashes the stacks it sends (hashing one
    # cost up to 9 µs inside the stream, a tenth of a distinct stack's reading).
    _hash: Optional[int] = field(default=None, init=False, repr=False, compare=False)

    def __reduce__(self):
        # Rebuilt through __init__, so the hash is this process's own.
        return (Stack, (self.frames, self.created_by, self.elided, self.truncated, self.unavailable))

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            # The frames' stored hashes, read by a C-level getter: hashing the tuple of
            # frames would call Frame.__hash__ in Python once per frame.
            h = hash((tuple(map(_FRAME_HASH, self.frames)), self.created_by, self.elided, self.truncated,
                      self.unavailable))
            object.__setattr__(self, "_hash", h)
        return h


@frozen
class Ancestor:
    """An "[originating from goroutine N]:" block printed under GODEBUG=tracebackancestors."""

    goroutine_id: int
    frames: Tuple[Frame, ...]


@frozen
class Goroutine:
    """One goroutine as the runtime printed it. The reference parser yields these."""

    id: int
    state: str
    stack: Stack
    wait_minutes: Optional[int] = None
    leaked: bool = False
    locked_to_thread: bool = False
    labels: Tuple[LabelPair, ...] = ()
    parent_id: Optional[int] = None
    ancestors: Tuple[Ancestor, ...] = ()
    synctest_bubble: Optional[int] = None
    line: int = 0


@frozen
class LabelCount:
    key: str
    value: str
    goroutines: int


@frozen
class StackGroup:
    """All goroutines of one snapshot that share one stack and one state.

    Parsers emit groups, not goroutines, so memory follows distinct stacks, not goroutines.
    """

    stack: Stack
    state: str
    count: int
    leaked: int = 0
    locked: int = 0
    wait_min: Optional[int] = None
    wait_max: Optional[int] = None
    # Goroutines that carry each label pair; at most MAX_LABEL_VALUES values per key are
    # kept, the rest are counted in labels_other. Ordered by key, then most goroutines
    # first, then by value (Cluster.labels too), so reports need not sort them again.
    labels: Tuple[LabelCount, ...] = ()
    labels_other: Tuple[Tuple[str, int], ...] = ()
    # The first goroutine ids in file order (a sample, to find them in the dump).
    sample_ids: Tuple[int, ...] = ()


MAX_LABEL_VALUES = 10
MAX_SAMPLE_IDS = 8


@frozen
class Warning:
    source: str
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        return "%s%s: %s" % (self.source, ":%d" % self.line if self.line else "", self.message)


@frozen
class Snapshot:
    """One dump: a debug=2 text, a debug=1 or debug=0 profile, or the goroutines of a crash."""

    source: str
    format: str  # "debug=2", "debug=1", "debug=0", "crash"
    groups: Tuple[StackGroup, ...]
    total: int
    declared_total: Optional[int] = None
    profile: str = "goroutine"  # or "goroutineleak"
    index: int = 0  # position among the dumps of one source
    warnings: Tuple[Warning, ...] = ()
    # The first line of a crash ("panic: ...", "fatal error: ...", "SIGQUIT: quit").
    crash_reason: Optional[str] = None
    race_reports: int = 0

    @property
    def name(self) -> str:
        return self.source if self.index == 0 else "%s#%d" % (self.source, self.index + 1)


@frozen
class ParseResult:
    """Everything read from one source: its snapshots and what could not be read."""

    source: str
    snapshots: Tuple[Snapshot, ...] = field(default_factory=tuple)
    warnings: Tuple[Warning, ...] = ()


@frozen
class Cluster:
    """Goroutines whose stacks normalize to the same key (see normalize.py)."""

    id: str  # digest of stack signature + state: stable across runs and processes
    stack_id: str  # digest of the frames alone: matches debug=1/debug=0 (no state, no created-by)
    stack: Stack  # the frames as printed by the largest group in the cluster
    count: int
    states: Tuple[Tuple[str, int], ...]  # state -> goroutines, largest first
    wait_min: Optional[int] = None
    wait_max: Optional[int] = None
    leaked: int = 0
    locked: int = 0
    labels: Tuple[LabelCount, ...] = ()
    labels_other: Tuple[Tuple[str, int], ...] = ()
    sample_ids: Tuple[int, ...] = ()

    @property
    def state(self) -> str:
        return self.states[0][0] if self.states else ""
