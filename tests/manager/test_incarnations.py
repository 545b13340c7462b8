"""RES-4, WIRE-4: task incarnations. A resume point never applies to another incarnation."""

from __future__ import annotations

import anyio
import pytest

from tasktail.fakes import Hook

from .support import FakeWebSocket, frames, logs, make_manager, seqs

pytestmark = pytest.mark.anyio


def stalled_accept():
    """A socket whose accept waits until the returned event is set."""
    go = anyio.Event()
    return FakeWebSocket(behaviour=Hook(accept=lambda ws: go.wait())), go


async def deliver(manager, count, task_id="job"):
    ws = FakeWebSocket()
    await manager.connect(ws, task_id)
    for n in range(count):
        await manager.send_log(task_id, "info", f"old{n + 1}")
    manager.detach(task_id, ws)


@pytest.mark.rule("RES-4")
@pytest.mark.rule("WIRE-4")
@pytest.mark.parametrize("history_size", [0, 10])
async def test_resume_point_of_an_earlier_incarnation_is_not_applied(history_size):
    # Issue 9: connect(ws, id, after_seq=5) in progress while the task is disconnected and
    # started again: the new task's seqs 1..5 were counted delivered and never sent.
    manager = make_manager(history_size=history_size)
    await deliver(manager, 5)
    old_epoch = manager.task_statistics("job").epoch
    ws, go = stalled_accept()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(manager.connect, ws, "job", 5)
            await anyio.wait_all_tasks_blocked()
            manager.disconnect("job")
            for n in range(6):
                await manager.send_log("job", "info", f"new{n + 1}")
            go.set()
    first = frames(ws)[0]
    new_epoch = manager.task_statistics("job").epoch
    assert first == {"type": "reset", "task_id": "job", "epoch": new_epoch, "last_seq": 6,
                     "stale_epoch": old_epoch}
    assert new_epoch != old_epoch
    assert logs(ws) == [(n, f"new{n}") for n in range(1, 7)]
    stats = manager.task_statistics("job")
    assert stats.delivered == 6 and stats.last_seq == stats.delivered + stats.queued + stats.dropped


@pytest.mark.rule("RES-4")
@pytest.mark.rule("WIRE-4")
async def test_hello_frame_and_resume_within_one_incarnation():
    manager = make_manager(history_size=10)
    ws = FakeWebSocket()
    connection = await manager.connect(ws, "job", epoch="")
    epoch = manager.task_statistics("job").epoch
    assert connection.epoch == epoch and isinstance(epoch, str) and epoch
    for n in range(3):
        await manager.send_log("job", "info", f"m{n + 1}")
    assert ws.texts()[0] == f'{{"type":"hello","task_id":"job","epoch":"{epoch}","last_seq":0}}'
    manager.detach("job", ws)
    again = FakeWebSocket()
    await manager.connect(again, "job", after_seq=2, epoch=epoch)
    assert frames(again)[0] == {"type": "hello", "task_id": "job", "epoch": epoch, "last_seq": 3}
    assert seqs(again) == [3]
    plain = FakeWebSocket()
    await manager.connect(plain, "job", after_seq=3)  # no epoch: no hello frame (as before)
    assert plain.texts() == []


@pytest.mark.rule("RES-4")
async def test_stale_epoch_gets_reset_and_the_new_incarnation_from_its_start():
    manager = make_manager(history_size=10)
    await deliver(manager, 4)
    stale = manager.task_statistics("job").epoch
    manager.disconnect("job")
    await deliver(manager, 2)  # the new incarnation delivered seqs 1..2 to someone else
    await manager.send_log("job", "info", "queued")
    ws = FakeWebSocket()
    # after_seq=4 is beyond the new incarnation's last seq (3): not an error, a mismatch
    await manager.connect(ws, "job", after_seq=4, epoch=stale)
    current = manager.task_statistics("job").epoch
    assert frames(ws)[0] == {"type": "reset", "task_id": "job", "epoch": current, "last_seq": 3,
                             "stale_epoch": stale}
    assert logs(ws) == [(1, "old1"), (2, "old2"), (3, "queued")]  # from its start (history)


@pytest.mark.rule("RES-4")
async def test_epochs_are_unique_per_incarnation_and_per_manager():
    first, second = make_manager(), make_manager()
    seen = set()
    for manager in (first, second):
        for _ in range(3):
            await manager.send_log("job", "info", "x")
            seen.add(manager.task_statistics("job").epoch)
            manager.disconnect("job")
    assert len(seen) == 6
    assert manager.task_statistics("job").epoch == ""  # unknown task


@pytest.mark.rule("RES-4")
@pytest.mark.rule("VAL-2")
@pytest.mark.parametrize(("epoch", "error"), [(5, TypeError), (b"e", TypeError), ("x" * 65, ValueError),
                                              ("é", ValueError), ("a\nb", ValueError)])
async def test_bad_epoch_changes_nothing(epoch, error):
    manager = make_manager()
    await manager.send_log("job", "info", "queued")
    ws = FakeWebSocket()
    with pytest.raises(error, match="epoch"):
        await manager.connect(ws, "job", epoch=epoch)
    assert not ws.client.accepted and manager.get_queued_message_count("job") == 1
