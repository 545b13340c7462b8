"""WIRE-*, MEM-2: the exact frames on the wire."""

from __future__ import annotations

import json
import sys

import pytest

from tasktail import GapNotice, LogMessage

from .support import FakeWebSocket, WallClock, frames, make_manager

pytestmark = pytest.mark.anyio


@pytest.mark.rule("WIRE-1")
async def test_wire_log_frame_shape():
    manager = make_manager(clock=WallClock(1_764_072_000.25, follow_loop=False))
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    await manager.send_log("job", "info", "row 1", progress=12)
    await manager.send_log("job", "success", "done", progress=99.5, finished=True)
    texts = ws.texts()
    assert texts[0] == (
        '{"type":"log","task_id":"job","seq":1,"timestamp":"2025-11-25T12:00:00.250000Z",'
        '"level":"info","message":"row 1","progress":12,"finished":false}'
    )
    assert list(json.loads(texts[1])) == [
        "type", "task_id", "seq", "timestamp", "level", "message", "progress", "finished"]
    assert json.loads(texts[1])["progress"] == 99.5 and json.loads(texts[1])["finished"] is True
    message = LogMessage("job", 3, 0.0, "info", "x")
    assert json.loads(message.to_json())["progress"] is None


@pytest.mark.rule("WIRE-1")
async def test_wire_non_ascii_and_escapes():
    text = 'naïve "quoted" \\ tab\t newline\n 日本 \u2028'
    encoded = LogMessage("tâche", 1, 0.0, "warning", text).to_json()
    assert "naïve" in encoded and "日本" in encoded  # UTF-8, not \u escapes
    decoded = json.loads(encoded)
    assert decoded["message"] == text and decoded["task_id"] == "tâche"


@pytest.mark.rule("WIRE-2")
async def test_wire_gap_frame_shape():
    notice = GapNotice("job", 3, 7, "dropped")
    assert notice.to_json() == (
        '{"type":"gap","task_id":"job","first_seq":3,"last_seq":7,"count":5,"reason":"dropped"}')
    manager = make_manager(max_queue_size=2)
    for n in range(4):
        await manager.send_log("job", "info", f"m{n}")
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    assert frames(ws)[0] == {"type": "gap", "task_id": "job", "first_seq": 1, "last_seq": 2,
                             "count": 2, "reason": "dropped"}


@pytest.mark.rule("WIRE-3")
async def test_wire_timestamp_from_injected_clock():
    clock = WallClock(1_764_072_059.9999996, follow_loop=False)
    manager = make_manager(clock=clock)
    entry = await manager.send_log("job", "info", "tick")
    assert entry.timestamp == clock()
    assert entry.datetime.tzinfo is not None and entry.datetime.utcoffset().total_seconds() == 0
    # truncated, never rounded into the next second
    assert json.loads(entry.to_json())["timestamp"] == "2025-11-25T12:00:59.999999Z"
    clock.set(1_764_072_060.0)
    second = await manager.send_log("job", "info", "tock")
    assert json.loads(second.to_json())["timestamp"] == "2025-11-25T12:01:00.000000Z"


@pytest.mark.rule("MEM-2")
async def test_queued_message_holds_no_encoded_copy():
    manager = make_manager()
    first = await manager.send_log("job", "info", "x" * 40)
    second = await manager.send_log("job", "info", "y" * 40)
    queued = list(manager.message_queues["job"])
    assert queued == [first, second]
    assert not hasattr(first, "__dict__") and len(first) == 7  # seven fields, nothing else
    assert first.level is second.level  # one shared level string
    # a tuple of seven pointers plus its three owned objects (seq is a cached small int)
    owned = sys.getsizeof(first) + sys.getsizeof(first.timestamp) + sys.getsizeof(first.message)
    assert owned < 250
