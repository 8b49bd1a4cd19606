"""Open what the user named: a file path, `-` for stdin, or an http(s) URL; hand its bytes to the parser."""
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Optional

from goleak.errors import FetchError, InputError, UsageError
from goleak.model import ParseResult
from goleak.parse import PIECE, ParseOptions, parse_file, parse_stream

DEFAULT_TIMEOUT = 30.0
# A 1,000,000-goroutine debug=2 dump is about 1.7 GB; the cap stops a runaway endpoint,
# not a big service.
DEFAULT_MAX_BYTES = 4 << 30
MAX_REDIRECTS = 5
USER_AGENT = "goleak"


@dataclass(frozen=True)
class FetchOptions:
    timeout: float = DEFAULT_TIMEOUT
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


def read_source(spec: str, parse_options: ParseOptions = ParseOptions(),
                fetch_options: FetchOptions = FetchOptions(),
                progress: Optional[Callable[[int, Optional[int]], None]] = None,
                stdin: Optional[BinaryIO] = None) -> ParseResult:
    """Parse one source into snapshots. Raises GoleakError subclasses only."""
    name = display_name(spec)
    opts = ParseOptions(parse_options.keep_args, parse_options.jobs, parse_options.input_format,
                        fetch_options.max_bytes)
    if spec == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return parse_stream(_capped(_read_stream(stream, name), fetch_options.max_bytes, name), name, opts,
                            _bind(progress, None))
    if is_url(spec):
        return fetch_and_parse(spec, opts, fetch_options, progress)
    if not os.path.exists(spec):
        raise InputError("no such file", name)
    if os.path.isdir(spec):
        raise InputError("is a directory, expected a goroutine dump file", name)
    size = os.path.getsize(spec) if os.path.isfile(spec) else None
    return parse_file(spec, name, opts, _bind(progress, size))


def _bind(progress, total):
    if progress is None:
        return None
    return lambda done: progress(done, total)


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


class _LimitedRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError("redirected to a %s: URL; only http and https are followed" % scheme,
                             display_name(req.full_url))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def open_url(spec: str, fetch_options: FetchOptions):
    """Open an http(s) URL; returns (response, display name). Errors name the URL, never its password."""
    name = display_name(spec)
    parts = urllib.parse.urlsplit(spec)
    if parts.scheme.lower() not in ("http", "https"):
        raise UsageError("only http:// and https:// URLs are supported, not %s://" % parts.scheme, name)
    headers = {"Accept-Encoding": "gzip", "User-Agent": USER_AGENT}
    if parts.username is not None:
        import base64
        cred = "%s:%s" % (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
    clean = urllib.parse.urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, parts.query, ""))
    opener = urllib.request.build_opener(_LimitedRedirects())
    try:
        resp = opener.open(urllib.request.Request(clean, headers=headers), timeout=fetch_options.timeout)
    except urllib.error.HTTPError as e:
        hint = ""
        if e.code == 404 and "/debug/pprof" not in parts.path:
            hint = "; goroutine dumps are served at /debug/pprof/goroutine?debug=2 when net/http/pprof is imported"
        raise FetchError("HTTP %d %s%s" % (e.code, e.reason, hint), name)
    except urllib.error.URLError as e:
        reason = getattr(e.reason, "strerror", None) or str(e.reason)
        raise FetchError("cannot fetch: %s" % reason, name)
    except (OSError, ValueError) as e:
        raise FetchError("cannot fetch: %s" % (getattr(e, "strerror", None) or e), name)
    except FetchError:
        raise
    return resp, name


def fetch_and_parse(spec: str, parse_options: ParseOptions, fetch_options: FetchOptions,
                    progress=None) -> ParseResult:
    resp, name = open_url(spec, fetch_options)
    length = resp.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    pieces = _capped(_response_pieces(resp, name, fetch_options), fetch_options.max_bytes, name)
    with resp:
        return parse_stream(pieces, name, parse_options, _bind(progress, total))


def fetch_bytes(spec: str, fetch_options: FetchOptions) -> bytes:
    """The whole body of a URL (for `goleak capture`), transport encoding undone."""
    resp, name = open_url(spec, fetch_options)
    with resp:
        return b"".join(_capped(_response_pieces(resp, name, fetch_options), fetch_options.max_bytes, name))


def _response_pieces(resp, name: str, fetch_options: FetchOptions) -> Iterator[bytes]:
    # Content-Encoding: gzip is transport compression (a proxy added it); a debug=0 body is
    # gzip by itself, which the parser recognises.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if resp.headers.get("Content-Encoding", "").lower() == "gzip" else None
    try:
        while True:
            piece = resp.read(1 << 20)
            if not piece:
                break
            yield inflater.decompress(piece) if inflater else piece
        if inflater:
            yield inflater.flush()
    except zlib.error as e:
        raise FetchError("corrupt gzip transfer encoding: %s" % e, name)
    except OSError as e:
        raise FetchError("connection failed while reading: %s" % (getattr(e, "strerror", None) or e), name)
