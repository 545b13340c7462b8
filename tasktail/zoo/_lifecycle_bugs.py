"""Zoo members whose bug is in locking, connecting, replacing, disconnecting or queries.

Same conventions as ``_queue_bugs``: one hook, one bug, ``breaks`` names the rule.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import Any, TypeVar

import anyio

from ._tutorial import Message, TutorialManager

__all__ = [
    "FirstClientWins",
    "FlushIgnoresDisconnect",
    "GlobalLock",
    "KeyErrorCount",
    "LeakyLock",
    "LeakyQueue",
    "QueueLookupAfterSend",
    "ReplacedLeftOpen",
    "UnlockedConnect",
]

T = TypeVar("T")


class UnlockedConnect(TutorialManager):
    """``connect`` registers the socket and flushes without taking the task's lock.

    Why: "nobody can be sending to a client that is not registered yet, so connect needs no
    lock" - true until the register, false during the flush that follows it. A producer
    that starts mid-flush sends at once, beside the flush. Because the flush peeks, the
    two writers also send the same front message, and the socket sees two sends at once
    (ORD-2's no-overlap clause and FLUSH-2 fail too: the same race).
    """

    breaks = "FLUSH-1"

    async def _serialised(self, task_id: str, work: Callable[[], Awaitable[T]], *, connect: bool) -> T | None:
        if connect:
            self._lock_for(task_id)  # the lock exists, so producers take it ...
            return await work()  # BUG: ... but connect itself does not
        return await super()._serialised(task_id, work, connect=connect)


class GlobalLock(TutorialManager):
    """One lock for the whole manager: a stalled client blocks every other task's sends.

    Why: the seed calls the per-task locks "optional"; one ``self.lock`` looked simpler
    and is correct for a single task.
    """

    breaks = "ISO-1"

    @cached_property
    def _manager_lock(self) -> anyio.Lock:
        return anyio.Lock()

    def _lock_for(self, task_id: str) -> anyio.Lock:
        return self.connection_locks.setdefault(task_id, self._manager_lock)  # BUG: shared


class FirstClientWins(TutorialManager):
    """A second ``connect`` for a task is ignored: the old socket keeps receiving.

    Why: ``active_connections.setdefault(task_id, websocket)`` to "not clobber" an existing
    client; after a page reload the new tab waits forever while the dead one is written to.
    """

    breaks = "REPL-1"

    def _register(self, task_id: str, websocket: Any) -> Any:
        self.active_connections.setdefault(task_id, websocket)  # BUG: the newest should win
        return None


class ReplacedLeftOpen(TutorialManager):
    """A second ``connect`` replaces the first but never closes the old socket with 4000.

    Why: overwriting the dict entry looks like all there is to it. The old tab gets no more
    messages, but no close either: it shows a live stream that silently stopped, and it
    cannot tell "replaced, don't reconnect" from a network stall.
    """

    breaks = "REPL-1"

    def _register(self, task_id: str, websocket: Any) -> Any:
        self.active_connections[task_id] = websocket
        return None  # BUG: the replaced socket is forgotten, not closed


class LeakyLock(TutorialManager):
    """``disconnect`` removes the client and queue but leaves the task's lock behind.

    Why: ``connection_locks`` was added later than the other two dicts and the cleanup
    was not updated; one lock per finished task leaks forever (MEM-1 and DISC-2's "no
    entry left" checks see the same leak).
    """

    breaks = "DISC-1"

    def _forget(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)
        return len(self.message_queues.pop(task_id, ()))  # BUG: connection_locks kept


class LeakyQueue(TutorialManager):
    """``disconnect`` only removes the client; the queue (and lock) stay.

    Why: the FastAPI tutorial's ``disconnect`` is ``del self.active_connections[...]``;
    the queue was bolted on afterwards (MEM-1 and DISC-2's "no entry left" checks see the
    same leak).
    """

    breaks = "DISC-1"

    def _forget(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)  # BUG: queue and lock kept
        return 0


class FlushIgnoresDisconnect(TutorialManager):
    """A flush keeps sending to the socket it started with after the task was disconnected.

    Why: the loop holds local references to the socket and queue taken at the start, as
    ``for message in queue`` code does, and never looks at the manager again.
    """

    breaks = "DISC-2"

    def _is_current(self, task_id: str, websocket: Any, queue: deque[Message]) -> bool:
        return True  # BUG: never re-checks after an await


class QueueLookupAfterSend(TutorialManager):
    """After a send, the queue is looked up again by task id to remove the message.

    Why: ``self.message_queues[task_id]`` reads naturally where the local ``queue`` was
    out of sight; if the task was disconnected during the send it raises ``KeyError`` into
    the producer (or ``connect``), which the suite also reports as FAIL-2.
    """

    breaks = "DISC-2"

    def _delivered(self, task_id: str, queue: deque[Message], message: Message) -> None:
        super()._delivered(task_id, self.message_queues[task_id], message)  # BUG: KeyError once disconnected


class KeyErrorCount(TutorialManager):
    """``get_queued_message_count`` raises ``KeyError`` for a task that has no queue.

    Why: ``len(self.message_queues[task_id])`` - every task in the author's tests had
    logged something before anyone asked. DISC-1/DISC-2 checks query a task after
    removing it, so they hit the same KeyError.
    """

    breaks = "QRY-1"

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues[task_id])  # BUG: unknown task -> KeyError
