"""Choosing the backend, and why the conformance suite does not run against it."""

from __future__ import annotations

import time

import anyio
import pytest

from tasktail import ConnectionManager
from tasktail.fakes import FakeWebSocket, virtual_backend
from tasktail.redis import RedisConnectionManager, RedisProducer, RedisUnavailableError, open_manager

from .support import frames

SEED = ("connect", "disconnect", "send_log", "get_connection_status", "get_queued_message_count",
        "active_connections", "message_queues", "connection_locks")


@pytest.mark.anyio
@pytest.mark.rule("RDS-7")
async def test_the_backend_is_chosen_by_configuration(redis_server):
    async with open_manager() as in_memory:
        assert type(in_memory) is ConnectionManager
    async with open_manager(redis_server.url, max_queue_size=5) as manager:
        assert type(manager) is RedisConnectionManager
        assert all(hasattr(manager, name) for name in SEED)
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        assert set(manager.active_connections) == {"t"} and manager.active_connections["t"] is ws
        assert "t" in manager.connection_locks and manager.message_queues["t"] == ()
        assert (await manager.send_log("t", "info", "m")).seq == 1
        assert [f["message"] for f in await frames(ws, 1)] == ["m"]
        assert await manager.get_connection_status("t") is True
        assert await manager.get_connection_status("other") is False
        assert await manager.get_queued_message_count("other") == 0
    idle = RedisConnectionManager(redis_server.url)
    with pytest.raises(RuntimeError, match="not running"):
        await idle.send_log("t", "info", "m")
    with pytest.raises(RuntimeError, match="not running"):
        idle.disconnect("t")
    with pytest.raises(ValueError, match="meta_ttl"):
        RedisConnectionManager(redis_server.url, task_ttl=60, meta_ttl=30)
    with pytest.raises(TypeError, match="max_queue_size"):
        RedisConnectionManager(redis_server.url, max_queue_size=1.5)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_virtual_time_jumps_past_a_real_redis_round_trip(redis_server, backend):
    """Why ``check_connection_manager`` is not run against this backend (SPEC, Redis
    section): the suite runs on virtual time, which jumps to the next deadline as soon as
    the loop is idle; a task waiting for Redis's reply is idle, so every bound on a Redis
    call expires (in virtual time) before the reply comes (in real time)."""
    outcome: dict = {}

    async def main() -> None:
        async with RedisProducer(redis_server.url, unavailable_timeout=5.0) as producer:
            real = time.monotonic()
            try:
                for _ in range(1000):
                    await producer.send_log("t", "info", "x")
            except RedisUnavailableError:
                outcome["virtual"] = True
            outcome["real"] = time.monotonic() - real

    name, options = virtual_backend(backend)
    anyio.run(main, backend=name, backend_options=options)
    assert outcome.get("virtual") is True  # a healthy, local Redis "timed out"...
    assert outcome["real"] < 5.0  # ...long before 5 real seconds passed


def test_error_messages_never_show_the_password_of_a_redis_url():
    from tasktail.redis._common import shown_url

    assert shown_url("redis://:secret@localhost:6380/0") == "redis://:***@localhost:6380/0"
    assert shown_url("redis://user:secret@host/1") == "redis://user:***@host/1"
    assert shown_url("redis://localhost:6379") == "redis://localhost:6379"
