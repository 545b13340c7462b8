"""The Starlette reference in test mode: its endpoint and the control surface on one app."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tasktail.vectors._corpus import reference_factory

from ._testmode import AcceptFailed, TestMode

__all__ = ["starlette_test_app"]


def starlette_test_app(factory: Callable[..., Any] = reference_factory, *, mode: TestMode | None = None,
                       path: str = "/ws/{task}") -> Any:
    """A Starlette app serving ``stream_task`` at ``path`` and ``tasktail-control/1`` at
    ``/_tasktail`` (test mode only: the control surface lets anyone log into any task).

    ``app.state.tasktail`` is the :class:`TestMode`."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    from tasktail.manager.starlette import stream_task

    mode = mode if mode is not None else TestMode(factory, name="tasktail-starlette")

    async def logs(websocket: WebSocket) -> None:
        task = websocket.path_params["task"]
        socket = mode.wrap(websocket, websocket.query_params, task)
        try:
            await stream_task(socket if socket is not None else websocket, mode.manager, task)
        except AcceptFailed:
            return  # never accepted: the handshake is refused (403)
        except Exception:
            if socket is None or socket.accepted:
                raise
            return  # connect raised before accepting (a held accept timed out): refused (403)

    async def control(request: Request) -> JSONResponse:
        body: Any = {}
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError as exc:
                return JSONResponse({"error": "bad_request", "detail": f"not JSON: {exc}"}, status_code=400)
        status, answer = await mode.handle(request.path_params["op"], body)
        return JSONResponse(answer, status_code=status)

    app = Starlette(routes=[WebSocketRoute(path, logs), Route("/_tasktail/{op}", control, methods=["GET", "POST"])])
    app.state.tasktail = mode
    return app
