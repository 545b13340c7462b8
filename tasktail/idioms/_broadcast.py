"""Idioms that keep several sockets per task and broadcast every line to all of them.

* :class:`SocketListBroadcast` - ``active_connections[task_id]`` is a list; a second
  client is appended (REPL-1) so both get the same lines (ORD-3); a failed send is
  ignored, the dead socket kept and the line not queued (FAIL-1); the loop walks the
  list it read before waiting for the lock, so after a ``disconnect`` it still writes to
  the removed sockets (LOCK-3, DISC-2). Frames: ``send_json``.
* :class:`UserRegistry` - a ``set`` of sockets per task plus a pending ``deque`` for
  tasks nobody watches yet (unbounded: CAP-1, CAP-3). No lock. A failed socket is
  discarded from the set being iterated: "Set changed size during iteration" reaches
  the producer (FAIL-2) and the line is lost (FAIL-1). Two producers write at once to
  one socket (LOCK-1, ORD-2); a second client is added, not replacing (REPL-1, ORD-3);
  a ``disconnect`` mid-broadcast leaves the loop going over the other sockets (DISC-2).

Corrected variants: one client per task, every line through the task's capped deque
(:class:`AsyncioSeedManager` sending with ``send_json``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ._seed import AsyncioSeedManager
from ._wire import Entry, entry

__all__ = ["FixedSocketListBroadcast", "FixedUserRegistry", "SocketListBroadcast", "UserRegistry"]


class SocketListBroadcast:
    """``dict[str, list[WebSocket]]`` and a broadcast loop, guarded by a lock per task."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        self.max_queue_size = max_queue_size
        self.active_connections: dict[str, list[Any]] = {}
        self.message_queues: dict[str, list[Entry]] = {}
        self.connection_locks: dict[str, asyncio.Lock] = {}

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        async with self.connection_locks.setdefault(task_id, asyncio.Lock()):
            self.active_connections.setdefault(task_id, []).append(websocket)  # BUG: never replaces
            for item in self.message_queues.pop(task_id, []):
                try:
                    await websocket.send_json(item)
                except Exception:
                    pass  # BUG: the backlog line is gone

    def disconnect(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)
        self.connection_locks.pop(task_id, None)
        return len(self.message_queues.pop(task_id, []))

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        item = entry(task_id, level, message, progress, finished)
        sockets = self.active_connections.get(task_id)
        if not sockets:
            queue = self.message_queues.setdefault(task_id, [])
            if len(queue) >= self.max_queue_size:
                queue.pop(0)
            queue.append(item)
            return
        async with self.connection_locks[task_id]:
            for websocket in list(sockets):  # BUG: the list read before the wait
                try:
                    await websocket.send_json(item)
                except Exception:
                    pass  # BUG: dead socket stays, the line is not kept

    def get_connection_status(self, task_id: str) -> bool:
        return bool(self.active_connections.get(task_id))

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(task_id, []))


class UserRegistry:
    """``dict[str, set[WebSocket]]`` plus ``dict[str, deque]`` of pending lines; no lock."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        self.max_queue_size = max_queue_size  # BUG: the pending deque below ignores it
        self.active_connections: dict[str, set[Any]] = {}
        self.message_queues: dict[str, deque[Entry]] = {}

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        pending = self.message_queues.get(task_id)
        while pending:  # lines logged meanwhile join the deque and go out here too
            await websocket.send_json(pending.popleft())
        self.message_queues.pop(task_id, None)
        self.active_connections.setdefault(task_id, set()).add(websocket)  # BUG: never replaces

    def disconnect(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)
        return len(self.message_queues.pop(task_id, ()))

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        item = entry(task_id, level, message, progress, finished)
        sockets = self.active_connections.get(task_id)
        if not sockets:
            self.message_queues.setdefault(task_id, deque()).append(item)
            return
        for websocket in sockets:
            try:
                await websocket.send_json(item)
            except Exception:
                sockets.discard(websocket)  # BUG: mutates the set being iterated

    def get_connection_status(self, task_id: str) -> bool:
        return bool(self.active_connections.get(task_id))

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(task_id, ()))


class _JsonSeed(AsyncioSeedManager):
    async def _send(self, websocket: Any, item: Entry) -> None:
        await websocket.send_json(item)


class FixedSocketListBroadcast(_JsonSeed):
    """One client per task (a new one replaces and closes the old); lines kept on failure."""


class FixedUserRegistry(_JsonSeed):
    """One client per task, a capped pending deque, a lock per task, failures contained."""
