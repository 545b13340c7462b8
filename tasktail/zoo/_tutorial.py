"""``TutorialManager``: a correct, small manager in the style of a FastAPI tutorial.

It keeps the seed's API and attributes (``active_connections``, ``message_queues``,
``connection_locks``) and uses only anyio, so it runs on asyncio and trio. It sends the
seed's fields as JSON text (no ``seq``, no gap notices: those are extensions).

Theory of operation:

1. Every message is appended to its task's queue before the first await, so call order is
   queue order and a disconnect discards it with the queue.
2. Whoever holds the task's lock sends the queue front to back, a producer through its
   own message (further only if nobody else waits). A message is *peeked*, sent, and
   removed only once ``send_text`` returned: a failed send leaves it at the front for the
   next client (FAIL-1) without any re-queueing step that could duplicate it.
3. ``connect`` registers the socket and flushes under the same lock, so a producer that
   starts during the flush waits for it (FLUSH-1); the newest client wins (REPL-1).
4. ``disconnect`` pops all three entries. Code that wakes up later re-reads the dicts and
   stops when its queue, socket or lock is no longer the task's (DISC-2).

Each step is a small method so that every member of the zoo (``_members.py``) can be
this class with one hook overridden by one plausible bug.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio

from ..manager._message import check_finished, check_level, check_message, check_progress, check_task_id

__all__ = ["TutorialManager"]

T = TypeVar("T")
Message = dict[str, Any]


class TutorialManager:
    """The seed's ConnectionManager, written carefully (see module docstring)."""

    def __init__(self, *, max_queue_size: int = 100, clock: Callable[[], float] = time.time) -> None:
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int):
            raise TypeError(f"max_queue_size={max_queue_size!r} has type {type(max_queue_size).__name__}; "
                            "expected an int >= 1")
        if max_queue_size < 1:
            raise ValueError(f"max_queue_size={max_queue_size!r} is not allowed; expected an int >= 1")
        if not callable(clock):
            raise TypeError(f"clock={clock!r} is not callable; expected a function returning POSIX seconds")
        self.max_queue_size = max_queue_size
        self.clock = clock
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, deque[Message]] = {}
        self.connection_locks: dict[str, anyio.Lock] = {}

    # -- the seed API ------------------------------------------------------------------

    async def connect(self, websocket: Any, task_id: str) -> None:
        task_id = check_task_id(task_id)
        await websocket.accept()  # if this raises, nothing has been registered yet
        if not await self._serialised(task_id, lambda: self._attach(task_id, websocket), connect=True):
            # the task was disconnected while this connect waited (LOCK-3): it stays gone
            await self._close(websocket, 1000, "task disconnected")

    def disconnect(self, task_id: str) -> int:
        """Forget the task; return how many queued messages went with it."""
        return self._forget(check_task_id(task_id))

    async def send_log(self, task_id: str, level: str, message: str,
                       progress: float | None = None, finished: bool = False) -> None:
        entry = self._message(task_id, level, message, progress, finished)
        task_id = entry["task_id"]
        self._enqueue(task_id, entry)
        if task_id in self.active_connections:
            await self._serialised(task_id, lambda: self._flush_current(task_id, entry), connect=False)

    def get_connection_status(self, task_id: str) -> bool:
        return check_task_id(task_id) in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(check_task_id(task_id), ()))

    # -- hooks: building and queueing ----------------------------------------------------

    def _message(self, task_id: str, level: str, message: str, progress: float | None,
                 finished: bool) -> Message:
        # Validate everything before touching state, so bad input changes nothing.
        task_id = check_task_id(task_id)
        return {
            "task_id": task_id,
            "level": check_level(level),
            "message": check_message(message),
            "progress": check_progress(progress),
            "finished": check_finished(finished),
            "timestamp": datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(),
        }

    def _enqueue(self, task_id: str, message: Message) -> None:
        queue = self.message_queues.setdefault(task_id, deque())
        if len(queue) >= self.max_queue_size:
            queue.popleft()  # drop-oldest: a late client wants the newest lines
        queue.append(message)

    # -- hooks: locking -------------------------------------------------------------------

    def _lock_for(self, task_id: str) -> anyio.Lock:
        return self.connection_locks.setdefault(task_id, anyio.Lock())

    async def _serialised(self, task_id: str, work: Callable[[], Awaitable[T]], *, connect: bool) -> T | None:
        """Run ``work`` holding the task's *current* lock.

        ``disconnect`` pops the lock while others may be waiting on it. A waiter that wakes
        holding a stale lock belongs to the removed task and gives up (LOCK-3): a producer's
        message went with the queue, a connect's socket is closed by the caller. ``None``
        then; only ``connect`` creates a missing lock."""
        lock = self._lock_for(task_id) if connect else self.connection_locks.get(task_id)
        if lock is None:
            return None
        async with lock:
            if self.connection_locks.get(task_id) is lock:
                return await work()
        return None

    # -- hooks: connecting -----------------------------------------------------------------

    async def _attach(self, task_id: str, websocket: Any) -> bool:
        old = self._register(task_id, websocket)
        if old is not None:
            # Held under the lock, so the old socket's in-flight send has completed.
            await self._close(old, 4000, "replaced by a newer client")
        await self._flush(task_id, websocket)
        return True

    def _register(self, task_id: str, websocket: Any) -> Any:
        """Make ``websocket`` the task's client; return the one it replaced, if any."""
        old = self.active_connections.get(task_id)
        self.active_connections[task_id] = websocket
        return old if old is not websocket else None

    def _forget(self, task_id: str) -> int:
        self.active_connections.pop(task_id, None)
        self.connection_locks.pop(task_id, None)
        return len(self.message_queues.pop(task_id, ()))

    # -- hooks: sending --------------------------------------------------------------------

    async def _flush_current(self, task_id: str, through: Message) -> None:
        websocket = self.active_connections.get(task_id)  # re-read: we may have waited
        if websocket is not None:
            await self._flush(task_id, websocket, through)

    async def _flush(self, task_id: str, websocket: Any, through: Message | None = None) -> None:
        """Send the queue in order: all of it (connect), or through the producer's own message.

        A producer stops after its own message when others wait for the lock: what follows
        is theirs, and one of them may be a ``connect`` replacing this client (REPL-1)."""
        queue = self.message_queues.get(task_id)
        while (queue is not None and self._has_more(queue) and self._is_current(task_id, websocket, queue)
               and (through is None or self._owes(task_id, queue, through))):
            message = self._take(queue)
            if not await self._deliver(task_id, websocket, queue, message):
                return
            self._delivered(task_id, queue, message)

    def _has_more(self, queue: deque[Message]) -> bool:
        return bool(queue)

    def _owes(self, task_id: str, queue: deque[Message], through: Message) -> bool:
        # Its own message is still queued, or nobody else is waiting to send the rest (a
        # producer cancelled while waiting leaves its message to us).
        lock = self.connection_locks.get(task_id)
        return any(m is through for m in queue) or lock is None or lock.statistics().tasks_waiting == 0

    def _is_current(self, task_id: str, websocket: Any, queue: deque[Message]) -> bool:
        # A disconnect or failure between two sends ends this flush (DISC-2).
        return self.active_connections.get(task_id) is websocket and self.message_queues.get(task_id) is queue

    def _take(self, queue: deque[Message]) -> Message:
        return queue[0]  # peek: removed only once delivered

    def _delivered(self, task_id: str, queue: deque[Message], message: Message) -> None:
        # Almost always at the front; the cap may have evicted it while it was written.
        for index, queued in enumerate(queue):
            if queued is message:
                del queue[index]
                return

    async def _deliver(self, task_id: str, websocket: Any, queue: deque[Message], message: Message) -> bool:
        """Send one message; on failure drop the client and return False."""
        try:
            await websocket.send_text(json.dumps(message, ensure_ascii=False))
        except BaseException as exc:
            # The client's failure is never the producer's (FAIL-2). Cancellation mid-write
            # may leave half a frame, so it ends the connection too, then propagates.
            with anyio.CancelScope(shield=True):
                await self._on_send_error(task_id, websocket, queue, message, exc)
            if isinstance(exc, Exception):
                return False
            raise
        return True

    async def _on_send_error(self, task_id: str, websocket: Any, queue: deque[Message],
                             message: Message, exc: BaseException) -> None:
        # The message is still at the front of the queue (it was only peeked): nothing to
        # re-queue. Only drop the client if it is still this task's: no resurrection.
        if self.active_connections.get(task_id) is websocket:
            del self.active_connections[task_id]
        await self._close(websocket, 1011, f"send failed: {type(exc).__name__}")

    async def _close(self, websocket: Any, code: int, reason: str) -> None:
        if getattr(getattr(websocket, "application_state", None), "name", "") == "DISCONNECTED":
            return  # Starlette raises when closing a socket that is already gone
        try:
            with anyio.move_on_after(5):
                await websocket.close(code=code, reason=reason)
        except Exception:
            pass  # best effort: the socket is usually broken when we get here

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} clients={len(self.active_connections)} "
                f"queues={len(self.message_queues)}>")
