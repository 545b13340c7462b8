"""Logging from worker threads (SPEC ``THR-*``).

Producers such as a pandas loop over a CSV or a training loop often run in a worker thread.
``ThreadSafeLogger`` is bound to the event loop that created it and runs ``send_log`` there,
blocking the calling thread until the message is sent or queued (the same back-pressure an
awaiting producer feels). ``TaskLogHandler`` forwards a ``logging`` logger's records.

When the event loop ends, every waiting thread must learn it (``THR-2``): a call scheduled
into a loop that then closes is never run, and a call that was running is cancelled with
the loop. On asyncio the logger therefore schedules a plain callback (which creates the
coroutine only when it runs, so a dropped call leaves nothing unawaited) and waits in slices
of ``POLL`` seconds, checking between them whether the loop is closed, or has not been
running for ``STOPPED_GRACE`` seconds; either, or a cancelled call, is ``LoopClosedError``.
Trio refuses a call into a finished run by itself; a call cancelled by the run's end is
turned into ``LoopClosedError`` the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from ._errors import LoopClosedError
from ._message import LogMessage, show

if TYPE_CHECKING:
    from ._manager import ConnectionManager

__all__ = ["ThreadSafeLogger", "TaskLogHandler", "POLL", "STOPPED_GRACE"]

#: seconds between a waiting thread's looks at the loop: how late it may learn that the
#: loop closed (a wait costs nothing while the call is answered sooner)
POLL = 0.05
#: seconds an asyncio loop may be stopped, not closed, before waiting threads give up
STOPPED_GRACE = 1.0


class _LoopEnded(Exception):
    """The call was cancelled on the loop: the loop is shutting down."""


class ThreadSafeLogger:
    """Call ``send_log`` of one manager from any thread. Create it in async code."""

    def __init__(self, manager: ConnectionManager) -> None:
        self._manager = manager
        self._token = anyio.lowlevel.current_token()  # raises outside an event loop
        self._loop_thread = threading.get_ident()
        self._loop = asyncio._get_running_loop()  # None on trio

    def send_log(self, task_id: str, level: str, message: str,
                 progress: float | None = None, finished: bool = False) -> LogMessage:
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "ThreadSafeLogger.send_log called on the event loop's own thread, where it "
                "would deadlock; use 'await manager.send_log(...)' there"
            )
        args = (task_id, level, message, progress, finished)
        try:
            if self._loop is not None:
                return self._run_on_asyncio(self._loop, args)
            return anyio.from_thread.run(self._manager.send_log, *args, token=self._token)
        except (anyio.RunFinishedError, _LoopEnded):
            pass
        except BaseException as exc:
            if type(exc).__name__ != "Cancelled" or type(exc).__module__.split(".")[0] != "trio":
                raise
        raise LoopClosedError(
            f"cannot log {show(level)} for task {show(task_id)}: the event loop this logger was "
            "created on has finished (a call it had begun may have queued its message)"
        ) from None

    def _run_on_asyncio(self, loop: asyncio.AbstractEventLoop, args: tuple) -> LogMessage:
        done: concurrent.futures.Future = concurrent.futures.Future()
        started: list[Any] = []

        def start() -> None:  # on the loop's thread
            if not done.set_running_or_notify_cancel():
                return  # the thread gave up waiting: do nothing at all
            try:
                coroutine = self._manager.send_log(*args)
                started.append(coroutine)
                task = loop.create_task(coroutine)
            except BaseException as exc:
                done.set_exception(exc)
                return
            task.add_done_callback(lambda t: _settle(done, t))

        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop is closed
            raise _LoopEnded from None
        stopped_since: float | None = None
        while True:
            try:
                return done.result(timeout=POLL)
            except concurrent.futures.TimeoutError:
                pass
            if loop.is_running():
                stopped_since = None
                continue
            now = time.monotonic()
            if stopped_since is None:
                stopped_since = now
            if loop.is_closed() or now - stopped_since >= STOPPED_GRACE:
                if not done.cancel() and started and inspect.getcoroutinestate(started[0]) == "CORO_CREATED":
                    started[0].close()  # never ran and never will: no "never awaited" warning
                raise _LoopEnded


def _settle(done: concurrent.futures.Future, task: asyncio.Task) -> None:
    if task.cancelled():
        done.set_exception(_LoopEnded())  # only the loop's shutdown cancels this task
    elif task.exception() is not None:
        done.set_exception(task.exception())
    else:
        done.set_result(task.result())


_LEVELS = ((logging.ERROR, "error"), (logging.WARNING, "warning"), (logging.INFO, "info"))


class TaskLogHandler(logging.Handler):
    """Forward a logger's records to one task, from worker threads.

    A record's ``extra={"progress": 40}`` and ``extra={"finished": True}`` become the
    message's ``progress`` and ``finished``; ``extra={"tasktail_level": "success"}`` picks
    a level that ``logging`` has no name for."""

    def __init__(self, logger: ThreadSafeLogger, task_id: str, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.logger = logger
        self.task_id = task_id

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = getattr(record, "tasktail_level", None) or next(
                (name for number, name in _LEVELS if record.levelno >= number), "debug")
            self.logger.send_log(self.task_id, level, self.format(record),
                                 getattr(record, "progress", None), getattr(record, "finished", False))
        except Exception:
            self.handleError(record)
