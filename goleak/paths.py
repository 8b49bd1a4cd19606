"""Readable source paths: GOROOT and module-cache prefixes shortened, as Go engineers read them."""
import re

# /usr/local/go/src/net/http/server.go           -> net/http/server.go
# C:/Program Files/Go/src/runtime/proc.go        -> runtime/proc.go
# /opt/homebrew/Cellar/go/1.22/libexec/src/sync/mutex.go -> sync/mutex.go
# /usr/local/go/src/pkg/runtime/panic.c          -> runtime/panic.c   (Go 1.3 layout)
_GOROOT_RE = re.compile(r"^.*?/(?:go|libexec|go-[0-9.]+|go[0-9.]+)/src/(?:pkg/)?(?=[a-z])")
# /home/u/go/pkg/mod/github.com/foo/bar@v1.2.3/x.go -> github.com/foo/bar@v1.2.3/x.go
_MODCACHE_RE = re.compile(r"^.*?/pkg/mod/")


def shorten_path(path: str) -> str:
    if not path:
        return path
    m = _MODCACHE_RE.match(path)
    if m:
        return path[m.end():]
    m = _GOROOT_RE.match(path)
    if m and _is_std_path(path[m.end():]):
        return path[m.end():]
    return path


def _is_std_path(rest: str) -> bool:
    first = rest.split("/", 1)[0]
    return first in STD_TOP or first == "vendor"


# Top-level import paths of the standard library (and the runtime's own C files of Go 1.3).
STD_TOP = frozenset("""
archive arena bufio builtin bytes cmp compress container context crypto database debug embed
encoding errors expvar flag fmt go hash html image index internal io iter log maps math mime
net os path plugin reflect regexp runtime slices sort strconv strings structs sync syscall
testing text time unicode unique unsafe weak vendor
""".split())


def package_of(function: str) -> str:
    """`net/http.(*conn).serve` -> `net/http`; `main.main.func1` -> `main`."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    return function[:dot] if dot > 0 else function


def is_std_function(function: str) -> bool:
    first = package_of(function).split("/", 1)[0]
    return "." not in first and first in STD_TOP


def is_runtime_function(function: str) -> bool:
    return function.startswith("runtime.") or function.startswith("internal/runtime/")
