"""FAIL-*: a failing client never costs the producer a message or an exception."""

from __future__ import annotations

import anyio
import pytest

from tasktail import CloseCode
from tasktail.fakes import FailOnSend, Gate, VanishMidSend

from .support import FakeWebSocket, logs, make_manager, seqs

pytestmark = pytest.mark.anyio


@pytest.mark.rule("FAIL-1")
@pytest.mark.rule("FAIL-2")
@pytest.mark.rule("CLOSE-1")
async def test_send_error_requeues_and_drops_client():
    manager = make_manager()
    ws = FakeWebSocket(behaviour=FailOnSend(2, exc=OSError("connection reset")))
    connection = await manager.connect(ws, "job")
    await manager.send_log("job", "info", "one")
    await manager.send_log("job", "info", "two")  # raises inside: must not reach us
    await manager.send_log("job", "info", "three")
    assert seqs(ws) == [1]
    assert not manager.get_connection_status("job")
    assert [m.seq for m in manager.message_queues["job"]] == [2, 3]
    assert connection.ended and connection.close_code == CloseCode.SEND_FAILED == 1011
    assert ws.violations == []  # no close on a socket that Starlette already marked gone
    stats = manager.task_statistics("job")
    assert stats.failed_sends == 1 and stats.delivered == 1
    again = FakeWebSocket()
    await manager.connect(again, "job")
    assert seqs(again) == [2, 3]


@pytest.mark.rule("FAIL-1")
@pytest.mark.rule("CLOSE-1")
async def test_send_timeout_requeues_and_closes_4001():
    manager = make_manager(send_timeout=5.0)
    gate = Gate()  # never released: a client that stopped reading
    ws = FakeWebSocket(behaviour=gate)
    await manager.connect(ws, "job")
    with anyio.fail_after(60):  # virtual time: the 5 s send timeout elapses at once
        entry = await manager.send_log("job", "info", "stuck")
    assert ws.close_code == CloseCode.SEND_TIMEOUT == 4001
    assert not manager.get_connection_status("job")
    assert list(manager.message_queues["job"]) == [entry]
    assert manager.task_statistics("job").failed_sends == 1


@pytest.mark.rule("FAIL-2")
async def test_client_vanishing_mid_send_does_not_reach_producer():
    manager = make_manager()
    ws = FakeWebSocket(behaviour=VanishMidSend(1))
    await manager.connect(ws, "job")
    with anyio.fail_after(60):
        await manager.send_log("job", "info", "lost?")
        await manager.send_log("job", "info", "queued too")
    assert not manager.get_connection_status("job")
    assert [m.message for m in manager.message_queues["job"]] == ["lost?", "queued too"]


@pytest.mark.rule("FAIL-3")
@pytest.mark.rule("FLUSH-2")
async def test_cancelled_waiter_message_is_sent_by_next_holder():
    manager = make_manager()
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "holder")
        await gate.wait_pending(1)
        waiter_scope = anyio.CancelScope()

        async def waiter():
            with waiter_scope:
                await manager.send_log("job", "info", "cancelled waiter")

        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert manager.task_statistics("job").lock_waiters == 1
        waiter_scope.cancel()
        await anyio.wait_all_tasks_blocked()
        gate.open()
    assert [m for _, m in logs(ws)] == ["holder", "cancelled waiter"]
    assert manager.get_queued_message_count("job") == 0


@pytest.mark.rule("FAIL-3")
async def test_cancel_mid_send_requeues():
    manager = make_manager()
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "half written")
        await gate.wait_pending(1)
        group.cancel_scope.cancel()
    assert not manager.get_connection_status("job")
    assert [m.message for m in manager.message_queues["job"]] == ["half written"]
    assert ws.close_code == CloseCode.SEND_FAILED


@pytest.mark.rule("FAIL-3")
@pytest.mark.rule("FLUSH-2")
async def test_producer_cancelled_during_flush_is_sent_by_connect():
    # Found by the conformance suite: Log(); Connect(gate); Log(); Cancel().
    manager = make_manager()
    await manager.send_log("job", "info", "queued")
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    async with anyio.create_task_group() as group:
        group.start_soon(manager.connect, ws, "job")
        await gate.wait_pending(1)  # connect holds the lock, flushing "queued"
        scope = anyio.CancelScope()

        async def producer():
            with scope:
                await manager.send_log("job", "info", "cancelled while connect flushed")

        group.start_soon(producer)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        gate.open()
    assert [m for _, m in logs(ws)] == ["queued", "cancelled while connect flushed"]
    assert manager.get_queued_message_count("job") == 0


@pytest.mark.rule("FAIL-3")
@pytest.mark.rule("FLUSH-2")
@pytest.mark.parametrize("first", ["release", "cancel"])
@pytest.mark.parametrize("finished", [False, True], ids=["log", "finished"])
async def test_waiter_cancelled_in_the_round_of_the_hand_over_strands_nothing(first, finished):
    # Issue 9: the holder's send completes and the waiter is cancelled in the same round.
    # The holder saw a waiter and stopped; the waiter, handed the lock as it was cancelled,
    # let it go without sending. Both orders of the two events, and the finished message.
    manager = make_manager()
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "holder")
        await gate.wait_pending(1)
        waiter_scope = anyio.CancelScope()

        async def waiter():
            with waiter_scope:
                await manager.send_log("job", "success", "last words", finished=finished)

        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert manager.task_statistics("job").lock_waiters == 1
        gate.close()  # later sends wait again: a fixed gate, not an open one, shows who sends
        if first == "release":
            gate.release(1)
            waiter_scope.cancel()
        else:
            waiter_scope.cancel()
            gate.release(1)
        with anyio.fail_after(60):
            await gate.wait_pending(1)  # someone drains the waiter's message
        gate.open()
        await anyio.wait_all_tasks_blocked()  # that someone may be outside this group
    assert [m for _, m in logs(ws)] == ["holder", "last words"]
    assert manager.get_queued_message_count("job") == 0 and manager.get_connection_status("job")
    assert not manager.connection_locks["job"].locked()


@pytest.mark.rule("FAIL-3")
@pytest.mark.rule("FLUSH-2")
@pytest.mark.rule("CANC-1")
async def test_cancelled_caller_of_an_idle_client_strands_nothing():
    # A caller already cancelled: send_log queues its message, raises the cancellation, and
    # the idle connected client still gets the message.
    manager = make_manager()
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await manager.send_log("job", "success", "done", finished=True)
    assert scope.cancelled_caught
    await anyio.wait_all_tasks_blocked()  # the drain may run in a task of its own
    assert manager.get_queued_message_count("job") == 0
    assert [m for _, m in logs(ws)] == ["done"]
