"""Every (idiom, rule) label reproduced without the conformance suite.

``test_<idiom>_<RULE>`` runs one small deterministic scenario with tasktail.fakes on the
broken idiom (the bug shows) and on its corrected variant (the same scenario behaves).
asyncio-only idioms run on asyncio only (test id ``asyncio-only``); the anyio ones run
on both backends. Deferred-delivery managers are settled before frames are read.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest

from tasktail.fakes import FailOnSend, FakeWebSocket, Gate

from .support import ASYNCIO_ONLY, VARIANTS, fields, guarded, lines, log_all, make, overlapping, settle, \
    slow_first_send, texts

pytestmark = pytest.mark.anyio
broken = "broken"


# -- dict_of_asyncio_queue -------------------------------------------------------------------

@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_dict_of_asyncio_queue_CAP_3(variant):
    m = make("dict_of_asyncio_queue", variant, max_queue_size=3)
    errors = await log_all(m, "job", lines(5))
    ws = FakeWebSocket()
    await m.connect(ws, "job")
    if variant == broken:
        assert [type(e) for e in errors] == [asyncio.QueueFull] * 2 and texts(ws) == lines(3)
    else:
        assert errors == [] and texts(ws) == ["m2", "m3", "m4"]


async def _failed_send_then_next_client(idiom: str, variant: str) -> tuple[tuple[bool, int], FakeWebSocket, list]:
    """Client 1's first send raises (socket still usable); log "a", then "b"; client 2."""
    m = make(idiom, variant)
    first = FakeWebSocket(FailOnSend(1, RuntimeError("transport broke")))
    await m.connect(first, "job")
    errors = await log_all(m, "job", ["a"])
    await settle()
    after_failure = (m.get_connection_status("job"), m.get_queued_message_count("job"))
    errors += await log_all(m, "job", ["b"])
    second = FakeWebSocket()
    await m.connect(second, "job")
    await settle()
    return after_failure, second, errors


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_dict_of_asyncio_queue_FAIL_1(variant):
    after_failure, second, _ = await _failed_send_then_next_client("dict_of_asyncio_queue", variant)
    if variant == broken:
        assert after_failure == (False, 0) and texts(second) == ["b"]  # "a" is gone
    else:
        assert after_failure == (False, 1) and texts(second) == ["a", "b"]


async def _disconnect_during_connect_flush(idiom: str, variant: str) -> FakeWebSocket:
    """Three lines queued; connect's flush is writing the first when disconnect runs."""
    m = make(idiom, variant)
    await log_all(m, "job", lines(3))
    gate = Gate()
    ws = FakeWebSocket(gate)
    async with anyio.create_task_group() as group:
        group.start_soon(m.connect, ws, "job")
        await gate.wait_pending(1)
        m.disconnect("job")
        gate.open()
    await settle()
    return ws


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_dict_of_asyncio_queue_DISC_2(variant):
    ws = await _disconnect_during_connect_flush("dict_of_asyncio_queue", variant)
    assert texts(ws) == (lines(3) if variant == broken else ["m0"])


# -- socket_list_broadcast -------------------------------------------------------------------

async def _two_connects_then_log(idiom: str, variant: str) -> tuple[FakeWebSocket, FakeWebSocket]:
    m = make(idiom, variant)
    first, second = FakeWebSocket(), FakeWebSocket()
    await m.connect(first, "job")
    await m.connect(second, "job")
    await m.send_log("job", "info", "x")
    await settle()
    return first, second


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_socket_list_broadcast_REPL_1(variant):
    first, second = await _two_connects_then_log("socket_list_broadcast", variant)
    if variant == broken:
        assert texts(first) == ["x"] and first.close_code is None
    else:
        assert texts(first) == [] and first.close_code == 4000 and texts(second) == ["x"]


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_socket_list_broadcast_ORD_3(variant):
    first, second = await _two_connects_then_log("socket_list_broadcast", variant)
    assert (texts(first) + texts(second)).count("x") == (2 if variant == broken else 1)


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_socket_list_broadcast_FAIL_1(variant):
    after_failure, second, _ = await _failed_send_then_next_client("socket_list_broadcast", variant)
    if variant == broken:
        assert after_failure == (True, 0) and "a" not in texts(second)
    else:
        assert after_failure == (False, 1) and texts(second) == ["a", "b"]


async def _producer_waits_while_disconnected(idiom: str, variant: str) -> tuple[FakeWebSocket, object]:
    """"in flight" is being written; "waiting" waits for the lock; disconnect; release."""
    m = make(idiom, variant)
    gate = Gate()
    ws = FakeWebSocket(gate)
    await m.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(m.send_log, "job", "info", "in flight")
        await gate.wait_pending(1)
        group.start_soon(m.send_log, "job", "info", "waiting")
        await anyio.wait_all_tasks_blocked()
        m.disconnect("job")
        gate.open()
    return ws, m


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_socket_list_broadcast_LOCK_3(variant):
    ws, m = await _producer_waits_while_disconnected("socket_list_broadcast", variant)
    assert texts(ws) == (["in flight", "waiting"] if variant == broken else ["in flight"])
    assert not m.get_connection_status("job")


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_socket_list_broadcast_DISC_2(variant):
    ws = await _disconnect_during_connect_flush("socket_list_broadcast", variant)
    assert texts(ws) == (lines(3) if variant == broken else ["m0"])


# -- replay_buffer ---------------------------------------------------------------------------

@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_replay_buffer_ORD_3(variant):
    m = make("replay_buffer", variant)
    first, second = FakeWebSocket(), FakeWebSocket()
    await m.connect(first, "job")
    await m.send_log("job", "info", "a")
    await m.connect(second, "job")  # a reload: the new tab replaces the old one
    assert texts(first) == ["a"]
    assert texts(second) == (["a"] if variant == broken else [])


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_replay_buffer_CAP_1(variant):
    m = make("replay_buffer", variant, max_queue_size=3)
    await log_all(m, "job", lines(5))
    assert m.get_queued_message_count("job") == (5 if variant == broken else 3)


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_replay_buffer_CAP_3(variant):
    m = make("replay_buffer", variant, max_queue_size=3)
    await log_all(m, "job", lines(5))
    ws = FakeWebSocket()
    await m.connect(ws, "job")
    assert texts(ws) == (lines(5) if variant == broken else ["m2", "m3", "m4"])


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_replay_buffer_FLUSH_2(variant):
    m = make("replay_buffer", variant)
    ws = FakeWebSocket()
    await m.connect(ws, "job")
    await m.send_log("job", "info", "a")
    assert texts(ws) == ["a"] and m.get_connection_status("job")
    assert m.get_queued_message_count("job") == (1 if variant == broken else 0)


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_replay_buffer_DISC_1(variant):
    m = make("replay_buffer", variant)
    await log_all(m, "job", lines(2))
    discarded = m.disconnect("job")
    if variant == broken:
        assert discarded == 0 and m.get_queued_message_count("job") == 2 and "job" in m.message_queues
    else:
        assert discarded == 2 and m.get_queued_message_count("job") == 0 and "job" not in m.message_queues


async def _many_tasks_come_and_go(idiom: str, variant: str, n: int = 20) -> object:
    m = make(idiom, variant)
    for i in range(n):
        await log_all(m, f"t{i}", lines(2))
        await m.connect(FakeWebSocket(), f"t{i}")
        m.disconnect(f"t{i}")
    return m


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_replay_buffer_MEM_1(variant):
    m = await _many_tasks_come_and_go("replay_buffer", variant)
    assert len(m.message_queues) == (20 if variant == broken else 0)


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_replay_buffer_DISC_2(variant):
    ws = await _disconnect_during_connect_flush("replay_buffer", variant)
    assert texts(ws) == (lines(3) if variant == broken else ["m0"])


# -- writer_task_per_connection (fixed: writer_task_correct) ---------------------------------

async def _stalled_writer_with_backlog(variant: str) -> tuple[object, FakeWebSocket, Gate, int]:
    """Cap 3, a client whose first send stalls, seven lines: how many are held?"""
    m = make("writer_task_per_connection", variant, max_queue_size=3)
    gate = Gate()
    ws = FakeWebSocket(gate)
    await m.connect(ws, "job")
    await log_all(m, "job", ["m0"])
    await gate.wait_pending(1)  # m0 is being written
    await log_all(m, "job", lines(7)[1:])
    await settle()
    return m, ws, gate, m.get_queued_message_count("job")


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_writer_task_per_connection_FLUSH_1(variant):
    m = make("writer_task_per_connection", variant)
    await log_all(m, "job", lines(2))
    ws = FakeWebSocket()
    await m.connect(ws, "job")
    await m.send_log("job", "info", "live")
    await settle()
    assert texts(ws) == (["live"] if variant == broken else ["m0", "m1", "live"])
    m.disconnect("job")


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_writer_task_per_connection_CAP_1(variant):
    m, ws, gate, held = await _stalled_writer_with_backlog(variant)
    # m0 is being written; the broken queue holds the other six, the cap is 3
    assert held == 6 if variant == broken else held <= 3
    gate.open()
    await settle()
    m.disconnect("job")


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_writer_task_per_connection_CAP_3(variant):
    m, ws, gate, _ = await _stalled_writer_with_backlog(variant)
    gate.open()
    await settle()
    assert texts(ws) == (lines(7) if variant == broken else ["m0", "m4", "m5", "m6"])
    m.disconnect("job")


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_writer_task_per_connection_FAIL_1(variant):
    after_failure, second, _ = await _failed_send_then_next_client("writer_task_per_connection", variant)
    if variant == broken:
        assert after_failure == (True, 0) and texts(second) == []  # "a" lost, "b" fed to the dead queue
    else:
        assert after_failure == (False, 1) and texts(second) == ["a", "b"]


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_writer_task_per_connection_FLUSH_2(variant):
    m = make("writer_task_per_connection", variant)
    await m.connect(FakeWebSocket(FailOnSend(1, RuntimeError("transport broke"))), "job")
    await log_all(m, "job", ["a", "b", "c"])
    await settle()
    connected, queued = m.get_connection_status("job"), m.get_queued_message_count("job")
    if variant == broken:
        assert connected and queued == 2  # "a" lost; "b", "c" wait for a writer that ended
    else:
        assert not connected and queued == 3


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_writer_task_per_connection_DISC_2(variant):
    m = make("writer_task_per_connection", variant)
    gate = Gate()
    ws = FakeWebSocket(gate)
    await m.connect(ws, "job")
    await log_all(m, "job", lines(3))
    await gate.wait_pending(1)
    m.disconnect("job")
    gate.open()
    await settle()
    if variant == broken:
        assert texts(ws) == lines(3)
    else:
        assert texts(ws) in ([], ["m0"])  # the in-flight write was cancelled


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_writer_task_per_connection_REPL_1(variant):
    m = make("writer_task_per_connection", variant)
    gate = Gate()
    old, new = FakeWebSocket(gate), FakeWebSocket()
    await m.connect(old, "job")
    await log_all(m, "job", lines(3))
    await gate.wait_pending(1)  # m0 is being written to the old socket
    await m.connect(new, "job")
    gate.open()
    await settle()
    if variant == broken:
        assert texts(old) == lines(3) and texts(new) == []
    else:
        assert texts(old) == ["m0"] and texts(new) == ["m1", "m2"] and old.close_code == 4000
    m.disconnect("job")


# -- no_lock (anyio: both backends) ----------------------------------------------------------

async def _live_line_during_slow_flush(idiom: str, variant: str) -> FakeWebSocket:
    """Three lines queued; connect's first write takes 10 s; "live" is logged meanwhile."""
    m = make(idiom, variant)
    await log_all(m, "job", lines(3))
    ws = FakeWebSocket(slow_first_send(), strict=False)  # record overlap instead of raising
    async with anyio.create_task_group() as group:
        group.start_soon(m.connect, ws, "job")
        await anyio.wait_all_tasks_blocked()
        await m.send_log("job", "info", "live")
    return ws


@VARIANTS
@guarded
async def test_no_lock_LOCK_1(variant):
    ws = await _live_line_during_slow_flush("no_lock", variant)
    assert overlapping(ws) == (variant == broken)


@VARIANTS
@guarded
async def test_no_lock_ORD_2(variant):
    ws = await _live_line_during_slow_flush("no_lock", variant)
    assert texts(ws) == (["m1", "m2", "live", "m0"] if variant == broken else lines(3) + ["live"])


@VARIANTS
@guarded
async def test_no_lock_FLUSH_1(variant):
    ws = await _live_line_during_slow_flush("no_lock", variant)
    got = texts(ws)
    assert (got.index("live") < got.index("m0")) == (variant == broken)


async def _replace_during_inflight_write(idiom: str, variant: str) -> tuple[object, FakeWebSocket, FakeWebSocket]:
    m = make(idiom, variant)
    gate = Gate()
    old, new = FakeWebSocket(gate, strict=False), FakeWebSocket()
    await m.connect(old, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(m.send_log, "job", "info", "a")
        await gate.wait_pending(1)
        group.start_soon(m.connect, new, "job")
        await anyio.wait_all_tasks_blocked()
        gate.open()
    return m, old, new


@VARIANTS
@guarded
async def test_no_lock_REPL_1(variant):
    m, old, new = await _replace_during_inflight_write("no_lock", variant)
    details = [e.detail for e in old.events_of("close")]
    if variant == broken:
        assert details == ["while_send_in_flight"] and texts(old) == []
    else:
        assert details == [None] and texts(old) == ["a"] and old.close_code == 4000


@VARIANTS
@guarded
async def test_no_lock_FLUSH_2(variant):
    m, old, new = await _replace_during_inflight_write("no_lock", variant)
    settled = (m.get_connection_status("job"), m.get_queued_message_count("job"))
    assert settled == ((True, 1) if variant == broken else (True, 0))
    assert texts(new) == []


async def _two_writes_fail(variant: str) -> object:
    """Cap 1; "a" and "b" are both being written when the client's sends fail."""
    m = make("no_lock", variant, max_queue_size=1)
    gate = Gate()
    ws = FakeWebSocket(gate, strict=False)
    await m.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(m.send_log, "job", "info", "a")
        await gate.wait_pending(1)
        group.start_soon(m.send_log, "job", "info", "b")
        await anyio.wait_all_tasks_blocked()
        while gate.pending:
            gate.fail_pending(RuntimeError("transport broke"), n=1)
            await anyio.wait_all_tasks_blocked()
    return m


@VARIANTS
@guarded
async def test_no_lock_CAP_1(variant):
    """Each failed line goes back with appendleft (broken): the queue holds two; the
    locked variant holds one."""
    m = await _two_writes_fail(variant)
    assert m.get_queued_message_count("job") == (2 if variant == broken else 1)


@VARIANTS
@guarded
async def test_no_lock_CAP_3(variant):
    """...and nothing gives way: the next client gets both lines, not the newest one."""
    m = await _two_writes_fail(variant)
    ws = FakeWebSocket()
    await m.connect(ws, "job")
    assert len(texts(ws)) == (2 if variant == broken else 1)


# -- user_registry ---------------------------------------------------------------------------

@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_CAP_1(variant):
    m = make("user_registry", variant, max_queue_size=3)
    await log_all(m, "job", lines(5))
    assert m.get_queued_message_count("job") == (5 if variant == broken else 3)


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_CAP_3(variant):
    m = make("user_registry", variant, max_queue_size=3)
    await log_all(m, "job", lines(5))
    ws = FakeWebSocket()
    await m.connect(ws, "job")
    assert texts(ws) == (lines(5) if variant == broken else ["m2", "m3", "m4"])


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_REPL_1(variant):
    first, second = await _two_connects_then_log("user_registry", variant)
    assert texts(first) == (["x"] if variant == broken else [])
    assert texts(second) == ["x"]


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_ORD_3(variant):
    first, second = await _two_connects_then_log("user_registry", variant)
    assert (texts(first) + texts(second)).count("x") == (2 if variant == broken else 1)


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_FAIL_1(variant):
    after_failure, second, _ = await _failed_send_then_next_client("user_registry", variant)
    if variant == broken:
        assert after_failure == (False, 0) and texts(second) == ["b"]  # "a" is gone
    else:
        assert after_failure == (False, 1) and texts(second) == ["a", "b"]


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_FAIL_2(variant):
    _, _, errors = await _failed_send_then_next_client("user_registry", variant)
    if variant == broken:
        assert [type(e) for e in errors] == [RuntimeError]
        assert "changed size during iteration" in str(errors[0])
    else:
        assert errors == []


async def _two_producers_first_write_slow(idiom: str, variant: str) -> FakeWebSocket:
    m = make(idiom, variant)
    ws = FakeWebSocket(slow_first_send(), strict=False)
    await m.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(m.send_log, "job", "info", "a")
        await anyio.wait_all_tasks_blocked()  # "a" is being written (10 s)
        await m.send_log("job", "info", "b")
    return ws


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_LOCK_1(variant):
    ws = await _two_producers_first_write_slow("user_registry", variant)
    assert overlapping(ws) == (variant == broken)


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_ORD_2(variant):
    ws = await _two_producers_first_write_slow("user_registry", variant)
    assert texts(ws) == (["b", "a"] if variant == broken else ["a", "b"])


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_user_registry_DISC_2(variant):
    m = make("user_registry", variant)
    gate = Gate()
    first, second = FakeWebSocket(gate), FakeWebSocket(gate)
    await m.connect(first, "job")
    await m.connect(second, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(m.send_log, "job", "info", "x")
        await gate.wait_pending(1)  # "x" is being written to one socket
        m.disconnect("job")
        gate.open()
    # broken: the loop goes on to the other (removed) socket after the disconnect
    assert (texts(first) + texts(second)).count("x") == (2 if variant == broken else 1)


# -- propagating_send_errors -----------------------------------------------------------------

@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_propagating_send_errors_FAIL_2(variant):
    _, _, errors = await _failed_send_then_next_client("propagating_send_errors", variant)
    assert [str(e) for e in errors] == (["transport broke"] if variant == broken else [])


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_propagating_send_errors_FAIL_1(variant):
    after_failure, second, _ = await _failed_send_then_next_client("propagating_send_errors", variant)
    assert after_failure == ((True, 1) if variant == broken else (False, 1))
    if variant != broken:
        assert texts(second) == ["a", "b"]


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_propagating_send_errors_FLUSH_2(variant):
    m = make("propagating_send_errors", variant)
    await m.connect(FakeWebSocket(FailOnSend(1, RuntimeError("transport broke"))), "job")
    await log_all(m, "job", ["a"])
    connected, queued = m.get_connection_status("job"), m.get_queued_message_count("job")
    assert (connected and queued > 0) == (variant == broken)


# -- fixed_cap -------------------------------------------------------------------------------

@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_fixed_cap_CAP_1(variant):
    m = make("fixed_cap", variant, max_queue_size=3)
    await log_all(m, "job", lines(5))
    assert m.get_queued_message_count("job") == (5 if variant == broken else 3)


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_fixed_cap_CAP_3(variant):
    m = make("fixed_cap", variant, max_queue_size=3)
    await log_all(m, "job", lines(5))
    ws = FakeWebSocket()
    await m.connect(ws, "job")
    assert ws.texts() == []  # bytes frames, UTF-8 JSON
    assert texts(ws) == (lines(5) if variant == broken else ["m2", "m3", "m4"])


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_fixed_cap_FID_1(variant):
    m = make("fixed_cap", variant)
    ws = FakeWebSocket()
    await m.connect(ws, "job")
    await m.send_log("job", "info", "halfway", progress=42.5)
    await m.send_log("job", "info", "no bar")
    assert [f["progress"] for f in fields(ws)] == ([42, None] if variant == broken else [42.5, None])


# -- blocking_producer -----------------------------------------------------------------------

@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_blocking_producer_PROD_1(variant):
    m = make("blocking_producer", variant, max_queue_size=2)
    await log_all(m, "job", lines(2))
    started = anyio.current_time()
    with anyio.move_on_after(60) as scope:
        await m.send_log("job", "info", "m2")  # the queue is full and nobody reads it
    if variant == broken:
        assert scope.cancelled_caught
    else:
        assert not scope.cancelled_caught and anyio.current_time() == started


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_blocking_producer_CAP_3(variant):
    m = make("blocking_producer", variant, max_queue_size=2)
    await log_all(m, "job", lines(2))
    async with anyio.create_task_group() as group:
        group.start_soon(m.send_log, "job", "info", "m2")
        await anyio.wait_all_tasks_blocked()
        queued_meanwhile = m.get_queued_message_count("job")
        ws = FakeWebSocket()
        await m.connect(ws, "job")
    assert queued_meanwhile == 2
    # broken: m0 never gave way; the producer waited and m2 came after the backlog
    assert texts(ws) == (lines(3) if variant == broken else ["m1", "m2"])


@ASYNCIO_ONLY
@VARIANTS
@guarded
async def test_blocking_producer_FAIL_1(variant):
    after_failure, second, _ = await _failed_send_then_next_client("blocking_producer", variant)
    if variant == broken:
        assert after_failure == (False, 0) and texts(second) == ["b"]
    else:
        assert after_failure == (False, 1) and texts(second) == ["a", "b"]


# -- global_lock (anyio: both backends) ------------------------------------------------------

@VARIANTS
@guarded
async def test_global_lock_DISC_2(variant):
    """disconnect() while a send is in flight, then that send fails: the broken failure
    path's ``del active_connections[task_id]`` raises KeyError into the producer."""
    m = make("global_lock", variant)
    gate = Gate()
    ws = FakeWebSocket(gate, strict=False)
    await m.connect(ws, "job")
    errors: list[BaseException] = []
    async with anyio.create_task_group() as group:
        async def produce() -> None:
            errors.extend(await log_all(m, "job", ["a"]))

        group.start_soon(produce)
        await gate.wait_pending(1)
        m.disconnect("job")
        gate.fail_pending(RuntimeError("transport broke"))
    assert [type(e) for e in errors] == ([KeyError] if variant == broken else [])


@VARIANTS
@guarded
async def test_global_lock_ISO_1(variant):
    m = make("global_lock", variant)
    stalled = Gate()
    await m.connect(FakeWebSocket(stalled), "slow")
    fast = FakeWebSocket()
    await m.connect(fast, "fast")
    async with anyio.create_task_group() as group:
        group.start_soon(m.send_log, "slow", "info", "stuck")
        await stalled.wait_pending(1)
        with anyio.move_on_after(60) as scope:
            await m.send_log("fast", "info", "quick")
        stalled.open()
    assert scope.cancelled_caught == (variant == broken)
    assert texts(fast) == ([] if variant == broken else ["quick"])


@VARIANTS
@guarded
async def test_global_lock_DISC_1(variant):
    m = make("global_lock", variant)
    await log_all(m, "job", lines(2))
    if variant == broken:
        with pytest.raises(KeyError):
            m.disconnect("job")  # never connected
        await m.connect(FakeWebSocket(), "other")
        m.disconnect("other")
        with pytest.raises(KeyError):
            m.disconnect("other")  # not idempotent
        assert m.get_queued_message_count("job") == 2
    else:
        assert m.disconnect("job") == 2 and m.disconnect("job") == 0
        assert m.get_queued_message_count("job") == 0 and "job" not in m.message_queues


@VARIANTS
@guarded
async def test_global_lock_MEM_1(variant):
    m = await _many_tasks_come_and_go("global_lock", variant)
    assert len(m.message_queues) == (20 if variant == broken else 0)


@VARIANTS
@guarded
async def test_global_lock_REPL_1(variant):
    m = make("global_lock", variant)
    gate = Gate()
    old, new = FakeWebSocket(gate), FakeWebSocket()
    await m.connect(old, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(m.send_log, "job", "info", "a")
        await gate.wait_pending(1)  # "a" is being written to the old socket
        group.start_soon(m.connect, new, "job")
        await anyio.wait_all_tasks_blocked()
        group.start_soon(m.send_log, "job", "info", "b")  # logged after connect began
        await anyio.wait_all_tasks_blocked()
        gate.open()
    assert texts(old) == (["a", "b"] if variant == broken else ["a"])
    assert texts(new) == ([] if variant == broken else ["b"])
