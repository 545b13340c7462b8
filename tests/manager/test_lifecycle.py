"""DISC-*, REPL-*, ISO-*: disconnect, replacement and isolation between tasks."""

from __future__ import annotations

import anyio
import pytest

from tasktail import CloseCode
from tasktail.fakes import Gate

from .support import FakeWebSocket, WallClock, logs, make_manager, seqs

pytestmark = pytest.mark.anyio


@pytest.mark.rule("DISC-1")
async def test_disconnect_removes_everything_and_counts():
    manager = make_manager(history_size=5)
    ws = FakeWebSocket()
    connection = await manager.connect(ws, "job")
    await manager.send_log("job", "info", "delivered")
    await manager.send_log("other", "info", "queued elsewhere")
    manager.detach("job", ws)
    for n in range(3):
        await manager.send_log("job", "info", f"queued{n}")
    assert manager.disconnect("job") == 3
    assert not manager.get_connection_status("job")
    assert manager.get_queued_message_count("job") == 0
    for view in (manager.active_connections, manager.message_queues, manager.connection_locks):
        assert "job" not in view
    assert "other" in manager.message_queues
    assert manager.statistics().discarded == 3
    assert connection.ended


@pytest.mark.rule("DISC-1")
@pytest.mark.rule("CLOSE-1")
async def test_disconnect_is_idempotent():
    manager = make_manager()
    ws = FakeWebSocket()
    connection = await manager.connect(ws, "job")
    assert manager.disconnect("job") == 0
    assert manager.disconnect("job") == 0
    assert connection.ended and connection.close_code == CloseCode.SERVER_DISCONNECT == 4002
    assert manager.statistics().tasks == 0


@pytest.mark.rule("DISC-2")
async def test_disconnect_during_inflight_send():
    manager = make_manager()
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "in flight")
        await gate.wait_pending(1)
        group.start_soon(manager.send_log, "job", "info", "waiting for the lock")
        await anyio.wait_all_tasks_blocked()
        manager.disconnect("job")
        gate.open()
    assert seqs(ws) == [1]  # nothing after the in-flight frame
    assert "job" not in manager.message_queues and "job" not in manager.connection_locks
    assert manager.statistics().tasks == 0  # no entry resurrected
    stats = manager.statistics()
    assert stats.logged == stats.delivered + stats.queued + stats.dropped + stats.discarded


@pytest.mark.rule("DISC-2")
async def test_disconnect_during_flush():
    manager = make_manager()
    for n in range(4):
        await manager.send_log("job", "info", f"q{n}")
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    async with anyio.create_task_group() as group:
        group.start_soon(manager.connect, ws, "job")
        await gate.wait_pending(1)
        manager.disconnect("job")
        gate.open()
    assert seqs(ws) == [1]
    assert manager.statistics().tasks == 0
    assert manager.statistics().discarded == 3


@pytest.mark.rule("DISC-3")
async def test_send_after_disconnect_starts_fresh():
    manager = make_manager()
    await manager.send_log("job", "info", "old")
    manager.disconnect("job")
    entry = await manager.send_log("job", "info", "new")
    assert entry.seq == 1 and [m.message for m in manager.message_queues["job"]] == ["new"]


@pytest.mark.rule("REPL-1")
@pytest.mark.rule("CLOSE-1")
async def test_second_connect_replaces_first():
    manager = make_manager()
    first, second = FakeWebSocket(), FakeWebSocket()
    old = await manager.connect(first, "job")
    await manager.send_log("job", "info", "to first")
    await manager.connect(second, "job")
    await manager.send_log("job", "info", "to second")
    assert logs(first) == [(1, "to first")] and logs(second) == [(2, "to second")]
    assert first.close_code == CloseCode.REPLACED == 4000 and old.ended
    assert manager.active_connections["job"] is second
    assert first.violations == [] and second.violations == []


@pytest.mark.rule("REPL-1")
async def test_replacement_waits_for_inflight_send():
    manager = make_manager()
    gate = Gate()
    first, second = FakeWebSocket(behaviour=gate), FakeWebSocket()
    await manager.connect(first, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "in flight on first")
        await gate.wait_pending(1)
        group.start_soon(manager.connect, second, "job")
        await anyio.wait_all_tasks_blocked()
        assert first.close_code is None  # not closed under a send in progress
        gate.open()
    assert seqs(first) == [1] and seqs(second) == []
    assert first.close_code == CloseCode.REPLACED
    assert first.violations == []


@pytest.mark.rule("REPL-2")
async def test_stale_detach_is_a_no_op():
    manager = make_manager()
    first, second = FakeWebSocket(), FakeWebSocket()
    await manager.connect(first, "job")
    await manager.connect(second, "job")
    assert manager.detach("job", first) is False  # the replaced endpoint's cleanup
    assert manager.active_connections["job"] is second
    assert manager.detach("job", second) is True
    assert not manager.get_connection_status("job")


@pytest.mark.rule("REPL-2")
async def test_detach_keeps_queue():
    manager = make_manager()
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    manager.detach("job", ws)
    await manager.send_log("job", "info", "for the next client")
    assert manager.get_queued_message_count("job") == 1
    assert manager.task_statistics("job").known


@pytest.mark.rule("ISO-1")
async def test_stalled_client_does_not_delay_other_tasks():
    manager = make_manager(send_timeout=1000.0)
    stalled = Gate()
    await manager.connect(FakeWebSocket(behaviour=stalled), "slow")
    fast = FakeWebSocket()
    await manager.connect(fast, "fast")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "slow", "info", "stuck")
        await stalled.wait_pending(1)
        # Waiting on the stalled socket would take send_timeout (1000 s): far past this guard.
        with anyio.fail_after(1):
            for n in range(10):
                await manager.send_log("fast", "info", f"m{n}")
            await manager.connect(FakeWebSocket(), "third")
            manager.disconnect("third")
        assert stalled.pending == 1  # still stuck the whole time
        stalled.open()
    assert seqs(fast) == list(range(1, 11))


@pytest.mark.rule("ISO-1")
async def test_tasks_have_independent_seqs():
    manager = make_manager(max_queue_size=2)
    for n in range(3):
        await manager.send_log("a", "info", f"a{n}")
    b = await manager.send_log("b", "info", "b0")
    assert b.seq == 1
    assert manager.task_statistics("a").dropped == 1 and manager.task_statistics("b").dropped == 0


class StallingClose(FakeWebSocket):
    """A client whose close handshake hangs until ``release`` is set (or forever)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.closing = anyio.Event()
        self.release = anyio.Event()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closing.set()
        await self.release.wait()
        await super().close(code, reason)


@pytest.mark.rule("FLUSH-1")
@pytest.mark.rule("MEM-3")
@pytest.mark.rule("CANC-2")
@pytest.mark.parametrize("close", ["finishes", "hangs"])
async def test_connect_cancelled_while_closing_the_replaced_client(close):
    # Issue 9: cancelled during the replaced client's close, connect left the new socket
    # attached but never flushed, and the task could no longer expire.
    clock = WallClock()
    manager = make_manager(task_ttl=60, clock=clock, close_timeout=2.0)
    first = StallingClose()
    await manager.connect(first, "job")
    await manager.send_log("job", "info", "sent to first")
    second = FakeWebSocket()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            scope = anyio.CancelScope()

            async def connect_second():
                with scope:
                    await manager.connect(second, "job")

            group.start_soon(connect_second)
            await first.closing.wait()
            group.start_soon(manager.send_log, "job", "info", "queued behind the connect")
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
            if close == "finishes":
                first.release.set()
            # "hangs": close_timeout (2 s of virtual time) ends the shielded close
    assert scope.cancelled_caught
    assert not manager.get_connection_status("job")  # not attached-but-unflushed
    assert second.close_code == CloseCode.GOING_AWAY and second.texts() == []
    assert [m.message for m in manager.message_queues["job"]] == ["queued behind the connect"]
    clock.advance(61)
    await manager.send_log("other", "info", "sweeps")
    assert not manager.task_statistics("job").known  # the task can expire again
