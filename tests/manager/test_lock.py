"""The per-task lock: FIFO hand-over, free uncontended acquire, cancellation safety."""

from __future__ import annotations

import anyio
import pytest

from tasktail.manager._lock import TaskLock

pytestmark = pytest.mark.anyio


async def test_waiters_get_the_lock_in_arrival_order():
    lock = TaskLock()
    order = []

    async def worker(name):
        async with lock:
            order.append(name)
            await anyio.sleep(1)

    await lock.acquire()
    async with anyio.create_task_group() as group:
        for name in "abc":
            group.start_soon(worker, name)
            await anyio.wait_all_tasks_blocked()  # fixes arrival order
        assert lock.statistics().tasks_waiting == 3
        lock.release()
    assert order == ["a", "b", "c"] and not lock.locked()


async def test_cancelled_waiter_passes_the_lock_on():
    lock = TaskLock()
    got = []
    await lock.acquire()
    async with anyio.create_task_group() as group:
        scope = anyio.CancelScope()

        async def cancelled():
            with scope:
                async with lock:
                    got.append("cancelled")  # it may win the race with its cancellation

        async def patient():
            async with lock:
                got.append("patient")

        group.start_soon(cancelled)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(patient)
        await anyio.wait_all_tasks_blocked()
        lock.release()  # handed to "cancelled" ...
        scope.cancel()  # ... which is cancelled before it runs, and must hand it on
    assert got[-1] == "patient" and not lock.locked() and lock.waiting() == 0


async def test_release_of_unheld_lock_raises():
    with pytest.raises(RuntimeError, match="not held"):
        TaskLock().release()
