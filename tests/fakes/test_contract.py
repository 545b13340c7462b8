"""The fake is verified against the real stack it stands in for.

The SAME scripts drive (a) a ``FakeWebSocket`` and (b) a real Starlette
``WebSocket`` served by a real uvicorn server on 127.0.0.1 (ephemeral port,
default ``ws="auto"`` protocol, i.e. websockets-sansio) with a real client from
the ``websockets`` package. Each script logs, for every call, the value or the
exception (class, message, code, reason) and the final (client_state,
application_state); the client side logs the frames, close code and reason it
observed. Both sides must equal the same expected literal.

uvicorn is asyncio-only, so the real side runs on plain asyncio in *real* time
(virtual time would jump past the network). The fake side runs the scripts on
both asyncio and trio in virtual time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tasktail.fakes import ClientDisconnected, FakeWebSocket, WebSocketDisconnect

uvicorn = pytest.importorskip("uvicorn")
websockets_client = pytest.importorskip("websockets.asyncio.client")
from starlette.websockets import WebSocket
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = pytest.mark.anyio

Log = list[tuple[Any, ...]]


def outcome(exc: BaseException) -> tuple[Any, ...]:
    if isinstance(exc, WebSocketDisconnect):
        return ("WebSocketDisconnect", exc.code, exc.reason)
    return (type(exc).__name__, str(exc))


async def call(log: Log, label: str, awaitable: Awaitable[Any]) -> None:
    try:
        value = await awaitable
    except Exception as exc:  # noqa: BLE001 - recording whatever is raised is the point
        log.append((label, *outcome(exc)))
    else:
        log.append((label, "ok") if value is None else (label, "ok", value))


# -- the client side, real or fake -------------------------------------------
@dataclass
class Seen:
    frames: list[tuple[str, Any]] = field(default_factory=list)
    close: tuple[int | None, str | None] | None = None
    rejected: int | None = None


class Peer:
    """What a client script may do; implemented for the real and the fake client."""

    seen: Seen

    async def connect(self) -> bool: ...
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...
    async def read_until_closed(self) -> None: ...
    async def abort(self) -> None: ...
    async def drop_before_accept(self) -> None: ...


class FakePeer(Peer):
    def __init__(self, ws: FakeWebSocket) -> None:
        self.ws, self.seen = ws, Seen()

    async def connect(self) -> bool:
        accepted = await self.ws.client.wait_accepted()
        if self.ws.client.rejected:
            self.seen.rejected = 403  # what uvicorn answers a close-before-accept with
        return accepted

    async def send_text(self, data: str) -> None:
        self.ws.client.send_text(data)

    async def close(self, code: int, reason: str) -> None:
        self.ws.client.disconnect(code, reason)
        self.seen.close = (code, reason)

    async def read_until_closed(self) -> None:
        await self.ws.client.wait_closed()
        self.seen.frames = [(f.kind, f.payload) for f in self.ws.client.frames]
        self.seen.close = (self.ws.client.close_code, self.ws.client.close_reason)

    async def abort(self) -> None:
        self.ws.client.vanish()

    async def drop_before_accept(self) -> None:
        self.ws.client.vanish()


class RealPeer(Peer):
    def __init__(self, url: str, stack: contextlib.AsyncExitStack) -> None:
        self.url, self.stack, self.seen, self.conn = url, stack, Seen(), None

    async def connect(self) -> bool:
        try:
            self.conn = await self.stack.enter_async_context(websockets_client.connect(self.url))
        except InvalidStatus as exc:
            self.seen.rejected = exc.response.status_code
            return False
        return True

    async def send_text(self, data: str) -> None:
        await self.conn.send(data)

    async def close(self, code: int, reason: str) -> None:
        await self.conn.close(code, reason)
        self.seen.close = (self.conn.close_code, self.conn.close_reason)

    async def read_until_closed(self) -> None:
        while True:
            try:
                data = await self.conn.recv()
            except ConnectionClosed:
                break
            self.seen.frames.append(("text", data) if isinstance(data, str) else ("bytes", data))
        self.seen.close = (self.conn.close_code, self.conn.close_reason)

    async def abort(self) -> None:
        self.conn.transport.abort()


class RawHandshakeThenDrop(Peer):
    """A real client that sends the upgrade request and drops the TCP connection."""

    def __init__(self, port: int) -> None:
        self.port, self.seen = port, Seen()

    async def drop_before_accept(self) -> None:
        stream = await anyio.connect_tcp("127.0.0.1", self.port)
        request = (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await stream.send(request.encode())
        await stream.aclose()


# -- the scripts ---------------------------------------------------------------
ServerScript = Callable[[Any, Log], Awaitable[None]]
ClientScript = Callable[[Peer], Awaitable[None]]


async def s_happy_path(ws: Any, log: Log) -> None:
    await call(log, "accept", ws.accept())
    await call(log, "send_text", ws.send_text("hello"))
    await call(log, "send_json", ws.send_json({"a": 1, "é": "ü"}))
    await call(log, "send_bytes", ws.send_bytes(b"\x00\x01\xff"))
    await call(log, "send_json_binary", ws.send_json([1, "two"], mode="binary"))
    await call(log, "close", ws.close(4000, "done"))
    # uvicorn queues the app's own close as the next receive() message
    await call(log, "receive", ws.receive())


async def c_read(peer: Peer) -> None:
    if await peer.connect():
        await peer.read_until_closed()


async def s_before_accept(ws: Any, log: Log) -> None:
    await call(log, "send_text", ws.send_text("too early"))
    await call(log, "receive_text", ws.receive_text())
    await call(log, "send_json_bad_mode", ws.send_json(1, mode="weird"))
    await call(log, "accept", ws.accept())
    await call(log, "send_text", ws.send_text("after"))
    await call(log, "close", ws.close())


async def s_after_close(ws: Any, log: Log) -> None:
    await call(log, "accept", ws.accept())
    await call(log, "accept_again", ws.accept())
    await call(log, "close", ws.close(1001))
    await call(log, "send_text", ws.send_text("late"))
    await call(log, "close_again", ws.close())
    await call(log, "accept_after_close", ws.accept())
    await call(log, "receive_text", ws.receive_text())


async def s_client_disconnects(ws: Any, log: Log) -> None:
    await call(log, "accept", ws.accept())
    await call(log, "receive_text", ws.receive_text())
    await call(log, "receive_text", ws.receive_text())
    await call(log, "receive_again", ws.receive())
    # Straight after the disconnect: uvicorn raises ClientDisconnected whether or
    # not it has run connection_lost yet (websockets' InvalidState otherwise).
    await call(log, "send_text", ws.send_text("anyone?"))
    await call(log, "send_text_again", ws.send_text("anyone?"))
    await call(log, "close", ws.close())


async def c_ping_then_close(peer: Peer) -> None:
    assert await peer.connect()
    await peer.send_text("ping")
    await peer.close(4001, "bye")


async def s_client_vanishes(ws: Any, log: Log) -> None:
    await call(log, "accept", ws.accept())
    await call(log, "receive_text", ws.receive_text())
    await call(log, "send_text", ws.send_text("anyone?"))


async def c_abort(peer: Peer) -> None:
    assert await peer.connect()
    await peer.abort()


async def s_reject(ws: Any, log: Log) -> None:
    await call(log, "close", ws.close(1008, "go away"))
    await call(log, "send_text", ws.send_text("x"))


async def s_gone_before_accept(ws: Any, log: Log) -> None:
    await call(log, "receive", ws.receive())
    await call(log, "receive", ws.receive())
    await call(log, "accept", ws.accept())


async def c_gone_before_accept(peer: Peer) -> None:
    await peer.drop_before_accept()


SEND_AFTER_CLOSE = ("WebSocketDisconnected", 'Cannot call "send" once a close message has been sent.')


@dataclass(frozen=True)
class Scenario:
    name: str
    server: ServerScript
    client: ClientScript
    log: Log
    states: tuple[str, str]
    seen: Seen


SCENARIOS = [
    Scenario(
        "accept_send_close",
        s_happy_path,
        c_read,
        [("accept", "ok"), ("send_text", "ok"), ("send_json", "ok"), ("send_bytes", "ok"),
         ("send_json_binary", "ok"), ("close", "ok"),
         ("receive", "ok", {"type": "websocket.disconnect", "code": 4000, "reason": "done"})],
        ("DISCONNECTED", "DISCONNECTED"),
        Seen([("text", "hello"), ("text", '{"a":1,"é":"ü"}'), ("bytes", b"\x00\x01\xff"), ("bytes", b'[1,"two"]')],
             (4000, "done")),
    ),
    Scenario(
        "misuse_before_accept",
        s_before_accept,
        c_read,
        [("send_text", "RuntimeError", ('Expected ASGI message "websocket.accept", "websocket.close" or '
                                        '"websocket.http.response.start", but got \'websocket.send\'')),
         ("receive_text", "WebSocketDisconnected", 'WebSocket is not connected. Need to call "accept" first.'),
         ("send_json_bad_mode", "RuntimeError", 'The "mode" argument should be "text" or "binary".'),
         ("accept", "ok"), ("send_text", "ok"), ("close", "ok")],
        ("CONNECTED", "DISCONNECTED"),
        Seen([("text", "after")], (1000, "")),
    ),
    Scenario(
        "misuse_after_close",
        s_after_close,
        c_read,
        [("accept", "ok"),
         ("accept_again", "RuntimeError",
          'Expected ASGI message "websocket.send" or "websocket.close", but got \'websocket.accept\''),
         ("close", "ok"), ("send_text", *SEND_AFTER_CLOSE), ("close_again", *SEND_AFTER_CLOSE),
         ("accept_after_close", *SEND_AFTER_CLOSE),
         ("receive_text", "WebSocketDisconnected", 'WebSocket is not connected. Need to call "accept" first.')],
        ("CONNECTED", "DISCONNECTED"),
        Seen([], (1001, "")),
    ),
    Scenario(
        "client_disconnects",
        s_client_disconnects,
        c_ping_then_close,
        [("accept", "ok"), ("receive_text", "ok", "ping"), ("receive_text", "WebSocketDisconnect", 4001, "bye"),
         ("receive_again", "WebSocketDisconnected",
          'Cannot call "receive" once a disconnect message has been received.'),
         ("send_text", "WebSocketDisconnect", 1006, ""), ("send_text_again", *SEND_AFTER_CLOSE),
         ("close", *SEND_AFTER_CLOSE)],
        ("DISCONNECTED", "DISCONNECTED"),
        Seen([], (4001, "bye")),
    ),
    Scenario(
        "client_vanishes",
        s_client_vanishes,
        c_abort,
        [("accept", "ok"), ("receive_text", "WebSocketDisconnect", 1005, ""),
         ("send_text", "WebSocketDisconnect", 1006, "")],
        ("DISCONNECTED", "DISCONNECTED"),
        Seen(),
    ),
    Scenario(
        "reject_before_accept",
        s_reject,
        c_read,
        [("close", "ok"), ("send_text", *SEND_AFTER_CLOSE)],
        ("CONNECTING", "DISCONNECTED"),
        Seen(rejected=403),
    ),
    Scenario(
        "client_gone_before_accept",
        s_gone_before_accept,
        c_gone_before_accept,
        [("receive", "ok", {"type": "websocket.connect"}),
         ("receive", "ok", {"type": "websocket.disconnect", "code": 1006}),
         ("accept", "ClientDisconnected", "")],
        ("DISCONNECTED", "CONNECTED"),
        Seen(),
    ),
]
IDS = [s.name for s in SCENARIOS]


# -- running a scenario on either stack ----------------------------------------
@dataclass
class Result:
    log: Log
    states: tuple[str, str]
    seen: Seen


async def run_fake(scenario: Scenario) -> Result:
    ws = FakeWebSocket(strict=False)  # compare the raw Starlette errors
    peer = FakePeer(ws)
    log: Log = []
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(scenario.client, peer)
            await scenario.server(ws, log)
    return Result(log, (ws.client_state.name, ws.application_state.name), peer.seen)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield  # leave the test process's signal handlers alone


@contextlib.asynccontextmanager
async def real_server(app: Any) -> AsyncIterator[int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None, log_level="warning")
    server = _Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.lowlevel.checkpoint()  # bounded poll of uvicorn's started flag
        try:
            yield server.servers[0].sockets[0].getsockname()[1]
        finally:
            server.should_exit = True


async def run_real(scenario: Scenario) -> Result:
    log: Log = []
    done = anyio.Event()
    final: list[tuple[str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        try:
            await scenario.server(ws, log)
        finally:
            final.append((ws.client_state.name, ws.application_state.name))
            done.set()

    with anyio.fail_after(30):
        async with real_server(app) as port, contextlib.AsyncExitStack() as stack:
            peer: Peer
            if scenario.name == "client_gone_before_accept":
                peer = RawHandshakeThenDrop(port)
            else:
                peer = RealPeer(f"ws://127.0.0.1:{port}/", stack)
            await scenario.client(peer)
            await done.wait()
    return Result(log, final[0], peer.seen)


def check(result: Result, scenario: Scenario) -> None:
    assert result.log == scenario.log
    assert result.states == scenario.states
    assert result.seen == scenario.seen


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_fake_follows_the_contract(scenario: Scenario) -> None:
    check(await run_fake(scenario), scenario)


@pytest.mark.parametrize("anyio_backend", [pytest.param("asyncio", id="asyncio-realtime")])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_real_starlette_follows_the_contract(scenario: Scenario) -> None:
    real = await run_real(scenario)
    check(real, scenario)
    # and, explicitly, the fake on the same loop says the same thing
    fake = await run_fake(scenario)
    assert (fake.log, fake.states, fake.seen) == (real.log, real.states, real.seen)


def test_fake_raises_starlettes_own_classes() -> None:
    import starlette.websockets as sw
    from uvicorn.protocols.utils import ClientDisconnected as UvicornClientDisconnected

    assert WebSocketDisconnect is sw.WebSocketDisconnect
    assert ClientDisconnected is UvicornClientDisconnected
