"""Small named rules about a cluster: its blocking class, long waits, runtime-proven leaks,
and where in the code to look."""
from typing import Optional

from goleak.model import Cluster, Frame, Stack
from goleak.paths import is_runtime_function, is_std_function

# Flag names are a contract (JSON `flags`, --fail-on); keep them stable.
LONG_WAIT = "long-wait"
RUNTIME_LEAKED = "runtime-leaked"
GROWING = "growing"
NEW = "new"
BLOCKED = "blocked-forever"
IO = "io"
SLEEP = "sleep"
RUNNING = "running"

FLAG_HELP = {
    LONG_WAIT: "blocked for at least --min-wait minutes (the runtime stamps waits only after a minute)",
    RUNTIME_LEAKED: "the Go runtime's GC proved these goroutines can never wake up ((leaked) state)",
    GROWING: "its count rose in every snapshot",
    NEW: "absent from the first snapshot",
    BLOCKED: "parked on a channel, select, or sync primitive: waits until another goroutine acts",
    IO: "waiting on the network or a system call",
    SLEEP: "in time.Sleep",
    RUNNING: "running or runnable",
}

# Wait reasons (runtime/runtime2.go waitReasonStrings) that only another goroutine can end.
_BLOCKED_STATES = {
    "chan receive", "chan send", "select", "chan receive (nil chan)", "chan send (nil chan)",
    "select (no cases)", "semacquire", "sync.Cond.Wait", "sync.Mutex.Lock", "sync.RWMutex.Lock",
    "sync.RWMutex.RLock", "sync.WaitGroup.Wait", "synctest.Wait", "chan receive (durable)",
    "chan send (durable)", "select (durable)", "sync.Cond.Wait (durable)",
    "select (no cases) (durable)",
}
_IO_STATES = {"IO wait", "syscall", "IO wait (durable)"}
_SLEEP_STATES = {"sleep", "sleep (durable)"}
_RUNNING_STATES = {"running", "runnable"}


def blocking_class(state: str) -> Optional[str]:
    # synctest's durable blocking ("chan receive (durable)") blocks just the same.
    if state.endswith(" (durable)"):
        state = state[: -len(" (durable)")]
    if state in _BLOCKED_STATES or state.startswith("sync."):
        return BLOCKED
    if state in _IO_STATES:
        return IO
    if state in _SLEEP_STATES:
        return SLEEP
    if state in _RUNNING_STATES:
        return RUNNING
    return None


# How strongly a blocking class suggests a leak, for ranking growth: a goroutine parked on
# a channel nobody will touch again is the classic leak; one in IO wait may be a slow peer.
CLASS_WEIGHT = {BLOCKED: 3.0, IO: 2.0, SLEEP: 1.0, RUNNING: 0.5, None: 1.0}


# Function names the runtime prints when it cannot symbolize a PC: never "where to look".
UNKNOWN_FUNCTIONS = ("?", "??")


def is_user_function(function: str) -> bool:
    """Outside the runtime and the standard library."""
    return not is_runtime_function(function) and not is_std_function(function)


def user_frame(stack: Stack) -> Optional[Frame]:
    """The innermost frame outside the runtime and the standard library: where to look."""
    for f in stack.frames:
        if is_user_function(f.function) and f.function not in UNKNOWN_FUNCTIONS:
            return f
    return None


def cluster_flags(cluster: Cluster, min_wait: int) -> tuple:
    """Flags a cluster earns on its own, from one snapshot."""
    flags = []
    if cluster.leaked:
        flags.append(RUNTIME_LEAKED)
    if cluster.wait_max is not None and cluster.wait_max >= min_wait:
        flags.append(LONG_WAIT)
    cls = blocking_class(cluster.state)
    if cls:
        flags.append(cls)
    return tuple(flags)
