"""ORD-*, FLUSH-*: sequence numbers, delivery order, flush before live."""

from __future__ import annotations

import anyio
import pytest

from tasktail.fakes import FailOnSend, Gate, NeverAccepts

from .support import FakeWebSocket, logs, make_manager, seqs

pytestmark = pytest.mark.anyio


@pytest.mark.rule("ORD-1")
async def test_seq_counts_from_one_in_call_order():
    manager = make_manager()
    entries = [await manager.send_log("job", "info", f"m{n}") for n in range(5)]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert [e.seq for e in manager.message_queues["job"]] == [1, 2, 3, 4, 5]


@pytest.mark.rule("ORD-1")
async def test_seq_assigned_before_first_await():
    manager = make_manager()
    gate = Gate()
    await manager.connect(FakeWebSocket(behaviour=gate), "job")
    results = {}

    async def produce(name):
        results[name] = await manager.send_log("job", "info", name)

    async with anyio.create_task_group() as group:
        group.start_soon(produce, "first")
        await gate.wait_pending(1)  # "first" is blocked inside send_text
        # A coroutine that has not been awaited yet has no seq; starting it spends one at once.
        group.start_soon(produce, "second")
        await anyio.wait_all_tasks_blocked()
        assert manager.task_statistics("job").last_seq == 2
        gate.open()
    assert results["first"].seq == 1 and results["second"].seq == 2


@pytest.mark.rule("ORD-2")
async def test_concurrent_producers_delivered_in_seq_order():
    manager = make_manager()
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(manager.send_log, "job", "info", f"m{n}")
        await gate.wait_pending(1)
        # release the sends one at a time, in whatever order the lock hands them out
        for _ in range(20):
            await gate.wait_pending(1)
            gate.release(1)
    assert seqs(ws) == list(range(1, 21))
    assert ws.violations == []  # never two sends at once on one socket


@pytest.mark.rule("ORD-2")
async def test_live_order_after_contention():
    manager = make_manager()
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    await manager.send_log("job", "info", "a")
    await manager.send_log("job", "info", "b")  # began after "a" returned
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "c")
        group.start_soon(manager.send_log, "job", "info", "d")
    # "c" and "d" overlap, so either may start first (trio randomises who runs first);
    # whichever got the lower seq is delivered first.
    assert logs(ws)[:2] == [(1, "a"), (2, "b")]
    assert seqs(ws) == [1, 2, 3, 4] and {m for _, m in logs(ws)[2:]} == {"c", "d"}


@pytest.mark.rule("ORD-3")
async def test_no_duplicates_across_reconnects():
    manager = make_manager()
    first = FakeWebSocket(behaviour=FailOnSend(3))
    for n in range(2):
        await manager.send_log("job", "info", f"early{n}")
    await manager.connect(first, "job")
    for n in range(3):
        await manager.send_log("job", "info", f"live{n}")
    second = FakeWebSocket()
    await manager.connect(second, "job")
    await manager.send_log("job", "info", "last")
    delivered = seqs(first) + seqs(second)
    assert sorted(delivered) == delivered == [1, 2, 3, 4, 5, 6]


@pytest.mark.rule("FLUSH-1")
async def test_connect_flushes_queue_in_order():
    manager = make_manager()
    for n in range(5):
        await manager.send_log("job", "info", f"queued{n}")
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    assert logs(ws) == [(n + 1, f"queued{n}") for n in range(5)]
    assert manager.get_queued_message_count("job") == 0


@pytest.mark.rule("FLUSH-1")
async def test_send_during_flush_comes_after_flush():
    manager = make_manager()
    for n in range(3):
        await manager.send_log("job", "info", f"queued{n}")
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    async with anyio.create_task_group() as group:
        group.start_soon(manager.connect, ws, "job")
        await gate.wait_pending(1)  # the flush is writing queued0
        group.start_soon(manager.send_log, "job", "info", "live")
        await anyio.wait_all_tasks_blocked()
        gate.open()
    assert [m for _, m in logs(ws)] == ["queued0", "queued1", "queued2", "live"]


@pytest.mark.rule("FLUSH-2")
async def test_settled_connected_task_has_empty_queue():
    manager = make_manager(max_queue_size=3)
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(manager.send_log, "job", "info", f"m{n}")
        await gate.wait_pending(1)
        gate.open()
    assert manager.get_connection_status("job")
    assert manager.get_queued_message_count("job") == 0


@pytest.mark.rule("FLUSH-3")
async def test_accept_failure_registers_nothing():
    manager = make_manager()
    await manager.send_log("job", "info", "queued")

    class Refusing(FakeWebSocket):
        async def accept(self, *args, **kwargs):
            raise OSError("handshake failed")

    with pytest.raises(OSError):
        await manager.connect(Refusing(), "job")
    assert not manager.get_connection_status("job")
    assert manager.get_queued_message_count("job") == 1


@pytest.mark.rule("FLUSH-3")
async def test_accept_timeout_registers_nothing():
    manager = make_manager(send_timeout=2.0)
    await manager.send_log("job", "info", "queued")
    with anyio.fail_after(60):  # virtual time: the 2 s timeout fires at once
        with pytest.raises(TimeoutError):
            await manager.connect(FakeWebSocket(behaviour=NeverAccepts()), "job")
    assert not manager.get_connection_status("job")
    assert manager.get_queued_message_count("job") == 1
