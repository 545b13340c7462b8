"""Serve the demo with a real uvicorn on an ephemeral loopback port, and talk to it."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio
import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tasktail import ConnectionManager
from tasktail.demo import create_app

__all__ = ["ObservedManager", "DemoServer", "serve_demo", "read_until_finished", "close_of", "csv_bytes"]

#: every wait in these tests is bounded by this many seconds
TIMEOUT = 15


class ObservedManager(ConnectionManager):
    """A real manager that wakes waiters whenever something observable happens to it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._changed = anyio.Event()
        #: (task_id, after_seq, whether the task had finished) for each connect
        self.connects: list[tuple[str, int | None, bool]] = []

    def _poke(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def connect(self, websocket, task_id, after_seq=None):
        self.connects.append((task_id, after_seq, self.task_statistics(task_id).finished))
        try:
            return await super().connect(websocket, task_id, after_seq)
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
                yield DemoServer(f"http://{host}:{port}", manager, http)
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
