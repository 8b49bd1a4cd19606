"""Open what the user named: a file path, `-` for stdin, or an http(s) URL; hand its bytes to the parser.

URL sources are read defensively: http and https only, a connect/read timeout, a size cap
counted after decompression, `Accept-Encoding: gzip`, at most MAX_REDIRECTS redirects, and
credentials (user:password@ in the URL) sent only to the host they were written for and
never shown. Whatever comes back is checked before parsing, so the HTML index page, a heap
or CPU profile, or a 404 is named for what it is instead of "no dump found".
"""
import base64
import dataclasses
import os
import re
import sys
import urllib.parse
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Optional, Sequence, Tuple

from goleak.errors import FetchError, InputError, UsageError
from goleak.model import ParseResult, Snapshot
from goleak.parse import PIECE, ParseOptions, Parsed, parse_file, parse_stream

DEFAULT_TIMEOUT = 30.0
# A 1,000,000-goroutine debug=2 dump is about 1.7 GB; the cap stops a runaway endpoint,
# not a big service.
DEFAULT_MAX_BYTES = 4 << 30
MAX_REDIRECTS = 5
USER_AGENT = "goleak"
# The dump URL every hint points to, relative to the server.
DUMP_PATH = "/debug/pprof/goroutine?debug=2"
# How much of a body is read to name what it is when it is not a dump.
SNIFF_BYTES = 4096

# Progress callback: (bytes done, total bytes or None).
ProgressFn = Callable[[int, Optional[int]], None]


@dataclass(frozen=True)
class FetchOptions:
    timeout: float = DEFAULT_TIMEOUT  # seconds, for the connect and for each read
    max_bytes: int = DEFAULT_MAX_BYTES


def is_url(spec: str) -> bool:
    return "://" in spec and not os.path.exists(spec)


def display_name(spec: str) -> str:
    """The source as shown to the user: a URL loses any user:password@ part."""
    if not is_url(spec):
        return "<stdin>" if spec == "-" else spec
    parts = urllib.parse.urlsplit(spec)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def suggest_dump_url(spec: Optional[str]) -> str:
    """Where the debug=2 dump of the server behind `spec` lives (for hints).

    http://127.0.0.1:6060/debug/pprof/       -> http://127.0.0.1:6060/debug/pprof/goroutine?debug=2
    http://host/admin/debug/pprof/heap       -> http://host/admin/debug/pprof/goroutine?debug=2
    anything that is not a URL                -> .../debug/pprof/goroutine?debug=2
    """
    if not spec or not is_url(spec):
        return "..." + DUMP_PATH
    parts = urllib.parse.urlsplit(display_name(spec))
    path = parts.path
    mount = path.find("/debug/pprof")
    prefix = path[:mount] if mount >= 0 else ""
    return "%s://%s%s%s" % (parts.scheme, parts.netloc, prefix, DUMP_PATH)


# -- what a body is, when it is not a goroutine dump ---------------------------------------
# The first line of the other profiles net/http/pprof serves as text, and of an execution trace:
#   heap profile: 1: 32 [1: 33] @ heap/1048576      (/debug/pprof/heap?debug=1, /allocs?debug=1)
#   --- mutex:                                      (/debug/pprof/mutex?debug=1)
#   --- contention:                                 (/debug/pprof/block?debug=1)
#   threadcreate profile: total 8                   (/debug/pprof/threadcreate?debug=1)
#   go 1.26 trace\x00\x00\x00...                    (/debug/pprof/trace, binary)
#   num_symbols: 1                                  (/debug/pprof/symbol)
_OTHER_TEXT_PROFILE_RE = re.compile(
    rb"\A\s*(?:(?P<heap>heap profile: )|(?P<mutex>--- mutex:)|(?P<block>--- contention:)"
    rb"|(?P<threadcreate>threadcreate profile: )|(?P<trace>go 1\.\d+ trace\x00)|(?P<symbol>num_symbols: ))")
_TEXT_PROFILE_NAMES = {
    "heap": "a heap (or allocs) profile",
    "mutex": "a mutex contention profile",
    "block": "a block (contention) profile",
    "threadcreate": "a threadcreate profile",
    "trace": "an execution trace",
    "symbol": "the pprof symbol endpoint",
}
# <!DOCTYPE html> / <html> / <body>: a web page, often net/http/pprof's index.
_HTML_RE = re.compile(rb"\A\s*(?:<!doctype html|<html|<head|<body)", re.IGNORECASE)


def name_text_profile(head: bytes) -> Optional[str]:
    """"a heap (or allocs) profile" when `head` starts like a non-goroutine pprof text; else None."""
    m = _OTHER_TEXT_PROFILE_RE.match(head)
    return _TEXT_PROFILE_NAMES[m.lastgroup] if m else None


def name_proto_profile(sample_types: Sequence[Tuple[str, str]]) -> Optional[str]:
    """None for a goroutine (or goroutineleak) protobuf profile; else what it is, by its sample types."""
    types = [t for t, _ in sample_types]
    if "goroutine" in types or "goroutineleak" in types:
        return None
    if "inuse_space" in types or "alloc_space" in types:
        return "a heap (or allocs) profile"
    if "cpu" in types:
        return "a CPU profile"
    if "contentions" in types or "delay" in types:
        return "a block or mutex contention profile"
    if "threadcreate" in types:
        return "a threadcreate profile"
    return "a %s profile" % (", ".join(types) or "pprof")


def _not_a_dump(what: str, name: str, spec: Optional[str]) -> InputError:
    return InputError("this is %s, not a goroutine dump; use %s" % (what, suggest_dump_url(spec)), name, 1)


def check_text_head(head: bytes, name: str, spec: Optional[str]) -> None:
    what = name_text_profile(head)
    if what:
        raise _not_a_dump(what, name, spec)


# -- reading ----------------------------------------------------------------------------------
def read_source(spec: str, parse_options: ParseOptions = ParseOptions(),
                fetch_options: FetchOptions = FetchOptions(),
                progress: Optional[ProgressFn] = None,
                stdin: Optional[BinaryIO] = None) -> Parsed:
    """Parse one source into snapshots. Raises GoleakError subclasses only."""
    name = display_name(spec)
    opts = dataclasses.replace(parse_options, max_bytes=fetch_options.max_bytes)
    if spec == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        pieces = _capped(_read_stream(stream, name), fetch_options.max_bytes, name)
        return parse_pieces(pieces, name, opts, _bind(progress, None))
    if is_url(spec):
        return fetch_and_parse(spec, opts, fetch_options, progress)
    if not os.path.exists(spec):
        raise InputError("no such file" + _scheme_hint(spec), name)
    if os.path.isdir(spec):
        raise InputError("is a directory, expected a goroutine dump file", name)
    if not os.path.isfile(spec):
        # A pipe or device (<(curl ...)): read once, as a stream; it cannot seek.
        try:
            stream = open(spec, "rb")
        except OSError as e:
            raise InputError("cannot read: %s" % (e.strerror or e), name)
        with stream:
            pieces = _capped(_read_stream(stream, name), fetch_options.max_bytes, name)
            return parse_pieces(pieces, name, opts, _bind(progress, None))
    size = os.path.getsize(spec)
    head = _file_head(spec, name)
    if head[:2] == b"\x1f\x8b":
        # Gzip: a protobuf is checked whole (it names its kind, heap or CPU..., only at its
        # end); gzipped text streams.
        from goleak.parse import read_file_pieces
        return parse_pieces(read_file_pieces(spec, name), name, opts, _bind(progress, size))
    check_text_head(head, name, None)
    return parse_file(spec, name, opts, _bind(progress, size))


# 127.0.0.1:6060/debug/pprof/goroutine?debug=2 (a URL without its scheme)
_HOST_PORT_RE = re.compile(r"^[\w.-]+:\d{1,5}(?:/|$)")


def _scheme_hint(spec: str) -> str:
    return "; for a URL write http://%s" % spec if _HOST_PORT_RE.match(spec) else ""


def _file_head(path: str, name: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(SNIFF_BYTES)
    except OSError as e:
        raise InputError("cannot read: %s" % (e.strerror or e), name)


def parse_pieces(pieces: Iterator[bytes], name: str, opts: ParseOptions,
                 progress: Optional[Callable[[int], None]] = None, spec: Optional[str] = None) -> Parsed:
    """Check what the bytes are, then parse them. `spec` (a URL) makes hints name the right URL."""
    pieces = iter(pieces)
    first = b""
    for first in pieces:
        if first:
            break
    if first[:2] == b"\x1f\x8b":
        head = _gunzip_head(first)
        if head and not _looks_like_proto(head):
            # Gzipped text (a .txt.gz): streamed like any text, never held whole.
            check_text_head(head, name, spec)
            return parse_stream(_chain(first, pieces), name, opts, progress)
        data = _gather(first, pieces, progress)
        empty = _check_protobuf(data, name, opts.max_bytes, spec)
        if empty is not None:
            return empty
        return parse_stream(iter([data]), name, opts, progress)
    check_text_head(first[:SNIFF_BYTES], name, spec)
    if spec is not None and _HTML_RE.match(first[:SNIFF_BYTES]):
        raise _html_error(first, name, spec)
    return parse_stream(_chain(first, pieces), name, opts, progress)


def _gunzip_head(piece: bytes) -> bytes:
    """The first SNIFF_BYTES that the gzip data starting `piece` inflates to (b"" if unreadable)."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(piece, SNIFF_BYTES)
    except zlib.error:
        return b""


def _looks_like_proto(head: bytes) -> bool:
    from goleak.parse import pprof_proto
    return pprof_proto.looks_like_profile_proto(head)


def _gather(first: bytes, rest: Iterator[bytes], progress: Optional[Callable[[int], None]]) -> bytes:
    out = [first]
    done = len(first)
    for piece in rest:
        out.append(piece)
        done += len(piece)
        if progress is not None:
            progress(done)
    return b"".join(out)


def parse_source_bytes(data: bytes, name: str, opts: ParseOptions = ParseOptions(),
                       spec: Optional[str] = None) -> Parsed:
    """Parse a body already in memory (goleak capture, goleak watch) with the same checks."""
    return parse_pieces(iter([data]), name, opts, None, spec)


def _check_protobuf(data: bytes, name: str, max_bytes: Optional[int], spec: Optional[str]) -> Optional[ParseResult]:
    """Refuse a protobuf profile of another kind (heap, CPU...). A goroutine profile with no
    samples (a goroutineleak profile when nothing leaked) is a valid, empty snapshot: returned."""
    from goleak.parse import pprof_proto
    raw = _gunzip_capped(data, max_bytes, name)
    if raw is None or not pprof_proto.looks_like_profile_proto(raw[:SNIFF_BYTES]):
        return None  # gzipped text: the parser reads it
    profile = pprof_proto.decode_profile(raw, name)
    what = name_proto_profile(profile.sample_types)
    if what:
        raise _not_a_dump(what, name, spec)
    if profile.samples:
        return None
    kind = "goroutineleak" if any(t == "goroutineleak" for t, _ in profile.sample_types) else "goroutine"
    return ParseResult(source=name, snapshots=(Snapshot(source=name, format="debug=0", groups=(), total=0,
                                                        profile=kind),))


def _gunzip_capped(data: bytes, max_bytes: Optional[int], name: str) -> Optional[bytes]:
    """The first gzip member of data, refusing to inflate past max_bytes; None if it is not gzip."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = []
    total = 0
    try:
        chunk = inflater.decompress(data, 1 << 20)
        while True:
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise InputError("decompressed data exceeds --max-bytes (%d bytes)" % max_bytes, name)
            out.append(chunk)
            if not inflater.unconsumed_tail:
                break
            chunk = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
    except zlib.error:
        return None  # the parser reports corrupt gzip with its own words
    if not inflater.eof:
        # Said before the protobuf decoder trips over the cut and blames the profile.
        raise InputError("truncated gzip data: the compressed stream ends early (%d bytes inflated); "
                         "a debug=0 profile cut short cannot be read, fetch it again" % total, name)
    return b"".join(out)


def _html_error(head: bytes, name: str, spec: Optional[str]) -> InputError:
    low = head[:SNIFF_BYTES].lower()
    if b"/debug/pprof/" in low or b"profile descriptions" in low or b"types of profiles available" in low:
        what = "the HTML index page of net/http/pprof"
    else:
        what = "an HTML page"
    return _not_a_dump(what, name, spec)


def _bind(progress, total):
    if progress is None:
        return None
    return lambda done: progress(done, total)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _read_stream(stream: BinaryIO, name: str) -> Iterator[bytes]:
    try:
        while True:
            piece = stream.read(PIECE)
            if not piece:
                return
            yield piece
    except OSError as e:
        raise InputError("cannot read: %s" % (e.strerror or e), name)


def _capped(pieces: Iterator[bytes], limit: int, name: str) -> Iterator[bytes]:
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > limit:
            raise InputError("larger than --max-bytes (%d bytes); raise the limit to read it" % limit, name)
        yield piece


# -- HTTP --------------------------------------------------------------------------------------
def _redirect_handler():
    """A redirect handler that follows at most MAX_REDIRECTS hops, http(s) only, and drops
    credentials across origins. Built on first use: urllib.request (with http.client and
    ssl) costs a tenth of a second to import, which file and stdin sources never need."""
    import urllib.request

    class _LimitedRedirects(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

        def redirect_request(self, req, fp, code, msg, headers, newurl):
            new_parts = urllib.parse.urlsplit(newurl)
            if new_parts.scheme.lower() not in ("http", "https"):
                raise FetchError("redirected to a %s: URL; only http and https are followed" % new_parts.scheme,
                                 display_name(req.full_url))
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and not _same_origin(req.full_url, newurl):
                # urllib copies every header to the redirect target; a password given for one
                # host must not travel to another, nor from https down to http.
                for key in [k for k in new.headers if k.lower() == "authorization"]:
                    del new.headers[key]
                new.unredirected_hdrs.pop("Authorization", None)
            return new

    return _LimitedRedirects()


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme.lower(), pa.hostname, pa.port) == (pb.scheme.lower(), pb.hostname, pb.port)


def _no_proxy_for_loopback(parts: urllib.parse.SplitResult) -> bool:
    return parts.hostname in ("127.0.0.1", "localhost", "::1")


def open_url(spec: str, fetch_options: FetchOptions):
    """Open an http(s) URL; returns (response, display name). Errors name the URL, never its password."""
    name = display_name(spec)
    parts = urllib.parse.urlsplit(spec)
    if parts.scheme.lower() not in ("http", "https"):
        raise UsageError("only http:// and https:// URLs are supported, not %s://" % parts.scheme, name)
    if not parts.hostname:
        raise UsageError("the URL names no host", name)
    headers = {"Accept-Encoding": "gzip", "User-Agent": USER_AGENT}
    if parts.username is not None:
        cred = "%s:%s" % (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
    clean = urllib.parse.urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, parts.query, ""))
    from urllib import error as urlerror, request as urlrequest
    handlers = [_redirect_handler()]
    if _no_proxy_for_loopback(parts):
        # A pprof port on this machine is never behind the http_proxy the environment names.
        handlers.append(urlrequest.ProxyHandler({}))
    opener = urlrequest.build_opener(*handlers)
    try:
        resp = opener.open(urlrequest.Request(clean, headers=headers), timeout=fetch_options.timeout)
    except urlerror.HTTPError as e:
        raise FetchError(_http_error_message(e.code, e.reason, spec), name)
    except urlerror.URLError as e:
        raise FetchError(_connect_error_message(e.reason, parts, fetch_options.timeout), name)
    except FetchError:
        raise
    except (OSError, ValueError) as e:
        raise FetchError(_connect_error_message(e, parts, fetch_options.timeout), name)
    return resp, name


def _http_error_message(code: int, reason: str, spec: str) -> str:
    if 300 <= code < 400:
        if "not allowed" in str(reason):  # urllib refuses file:, data: ... before we see them
            return "redirected to a non-http(s) URL; only http and https are followed"
        return "too many redirects (more than %d)" % MAX_REDIRECTS
    message = "HTTP %d %s" % (code, reason)
    if code == 404:
        path = urllib.parse.urlsplit(spec).path
        if "/debug/pprof" in path:
            return message + ("; is net/http/pprof imported, and its handlers on the mux this port serves? "
                              "The goroutine dump is at %s" % suggest_dump_url(spec))
        return message + "; goroutine dumps are served at %s when net/http/pprof is imported" % suggest_dump_url(spec)
    if code in (401, 403):
        return message + "; if the endpoint needs a password, write it in the URL as http://user:password@host/..."
    return message


def _connect_error_message(reason, parts: urllib.parse.SplitResult, timeout: float) -> str:
    import socket  # loaded by urllib.request already; only URL sources get here
    where = parts.netloc.rsplit("@", 1)[-1]
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: nothing is listening on %s; is the service running, and is that its pprof port?" % where
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out after %gs (--timeout)" % timeout
    if isinstance(reason, socket.gaierror):
        return "cannot resolve host %s" % parts.hostname
    return "cannot fetch: %s" % (getattr(reason, "strerror", None) or reason)


def fetch_and_parse(spec: str, parse_options: ParseOptions, fetch_options: FetchOptions,
                    progress: Optional[ProgressFn] = None) -> Parsed:
    resp, name = open_url(spec, fetch_options)
    with resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() and not resp.headers.get("Content-Encoding") else None
        pieces = _capped(_response_pieces(resp, name), fetch_options.max_bytes, name)
        return parse_pieces(pieces, name, parse_options, _bind(progress, total), spec)


def fetch_bytes(spec: str, fetch_options: FetchOptions,
                progress: Optional[ProgressFn] = None) -> bytes:
    """The whole body of a URL (for `goleak capture` and `goleak watch`), transport encoding undone."""
    resp, name = open_url(spec, fetch_options)
    with resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() and not resp.headers.get("Content-Encoding") else None
        pieces = _capped(_response_pieces(resp, name), fetch_options.max_bytes, name)
        out = []
        done = 0
        for piece in pieces:
            out.append(piece)
            done += len(piece)
            if progress is not None:
                progress(done, total)
        return b"".join(out)


def _response_pieces(resp, name: str) -> Iterator[bytes]:
    import socket  # loaded by urllib.request already
    # Content-Encoding: gzip is transport compression (a proxy or middleware added it); a
    # debug=0 body is gzip by itself, without that header, which the parser recognises.
    # Inflating in bounded steps keeps a gzip bomb from reaching memory before --max-bytes
    # counts it.
    gzipped = resp.headers.get("Content-Encoding", "").lower() == "gzip"
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    try:
        while True:
            piece = resp.read(1 << 20)
            if not piece:
                break
            if inflater is None:
                yield piece
                continue
            out = inflater.decompress(piece, 1 << 20)
            while True:
                if out:
                    yield out
                if not inflater.unconsumed_tail:
                    break
                out = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
        if inflater is not None:
            tail = inflater.flush()
            if tail:
                yield tail
    except zlib.error as e:
        raise FetchError("corrupt gzip transfer encoding: %s" % e, name)
    except (socket.timeout, TimeoutError):
        raise FetchError("timed out while reading the response (--timeout)", name)
    except OSError as e:
        raise FetchError("connection failed while reading: %s" % (getattr(e, "strerror", None) or e), name)
