"""Minimal fake sockets for the benchmark (deliberately not ``tasktail.fakes``: they must
cost next to nothing, and the same for every subject, the floor included)."""

from __future__ import annotations

import time

import anyio

__all__ = ["Tally", "FastSocket", "TimedSocket", "SlowSocket", "StalledSocket", "RecordingSocket"]

_now_ns = time.perf_counter_ns


class Tally:
    """Counts sockets that still expect frames; ``event`` is set when none do."""

    __slots__ = ("pending", "event")

    def __init__(self) -> None:
        self.pending = 0
        self.event = anyio.Event()

    def expect(self) -> None:
        self.pending += 1

    def done_one(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.event.set()

    async def wait(self, timeout: float) -> bool:
        if self.pending == 0:
            return True
        with anyio.move_on_after(timeout):
            await self.event.wait()
        return self.pending == 0


class FastSocket:
    """A client that reads instantly: ``send_text`` counts and returns without yielding."""

    __slots__ = ("count", "expect", "tally", "closed")

    def __init__(self, tally: Tally | None = None, expect: int = -1) -> None:
        self.count = 0
        self.expect = expect
        self.tally = tally
        self.closed = False
        if tally is not None and expect > 0:
            tally.expect()

    async def accept(self) -> None:
        pass

    async def send_text(self, text: str) -> None:
        self.count = count = self.count + 1
        if count == self.expect:
            self.tally.done_one()

    def deliver(self, text: str) -> None:
        """``send_text`` without the await (for the floor variant that skips it)."""
        self.count = count = self.count + 1
        if count == self.expect:
            self.tally.done_one()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True


class TimedSocket(FastSocket):
    """A fast client that also records when each frame arrived (for delivery latency)."""

    __slots__ = ("times",)

    def __init__(self, tally: Tally | None = None, expect: int = -1) -> None:
        super().__init__(tally, expect)
        self.times: list[int] = []

    async def send_text(self, text: str) -> None:
        self.times.append(_now_ns())
        self.count = count = self.count + 1
        if count == self.expect:
            self.tally.done_one()


class SlowSocket(FastSocket):
    """A client that reads slowly: every ``every``-th frame takes ``delay`` seconds."""

    __slots__ = ("delay", "every")

    def __init__(self, tally: Tally | None, expect: int, delay: float, every: int = 10) -> None:
        super().__init__(tally, expect)
        self.delay = delay
        self.every = every

    async def send_text(self, text: str) -> None:
        if self.count % self.every == 0:
            await anyio.sleep(self.delay)
        self.count = count = self.count + 1
        if count == self.expect:
            self.tally.done_one()


class StalledSocket:
    """A client that stopped reading: ``send_text`` blocks until the manager's timeout
    cancels it; a manager without one waits ``give_up`` seconds, then the send fails as a
    dead TCP connection eventually would (so every subject terminates)."""

    __slots__ = ("give_up", "count", "closed")

    def __init__(self, give_up: float) -> None:
        self.give_up = give_up
        self.count = 0
        self.closed = False

    async def accept(self) -> None:
        pass

    async def send_text(self, text: str) -> None:
        await anyio.sleep(self.give_up)
        raise ConnectionResetError("stalled client: connection reset")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True


class RecordingSocket(FastSocket):
    """A fast client that tells log frames from gap notices (not used while timing)."""

    __slots__ = ("logs", "gaps")

    def __init__(self) -> None:
        super().__init__()
        self.logs = 0
        self.gaps = 0

    async def send_text(self, text: str) -> None:
        self.count += 1
        if text.startswith('{"type":"gap"'):
            self.gaps += 1
        else:
            self.logs += 1
