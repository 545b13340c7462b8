"""Scripted scenarios that show each zoo member's bug, independent of the conformance suite.

Each scenario takes a manager class, drives it with FakeWebSockets in virtual time and
asserts what SPEC requires; :class:`TutorialManager` passes every one. ``SHOWS`` maps each
zoo member to the scenario that exposes it and the exception that scenario then raises.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import anyio

from tasktail.fakes import FailOnSend, FakeWebSocket, Gate
from tasktail.zoo import TutorialManager

__all__ = ["SCENARIOS", "SHOWS"]

Scenario = Callable[[type[TutorialManager]], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def texts(ws: FakeWebSocket) -> list[str]:
    return [json.loads(text)["message"] for text in ws.texts()]


def queued(manager: TutorialManager, task_id: str = "job") -> list[str]:
    return [m["message"] for m in manager.message_queues.get(task_id, ())]


def entries(manager: TutorialManager, task_id: str = "job") -> list[str]:
    return [name for name in ("active_connections", "message_queues", "connection_locks")
            if task_id in getattr(manager, name)]


@scenario
async def backlog_flushed_in_order(cls: type[TutorialManager]) -> None:
    """ORD-2: a backlog reaches the client oldest first."""
    manager = cls()
    for n in range(3):
        await manager.send_log("job", "info", f"m{n}")
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    assert texts(ws) == ["m0", "m1", "m2"]


@scenario
async def send_failure_keeps_message_for_next_client(cls: type[TutorialManager]) -> None:
    """FAIL-1, FAIL-2, ORD-2, ORD-3: a failed send drops the client, not the message."""
    manager = cls()
    gate = Gate(opened=True)
    first = FakeWebSocket(gate)
    await manager.connect(first, "job")
    await manager.send_log("job", "info", "m0")
    gate.close()

    async def queue_more_then_fail() -> None:
        await gate.wait_pending(1)  # m1 is being written
        for text in ("m2", "m3"):  # one at a time: trio may start a batch in any order
            group.start_soon(manager.send_log, "job", "info", text)
            await anyio.wait_all_tasks_blocked()
        gate.fail_pending(RuntimeError("transport broke"))  # the socket itself stays closable
        gate.open()

    error: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(queue_more_then_fail)
        try:  # in this task, so an escaping error is itself and not an ExceptionGroup
            await manager.send_log("job", "info", "m1")
        except Exception as exc:
            error = exc
    if error is not None:
        raise error  # FAIL-2: the producer must never see the client's failure
    assert not manager.get_connection_status("job"), "the failed client is still registered"
    assert first.close_code == 1011
    assert queued(manager) == ["m1", "m2", "m3"]
    second = FakeWebSocket()
    await manager.connect(second, "job")
    assert texts(first) == ["m0"]
    assert texts(second) == ["m1", "m2", "m3"]  # in order, once each
    assert manager.get_queued_message_count("job") == 0


@scenario
async def send_during_flush_comes_after_flush(cls: type[TutorialManager]) -> None:
    """FLUSH-1: a producer starting mid-flush is delivered after the flushed messages."""
    manager = cls()
    for n in range(3):
        await manager.send_log("job", "info", f"queued{n}")
    gate = Gate()
    ws = FakeWebSocket(gate, strict=False)  # record two sends at once rather than raise
    async with anyio.create_task_group() as group:
        group.start_soon(manager.connect, ws, "job")
        await gate.wait_pending(1)  # the flush is writing queued0
        group.start_soon(manager.send_log, "job", "info", "live")
        await anyio.wait_all_tasks_blocked()
        gate.open()
    assert texts(ws) == ["queued0", "queued1", "queued2", "live"]
    assert ws.violations == []


@scenario
async def settled_connected_task_has_empty_queue(cls: type[TutorialManager]) -> None:
    """FLUSH-2: nothing stays queued while a client is connected."""
    manager = cls()
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    await manager.send_log("job", "info", "50%", progress=50)
    await manager.send_log("job", "success", "done", progress=100, finished=True)
    assert texts(ws) == ["50%", "done"]
    assert manager.get_queued_message_count("job") == 0


@scenario
async def queue_never_exceeds_cap(cls: type[TutorialManager]) -> None:
    """CAP-1."""
    manager = cls(max_queue_size=3)
    for n in range(10):
        await manager.send_log("job", "info", f"m{n}")
        assert manager.get_queued_message_count("job") <= 3
    assert manager.get_queued_message_count("job") == 3


@scenario
async def drop_oldest_keeps_newest(cls: type[TutorialManager]) -> None:
    """CAP-3: 7 into a cap of 3 (not a multiple of 4, so a clear-when-full shows)."""
    manager = cls(max_queue_size=3)
    for n in range(7):
        await manager.send_log("job", "info", f"m{n}")
    assert queued(manager) == ["m4", "m5", "m6"]


@scenario
async def disconnect_removes_everything(cls: type[TutorialManager]) -> None:
    """DISC-1: all three seed entries go; the return value counts the discarded queue."""
    manager = cls()
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    await manager.send_log("job", "info", "delivered")
    await manager.send_log("idle", "info", "a")
    await manager.send_log("idle", "info", "b")
    assert manager.disconnect("job") == 0
    assert manager.disconnect("idle") == 2
    assert manager.disconnect("never") == 0  # idempotent, fine for unknown tasks
    for task_id in ("job", "idle"):
        assert entries(manager, task_id) == []
        assert not manager.get_connection_status(task_id)
        assert manager.get_queued_message_count(task_id) == 0


@scenario
async def disconnect_during_inflight_send(cls: type[TutorialManager]) -> None:
    """DISC-2: nothing raised, nothing resurrected, nothing more sent on the old socket."""
    manager = cls()
    gate = Gate()
    ws = FakeWebSocket(gate)
    await manager.connect(ws, "job")

    async def disconnect_mid_send() -> None:
        await gate.wait_pending(1)
        await anyio.wait_all_tasks_blocked()  # "waiting" is queued behind the lock
        manager.disconnect("job")
        gate.open()

    error: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(disconnect_mid_send)
        group.start_soon(manager.send_log, "job", "info", "waiting", name="waiting")
        try:  # in this task, so a bug's exception is itself and not an ExceptionGroup
            await manager.send_log("job", "info", "in flight")
        except Exception as exc:
            error = exc
    if error is not None:
        raise error
    assert texts(ws) == ["in flight"]
    assert entries(manager) == []


@scenario
async def second_connect_replaces_first(cls: type[TutorialManager]) -> None:
    """REPL-1: the newest client wins; the old one is closed with 4000 and gets nothing more."""
    manager = cls()
    first, second = FakeWebSocket(), FakeWebSocket()
    await manager.connect(first, "job")
    await manager.send_log("job", "info", "to first")
    await manager.connect(second, "job")
    await manager.send_log("job", "info", "to second")
    assert texts(first) == ["to first"] and texts(second) == ["to second"]
    assert first.close_code == 4000
    assert manager.active_connections["job"] is second
    assert first.violations == [] and second.violations == []


@scenario
async def stalled_client_does_not_delay_other_tasks(cls: type[TutorialManager]) -> None:
    """ISO-1: a gate that never opens on one task; another task's sends still finish."""
    manager = cls()
    stalled = Gate()
    await manager.connect(FakeWebSocket(stalled), "slow")
    fast = FakeWebSocket()
    await manager.connect(fast, "fast")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "slow", "info", "stuck")
        await stalled.wait_pending(1)
        with anyio.move_on_after(60) as guard:  # virtual time: free unless something blocks
            for n in range(3):
                await manager.send_log("fast", "info", f"m{n}")
        stalled.open()
    assert not guard.cancelled_caught, "a stalled client of another task blocked send_log"
    assert texts(fast) == ["m0", "m1", "m2"]


@scenario
async def queries_on_unknown_tasks(cls: type[TutorialManager]) -> None:
    """QRY-1."""
    manager = cls()
    assert manager.get_connection_status("nobody") is False
    assert manager.get_queued_message_count("nobody") == 0


@scenario
async def frames_carry_what_was_logged(cls: type[TutorialManager]) -> None:
    """FID-1: the frame's progress is the logged one."""
    manager = cls()
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    await manager.send_log("job", "info", "m0", progress=12.5)
    assert [json.loads(t)["progress"] for t in ws.texts()] == [12.5]


@scenario
async def churned_tasks_leave_nothing_behind(cls: type[TutorialManager]) -> None:
    """MEM-1: after tasks come and go, no object of theirs is left in the manager."""
    manager = cls()
    for n in range(5):
        await manager.send_log(f"job{n}", "info", "m")
        manager.disconnect(f"job{n}")
    left = [name for name, value in vars(manager).items() if isinstance(value, dict) and value]
    assert left == [], left


@scenario
async def concurrent_producers_one_send_at_a_time(cls: type[TutorialManager]) -> None:
    """LOCK-1: three producers behind a stalled send never overlap on the socket."""
    manager = cls(max_queue_size=10)
    gate = Gate()
    ws = FakeWebSocket(gate, strict=False)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        for n in range(3):
            group.start_soon(manager.send_log, "job", "info", f"m{n}")
        await gate.wait_pending(1)
        await anyio.wait_all_tasks_blocked()
        gate.open()
    assert [v.kind for v in ws.violations] == []


@scenario
async def cancelled_send_releases_the_lock(cls: type[TutorialManager]) -> None:
    """LOCK-2: after a producer is cancelled mid-send, a new client and producer proceed."""
    manager = cls()
    gate = Gate()
    await manager.connect(FakeWebSocket(gate), "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "m0")
        await gate.wait_pending(1)
        group.cancel_scope.cancel()
    ws = FakeWebSocket()
    with anyio.move_on_after(60) as guard:
        try:
            await manager.connect(ws, "job")
        except Exception as exc:  # trio's Lock notices an owner that left without releasing
            raise AssertionError(f"connect failed on a lock its last owner never released: {exc!r}") from exc
    assert not guard.cancelled_caught, "connect waited forever for a lock nobody holds"


@scenario
async def waiters_of_a_disconnected_task_send_nothing(cls: type[TutorialManager]) -> None:
    """LOCK-3: producers waiting when the task is disconnected send nothing on its socket."""
    manager = cls(max_queue_size=10)
    gate = Gate()
    ws = FakeWebSocket(gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "in flight")
        await gate.wait_pending(1)
        group.start_soon(manager.send_log, "job", "info", "waiting")
        await anyio.wait_all_tasks_blocked()
        manager.disconnect("job")
        gate.open()
    assert texts(ws) == ["in flight"]


@scenario
async def line_after_accept_goes_to_new_client(cls: type[TutorialManager]) -> None:
    """LOCK-4: a line logged after the new client was accepted never reaches the old one."""
    manager = cls(max_queue_size=10)
    gate = Gate()
    old, new = FakeWebSocket(gate), FakeWebSocket()
    await manager.connect(old, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "in flight")
        await gate.wait_pending(1)
        group.start_soon(manager.connect, new, "job")
        await anyio.wait_all_tasks_blocked()
        assert new.client.accepted
        group.start_soon(manager.send_log, "job", "info", "after accept")
        await anyio.wait_all_tasks_blocked()
        gate.open()
    assert "after accept" not in texts(old), texts(old)


@scenario
async def producer_never_waits_without_client(cls: type[TutorialManager]) -> None:
    """PROD-1: with no client, a full queue never holds a producer up."""
    manager = cls(max_queue_size=2)
    with anyio.move_on_after(60) as guard:
        for n in range(5):
            await manager.send_log("job", "info", f"m{n}")
    assert not guard.cancelled_caught, "send_log waited for room with no client"


#: zoo member -> (the scenario that exposes its bug, what that scenario then raises)
SHOWS: dict[str, tuple[str, type[BaseException]]] = {
    "LifoFlush": ("backlog_flushed_in_order", AssertionError),
    "RequeueAtBack": ("send_failure_keeps_message_for_next_client", AssertionError),
    "RequeueTwice": ("send_failure_keeps_message_for_next_client", AssertionError),
    "UnlockedConnect": ("send_during_flush_comes_after_flush", AssertionError),
    "HoldsBackLast": ("settled_connected_task_has_empty_queue", AssertionError),
    "OffByOneCap": ("queue_never_exceeds_cap", AssertionError),
    "UnboundedQueue": ("queue_never_exceeds_cap", AssertionError),
    "ClearWhenFull": ("drop_oldest_keeps_newest", AssertionError),
    "PopBeforeSend": ("send_failure_keeps_message_for_next_client", AssertionError),
    "SwallowedSendError": ("send_failure_keeps_message_for_next_client", AssertionError),
    "ReraisingSendError": ("send_failure_keeps_message_for_next_client", RuntimeError),
    "LeakyLock": ("disconnect_removes_everything", AssertionError),
    "LeakyQueue": ("disconnect_removes_everything", AssertionError),
    "FlushIgnoresDisconnect": ("disconnect_during_inflight_send", AssertionError),
    "QueueLookupAfterSend": ("disconnect_during_inflight_send", KeyError),
    "FirstClientWins": ("second_connect_replaces_first", AssertionError),
    "ReplacedLeftOpen": ("second_connect_replaces_first", AssertionError),
    "GlobalLock": ("stalled_client_does_not_delay_other_tasks", AssertionError),
    "KeyErrorCount": ("queries_on_unknown_tasks", KeyError),
    "RoundedProgress": ("frames_carry_what_was_logged", AssertionError),
    "ShadowRegistry": ("churned_tasks_leave_nothing_behind", AssertionError),
    "UnlockedProducer": ("concurrent_producers_one_send_at_a_time", AssertionError),
    "LockHeldOnFailure": ("cancelled_send_releases_the_lock", AssertionError),
    "WaiterKeepsSocket": ("waiters_of_a_disconnected_task_send_nothing", AssertionError),
    "ConnectLast": ("line_after_accept_goes_to_new_client", AssertionError),
    "BlockingPut": ("producer_never_waits_without_client", AssertionError),
}
