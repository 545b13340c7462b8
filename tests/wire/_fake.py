"""A scripted control surface on a loopback port, in the test's own event loop (asyncio or
trio): each request is answered by ``answer(method, path)`` -> ``(status, JSON)`` or None
(never answered: a hung server)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.abc

Answer = Callable[[str, str], "tuple[int, Any] | None"]


@contextlib.asynccontextmanager
async def fake_control(answer: Answer) -> AsyncIterator[str]:
    """Serve ``answer`` until exit; yield the WebSocket URL template of that host and port."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    hung = anyio.Event()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            method, path = data.split(b" ", 2)[:2]
            reply = answer(method.decode(), path.decode())
            if reply is None:
                await hung.wait()  # the test ends first
                return
            status, body = reply
            payload = json.dumps(body).encode()
            await stream.send(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                              f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        try:
            yield f"ws://127.0.0.1:{port}/ws/{{task}}"
        finally:
            hung.set()
            group.cancel_scope.cancel()
