"""Ignore rules: goroutines that are part of every Go process and never a leak, hidden from reports.

Two kinds of rule:

- `--ignore REGEX` (and `ignore = [...]` in the config): a Python regular expression searched
  in every frame's function and in the created-by function; one hit hides the goroutine.
  Anchor it (`^main\\.poller$`) to match a whole name.
- the default list below. Each default rule looks at one precise place, the innermost frame
  below the runtime's own, so that it cannot hide user code that merely calls through the
  same package: a test body blocked forever runs under
  testing.tRunner too, and must stay visible.

`--no-default-ignores` (or `default_ignores = false`) turns the default list off.
"""
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence, Tuple

from goleak.errors import UsageError
from goleak.model import Cluster, Stack
from goleak.normalize import key_frames

# Where a rule looks.
ANY = "any"  # every frame's function and the created-by function (--ignore)
TOP = "top"  # the innermost frame once runtime-internal frames (gopark, selectgo...) are skipped


@dataclass(frozen=True)
class IgnoreRule:
    name: str  # what the report calls it: "os/signal receiver", "--ignore ^main\.poll"
    pattern: str
    scope: str  # ANY or TOP
    reason: str  # why it is safe to hide (the README lists them)
    regex: "re.Pattern" = field(compare=False, repr=False, default=None)

    def matches(self, stack: Stack, top: Optional[str] = None) -> bool:
        """`top` may be passed in when already known (the innermost non-runtime function)."""
        if self.scope == TOP:
            if top is None:
                top = top_function(stack)
            return top is not None and self.regex.search(top) is not None
        if any(self.regex.search(f.function) for f in stack.frames):
            return True
        return stack.created_by is not None and self.regex.search(stack.created_by.function) is not None


def top_function(stack: Stack) -> Optional[str]:
    """The innermost frame once runtime-internal frames are skipped (all of them if every
    frame is the runtime's)."""
    frames = key_frames(stack, "default")
    return frames[0].function if frames else None


def make_rule(name: str, pattern: str, scope: str = ANY, reason: str = "",
              source: Optional[str] = None, line: Optional[int] = None) -> IgnoreRule:
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise UsageError("ignore pattern %r is not a valid regular expression: %s" % (pattern, e), source, line)
    return IgnoreRule(name=name, pattern=pattern, scope=scope, reason=reason, regex=regex)


# The default list. Every entry is a goroutine that exists once per process (or per test
# binary) for its whole life, so it is never what leaked. Left out on purpose:
# - database/sql.(*DB).connectionOpener: one per sql.DB; a DB opened per request and never
#   closed leaks exactly these, and hiding them would hide that leak.
# - net/http.(*persistConn).readLoop/writeLoop: idle keep-alive connections, which are how
#   an unclosed response body shows up.
# - net/http.(*connReader).backgroundRead: one per in-flight request; stable across dumps.
DEFAULT_RULES: Tuple[IgnoreRule, ...] = (
    # goroutine 17 [syscall]:
    # os/signal.signal_recv()  /  os/signal.loop()  /  created by os/signal.Notify.func2.1
    make_rule("os/signal receiver", r"^os/signal\.(signal_recv|loop)$", TOP,
              "signal.Notify starts one receiver loop per process; it waits for signals forever"),
    # goroutine 1 [chan receive]: testing.(*T).Run / testing.runTests.func1 / testing.(*M).Run
    # A test (or the runner) waiting for its subtests, or for t.Parallel to be released: the
    # test that is actually stuck is another goroutine, which stays visible.
    make_rule("test runner", r"^testing\.", TOP,
              "the testing package waiting for a test or subtest to finish; the stuck test itself stays visible"),
    # goroutine 20 [trace reader (blocked)]: runtime.ReadTrace()
    # runtime/trace.(*traceMultiplexer).startLocked.func1()
    make_rule("runtime/trace reader", r"^runtime/trace\.", TOP,
              "trace.Start copies the execution trace to its writer until trace.Stop"),
    # goroutine 80 [running]: runtime/pprof.writeGoroutineStacks (debug=2) or
    # runtime/pprof.writeRuntimeProfile (debug=1, debug=0): the goroutine serving this dump.
    make_rule("pprof dump writer", r"^runtime/pprof\.(writeGoroutineStacks|writeRuntimeProfile)$", TOP,
              "the goroutine writing the dump itself (the /debug/pprof request being served)"),
    # goroutine 4 [GC worker (idle)]: runtime.gopark ... runtime.gcBgMarkWorker
    # Only GOTRACEBACK=system or crash dumps print these; every frame is in the runtime.
    make_rule("runtime internal", r"^runtime\.", TOP,
              "GC workers, sweeper, scavenger, finalizer and signal-mask goroutines (runtime.ensureSigM); "
              "only GOTRACEBACK=system dumps print them"),
)


@dataclass(frozen=True)
class IgnoreRules:
    rules: Tuple[IgnoreRule, ...] = ()
    # top function -> the first rule that hides it, when every rule looks only at the top
    # frame (the default list): a dump of 20,000 stacks has a few hundred top functions.
    _by_top: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _top_only: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_top_only", all(r.scope == TOP for r in self.rules))

    def match(self, stack: Stack) -> Optional[IgnoreRule]:
        """The first rule that hides this stack, or None."""
        top = top_function(stack)
        if not self._top_only:
            return self._first_match(stack, top)
        hit = self._by_top.get(top, False)
        if hit is False:
            hit = self._by_top[top] = self._first_match(stack, top)
        return hit

    def _first_match(self, stack: Stack, top: Optional[str]) -> Optional[IgnoreRule]:
        for rule in self.rules:
            if rule.matches(stack, top):
                return rule
        return None

    def __call__(self, cluster: Cluster) -> bool:
        # SummarySettings.ignore takes a cluster.
        return self.match(cluster.stack) is not None

    @property
    def patterns(self) -> Tuple[str, ...]:
        return tuple(r.pattern for r in self.rules)


def build_ignore_rules(patterns: Iterable[str] = (), default_ignores: bool = True,
                       source: Optional[str] = None) -> IgnoreRules:
    """The default list (unless turned off), then each user pattern in order."""
    rules = list(DEFAULT_RULES) if default_ignores else []
    for p in patterns:
        rules.append(make_rule("--ignore " + p, p, ANY, "asked for", source))
    return IgnoreRules(tuple(rules))


def describe_defaults(rules: Sequence[IgnoreRule] = DEFAULT_RULES) -> str:
    """One line per default rule, for --help and the README."""
    return "\n".join("%s (%s %s): %s" % (r.name, r.scope, r.pattern, r.reason) for r in rules)
