"""URL sources: scheme, timeout, size cap, gzip, redirects, credentials and the errors a user
meets first (refused, 404, the pprof index page, another profile). A small HTTP server on
127.0.0.1 plays each part; the real Go server covers the rest in test_e2e_gate.py."""
import gzip
import http.server
import io
import socket
import threading
import time
import zlib

import pytest

from goleak.cli import Progress
from goleak.errors import FetchError, InputError, UsageError
from goleak.sources import (FetchOptions, display_name, name_proto_profile, name_text_profile, read_source,
                            suggest_dump_url)
from tests.conftest import FIXTURES, run_cli

AFTER = (FIXTURES / "compare" / "after.txt").read_bytes()
AFTER_PB = (FIXTURES / "compare" / "after.pb.gz").read_bytes()

PPROF_INDEX = b"""<html>
<head>
<title>/debug/pprof/</title>
</head>
<body>
/debug/pprof/
<p>Set debug=1 as a query parameter to export in legacy text format</p>
Types of profiles available:
<table><tr><td>12</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr></table>
</body>
</html>
"""


class Routes(http.server.BaseHTTPRequestHandler):
    routes = {}
    seen = []  # (path, headers) of every request, for the assertions

    def do_GET(self):
        type(self).seen.append((self.path, dict(self.headers)))
        route = self.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404, "Not Found")
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # goleak hung up early on purpose (a size cap, a timeout): not a failure

    def log_message(self, *args):
        pass

    def reply(self, body: bytes, content_type="text/plain; charset=utf-8", headers=()):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server:
    def __init__(self, routes):
        handler = type("Handler", (Routes,), {"routes": routes, "seen": []})
        self.handler = handler
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def seen(self):
        return self.handler.seen

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(routes):
        s = Server(routes)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound, then released."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def total_of(result) -> int:
    return sum(s.total for s in result.snapshots)


# -- what is sent, and what is accepted ----------------------------------------------------------
def test_sends_accept_encoding_gzip_and_undoes_transport_gzip(serve):
    packed = gzip.compress(AFTER)
    srv = serve({"/dump": lambda h: h.reply(packed, headers=[("Content-Encoding", "gzip")])})
    result = read_source(srv.base + "/dump")
    assert total_of(result) == 76
    assert srv.seen[0][1]["Accept-Encoding"] == "gzip"
    assert srv.seen[0][1]["User-Agent"] == "goleak"


def test_debug0_body_is_gzip_without_content_encoding(serve):
    srv = serve({"/debug/pprof/goroutine": lambda h: h.reply(AFTER_PB, "application/octet-stream")})
    result = read_source(srv.base + "/debug/pprof/goroutine")
    assert result.snapshots[0].format == "debug=0"
    assert total_of(result) == 76


def test_only_http_and_https():
    with pytest.raises(UsageError, match="only http:// and https://"):
        read_source("ftp://127.0.0.1/debug/pprof/goroutine")
    out = run_cli(["summary", "file://127.0.0.1/etc/passwd"], expect=2)
    assert "only http:// and https://" in out.stderr


def test_a_url_without_scheme_gets_a_hint():
    out = run_cli(["summary", "127.0.0.1:6060/debug/pprof/goroutine?debug=2"], expect=2)
    assert "no such file; for a URL write http://127.0.0.1:6060/debug/pprof/goroutine?debug=2" in out.stderr


# -- limits -------------------------------------------------------------------------------------
def test_size_cap_counts_bytes(serve):
    srv = serve({"/dump": lambda h: h.reply(AFTER)})
    with pytest.raises(InputError, match="larger than --max-bytes"):
        read_source(srv.base + "/dump", fetch_options=FetchOptions(max_bytes=len(AFTER) - 1))
    assert total_of(read_source(srv.base + "/dump", fetch_options=FetchOptions(max_bytes=len(AFTER)))) == 76


def test_size_cap_counts_after_transport_decompression(serve):
    # 64 MB of spaces compress to ~64 KB: the cap must stop it long before it is inflated.
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    packed = bomb.compress(b" " * (64 << 20)) + bomb.flush()
    assert len(packed) < 200_000
    srv = serve({"/dump": lambda h: h.reply(packed, headers=[("Content-Encoding", "gzip")])})
    out = run_cli(["summary", srv.base + "/dump", "--max-bytes", str(1 << 20)], expect=2)
    assert "larger than --max-bytes (1048576 bytes)" in out.stderr


def test_timeout_ends_a_silent_server(serve):
    def slow(h):
        time.sleep(3)
        h.reply(AFTER)
    srv = serve({"/dump": slow})
    t0 = time.monotonic()
    out = run_cli(["summary", srv.base + "/dump", "--timeout", "0.3"], expect=2)
    assert time.monotonic() - t0 < 2.5
    assert "timed out" in out.stderr and "--timeout" in out.stderr


def test_redirects_are_followed_up_to_a_limit(serve):
    srv = serve({"/moved": lambda h: h.redirect("/dump"), "/dump": lambda h: h.reply(AFTER),
                 "/loop": lambda h: h.redirect("/loop")})
    assert total_of(read_source(srv.base + "/moved")) == 76
    with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)"):
        read_source(srv.base + "/loop")
    assert 5 <= sum(1 for path, _ in srv.seen if path == "/loop") <= 7


def test_redirect_to_another_scheme_is_refused(serve):
    srv = serve({"/evil": lambda h: h.redirect("file:///etc/passwd"),
                 "/ftp": lambda h: h.redirect("ftp://127.0.0.1/x")})
    with pytest.raises(FetchError, match="redirected to a non-http"):
        read_source(srv.base + "/evil")
    with pytest.raises(FetchError, match="redirected to a ftp: URL; only http and https are followed"):
        read_source(srv.base + "/ftp")


def test_credentials_go_to_their_host_only_and_are_never_shown(serve):
    other = serve({"/dump": lambda h: h.reply(AFTER)})
    srv = serve({"/dump": lambda h: h.reply(AFTER),
                 "/same": lambda h: h.redirect("/dump"),
                 "/away": lambda h: h.redirect(other.base + "/dump")})
    url = srv.base.replace("http://", "http://alice:s3cret@")
    assert total_of(read_source(url + "/dump")) == 76
    assert srv.seen[-1][1]["Authorization"] == "Basic YWxpY2U6czNjcmV0"  # alice:s3cret
    read_source(url + "/same")
    assert srv.seen[-1][0] == "/dump" and "Authorization" in srv.seen[-1][1]
    result = read_source(url + "/away")
    assert other.seen[-1][0] == "/dump"
    assert "Authorization" not in other.seen[-1][1]
    assert "s3cret" not in result.source and result.source == srv.base + "/away"
    assert display_name(url + "/x") == srv.base + "/x"
    err = run_cli(["summary", url + "/missing"], expect=2).stderr
    assert "s3cret" not in err and "alice" not in err


# -- errors the user meets first -------------------------------------------------------------------
def test_connection_refused_names_the_address():
    port = free_port()
    out = run_cli(["summary", "http://127.0.0.1:%d/debug/pprof/goroutine?debug=2" % port], expect=2)
    assert out.stderr.count("\n") == 1
    assert "connection refused: nothing is listening on 127.0.0.1:%d" % port in out.stderr


def test_404_points_at_the_dump_url(serve):
    srv = serve({})
    err = run_cli(["summary", srv.base + "/goroutines"], expect=2).stderr
    assert "HTTP 404 Not Found" in err
    assert "goroutine dumps are served at %s/debug/pprof/goroutine?debug=2" % srv.base in err
    err = run_cli(["summary", srv.base + "/debug/pprof/goroutine?debug=2"], expect=2).stderr
    assert "is net/http/pprof imported" in err


def test_the_pprof_index_page_gets_a_hint_with_the_right_url(serve):
    srv = serve({"/debug/pprof/": lambda h: h.reply(PPROF_INDEX, "text/html; charset=utf-8")})
    err = run_cli(["summary", srv.base + "/debug/pprof/"], expect=2).stderr
    assert "the HTML index page of net/http/pprof, not a goroutine dump" in err
    assert "use %s/debug/pprof/goroutine?debug=2" % srv.base in err


def test_html_served_as_text_is_caught_too(serve):
    srv = serve({"/admin/debug/pprof/": lambda h: h.reply(PPROF_INDEX, "text/plain")})
    err = run_cli(["summary", srv.base + "/admin/debug/pprof/"], expect=2).stderr
    assert "use %s/admin/debug/pprof/goroutine?debug=2" % srv.base in err


@pytest.mark.parametrize("body, what", [
    (b"heap profile: 1: 32 [1: 33] @ heap/1048576\n1: 32 [1: 33] @ 0x1\n", "a heap (or allocs) profile"),
    (b"--- mutex:\ncycles/second=1000000000\nsampling period=0\n", "a mutex contention profile"),
    (b"--- contention:\ncycles/second=1000000000\n", "a block (contention) profile"),
    (b"threadcreate profile: total 8\n7 @\n", "a threadcreate profile"),
])
def test_other_text_profiles_are_named(serve, body, what):
    srv = serve({"/debug/pprof/other": lambda h: h.reply(body)})
    err = run_cli(["summary", srv.base + "/debug/pprof/other?debug=1"], expect=2).stderr
    assert "this is %s, not a goroutine dump; use %s/debug/pprof/goroutine?debug=2" % (what, srv.base) in err


def test_other_profiles_are_named_from_a_file_too(tmp_path):
    p = tmp_path / "heap.txt"
    p.write_bytes(b"heap profile: 1: 32 [1: 33] @ heap/1048576\n")
    err = run_cli(["summary", str(p)], expect=2).stderr
    assert "this is a heap (or allocs) profile, not a goroutine dump; use .../debug/pprof/goroutine?debug=2" in err


def test_protobuf_profiles_are_named_by_sample_type():
    assert name_proto_profile((("goroutine", "count"),)) is None
    assert name_proto_profile((("goroutineleak", "count"),)) is None
    assert name_proto_profile((("alloc_objects", "count"), ("alloc_space", "bytes"),
                                ("inuse_objects", "count"), ("inuse_space", "bytes"))) == "a heap (or allocs) profile"
    assert name_proto_profile((("samples", "count"), ("cpu", "nanoseconds"))) == "a CPU profile"
    assert name_proto_profile((("contentions", "count"), ("delay", "nanoseconds"))) == \
        "a block or mutex contention profile"
    assert name_text_profile(b"goroutine profile: total 3\n") is None
    assert name_text_profile(b"go 1.26 trace\x00\x00\x00\x01") == "an execution trace"


def test_suggested_url_keeps_the_mount_point():
    assert suggest_dump_url("http://u:p@127.0.0.1:6060/debug/pprof/heap") == \
        "http://127.0.0.1:6060/debug/pprof/goroutine?debug=2"
    assert suggest_dump_url("http://127.0.0.1:6060/admin/debug/pprof/") == \
        "http://127.0.0.1:6060/admin/debug/pprof/goroutine?debug=2"
    assert suggest_dump_url("dump.txt") == ".../debug/pprof/goroutine?debug=2"


def test_a_named_pipe_is_read_as_a_stream(tmp_path):
    import os
    fifo = tmp_path / "dump.fifo"
    os.mkfifo(str(fifo))
    writer = threading.Thread(target=lambda: fifo.write_bytes(AFTER))
    writer.start()
    try:
        assert total_of(read_source(str(fifo))) == 76
    finally:
        writer.join(5)


# -- progress ---------------------------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_only_on_a_terminal_and_only_once_a_read_is_slow(monkeypatch):
    monkeypatch.delenv("GOLEAK_NO_PROGRESS", raising=False)
    now = [100.0]
    tty = FakeTTY(True)
    with Progress("big.txt", tty, clock=lambda: now[0]) as p:
        p.update(1 << 20, 10 << 20)  # at once: a quick read prints nothing
        assert tty.getvalue() == ""
        now[0] += 1.5
        p.update(5 << 20, 10 << 20)
        assert "reading big.txt: 5.0 MB (50%)" in tty.getvalue()
    assert tty.getvalue().endswith("\r")  # the line is cleared at the end
    pipe = FakeTTY(False)
    with Progress("big.txt", pipe, clock=lambda: now[0]) as p:
        now[0] += 10
        p.update(5 << 20, None)
    assert pipe.getvalue() == ""


def test_gzipped_text_is_read_and_checked(tmp_path):
    dump = tmp_path / "after.txt.gz"
    dump.write_bytes(gzip.compress(AFTER))
    assert total_of(read_source(str(dump))) == 76
    heap = tmp_path / "heap.txt.gz"
    heap.write_bytes(gzip.compress(b"heap profile: 1: 32 [1: 33] @ heap/1048576\n"))
    with pytest.raises(InputError, match="this is a heap \\(or allocs\\) profile"):
        read_source(str(heap))


def test_loopback_is_reached_directly_whatever_http_proxy_says(serve, monkeypatch):
    srv = serve({"/dump": lambda h: h.reply(AFTER)})
    dead = "http://127.0.0.1:%d" % free_port()
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(var, dead)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert total_of(read_source(srv.base + "/dump")) == 76
