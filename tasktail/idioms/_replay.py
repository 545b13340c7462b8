"""The replay-buffer idiom: keep every line, send the whole buffer to each new client.

* :class:`ReplayBuffer` - ``message_queues[task_id]`` is a list of every line ever
  logged; ``connect`` sends all of it, so a reconnecting or replacing client gets lines
  it (or its predecessor) already had (ORD-3), and a line logged during that replay is
  sent twice on one socket (ORD-3). The list has no cap (CAP-1, CAP-3) and counts as
  "queued" while a client reads along (FLUSH-2). ``disconnect`` keeps the buffer so a
  reloaded page can replay it (DISC-1, MEM-1), and the replay loop does not notice a
  disconnect (DISC-2).
* :class:`FixedReplayBuffer` - a ``deque(maxlen=max_queue_size)`` of lines not yet
  delivered (a line leaves once sent), forgotten on disconnect.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ._seed import AsyncioSeedManager
from ._wire import Entry, entry, text_of

__all__ = ["FixedReplayBuffer", "ReplayBuffer"]


class ReplayBuffer:
    """Seed dicts whose "queue" is the full history, replayed to every client."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        self.max_queue_size = max_queue_size  # BUG: "history is cheap", never used
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, list[Entry]] = {}
        self.connection_locks: dict[str, asyncio.Lock] = {}

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        async with self.connection_locks.setdefault(task_id, asyncio.Lock()):
            self.active_connections[task_id] = websocket
            for item in self.message_queues.setdefault(task_id, []):  # BUG: all of it, every time
                if not await self._send(task_id, websocket, item):
                    break

    def disconnect(self, task_id: str) -> int:
        # BUG: "the page may reload": the buffer (and lock) stay for the next client
        self.active_connections.pop(task_id, None)
        return 0

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        item = entry(task_id, level, message, progress, finished)
        self.message_queues.setdefault(task_id, []).append(item)
        if task_id not in self.active_connections:
            return
        async with self.connection_locks[task_id]:
            websocket = self.active_connections.get(task_id)
            if websocket is not None:
                await self._send(task_id, websocket, item)

    def get_connection_status(self, task_id: str) -> bool:
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(task_id, []))

    async def _send(self, task_id: str, websocket: Any, item: Entry) -> bool:
        try:
            await websocket.send_text(text_of(item))
        except Exception:
            if self.active_connections.get(task_id) is websocket:
                del self.active_connections[task_id]
            return False
        return True


class FixedReplayBuffer(AsyncioSeedManager):
    """A bounded buffer of undelivered lines: ``deque(maxlen=...)`` evicts the oldest."""

    def _new_queue(self) -> deque[Entry]:
        return deque(maxlen=self.max_queue_size)

    def _enqueue(self, task_id: str, item: Entry) -> None:
        self.message_queues.setdefault(task_id, self._new_queue()).append(item)
