"""The seed's three dicts done right, once for asyncio and once for anyio.

Several idioms are this manager with one method written the way it often is (the bug),
and their corrected variants are this manager unchanged in frame and lock flavour:

1. ``send_log`` appends to the task's deque (drop-oldest at ``max_queue_size``) before
   any await, and returns at once when the task has no client (PROD-1).
2. Whoever holds the task's lock sends the deque front to back, peeking: an entry leaves
   only once its send returned, so a failed send leaves it (and later ones) queued.
3. A producer sends through its own entry, and further only if nobody waits for the
   lock: the next waiter may be a ``connect`` replacing this client (LOCK-4).
4. After every await the code re-reads the dicts: a lock, deque or socket that is no
   longer the task's means a disconnect or replacement happened; stop (DISC-2, LOCK-3).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import anyio

from ._wire import Entry, entry, is_gone, text_of

__all__ = ["AnyioSeedManager", "AsyncioSeedManager", "SeedManager"]


class SeedManager:
    """Common body; subclasses choose the lock type and how a socket is closed."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        self.max_queue_size = max_queue_size
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, deque[Entry]] = {}
        self.connection_locks: dict[str, Any] = {}

    # -- hooks ------------------------------------------------------------------------
    def _new_lock(self) -> Any:
        raise NotImplementedError

    def _has_waiters(self, lock: Any) -> bool:
        raise NotImplementedError

    async def _close(self, websocket: Any, code: int) -> None:
        raise NotImplementedError

    async def _send(self, websocket: Any, item: Entry) -> None:
        await websocket.send_text(text_of(item))

    def _new_queue(self) -> deque[Entry]:
        return deque()

    def _enqueue(self, task_id: str, item: Entry) -> None:
        queue = self.message_queues.setdefault(task_id, self._new_queue())
        if len(queue) >= self.max_queue_size:
            queue.popleft()
        queue.append(item)

    # -- the seed API -----------------------------------------------------------------
    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        while True:
            lock = self.connection_locks.setdefault(task_id, self._new_lock())
            async with lock:
                if self.connection_locks.get(task_id) is not lock:
                    continue  # the task was disconnected while we waited: use its new lock
                old = self.active_connections.get(task_id)
                self.active_connections[task_id] = websocket
                self.message_queues.setdefault(task_id, self._new_queue())
                if old is not None and old is not websocket:
                    await self._close(old, 4000)
                await self._drain(task_id, websocket)
                return

    def disconnect(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)
        self.connection_locks.pop(task_id, None)
        return len(self.message_queues.pop(task_id, ()))

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        item = entry(task_id, level, message, progress, finished)
        self._enqueue(task_id, item)
        lock = self.connection_locks.get(task_id)
        if task_id not in self.active_connections or lock is None:
            return  # nobody to send to: it waits in the queue
        async with lock:
            websocket = self.active_connections.get(task_id)
            if self.connection_locks.get(task_id) is lock and websocket is not None:
                await self._drain(task_id, websocket, through=item)

    def get_connection_status(self, task_id: str) -> bool:
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(task_id, ()))

    # -- sending ----------------------------------------------------------------------
    def _current(self, task_id: str, websocket: Any, queue: deque[Entry]) -> bool:
        return self.active_connections.get(task_id) is websocket and self.message_queues.get(task_id) is queue

    async def _drain(self, task_id: str, websocket: Any, through: Entry | None = None) -> None:
        queue = self.message_queues.get(task_id)
        lock = self.connection_locks.get(task_id)
        while queue and self._current(task_id, websocket, queue):
            if through is not None and not any(e is through for e in queue) and self._has_waiters(lock):
                return  # ours is out; what is left belongs to whoever waits (maybe a connect)
            item = queue[0]
            if not await self._deliver(task_id, websocket, item):
                return
            for index, queued in enumerate(queue):  # almost always index 0
                if queued is item:
                    del queue[index]
                    break

    async def _deliver(self, task_id: str, websocket: Any, item: Entry) -> bool:
        try:
            await self._send(websocket, item)
        except Exception:
            self._drop(task_id, websocket)
            await self._close(websocket, 1011)
            return False
        except BaseException:
            self._drop(task_id, websocket)  # cancelled mid-write: the frame may be half sent
            raise
        return True

    def _drop(self, task_id: str, websocket: Any) -> None:
        if self.active_connections.get(task_id) is websocket:
            del self.active_connections[task_id]


class AsyncioSeedManager(SeedManager):
    """Plain asyncio: ``asyncio.Lock`` per task."""

    def _new_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    def _has_waiters(self, lock: Any) -> bool:
        # asyncio.Lock has no public waiter count; its FIFO of waiters is ``_waiters``.
        return lock is not None and bool(getattr(lock, "_waiters", None))

    async def _close(self, websocket: Any, code: int) -> None:
        if is_gone(websocket):
            return
        try:
            await asyncio.wait_for(websocket.close(code=code), 5)
        except Exception:
            pass  # best effort: the socket is usually broken already


class AnyioSeedManager(SeedManager):
    """anyio (runs on asyncio and trio): ``anyio.Lock`` per task."""

    def _new_lock(self) -> anyio.Lock:
        return anyio.Lock()

    def _has_waiters(self, lock: Any) -> bool:
        return lock is not None and lock.statistics().tasks_waiting > 0

    async def _close(self, websocket: Any, code: int) -> None:
        if is_gone(websocket):
            return
        with anyio.move_on_after(5):
            try:
                await websocket.close(code=code)
            except Exception:
                pass
