"""Gate: sends wait until the scenario releases them; no sleeps needed."""

from __future__ import annotations

import anyio
import pytest

from tasktail.fakes import FakeWebSocket, Frame, Gate, WebSocketDisconnect

pytestmark = pytest.mark.anyio


async def test_pending_release_fifo_across_sockets() -> None:
    gate = Gate()
    a, b = FakeWebSocket(gate), FakeWebSocket(gate)
    await a.accept()
    await b.accept()
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.send_text, "a1")
        await gate.wait_pending(1)
        tg.start_soon(b.send_text, "b1")
        await gate.wait_pending(2)
        assert gate.pending == 2
        assert gate.pending_frames == [Frame("text", "a1", 1), Frame("text", "b1", 1)]
        assert (a.texts(), b.texts()) == ([], [])
        gate.release()
        assert gate.pending == 1  # no longer pending the moment it is released
        await a.client.wait_frames(1)
        assert b.texts() == []
        gate.release()
    assert (a.texts(), b.texts()) == (["a1"], ["b1"])
    assert gate.released == 2


async def test_frames_the_gate_passes_are_never_held() -> None:
    gate = Gate(passes=lambda frame: frame.payload.startswith("status"))
    ws = FakeWebSocket(gate)
    await ws.accept()
    async with anyio.create_task_group() as tg:
        await ws.send_text("status: connected")  # through at once: not pending, not released
        tg.start_soon(ws.send_text, "log 1")
        await gate.wait_pending(1)
        assert (ws.texts(), gate.pending, gate.released) == (["status: connected"], 1, 0)
        gate.release()
    assert ws.texts() == ["status: connected", "log 1"]


async def test_release_more_than_pending_is_a_scenario_bug() -> None:
    gate = Gate()
    with pytest.raises(ValueError, match="cannot wake 1"):
        gate.release()
    with pytest.raises(ValueError):
        gate.fail_pending(OSError("x"), n=3)


async def test_release_all_and_open_close() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate, strict=False)
    await ws.accept()
    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(ws.send_text, str(n))
        await gate.wait_pending(3)
        assert gate.release_all() == 3
    assert sorted(ws.texts()) == ["0", "1", "2"]
    assert gate.open() == 0 and gate.opened
    await ws.send_text("free")  # passes straight through
    assert ws.texts()[-1] == "free"
    gate.close()
    with anyio.move_on_after(10) as scope:
        await ws.send_text("held")
    assert scope.cancelled_caught and gate.pending == 0  # the cancelled send left the FIFO


async def test_open_releases_pending_sends() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate)
    await ws.accept()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ws.send_text, "x")
        await gate.wait_pending()
        assert gate.open() == 1
    assert ws.texts() == ["x"]


async def test_fail_pending_with_an_exception() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate)
    await ws.accept()
    errors: list[BaseException] = []

    async def sender() -> None:
        try:
            await ws.send_text("x")
        except KeyError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        await gate.wait_pending()
        assert gate.fail_pending(KeyError("nope")) == 1
    assert [type(e) for e in errors] == [KeyError]
    assert ws.texts() == []


async def test_fail_pending_without_exception_kills_the_peer() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate)
    await ws.accept()
    codes: list[int] = []

    async def sender() -> None:
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.send_text("x")
        codes.append(info.value.code)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        await gate.wait_pending()
        gate.fail_pending()
    assert codes == [1006]
    assert ws.client.gone and gate.pending == 0


async def test_cancelled_pending_send_leaves_the_gate_and_wakes_watchers() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate)
    await ws.accept()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ws.send_text, "x")
        await gate.wait_pending(1)
        tg.cancel_scope.cancel()
    assert gate.pending == 0
    assert ws.events_of("send_cancelled")[0].frame.payload == "x"


async def test_wait_pending_blocks_until_enough() -> None:
    gate = Gate()
    ws = FakeWebSocket(gate, strict=False)
    await ws.accept()
    reached: list[int] = []
    async with anyio.create_task_group() as tg:
        async def watcher() -> None:
            await gate.wait_pending(2)
            reached.append(gate.pending)
        tg.start_soon(watcher)
        tg.start_soon(ws.send_text, "1")
        await anyio.wait_all_tasks_blocked()
        assert reached == []
        tg.start_soon(ws.send_text, "2")
        await anyio.wait_all_tasks_blocked()
        assert reached == [2]
        gate.release_all()
