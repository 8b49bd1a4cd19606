"""`goleak capture`: which URL holds the profile asked for."""
import urllib.parse
from typing import Optional

from goleak.errors import UsageError

PROFILES = ("goroutine", "goroutineleak")
DEBUG_LEVELS = (0, 1, 2)
PPROF_PATH = "/debug/pprof/"


def profile_url(spec: str, profile: Optional[str] = None, debug: Optional[int] = None) -> str:
    """The URL to fetch, from a server's base URL or a full profile URL.

    http://127.0.0.1:6060                       -> http://127.0.0.1:6060/debug/pprof/goroutine?debug=2
    http://127.0.0.1:6060/debug/pprof/          -> .../debug/pprof/goroutine?debug=2
    http://h/debug/pprof/goroutine?debug=1      -> kept as given (debug=1)
    http://h/debug/pprof/goroutine, debug=0     -> http://h/debug/pprof/goroutine?debug=0
    http://h/debug/pprof/goroutine, profile=goroutineleak -> http://h/debug/pprof/goroutineleak?debug=2...

    `profile` and `debug` are None when the user did not choose them: a full URL then stays
    as written, and a base URL gets the goroutine profile at debug=2.
    """
    parts = urllib.parse.urlsplit(spec)
    if parts.scheme.lower() not in ("http", "https"):
        raise UsageError("capture and watch read an http:// or https:// URL, not %r" % spec)
    path = parts.path
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    mount = path.find("/debug/pprof")
    if mount < 0:
        # A base URL (http://host:6060 or http://host:6060/admin): the pprof mount is below it.
        path = path.rstrip("/") + PPROF_PATH + (profile or "goroutine")
        if debug is None:
            debug = 2
    else:
        rest = path[mount + len("/debug/pprof"):].strip("/")
        if not rest:
            path = path[:mount] + PPROF_PATH + (profile or "goroutine")
            if debug is None:
                debug = 2
        elif profile is not None and rest != profile:
            path = path[:mount] + PPROF_PATH + profile
    if debug is not None:
        query = [(k, v) for k, v in query if k != "debug"] + [("debug", str(debug))]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, urllib.parse.urlencode(query), ""))
