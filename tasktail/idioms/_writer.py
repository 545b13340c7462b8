"""``WriterTaskCorrect``: a correct manager delivering through one writer task per client.

Delivery is deferred: ``connect`` and ``send_log`` return at once (``send_log`` never
awaits anything: the producer never waits for a client); a writer task made with
``asyncio.create_task`` does every send. What counts is what is delivered once settled.

1. Every line goes into the task's deque (drop-oldest at ``max_queue_size``), also while
   nobody is connected; the writer flushes it first, in order.
2. The writer peeks, sends, and removes the line only once the send returned. A failed
   send drops the client (closed with 1011) and leaves that line and later ones queued.
3. A second ``connect`` replaces the first: the new writer first waits for the old one,
   which notices after its in-flight send that it was replaced, closes its socket with
   4000 and ends; so one socket never gets two writers and the old gets nothing more.
4. ``disconnect`` cancels the writer and forgets the client and the queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ._wire import Entry, entry, is_gone, text_of

__all__ = ["WriterTaskCorrect"]


class _Client:
    __slots__ = ("websocket", "wake", "writer")

    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket
        self.wake = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None


class WriterTaskCorrect:
    """Seed API; ``active_connections`` and ``message_queues`` as in the seed, no locks."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        self.max_queue_size = max_queue_size
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, deque[Entry]] = {}
        self._clients: dict[str, _Client] = {}

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()  # if this raises, nothing is registered
        previous = self._clients.get(task_id)
        client = _Client(websocket)
        self._clients[task_id] = client
        self.active_connections[task_id] = websocket
        queue = self.message_queues.setdefault(task_id, deque())
        if previous is not None:
            previous.wake.set()  # it finds it was replaced once its in-flight send ends
        client.writer = asyncio.create_task(self._write(task_id, client, queue, previous))

    def disconnect(self, task_id: str) -> int:
        client = self._clients.pop(task_id, None)
        self.active_connections.pop(task_id, None)
        if client is not None and client.writer is not None:
            client.writer.cancel()
        return len(self.message_queues.pop(task_id, ()))

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        queue = self.message_queues.setdefault(task_id, deque())
        if len(queue) >= self.max_queue_size:
            queue.popleft()
        queue.append(entry(task_id, level, message, progress, finished))
        client = self._clients.get(task_id)
        if client is not None:
            client.wake.set()

    def get_connection_status(self, task_id: str) -> bool:
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(task_id, ()))

    # -- the writer ----------------------------------------------------------------------
    def _current(self, task_id: str, client: _Client, queue: deque[Entry]) -> bool:
        return self._clients.get(task_id) is client and self.message_queues.get(task_id) is queue

    async def _write(self, task_id: str, client: _Client, queue: deque[Entry], previous: _Client | None) -> None:
        websocket = client.websocket
        if previous is not None and previous.writer is not None:
            await asyncio.wait([previous.writer])  # never two writers for one task
        while self._current(task_id, client, queue):
            if not queue:
                client.wake.clear()
                await client.wake.wait()
                continue
            item = queue[0]
            try:
                await websocket.send_text(text_of(item))
            except Exception:
                if self._clients.get(task_id) is client:
                    del self._clients[task_id]
                    del self.active_connections[task_id]
                await self._close(websocket, 1011)
                return
            for index, queued in enumerate(queue):  # almost always index 0
                if queued is item:
                    del queue[index]
                    break
        if task_id in self._clients:  # replaced by a newer client (not disconnected)
            await self._close(websocket, 4000)

    async def _close(self, websocket: Any, code: int) -> None:
        if is_gone(websocket):
            return
        try:
            await asyncio.wait_for(websocket.close(code=code), 5)
        except Exception:
            pass
