"""Real ``redis-server`` processes for the Redis backend's tests (never a mock).

Each server gets a free loopback port (picked here: ``--port 0`` would not tell us the
port) and a private temporary directory; it is started without persistence
(``--save '' --appendonly no``) or, for ``redis_server_aof``, with
``--appendonly yes --appendfsync always``; the fixture waits for ``PING`` (bounded) and
kills the server in teardown. Without ``redis-server`` the tests FAIL with the install
command: skipping would hide that CI did not test the backend.

These tests use real time and real sockets, so ``anyio_backend`` is overridden: asyncio
and trio, without the virtual clock of the rest of the suite.
"""

from __future__ import annotations

import gc
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest

REDIS_SERVER = "/usr/bin/redis-server"
INSTALL = "apt-get install redis-server   (or: bash .ci/install-redis)"
START_BOUND = 10.0  # seconds for a started server to answer PING


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One real redis-server on loopback; ``kill()`` it and ``start()`` it again on the
    same port and directory (what an AOF restart needs)."""

    def __init__(self, directory: Path, *, aof: bool) -> None:
        binary = shutil.which("redis-server") or (REDIS_SERVER if Path(REDIS_SERVER).exists() else None)
        if binary is None:
            pytest.fail(f"redis-server is not installed; install it with: {INSTALL}", pytrace=False)
        self.binary = binary
        self.directory = directory
        self.aof = aof
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.aof
                       else ["--appendonly", "no"])
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", *persistence, "--protected-mode", "yes", "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_BOUND
        while not _ping(self.port):  # polled with a bound: a real server has no event to wait on
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"redis-server on port {self.port} exited with {self.process.returncode}:\n{log}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"redis-server on port {self.port} did not answer PING within {START_BOUND} s")
            time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown save."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def _server(tmp_path_factory: pytest.TempPathFactory, *, aof: bool):
    server = RedisServer(tmp_path_factory.mktemp("redis-aof" if aof else "redis"), aof=aof)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A fresh redis-server without persistence for each test."""
    yield from _server(tmp_path_factory, aof=False)


@pytest.fixture
def redis_server_aof(tmp_path_factory: pytest.TempPathFactory):
    """A fresh redis-server with AOF, ``appendfsync always``."""
    yield from _server(tmp_path_factory, aof=True)


@pytest.fixture(autouse=True)
def _coredis_failed_connection_buffers():
    """coredis 6.9 leaks the anyio memory streams of a connection that failed (created in
    ``coredis/connection/_base.py`` lines 279-288, never closed when the socket dies): each
    one warns ``ResourceWarning: Unclosed <MemoryObject...Stream>`` when collected. Only that
    warning is ignored, only here, where servers are killed on purpose; every other warning
    stays an error. The objects are collected before the filter is lifted."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Unclosed <MemoryObject(Send|Receive)Stream",
                                category=ResourceWarning)
        yield
        gc.collect()
