"""Expiry on the manager's clock and ``max_tasks`` on the Redis backend (SPEC ``RDS-6``,
``MEM-3``, ``MEM-4``), against a real redis-server, asyncio and trio. The clock is a plain
number the test moves: the manager judges idleness on it, never on Redis's real clock."""

from __future__ import annotations

import pytest
import redis as redis_py

from tasktail import TaskLimitError
from tasktail.fakes import FakeWebSocket
from tasktail.redis import RedisConnectionManager, RedisProducer
from tasktail.redis._common import Keys

from .support import frames

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self, now: float = 1_764_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def keys_of(url: str, task_id: str) -> list[str]:
    with redis_py.Redis.from_url(url, decode_responses=True) as r:
        return sorted(r.keys(f"tasktail:{{{task_id}}}:*"))


@pytest.mark.rule("RDS-6")
async def test_an_idle_task_expires_on_the_managers_clock_and_a_connected_one_does_not(redis_server):
    clock = Clock()
    async with RedisConnectionManager(redis_server.url, task_ttl=80.0, clock=clock) as manager:
        await manager.send_log("idle", "info", "idle#0")
        await manager.connect(FakeWebSocket(), "busy")
        clock.now += 79.0
        await manager.send_log("other", "info", "other#0")  # a sweep is due: nothing is idle 80 s yet
        assert keys_of(redis_server.url, "idle") != []
        clock.now += 1.0
        await manager.send_log("other", "info", "other#1")  # not due yet (task_ttl / 8 = 10 s)
        assert keys_of(redis_server.url, "idle") != []
        clock.now += 10.0
        await manager.send_log("other", "info", "other#2")  # due: "idle" goes, lazily
        assert keys_of(redis_server.url, "idle") == []
        assert await manager.get_connection_status("busy") is True  # a connected task never expires
        assert (await manager.get_connection_status("idle"), await manager.get_queued_message_count("idle")) == (
            False, 0)
        assert (await manager.send_log("idle", "info", "again")).seq == 1  # a new incarnation
    with redis_py.Redis.from_url(redis_server.url) as r:  # Redis's own TTLs stay the backstop
        assert 0 < r.pttl(Keys("tasktail", "other").log) <= 80_000


@pytest.mark.rule("RDS-6")
async def test_activity_of_another_producer_keeps_a_task(redis_server):
    clock = Clock()
    async with RedisConnectionManager(redis_server.url, task_ttl=80.0, clock=clock) as manager, \
            RedisProducer(redis_server.url, task_ttl=80.0, clock=clock) as elsewhere:
        await manager.send_log("t", "info", "t#0")
        clock.now += 70.0
        await elsewhere.send_log("t", "info", "t#1")  # activity recorded in Redis, not here
        clock.now += 20.0
        await manager.send_log("u", "info", "u#0")  # a sweep: "t" was active 20 s ago
        assert keys_of(redis_server.url, "t") != []


@pytest.mark.rule("RDS-6")
async def test_max_tasks_forgets_the_oldest_task_without_a_client(redis_server):
    async with RedisConnectionManager(redis_server.url, max_tasks=2) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "a")
        await manager.send_log("b", "info", "b#0")
        await manager.send_log("c", "info", "c#0")  # "a" has a client: "b" goes
        assert keys_of(redis_server.url, "b") == []
        assert await manager.get_queued_message_count("c") == 1
        await manager.send_log("a", "info", "a#0")
        assert [f["message"] for f in await frames(ws, 1)] == ["a#0"]


@pytest.mark.rule("RDS-6")
async def test_max_tasks_all_connected_raises_and_changes_nothing(redis_server):
    async with RedisConnectionManager(redis_server.url, max_tasks=1) as manager:
        await manager.connect(FakeWebSocket(), "a")
        with pytest.raises(TaskLimitError):
            await manager.send_log("b", "info", "b#0")
        refused = FakeWebSocket()
        with pytest.raises(TaskLimitError):
            await manager.connect(refused, "b")
        assert refused.client.accepted and refused.client.close_code == 1013
        with pytest.raises(ValueError):  # a bad call is refused as such, before the limit
            await manager.send_log("b", "loud", "b#0")
        assert keys_of(redis_server.url, "b") == []


@pytest.mark.rule("RDS-6")
async def test_task_ttl_none_keeps_every_key_without_a_ttl(redis_server):
    with pytest.raises(ValueError, match="meta_ttl=60 is not allowed with task_ttl=None"):
        RedisConnectionManager(redis_server.url, task_ttl=None, meta_ttl=60)
    async with RedisConnectionManager(redis_server.url, task_ttl=None) as manager:
        await manager.send_log("t", "info", "t#0")
        await manager.connect(FakeWebSocket(), "t")
        with redis_py.Redis.from_url(redis_server.url) as r:
            keys = Keys("tasktail", "t")
            assert (r.pttl(keys.meta), r.pttl(keys.log)) == (-1, -1)
            assert r.pttl(keys.owner) > 0  # the claim still expires with its process
