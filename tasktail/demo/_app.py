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
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..manager import CloseCode, ConnectionManager, TaskFinishedError, TaskLogHandler
from ..manager.starlette import stream_task
from ._edge import (HEADERS, LOCAL_HOSTS, TASK_ID, UploadAborted, UploadTooLarge, UploadTooSlow, clean_name,
                    error, host_names, log, new_task_id, read_body, same_origin)
from ._jobs import csv_job, training_job
from ._limits import MAX_LINES, TaskOutput

__all__ = ["create_app", "TASK_ID", "new_task_id"]

STATIC = Path(__file__).with_name("static")


@dataclass
class DemoTask:
    task_id: str
    kind: str
    label: str
    output: TaskOutput
    running: bool = True


@dataclass
class Demo:
    """What the app keeps; ``app.state.demo``. Tasks it started, even before they log."""

    manager: ConnectionManager
    upload_limit: int
    upload_timeout: float
    pace: float
    epochs: int
    max_running: int
    max_lines: int
    job_time_limit: float
    tasks: dict[str, DemoTask] = field(default_factory=dict)
    #: uploads being read: each holds a slot, so waiting bodies cannot pile up (DEMO-3)
    uploading: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    group: TaskGroup | None = None
    #: called on the event loop when a task ends or an upload starts or stops holding a slot
    watchers: list[Callable[[], None]] = field(default_factory=list)

    def changed(self) -> None:
        for watcher in self.watchers:
            watcher()

    def running(self) -> int:
        return sum(task.running for task in self.tasks.values()) + self.uploading

    def prune(self) -> None:
        """Forget finished tasks the manager has forgotten (TTL) so the registry stays small."""
        for task_id in [t for t, task in self.tasks.items() if not task.running]:
            if not self.manager.task_statistics(task_id).known:
                del self.tasks[task_id]

    def busy(self) -> JSONResponse | None:
        if self.running() >= self.max_running:
            return error(429, f"{self.max_running} tasks are already running; try again later")
        return None


async def _start(demo: Demo, kind: str, label: str, first: str, job) -> JSONResponse:
    if demo.group is None:
        return error(503, "the app's lifespan has not started; run it with uvicorn")
    if (refused := demo.busy()) is not None:
        return refused
    demo.prune()
    task = DemoTask(new_task_id(), kind, label, TaskOutput(demo.max_lines))
    demo.tasks[task.task_id] = task
    for line in task.output.plan("info", first):
        await demo.manager.send_log(task.task_id, *line)  # known to the manager from now on
    demo.group.start_soon(_run, demo, task, job)
    return JSONResponse({"task_id": task.task_id, "kind": kind, "label": label,
                         "url": f"/#task={task.task_id}"}, status_code=201, headers=HEADERS)


async def _run(demo: Demo, task: DemoTask, job) -> None:
    send = task.output.send_with(functools.partial(demo.manager.threadsafe().send_log, task.task_id))
    deadline = time.monotonic() + demo.job_time_limit
    try:
        await anyio.to_thread.run_sync(job, send, deadline)
    except Exception as exc:  # a bug in a job must still end its task visibly
        with contextlib.suppress(TaskFinishedError):
            for line in task.output.plan("error", f"job crashed: {type(exc).__name__}: {exc}", None, True):
                await demo.manager.send_log(task.task_id, *line)
    finally:
        task.running = False
        demo.changed()


class _Bounded:
    """What :class:`TaskLogHandler` calls ``send_log`` on: the task's bounded ``send``."""

    def __init__(self, send) -> None:
        self.send = send

    def send_log(self, task_id: str, level: str, message: str, progress=None, finished=False) -> None:
        self.send(level, message, progress, finished)


def _csv(send, deadline: float, *, data: bytes, name: str, demo: Demo) -> None:
    log = logging.Logger(f"tasktail.demo.csv.{name}")  # not registered: no global leak
    log.addHandler(TaskLogHandler(_Bounded(send), ""))
    csv_job(log, data, name, pace=demo.pace, stop=demo.stop, deadline=deadline, time_limit=demo.job_time_limit)


def _training(send, deadline: float, *, demo: Demo) -> None:
    training_job(send, epochs=demo.epochs, pace=demo.pace, stop=demo.stop, deadline=deadline,
                 time_limit=demo.job_time_limit)


async def start_csv(request: Request) -> JSONResponse:
    demo: Demo = request.app.state.demo
    if not same_origin(request):
        return error(403, "cross-origin request refused")
    if (refused := demo.busy()) is not None:
        return refused  # before a byte of the body is read
    name = clean_name(request.query_params.get("name"))
    demo.uploading += 1
    demo.changed()
    try:
        data = await read_body(request, demo.upload_limit, demo.upload_timeout)
    except UploadTooLarge:
        return error(413, f"upload is over the limit of {demo.upload_limit} bytes")
    except UploadTooSlow as exc:
        log.info("upload %r too slow, refused: %s", name, exc)
        return error(408, f"upload took over the limit of {demo.upload_timeout:g} s")
    except UploadAborted as exc:
        log.info("upload %r aborted: %s", name, exc)
        return error(400, "upload aborted")  # nobody will read it
    finally:
        demo.uploading -= 1
        demo.changed()
    job = functools.partial(_csv, data=data, name=name, demo=demo)
    return await _start(demo, "csv", name, f"upload received: {name}", job)


async def start_training(request: Request) -> JSONResponse:
    demo: Demo = request.app.state.demo
    if not same_origin(request):
        return error(403, "cross-origin request refused")
    job = functools.partial(_training, demo=demo)
    return await _start(demo, "training", f"training, {demo.epochs} epochs", "training run queued", job)


async def task_info(request: Request) -> JSONResponse:
    demo: Demo = request.app.state.demo
    task_id = request.path_params["task_id"]
    if not TASK_ID.fullmatch(task_id):
        return error(400, "malformed task id")
    task = demo.tasks.get(task_id)
    if task is None:
        return error(404, "unknown task id")
    return JSONResponse({"task_id": task_id, "kind": task.kind, "label": task.label,
                         "running": task.running}, headers=HEADERS)


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
    if task_id not in demo.tasks:
        return await _close(websocket, CloseCode.POLICY_VIOLATION, "unknown task id")
    if not demo.manager.task_statistics(task_id).known:
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
               job_time_limit: float = 120.0, allowed_hosts: Iterable[str] = ()) -> Starlette:
    """The demo app. ``history_size`` and ``send_timeout`` are used only when the app makes
    its own manager; history must cover a task's whole log (``max_lines``) for a page
    reload to replay it. ``allowed_hosts`` are added to :data:`LOCAL_HOSTS`."""
    if manager is None:
        manager = ConnectionManager(history_size=history_size, send_timeout=send_timeout)
    TaskOutput(max_lines)  # checks it
    demo = Demo(manager, upload_limit, upload_timeout, pace, epochs, max_running, max_lines, job_time_limit)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
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
