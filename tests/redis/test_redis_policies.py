"""Overflow policies on the Redis backend (SPEC ``RDS-1``, ``CAP-2``..``CAP-5``): the built-in
policies are decided inside the append script, a policy object of the caller's on the very
state the script returned; every producer on one policy gets the same answers."""

from __future__ import annotations

import anyio
import pytest
import redis as redis_py

from tasktail import CoalesceProgress, ConnectionManager, DropOldest, PolicyError, RejectNewest
from tasktail.fakes import FakeWebSocket, Gate
from tasktail.redis import RedisConnectionManager, RedisProducer, SyncRedisProducer
from tasktail.redis._common import Keys

from .support import BOUND, frames

pytestmark = pytest.mark.anyio

#: (policy, calls): what each built-in policy is checked on, with cap 2
CASES = [
    (RejectNewest, [("info", "a", None, False), ("info", "b", None, False), ("info", "c", None, False),
                    ("info", "d", None, False), ("success", "done", None, True)]),
    (CoalesceProgress, [("info", "start", None, False), ("info", "10%", 10, False), ("debug", "20%", 20, False),
                        ("info", "30%", 30.5, False), ("warning", "warn", None, False), ("info", "40%", 40, False),
                        ("info", "50%", 50, False)]),
    (DropOldest, [("info", "a", None, False), ("info", "b", None, False), ("info", "c", None, False)]),
]


async def _reference(policy: type, calls: list) -> tuple[list, list]:
    """What the reference answers: (seq of each call, the frames a client then gets)."""
    manager = ConnectionManager(max_queue_size=2, overflow=policy())
    seqs = [(await manager.send_log("t", *call)).seq for call in calls]
    ws = FakeWebSocket()
    await manager.connect(ws, "t")
    return seqs, [{k: v for k, v in f.json().items() if k != "timestamp"} for f in ws.frames]


@pytest.mark.rule("RDS-1")
@pytest.mark.parametrize("policy, calls", CASES, ids=[c[0].__name__ for c in CASES])
async def test_built_in_policies_are_decided_in_the_append_script_as_the_reference_decides(
        redis_server, policy, calls):
    expected_seqs, expected_frames = await _reference(policy, calls)
    half = len(calls) // 2
    # Half the calls from the async producer, half from the sync one: one policy, one answer.
    async with RedisProducer(redis_server.url, max_queue_size=2, overflow=policy()) as producer:
        results = [await producer.append("t", *call) for call in calls[:half]]
    with SyncRedisProducer(redis_server.url, max_queue_size=2, overflow=policy()) as sync:
        seqs = [m.seq for m, _, _ in results] + [sync.send_log("t", *call).seq for call in calls[half:]]
    assert seqs == expected_seqs
    dropped_seqs = set(expected_seqs) - {f["seq"] for f in expected_frames if f["type"] == "log"}
    with redis_py.Redis.from_url(redis_server.url, decode_responses=True) as r:
        assert int(r.hget(Keys("tasktail", "t").meta, "dropped")) == len(dropped_seqs)  # GAP-1: each counted
    async with RedisConnectionManager(redis_server.url, max_queue_size=2, overflow=policy()) as manager:
        assert await manager.get_queued_message_count("t") == 2
        ws = FakeWebSocket()
        await manager.connect(ws, "t")
        got = await frames(ws, len(expected_frames))
    assert [{k: v for k, v in f.items() if k != "timestamp"} for f in got] == expected_frames


class _Counting:
    """A policy object of the caller's: evicts the newest queued message, counts its calls,
    and (once) lets another producer append while it decides."""

    def __init__(self, url: str) -> None:
        self.url, self.calls, self.meddle = url, [], True

    def choose_victim(self, queue, incoming):
        self.calls.append(([m.seq for m in queue], incoming.seq))
        if self.meddle:  # the state changes under the decision: it must be asked again
            self.meddle = False
            with SyncRedisProducer(self.url, max_queue_size=2) as other:
                other.send_log("t", "info", "meddler")
        return len(queue) - 1


@pytest.mark.rule("RDS-1")
async def test_a_policy_object_is_asked_on_the_queue_and_its_answer_applies_to_that_state_only(redis_server):
    policy = _Counting(redis_server.url)
    async with RedisProducer(redis_server.url, max_queue_size=2, overflow=policy) as producer:
        assert [(await producer.send_log("t", "info", text)).seq for text in "ab"] == [1, 2]
        assert policy.calls == []  # not full: not asked
        entry, _, dropped = await producer.append("t", "info", "c")
    # Asked on [1, 2] for seq 3; meanwhile the meddler (drop-oldest, cap 2) took seq 3 and
    # trimmed 1; asked again on [2, 3] for seq 4, which evicts 3.
    assert policy.calls == [([1, 2], 3), ([2, 3], 4)]
    assert (entry.seq, dropped) == (4, [3])
    with redis_py.Redis.from_url(redis_server.url, decode_responses=True) as r:
        keys = Keys("tasktail", "t")
        assert [(i, f["m"]) for i, f in r.xrange(keys.log)] == [("2-0", "b"), ("4-0", "c")]
        assert r.hget(keys.meta, "dropped") == "2"


class _Broken:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    def choose_victim(self, queue, incoming):
        return self.answer


@pytest.mark.rule("RDS-1")
@pytest.mark.parametrize("answer, what", [(None, "rejected a finished message"), ("0", "of type str"),
                                          (5, "chose index 5 in a queue of 1")])
async def test_a_broken_policy_answer_raises_policy_error_and_changes_nothing_in_redis(redis_server, answer, what):
    policy = _Broken(answer)
    async with RedisProducer(redis_server.url, max_queue_size=1, overflow=policy) as producer:
        await producer.send_log("t", "info", "a")
        with redis_py.Redis.from_url(redis_server.url, decode_responses=True) as r:
            keys = Keys("tasktail", "t")
            before = (r.hgetall(keys.meta), r.xrange(keys.log))
            with pytest.raises(PolicyError) as raised:
                await producer.send_log("t", "success", "done", None, True)
            assert what in str(raised.value) and "nothing was logged" in str(raised.value)
            with SyncRedisProducer(redis_server.url, max_queue_size=1, overflow=policy) as sync:
                with pytest.raises(PolicyError) as raised_sync:
                    sync.send_log("t", "success", "done", None, True)
            assert str(raised_sync.value) == str(raised.value)
            assert (r.hgetall(keys.meta), r.xrange(keys.log)) == before  # no seq spent, nothing stored
        policy.answer = 0  # now a valid answer: the call goes through, with the next seq
        assert (await producer.send_log("t", "success", "done", None, True)).seq == 2


@pytest.mark.rule("RDS-1")
@pytest.mark.parametrize("bad", ["reject-newest", 3, object()])
async def test_an_overflow_that_is_not_a_policy_is_refused_naming_it(redis_server, bad):
    for make in (lambda: RedisProducer(redis_server.url, overflow=bad),
                 lambda: SyncRedisProducer(redis_server.url, overflow=bad),
                 lambda: RedisConnectionManager(redis_server.url, overflow=bad)):
        with pytest.raises(TypeError) as raised:
            make()
        message = str(raised.value)
        assert message.startswith("overflow=") and "choose_victim" in message and "RejectNewest()" in message
    with redis_py.Redis.from_url(redis_server.url) as r:
        assert r.dbsize() == 0


@pytest.mark.rule("RDS-3")
async def test_a_message_being_written_is_outside_the_queue_the_policy_chooses_from(redis_server):
    """reject-newest, cap 1: a (being written), b (queued), c (rejected): the client gets a,
    b and then, its queue dry, the gap of c (GAP-1), as from the reference."""
    async with RedisConnectionManager(redis_server.url, max_queue_size=1, overflow=RejectNewest()) as manager:
        gate = Gate()
        ws = FakeWebSocket(gate)
        await manager.connect(ws, "t")
        await manager.send_log("t", "info", "a")
        with anyio.fail_after(BOUND):
            await gate.wait_pending()
        assert [(await manager.send_log("t", "info", text)).seq for text in "bc"] == [2, 3]
        assert await manager.get_queued_message_count("t") == 2  # b, and a being written (CAP-1)
        gate.open()
        got = await frames(ws, 3)
        assert await manager.get_queued_message_count("t") == 0
    assert [f.get("message", f["type"]) for f in got] == ["a", "b", "gap"]
    assert (got[2]["first_seq"], got[2]["last_seq"], got[2]["reason"]) == (3, 3, "dropped")


@pytest.mark.rule("RDS-1")
async def test_a_stream_longer_than_the_cap_is_counted_not_guessed(redis_server):
    """'Full' is read off the stream's first entries while it is at most cap + 1 long; a
    stream an appender with a larger cap left longer is counted entry by entry."""
    with SyncRedisProducer(redis_server.url, max_queue_size=4) as wide:
        for text in "abcd":
            wide.send_log("t", "info", text)
    with SyncRedisProducer(redis_server.url, max_queue_size=2, overflow=RejectNewest()) as narrow:
        assert narrow.send_log("t", "info", "e").seq == 5
        assert narrow.send_log("t", "success", "done", None, True).seq == 6
    with redis_py.Redis.from_url(redis_server.url, decode_responses=True) as r:
        keys = Keys("tasktail", "t")
        assert [f["m"] for _, f in r.xrange(keys.log)] == ["a", "b", "c", "done"]  # e rejected, d replaced
        assert r.hget(keys.meta, "dropped") == "2"


@pytest.mark.rule("RDS-3")
async def test_a_producer_in_another_process_sees_the_message_being_written(redis_server):
    """The in-flight mark lives in Redis (``writing``): a producer elsewhere, with the same
    policy, leaves the message a client is writing out of the queue it judges full."""
    async with RedisConnectionManager(redis_server.url, max_queue_size=1, overflow=RejectNewest()) as manager:
        gate = Gate()
        ws = FakeWebSocket(gate)
        await manager.connect(ws, "t")
        with SyncRedisProducer(redis_server.url, max_queue_size=1, overflow=RejectNewest()) as elsewhere:
            elsewhere.send_log("t", "info", "a")
            with anyio.fail_after(BOUND):
                await gate.wait_pending()  # "a" is being written
            assert [elsewhere.send_log("t", "info", text).seq for text in "bc"] == [2, 3]
        gate.open()
        got = await frames(ws, 3)
    assert [f.get("message", f["type"]) for f in got] == ["a", "b", "gap"]
    assert (got[2]["first_seq"], got[2]["count"], got[2]["reason"]) == (3, 1, "dropped")
