"""The writer-task idiom as it is often first written: an ``asyncio.Queue`` per connection
drained by a task from ``asyncio.create_task``. Delivery is deferred: ``connect`` and
``send_log`` return before anything is written.

:class:`WriterTaskPerConnection` bugs, each the shortest code that "works in the demo":

* ``send_log`` for a task with no connection does nothing: lines logged before the
  client came are never queued, so the client never gets them (FLUSH-1).
* The per-connection queue is ``asyncio.Queue()`` with no bound: a stalled client makes
  it grow without limit (CAP-1) and nothing old ever gives way (CAP-3).
* The writer ends quietly on a failed send; the line it took is gone and the dead
  client stays registered, its queue filling up (FAIL-1, FLUSH-2).
* ``disconnect`` (also used by ``connect`` to replace) forgets the writer without
  cancelling it: it keeps writing its backlog to the removed or replaced socket
  (DISC-2, REPL-1), and that backlog never reaches the new client (REPL-1).

The corrected variant is :class:`~tasktail.idioms._writer.WriterTaskCorrect`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._wire import Entry, entry, text_of

__all__ = ["WriterTaskPerConnection"]


class WriterTaskPerConnection:
    """``asyncio.Queue`` + writer task per connection (see module docstring for the bugs)."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        self.max_queue_size = max_queue_size  # BUG: never used
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, asyncio.Queue[Entry]] = {}
        self.writers: dict[str, asyncio.Task[None]] = {}

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        if task_id in self.active_connections:
            self.disconnect(task_id)  # the newest client wins (so we thought)
        queue: asyncio.Queue[Entry] = asyncio.Queue()  # BUG: unbounded
        self.active_connections[task_id] = websocket
        self.message_queues[task_id] = queue
        self.writers[task_id] = asyncio.create_task(self._writer(websocket, queue))

    async def _writer(self, websocket: Any, queue: asyncio.Queue[Entry]) -> None:
        while True:
            item = await queue.get()
            try:
                await websocket.send_text(text_of(item))
            except Exception:
                return  # BUG: the client stays registered, the line is gone

    def disconnect(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)
        self.writers.pop(task_id, None)  # BUG: forgotten, not cancelled
        queue = self.message_queues.pop(task_id, None)
        return queue.qsize() if queue is not None else 0

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        queue = self.message_queues.get(task_id)
        if queue is None:
            return  # BUG: "nobody is listening yet": the line is dropped
        queue.put_nowait(entry(task_id, level, message, progress, finished))

    def get_connection_status(self, task_id: str) -> bool:
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        queue = self.message_queues.get(task_id)
        return queue.qsize() if queue is not None else 0
