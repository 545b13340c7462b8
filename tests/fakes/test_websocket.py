"""FakeWebSocket: the Starlette surface, the client side and the transcript."""

from __future__ import annotations

import anyio
import pytest

from tasktail.fakes import (
    FakeWebSocket,
    Frame,
    Latency,
    WebSocketDisconnect,
    WebSocketState,
)

pytestmark = pytest.mark.anyio

S = WebSocketState


async def test_accept_send_close_transcript() -> None:
    ws = FakeWebSocket(Latency(1.0))
    t0 = anyio.current_time()
    await ws.accept(subprotocol="logs.v1")
    await ws.send_text("hello")
    await ws.send_json({"a": 1, "é": "ü"})
    await ws.send_bytes(b"\x00\xff")
    await ws.send_json([1], mode="binary")
    await ws.close(4000, "done")

    assert ws.texts() == ["hello", '{"a":1,"é":"ü"}']  # Starlette's compact, non-ASCII-preserving JSON
    assert ws.frames[1].json() == {"a": 1, "é": "ü"}
    assert ws.bytes_frames() == [b"\x00\xff", b"[1]"]
    assert (ws.close_code, ws.close_reason, ws.closed_by) == (4000, "done", "server")
    assert (ws.client_state, ws.application_state) == (S.CONNECTED, S.DISCONNECTED)
    assert ws.client.accepted and ws.client.subprotocol == "logs.v1"
    assert (ws.client.close_code, ws.client.close_reason) == (4000, "done")
    assert ws.violations == []

    timeline = [(e.kind, e.time - t0, e.frame.index if e.frame else None) for e in ws.events]
    assert timeline == [
        ("received", 0.0, None), ("accepted", 0.0, None),
        ("send_started", 0.0, 1), ("delivered", 1.0, 1),
        ("send_started", 1.0, 2), ("delivered", 2.0, 2),
        ("send_started", 2.0, 3), ("delivered", 3.0, 3),
        ("send_started", 3.0, 4), ("delivered", 4.0, 4),
        ("close", 4.0, None),
    ]
    assert ws.events_of("accepted")[0].detail == "logs.v1"
    assert ws.frames[0] == Frame("text", "hello", 1)


async def test_raw_asgi_send_is_a_frame_like_send_text() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    await ws.send({"type": "websocket.send", "text": "raw"})
    await ws.send({"type": "websocket.close", "code": 4000, "reason": ""})
    assert ws.texts() == ["raw"] and ws.close_code == 4000


async def test_json_frames_decodes_every_text_frame() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    await ws.send_json({"type": "log", "seq": 1})
    await ws.send_text('{"type":"gap"}')
    await ws.send_bytes(b"{}")  # not a text frame: not included
    assert ws.json_frames() == [{"type": "log", "seq": 1}, {"type": "gap"}]
    assert ws.client.json_frames() == ws.json_frames()


async def test_receive_from_client() -> None:
    ws = FakeWebSocket()
    assert await ws.receive() == {"type": "websocket.connect"}  # raw receive before accept
    await ws.accept()
    ws.client_send_text("hi")
    ws.client_send_bytes(b"\x01")
    ws.client.send_json({"k": [1]})
    assert await ws.receive_text() == "hi"
    assert await ws.receive_bytes() == b"\x01"
    assert await ws.receive_json() == {"k": [1]}
    assert [e.frame.payload for e in ws.events_of("client_message")] == ["hi", b"\x01", '{"k": [1]}']


async def test_receive_blocks_until_the_client_sends() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    got: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _append(got, ws.receive_text()))
        await anyio.wait_all_tasks_blocked()
        assert got == []
        ws.client_send_text("late")
    assert got == ["late"]


async def _append(into: list, awaitable) -> None:
    into.append(await awaitable)


async def test_json_modes_are_validated_like_starlette() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    with pytest.raises(RuntimeError, match='The "mode" argument should be "text" or "binary".'):
        await ws.send_json(1, mode="xml")
    with pytest.raises(RuntimeError, match='The "mode" argument should be "text" or "binary".'):
        await ws.receive_json(mode="xml")
    ws.client_send_bytes(b'{"x":2}')
    assert await ws.receive_json(mode="binary") == {"x": 2}
    assert [e.detail for e in ws.events_of("error")] == ["send_json", "receive_json"]
    assert ws.violations == []


async def test_client_disconnect_then_receive_and_send() -> None:
    ws = FakeWebSocket(strict=False)
    await ws.accept()
    ws.client_disconnect(4001, "bye")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert (info.value.code, info.value.reason) == (4001, "bye")
    assert ws.client_state == S.DISCONNECTED
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("anyone?")
    assert info.value.code == 1006
    assert ws.application_state == S.DISCONNECTED
    assert (ws.close_code, ws.close_reason, ws.closed_by) == (4001, "bye", "client")
    assert ws.texts() == []
    failed = ws.events_of("send_failed")
    assert failed[0].frame == Frame("text", "anyone?", 1) and "ClientDisconnected" in failed[0].error


async def test_vanish_reports_1005_after_handshake_and_1006_before() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    ws.client.vanish()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert info.value.code == 1005
    assert (ws.close_code, ws.events_of("close")[0].detail) == (1006, "vanished")

    early = FakeWebSocket()
    early.client.vanish()
    assert await early.receive() == {"type": "websocket.connect"}
    assert await early.receive() == {"type": "websocket.disconnect", "code": 1006}


async def test_after_app_close_receive_returns_the_apps_close_and_client_frames_are_dropped() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    await ws.close(1001, "restart")
    ws.client_send_text("too late")  # the browser had it in flight
    assert await ws.receive() == {"type": "websocket.disconnect", "code": 1001, "reason": "restart"}
    ws.client.disconnect()  # the closing handshake's echo changes nothing
    assert ws.close_code == 1001 and ws.closed_by == "server"


async def test_close_before_accept_rejects_the_handshake() -> None:
    ws = FakeWebSocket()
    await ws.close(1008)
    assert ws.client.rejected and not ws.client.accepted
    assert await ws.client.wait_accepted() is False
    assert ws.events_of("close")[0].detail == "rejected (HTTP 403)"


async def test_client_waits() -> None:
    ws = FakeWebSocket(Latency(2.0))
    async with anyio.create_task_group() as tg:
        async def app() -> None:
            await ws.accept()
            await ws.send_text("a")
            await ws.send_text("b")
            await ws.close()
        tg.start_soon(app)
        assert await ws.client.wait_accepted() is True
        t0 = anyio.current_time()
        frames = await ws.client.wait_frames(2)
        assert [f.payload for f in frames] == ["a", "b"]
        assert anyio.current_time() - t0 == pytest.approx(4.0)
        await ws.client.wait_closed()
    assert ws.client.closed


async def test_client_cannot_send_after_leaving() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    ws.client_disconnect()
    with pytest.raises(RuntimeError, match="already disconnected"):
        ws.client_send_text("x")


def test_usable_outside_an_event_loop() -> None:
    ws = FakeWebSocket()
    ws.client_send_text("queued before the loop starts")
    assert ws.events[0].time is None
    assert "app=CONNECTING" in repr(ws)
