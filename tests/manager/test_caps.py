"""CAP-*, GAP-*, MEM-1: caps, policies, drop accounting and visible gaps."""

from __future__ import annotations

import anyio
import pytest

from tasktail import CoalesceProgress, DropOldest, PolicyError, RejectNewest
from tasktail.fakes import FailOnSend, Gate

from .support import FakeWebSocket, gaps, logs, make_manager, seqs

pytestmark = pytest.mark.anyio

POLICIES = [DropOldest(), RejectNewest(), CoalesceProgress()]


def queued_seqs(manager, task_id="job"):
    return [m.seq for m in manager.message_queues[task_id]]


@pytest.mark.rule("CAP-1")
@pytest.mark.rule("MEM-1")
@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
async def test_queue_never_exceeds_cap(policy):
    manager = make_manager(max_queue_size=4, overflow=policy)
    for n in range(50):
        await manager.send_log("job", "info", f"m{n}", progress=n)
        assert manager.get_queued_message_count("job") <= 4
    assert manager.get_queued_message_count("job") == 4
    assert manager.task_statistics("job").dropped == 46


@pytest.mark.rule("CAP-1")
async def test_requeue_after_failure_respects_cap():
    manager = make_manager(max_queue_size=3)
    gate = Gate()
    ws = FakeWebSocket(behaviour=gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "inflight")
        await gate.wait_pending(1)
        for n in range(3):  # fill the queue behind the message being written
            group.start_soon(manager.send_log, "job", "info", f"q{n}")
        await anyio.wait_all_tasks_blocked()
        gate.fail_pending(OSError("peer reset"))
    assert manager.get_queued_message_count("job") == 3
    assert queued_seqs(manager) == [2, 3, 4]  # drop-oldest: the requeued seq 1 gave way
    assert manager.task_statistics("job").dropped == 1


@pytest.mark.rule("CAP-2")
@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
async def test_finished_message_survives_every_policy(policy):
    manager = make_manager(max_queue_size=2, overflow=policy)
    for n in range(5):
        await manager.send_log("job", "info", f"m{n}", progress=n)
    done = await manager.send_log("job", "success", "done", progress=100, finished=True)
    assert done in manager.message_queues["job"]
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    assert logs(ws)[-1] == (done.seq, "done")


@pytest.mark.rule("CAP-2")
async def test_policy_breaking_contract_raises():
    class EvictsEverything:
        name = "evicts-everything"

        def choose_victim(self, queue, incoming):
            return None  # rejects even a finished message

    manager = make_manager(max_queue_size=1, overflow=EvictsEverything())
    await manager.send_log("job", "info", "m0")
    with pytest.raises(PolicyError, match="evicts|finished"):
        await manager.send_log("job", "success", "done", finished=True)


@pytest.mark.rule("CAP-3")
async def test_drop_oldest_keeps_newest():
    manager = make_manager(max_queue_size=3)
    for n in range(6):
        await manager.send_log("job", "info", f"m{n}")
    assert queued_seqs(manager) == [4, 5, 6]


@pytest.mark.rule("CAP-4")
async def test_reject_newest_keeps_oldest():
    manager = make_manager(max_queue_size=3, overflow=RejectNewest())
    for n in range(6):
        await manager.send_log("job", "info", f"m{n}")
    assert queued_seqs(manager) == [1, 2, 3]
    await manager.send_log("job", "success", "done", finished=True)
    assert queued_seqs(manager) == [1, 2, 7]


@pytest.mark.rule("CAP-5")
async def test_coalesce_progress_replaces_tail():
    manager = make_manager(max_queue_size=3, overflow=CoalesceProgress())
    await manager.send_log("job", "warning", "header")
    await manager.send_log("job", "info", "loaded")
    for n in range(5):
        await manager.send_log("job", "info", f"{n * 10}%", progress=n * 10)
    assert [m.message for m in manager.message_queues["job"]] == ["header", "loaded", "40%"]
    await manager.send_log("job", "error", "bad row")  # not progress-only: oldest gives way
    assert [m.message for m in manager.message_queues["job"]] == ["loaded", "40%", "bad row"]


@pytest.mark.rule("GAP-1")
async def test_gap_notice_precedes_first_message_after_drop():
    manager = make_manager(max_queue_size=2)
    for n in range(5):
        await manager.send_log("job", "info", f"m{n}")
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    kinds = [(f["type"], f.get("seq", f.get("first_seq"))) for f in map(__import__("json").loads, ws.texts())]
    assert kinds == [("gap", 1), ("log", 4), ("log", 5)]
    assert gaps(ws) == [(1, 3, "dropped")]
    assert manager.task_statistics("job").dropped == 3 and manager.statistics().dropped == 3


@pytest.mark.rule("GAP-1")
async def test_gap_notice_sent_when_queue_runs_dry():
    manager = make_manager(max_queue_size=2, overflow=RejectNewest())
    for n in range(5):
        await manager.send_log("job", "info", f"m{n}")
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    assert seqs(ws) == [1, 2]
    assert gaps(ws) == [(3, 5, "dropped")]  # told now, not when seq 6 arrives


@pytest.mark.rule("GAP-1")
async def test_gap_told_once():
    manager = make_manager(max_queue_size=2, overflow=CoalesceProgress())
    await manager.send_log("job", "info", "start")
    for n in range(4):
        await manager.send_log("job", "info", "tick", progress=n)  # seqs 3..4 replaced
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    await manager.send_log("job", "info", "more")
    second = FakeWebSocket()
    await manager.connect(second, "job")
    await manager.send_log("job", "info", "again")
    assert gaps(ws) == [(2, 4, "dropped")]
    assert gaps(second) == []  # the range was told to the first client already


@pytest.mark.rule("GAP-2")
async def test_accounting_identity_holds():
    manager = make_manager(max_queue_size=3)
    failing = FakeWebSocket(behaviour=FailOnSend(2))
    for n in range(6):
        await manager.send_log("a", "info", f"m{n}")
        await manager.send_log("b", "info", f"m{n}")
    await manager.connect(failing, "a")
    await manager.send_log("a", "info", "after failure")
    manager.disconnect("b")

    def check():
        total = manager.statistics()
        assert total.logged == total.delivered + total.queued + total.dropped + total.discarded
        for task_id in manager.message_queues:
            stats = manager.task_statistics(task_id)
            assert stats.last_seq == stats.delivered + stats.queued + stats.dropped

    check()
    await manager.connect(FakeWebSocket(), "a")
    check()
    assert manager.statistics().discarded == 3


@pytest.mark.rule("MEM-1")
async def test_gap_ranges_stay_bounded():
    manager = make_manager(max_queue_size=4, overflow=CoalesceProgress(), history_size=3)
    for n in range(200):  # alternate kinds so drops scatter into many ranges
        if n % 3 == 0:
            await manager.send_log("job", "warning", f"w{n}")
        else:
            await manager.send_log("job", "info", f"p{n}", progress=n % 100)
    stats = manager.task_statistics("job")
    assert stats.gap_ranges <= 4 + 3 + 1
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    for n in range(50):
        await manager.send_log("job", "info", f"live{n}")
    assert manager.task_statistics("job").gap_ranges <= 4 + 3 + 1


class _Answers:
    """A policy that answers ``answer`` (or raises it), to break CAP-2's contract on purpose."""

    name = "answers"

    def __init__(self, answer):
        self.answer = answer

    def choose_victim(self, queue, incoming):
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def _snapshot(manager):
    return manager.statistics(), manager.task_statistics("job"), list(manager.message_queues["job"])


@pytest.mark.rule("CAP-2")
@pytest.mark.rule("GAP-2")
@pytest.mark.parametrize("answer", [None, "0", 0.0, True, 7, -9, LookupError("policy bug")],
                         ids=["rejects", "str", "float", "bool", "too-big", "too-small", "raises"])
async def test_policy_error_changes_nothing(answer):
    # Issue 9: the seq was spent and finished set before the policy refused; "0" gave a raw
    # TypeError. Now the policy is asked first: a refusal changes nothing at all.
    manager = make_manager(max_queue_size=2, overflow=_Answers(answer))
    await manager.send_log("job", "info", "m1")
    await manager.send_log("job", "info", "m2")
    before = _snapshot(manager)
    expected = LookupError if isinstance(answer, LookupError) else PolicyError
    with pytest.raises(expected) as caught:
        await manager.send_log("job", "success", "done", finished=True)
    if expected is PolicyError:
        assert "nothing was logged" in str(caught.value)
    assert _snapshot(manager) == before
    stats = manager.task_statistics("job")
    assert stats.last_seq == stats.delivered + stats.queued + stats.dropped == 2 and not stats.finished
    manager._core.overflow = DropOldest()  # a working policy: the finished message goes through
    done = await manager.send_log("job", "success", "done", finished=True)
    assert done.seq == 3 and manager.task_statistics("job").finished


@pytest.mark.rule("CAP-2")
async def test_policy_returning_a_non_int_gets_a_clear_policy_error():
    manager = make_manager(max_queue_size=1, overflow=_Answers("0"))
    await manager.send_log("job", "info", "m1")
    with pytest.raises(PolicyError, match=r"returned '0' of type str, not None or an int"):
        await manager.send_log("job", "info", "m2")
    assert manager.task_statistics("job").last_seq == 1
