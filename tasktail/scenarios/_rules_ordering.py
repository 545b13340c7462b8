"""Scripted checks of SPEC's wire format, ordering and flush rules (WIRE, ORD, FLUSH, DISC-3).

DISC-3 (seq restarts at 1 after a disconnect) is about numbering, so it sits with ORD-1.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import anyio

from tasktail.fakes import FailOnSend, FakeWebSocket, Hook, NeverAccepts, WallClock

from ._harness import Failed, Harness, check, expect, expect_texts, wait_blocked
from ._subject import suite_gate

__all__ = ["GAP_KEYS", "WIRE_KEYS", "conform_disc3_send_after_disconnect_starts_fresh",
    "conform_flush1_connect_flushes_queue_in_order", "conform_flush1_send_during_flush_comes_after",
    "conform_flush2_settled_connected_task_has_empty_queue",
    "conform_flush1_queued_message_reaches_late_client", "conform_flush2_live_message_reaches_client",
    "conform_ord3_no_duplicates_across_live_connections",
    "conform_flush3_accept_failure_registers_nothing", "conform_ord1_seq_in_call_order",
    "conform_ord2_concurrent_producers_in_start_order", "conform_ord2_sequential_sends_in_order",
    "conform_ord3_no_duplicates_across_reconnects", "conform_wire1_log_frame_shape",
    "conform_wire2_gap_frame_shape", "conform_wire3_timestamp_from_injected_clock"]


# -- core rules ----------------------------------------------------------------------------

@check("FLUSH-2", needs=())
async def conform_flush2_live_message_reaches_client(h: Harness) -> None:
    """Precondition "live": a message logged while a client is connected reaches it."""
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    await h.log("t", "t#0")
    await h.settle()
    expect_texts(h.texts(ws), ["t#0"], f"a connected client got {h.texts(ws)} for one message logged while "
                 "it was connected (after everything settled)")


@check("FLUSH-1", needs=("live",))
async def conform_flush1_queued_message_reaches_late_client(h: Harness) -> None:
    """Precondition "queue": a message logged before any client reaches the one that connects."""
    h.build()
    await h.log("t", "t#0")
    ws = h.socket()
    await h.connect(ws, "t")
    await h.settle()
    expect_texts(h.texts(ws), ["t#0"], f"a message logged before the client connected never reached it: got "
                 f"{h.texts(ws)} (the manager keeps no queue for a task without a client)")


@check("ORD-2", needs=("live",))
async def conform_ord2_sequential_sends_in_order(h: Harness) -> None:
    """Sends that return one after another arrive in that order."""
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    await h.log_numbered("t", 4)
    await h.settle()
    expect_texts(h.texts(ws), [f"t#{n}" for n in range(4)], f"got {h.texts(ws)}")


@check("ORD-2", needs=("live",))
async def conform_ord2_concurrent_producers_in_start_order(h: Harness) -> None:
    """Producers started one after another while a send is stalled arrive in start order."""
    h.build(cap=20)
    gate, ws = await h.gated_client("t")
    async with anyio.create_task_group() as group:
        for n in range(6):
            group.start_soon(h.log, "t", f"t#{n}")
            await wait_blocked()
        for _ in range(6):
            await h.pending(gate)
            gate.release(1)
            await wait_blocked()
        gate.open()
    await h.settle()
    expect_texts(h.texts(ws), [f"t#{n}" for n in range(6)], f"got {h.texts(ws)}")


@check("ORD-3", needs=("live", "queue"))
async def conform_ord3_no_duplicates_across_reconnects(h: Harness) -> None:
    """A client whose second send fails, then a new client: every message once, in order."""
    h.build()
    await h.log_numbered("t", 2)
    first = h.socket(FailOnSend(2, RuntimeError("boom")))
    await h.deferring(h.connect, first, "t")
    await h.settle()
    for n in (2, 3):
        await h.deferring(h.log, "t", f"t#{n}")
    second = h.socket()
    await h.deferring(h.connect, second, "t")
    await h.settle()
    got = h.texts(first) + h.texts(second)
    expect(len(got) == len(set(got)), f"delivered twice: first client got {h.texts(first)}, second "
           f"{h.texts(second)}", "duplicated")
    h.raise_deferred()


@check("ORD-3", needs=("live",))
async def conform_ord3_no_duplicates_across_live_connections(h: Harness) -> None:
    """Replacements while sends are stalled: no message reaches both the old and the new client."""
    h.build(cap=20)
    gate = suite_gate()
    old, new, newest = h.socket(gate), h.socket(), h.socket()
    await h.connect(old, "t")
    await h.settle()
    async with anyio.create_task_group() as group:
        for n in range(3):
            group.start_soon(h.deferring, h.log, "t", f"t#{n}")
            await wait_blocked()
        await h.pending(gate)
        group.start_soon(h.deferring, h.connect, new, "t")
        await wait_blocked()
        group.start_soon(h.deferring, h.log, "t", "t#3")
        await wait_blocked()
        gate.open()
        await h.settle()
        group.start_soon(h.deferring, h.connect, newest, "t")
        group.start_soon(h.deferring, h.log, "t", "t#4")
    await h.settle()
    seen = {"old": h.texts(old), "new": h.texts(new), "newest": h.texts(newest)}
    twice = sorted({t for a in seen for b in seen if a < b for t in set(seen[a]) & set(seen[b])})
    expect(not twice, f"{twice} reached two live clients: {seen}", "duplicated")
    h.raise_deferred()  # another rule's finding, once this rule's own question was asked


@check("FLUSH-1")
async def conform_flush1_connect_flushes_queue_in_order(h: Harness) -> None:
    """Messages queued with no client are all delivered, in order, to the client that connects."""
    h.build()
    await h.log_numbered("t", 3)
    ws = h.socket()
    await h.connect(ws, "t")
    await h.settle()
    expect_texts(h.texts(ws), ["t#0", "t#1", "t#2"], f"the client that connected got {h.texts(ws)}")


@check("FLUSH-1")
async def conform_flush1_send_during_flush_comes_after(h: Harness) -> None:
    """A send_log started while connect is flushing is delivered after the flushed messages."""
    h.build()
    await h.log_numbered("t", 3)
    async with h.connect_held_at_first_send("t") as (group, gate, ws):
        group.start_soon(h.log, "t", "t#live")
        await wait_blocked()
        gate.open()
    await h.settle()
    expect_texts(h.texts(ws), ["t#0", "t#1", "t#2", "t#live"], f"got {h.texts(ws)}")


@check("FLUSH-2")
async def conform_flush2_settled_connected_task_has_empty_queue(h: Harness) -> None:
    """Once everything settled, a connected task has nothing queued."""
    h.build()
    await h.log("t", "t#0")
    async with h.connect_held_at_first_send("t") as (group, gate, ws):
        for n in range(1, 4):
            group.start_soon(h.log, "t", f"t#{n}")
            await wait_blocked()  # started one after another: their order is defined
        gate.open()
    await h.settle()
    expect(h.status("t") == (True, 0), f"settled: (connected, queued) = {h.status('t')}", "left queued")
    expect_texts(h.texts(ws), [f"t#{n}" for n in range(4)], f"got {h.texts(ws)}")


@check("FLUSH-3", needs=())
async def conform_flush3_accept_failure_registers_nothing(h: Harness) -> None:
    """accept() raising makes connect raise and registers nothing; the queue is untouched."""
    h.build()
    await h.log("t", "t#0")
    before = h.status("t")

    def refuse(ws):
        raise RuntimeError("handshake failed")

    try:
        await h.connect(h.socket(Hook(accept=refuse)), "t")
    except Exception:
        pass
    else:
        raise Failed("connect returned although accept() raised", "wrong answer")
    expect(h.status("t") == (False, before[1]), f"before a failed accept (connected, queued) = {before}; after: "
           f"{h.status('t')}")
    if h.claims("send_timeout"):
        h.build(send_timeout=1.0)
        await h.log("t", "t#0")
        before = h.status("t")
        with anyio.fail_after(100):
            try:
                await h.connect(h.socket(NeverAccepts()), "t")
            except Exception:
                pass
            else:
                raise Failed("connect returned although accept() never finished")
        expect(h.status("t") == (False, before[1]), f"before an accept timeout (connected, queued) = {before}; "
               f"after: {h.status('t')}")


# -- extension rules -----------------------------------------------------------------------

WIRE_KEYS = ["type", "task_id", "seq", "timestamp", "level", "message", "progress", "finished"]


GAP_KEYS = ["type", "task_id", "first_seq", "last_seq", "count", "reason"]


def _raw(ws: FakeWebSocket) -> list[dict]:
    """The JSON objects the socket received (anything else is left out)."""
    out = []
    for frame in ws.frames:
        try:
            data = json.loads(frame.payload)
        except (TypeError, ValueError):
            continue
        if isinstance(data, dict):
            out.append(data)
    return out


def _first_log(ws: FakeWebSocket) -> dict:
    logs = [f for f in _raw(ws) if f.get("type", "log") == "log"]
    expect(logs, f"the client got no log frame: {ws.texts()}", "lost")
    return logs[0]


@check("WIRE-1")
async def conform_wire1_log_frame_shape(h: Harness) -> None:
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    await h.log("t", "t#0 é ✓", progress=50)
    await h.settle()
    frame, text = _first_log(ws), next(iter(ws.texts()), "")
    expect(list(frame) == WIRE_KEYS, f"keys {list(frame)}")
    expect(frame["type"] == "log" and frame["seq"] == 1 and frame["progress"] == 50
           and isinstance(frame["progress"], int) and frame["finished"] is False, f"frame {frame}")
    expect("é ✓" in text, f"non-ASCII escaped: {text}")


@check("WIRE-2")
async def conform_wire2_gap_frame_shape(h: Harness) -> None:
    h.build(cap=1)
    await h.log_numbered("t", 3)
    ws = h.socket()
    await h.connect(ws, "t")
    await h.settle()
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
    await h.settle()
    stamp = str(_first_log(ws).get("timestamp"))
    expected = datetime.fromtimestamp(1_764_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.999999Z")
    expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp) and stamp == expected,
           f"timestamp {stamp!r}, expected {expected!r}")


@check("ORD-1")
async def conform_ord1_seq_in_call_order(h: Harness) -> None:
    h.build()
    seqs = [h.seq_of(await h.log("t", f"t#{n}"), "send_log") for n in range(3)]
    expect(seqs == [1, 2, 3], f"seqs {seqs}")
    gate, _ = await h.gated_client("u")
    results = {}

    async def produce(name: str) -> None:
        results[name] = h.seq_of(await h.log("u", name), "send_log")

    async with anyio.create_task_group() as group:
        group.start_soon(produce, "u#first")
        await h.pending(gate)
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
    expect(h.seq_of(await h.log("t", "t#2"), "send_log") == 1, "seq did not restart at 1")
