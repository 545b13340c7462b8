"""Peers: the FastAPI tutorial's shape as usually copied (``tutorial-naive``; not the
zoo's ``TutorialManager``, which is a correct manager in that style), Django Channels'
in-memory channel layer and broadcaster's memory backend (the ``peers`` extra)."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import anyio

from ._subject import UTC, Params, _Base, _GroupBase


# -- peers ---------------------------------------------------------------------------------


@dataclass
class _TutorialMessage:
    task_id: str
    timestamp: str
    level: str
    message: str
    progress: float | None = None
    finished: bool = False


class _NaiveTutorial(_Base):
    """The FastAPI-tutorial shape: dicts of sockets, deques and per-task locks, a dataclass
    per message, ``json.dumps(asdict(msg))``; no send timeout, drops silently at the cap."""

    def __init__(self, params: Params) -> None:
        self.max_queue_size = params.max_queue_size
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, deque] = {}
        self.connection_locks: dict[str, Any] = {}
        self._lock: Any = None

    def _lock_for(self, task_id: str):
        lock = self.connection_locks.get(task_id)
        if lock is None:
            if self._lock is None:  # asyncio.Lock, as the tutorial; trio's lock on trio
                import sniffio

                if sniffio.current_async_library() == "asyncio":
                    import asyncio

                    self._lock = asyncio.Lock
                else:
                    self._lock = anyio.Lock
            lock = self.connection_locks[task_id] = self._lock()
        return lock

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        self.active_connections[task_id] = websocket
        queue = self.message_queues.get(task_id)
        if queue:
            async with self._lock_for(task_id):
                while queue:
                    await websocket.send_text(json.dumps(asdict(queue.popleft())))

    def disconnect(self, task_id: str) -> None:
        self.active_connections.pop(task_id, None)
        self.connection_locks.pop(task_id, None)

    def detach(self, task_id: str, websocket: Any) -> None:
        if self.active_connections.get(task_id) is websocket:
            del self.active_connections[task_id]

    # the rest of the seed's API, so the conformance suite can judge it as it is
    def get_connection_status(self, task_id: str) -> bool:
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(task_id, ()))

    async def send_log(self, task_id, level, message, progress=None, finished=False):
        return await self.send(task_id, level, message, progress, finished)

    async def send(self, task_id, level, message, progress=None, finished=False):
        msg = _TutorialMessage(task_id, datetime.now(UTC).isoformat(), level, message, progress, finished)
        websocket = self.active_connections.get(task_id)
        if websocket is not None:
            try:
                async with self._lock_for(task_id):
                    await websocket.send_text(json.dumps(asdict(msg)))
                return msg
            except Exception:
                self.disconnect(task_id)
        queue = self.message_queues.get(task_id)
        if queue is None:
            queue = self.message_queues[task_id] = deque(maxlen=self.max_queue_size)
        queue.append(msg)
        return msg

    send_log = send


class _Consumers(_GroupBase):
    """Shared plumbing of the pub/sub peers: one consumer task per connection."""

    sync_delivery = False

    def __init__(self, params: Params) -> None:
        self.params = params
        self.scopes: dict[str, anyio.CancelScope] = {}

    def detach(self, task_id: str, websocket: Any) -> None:
        scope = self.scopes.pop(task_id, None)
        if scope is not None:
            scope.cancel()


class _Channels(_Consumers):
    """Django Channels' InMemoryChannelLayer: a group per task, a consumer per socket that
    encodes the event (as a Channels consumer's handler does). The layer has no send
    timeout; ``group_send`` drops silently when a channel holds ``capacity`` messages."""

    async def __aenter__(self):
        from channels.layers import InMemoryChannelLayer

        self.layer = InMemoryChannelLayer(capacity=self.params.max_queue_size)
        self.send = self._send
        return await super().__aenter__()

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        name = await self.layer.new_channel()
        await self.layer.group_add(task_id, name)
        self.scopes[task_id] = scope = anyio.CancelScope()
        self._tg.start_soon(self._consume, websocket, task_id, name, scope)

    async def _consume(self, websocket: Any, task_id: str, name: str, scope: anyio.CancelScope) -> None:
        layer = self.layer
        with scope:
            try:
                while True:
                    event = await layer.receive(name)
                    await websocket.send_text(json.dumps(event["payload"]))
            except Exception:
                await layer.group_discard(task_id, name)

    async def _send(self, task_id, level, message, progress=None, finished=False):
        await self.layer.group_send(task_id, {"type": "log.message", "payload": {
            "task_id": task_id, "timestamp": datetime.now(UTC).isoformat(), "level": level,
            "message": message, "progress": progress, "finished": finished}})


class _Broadcaster(_Consumers):
    """broadcaster's memory backend: publish the encoded message on the task's channel; a
    subscriber per socket forwards it. Unbounded queues, no send timeout."""

    async def __aenter__(self):
        from broadcaster import Broadcast

        self.broadcast = Broadcast("memory://")
        await self.broadcast.connect()
        self.send = self._send
        return await super().__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        await self.broadcast.disconnect()

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        self.scopes[task_id] = scope = anyio.CancelScope()
        ready = anyio.Event()
        self._tg.start_soon(self._consume, websocket, task_id, scope, ready)
        await ready.wait()  # subscribed before connect returns, or early messages are lost

    async def _consume(self, websocket: Any, task_id: str, scope: anyio.CancelScope, ready: anyio.Event) -> None:
        with scope:
            async with self.broadcast.subscribe(channel=task_id) as subscriber:
                ready.set()
                try:
                    async for event in subscriber:
                        await websocket.send_text(event.message)
                except Exception:
                    return

    async def _send(self, task_id, level, message, progress=None, finished=False):
        await self.broadcast.publish(channel=task_id, message=json.dumps({
            "task_id": task_id, "timestamp": datetime.now(UTC).isoformat(), "level": level,
            "message": message, "progress": progress, "finished": finished}))


# -- the catalogue -------------------------------------------------------------------------
