"""STAT-1: frozen statistics snapshots."""

from __future__ import annotations

import dataclasses

import anyio
import pytest

from tasktail.fakes import Gate

from .support import FakeWebSocket, make_manager

pytestmark = pytest.mark.anyio


@pytest.mark.rule("STAT-1")
async def test_statistics_are_frozen_snapshots():
    manager = make_manager(max_queue_size=2)
    for n in range(3):
        await manager.send_log("job", "info", f"m{n}")
    total, task = manager.statistics(), manager.task_statistics("job")
    assert (total.tasks, total.queued, total.logged, total.dropped) == (1, 2, 3, 1)
    assert (task.known, task.queued, task.last_seq, task.dropped, task.connected) == (True, 2, 3, 1, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        total.queued = 0
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    assert total.queued == 2 and task.delivered == 0  # the old snapshots did not move
    after = manager.task_statistics("job")
    assert (after.connected, after.queued, after.delivered, after.sent_through) == (True, 0, 2, 3)


@pytest.mark.rule("STAT-1")
async def test_lock_waiters_are_counted():
    manager = make_manager()
    gate = Gate()
    await manager.connect(FakeWebSocket(behaviour=gate), "job")
    async with anyio.create_task_group() as group:
        for n in range(3):
            group.start_soon(manager.send_log, "job", "info", f"m{n}")
        await gate.wait_pending(1)
        await anyio.wait_all_tasks_blocked()
        assert manager.task_statistics("job").lock_waiters == 2
        assert manager.statistics().lock_waiters == 2
        gate.open()
    assert manager.statistics().lock_waiters == 0
