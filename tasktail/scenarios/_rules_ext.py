"""Scripted checks of the extension rules (each runs only when its capabilities are claimed)."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone

import anyio
import anyio.to_thread

from tasktail.fakes import FakeWebSocket, Gate, WallClock

from ._rules import Harness, check, expect, wait_blocked
from ._rules_core import CLOSE_CODES

WIRE_KEYS = ["type", "task_id", "seq", "timestamp", "level", "message", "progress", "finished"]
GAP_KEYS = ["type", "task_id", "first_seq", "last_seq", "count", "reason"]


def _raw(ws: FakeWebSocket) -> list[dict]:
    return [json.loads(t) for t in ws.texts()]


@check("WIRE-1")
async def conform_wire1_log_frame_shape(h: Harness) -> None:
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    await h.log("t", "t#0 é ✓", progress=50)
    frame, text = _raw(ws)[0], ws.texts()[0]
    expect(list(frame) == WIRE_KEYS, f"keys {list(frame)}")
    expect(frame["type"] == "log" and frame["seq"] == 1 and frame["progress"] == 50
           and isinstance(frame["progress"], int) and frame["finished"] is False, f"frame {frame}")
    expect("é ✓" in text, f"non-ASCII escaped: {text}")


@check("WIRE-2")
async def conform_wire2_gap_frame_shape(h: Harness) -> None:
    h.build(cap=1)
    for n in range(3):
        await h.log("t", f"t#{n}")
    ws = h.socket()
    await h.connect(ws, "t")
    gaps = [f for f in _raw(ws) if f.get("type") == "gap"]
    expect(gaps and list(gaps[0]) == GAP_KEYS, f"frames {_raw(ws)}")
    g = gaps[0]
    expect(g["count"] == g["last_seq"] - g["first_seq"] + 1 and g["reason"] == "dropped", f"gap {g}")


@check("WIRE-3")
async def conform_wire3_timestamp_from_injected_clock(h: Harness) -> None:
    clock = WallClock(1_764_000_000.9999996, follow_loop=False)
    h.build(clock=clock)
    ws = h.socket()
    await h.connect(ws, "t")
    await h.log("t", "t#0")
    stamp = _raw(ws)[0]["timestamp"]
    expected = datetime.fromtimestamp(1_764_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.999999Z")
    expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp) and stamp == expected,
           f"timestamp {stamp!r}, expected {expected!r}")


@check("ORD-1")
async def conform_ord1_seq_in_call_order(h: Harness) -> None:
    h.build()
    seqs = [(await h.log("t", f"t#{n}")).seq for n in range(3)]
    expect(seqs == [1, 2, 3], f"seqs {seqs}")
    gate = Gate()
    await h.connect(h.socket(gate), "u")
    results = {}

    async def produce(name: str) -> None:
        results[name] = (await h.log("u", name)).seq

    async with anyio.create_task_group() as group:
        group.start_soon(produce, "u#first")
        await gate.wait_pending(1)
        group.start_soon(produce, "u#second")
        await wait_blocked()
        gate.open()
    expect(results == {"u#first": 1, "u#second": 2}, f"seqs {results}")


@check("DISC-3")
async def conform_disc3_send_after_disconnect_starts_fresh(h: Harness) -> None:
    h.build()
    await h.log("t", "t#0")
    await h.log("t", "t#1")
    await h.disconnect("t")
    expect((await h.log("t", "t#2")).seq == 1, "seq did not restart at 1")


@check("CAP-2")
async def conform_cap2_finished_survives_every_policy(h: Harness) -> None:
    from tasktail import CoalesceProgress, DropOldest, RejectNewest

    for policy in (DropOldest(), RejectNewest(), CoalesceProgress()):
        h.build(cap=2, overflow=policy)
        for n in range(3):
            await h.log("t", f"t#{n}", progress=n)
        await h.log("t", "t#end", finished=True)
        ws = h.socket()
        await h.connect(ws, "t")
        expect("t#end" in h.texts(ws), f"{policy!r}: the finished message was lost: {h.texts(ws)}")


@check("CAP-4")
async def conform_cap4_reject_newest_keeps_oldest(h: Harness) -> None:
    from tasktail import RejectNewest

    h.build(cap=2, overflow=RejectNewest())
    for n in range(4):
        await h.log("t", f"t#{n}")
    await h.log("t", "t#end", finished=True)
    ws = h.socket()
    await h.connect(ws, "t")
    expect(h.texts(ws) == ["t#0", "t#end"], f"got {h.texts(ws)}")


@check("CAP-5")
async def conform_cap5_coalesce_progress_replaces_tail(h: Harness) -> None:
    from tasktail import CoalesceProgress

    h.build(cap=2, overflow=CoalesceProgress())
    await h.log("t", "t#plain")
    for p in (10, 20, 30):
        await h.log("t", f"t#p{p}", progress=p)
    ws = h.socket()
    await h.connect(ws, "t")
    expect(h.texts(ws) == ["t#plain", "t#p30"], f"got {h.texts(ws)}")


@check("GAP-1")
async def conform_gap1_notice_precedes_message_and_is_told_once(h: Harness) -> None:
    h.build(cap=2)
    for n in range(5):
        await h.log("t", f"t#{n}")
    ws = h.socket()
    await h.connect(ws, "t")
    got = [i.short() for i in h.items(ws)]
    expect(got == ["gap[1..3 dropped]", "t#3(seq 4)", "t#4(seq 5)"], f"got {got}")
    again = h.socket()
    await h.connect(again, "t")
    expect(h.items(again) == [], f"the range was told again: {[i.short() for i in h.items(again)]}")


@check("GAP-2")
async def conform_gap2_accounting_identity(h: Harness) -> None:
    h.build(cap=2)
    for n in range(5):
        await h.log("t", f"t#{n}")
    await h.connect(h.socket(), "t")
    await h.log("t", "t#5")
    await h.log("u", "u#0")
    await h.disconnect("u")
    t, s = h.manager.task_statistics("t"), h.manager.statistics()
    expect(t.last_seq == t.delivered + t.queued + t.dropped, f"{t}")
    expect(s.logged == s.delivered + s.queued + s.dropped + s.discarded, f"{s}")


@check("FAIL-3")
async def conform_fail3_cancelled_producer_keeps_its_message(h: Harness) -> None:
    h.build()
    gate = Gate()
    ws = h.socket(gate)
    await h.connect(ws, "t")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "t", "t#0")
        await gate.wait_pending(1)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await h.log("t", "t#cancelled")  # waits for the lock, and is cancelled there
        group.start_soon(h.log, "t", "t#2")
        await wait_blocked()
        gate.open()
    expect(h.texts(ws) == ["t#0", "t#cancelled", "t#2"], f"got {h.texts(ws)}")
    h.build()
    gate = Gate()
    ws = h.socket(gate)
    await h.connect(ws, "u")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "u", "u#0")
        await gate.wait_pending(1)
        group.cancel_scope.cancel()
    expect(h.status("u") == (False, 1), f"cancelled mid-send: (connected, queued) = {h.status('u')}")


@check("FAIL-3")
async def conform_fail3_producer_cancelled_during_connect_flush(h: Harness) -> None:
    """A producer cancelled while connect flushes: connect sends its message before returning."""
    h.build()
    await h.log("t", "t#0")
    gate = Gate()
    ws = h.socket(gate)
    async with anyio.create_task_group() as group:
        group.start_soon(h.connect, ws, "t")
        await gate.wait_pending(1)  # connect holds the lock, writing t#0
        with anyio.CancelScope() as scope:
            scope.cancel()
            await h.log("t", "t#cancelled")  # waits for the lock, and is cancelled there
        await wait_blocked()
        gate.open()
    expect(h.texts(ws) == ["t#0", "t#cancelled"], f"got {h.texts(ws)}")
    expect(h.status("t") == (True, 0), f"settled (connected, queued) = {h.status('t')}")


@check("REPL-2")
async def conform_repl2_stale_detach_is_a_no_op(h: Harness) -> None:
    h.build()
    old, new = h.socket(), h.socket()
    await h.connect(old, "t")
    await h.connect(new, "t")
    h.manager.detach("t", old)
    expect(h.status("t")[0], "detaching the replaced socket removed its successor")
    h.manager.detach("t", new)
    await h.log("t", "t#0")
    expect(h.status("t") == (False, 1), f"after detach (connected, queued) = {h.status('t')}")


BAD_LOGS = [({"task_id": ""}, "task_id"), ({"task_id": 3}, "task_id"), ({"level": "loud"}, "level"),
            ({"message": 5}, "message"), ({"progress": True}, "progress"), ({"progress": 101}, "progress"),
            ({"progress": float("nan")}, "progress"), ({"finished": "yes"}, "finished")]


@check("VAL-1")
async def conform_val1_bad_input_changes_nothing(h: Harness) -> None:
    h.build()
    for bad, name in BAD_LOGS:
        args = {"task_id": "t", "level": "info", "message": "t#x", **bad}
        try:
            await h.manager.send_log(**args)
        except (TypeError, ValueError) as exc:
            expect(name in str(exc), f"{bad}: the error {exc!r} does not name {name!r}")
        else:
            raise AssertionError(f"send_log accepted {bad}")
        expect(h.status("t") == (False, 0), f"after bad {bad}: {h.status('t')}")
    expect((await h.log("t", "t#ok")).seq == 1, "a rejected call spent a seq")


@check("VAL-2")
async def conform_val2_bad_config_and_after_seq(h: Harness) -> None:
    for bad in ({"max_queue_size": 0}, {"max_queue_size": "3"}, {"max_queue_size": True}):
        try:
            h.subject.factory(**bad)
        except (TypeError, ValueError):
            continue
        raise AssertionError(f"the factory accepted {bad}")
    if h.claims("resume"):
        h.build()
        for bad in (-1, True, "1"):
            try:
                await h.connect(h.socket(), "t", after_seq=bad)
            except (TypeError, ValueError):
                continue
            raise AssertionError(f"connect accepted after_seq={bad!r}")


@check("FIN-1")
async def conform_fin1_send_after_finished_raises(h: Harness) -> None:
    h.build()
    await h.log("t", "t#0", finished=True)
    try:
        await h.log("t", "t#1")
    except Exception as exc:
        expect(type(exc).__name__ == "TaskFinishedError", f"raised {exc!r}")
    else:
        raise AssertionError("send_log after finished=True did not raise")
    expect(h.status("t")[1] == 1, f"queued {h.status('t')[1]}")
    await h.disconnect("t")
    await h.log("t", "t#2")


@check("RES-1")
async def conform_res1_resume_replays_history(h: Harness) -> None:
    h.build(history_size=5)
    first = h.socket()
    await h.connect(first, "t")
    for n in range(3):
        await h.log("t", f"t#{n}")
    h.manager.detach("t", first) if h.claims("detach") else first.client.vanish()
    await h.log("t", "t#3")
    second = h.socket()
    await h.connect(second, "t", after_seq=1)
    expect(h.texts(second) == ["t#1", "t#2", "t#3"], f"resumed after 1, got {h.texts(second)}")


@check("RES-2")
async def conform_res2_resume_beyond_history_gets_expired(h: Harness) -> None:
    h.build(history_size=0)
    first = h.socket()
    await h.connect(first, "t")
    for n in range(2):
        await h.log("t", f"t#{n}")
    second = h.socket()
    await h.connect(second, "t", after_seq=0)
    got = [i.short() for i in h.items(second)]
    expect(got == ["gap[1..2 expired]"], f"got {got}")


@check("RES-3")
async def conform_res3_resume_point_beyond_last_seq(h: Harness) -> None:
    h.build()
    await h.log("t", "t#0")
    ws = h.socket()
    try:
        await h.connect(ws, "t", after_seq=5)
    except ValueError:
        expect(not ws.client.accepted, "the socket was accepted before after_seq was rejected")
    else:
        raise AssertionError("connect accepted after_seq beyond the last seq")


@check("MEM-2")
async def conform_mem2_queued_message_is_compact(h: Harness) -> None:
    h.build()
    await h.log("t", "t#0")
    item = h.manager.message_queues["t"][0]
    expect(isinstance(item, tuple) and len(item) == 7 and not hasattr(item, "__dict__"), f"queued item {item!r}")


@check("MEM-3")
async def conform_mem3_idle_task_expires_lazily(h: Harness) -> None:
    clock = WallClock(follow_loop=False)
    h.build(task_ttl=80.0, clock=clock)
    await h.log("idle", "idle#0")
    await h.connect(h.socket(), "busy")
    clock.advance(200.0)
    await h.log("other", "other#0")
    expect(h.status("idle") == (False, 0) and h.status("busy")[0], f"idle {h.status('idle')}, busy {h.status('busy')}")


@check("MEM-4")
async def conform_mem4_max_tasks(h: Harness) -> None:
    h.build(max_tasks=2)
    await h.log("a", "a#0")
    await h.log("b", "b#0")
    await h.log("c", "c#0")
    expect(h.status("a") == (False, 0) and h.status("c")[1] == 1, "the oldest unconnected task was not evicted")
    h.build(max_tasks=1)
    await h.connect(h.socket(), "a")
    try:
        await h.log("b", "b#0")
    except Exception as exc:
        expect(type(exc).__name__ == "TaskLimitError", f"raised {exc!r}")
    else:
        raise AssertionError("a task beyond max_tasks with every task connected was accepted")


@check("THR-1")
async def conform_thr1_threadsafe_logger(h: Harness) -> None:
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    logger = h.manager.threadsafe()
    entry = await anyio.to_thread.run_sync(lambda: logger.send_log("t", "info", "t#thread"))
    expect(h.texts(ws) == ["t#thread"] and entry.seq == 1, f"got {h.texts(ws)}")


@check("THR-2")
async def conform_thr2_clear_failures(h: Harness) -> None:
    h.build()
    logger = h.manager.threadsafe()
    try:
        logger.send_log("t", "info", "t#x")
    except RuntimeError:
        pass
    else:
        raise AssertionError("send_log on the loop's own thread did not raise RuntimeError")
    h.__dict__["after_loop"] = logger  # checked by the suite after the loop closed


def thr2_after_loop(logger) -> str | None:
    box: list = []
    thread = threading.Thread(target=lambda: box.append(_try(logger)))
    thread.start()
    thread.join(10)
    return box[0] if box else "the call after the loop closed hung"


def _try(logger) -> str | None:
    try:
        logger.send_log("t", "info", "t#late")
    except Exception as exc:
        return None if type(exc).__name__ == "LoopClosedError" else f"raised {exc!r}, not LoopClosedError"
    return "send_log after the loop closed did not raise"


@check("STAT-1")
async def conform_stat1_frozen_snapshots(h: Harness) -> None:
    h.build()
    before, task_before = h.manager.statistics(), h.manager.task_statistics("t")
    await h.log("t", "t#0")
    expect(before.logged == 0 and task_before.known is False, "snapshots changed after the fact")
    try:
        before.logged = 5
    except Exception:
        pass
    else:
        raise AssertionError("statistics() is not frozen")


@check("CLOSE-1")
async def conform_close1_only_documented_codes(h: Harness) -> None:
    from tasktail.fakes import FailOnSend

    h.build()
    sockets = [h.socket(FailOnSend(1, RuntimeError("x"))), h.socket(), h.socket()]
    for ws in sockets:
        await h.connect(ws, "t")
        await h.log("t", "t#")
    codes = [ws.close_code for ws in sockets if ws.close_code is not None]
    expect(set(codes) <= CLOSE_CODES and codes[:2] == [1011, 4000], f"close codes {codes}")


def _adapter_socket(query: dict | None = None, behaviour=None) -> FakeWebSocket:
    ws = FakeWebSocket(behaviour, strict=False)
    ws.query_params = query or {}  # type: ignore[attr-defined]
    return ws


@check("ADAPT-1")
async def conform_adapt1_streams_then_detaches(h: Harness) -> None:
    from tasktail.manager.starlette import stream_task

    h.build()
    ws = _adapter_socket()
    async with anyio.create_task_group() as group:
        group.start_soon(stream_task, ws, h.manager, "t")
        await wait_blocked()
        await h.log("t", "t#0")
        ws.client.disconnect(1000)
    await h.log("t", "t#1")
    expect(h.texts(ws) == ["t#0"] and h.status("t") == (False, 1), f"got {h.texts(ws)}, {h.status('t')}")


@check("ADAPT-2")
async def conform_adapt2_bad_after_seq_is_refused(h: Harness) -> None:
    from tasktail.manager.starlette import stream_task

    h.build()
    ws = _adapter_socket({"after_seq": "-1"})
    with anyio.fail_after(10):
        await stream_task(ws, h.manager, "t")
    expect(ws.close_code == 1008, f"closed with {ws.close_code}")


@check("ADAPT-3")
async def conform_adapt3_oversized_client_frame(h: Harness) -> None:
    from tasktail.manager.starlette import stream_task

    h.build()
    ws = _adapter_socket()
    async with anyio.create_task_group() as group:
        group.start_soon(stream_task, ws, h.manager, "t")
        await wait_blocked()
        ws.client.send_text("x" * 5000)
    expect(ws.close_code == 1009, f"closed with {ws.close_code}")
