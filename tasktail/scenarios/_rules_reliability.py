"""Scripted checks for what issue 9 found: cancellation at the worst moments, hostile
policies, resume points of another incarnation, cleanup bounds (FAIL-3, FLUSH-1, CAP-2,
RES-4, CANC-1, CANC-2).
"""

from __future__ import annotations

import anyio

from tasktail.fakes import FakeWebSocket

from ._rules import Harness, check, expect, wait_blocked

__all__ = ["conform_fail3_waiter_cancelled_at_hand_over", "conform_flush1_connect_cancelled_while_closing_replaced"]


class _StallingClose(FakeWebSocket):
    """A client whose close handshake waits until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(None, strict=False)
        self.closing = anyio.Event()
        self.release = anyio.Event()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closing.set()
        await self.release.wait()
        await super().close(code, reason)


@check("FAIL-3")
async def conform_fail3_waiter_cancelled_at_hand_over(h: Harness) -> None:
    """A waiter cancelled in the round its lock is handed over: its message is still sent."""
    for first in ("release", "cancel"):
        h.build()
        gate, ws = await h.gated_client("t")
        async with anyio.create_task_group() as group:
            group.start_soon(h.log, "t", "t#0")
            await gate.wait_pending(1)
            scope = anyio.CancelScope()

            async def waiter(scope: anyio.CancelScope = scope) -> None:
                with scope:
                    await h.log("t", "t#1")

            group.start_soon(waiter)
            await wait_blocked()
            # the two events in one round, in both orders (open also lets later sends through)
            if first == "cancel":
                scope.cancel()
                gate.open()
            else:
                gate.open()
                scope.cancel()
            await wait_blocked()
        await wait_blocked()
        expect(h.texts(ws) == ["t#0", "t#1"] and h.status("t") == (True, 0),
               f"({first} first) got {h.texts(ws)}, (connected, queued) = {h.status('t')}")


@check("FLUSH-1")
async def conform_flush1_connect_cancelled_while_closing_replaced(h: Harness) -> None:
    """A connect cancelled while it closes the client it replaces leaves no socket attached
    but unflushed: either the new client is flushed, or it is not the task's client."""
    h.build()
    first = _StallingClose()
    await h.connect(first, "t")
    second = h.socket()
    async with anyio.create_task_group() as group:
        scope = anyio.CancelScope()

        async def connect_second() -> None:
            with scope:
                await h.connect(second, "t")

        group.start_soon(connect_second)
        await wait_blocked()  # closing the first client, if this implementation closes it
        with anyio.CancelScope() as producer:  # t#0 stays queued for whoever holds the lock
            producer.cancel()
            await h.log("t", "t#0")
        scope.cancel()
        first.release.set()
    await wait_blocked()
    connected, queued = h.status("t")
    expect(not connected or queued == 0, f"after the cancelled connect: connected with {queued} queued")
