"""Statistics of the Redis backend, counted in Redis by the scripts that change what they
count, so every process sees the same numbers (SPEC ``RDS-7``, ``GAP-2``, ``STAT-1``)."""

from __future__ import annotations

import dataclasses
from functools import partial

import anyio
import pytest

from tasktail.fakes import FailOnSend, FakeWebSocket
from tasktail.manager._stats import ManagerStatistics, TaskStatistics
from tasktail.redis import RedisConnectionManager

from .support import BOUND, eventually, frames

pytestmark = pytest.mark.anyio


def adds_up(s: ManagerStatistics) -> bool:
    return s.logged == s.delivered + s.queued + s.dropped + s.discarded


def task_adds_up(t: TaskStatistics) -> bool:
    return t.last_seq == t.delivered + t.queued + t.dropped


def counts(s: ManagerStatistics) -> dict:
    return {k: v for k, v in dataclasses.asdict(s).items() if k not in ("connections", "lock_waiters")}


@pytest.mark.rule("RDS-7")
async def test_statistics_are_counted_in_redis_and_agree_across_processes(redis_server):
    url = redis_server.url
    async with RedisConnectionManager(url, max_queue_size=3) as a, RedisConnectionManager(url, max_queue_size=3) as b:
        assert (await a.task_statistics("t")).known is False
        for i in range(1, 6):  # cap 3: seqs 1 and 2 are trimmed before any client had them
            await a.send_log("t", "info", f"m{i}")
        t = await b.task_statistics("t")  # another process sees what a appended
        assert (t.known, t.connected, t.last_seq, t.queued, t.dropped, t.delivered) == (True, False, 5, 3, 2, 0)
        assert t.gap_ranges == 1 and t.finished is False and t.epoch
        ws = FakeWebSocket()
        await b.connect(ws, "t")  # b's client gets the dropped notice, then 3..5
        await frames(ws, 4)
        t = await eventually(lambda: a.task_statistics("t"), lambda t: t.delivered == 3)
        assert (t.connected, t.queued, t.dropped, t.sent_through, t.gap_ranges, t.history) == (True, 0, 2, 5, 0, 3)

        await a.send_log("u", "info", "u1")  # discarded with its task
        a.disconnect("u")
        assert (await a.task_statistics("u")).known is False  # waits for the removal

        broken = FakeWebSocket(FailOnSend(1, RuntimeError("boom")))
        await b.connect(broken, "f")
        await a.send_log("f", "info", "f1")  # the send fails: counted, and f1 stays queued
        f = await eventually(lambda: a.task_statistics("f"), lambda f: f.failed_sends == 1)
        assert (f.queued, f.delivered, f.connected) == (1, 0, False)

        for i in range(1, 3):
            await a.send_log("r", "info", f"r{i}")
        await a.connect(FakeWebSocket(), "r", after_seq=2)  # the client has both: delivered
        r = await eventually(lambda: b.task_statistics("r"), lambda r: r.delivered == 2)
        assert (r.queued, r.dropped) == (0, 0)

        s = await eventually(a.statistics, lambda s: s.delivered == 5)
        assert counts(s) == {"tasks": 3, "queued": 1, "logged": 9, "dropped": 2, "delivered": 5,
                             "failed_sends": 1, "discarded": 1, "expired_tasks": 0}
        assert adds_up(s) and counts(await b.statistics()) == counts(s)  # one count for every process
        assert (s.connections, (await b.statistics()).connections) == (1, 1)  # each process's own clients
        for task_id in ("t", "f", "r"):
            assert task_adds_up(await a.task_statistics(task_id))
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.logged = 0  # type: ignore[misc]


@pytest.mark.rule("RDS-7")
async def test_a_frame_written_while_the_cap_trimmed_it_is_delivered_not_dropped(redis_server):
    from tasktail.fakes import Gate

    async with RedisConnectionManager(redis_server.url, max_queue_size=2) as manager:
        gate = Gate()
        ws = FakeWebSocket(gate)
        await manager.connect(ws, "t")
        await manager.send_log("t", "info", "m1")
        with anyio.fail_after(BOUND):
            await gate.wait_pending(1)
        for i in range(2, 5):  # m1, being written, is trimmed from the stream (counted dropped)
            await manager.send_log("t", "info", f"m{i}")
        assert (await manager.task_statistics("t")).dropped >= 1
        gate.open()
        await frames(ws, 2)
        t = await eventually(lambda: manager.task_statistics("t"), lambda t: t.queued == 0)
        assert task_adds_up(t) and t.last_seq == 4
        written = [f["seq"] for f in ws.client.json_frames() if f["type"] == "log"]
        assert t.delivered == len(written) and 1 in written and t.dropped == 4 - len(written)
        assert adds_up(await manager.statistics())



@pytest.mark.rule("RDS-7")
async def test_the_adapters_known_only_asks_redis_so_a_task_of_another_process_is_known(redis_server):
    from tasktail.manager.starlette import stream_task

    class QuerySocket(FakeWebSocket):
        query_params: dict = {}

    async with RedisConnectionManager(redis_server.url) as a, RedisConnectionManager(redis_server.url) as b:
        await a.send_log("known", "info", "hello")  # logged through another process's manager
        stranger = QuerySocket()
        with anyio.fail_after(BOUND):
            await stream_task(stranger, b, "made-up", known_only=True)
        assert stranger.client.close_code == 1008 and (await b.task_statistics("made-up")).known is False
        friend = QuerySocket()
        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as group:
                group.start_soon(partial(stream_task, friend, b, "known", known_only=True))
                got = await frames(friend, 1)
                friend.client.disconnect(1000)
        assert [f["message"] for f in got] == ["hello"]


@pytest.mark.rule("RDS-7")
@pytest.mark.parametrize("policy", ["reject-newest", "coalesce-progress"])
async def test_the_identities_hold_under_the_other_policies(redis_server, policy):
    # A policy's drops leave holes above `sent` (evicted entries, rejected seqs never
    # stored): counted dropped once, when they happen, never again when a client moves past.
    from tasktail.manager._policies import CoalesceProgress, RejectNewest

    overflow = RejectNewest() if policy == "reject-newest" else CoalesceProgress()
    async with RedisConnectionManager(redis_server.url, max_queue_size=3, overflow=overflow) as manager:
        for i in range(1, 7):
            await manager.send_log("t", "info", f"m{i}", progress=10.0 * i)  # progress-only: coalesced
        t = await manager.task_statistics("t")
        assert task_adds_up(t) and (t.last_seq, t.queued, t.dropped) == (6, 3, 3)
        assert t.gap_ranges == 1
        assert adds_up(await manager.statistics())
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        await manager.send_log("t", "success", "done", 100, True)
        t = await eventually(lambda: manager.task_statistics("t"), lambda t: t.delivered == 4)
        assert task_adds_up(t) and (t.queued, t.dropped, t.gap_ranges) == (0, 3, 0)
        s = await manager.statistics()
        assert adds_up(s) and (s.logged, s.delivered, s.dropped, s.queued) == (7, 4, 3, 0)


@pytest.mark.rule("RDS-7")
async def test_a_task_the_manager_expires_counts_its_queue_as_discarded(redis_server):
    from .test_redis_expiry import Clock

    clock = Clock()
    async with RedisConnectionManager(redis_server.url, task_ttl=80.0, clock=clock) as manager:
        await manager.send_log("idle", "info", "idle#0")
        await manager.send_log("idle", "info", "idle#1")
        clock.now += 100.0
        await manager.send_log("other", "info", "other#0")  # the sweep forgets "idle", queue and all
        assert (await manager.task_statistics("idle")).known is False
        s = await manager.statistics()
        assert adds_up(s) and (s.tasks, s.logged, s.queued, s.discarded, s.expired_tasks) == (1, 3, 1, 2, 1)
