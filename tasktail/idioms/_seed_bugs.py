"""Idioms that are the seed's dicts with an ``asyncio.Lock`` and one method written wrong.

* :class:`PropagatingSendErrors` - ``await websocket.send_text(...)`` with no ``try``: a
  client's failure reaches the producer (FAIL-2) and the dead client stays registered
  (FAIL-1), so a connected task keeps a queue (FLUSH-2).
* :class:`FixedCap` - ``deque(maxlen=50)`` hard-coded, ``max_queue_size`` accepted and
  ignored (CAP-1, CAP-3 with any cap below 50); frames sent as bytes with ``progress``
  rounded for the progress bar (FID-1).

Their corrected variants are :class:`AsyncioSeedManager` in the same frame flavour.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from ._seed import AsyncioSeedManager
from ._wire import Entry

__all__ = ["FixedCap", "FixedFixedCap", "FixedPropagatingSendErrors", "PropagatingSendErrors"]


class PropagatingSendErrors(AsyncioSeedManager):
    """Seed dicts + asyncio.Lock; the send is not guarded ("let it crash")."""

    async def _deliver(self, task_id: str, websocket: Any, item: Entry) -> bool:
        await self._send(websocket, item)  # BUG: a dead client's error is the producer's now
        return True


class FixedPropagatingSendErrors(AsyncioSeedManager):
    """The same manager with the send guarded: a failure drops the client, keeps the entry."""


class FixedCap(AsyncioSeedManager):
    """Seed dicts + asyncio.Lock, frames as UTF-8 JSON bytes, a cap of 50 "for now"."""

    CAP = 50

    def __init__(self, **config: Any) -> None:
        super().__init__()  # BUG: the configured max_queue_size is never used

    def _new_queue(self) -> deque[Entry]:
        return deque(maxlen=self.CAP)  # BUG: not self.max_queue_size

    def _enqueue(self, task_id: str, item: Entry) -> None:
        self.message_queues.setdefault(task_id, self._new_queue()).append(item)

    async def _send(self, websocket: Any, item: Entry) -> None:
        # BUG: the progress bar wants whole percents, so the frame gets a rounded copy
        progress = item["progress"]
        frame = dict(item, progress=round(progress) if progress is not None else None)
        await websocket.send_bytes(json.dumps(frame).encode())


class FixedFixedCap(AsyncioSeedManager):
    """Bytes frames with the exact values, and the configured cap."""

    async def _send(self, websocket: Any, item: Entry) -> None:
        await websocket.send_bytes(json.dumps(item).encode())
