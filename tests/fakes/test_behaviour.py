"""Scriptable behaviours: each one, composition, hooks, determinism."""

from __future__ import annotations

import anyio
import pytest

from tasktail.fakes import (
    Chain,
    FailOnSend,
    FakeWebSocket,
    Frame,
    Gate,
    Hook,
    Instant,
    Latency,
    NeverAccepts,
    SlowReader,
    VanishMidSend,
    WebSocketDisconnect,
    WebSocketState,
)

pytestmark = pytest.mark.anyio


async def timed_send(ws: FakeWebSocket, data: str) -> float:
    t0 = anyio.current_time()
    await ws.send_text(data)
    return anyio.current_time() - t0


async def test_instant_takes_no_time() -> None:
    ws = FakeWebSocket(Instant())
    await ws.accept()
    assert await timed_send(ws, "x") == 0.0


async def test_latency_per_send() -> None:
    ws = FakeWebSocket(Latency(2.5))
    await ws.accept()
    assert await timed_send(ws, "a") == pytest.approx(2.5)
    assert await timed_send(ws, "b") == pytest.approx(2.5)
    assert ws.texts() == ["a", "b"]


async def test_slow_reader_pays_per_byte_and_fixed() -> None:
    reader = SlowReader(per_byte=0.5, fixed=1.0)
    ws = FakeWebSocket(reader)
    await ws.accept()
    assert await timed_send(ws, "abcd") == pytest.approx(3.0)
    assert await timed_send(ws, "é") == pytest.approx(2.0)  # 2 bytes of UTF-8
    assert reader.delay_for(Frame("bytes", b"12345678")) == pytest.approx(5.0)


async def test_fail_on_nth_send_defaults_to_the_peer_going_away() -> None:
    ws = FakeWebSocket(FailOnSend(2), strict=False)
    await ws.accept()
    await ws.send_text("one")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("two")
    assert info.value.code == 1006
    assert ws.texts() == ["one"]
    assert ws.application_state == WebSocketState.DISCONNECTED
    assert (ws.close_code, ws.closed_by) == (1006, "client")
    # receive_text() now refuses (application_state is DISCONNECTED, as in
    # Starlette); the raw ASGI message is what uvicorn reports for a dropped peer.
    assert await ws.receive() == {"type": "websocket.disconnect", "code": 1005}


class Boom(Exception):
    pass


@pytest.mark.parametrize("exc", [Boom("disk on fire"), lambda: Boom("disk on fire")], ids=["instance", "factory"])
async def test_fail_on_nth_send_with_a_custom_exception_leaves_the_socket_usable(exc) -> None:
    ws = FakeWebSocket(FailOnSend(1, exc=exc))
    await ws.accept()
    with pytest.raises(Boom, match="disk on fire"):
        await ws.send_text("one")
    await ws.send_text("two")
    assert ws.texts() == ["two"]
    assert ws.application_state == WebSocketState.CONNECTED
    assert ws.events_of("send_failed")[0].error == "Boom: disk on fire"
    assert ws.violations == []


async def test_an_oserror_from_below_becomes_websocketdisconnect_like_in_starlette() -> None:
    # Starlette wraps any OSError from the ASGI server's send in WebSocketDisconnect(1006)
    ws = FakeWebSocket(FailOnSend(1, exc=ConnectionResetError("connection reset")))
    await ws.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("one")
    assert info.value.code == 1006
    assert isinstance(info.value.__context__, ConnectionResetError)
    assert ws.application_state == WebSocketState.DISCONNECTED
    assert ws.events_of("send_failed")[0].error == "ConnectionResetError: connection reset"


def test_fail_on_send_is_one_based() -> None:
    with pytest.raises(ValueError):
        FailOnSend(0)


async def test_vanish_mid_send_after_a_delay() -> None:
    ws = FakeWebSocket(VanishMidSend(2, after=3.0))
    await ws.accept()
    await ws.send_text("one")
    t0 = anyio.current_time()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("two")
    assert info.value.code == 1006
    assert anyio.current_time() - t0 == pytest.approx(3.0)
    assert ws.texts() == ["one"]
    assert ws.client.gone


@pytest.mark.parametrize("leave", ["vanish", "disconnect"])
async def test_a_blocked_send_is_aborted_when_the_client_leaves(leave: str) -> None:
    ws = FakeWebSocket(VanishMidSend(1, after=None))
    await ws.accept()
    raised: list[int] = []

    async def sender() -> None:
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.send_text("stuck")
        raised.append(info.value.code)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        await anyio.wait_all_tasks_blocked()
        assert ws.sends_in_flight == 1
        t0 = anyio.current_time()
        ws.client.vanish() if leave == "vanish" else ws.client_disconnect(1001)
    assert raised == [1006]
    assert anyio.current_time() == t0  # aborted at once, not after a timeout
    assert ws.sends_in_flight == 0


async def test_client_leaving_aborts_a_latency_send_too() -> None:
    ws = FakeWebSocket(Latency(100.0))
    await ws.accept()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_send_expect_disconnect, ws)
        await anyio.wait_all_tasks_blocked()
        t0 = anyio.current_time()
        ws.client.vanish()
    assert anyio.current_time() == t0
    assert [e.kind for e in ws.events][-3:] == ["close", "send_failed", "error"]


async def _send_expect_disconnect(ws: FakeWebSocket) -> None:
    with pytest.raises(WebSocketDisconnect):
        await ws.send_text("slow")


async def test_cancelling_a_send_in_flight_is_recorded_and_not_delivered() -> None:
    ws = FakeWebSocket(Latency(10.0))
    await ws.accept()
    with anyio.move_on_after(1.0):
        await ws.send_text("never")
    assert ws.texts() == []
    assert ws.events_of("send_cancelled")[0].frame == Frame("text", "never", 1)
    assert ws.sends_in_flight == 0
    await ws.send_text("next")  # the socket is still fine
    assert ws.texts() == ["next"]


async def test_never_accepts_blocks_until_cancelled() -> None:
    ws = FakeWebSocket(NeverAccepts())
    t0 = anyio.current_time()
    with anyio.move_on_after(30) as scope:
        await ws.accept()
    assert scope.cancelled_caught
    assert anyio.current_time() - t0 == pytest.approx(30)
    assert not ws.client.accepted
    assert ws.events_of("accepted") == []


async def test_hook_callbacks_sync_and_async() -> None:
    seen: list[tuple[str, int]] = []

    def on_send(ws: FakeWebSocket, frame: Frame) -> None:
        seen.append((frame.payload, frame.index))

    async def on_accept(ws: FakeWebSocket) -> None:
        await anyio.sleep(5)
        seen.append(("accepted", 0))

    ws = FakeWebSocket(Hook(send=on_send, accept=on_accept))
    t0 = anyio.current_time()
    await ws.accept()
    assert anyio.current_time() - t0 == pytest.approx(5)
    await ws.send_text("a")
    await ws.send_text("b")
    assert seen == [("accepted", 0), ("a", 1), ("b", 2)]


async def test_hook_can_fail_a_send_and_act_as_the_client() -> None:
    def reply_then_fail(ws: FakeWebSocket, frame: Frame) -> None:
        if frame.payload == "ping":
            ws.client_send_text("pong")
        if frame.payload == "boom":
            raise Boom("boom")

    ws = FakeWebSocket(Hook(send=reply_then_fail))
    await ws.accept()
    await ws.send_text("ping")
    assert await ws.receive_text() == "pong"
    with pytest.raises(Boom):
        await ws.send_text("boom")
    assert ws.texts() == ["ping"]


async def test_composition_runs_in_order_and_finds_the_gate() -> None:
    gate = Gate()
    behaviour = Latency(1.0) + gate + Latency(2.0)
    assert isinstance(behaviour, Chain) and len(behaviour.behaviours) == 3  # flattened
    ws = FakeWebSocket(behaviour)
    assert ws.gate is gate
    await ws.accept()
    t0 = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ws.send_text, "x")
        await gate.wait_pending()
        assert anyio.current_time() - t0 == pytest.approx(1.0)  # the first latency ran before the gate
        await anyio.sleep(4)
        gate.release()
    assert anyio.current_time() - t0 == pytest.approx(7.0)
    assert ws.texts() == ["x"]


async def test_fail_on_send_composes_with_latency() -> None:
    ws = FakeWebSocket(Latency(1.0) + FailOnSend(1, exc=Boom("late failure")))
    await ws.accept()
    t0 = anyio.current_time()
    with pytest.raises(Boom):
        await ws.send_text("x")
    assert anyio.current_time() - t0 == pytest.approx(1.0)


def test_ws_without_gate_says_so() -> None:
    with pytest.raises(LookupError):
        _ = FakeWebSocket(Latency(1)).gate


async def test_behaviours_are_deterministic() -> None:
    async def script() -> list[tuple]:
        ws = FakeWebSocket(Latency(0.25) + SlowReader(per_byte=0.01) + FailOnSend(3, exc=Boom("x")), strict=False)
        t0 = anyio.current_time()
        await ws.accept()
        async with anyio.create_task_group() as tg:
            async def sender() -> None:
                for n in range(5):
                    try:
                        await ws.send_text("m" * (n + 1))
                    except Boom:
                        pass
            tg.start_soon(sender)
            await anyio.sleep(0.6)
            ws.client_send_text("hello")
        return [(e.kind, round(e.time - t0, 9), e.frame, e.error) for e in ws.events]

    first = await script()
    assert first == await script()
    assert [k for k, *_ in first].count("delivered") == 4
