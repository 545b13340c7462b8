"""Idioms whose ``message_queues`` values are ``asyncio.Queue(maxsize=max_queue_size)``.

An ``asyncio.Queue`` has ``qsize()`` but no ``len()`` and no peek: an entry is taken with
``get_nowait()`` before it is written, so whoever takes it must put it back on failure.

* :class:`DictOfAsyncioQueue` - ``put_nowait`` on a full queue raises ``QueueFull`` into
  the producer instead of evicting the oldest (CAP-3); a failed send loses the entry it
  took (FAIL-1); the flush loop keeps going on a queue that ``disconnect`` already
  removed (DISC-2).
* :class:`BlockingProducer` - ``await queue.put(...)``: a full queue with nobody draining
  it suspends the producer (PROD-1) instead of evicting the oldest (CAP-3); a failed send
  loses the entry it took (FAIL-1).
* :class:`FixedDictOfAsyncioQueue` (also the fix of ``BlockingProducer``) - evicts with
  ``get_nowait`` when full, puts a failed entry back at the front, re-checks after
  every await, and sends through its own entry (further only if nobody waits).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._wire import Entry, entry, is_gone, text_of

__all__ = ["BlockingProducer", "DictOfAsyncioQueue", "FixedBlockingProducer", "FixedDictOfAsyncioQueue"]


class FixedDictOfAsyncioQueue:
    """Seed dicts, ``asyncio.Queue`` per task, ``asyncio.Lock`` per task (correct)."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        self.max_queue_size = max_queue_size
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, asyncio.Queue[Entry]] = {}
        self.connection_locks: dict[str, asyncio.Lock] = {}

    def _queue(self, task_id: str) -> asyncio.Queue[Entry]:
        return self.message_queues.setdefault(task_id, asyncio.Queue(maxsize=self.max_queue_size))

    async def _admit(self, queue: asyncio.Queue[Entry], item: Entry) -> None:
        if queue.full():
            queue.get_nowait()  # drop-oldest: a late client wants the newest lines
        queue.put_nowait(item)

    def _put_back(self, queue: asyncio.Queue[Entry], item: Entry) -> None:
        """Put ``item`` back in front of the rest (no appendleft on a Queue: rebuild it)."""
        rest = [queue.get_nowait() for _ in range(queue.qsize())]
        keep = ([item] + rest)[-self.max_queue_size:]  # the cap evicts the oldest
        for queued in keep:
            queue.put_nowait(queued)

    def _going_on(self, task_id: str, websocket: Any, queue: asyncio.Queue[Entry]) -> bool:
        return self.active_connections.get(task_id) is websocket and self.message_queues.get(task_id) is queue

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        while True:
            lock = self.connection_locks.setdefault(task_id, asyncio.Lock())
            async with lock:
                if self.connection_locks.get(task_id) is not lock:
                    continue  # disconnected while we waited
                old = self.active_connections.get(task_id)
                self.active_connections[task_id] = websocket
                if old is not None and old is not websocket and not is_gone(old):
                    try:
                        await old.close(code=4000)
                    except Exception:
                        pass
                await self._drain(task_id, websocket, self._queue(task_id))
                return

    def disconnect(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)
        self.connection_locks.pop(task_id, None)
        queue = self.message_queues.pop(task_id, None)
        return queue.qsize() if queue is not None else 0

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        item = entry(task_id, level, message, progress, finished)
        queue = self._queue(task_id)
        await self._admit(queue, item)
        lock = self.connection_locks.get(task_id)
        if task_id not in self.active_connections or lock is None:
            return
        async with lock:
            websocket = self.active_connections.get(task_id)
            if websocket is not None and self.connection_locks.get(task_id) is lock:
                await self._drain(task_id, websocket, queue, through=item)

    def get_connection_status(self, task_id: str) -> bool:
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        queue = self.message_queues.get(task_id)
        return queue.qsize() if queue is not None else 0

    async def _drain(self, task_id: str, websocket: Any, queue: asyncio.Queue[Entry],
                     through: Entry | None = None) -> None:
        lock = self.connection_locks.get(task_id)
        ours_sent = False
        while not queue.empty() and self._going_on(task_id, websocket, queue):
            if ours_sent and lock is not None and getattr(lock, "_waiters", None):
                return  # the rest is for whoever waits for the lock (maybe a connect)
            item = queue.get_nowait()
            try:
                await websocket.send_text(text_of(item))
            except Exception:
                self._failed(task_id, websocket, queue, item)
                return
            except BaseException:
                self._failed(task_id, websocket, queue, item)
                raise
            ours_sent = ours_sent or item is through

    def _failed(self, task_id: str, websocket: Any, queue: asyncio.Queue[Entry], item: Entry) -> None:
        if self.active_connections.get(task_id) is websocket:
            del self.active_connections[task_id]
        if self.message_queues.get(task_id) is queue:
            self._put_back(queue, item)


class FixedBlockingProducer(FixedDictOfAsyncioQueue):
    """``BlockingProducer`` corrected: a full queue evicts at once, the producer never waits."""


class DictOfAsyncioQueue(FixedDictOfAsyncioQueue):
    """Seed dicts of ``asyncio.Queue``s as most tutorials write them."""

    async def _admit(self, queue: asyncio.Queue[Entry], item: Entry) -> None:
        queue.put_nowait(item)  # BUG: raises asyncio.QueueFull into the producer when full

    def _going_on(self, task_id: str, websocket: Any, queue: asyncio.Queue[Entry]) -> bool:
        # BUG: "we hold the lock, nothing can change": but disconnect() takes no lock, and
        # this queue object keeps its entries after the dicts forget it
        return True

    def _failed(self, task_id: str, websocket: Any, queue: asyncio.Queue[Entry], item: Entry) -> None:
        if self.active_connections.get(task_id) is websocket:
            del self.active_connections[task_id]  # BUG: ...and the entry taken is simply gone


class BlockingProducer(FixedDictOfAsyncioQueue):
    """A bounded ``asyncio.Queue`` used as back-pressure: ``await put()``."""

    async def _admit(self, queue: asyncio.Queue[Entry], item: Entry) -> None:
        await queue.put(item)  # BUG: waits for room; with no client, forever

    def _failed(self, task_id: str, websocket: Any, queue: asyncio.Queue[Entry], item: Entry) -> None:
        if self.active_connections.get(task_id) is websocket:
            del self.active_connections[task_id]  # BUG: ...and the entry taken is gone
