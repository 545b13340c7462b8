"""A correct idiom that sends an application frame of its own: many apps greet a client
with ``{"type": "status", "status": "connected"}`` before any log line.

The suite's gates let such frames through (``tasktail.scenarios._subject.foreign_frame``)
and no check counts them as log lines, so this manager must PASS like its base.
"""

from __future__ import annotations

import json
from typing import Any

from ._seed import AnyioSeedManager

__all__ = ["StatusFrame"]


class StatusFrame(AnyioSeedManager):
    """The anyio seed manager, greeting each client as the first frame of its flush, under
    the task's lock; a client that cannot take the greeting is dropped like any failed send."""

    def __init__(self, *, max_queue_size: int = 100) -> None:
        super().__init__(max_queue_size=max_queue_size)
        self._greet: dict[str, Any] = {}  # task -> the socket whose connect has not greeted it yet

    async def connect(self, websocket: Any, task_id: str) -> None:
        self._greet[task_id] = websocket
        try:
            await super().connect(websocket, task_id)
        finally:
            if self._greet.get(task_id) is websocket:
                del self._greet[task_id]

    async def _drain(self, task_id: str, websocket: Any, through: Any = None) -> None:
        if self._greet.get(task_id) is websocket:
            del self._greet[task_id]
            greeting = json.dumps({"type": "status", "status": "connected", "task_id": task_id})
            try:
                await websocket.send_text(greeting)
            except Exception:
                self._drop(task_id, websocket)
                await self._close(websocket, 1011)
                return
        await super()._drain(task_id, websocket, through)
