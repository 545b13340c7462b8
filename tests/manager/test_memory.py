"""MEM-3, MEM-4: expiry by TTL on the injected clock, and max_tasks."""

from __future__ import annotations

import pytest

from tasktail import TaskLimitError

from .support import FakeWebSocket, WallClock, make_manager

pytestmark = pytest.mark.anyio


@pytest.mark.rule("MEM-3")
async def test_idle_task_expires_lazily():
    clock = WallClock(1_000_000.0, follow_loop=False)
    manager = make_manager(task_ttl=80.0, clock=clock)
    await manager.send_log("idle", "info", "nobody will come")
    await manager.send_log("idle", "info", "still nobody")
    clock.advance(79.0)
    await manager.send_log("busy", "info", "tick")
    assert manager.task_statistics("idle").known  # not yet idle for 80 s
    clock.advance(12.0)  # idle for 91 s; sweeps run at most every task_ttl / 8 = 10 s
    assert manager.task_statistics("idle").known  # queries do not sweep: expiry is lazy
    await manager.send_log("busy", "info", "tick")
    assert not manager.task_statistics("idle").known
    stats = manager.statistics()
    assert stats.expired_tasks == 1 and stats.discarded == 2 and stats.tasks == 1


@pytest.mark.rule("MEM-3")
async def test_connected_task_never_expires():
    clock = WallClock(1_000_000.0, follow_loop=False)
    manager = make_manager(task_ttl=10.0, clock=clock)
    ws = FakeWebSocket()
    await manager.connect(ws, "watched")
    clock.advance(1000.0)
    await manager.send_log("other", "info", "sweep now")
    assert manager.get_connection_status("watched")
    manager.detach("watched", ws)
    clock.advance(11.0)
    await manager.send_log("other", "info", "sweep again")
    assert not manager.task_statistics("watched").known


@pytest.mark.rule("MEM-4")
async def test_max_tasks_evicts_oldest_unconnected():
    manager = make_manager(max_tasks=3, task_ttl=None)
    await manager.connect(FakeWebSocket(), "a")
    await manager.send_log("b", "info", "b")
    await manager.send_log("c", "info", "c")
    await manager.send_log("d", "info", "d")
    assert set(manager.message_queues) == {"a", "c", "d"}
    assert manager.statistics().discarded == 1


@pytest.mark.rule("MEM-4")
async def test_max_tasks_all_connected_raises():
    manager = make_manager(max_tasks=2)
    await manager.connect(FakeWebSocket(), "a")
    await manager.connect(FakeWebSocket(), "b")
    before = manager.statistics()
    with pytest.raises(TaskLimitError, match="'c'.*max_tasks=2"):
        await manager.send_log("c", "info", "no room")
    assert manager.statistics() == before
    refused = FakeWebSocket()
    with pytest.raises(TaskLimitError):
        await manager.connect(refused, "c")
    assert refused.close_code == 1013 and manager.statistics() == before
