"""Serve the demo with a real uvicorn on an ephemeral loopback port, and talk to it."""

from __future__ import annotations

import contextlib
import json
import socket
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tasktail import ConnectionManager
from tasktail.demo import create_app

__all__ = ["ObservedManager", "DemoServer", "serve_demo", "read_until_finished", "close_of", "csv_bytes",
           "status_of", "LogWatch"]

#: every wait in these tests is bounded by this many seconds
TIMEOUT = 15


class ObservedManager(ConnectionManager):
    """A real manager that wakes waiters whenever something observable happens to it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._changed = anyio.Event()
        #: (task_id, after_seq, whether the task had finished, epoch) for each connect
        self.connects: list[tuple[str, int | None, bool, str | None]] = []
        #: what each successful connect returned, in order
        self.connections: list = []

    def _poke(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def connect(self, websocket, task_id, after_seq=None, epoch=None):
        self.connects.append((task_id, after_seq, self.task_statistics(task_id).finished, epoch))
        try:
            connection = await super().connect(websocket, task_id, after_seq, epoch=epoch)
            self.connections.append(connection)
            return connection
        finally:
            self._poke()

    def detach(self, *args, **kwargs) -> bool:
        try:
            return super().detach(*args, **kwargs)
        finally:
            self._poke()

    async def send_log(self, *args, **kwargs):
        try:
            return await super().send_log(*args, **kwargs)
        finally:
            self._poke()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Wait, without polling, until ``predicate()`` holds after some change."""
        with anyio.fail_after(timeout):
            while not predicate():
                await self._changed.wait()


@dataclass
class DemoServer:
    url: str  # http://127.0.0.1:PORT
    manager: ObservedManager
    http: httpx.AsyncClient
    demo: Any  # the app's state (tasktail.demo._app.Demo)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def raw(self, head: str, body: bytes = b"") -> anyio.abc.SocketStream:
        """A raw HTTP/1.1 connection that has sent ``head`` (request line and headers, no
        blank line) and ``body``: for requests ``httpx`` will not make, such as a body that
        never arrives."""
        stream = await anyio.connect_tcp("127.0.0.1", self.port)
        await stream.send(head.replace("\n", "\r\n").encode() + f"\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
                          + body)
        return stream

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    async def start(self, kind: str, body: bytes | None = None, name: str = "data.csv") -> str:
        """Start a task through the HTTP API; return its id."""
        if kind == "csv":
            response = await self.http.post("/api/tasks/csv", params={"name": name}, content=body)
        else:
            response = await self.http.post("/api/tasks/training")
        assert response.status_code == 201, response.text
        return response.json()["task_id"]

    def ws(self, task_id: str, after_seq: int | str | None = None, **kwargs) -> ClientConnection:
        query = "" if after_seq is None else f"?after_seq={after_seq}"
        return connect(f"{self.ws_url}/ws/{task_id}{query}", open_timeout=TIMEOUT, **kwargs)

    async def finished(self, task_id: str) -> None:
        await self.manager.wait_until(lambda: self.manager.task_statistics(task_id).finished)


@contextlib.asynccontextmanager
async def serve_demo(**app_kwargs) -> AsyncIterator[DemoServer]:
    """Run ``create_app(**app_kwargs)`` under uvicorn in this event loop until exit.

    The socket is bound and listening before uvicorn starts, so clients may connect at
    once: the kernel holds them until the app's startup is done. No waiting for 'ready'."""
    manager_kwargs = {"history_size": app_kwargs.pop("history_size", 10_000)}
    manager_kwargs.update(app_kwargs.pop("manager_kwargs", {}))
    manager = ObservedManager(**manager_kwargs)
    app = create_app(manager, **app_kwargs)
    app.state.demo.watchers.append(manager._poke)
    sock = socket.create_server(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", lifespan="on"))
    stopped = anyio.Event()

    async def run() -> None:
        try:
            await server.serve([sock])
        finally:
            stopped.set()

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        try:
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=TIMEOUT) as http:
                yield DemoServer(f"http://{host}:{port}", manager, http, app.state.demo)
        finally:
            server.should_exit = True
            with anyio.fail_after(TIMEOUT, shield=True):
                await stopped.wait()
    sock.close()


async def read_until_finished(ws: ClientConnection, limit: int | None = None) -> list[dict]:
    """Frames until the task's ``finished`` message (or ``limit`` frames), bounded in time."""
    frames: list[dict] = []
    with anyio.fail_after(TIMEOUT):
        while limit is None or len(frames) < limit:
            frames.append(json.loads(await ws.recv()))
            if frames[-1].get("finished"):
                break
    return frames


async def close_of(ws: ClientConnection) -> tuple[int | None, str]:
    """How the server closed ``ws``: (code, reason), after reading any frames left."""
    with anyio.fail_after(TIMEOUT):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass
    return ws.close_code, ws.close_reason or ""


def csv_bytes(rows: int, *, columns: str = "city,temp,rain") -> bytes:
    lines = [columns] + [f"city{n},{10 + n % 7}.5,{n % 3}" for n in range(1, rows + 1)]
    return ("\n".join(lines) + "\n").encode()


async def status_of(stream: anyio.abc.SocketStream) -> tuple[int, bytes]:
    """The status code and the rest of the first response on a raw connection."""
    data = b""
    with anyio.fail_after(TIMEOUT):
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
    return int(data.split(b" ", 2)[1]), data


class LogWatch(logging.Handler):
    """Every log record of the process while installed (on the root logger), awaitable."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()  # uvicorn and the app log on the event loop's thread
        self._changed = anyio.Event()

    def lines(self, name: str) -> list[str]:
        return [r.getMessage() for r in self.records if r.name == name]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        with anyio.fail_after(TIMEOUT):
            while not predicate():
                await self._changed.wait()

    def __enter__(self) -> "LogWatch":
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc_info: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)
