"""Logging from worker threads (SPEC ``THR-*``).

Producers such as a pandas loop over a CSV or a training loop often run in a worker thread.
``ThreadSafeLogger`` is bound to the event loop that created it and runs ``send_log`` there,
blocking the calling thread until the message is sent or queued (the same back-pressure an
awaiting producer feels). ``TaskLogHandler`` forwards a ``logging`` logger's records.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.lowlevel

from ._errors import LoopClosedError
from ._message import LogMessage

if TYPE_CHECKING:
    from ._manager import ConnectionManager

__all__ = ["ThreadSafeLogger", "TaskLogHandler"]


class ThreadSafeLogger:
    """Call ``send_log`` of one manager from any thread. Create it in async code."""

    def __init__(self, manager: ConnectionManager) -> None:
        self._manager = manager
        self._token = anyio.lowlevel.current_token()  # raises outside an event loop
        self._loop_thread = threading.get_ident()

    def send_log(self, task_id: str, level: str, message: str,
                 progress: float | None = None, finished: bool = False) -> LogMessage:
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "ThreadSafeLogger.send_log called on the event loop's own thread, where it "
                "would deadlock; use 'await manager.send_log(...)' there"
            )
        try:
            return anyio.from_thread.run(
                self._manager.send_log, task_id, level, message, progress, finished, token=self._token
            )
        except anyio.RunFinishedError:
            raise LoopClosedError(
                f"cannot log {level!r} for task {task_id!r}: the event loop this logger was "
                "created on has finished"
            ) from None


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
