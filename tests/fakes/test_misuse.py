"""Misuse is recorded, and raised as FakeWebSocketMisuse (strict) or Starlette's error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from tasktail.fakes import (
    FakeWebSocket,
    FakeWebSocketMisuse,
    Gate,
    WebSocketDisconnect,
    WebSocketState,
)

pytestmark = pytest.mark.anyio

S = WebSocketState
SEND_AFTER_CLOSE = 'Cannot call "send" once a close message has been sent.'
NOT_ACCEPTED = 'WebSocket is not connected. Need to call "accept" first.'


async def accepted(ws: FakeWebSocket) -> None:
    await ws.accept()


async def closed(ws: FakeWebSocket) -> None:
    await ws.accept()
    await ws.close()


async def peer_killed_a_send(ws: FakeWebSocket) -> None:
    await ws.accept()
    ws.client.vanish()
    with pytest.raises(WebSocketDisconnect):
        await ws.send_text("dies")


async def disconnect_received(ws: FakeWebSocket) -> None:
    await ws.accept()
    ws.client_disconnect()
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()


async def nothing(ws: FakeWebSocket) -> None:
    pass


# (setup, misuse, violation kind, Starlette's exception, message, app state, client state)
CASES = [
    (nothing, lambda ws: ws.send_text("x"), "send_before_accept", RuntimeError,
     ('Expected ASGI message "websocket.accept", "websocket.close" or "websocket.http.response.start", '
      "but got 'websocket.send'"), S.CONNECTING, S.CONNECTING),
    (accepted, lambda ws: ws.accept(), "accept_twice", RuntimeError,
     "Expected ASGI message \"websocket.send\" or \"websocket.close\", but got 'websocket.accept'",
     S.CONNECTED, S.CONNECTED),
    (closed, lambda ws: ws.send_bytes(b"x"), "send_after_close", RuntimeError, SEND_AFTER_CLOSE,
     S.DISCONNECTED, S.CONNECTED),
    (closed, lambda ws: ws.close(), "close_twice", RuntimeError, SEND_AFTER_CLOSE, S.DISCONNECTED, S.CONNECTED),
    (closed, lambda ws: ws.accept(), "accept_after_close", RuntimeError, SEND_AFTER_CLOSE,
     S.DISCONNECTED, S.CONNECTED),
    (peer_killed_a_send, lambda ws: ws.send_json({}), "send_after_disconnect", RuntimeError, SEND_AFTER_CLOSE,
     S.DISCONNECTED, S.CONNECTED),
    (peer_killed_a_send, lambda ws: ws.close(), "close_after_disconnect", RuntimeError, SEND_AFTER_CLOSE,
     S.DISCONNECTED, S.CONNECTED),
    (disconnect_received, lambda ws: ws.receive_text(), "receive_after_disconnect", RuntimeError,
     'Cannot call "receive" once a disconnect message has been received.', S.CONNECTED, S.DISCONNECTED),
    (nothing, lambda ws: ws.receive_text(), "receive_before_accept", RuntimeError, NOT_ACCEPTED,
     S.CONNECTING, S.CONNECTING),
    (closed, lambda ws: ws.receive_bytes(), "receive_after_close", RuntimeError, NOT_ACCEPTED,
     S.DISCONNECTED, S.CONNECTED),
]
IDS = [case[2] for case in CASES]


@pytest.mark.parametrize(("setup", "misuse", "kind", "error", "message", "app", "client"), CASES, ids=IDS)
async def test_strict_raises_misuse_with_starlettes_error_as_cause(
    setup: Callable[[FakeWebSocket], Awaitable[None]], misuse, kind, error, message, app, client
) -> None:
    ws = FakeWebSocket()
    await setup(ws)
    assert ws.violations == []
    with pytest.raises(FakeWebSocketMisuse) as info:
        await misuse(ws)
    assert isinstance(info.value, AssertionError)
    assert type(info.value.__cause__) is not FakeWebSocketMisuse
    assert isinstance(info.value.__cause__, error) and str(info.value.__cause__) == message
    [violation] = ws.violations
    assert info.value.violation == violation
    assert (violation.kind, violation.message) == (kind, message)
    assert (violation.application_state, violation.client_state) == (app, client)
    assert ws.events_of("violation")[0].detail == kind


@pytest.mark.parametrize(("setup", "misuse", "kind", "error", "message", "app", "client"), CASES, ids=IDS)
async def test_lenient_raises_exactly_what_starlette_raises(
    setup: Callable[[FakeWebSocket], Awaitable[None]], misuse, kind, error, message, app, client
) -> None:
    ws = FakeWebSocket(strict=False)
    await setup(ws)
    with pytest.raises(error) as info:
        await misuse(ws)
    assert not isinstance(info.value, FakeWebSocketMisuse)
    assert str(info.value) == message
    assert [v.kind for v in ws.violations] == [kind]


async def test_overlapping_send_is_caught_at_the_second_send() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate)
    await ws.accept()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ws.send_text, "first")
        await gate.wait_pending(1)
        with pytest.raises(FakeWebSocketMisuse, match="overlapping_send"):
            await ws.send_text("second")
        gate.release()
    assert ws.texts() == ["first"]
    assert [(v.kind, v.method) for v in ws.violations] == [("overlapping_send", "send_text")]


async def test_overlapping_send_lenient_records_and_lets_both_through() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate, strict=False)
    await ws.accept()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ws.send_text, "first")
        await gate.wait_pending(1)
        tg.start_soon(ws.send_text, "second")
        await gate.wait_pending(2)
        gate.release()  # FIFO: "first"
        await ws.client.wait_frames(1)
        gate.release()
    assert ws.texts() == ["first", "second"]
    assert [v.kind for v in ws.violations] == ["overlapping_send"]


async def test_overlapping_receive() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ws.receive_text)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(FakeWebSocketMisuse, match="overlapping_receive"):
            await ws.receive_text()
        ws.client_send_text("one")
    assert [v.kind for v in ws.violations] == ["overlapping_receive"]


async def test_sequential_sends_from_two_tasks_are_fine() -> None:
    ws = FakeWebSocket()
    await ws.accept()
    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(ws.send_text, str(n))
    assert sorted(ws.texts()) == ["0", "1", "2"]
    assert ws.violations == []


async def test_close_during_send_is_legal_but_the_send_then_fails_like_uvicorn() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate)
    await ws.accept()
    errors: list[BaseException] = []

    async def sender() -> None:
        try:
            await ws.send_text("in flight")
        except RuntimeError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        await gate.wait_pending(1)
        await ws.close(1001)
        gate.release()
    assert ws.violations == []
    assert ws.events_of("close")[0].detail == "while_send_in_flight"
    assert [str(e) for e in errors] == ["Unexpected ASGI message 'websocket.send', after sending 'websocket.close'."]
    assert ws.texts() == []
    assert ws.client.close_code == 1001
