"""What the demo keeps about its tasks, and how a job runs: in a worker thread, its every
line through the task's :class:`~tasktail.demo._limits.TaskOutput`, within a time limit."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from starlette.responses import JSONResponse

from ..manager import ConnectionManager, TaskFinishedError, TaskLogHandler
from ._edge import HEADERS, error, new_task_id
from ._jobs import csv_job, training_job
from ._limits import TaskOutput

__all__ = ["DemoTask", "Demo", "start", "csv_runner", "training_runner"]


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
    #: with ``--redis``: the tasks every worker process started, shared through Redis (a POST
    #: may reach one worker and the page's WebSocket another); None in one process
    shared: SharedTasks | None = None

    def changed(self) -> None:
        for watcher in self.watchers:
            watcher()

    def running(self) -> int:
        return sum(task.running for task in self.tasks.values()) + self.uploading

    def prune(self) -> None:
        """Forget finished tasks the manager has forgotten (TTL) so the registry stays small."""
        for task_id in [t for t, task in self.tasks.items() if not task.running]:
            if self.shared is not None or not self.manager.task_statistics(task_id).known:
                del self.tasks[task_id]  # with Redis: the shared registry still knows it

    async def lookup(self, task_id: str) -> dict | None:
        """``{kind, label, running}`` of a task this worker, or (with Redis) any worker, started."""
        task = self.tasks.get(task_id)
        if task is not None:
            return {"kind": task.kind, "label": task.label, "running": task.running}
        return await self.shared.get(task_id) if self.shared is not None else None

    def busy(self) -> JSONResponse | None:
        if self.running() >= self.max_running:
            return error(429, f"{self.max_running} tasks are already running; try again later")
        return None


async def start(demo: Demo, kind: str, label: str, first: str, job) -> JSONResponse:
    if demo.group is None:
        return error(503, "the app's lifespan has not started; run it with uvicorn")
    if (refused := demo.busy()) is not None:
        return refused
    demo.prune()
    task = DemoTask(new_task_id(), kind, label, TaskOutput(demo.max_lines))
    demo.tasks[task.task_id] = task
    if demo.shared is not None:
        await demo.shared.put(task.task_id, kind, label, True)
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
        if demo.shared is not None:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await demo.shared.put(task.task_id, task.kind, task.label, False)
        demo.changed()


class SharedTasks:
    """The demo's task registry in Redis (one hash per task, with the history's TTL)."""

    def __init__(self, client, ttl: int = 3600) -> None:
        self.client, self.ttl = client, ttl

    @staticmethod
    def key(task_id: str) -> str:
        return f"tasktail-demo:task:{task_id}"

    async def put(self, task_id: str, kind: str, label: str, running: bool) -> None:
        key = self.key(task_id)
        await self.client.hset(key, {"kind": kind, "label": label, "running": "1" if running else "0"})
        await self.client.expire(key, self.ttl)

    async def get(self, task_id: str) -> dict | None:
        found = await self.client.hgetall(self.key(task_id))
        if not found:
            return None
        return {"kind": found["kind"], "label": found["label"], "running": found["running"] == "1"}


class _Bounded:
    """What :class:`TaskLogHandler` calls ``send_log`` on: the task's bounded ``send``."""

    def __init__(self, send) -> None:
        self.send = send

    def send_log(self, task_id: str, level: str, message: str, progress=None, finished=False) -> None:
        self.send(level, message, progress, finished)


def csv_runner(send, deadline: float, *, data: bytes, name: str, demo: Demo) -> None:
    log = logging.Logger(f"tasktail.demo.csv.{name}")  # not registered: no global leak
    log.addHandler(TaskLogHandler(_Bounded(send), ""))
    csv_job(log, data, name, pace=demo.pace, stop=demo.stop, deadline=deadline, time_limit=demo.job_time_limit)


def training_runner(send, deadline: float, *, demo: Demo) -> None:
    training_job(send, epochs=demo.epochs, pace=demo.pace, stop=demo.stop, deadline=deadline,
                 time_limit=demo.job_time_limit)
