"""The reference's own bugs before issue 9 was fixed, kept as zoo members the suite must find.

Each is the reference ``ConnectionManager`` with the old behaviour put back in one place;
``breaks`` names the rule, and the factory claims every capability, like the reference.
The generated programs find the first two on their own (hand-over cancellation, a
resume in progress while its task is reset); the scripted CANC-2 check finds the third and
the scripted THR-2 check of a thread waiting at shutdown the fourth, the scripted CANC-1
check of a tight producer loop the fifth, the scripted FLUSH-1 check of a connect cancelled
while it closes the client it replaces the sixth, the scripted CAP-2 check of a refusing
policy the seventh.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..manager._core import ManagerCore
from ..manager._errors import PolicyError
from ..manager._manager import ConnectionManager
from ..manager._threads import ThreadSafeLogger

__all__ = ["AttachedAfterCancelledConnect", "NeverYields", "PolicyAfterSpending", "ResumeAcrossIncarnations",
           "StrandingHandOver", "ThreadsHangAtShutdown", "UnboundedClose"]


class StrandingHandOver(ConnectionManager):
    """A waiter cancelled in the round the lock is handed to it passes the lock on or drops
    it, so what the holder left for it stays queued under an idle client."""

    breaks = "FAIL-3"

    async def _acquire(self, state: Any) -> None:
        await state.lock.acquire()  # BUG (before the fix): no one takes over what was left


class _LateResumeCore(ManagerCore):
    __slots__ = ()

    def check_resume(self, task_id: str, after_seq: int | None, epoch: str | None = None) -> str | None:
        super().check_resume(task_id, after_seq, epoch)
        return None  # BUG (before the fix): the incarnation is read at attach, after the awaits


class ResumeAcrossIncarnations(ConnectionManager):
    """A resume point given while the task is reset and restarted is applied to the new
    incarnation: its first seqs are counted delivered and never sent."""

    breaks = "RES-4"

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._core.__class__ = _LateResumeCore


class UnboundedClose(ConnectionManager):
    """Cleanup closes are bounded by ``send_timeout``, so with ``send_timeout=None`` a client
    that never answers a close holds a cancelled producer forever."""

    breaks = "CANC-2"

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.close_timeout = config.get("send_timeout", 10.0)  # BUG: None means no bound at all


class _WaitForever(ThreadSafeLogger):
    def _run_on_asyncio(self, loop: Any, args: tuple) -> Any:
        # BUG (before the fix): wait for the call's result with no look at the loop; a call
        # the closing loop drops, or cancels, leaves the thread waiting forever
        coroutine = self._manager.send_log(*args)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop is closed already: no "never awaited" warning
            coroutine.close()
            raise
        return future.result()


class ThreadsHangAtShutdown(ConnectionManager):
    """A worker thread whose ``send_log`` waits when the asyncio loop ends never returns."""

    breaks = "THR-2"

    def threadsafe(self) -> ThreadSafeLogger:
        return _WaitForever(self)


class NeverYields(ConnectionManager):
    """``send_log`` never yields when it need not wait: a tight producer loop starves every
    other task, and a cancel scope around it never fires."""

    breaks = "CANC-1"

    @property
    def _unyielded(self) -> int:
        return 0  # BUG (before the fix): no call is ever counted, so none ever yields

    @_unyielded.setter
    def _unyielded(self, value: int) -> None:
        pass


class AttachedAfterCancelledConnect(ConnectionManager):
    """A connect cancelled after it attached its socket (while closing the client it
    replaces, or during the flush) leaves the socket attached: never flushed, never
    detached, and the task can no longer expire."""

    breaks = "FLUSH-1"

    async def _abandon_connect(self, task_id: str, websocket: Any, connection: Any) -> None:
        pass  # BUG (before the fix): the cancelled connect walks away from an attached socket


class _SpendingCore(ManagerCore):
    __slots__ = ()

    def _choose_victim(self, queue: Any, incoming: Any) -> int | None:
        try:
            return super()._choose_victim(queue, incoming)
        except PolicyError:
            # BUG (before the fix): the seq, the count and `finished` were spent before the
            # policy was asked, and its answer was used unchecked
            state = self.tasks[incoming.task_id]
            state.next_seq = incoming.seq + 1
            self.logged += 1
            if incoming.finished:
                state.finished_seq = incoming.seq
            answer = self.overflow.choose_victim(queue, incoming)
            if answer is not None:
                queue[answer]  # "0": a raw TypeError that names nothing
            raise


class PolicyAfterSpending(ConnectionManager):
    """A policy's refusal (or a broken answer) comes after the seq is spent and the task
    marked finished: the finished message is lost and the next seq skips one."""

    breaks = "CAP-2"

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._core.__class__ = _SpendingCore
