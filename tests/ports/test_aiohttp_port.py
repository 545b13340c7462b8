"""The aiohttp port in production mode (no test mode): a real aiohttp server on a loopback
port in the test's own asyncio loop (aiohttp is asyncio-only), a real WebSocket client."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator

import anyio
import pytest
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tasktail import ConnectionManager
from tasktail.ports.aiohttp import stream_task

pytestmark = [pytest.mark.anyio, pytest.mark.real_server, pytest.mark.parametrize("anyio_backend", ["asyncio"])]
TIMEOUT = 15


class WatchedManager(ConnectionManager):
    """The reference, waking a waiter whenever a client is detached."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.detached = anyio.Event()

    def detach(self, *args, **kwargs) -> bool:
        try:
            return super().detach(*args, **kwargs)
        finally:
            self.detached.set()


@contextlib.asynccontextmanager
async def serve(manager: ConnectionManager) -> AsyncIterator[str]:
    async def logs(request: web.Request) -> web.StreamResponse:
        return await stream_task(request, manager, request.match_info["task"], max_client_frame=16)

    app = web.Application()
    app.router.add_get("/ws/{task}", logs)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    sock = socket.create_server(("127.0.0.1", 0))
    try:
        await web.SockSite(runner, sock).start()
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"
    finally:
        await runner.cleanup()
        sock.close()


async def _close_of(ws) -> tuple[int | None, str]:
    with anyio.fail_after(TIMEOUT):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code, ws.close_reason or ""


@pytest.mark.rule("ADAPT-1")
async def test_the_aiohttp_port_streams_then_detaches_when_the_client_leaves(anyio_backend):
    manager = WatchedManager(history_size=10)
    await manager.send_log("job", "info", "queued")
    async with serve(manager) as base:
        async with connect(f"{base}/job?epoch=", open_timeout=TIMEOUT) as ws:
            with anyio.fail_after(TIMEOUT):
                hello = json.loads(await ws.recv())
                assert hello["type"] == "hello"
                assert json.loads(await ws.recv())["message"] == "queued"
                await ws.send("ping")  # small client frames are ignored
                await manager.send_log("job", "info", "live")
                assert json.loads(await ws.recv())["message"] == "live"
        with anyio.fail_after(TIMEOUT):
            await manager.detached.wait()
    assert not manager.get_connection_status("job")
    later = await manager.send_log("job", "info", "later")
    assert later.seq == 3  # detached, not disconnected: the task (its seqs, its queue) was kept
    assert manager.get_queued_message_count("job") == 1


@pytest.mark.rule("ADAPT-2")
async def test_the_aiohttp_port_refuses_a_bad_after_seq_with_1008(anyio_backend):
    manager = WatchedManager(history_size=10)
    await manager.send_log("job", "info", "one")
    async with serve(manager) as base:
        async with connect(f"{base}/job?after_seq=abc", open_timeout=TIMEOUT) as ws:
            code, reason = await _close_of(ws)
    assert code == 1008 and "after_seq" in reason
    assert manager.get_queued_message_count("job") == 1


@pytest.mark.rule("ADAPT-3")
async def test_the_aiohttp_port_closes_on_an_oversized_client_frame(anyio_backend):
    manager = WatchedManager()
    async with serve(manager) as base:
        async with connect(f"{base}/job", open_timeout=TIMEOUT) as ws:
            await ws.send("x" * 17)
            code, _ = await _close_of(ws)
    assert code == 1009
    assert not manager.get_connection_status("job")
