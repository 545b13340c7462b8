"""A gate that holds every send until the scenario releases it.

Theory of operation:

1. Each send that reaches the gate joins a FIFO of waiters and is *pending*.
2. ``release(n)`` removes the first ``n`` waiters from the FIFO and wakes them;
   they stop counting as pending at once, so ``pending`` never depends on how
   the scheduler orders the wake-ups. Waking more than are pending is a bug in
   the scenario and raises ``ValueError`` (no silent credit).
3. ``wait_pending(n)`` returns as soon as ``n`` sends are pending, woken by an
   anyio Event that is replaced on every change: no polling, no sleeps.
4. A pending send that is cancelled (or aborted because its client vanished)
   leaves the FIFO, and waiters are told.
5. ``fail_pending(exc)`` wakes like ``release`` but the sends raise ``exc``
   instead of delivering; with no ``exc`` their clients vanish, so they fail as
   a dead peer does under Starlette (``WebSocketDisconnect(1006)``).
6. ``open()`` releases everyone and lets later sends through; ``close()``
   turns the gate back on.
7. ``passes(frame)``, when given, picks frames the gate never holds (a status
   frame an application sends besides the ones a scenario is about); they are
   not pending and not counted as released.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from ._behaviour import Behaviour
from ._records import Frame

if TYPE_CHECKING:
    from ._websocket import FakeWebSocket


class _Waiter:
    __slots__ = ("event", "exc", "frame", "ws")

    def __init__(self, ws: FakeWebSocket, frame: Frame) -> None:
        self.ws = ws
        self.frame = frame
        self.event = anyio.Event()
        self.exc: BaseException | None = None


class Gate(Behaviour):
    """Gated sends: ``await gate.wait_pending()``, then ``gate.release()``."""

    def __init__(self, *, opened: bool = False, passes: Callable[[Frame], bool] | None = None) -> None:
        self._waiters: deque[_Waiter] = deque()
        self._changed: anyio.Event | None = None
        self._opened = opened
        self._passes = passes
        self.released = 0  # sends let through by release()/release_all()/open()

    @property
    def pending(self) -> int:
        return len(self._waiters)

    @property
    def pending_frames(self) -> list[Frame]:
        return [w.frame for w in self._waiters]

    @property
    def opened(self) -> bool:
        return self._opened

    async def on_send(self, ws: FakeWebSocket, frame: Frame) -> None:
        if self._opened or (self._passes is not None and self._passes(frame)):
            return
        waiter = _Waiter(ws, frame)
        self._waiters.append(waiter)
        self._notify()
        try:
            await waiter.event.wait()
        except BaseException:
            # Cancelled or aborted while pending (rule 4); a woken waiter is
            # already gone from the FIFO.
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                self._notify()
            raise
        if waiter.exc is not None:
            raise waiter.exc

    async def wait_pending(self, n: int = 1) -> None:
        """Return once at least ``n`` sends are blocked at the gate."""
        while len(self._waiters) < n:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()

    def release(self, n: int = 1) -> None:
        """Let the first ``n`` pending sends through (FIFO)."""
        for waiter in self._take(n):
            waiter.event.set()
        self.released += n

    def release_all(self) -> int:
        """Release every pending send; return how many."""
        n = len(self._waiters)
        self.release(n)
        return n

    def fail_pending(self, exc: BaseException | None = None, n: int | None = None) -> int:
        """Fail the first ``n`` (default: all) pending sends (rule 5); return how many."""
        waiters = self._take(len(self._waiters) if n is None else n)
        for waiter in waiters:
            if exc is None:
                waiter.ws.client.vanish()  # aborts the send; the fake raises 1006
            waiter.exc = exc
            waiter.event.set()
        return len(waiters)

    def open(self) -> int:
        """Release everything and let future sends pass untouched."""
        self._opened = True
        return self.release_all()

    def close(self) -> None:
        self._opened = False

    def _take(self, n: int) -> list[_Waiter]:
        if not 0 <= n <= len(self._waiters):
            raise ValueError(f"cannot wake {n} send(s): {len(self._waiters)} pending")
        taken = [self._waiters.popleft() for _ in range(n)]
        self._notify()
        return taken

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
