"""Scripted checks of SPEC's wire format, ordering and flush rules (WIRE, ORD, FLUSH, DISC-3).

DISC-3 (seq restarts at 1 after a disconnect) is about numbering, so it sits with ORD-1.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import anyio

from tasktail.fakes import FailOnSend, FakeWebSocket, Hook, NeverAccepts, WallClock

from ._rules import Harness, check, expect, wait_blocked

__all__ = ["GAP_KEYS", "WIRE_KEYS", "conform_disc3_send_after_disconnect_starts_fresh",
    "conform_flush1_connect_flushes_queue_in_order", "conform_flush1_send_during_flush_comes_after",
    "conform_flush2_settled_connected_task_has_empty_queue",
    "conform_flush3_accept_failure_registers_nothing", "conform_ord1_seq_in_call_order",
    "conform_ord2_concurrent_producers_in_start_order", "conform_ord2_sequential_sends_in_order",
    "conform_ord3_no_duplicates_across_reconnects", "conform_wire1_log_frame_shape",
    "conform_wire2_gap_frame_shape", "conform_wire3_timestamp_from_injected_clock"]


# -- core rules ----------------------------------------------------------------------------

@check("ORD-2")
async def conform_ord2_sequential_sends_in_order(h: Harness) -> None:
    """Sends that return one after another arrive in that order."""
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    await h.log_numbered("t", 4)
    expect(h.texts(ws) == [f"t#{n}" for n in range(4)], f"got {h.texts(ws)}")


@check("ORD-2")
async def conform_ord2_concurrent_producers_in_start_order(h: Harness) -> None:
    """Producers started one after another while a send is stalled arrive in start order."""
    h.build(cap=20)
    gate, ws = await h.gated_client("t")
    async with anyio.create_task_group() as group:
        for n in range(6):
            group.start_soon(h.log, "t", f"t#{n}")
            await wait_blocked()
        for _ in range(6):
            await gate.wait_pending(1)
            gate.release(1)
            await wait_blocked()
    expect(h.texts(ws) == [f"t#{n}" for n in range(6)], f"got {h.texts(ws)}")
    expect(not ws.violations, f"socket misuse: {[v.kind for v in ws.violations]}")


@check("ORD-3")
async def conform_ord3_no_duplicates_across_reconnects(h: Harness) -> None:
    """A client whose second send fails, then a new client: every message once, in order."""
    h.build()
    await h.log_numbered("t", 2)
    first = h.socket(FailOnSend(2, RuntimeError("boom")))
    await h.connect(first, "t")
    await h.log_numbered("t", 2, first=2)
    second = h.socket()
    await h.connect(second, "t")
    got = h.texts(first) + h.texts(second)
    expect(sorted(got) == [f"t#{n}" for n in range(4)] and got == sorted(got),
           f"first client got {h.texts(first)}, second {h.texts(second)}")


@check("FLUSH-1")
async def conform_flush1_connect_flushes_queue_in_order(h: Harness) -> None:
    """Messages queued with no client are all sent, in order, before connect returns."""
    h.build()
    await h.log_numbered("t", 3)
    ws = h.socket()
    await h.connect(ws, "t")
    expect(h.texts(ws) == ["t#0", "t#1", "t#2"], f"after connect returned the client had {h.texts(ws)}")


@check("FLUSH-1")
async def conform_flush1_send_during_flush_comes_after(h: Harness) -> None:
    """A send_log started while connect is flushing is delivered after the flushed messages."""
    h.build()
    await h.log_numbered("t", 3)
    async with h.connect_held_at_first_send("t") as (group, gate, ws):
        group.start_soon(h.log, "t", "t#live")
        await wait_blocked()
        gate.open()
    expect(h.texts(ws) == ["t#0", "t#1", "t#2", "t#live"], f"got {h.texts(ws)}")


@check("FLUSH-2")
async def conform_flush2_settled_connected_task_has_empty_queue(h: Harness) -> None:
    """Once everything settled, a connected task has nothing queued."""
    h.build()
    await h.log("t", "t#0")
    async with h.connect_held_at_first_send("t") as (group, gate, ws):
        for n in range(1, 4):
            group.start_soon(h.log, "t", f"t#{n}")
        await wait_blocked()
        gate.open()
    expect(h.status("t") == (True, 0), f"settled: (connected, queued) = {h.status('t')}")
    expect(len(h.texts(ws)) == 4, f"got {h.texts(ws)}")


@check("FLUSH-3")
async def conform_flush3_accept_failure_registers_nothing(h: Harness) -> None:
    """accept() raising makes connect raise and registers nothing; the queue is untouched."""
    h.build()
    await h.log("t", "t#0")

    def refuse(ws):
        raise RuntimeError("handshake failed")

    try:
        await h.connect(h.socket(Hook(accept=refuse)), "t")
    except Exception:
        pass
    else:
        raise AssertionError("connect returned although accept() raised")
    expect(h.status("t") == (False, 1), f"after a failed accept (connected, queued) = {h.status('t')}")
    if h.claims("send_timeout"):
        h.build(send_timeout=1.0)
        await h.log("t", "t#0")
        with anyio.fail_after(100):
            try:
                await h.connect(h.socket(NeverAccepts()), "t")
            except Exception:
                pass
            else:
                raise AssertionError("connect returned although accept() never finished")
        expect(h.status("t") == (False, 1), f"after an accept timeout (connected, queued) = {h.status('t')}")


# -- extension rules -----------------------------------------------------------------------

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
    await h.log_numbered("t", 3)
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
    gate, _ = await h.gated_client("u")
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
