"""The reference behind aiohttp: ``stream_task`` for ``web.WebSocketResponse`` (SPEC ``ADAPT-*``).

aiohttp runs on asyncio only, so this port does too (the manager itself also runs on trio).
It shares the sans-IO core and :class:`~tasktail.ConnectionManager` unchanged; what is its
own is :class:`AiohttpSocket` (the socket surface the manager calls: ``accept``,
``send_text``, ``close(code, reason)``, over aiohttp's ``prepare``, ``send_str``,
``close(code=, message=)``) and :func:`stream_task` (one client from accept to cleanup, as
the Starlette adapter does: query string, 1008 refusals, detach when the client leaves,
close with the recorded code when the manager lets go, 1009 for a large client frame)::

    manager = ConnectionManager()

    async def logs(request: web.Request) -> web.StreamResponse:
        return await stream_task(request, manager, request.match_info["task"])

    app = web.Application()
    app.router.add_get("/ws/{task}", logs)

:func:`aiohttp_test_app` serves it in test mode with the control surface of
``tasktail/wire/PROTOCOL.md``; ``planted="replaced-close-1000"`` selects the deliberately
broken variant (a replaced client is closed with 1000 instead of 4000: REPL-1, CLOSE-1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
from aiohttp import WSMsgType, web

from tasktail.manager import ConnectionManager
from tasktail.manager._stats import CloseCode
from tasktail.manager.starlette import serve_client

__all__ = ["PLANTED", "TESTMODE", "AiohttpSocket", "aiohttp_test_app", "stream_task"]

#: the planted bugs of the broken variant: name -> what it does and the rule it breaks
PLANTED = {"replaced-close-1000": "closes a replaced client with 1000 instead of 4000 (REPL-1, CLOSE-1)"}


#: ``app[TESTMODE]`` is the test-mode state of an :func:`aiohttp_test_app`
TESTMODE: web.AppKey[Any] = web.AppKey("tasktail_testmode", object)


class AiohttpSocket:
    """What :class:`ConnectionManager` calls, over one ``web.WebSocketResponse``."""

    def __init__(self, request: web.Request, *, planted: str | None = None) -> None:
        if planted is not None and planted not in PLANTED:
            raise ValueError(f"planted={planted!r}; expected one of {sorted(PLANTED)}")
        self.request = request
        self.response = web.WebSocketResponse(autoping=True, heartbeat=None)
        self.query_params = request.query
        self.planted = planted

    @property
    def prepared(self) -> bool:
        return self.response.prepared

    @property
    def closed(self) -> bool:
        return self.response.closed

    async def accept(self) -> None:
        await self.response.prepare(self.request)

    async def send_text(self, data: str) -> None:
        await self.response.send_str(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.planted == "replaced-close-1000" and code == CloseCode.REPLACED:
            code = CloseCode.NORMAL  # the planted bug
        await self.response.close(code=int(code), message=reason.encode()[:123])

    async def receive(self) -> dict[str, Any]:
        """The client's next frame, as Starlette's ASGI messages say it."""
        message = await self.response.receive()
        if message.type == WSMsgType.TEXT:
            return {"type": "websocket.receive", "text": message.data}
        if message.type == WSMsgType.BINARY:
            return {"type": "websocket.receive", "bytes": message.data}
        code = self.response.close_code
        return {"type": "websocket.disconnect", "code": code if code is not None else CloseCode.GOING_AWAY}


async def _refuse(socket: Any, message: str, timeout: float) -> None:
    # As the Starlette adapter: accept first so the browser sees the code and reason.
    with anyio.move_on_after(timeout):
        if not socket.prepared:
            await socket.accept()
        if not socket.closed:
            await socket.close(CloseCode.POLICY_VIOLATION, message.encode()[:123].decode(errors="ignore"))


async def stream_task(request: web.Request, manager: ConnectionManager, task_id: str, *,
                      max_client_frame: int = 4096, known_only: bool = False,
                      socket: Any = None) -> web.StreamResponse:
    """Run one client of ``task_id`` from accept to cleanup; return the response to hand
    back to aiohttp. ``socket`` (default: a new :class:`AiohttpSocket`) is what the manager
    is given; test mode passes its wrapper."""
    socket = socket if socket is not None else AiohttpSocket(request)
    await serve_client(socket, manager, task_id, request.query, _refuse,
                       max_client_frame=max_client_frame, known_only=known_only)
    return socket.response


def aiohttp_test_app(factory: Callable[..., Any] | None = None, *, mode: Any = None, planted: str | None = None,
                     path: str = "/ws/{task}") -> web.Application:
    """This port in test mode: ``stream_task`` at ``path`` and ``tasktail-control/1`` at
    ``/_tasktail`` (never in production). ``app[TESTMODE]`` is the ``TestMode``."""
    from tasktail.vectors._corpus import reference_factory
    from tasktail.wire._testmode import AcceptFailed, TestMode

    if planted is not None and planted not in PLANTED:
        raise ValueError(f"planted={planted!r}; expected one of {sorted(PLANTED)}")
    name = "tasktail-aiohttp" + (f" (planted: {planted})" if planted else "")
    mode = mode if mode is not None else TestMode(factory or reference_factory, name=name)

    async def logs(request: web.Request) -> web.StreamResponse:
        task = request.match_info["task"]
        inner = AiohttpSocket(request, planted=planted)
        socket = mode.wrap(inner, request.query, task)
        try:
            return await stream_task(request, mode.manager, task, socket=socket if socket is not None else inner)
        except AcceptFailed:
            return web.Response(status=403, text="accept failed (test mode: fail_accept)")
        except Exception:
            if socket is None or socket.accepted:
                raise
            return web.Response(status=403, text="connect raised before accepting")

    async def control(request: web.Request) -> web.Response:
        body: Any = {}
        if request.method == "POST":
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError as exc:
                return web.json_response({"error": "bad_request", "detail": f"not JSON: {exc}"}, status=400)
        status, answer = await mode.handle(request.match_info["op"], body)
        return web.json_response(answer, status=status)

    app = web.Application()
    app.router.add_get(path, logs)
    app.router.add_route("*", "/_tasktail/{op}", control)
    app[TESTMODE] = mode
    return app
