"""Cancellation against the Redis backend: a cancelled ``send_log`` still appends (the round
trip is shielded and bounded), and a cancelled ``connect`` records what it wrote (SPEC
``RDS-3``, ``RDS-5``; ``FAIL-3``, ``CANC-1``)."""

from __future__ import annotations

import anyio
import pytest

from tasktail.fakes import FakeWebSocket
from tasktail.redis import RedisConnectionManager

from .support import BOUND, eventually, frames

pytestmark = pytest.mark.anyio


@pytest.mark.rule("RDS-5")
async def test_a_cancelled_send_log_still_appends_and_then_raises(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        with anyio.CancelScope() as scope:
            scope.cancel()  # cancelled before the call: the message is appended, then it raises
            await manager.send_log("t", "info", "cancelled on entry")
            raise AssertionError("send_log returned to a cancelled caller")  # pragma: no cover
        assert scope.cancelled_caught
        done = anyio.Event()

        async def produce(scope: anyio.CancelScope) -> None:
            with scope:
                await manager.send_log("t", "info", "cancelled during the round trip")
            done.set()

        during = anyio.CancelScope()
        async with anyio.create_task_group() as group:
            group.start_soon(produce, during)
            await anyio.lowlevel.checkpoint()  # the append is on its way (or not begun: it appends either way)
            during.cancel()
        assert done.is_set()
        got = await frames(ws, 2)
        assert [f["message"] for f in got] == ["cancelled on entry", "cancelled during the round trip"]
        assert [f["seq"] for f in got] == [1, 2]
        t = await eventually(lambda: manager.task_statistics("t"), lambda t: t.delivered == 2)
        assert (t.last_seq, t.queued) == (2, 0)


@pytest.mark.rule("RDS-3")
async def test_a_connect_cancelled_mid_flush_records_what_it_wrote(redis_server):
    from tasktail.fakes import Gate

    async with RedisConnectionManager(redis_server.url) as manager:
        for i in range(1, 4):
            await manager.send_log("t", "info", f"m{i}")
        gate = Gate()
        ws = FakeWebSocket(gate)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(manager.connect, ws, "t")
                with anyio.fail_after(BOUND):
                    await gate.wait_pending(1)
                gate.release(1)  # m1 is written; the connect is cancelled while m2 waits
                await gate.wait_pending(1)
                scope.cancel()
        assert ws.client.close_code == 1001 and [f["message"] for f in ws.client.json_frames()] == ["m1"]
        assert await manager.get_connection_status("t") is False
        again = FakeWebSocket()
        await manager.connect(again, "t")  # m1 was recorded: not sent twice; m2 stayed queued
        assert [f["message"] for f in again.client.json_frames()] == ["m2", "m3"]
        t = await manager.task_statistics("t")
        assert (t.delivered, t.queued, t.dropped) == (3, 0, 0)
