"""The Redis Streams backend against a real redis-server (SPEC ``RDS-*``), asyncio and trio."""

from __future__ import annotations

import multiprocessing
import time

import anyio
import pytest
import redis as redis_py

from tasktail import ConnectionManager, TaskFinishedError
from tasktail.fakes import FakeWebSocket
from tasktail.redis import RedisConnectionManager, RedisProducer, RedisUnavailableError, SyncRedisProducer
from tasktail.redis._common import Keys

from . import _workers
from .support import BOUND, frames, logs, wait_until

pytestmark = pytest.mark.anyio


def keys_of(url: str, task_id: str) -> list[bytes]:
    with redis_py.Redis.from_url(url) as r:
        return sorted(r.keys(f"tasktail:{{{task_id}}}:*"))


# -- RDS-1: one atomic append ---------------------------------------------------------------

@pytest.mark.rule("RDS-1")
async def test_append_assigns_seq_trims_exactly_and_reports_drops(redis_server):
    async with RedisProducer(redis_server.url, max_queue_size=3) as producer:
        results = [await producer.append("t", "info", f"m{i}") for i in range(1, 8)]
    assert [m.seq for m, _, _ in results] == list(range(1, 8))
    assert {epoch for _, epoch, _ in results} == {results[0][1]}
    assert [dropped for _, _, dropped in results] == [[], [], [], [1], [2], [3], [4]]
    with redis_py.Redis.from_url(redis_server.url, decode_responses=True) as r:
        keys = Keys("tasktail", "t")
        assert [entry_id for entry_id, _ in r.xrange(keys.log)] == ["5-0", "6-0", "7-0"]
        assert r.hget(keys.meta, "dropped") == "4"
        assert 0 < r.pttl(keys.log) <= 3600_000 < r.pttl(keys.meta)


@pytest.mark.rule("RDS-1")
async def test_bad_input_raises_what_send_log_raises_and_changes_nothing_in_redis(redis_server):
    reference = ConnectionManager()
    bad_calls = [
        ("", "info", "m"), (7, "info", "m"), ("t", "loud", "m"), ("t", "info", b"m"),
        ("t", "info", "m", 101), ("t", "info", "m", True), ("t", "info", "m", float("nan")),
        ("t", "info", "m", None, "yes"), ("t", "info", "\ud800"),
    ]
    async with RedisProducer(redis_server.url) as producer:
        for args in bad_calls:
            with pytest.raises(Exception) as expected:
                await reference.send_log(*args)
            with pytest.raises(type(expected.value)) as got:
                await producer.send_log(*args)
            assert str(got.value) == str(expected.value)
            with pytest.raises(type(expected.value)) as got_sync:
                SyncRedisProducer(redis_server.url).send_log(*args)
            assert str(got_sync.value) == str(expected.value)
    with redis_py.Redis.from_url(redis_server.url) as r:
        assert r.dbsize() == 0


@pytest.mark.rule("RDS-1")
async def test_finished_is_never_trimmed_and_is_final(redis_server):
    async with RedisProducer(redis_server.url, max_queue_size=1) as producer:
        for i in range(5):
            await producer.send_log("t", "info", f"m{i}")
        done = await producer.send_log("t", "success", "done", 100, True)
        with pytest.raises(TaskFinishedError):
            await producer.send_log("t", "info", "late")
    assert done.seq == 6
    async with RedisConnectionManager(redis_server.url, max_queue_size=1) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        got = await frames(ws, 2)
    assert got[0] == {"type": "gap", "task_id": "t", "first_seq": 1, "last_seq": 5, "count": 5, "reason": "dropped"}
    assert got[1]["seq"] == 6 and got[1]["finished"] is True and got[1]["progress"] == 100


# -- RDS-3: delivery ------------------------------------------------------------------------

@pytest.mark.rule("RDS-3")
async def test_flush_before_live_in_order(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        for i in range(1, 6):
            await manager.send_log("t", "info", f"m{i}", progress=i * 10)
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        assert [f["seq"] for f in ws.client.json_frames()] == [1, 2, 3, 4, 5]  # flushed before connect returned
        for i in range(6, 11):
            await manager.send_log("t", "info", f"m{i}", progress=5.5)
        got = await frames(ws, 10)
    assert [f["seq"] for f in got] == list(range(1, 11))
    assert [f["message"] for f in got] == [f"m{i}" for i in range(1, 11)]
    assert got[0]["progress"] == 10 and got[9]["progress"] == 5.5


@pytest.mark.rule("RDS-3")
async def test_exact_gap_count_after_trimming(redis_server):
    async with RedisConnectionManager(redis_server.url, max_queue_size=3) as manager:
        for i in range(1, 11):
            await manager.send_log("t", "info", f"m{i}")
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        got = await frames(ws, 4)
        assert got[0] == {"type": "gap", "task_id": "t", "first_seq": 1, "last_seq": 7, "count": 7,
                          "reason": "dropped"}
        assert [f["seq"] for f in got[1:]] == [8, 9, 10]
        assert await manager.get_queued_message_count("t") == 0
        assert await manager.get_connection_status("t") is True


@pytest.mark.rule("RDS-3")
async def test_one_reader_serves_many_sockets(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        sockets = {f"t{i}": FakeWebSocket() for i in range(20)}
        for task_id, ws in sockets.items():
            await manager.connect(ws, task_id)
        for round_ in range(3):
            for task_id in sockets:
                await manager.send_log(task_id, "info", f"{task_id}/{round_}")
        for task_id, ws in sockets.items():
            got = await frames(ws, 3)
            assert [f["message"] for f in got] == [f"{task_id}/{r}" for r in range(3)]
        with redis_py.Redis.from_url(redis_server.url) as r:
            def readers() -> int:
                return sum(c["cmd"] == "xread" for c in r.client_list())
            await wait_until(lambda: readers() == 1)  # the one reader, blocked in XREAD
            for ws in sockets.values():
                assert ws.client.close_code is None


# -- RDS-2: incarnations -------------------------------------------------------------------

@pytest.mark.rule("RDS-2")
async def test_resume_within_an_incarnation(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t", epoch="")
        for i in range(1, 4):
            await manager.send_log("t", "info", f"m{i}")
        hello, *_ = await frames(ws, 4)
        assert hello["type"] == "hello" and hello["last_seq"] == 0
        manager.detach("t", ws)
        await wait_until(lambda: "t" not in manager.active_connections)
        await manager.send_log("t", "info", "m4")
        again = FakeWebSocket()
        await manager.connect(again, "t", after_seq=3, epoch=hello["epoch"])
        got = await frames(again, 2)
    assert got[0] == {"type": "hello", "task_id": "t", "epoch": hello["epoch"], "last_seq": 4}
    assert got[1]["seq"] == 4


@pytest.mark.rule("RDS-2")
async def test_restart_without_persistence_tells_the_client_the_epoch_changed(redis_server, anyio_backend):
    async with RedisConnectionManager(redis_server.url, claim_ttl=1.0, unavailable_timeout=2.0) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t", epoch="")
        for i in range(1, 4):
            await manager.send_log("t", "info", f"old{i}")
        hello = (await frames(ws, 4))[0]
        redis_server.kill()
        redis_server.start()  # same port, empty: the task is gone
        with SyncRedisProducer(redis_server.url, unavailable_timeout=5) as producer:
            producer.send_log("t", "info", "new1")
        await wait_until(lambda: any(f["type"] == "reset" for f in ws.client.json_frames()))
        await wait_until(lambda: any(f.get("message") == "new1" for f in ws.client.json_frames()))
        got = ws.client.json_frames()
    after = got[4:]
    reset = after[0]
    assert reset["type"] == "reset" and reset["stale_epoch"] == hello["epoch"] and reset["epoch"] != hello["epoch"]
    assert [f["message"] for f in logs(after)] == ["new1"] and logs(after)[0]["seq"] == 1
    assert not [f for f in after if f["type"] == "log" and f["message"].startswith("old")]


@pytest.mark.rule("RDS-2")
async def test_aof_restart_resumes_with_nothing_lost(redis_server_aof):
    server = redis_server_aof
    async with RedisConnectionManager(server.url, claim_ttl=1.0, unavailable_timeout=2.0) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t", epoch="")
        for i in range(1, 6):
            await manager.send_log("t", "info", f"m{i}")
        await frames(ws, 6)
        server.kill()
        server.start()  # replays the AOF: every acknowledged write is back
        with SyncRedisProducer(server.url, unavailable_timeout=5) as producer:
            for i in range(6, 11):
                producer.send_log("t", "info", f"m{i}")
        got = await frames(ws, 11)
    assert got[0]["type"] == "hello"
    assert [f["type"] for f in got[1:]] == ["log"] * 10
    assert [f["seq"] for f in got[1:]] == list(range(1, 11))


# -- RDS-4: one client per task across processes --------------------------------------------

@pytest.mark.rule("RDS-4")
async def test_a_client_on_another_process_replaces_the_first_with_4000(redis_server):
    async with (RedisConnectionManager(redis_server.url) as first_process,
                RedisConnectionManager(redis_server.url) as second_process):
        first, second = FakeWebSocket(), FakeWebSocket()
        await first_process.connect(first, "t")
        await first_process.send_log("t", "info", "m1")
        await frames(first, 1)
        with anyio.fail_after(BOUND):  # m1 recorded as sent: before that, a takeover resends it (SPEC 14)
            while await first_process.get_queued_message_count("t"):
                await anyio.sleep(0.005)
        await second_process.connect(second, "t")
        await wait_until(lambda: first.client.close_code is not None)
        assert first.client.close_code == 4000
        await first_process.send_log("t", "info", "m2")  # a producer anywhere
        got = await frames(second, 1)
        assert [f["message"] for f in got] == ["m2"]  # m1 went to the first client only
        assert [f["message"] for f in first.client.json_frames()] == ["m1"]
        assert "t" not in first_process.active_connections and "t" in second_process.active_connections


@pytest.mark.rule("RDS-4")
async def test_a_crashed_owners_claim_expires(redis_server):
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=_workers.hold_a_client, args=(redis_server.url, "t", 1.0, ready))
    process.start()
    try:
        assert await anyio.to_thread.run_sync(ready.wait, BOUND)
        async with RedisConnectionManager(redis_server.url) as manager:
            assert await manager.get_connection_status("t") is True
            process.kill()  # a crash: nothing is released
            process.join(BOUND)
            killed_at = time.monotonic()
            with anyio.fail_after(BOUND):
                while await manager.get_connection_status("t"):
                    await anyio.sleep(0.02)
            assert time.monotonic() - killed_at <= 1.0 + 1.0  # claim_ttl, and slack for a busy machine
            await manager.send_log("t", "info", "after the crash")  # kept for the next client
            ws = FakeWebSocket()
            await manager.connect(ws, "t")
            assert [f["message"] for f in await frames(ws, 1)] == ["after the crash"]
    finally:
        process.kill()
        process.join(BOUND)


# -- RDS-5: producers anywhere --------------------------------------------------------------

@pytest.mark.rule("RDS-5")
async def test_producers_in_separate_processes_every_message_once_in_order(redis_server):
    context = multiprocessing.get_context("spawn")
    gate = context.Event()
    workers = [context.Process(target=_workers.produce, args=(redis_server.url, "t", f"w{n}", 200, gate))
               for n in range(3)]
    async with RedisConnectionManager(redis_server.url, max_queue_size=10_000) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        for worker in workers:
            worker.start()
        gate.set()
        try:
            got = await frames(ws, 600, bound=60)
        finally:
            for worker in workers:
                worker.join(BOUND)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert [f["seq"] for f in got] == list(range(1, 601))
    texts = [f["message"] for f in got]
    assert len(set(texts)) == 600
    for n in range(3):
        assert [t for t in texts if t.startswith(f"w{n}#")] == [f"w{n}#{i}" for i in range(200)]


@pytest.mark.rule("RDS-5")
async def test_producers_get_a_bounded_error_while_redis_is_down(redis_server):
    async with RedisProducer(redis_server.url, unavailable_timeout=0.5) as producer:
        await producer.send_log("t", "info", "before")
        redis_server.kill()
        started = time.monotonic()
        with pytest.raises(RedisUnavailableError, match="Redis unavailable"):
            await producer.send_log("t", "info", "while down")
        assert 0.4 <= time.monotonic() - started < 3.0
        sync = SyncRedisProducer(redis_server.url, unavailable_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(RedisUnavailableError, match="Redis unavailable"):
            sync.send_log("t", "info", "while down")
        assert 0.4 <= time.monotonic() - started < 3.0
        redis_server.start()
        assert (await producer.send_log("t", "info", "after")).seq == 1  # no persistence: a new incarnation
        assert sync.send_log("t", "info", "after").seq == 2
        sync.close()


# -- RDS-6: TTL and cleanup -----------------------------------------------------------------

@pytest.mark.rule("RDS-6")
async def test_disconnect_removes_the_keys_and_closes_with_4002(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        await manager.send_log("t", "info", "m1")
        await frames(ws, 1)
        assert keys_of(redis_server.url, "t") != []
        assert manager.disconnect("t") == 0
        await manager.send_log("t", "info", "fresh")  # after the removal: a new incarnation
        await wait_until(lambda: ws.client.close_code is not None)
        assert ws.client.close_code == 4002
        with redis_py.Redis.from_url(redis_server.url, decode_responses=True) as r:
            assert [i for i, _ in r.xrange(Keys("tasktail", "t").log)] == ["1-0"]
            assert r.exists(Keys("tasktail", "t").owner) == 0


@pytest.mark.rule("RDS-6")
async def test_ttls_are_refreshed_by_activity(redis_server):
    async with RedisProducer(redis_server.url, task_ttl=60, meta_ttl=600) as producer:
        await producer.send_log("t", "info", "m1")
        with redis_py.Redis.from_url(redis_server.url) as r:
            keys = Keys("tasktail", "t")
            r.pexpire(keys.log, 1000)
            r.pexpire(keys.meta, 1000)
            await producer.send_log("t", "info", "m2")
            assert 59_000 < r.pttl(keys.log) <= 60_000
            assert 599_000 < r.pttl(keys.meta) <= 600_000


# -- more of the same rules -----------------------------------------------------------------

@pytest.mark.rule("RDS-4")
async def test_a_second_client_in_the_same_process_replaces_the_first(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        first, second = FakeWebSocket(), FakeWebSocket()
        await manager.connect(first, "t")
        await manager.connect(second, "t")
        assert first.client.close_code == 4000  # closed before the second connect returned
        await manager.send_log("t", "info", "m1")
        assert [f["message"] for f in await frames(second, 1)] == ["m1"]
        assert first.client.json_frames() == []


@pytest.mark.rule("RDS-2")
async def test_a_stale_epoch_gets_a_reset_frame_and_the_incarnation_from_its_start(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        for i in range(1, 4):
            await manager.send_log("t", "info", f"m{i}")
        ws = FakeWebSocket()
        await manager.connect(ws, "t", after_seq=2, epoch="r0000000000000000")
        got = await frames(ws, 4)
    assert got[0]["type"] == "reset" and got[0]["stale_epoch"] == "r0000000000000000"
    assert got[0]["last_seq"] == 3 and got[0]["epoch"] != "r0000000000000000"
    assert [f["seq"] for f in got[1:]] == [1, 2, 3]  # after_seq=2 belonged to another incarnation


@pytest.mark.rule("RDS-2")
async def test_resume_point_beyond_the_last_seq_is_refused_before_accept(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        await manager.send_log("t", "info", "m1")
        ws = FakeWebSocket()
        with pytest.raises(ValueError, match="after_seq=5 is beyond the last seq"):
            await manager.connect(ws, "t", after_seq=5)
        assert not ws.client.accepted


@pytest.mark.rule("RDS-3")
async def test_resume_below_what_is_kept_is_told_expired_then_dropped(redis_server):
    async with RedisConnectionManager(redis_server.url, max_queue_size=3) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        for i in range(1, 5):
            await manager.send_log("t", "info", f"m{i}")
        await frames(ws, 4)  # 1..4 delivered; the stream keeps 2..4
        manager.detach("t", ws)
        await wait_until(lambda: "t" not in manager.active_connections)
        for i in range(5, 9):
            await manager.send_log("t", "info", f"m{i}")  # 5..8 queued, 5 trimmed undelivered
        again = FakeWebSocket()
        await manager.connect(again, "t", after_seq=1)
        got = await frames(again, 5)
    assert got[0] == {"type": "gap", "task_id": "t", "first_seq": 2, "last_seq": 4, "count": 3, "reason": "expired"}
    assert got[1] == {"type": "gap", "task_id": "t", "first_seq": 5, "last_seq": 5, "count": 1, "reason": "dropped"}
    assert [f["seq"] for f in got[2:]] == [6, 7, 8]


@pytest.mark.rule("RDS-5")
async def test_sync_producer_from_worker_threads(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        with SyncRedisProducer(redis_server.url) as producer:
            async with anyio.create_task_group() as group:
                for n in range(4):
                    def work(n=n) -> None:
                        for i in range(25):
                            producer.send_log("t", "debug", f"th{n}#{i}")
                    group.start_soon(anyio.to_thread.run_sync, work)
        got = await frames(ws, 100)
    assert [f["seq"] for f in got] == list(range(1, 101))
    texts = [f["message"] for f in got]
    for n in range(4):
        assert [t for t in texts if t.startswith(f"th{n}#")] == [f"th{n}#{i}" for i in range(25)]


@pytest.mark.rule("RDS-5")
async def test_connect_while_redis_is_down_fails_in_bounded_time_and_closes_1013(redis_server):
    async with RedisConnectionManager(redis_server.url, unavailable_timeout=0.5) as manager:
        redis_server.kill()
        ws = FakeWebSocket()
        started = time.monotonic()
        with pytest.raises(RedisUnavailableError):
            await manager.connect(ws, "t")
        assert time.monotonic() - started < 3.0
        assert ws.client.close_code == 1013
        with pytest.raises(RedisUnavailableError):
            await manager.send_log("t", "info", "m")
        redis_server.start()  # the manager's reader reconnects by itself
        again = FakeWebSocket()
        await manager.connect(again, "t")
        await manager.send_log("t", "info", "back")
        assert [f["message"] for f in await frames(again, 1)] == ["back"]


@pytest.mark.rule("RDS-3")
async def test_a_failed_send_leaves_its_message_for_the_next_client(redis_server):
    from tasktail.fakes import FailOnSend

    async with RedisConnectionManager(redis_server.url) as manager:
        broken = FakeWebSocket(FailOnSend(2))
        await manager.connect(broken, "t")
        await manager.send_log("t", "info", "m1")
        await manager.send_log("t", "info", "m2")
        await wait_until(lambda: "t" not in manager.active_connections)
        await manager.send_log("t", "info", "m3")
        assert await manager.get_queued_message_count("t") == 2
        again = FakeWebSocket()
        await manager.connect(again, "t")
        got = await frames(again, 2)
    assert [f["message"] for f in broken.client.json_frames()] == ["m1"]
    assert [f["message"] for f in got] == ["m2", "m3"]  # m1 not twice, m2 not lost


@pytest.mark.rule("RDS-3")
async def test_a_slow_client_holds_up_only_itself_and_times_out_with_4001(redis_server):
    from tasktail.fakes import Latency

    async with RedisConnectionManager(redis_server.url, send_timeout=3.0) as manager:
        slow, fast = FakeWebSocket(Latency(30)), FakeWebSocket()
        await manager.connect(slow, "slow")
        await manager.connect(fast, "fast")
        await manager.send_log("slow", "info", "stuck")
        started = time.monotonic()
        for i in range(20):
            await manager.send_log("fast", "info", f"f{i}")
        await frames(fast, 20)
        assert time.monotonic() - started < 2.5  # not behind the stalled socket (send_timeout 3 s)
        await wait_until(lambda: slow.client.close_code is not None)
        assert slow.client.close_code == 4001
        assert await manager.get_queued_message_count("slow") == 1  # kept for a reconnect


@pytest.mark.rule("RDS-2")
async def test_flushall_while_connected_is_told_as_a_reset(redis_server):
    async with RedisConnectionManager(redis_server.url, claim_ttl=0.6) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t", epoch="")
        await manager.send_log("t", "info", "old")
        hello = (await frames(ws, 2))[0]
        with redis_py.Redis.from_url(redis_server.url) as r:
            r.flushall()
        await wait_until(lambda: len(ws.client.json_frames()) >= 3)  # found by the renewal
        reset = ws.client.json_frames()[2]
        assert reset["type"] == "reset" and reset["stale_epoch"] == hello["epoch"] and reset["last_seq"] == 0
        await manager.send_log("t", "info", "new")
        got = await frames(ws, 4)
    assert got[3]["message"] == "new" and got[3]["seq"] == 1


@pytest.mark.rule("RDS-4")
async def test_a_live_owner_keeps_renewing_its_claim(redis_server):
    async with RedisConnectionManager(redis_server.url, claim_ttl=0.6) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        owner = Keys("tasktail", "t").owner
        with redis_py.Redis.from_url(redis_server.url) as r:
            started = time.monotonic()
            with anyio.fail_after(BOUND):
                while time.monotonic() - started < 3 * 0.6:  # several claim TTLs
                    assert r.exists(owner) == 1
                    await anyio.sleep(0.02)
        assert await manager.get_connection_status("t") is True
        assert ws.client.close_code is None


@pytest.mark.rule("RDS-4")
async def test_one_renewal_pipeline_answers_each_claim_on_its_own(redis_server):
    # The reader renews all its claims in one pipeline beside it: each answer goes to its
    # own client (one replaced elsewhere: 4000; one whose incarnation is gone: reset), the
    # others keep their claims, and delivery goes on meanwhile.
    async with RedisConnectionManager(redis_server.url, claim_ttl=0.6) as manager:
        sockets = {f"t{i}": FakeWebSocket() for i in range(30)}
        for task_id, ws in sockets.items():
            await manager.connect(ws, task_id, epoch="")
        with redis_py.Redis.from_url(redis_server.url) as r:
            r.set(Keys("tasktail", "t3").owner, "999 elsewhere nonce")  # another process took it
            r.delete(Keys("tasktail", "t7").meta)  # Redis lost this incarnation
            await wait_until(lambda: sockets["t3"].client.close_code is not None)
            await wait_until(lambda: len(sockets["t7"].client.json_frames()) >= 2)
            assert sockets["t3"].client.close_code == 4000
            assert sockets["t7"].client.json_frames()[1]["type"] == "reset"
            others = [t for t in sockets if t not in ("t3", "t7")]
            started = time.monotonic()
            i = 0
            with anyio.fail_after(BOUND):
                while time.monotonic() - started < 3 * 0.6:  # several claim TTLs
                    assert all(r.exists(Keys("tasktail", t).owner) for t in others)
                    await manager.send_log(others[i % len(others)], "info", f"m{i}")
                    i += 1
                    await anyio.sleep(0.02)
        for n, task_id in enumerate(others):
            sent = len(range(n, i, len(others)))
            got = await frames(sockets[task_id], 1 + sent)
            assert [f["seq"] for f in got[1:]] == list(range(1, sent + 1))
            assert sockets[task_id].client.close_code is None


@pytest.mark.rule("RDS-2")
async def test_aof_kill_mid_stream_loses_nothing_that_was_acknowledged(redis_server_aof):
    server = redis_server_aof
    ok: list[str] = []
    failed: list[str] = []
    async with RedisConnectionManager(server.url, claim_ttl=1.0, unavailable_timeout=5.0) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t", epoch="")

        async def produce() -> None:
            async with RedisProducer(server.url, unavailable_timeout=5.0) as producer:
                for i in range(2000):
                    try:
                        await producer.send_log("t", "info", f"m{i}")
                        ok.append(f"m{i}")
                    except RedisUnavailableError:
                        failed.append(f"m{i}")

        async with anyio.create_task_group() as group:
            group.start_soon(produce)
            await frames(ws, 30)
            server.kill()
            at_kill = len(ok)
            server.start()
        await wait_until(lambda: len(ws.client.json_frames()) >= 1 + len(ok))
        got = ws.client.json_frames()
    assert 0 < at_kill < 2000  # killed mid-stream
    assert got[0]["type"] == "hello"
    assert [f["type"] for f in got[1:]] == ["log"] * (len(got) - 1)  # no reset, no gap
    texts = [f["message"] for f in got[1:]]
    assert [f["seq"] for f in got[1:]] == list(range(1, len(texts) + 1))
    assert set(ok) <= set(texts) <= set(ok) | set(failed) and len(set(texts)) == len(texts)
    assert texts == sorted(texts, key=lambda t: int(t[1:]))


@pytest.mark.rule("RDS-5")
async def test_threadsafe_gives_a_sync_producer_for_a_logging_handler(redis_server):
    import logging

    from tasktail import TaskLogHandler

    async with RedisConnectionManager(redis_server.url) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        logger = logging.getLogger("tasktail.test.redis")
        logger.propagate = False
        handler = TaskLogHandler(manager.threadsafe(), "t")
        logger.addHandler(handler)
        try:
            await anyio.to_thread.run_sync(lambda: logger.warning("from a worker thread", extra={"progress": 40}))
        finally:
            logger.removeHandler(handler)
        got = await frames(ws, 1)
    assert got[0]["message"] == "from a worker thread" and got[0]["level"] == "warning" and got[0]["progress"] == 40


@pytest.mark.rule("RDS-6")
async def test_a_disconnect_elsewhere_is_4002_even_before_its_notice_arrives(redis_server):
    """Another process removed the task and its notice has not arrived (here: never sent):
    the client's process finds the incarnation gone, reads the tombstone, and closes with
    4002, not a reset frame and the next incarnation."""
    from tasktail.redis import _scripts

    async with RedisConnectionManager(redis_server.url) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        await manager.send_log("t", "info", "m1")
        await frames(ws, 1)
        keys = Keys("tasktail", "t")
        with redis_py.Redis.from_url(redis_server.url, decode_responses=True) as r:
            r.eval(_scripts.REMOVE, 5, keys.meta, keys.log, keys.owner, keys.removed, keys.stats, 60_000)  # no notice
        async with RedisProducer(redis_server.url) as producer:
            await producer.send_log("t", "info", "next incarnation")
        await wait_until(lambda: ws.client.close_code is not None)
    assert ws.client.close_code == 4002
    assert [f["type"] for f in ws.client.json_frames()] == ["log"]  # no reset frame, nothing of the new one


@pytest.mark.rule("RDS-4")
async def test_a_detached_client_is_gone_at_once_while_its_claim_is_given_up(redis_server):
    async with RedisConnectionManager(redis_server.url) as manager:
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        assert manager.detach("t", ws) is True
        assert await manager.get_connection_status("t") is False  # before the release reached Redis
        await manager.send_log("t", "info", "m1")
        assert (await manager.get_connection_status("t"), await manager.get_queued_message_count("t")) == (False, 1)
        with redis_py.Redis.from_url(redis_server.url) as r:
            await wait_until(lambda: r.exists(Keys("tasktail", "t").owner) == 0)  # then given up in Redis
