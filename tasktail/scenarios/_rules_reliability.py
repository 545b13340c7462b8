"""Scripted checks for what issue 9 found: cancellation at the worst moments, hostile
policies, resume points of another incarnation, cleanup bounds (FAIL-3, FLUSH-1, CAP-2,
RES-4, CANC-1, CANC-2).
"""

from __future__ import annotations

import anyio

from tasktail.fakes import FakeWebSocket

from ._harness import Harness, check, expect, wait_blocked
from ._subject import suite_gate

__all__ = ["conform_fail3_waiter_cancelled_at_hand_over", "conform_flush1_connect_cancelled_while_closing_replaced",
           "conform_res4_resume_point_never_crosses_incarnations", "conform_wire4_hello_and_reset_frames",
           "conform_canc1_tight_producer_loop_yields", "conform_canc2_cancelled_cleanup_is_bounded",
           "conform_cap2_policy_error_changes_nothing", "conform_val2_exact_errors"]


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
            await h.pending(gate)
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


@check("FLUSH-1", claims=("cancellation",))
async def conform_flush1_connect_cancelled_while_closing_replaced(h: Harness) -> None:
    """A connect cancelled while it closes the client it replaces leaves no socket attached
    but unflushed: either the new client is flushed, or it is not the task's client.
    (This part of FLUSH-1 is about cancellation: it runs when ``cancellation`` is claimed.)"""
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


@check("WIRE-4")
async def conform_wire4_hello_and_reset_frames(h: Harness) -> None:
    """epoch="" gets a hello frame first; that epoch resumes; another one gets a reset frame."""
    import json

    h.build(history_size=10)
    ws = h.socket()
    await h.connect(ws, "t", epoch="")
    await h.log_numbered("t", 2)
    hello = json.loads(ws.frames[0].payload)
    expect(set(hello) == {"type", "task_id", "epoch", "last_seq"} and hello["type"] == "hello"
           and hello["task_id"] == "t" and isinstance(hello["epoch"], str) and hello["last_seq"] == 0,
           f"first frame {hello}")
    again = h.socket()
    await h.connect(again, "t", after_seq=1, epoch=hello["epoch"])
    first = json.loads(again.frames[0].payload)
    expect(first == {**hello, "last_seq": 2} and h.texts(again) == ["t#1"],
           f"resumed: first frame {first}, then {h.texts(again)}")
    stale = h.socket()
    await h.connect(stale, "t", after_seq=1, epoch=hello["epoch"] + "x")
    reset = json.loads(stale.frames[0].payload)
    expect(reset == {"type": "reset", "task_id": "t", "epoch": hello["epoch"], "last_seq": 2,
                     "stale_epoch": hello["epoch"] + "x"} and h.texts(stale) == ["t#0", "t#1"],
           f"stale epoch: first frame {reset}, then {h.texts(stale)}")


class _AcceptGate(FakeWebSocket):
    """A client whose accept waits until ``go`` is set."""

    def __init__(self) -> None:
        super().__init__(None, strict=False)
        self.go = anyio.Event()

    async def accept(self, *args: object, **kwargs: object) -> None:
        await self.go.wait()
        await super().accept(*args, **kwargs)


@check("RES-4")
async def conform_res4_resume_point_never_crosses_incarnations(h: Harness) -> None:
    """A resume in progress while the task is disconnected and restarted: the new task's
    messages are all sent (none counted delivered unsent), after a reset frame."""
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    await h.log_numbered("t", 3)
    h.manager.detach("t", ws)
    late = _AcceptGate()
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: h.connect(late, "t", after_seq=3))
        await wait_blocked()
        await h.disconnect("t")
        await h.log_numbered("t", 4, first=10)
        late.go.set()
    kinds = [i.kind for i in h.items(late)]
    expect(h.texts(late) == ["t#10", "t#11", "t#12", "t#13"] and kinds[0] == "reset",
           f"the new incarnation's client got {[i.short() for i in h.items(late)]}")


@check("CANC-1")
async def conform_canc1_tight_producer_loop_yields(h: Harness) -> None:
    """A producer logging in a tight loop lets another task run (and cancel it)."""
    h.build()
    for connected in (False, True):
        if connected:
            await h.connect(h.socket(), "t")
        calls = 0
        scope = anyio.CancelScope()

        async def producer() -> None:
            nonlocal calls
            with scope:
                while calls < 5000:
                    calls += 1
                    await h.log("t", "t#tick")

        async def stopper() -> None:
            scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(producer)
            group.start_soon(stopper)
        expect(scope.cancelled_caught and calls < 5000,
               f"({'connected' if connected else 'no client'}) {calls} send_log calls before another task ran")


class _Stalled(FakeWebSocket):
    """A client that stalls on every send, and on close until the check lets it go."""

    def __init__(self) -> None:
        from tasktail.fakes import Gate

        super().__init__(suite_gate(), strict=False)
        self.close_released = anyio.Event()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.close_released.wait()


@check("CANC-2")
async def conform_canc2_cancelled_cleanup_is_bounded(h: Harness) -> None:
    """A producer cancelled mid-send to a client that stalls on send and close returns."""
    h.build(send_timeout=None)  # no send bound: only the cleanup's own bound can end it
    ws = _Stalled()
    await h.connect(ws, "t")
    scope, ended = anyio.CancelScope(), anyio.Event()

    async def produce() -> None:
        try:
            with scope:
                await h.log("t", "t#0")
        finally:
            ended.set()

    async with anyio.create_task_group() as group:
        group.start_soon(produce)
        try:
            await h.pending(ws.gate)
            scope.cancel()
            with anyio.move_on_after(300):  # virtual time, inside the check's 600 s guard
                await ended.wait()
            returned = ended.is_set()
        finally:
            # An unbounded (shielded) close would hold this group, and the check, forever,
            # even past the guard: let the close finish so the check can end and report.
            ws.close_released.set()
    expect(returned, "the cancelled producer's cleanup never ended (300 virtual seconds after the cancel)")


class _Refuses:
    name = "refuses"

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def choose_victim(self, queue: object, incoming: object) -> object:
        return self.answer


@check("CAP-2")
async def conform_cap2_policy_error_changes_nothing(h: Harness) -> None:
    """A policy that refuses a finished message, or answers "0": PolicyError, no seq spent."""
    for answer in (None, "0"):
        h.build(cap=1, overflow=_Refuses(answer))
        await h.log("t", "t#0")
        try:
            await h.manager.send_log("t", "success", "t#done", finished=True)
        except Exception as exc:
            expect(type(exc).__name__ == "PolicyError", f"answer {answer!r}: raised {exc!r}, not PolicyError")
        else:
            raise AssertionError(f"answer {answer!r}: a broken policy raised nothing")
        h.manager.overflow.answer = 0  # now a valid answer: the finished message goes through
        entry = await h.manager.send_log("t", "success", "t#done", finished=True)
        expect(entry.seq == 2, f"answer {answer!r}: the refused call spent a seq (next is {entry.seq})")


@check("VAL-2")
async def conform_val2_exact_errors(h: Harness) -> None:
    """Wrong-typed config is a TypeError, huge ints a ValueError naming the argument."""
    for config, error in (({"max_queue_size": 1.5}, TypeError), ({"max_queue_size": "5"}, TypeError),
                          ({"max_queue_size": 10 ** 5000}, ValueError)):
        try:
            h.subject.factory(**config)
        except Exception as exc:
            expect(type(exc) is error and "max_queue_size" in str(exc),
                   f"max_queue_size of type {type(config['max_queue_size']).__name__}: {type(exc).__name__}")
        else:
            raise AssertionError(f"{type(config['max_queue_size']).__name__} max_queue_size accepted")
