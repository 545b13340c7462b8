"""Scripted checks for what issue 9 found: cancellation at the worst moments, hostile
policies, resume points of another incarnation, cleanup bounds (FAIL-3, FLUSH-1, CAP-2,
RES-4, CANC-1, CANC-2).
"""

from __future__ import annotations

import anyio

from ._rules import Harness, check, expect, wait_blocked

__all__ = ["conform_fail3_waiter_cancelled_at_hand_over"]


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
