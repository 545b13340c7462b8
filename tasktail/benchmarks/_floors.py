"""The floors (bare loops that build, encode and hand over one message) and the reference
``ConnectionManager`` behind the same adapter."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Callable

from ..manager import ConnectionManager, LogMessage

from ._subject import UTC, Params, _Base, _orjson


class _Floor(_Base):
    """A bare loop body: build the message, encode it, hand it to the task's socket."""

    def __init__(self, params: Params, variant: str) -> None:
        self.sockets: dict[str, Any] = {}
        self.seqs: dict[str, int] = {}
        sockets, seqs = self.sockets, self.seqs
        now = datetime.now
        if variant == "orjson" and _orjson is not None:
            dumps = _orjson.dumps

            async def send(task_id, level, message, progress=None, finished=False):
                await sockets[task_id].send_text(dumps({
                    "task_id": task_id, "timestamp": now(UTC).isoformat(), "level": level,
                    "message": message, "progress": progress, "finished": finished}).decode())
        elif variant == "orjson-noawait" and _orjson is not None:
            dumps = _orjson.dumps

            async def send(task_id, level, message, progress=None, finished=False):
                sockets[task_id].deliver(dumps({
                    "task_id": task_id, "timestamp": now(UTC).isoformat(), "level": level,
                    "message": message, "progress": progress, "finished": finished}).decode())
        elif variant in ("json", "orjson", "orjson-noawait"):  # orjson missing: json.dumps
            dumps = json.dumps

            async def send(task_id, level, message, progress=None, finished=False):
                await sockets[task_id].send_text(dumps({
                    "task_id": task_id, "timestamp": now(UTC).isoformat(), "level": level,
                    "message": message, "progress": progress, "finished": finished}))
        elif variant == "to_json":
            clock = time.time

            async def send(task_id, level, message, progress=None, finished=False):
                seqs[task_id] = seq = seqs[task_id] + 1
                await sockets[task_id].send_text(
                    LogMessage(task_id, seq, clock(), level, message, progress, finished).to_json())
        else:  # pragma: no cover
            raise ValueError(variant)
        self.send = send

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        self.sockets[task_id] = websocket
        self.seqs.setdefault(task_id, 0)

    def detach(self, task_id: str, websocket: Any) -> None:
        if self.sockets.get(task_id) is websocket:
            del self.sockets[task_id]


# -- the reference -----------------------------------------------------------------------


class _Reference(_Base):
    def __init__(self, params: Params, policy: Any) -> None:
        self.manager = m = ConnectionManager(
            max_queue_size=params.max_queue_size, send_timeout=params.send_timeout, overflow=policy)
        self.send = m.send_log

    async def connect(self, websocket: Any, task_id: str) -> None:
        await self.manager.connect(websocket, task_id)

    def detach(self, task_id: str, websocket: Any) -> None:
        self.manager.detach(task_id, websocket)

    def threadsafe_send(self) -> Callable[..., Any]:
        return self.manager.threadsafe().send_log
