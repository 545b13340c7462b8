"""RES-*: replay kept history after a client's last seen seq."""

from __future__ import annotations

import pytest

from .support import FakeWebSocket, gaps, logs, make_manager, seqs

pytestmark = pytest.mark.anyio


async def deliver(manager, count, task_id="job"):
    ws = FakeWebSocket()
    await manager.connect(ws, task_id)
    for n in range(count):
        await manager.send_log(task_id, "info", f"m{n + 1}")
    manager.detach(task_id, ws)
    return ws


@pytest.mark.rule("RES-1")
async def test_resume_replays_history_after_seq():
    manager = make_manager(history_size=10)
    await deliver(manager, 6)
    await manager.send_log("job", "info", "queued while away")
    ws = FakeWebSocket()
    await manager.connect(ws, "job", after_seq=4)
    await manager.send_log("job", "info", "live")
    assert logs(ws) == [(5, "m5"), (6, "m6"), (7, "queued while away"), (8, "live")]
    assert gaps(ws) == []


@pytest.mark.rule("RES-1")
@pytest.mark.rule("ORD-3")
async def test_resume_skips_queued_messages_the_client_has():
    # The client saw seq 3 just before its send was reported failed: seq 3 is back in the
    # queue, and resuming after it must not deliver it twice.
    manager = make_manager(history_size=10)
    for n in range(4):
        await manager.send_log("job", "info", f"m{n + 1}")
    ws = FakeWebSocket()
    await manager.connect(ws, "job", after_seq=3)
    assert seqs(ws) == [4]
    stats = manager.task_statistics("job")
    assert stats.last_seq == stats.delivered + stats.queued + stats.dropped


@pytest.mark.rule("RES-1")
async def test_resume_replays_dropped_notices_in_order():
    manager = make_manager(history_size=10, max_queue_size=2)
    for n in range(5):
        await manager.send_log("job", "info", f"m{n + 1}")
    first = FakeWebSocket()
    await manager.connect(first, "job")
    manager.detach("job", first)
    again = FakeWebSocket()
    await manager.connect(again, "job", after_seq=0)
    assert [f["type"] for f in map(__import__("json").loads, again.texts())] == ["gap", "log", "log"]
    assert gaps(again) == [(1, 3, "dropped")] and seqs(again) == [4, 5]


@pytest.mark.rule("RES-2")
async def test_resume_beyond_history_gets_expired_notice():
    manager = make_manager(history_size=3)
    await deliver(manager, 8)
    ws = FakeWebSocket()
    await manager.connect(ws, "job", after_seq=2)
    assert gaps(ws) == [(3, 5, "expired")]
    assert seqs(ws) == [6, 7, 8]
    assert ws.texts()[0].startswith('{"type":"gap"')  # told first


@pytest.mark.rule("RES-2")
async def test_resume_without_history():
    manager = make_manager()  # history_size=0: the seed's behaviour
    await deliver(manager, 3)
    await manager.send_log("job", "info", "queued")
    ws = FakeWebSocket()
    await manager.connect(ws, "job", after_seq=1)
    assert gaps(ws) == [(2, 3, "expired")] and seqs(ws) == [4]
    assert manager.task_statistics("job").history == 0


@pytest.mark.rule("RES-3")
async def test_resume_point_beyond_last_seq_is_rejected():
    manager = make_manager(history_size=3)
    await manager.send_log("job", "info", "only one")
    ws = FakeWebSocket()
    with pytest.raises(ValueError, match=r"after_seq=5 .*0\.\.1"):
        await manager.connect(ws, "job", after_seq=5)
    assert not ws.client.accepted and manager.get_queued_message_count("job") == 1
    with pytest.raises(ValueError, match="after_seq=1"):
        await manager.connect(FakeWebSocket(), "unknown", after_seq=1)
    assert not manager.task_statistics("unknown").known
