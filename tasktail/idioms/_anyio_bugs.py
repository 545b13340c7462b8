"""anyio idioms (run on asyncio and trio): no lock at all, and one lock for every task.

* :class:`NoLock` - the seed's dicts without ``connection_locks``: ``connect`` flushes
  with ``popleft`` while producers flush too. Two writes overlap on one socket (LOCK-1),
  a later one can finish first (ORD-2), so a live line overtakes the backlog (FLUSH-1);
  a replacing ``connect`` closes the old socket mid-write (REPL-1); a line popped for a
  write that fails goes back in front with no eviction, past the cap (CAP-1).
* :class:`GlobalLock` - one ``anyio.Lock`` for all tasks, held across ``accept`` too
  (ISO-1); ``disconnect`` only forgets the socket ("the client may come back"), with
  ``del`` (DISC-1: KeyError when called twice or for a task that never connected) and
  the queue of every task that ever ran stays reachable (MEM-1); a send that fails after
  ``disconnect`` raises that KeyError into the producer (DISC-2). The lock holder drains
  the whole queue, so a line logged while a replacing ``connect`` waits goes to the old
  socket (REPL-1).

Corrected variants: :class:`AnyioSeedManager` (a lock per task, disconnect forgets all).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio

from ._seed import AnyioSeedManager
from ._wire import entry

__all__ = ["FixedGlobalLock", "FixedNoLock", "GlobalLock", "NoLock"]


class NoLock(AnyioSeedManager):
    """Seed dicts, no lock: "the event loop is single-threaded, so no races"."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        super().__init__(max_queue_size=max_queue_size)
        del self.connection_locks  # this style never had one

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        old = self.active_connections.get(task_id)
        self.active_connections[task_id] = websocket
        self.message_queues.setdefault(task_id, deque())
        if old is not None and old is not websocket:
            await self._close(old, 4000)  # BUG: its last write may still be in flight
        await self._flush(task_id, websocket)

    def disconnect(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)
        return len(self.message_queues.pop(task_id, ()))

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        self._enqueue(task_id, entry(task_id, level, message, progress, finished))
        websocket = self.active_connections.get(task_id)
        if websocket is not None:
            await self._flush(task_id, websocket)  # BUG: may run beside connect's flush

    async def _flush(self, task_id: str, websocket: Any) -> None:
        queue = self.message_queues.get(task_id)
        while queue and self._current(task_id, websocket, queue):
            item = queue.popleft()
            if not await self._deliver(task_id, websocket, item):
                queue.appendleft(item)  # back at the front for the next client
                return


class FixedNoLock(AnyioSeedManager):
    """The seed dicts with ``connection_locks``: one writer per task at a time."""


class GlobalLock:
    """One ``anyio.Lock`` guards everything ("simplest thing that works")."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        self.max_queue_size = max_queue_size
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, deque[dict[str, Any]]] = {}
        self.lock = anyio.Lock()  # BUG: shared by every task

    async def connect(self, websocket: Any, task_id: str) -> None:
        async with self.lock:
            await websocket.accept()
            old = self.active_connections.get(task_id)
            self.active_connections[task_id] = websocket
            self.message_queues.setdefault(task_id, deque())
            if old is not None and old is not websocket:
                with anyio.move_on_after(5):
                    try:
                        await old.close(code=4000)
                    except Exception:
                        pass
            await self._flush(task_id, websocket)

    def disconnect(self, task_id: str) -> int:
        # BUG: keeps the queue for a returning client, and `del` raises for an unknown task
        del self.active_connections[task_id]
        return 0

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        queue = self.message_queues.setdefault(task_id, deque())
        if len(queue) >= self.max_queue_size:
            queue.popleft()
        queue.append(entry(task_id, level, message, progress, finished))
        if task_id in self.active_connections:
            async with self.lock:
                websocket = self.active_connections.get(task_id)
                if websocket is not None:
                    await self._flush(task_id, websocket)

    def get_connection_status(self, task_id: str) -> bool:
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(task_id, ()))

    async def _flush(self, task_id: str, websocket: Any) -> None:
        queue = self.message_queues[task_id]
        while queue and self.active_connections.get(task_id) is websocket:
            item = queue[0]
            try:
                await websocket.send_json(item)
            except Exception:
                del self.active_connections[task_id]
                return
            if queue and queue[0] is item:
                queue.popleft()


class FixedGlobalLock(AnyioSeedManager):
    """A lock per task, and disconnect forgets the task (``pop`` with a default)."""

    async def _send(self, websocket: Any, item: dict[str, Any]) -> None:
        await websocket.send_json(item)
