"""The per-task lock: FIFO, and free of any await when nobody holds it.

Every send happens under its task's lock (``ORD-2``), so the lock sits on the hot path of
every ``send_log``. An uncontended ``acquire`` here is a flag flip; only a contended one
creates an ``anyio.Event`` and waits. ``release`` hands the lock straight to the oldest
waiter, so a task that keeps logging cannot barge ahead of one already waiting.

A hand-over is a promise: the holder stopped draining because a waiter would go on. A
waiter cancelled in the very round the lock is handed to it cannot keep that promise (it may
not await any more), so it passes the lock to the next waiter, or, when there is none, to
the ``abandon`` callback its caller gave, which finds someone who can (``FAIL-3``).

The manager's idle path (``ConnectionManager.send_log``) takes and lets go of a free lock
by flipping ``_locked`` itself, with no await in between, so no waiter can appear: exactly
what ``try_acquire`` and a ``release`` with nobody waiting do, without two calls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio

__all__ = ["TaskLock", "TaskLockStatistics"]


@dataclass(frozen=True, slots=True)
class TaskLockStatistics:
    locked: bool
    tasks_waiting: int


class TaskLock:
    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: deque[anyio.Event] = deque()

    def locked(self) -> bool:
        return self._locked

    def waiting(self) -> int:
        return len(self._waiters)

    def statistics(self) -> TaskLockStatistics:
        return TaskLockStatistics(self._locked, len(self._waiters))

    def try_acquire(self) -> bool:
        """Take the lock if it is free, without awaiting; True if taken."""
        if self._locked:
            return False
        self._locked = True
        return True

    async def acquire(self, abandon: Callable[[], None] | None = None) -> None:
        """Wait for the lock. If it is handed over as this waiter is cancelled, the lock goes
        to the next waiter, or, with nobody waiting, to ``abandon()`` (which then owns it and
        must release it) when given."""
        if not self._locked:
            self._locked = True
            return
        handed_over = anyio.Event()
        self._waiters.append(handed_over)
        try:
            await handed_over.wait()
        except BaseException:
            if not handed_over.is_set():
                self._waiters.remove(handed_over)
            elif abandon is None or self._waiters:
                self.release()  # handed to us as we were cancelled: pass it on
            else:
                abandon()
            raise

    def release(self) -> None:
        if not self._locked:
            raise RuntimeError("TaskLock.release() on a lock that is not held")
        if self._waiters:
            self._waiters.popleft().set()  # stays locked: ownership moves to that waiter
        else:
            self._locked = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<TaskLock locked={self._locked} waiting={len(self._waiters)}>"
