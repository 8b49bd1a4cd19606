"""Headless Chromium for the HTML report tests, driven without selenium or playwright.

Simple DOM checks run `chromium --dump-dom`; interaction (typing in the filter, expanding a
stack, screenshots) goes through the Chrome DevTools Protocol over the websocket that
`--remote-debugging-port=0` announces, with the small stdlib websocket client below.
Only 127.0.0.1 is ever contacted.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

# The launch line DEVELOPERS.md documents: no sandbox (CI runs as root in a container), no
# GPU, and nothing that would reach the network on its own.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
)
# DevTools listening on ws://127.0.0.1:38467/devtools/browser/4c0d6b3e-0b8e-4c1f-a3a8-4f1c2b9f8e11
_DEVTOOLS_RE = re.compile(r"DevTools listening on ws://127\.0\.0\.1:(\d+)(/devtools/browser/[\w-]+)")
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SKIP_REASON = "chromium is not installed (apt-get install chromium; `make test` installs it)"


def chromium_binary() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_command(user_data_dir: Path, *extra: str) -> List[str]:
    exe = chromium_binary()
    if exe is None:
        raise RuntimeError(SKIP_REASON)
    return [exe, *CHROMIUM_FLAGS, "--user-data-dir=%s" % user_data_dir, *extra]


def dump_dom(html: Path, user_data_dir: Path, budget_ms: int = 5000, timeout: float = 90) -> str:
    """The DOM after the page's scripts ran (virtual time lets timers finish at once)."""
    cmd = chromium_command(user_data_dir, "--dump-dom", "--virtual-time-budget=%d" % budget_ms, html.as_uri())
    done = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError("chromium --dump-dom failed: %s" % done.stderr.decode(errors="replace")[-2000:])
    return done.stdout.decode("utf-8")


def screenshot_file(html: Path, png: Path, user_data_dir: Path, size: Tuple[int, int] = (1280, 1600),
                    timeout: float = 90) -> None:
    cmd = chromium_command(user_data_dir, "--screenshot=%s" % png, "--window-size=%d,%d" % size,
                           "--virtual-time-budget=3000", "--hide-scrollbars", html.as_uri())
    subprocess.run(cmd, capture_output=True, timeout=timeout, check=True)


class WebSocket:
    """RFC 6455, client side, text frames only: enough for the DevTools protocol."""

    def __init__(self, port: int, path: str, timeout: float = 60):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status = head.split("\r\n", 1)[0]
        if " 101 " not in status + " ":
            raise RuntimeError("websocket handshake refused: %s" % status)
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        if "sec-websocket-accept: %s" % accept.lower() not in head.lower():
            raise RuntimeError("websocket handshake: wrong Sec-WebSocket-Accept")

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(marker, 1)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("websocket closed by chromium")
        self.buf += chunk

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        # Client frames must be masked; XOR as one big integer (fast for large payloads).
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big") if n else b""
        self.sock.sendall(head + mask + masked)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode("utf-8"))

    def recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._read_exact(2)
            fin, opcode, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8))[0]
            mask = self._read_exact(4) if b1 & 0x80 else None
            payload = self._read_exact(n)
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("websocket closed by chromium")
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode("utf-8")

    def close(self) -> None:
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class CdpError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with a DevTools websocket; pages are flat sessions on it."""

    def __init__(self, user_data_dir: Path, window: Tuple[int, int] = (1280, 1000), timeout: float = 60):
        user_data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = user_data_dir.parent / (user_data_dir.name + "-stderr.log")
        self.log = open(self.log_path, "wb")
        cmd = chromium_command(user_data_dir, "--remote-debugging-port=0", "--window-size=%d,%d" % window,
                               "--hide-scrollbars", "about:blank")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        self.next_id = 0
        self.events: List[dict] = []
        deadline = time.monotonic() + timeout
        match = None
        while match is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not announce its DevTools websocket:\n" +
                                   self.log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.05)
            match = _DEVTOOLS_RE.search(self.log_path.read_text(errors="replace"))
        self.ws = WebSocket(int(match.group(1)), match.group(2), timeout=timeout)

    def call(self, method: str, session: Optional[str] = None, **params) -> Dict[str, Any]:
        self.next_id += 1
        msg: Dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise CdpError("%s: %s" % (method, reply["error"].get("message")))
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def new_page(self, width: int = 1280, height: int = 1000) -> "Page":
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session, target)
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        return page

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                self.call("Browser.close")
            except (OSError, CdpError, ConnectionError):
                pass
            ws.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Page:
    def __init__(self, browser: Browser, session: str, target: str):
        self.browser = browser
        self.session = session
        self.target = target

    def close(self) -> None:
        self.browser.call("Target.closeTarget", targetId=self.target)

    def call(self, method: str, **params) -> Dict[str, Any]:
        return self.browser.call(method, session=self.session, **params)

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise CdpError("%s: %s" % (expression[:80], res["exceptionDetails"].get("exception", {})
                                       .get("description", res["exceptionDetails"].get("text"))))
        return res["result"].get("value")

    def events(self, method: str) -> List[dict]:
        return [e["params"] for e in self.browser.events if e.get("method") == method
                and e.get("sessionId") == self.session]

    def open(self, url: str, timeout: float = 60) -> float:
        """Navigate and wait until the report's script has drawn its first rows; seconds taken."""
        start = time.monotonic()
        self.call("Page.navigate", url=url)
        while True:
            try:
                if self.evaluate("document.readyState === 'complete' && "
                                 "document.documentElement.getAttribute('data-ready') === 'true'"):
                    return time.monotonic() - start
            except CdpError:
                pass  # the old document went away mid-call; ask the new one
            if time.monotonic() - start > timeout:
                raise TimeoutError("the page was not ready after %.0f s" % timeout)
            time.sleep(0.02)

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError("still false after %.0f s: %s" % (timeout, expression))
            time.sleep(0.02)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (scrolled into view first)."""
        box = self.evaluate(
            "(function(){var e=document.querySelector(%s); e.scrollIntoView({block:'center'});"
            "var r=e.getBoundingClientRect(); return [r.left + r.width/2, r.top + r.height/2];})()"
            % json.dumps(selector))
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def type_text(self, selector: str, text: str) -> None:
        self.evaluate("document.querySelector(%s).focus()" % json.dumps(selector))
        self.call("Input.insertText", text=text)

    def press(self, key: str, code: str, key_code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=code, windowsVirtualKeyCode=key_code,
                      text="\r" if key == "Enter" and kind == "keyDown" else "")

    def screenshot(self, png: Path, full_page: bool = False) -> None:
        params: Dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        png.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", **params)["data"]))
