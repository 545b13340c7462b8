"""The demo web app: a page, two ways to start a task, and one WebSocket per task.

Routes (every client input is checked here; the client is trusted for nothing but
``after_seq``, which :func:`~tasktail.manager.starlette.stream_task` validates):

- ``GET /`` the page; ``/static/*`` its script and CSS (no build step).
- ``POST /api/tasks/csv?name=FILE`` with the raw CSV as the body -> 201 ``{task_id, ...}``;
  429 when ``max_running`` tasks run or upload, 413 over ``upload_limit`` and 408 when the
  body takes over ``upload_timeout`` seconds (both read as a stream, never buffered first).
- ``POST /api/tasks/training`` -> 201; a simulated training run.
- ``GET /api/tasks/{task_id}`` -> 200 ``{task_id, kind, label, running}``; 400 malformed, 404 unknown.
- ``WS /ws/{task_id}?after_seq=N`` -> the task's log. A malformed or unknown id, a bad
  ``after_seq`` or a foreign ``Origin`` is accepted and closed with 1008 and a reason; an
  expired task with 4002; a client frame over 4096 bytes with 1009.

A ``Host`` outside ``allowed_hosts`` gets 400 before any route runs (DNS rebinding); then
POSTs and WebSockets from another origin get 403 / 1008: a page elsewhere cannot start
tasks here, and without the unguessable id it cannot read one either. SPEC ``DEMO-*``
lists the limits.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterable
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..manager import CloseCode, ConnectionManager
from ..manager.starlette import stream_task
from ._edge import (HEADERS, LOCAL_HOSTS, TASK_ID, UploadAborted, UploadTooLarge, UploadTooSlow, clean_name,
                    error, host_names, log, new_task_id, read_body, same_origin)
from ._limits import MAX_LINES, TaskOutput
from ._tasks import Demo, csv_runner, start, training_runner

__all__ = ["create_app", "TASK_ID", "new_task_id"]

STATIC = Path(__file__).with_name("static")


def _unread(response: JSONResponse) -> JSONResponse:
    """Refusing a body that was not read in full: close the connection rather than let
    the server read (and wait for) the rest of it."""
    response.headers["Connection"] = "close"
    return response


async def start_csv(request: Request) -> JSONResponse:
    demo: Demo = request.app.state.demo
    if not same_origin(request):
        return _unread(error(403, "cross-origin request refused"))
    if (refused := demo.busy()) is not None:
        return _unread(refused)  # before a byte of the body is read
    name = clean_name(request.query_params.get("name"))
    demo.uploading += 1
    demo.changed()
    try:
        data = await read_body(request, demo.upload_limit, demo.upload_timeout)
    except UploadTooLarge:
        return _unread(error(413, f"upload is over the limit of {demo.upload_limit} bytes"))
    except UploadTooSlow as exc:
        log.info("upload %r too slow, refused: %s", name, exc)
        return _unread(error(408, f"upload took over the limit of {demo.upload_timeout:g} s"))
    except UploadAborted as exc:
        log.info("upload %r aborted: %s", name, exc)
        return error(400, "upload aborted")  # nobody will read it
    finally:
        demo.uploading -= 1
        demo.changed()
    job = functools.partial(csv_runner, data=data, name=name, demo=demo)
    return await start(demo, "csv", name, f"upload received: {name}", job)


async def start_training(request: Request) -> JSONResponse:
    demo: Demo = request.app.state.demo
    if not same_origin(request):
        return error(403, "cross-origin request refused")
    job = functools.partial(training_runner, demo=demo)
    return await start(demo, "training", f"training, {demo.epochs} epochs", "training run queued", job)


async def task_info(request: Request) -> JSONResponse:
    demo: Demo = request.app.state.demo
    task_id = request.path_params["task_id"]
    if not TASK_ID.fullmatch(task_id):
        return error(400, "malformed task id")
    task = await demo.lookup(task_id)
    if task is None:
        return error(404, "unknown task id")
    return JSONResponse({"task_id": task_id, **task}, headers=HEADERS)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    await websocket.accept()  # accept first: a refused handshake is an opaque 403 to a page
    await websocket.close(code=code, reason=reason)


async def _task_logs(websocket: WebSocket) -> None:
    demo: Demo = websocket.app.state.demo
    task_id = websocket.path_params["task_id"]
    if not same_origin(websocket):
        return await _close(websocket, CloseCode.POLICY_VIOLATION, "cross-origin request refused")
    if not TASK_ID.fullmatch(task_id):
        return await _close(websocket, CloseCode.POLICY_VIOLATION, "malformed task id")
    if await demo.lookup(task_id) is None:
        return await _close(websocket, CloseCode.POLICY_VIOLATION, "unknown task id")
    if demo.shared is None and not demo.manager.task_statistics(task_id).known:
        return await _close(websocket, CloseCode.SERVER_DISCONNECT, "task expired")
    await stream_task(websocket, demo.manager, task_id)


async def task_logs(websocket: WebSocket) -> None:
    try:
        await _task_logs(websocket)
    except WebSocketDisconnect as exc:  # gone during the handshake or a close: not our fault
        log.info("websocket client %s went away (%s)", websocket.path_params.get("task_id"), exc.code)


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


def create_app(manager: ConnectionManager | None = None, *, history_size: int = 10_000,
               send_timeout: float = 10.0, upload_limit: int = 1_000_000, upload_timeout: float = 30.0,
               pace: float = 0.2, epochs: int = 12, max_running: int = 8, max_lines: int = MAX_LINES,
               job_time_limit: float = 60.0, allowed_hosts: Iterable[str] = (),
               redis_url: str | None = None) -> Starlette:
    """The demo app. ``history_size`` and ``send_timeout`` are used only when the app makes
    its own manager; history must cover a task's whole log (``max_lines``) for a page
    reload to replay it. ``allowed_hosts`` are added to :data:`LOCAL_HOSTS`.

    With ``redis_url`` the app runs a ``RedisConnectionManager`` (its stream keeps
    ``max_lines`` entries, the whole log) and keeps its task registry in Redis too, so
    several worker processes serve one set of tasks; each job logs from its worker's thread
    through the manager's ``SyncRedisProducer``."""
    if manager is None and redis_url is None:
        manager = ConnectionManager(history_size=history_size, send_timeout=send_timeout)
    TaskOutput(max_lines)  # checks it
    demo = Demo(manager, upload_limit, upload_timeout, pace, epochs, max_running, max_lines, job_time_limit)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        async with contextlib.AsyncExitStack() as stack:
            if redis_url is not None:
                from ..redis import RedisConnectionManager
                from ..redis._producer import connect_coredis
                from ._tasks import SharedTasks

                demo.manager = await stack.enter_async_context(RedisConnectionManager(
                    redis_url, max_queue_size=max_lines + 10, send_timeout=send_timeout, prefix="tasktail-demo"))
                client = await stack.enter_async_context(connect_coredis(redis_url, connect_timeout=5.0))
                demo.shared = SharedTasks(client)
            async with anyio.create_task_group() as group:
                demo.group, demo.stop = group, threading.Event()
                try:
                    yield
                finally:
                    demo.stop.set()  # jobs end at their next step; the group waits for them
                    demo.group = None

    hosts = host_names([*LOCAL_HOSTS, *allowed_hosts])
    # The Host check runs before everything, the origin check included: a DNS-rebound page
    # sends a matching Origin and Host, both naming the attacker's domain.
    app = Starlette(lifespan=lifespan, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False),
    ], routes=[
        Route("/", index),
        Route("/api/tasks/csv", start_csv, methods=["POST"]),
        Route("/api/tasks/training", start_training, methods=["POST"]),
        Route("/api/tasks/{task_id}", task_info),
        WebSocketRoute("/ws/{task_id}", task_logs),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])
    app.state.demo = demo
    return app
