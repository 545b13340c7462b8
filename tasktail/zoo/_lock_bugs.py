"""Zoo members whose bug is in locking, producers, content or memory (LOCK, PROD, FID, MEM).

Same conventions as ``_queue_bugs``: one hook, one bug, ``breaks`` names the rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ._tutorial import Message, TutorialManager

__all__ = ["BlockingPut", "ConnectLast", "LockHeldOnFailure", "RoundedProgress", "ShadowRegistry",
           "UnlockedProducer", "WaiterKeepsSocket"]

T = TypeVar("T")


class RoundedProgress(TutorialManager):
    """Frames carry ``progress`` rounded to a whole percent ("the bar has no sub-pixels")."""

    breaks = "FID-1"

    def _message(self, task_id: str, level: str, message: str, progress: float | None, finished: bool) -> Message:
        entry = super()._message(task_id, level, message, progress, finished)
        if entry["progress"] is not None:
            entry["progress"] = round(entry["progress"])  # BUG: 12.5 is sent as 12
        return entry


class ShadowRegistry(TutorialManager):
    """Keeps every message of every task in a side registry "for a dashboard", forever."""

    breaks = "MEM-1"

    def _enqueue(self, task_id: str, message: Message) -> None:
        registry = self.__dict__.setdefault("_registry", {})
        registry.setdefault(task_id, []).append(message)  # BUG: never pruned, not in the seed's dicts
        super()._enqueue(task_id, message)


class UnlockedProducer(TutorialManager):
    """Producers send without the task's lock ("a send is quick; connect has the lock")."""

    breaks = "LOCK-1"

    async def _serialised(self, task_id: str, work: Callable[[], Awaitable[T]], *, connect: bool) -> T | None:
        if not connect:
            return await work()  # BUG: two producers write to one socket at once
        return await super()._serialised(task_id, work, connect=connect)


class LockHeldOnFailure(TutorialManager):
    """Releases the task's lock on the happy path only: a cancelled send keeps it forever."""

    breaks = "LOCK-2"

    async def _serialised(self, task_id: str, work: Callable[[], Awaitable[T]], *, connect: bool) -> T | None:
        lock = self._lock_for(task_id) if connect else self.connection_locks.get(task_id)
        if lock is None:
            return None
        await lock.acquire()
        result = await work()  # BUG: a cancellation here skips the release below
        lock.release()
        return result


class WaiterKeepsSocket(TutorialManager):
    """A producer takes the task's socket and queue before it waits for the lock, and uses
    them when its turn comes, even if the task was disconnected meanwhile."""

    breaks = "LOCK-3"

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        entry = self._message(task_id, level, message, progress, finished)
        task_id = entry["task_id"]
        self._enqueue(task_id, entry)
        websocket, queue = self.active_connections.get(task_id), self.message_queues[task_id]
        lock = self.connection_locks.get(task_id)
        if websocket is None or lock is None:
            return
        async with lock:  # BUG: the socket, queue and lock are the ones from before the wait
            while any(m is entry for m in queue):
                front = queue[0]
                if not await self._deliver(task_id, websocket, queue, front):
                    return
                self._delivered(task_id, queue, front)


class ConnectLast(TutorialManager):
    """connect lets waiting producers go first ("don't hold up the logs"): a line logged
    after the new client was accepted still goes to the client it replaces."""

    breaks = "LOCK-4"

    async def _serialised(self, task_id: str, work: Callable[[], Awaitable[T]], *, connect: bool) -> T | None:
        if connect:
            lock = self._lock_for(task_id)
            while lock.locked() or lock.statistics().tasks_waiting:
                await anyio.sleep(0.01)  # BUG: producers that came later overtake connect
        return await super()._serialised(task_id, work, connect=connect)


class BlockingPut(TutorialManager):
    """A full queue makes the producer wait for room, like ``await queue.put()``."""

    breaks = "PROD-1"

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        queue = self.message_queues.get(task_id)
        while queue is not None and len(queue) >= self.max_queue_size:
            await anyio.sleep(0.1)  # BUG: waits for a client to make room
            queue = self.message_queues.get(task_id)
        await super().send_log(task_id, level, message, progress, finished)

