"""Starlette / FastAPI adapter: serve one browser client of one task (SPEC ``ADAPT-*``).

Use it as the whole body of a WebSocket endpoint::

    @app.websocket("/ws/{task_id}")
    async def logs(websocket: WebSocket, task_id: str):
        await stream_task(websocket, manager, task_id)

It reads ``after_seq`` and ``epoch`` from the query string (browsers cannot set WebSocket
headers; ``?epoch=`` asks for a ``hello`` frame, ``?epoch=E&after_seq=N`` resumes within
incarnation ``E``),
connects, then waits until the client leaves or the manager lets go of the connection
(replaced, too slow, task disconnected), and cleans up in ``finally``. When the client
leaves it *detaches* rather than calling ``disconnect``: the task keeps its queue and
history for the next page load, and a replaced endpoint cannot tear down its successor.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ._errors import TaskLimitError
from ._manager import ConnectionManager
from ._message import check_after_seq
from ._stats import CloseCode

__all__ = ["stream_task", "serve_client", "parse_after_seq"]


def parse_after_seq(raw: str | None) -> int | None:
    """``after_seq`` from a query string: absent, or a decimal int >= 0 (``ADAPT-2``)."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 18:
        raise ValueError(f"after_seq={raw!r} is not allowed; expected a decimal int >= 0")
    return check_after_seq(int(raw))


def _reason(text: str) -> str:
    return text.encode()[:123].decode(errors="ignore")  # a close reason is at most 123 bytes


def _state(websocket: Any) -> str:
    return getattr(getattr(websocket, "application_state", None), "name", "")


async def _refuse(websocket: Any, message: str, timeout: float) -> None:
    # Accept first so the browser sees the code and reason; a refused handshake is an
    # opaque HTTP 403 to page scripts. connect may have closed the socket already (the
    # task was reset during the handshake): Starlette raises on a second close.
    with anyio.move_on_after(timeout):  # bounded like every cleanup (CANC-2)
        if _state(websocket) == "CONNECTING":
            await websocket.accept()
        if _state(websocket) != "DISCONNECTED":
            await websocket.close(code=CloseCode.POLICY_VIOLATION, reason=_reason(message))


async def stream_task(websocket: Any, manager: ConnectionManager, task_id: str,
                      *, max_client_frame: int = 4096, known_only: bool = False) -> None:
    """Run one client of ``task_id`` from accept to cleanup.

    With ``known_only=True`` a client may only follow a task the manager already knows
    (one that has logged); any other id is refused with ``1008`` (``ADAPT-2``)."""
    await serve_client(websocket, manager, task_id, websocket.query_params, _refuse,
                       max_client_frame=max_client_frame, known_only=known_only)


async def serve_client(socket: Any, manager: ConnectionManager, task_id: str, query: Any,
                       refuse: Callable[[Any, str, float], Awaitable[None]], *,
                       max_client_frame: int = 4096, known_only: bool = False) -> None:
    """The body of every adapter, whatever its framework: one client of ``task_id`` from
    accept to cleanup. ``socket`` is what the manager is given (``accept``, ``send_text``,
    ``close``) and also yields the client's frames as ASGI messages (``receive``); ``query``
    is the query string as a mapping; ``refuse(socket, message, timeout)`` accepts if need be
    and closes with 1008 (it knows the framework's socket states)."""
    try:
        after_seq = parse_after_seq(query.get("after_seq"))
        epoch = query.get("epoch")  # None when absent: no hello frame
        if known_only:
            stats = manager.task_statistics(task_id)
            if inspect.isawaitable(stats):  # a manager that asks elsewhere (the Redis backend)
                stats = await stats
            if not stats.known:
                raise ValueError(f"task_id={task_id!r} is not a known task")
        if epoch is None:  # other implementations of the seed API know no epoch
            connection = await manager.connect(socket, task_id, after_seq)
        else:
            connection = await manager.connect(socket, task_id, after_seq, epoch=epoch)
    except (TypeError, ValueError) as exc:
        await refuse(socket, str(exc), getattr(manager, "close_timeout", 5.0))
        return
    except TaskLimitError:
        return  # connect closed the socket with 1013 (MEM-4)
    ended = anyio.Event()
    connection.on_end = ended.set
    if connection.ended:
        ended.set()
    client_code: int | None = None
    try:
        async with anyio.create_task_group() as group:

            async def watch_client() -> None:
                nonlocal client_code
                while True:
                    frame = await socket.receive()
                    if frame["type"] == "websocket.disconnect":
                        client_code = frame.get("code", CloseCode.NORMAL)
                        break
                    # Clients may send keep-alive text; anything large is abuse.
                    if len(frame.get("text") or frame.get("bytes") or b"") > max_client_frame:
                        manager.detach(task_id, socket, CloseCode.MESSAGE_TOO_BIG,
                                       f"client frame over {max_client_frame} bytes")
                        break
                group.cancel_scope.cancel()

            group.start_soon(watch_client)
            await ended.wait()
            group.cancel_scope.cancel()
    finally:
        if client_code is not None:
            manager.detach(task_id, socket, client_code, "client left")
        else:
            with anyio.CancelScope(shield=True):
                manager.detach(task_id, socket, CloseCode.GOING_AWAY, "server shutting down")
                await manager.close_connection(connection)
