"""Scriptable, composable send/accept behaviours for :class:`FakeWebSocket`.

Theory of operation:

1. A behaviour has two hooks, ``on_accept(ws)`` and ``on_send(ws, frame)``.
   The fake awaits them while the accept / the send is in flight; the frame is
   delivered to the client only when ``on_send`` returns.
2. Time passes only through ``anyio.sleep`` (virtual time in tests), and sends
   are counted by ``frame.index`` (per socket, 1-based), so a behaviour is a pure
   function of the script: deterministic by construction.
3. To fail a send, a hook raises or makes the peer vanish. A hook plays the
   ASGI server, so Starlette's rule applies: an ``OSError`` becomes
   ``WebSocketDisconnect(1006)`` and the socket is dead; any other exception
   reaches the caller unchanged and the socket stays usable. After
   ``ws.client.vanish()`` the send raises ``WebSocketDisconnect(1006)`` too.
4. While a send is in flight, the client vanishing aborts the hook (like
   uvicorn's connection_lost waking a send blocked on a full buffer).
5. ``a + b`` chains behaviours: hooks run in order, all on the same send.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from ._records import Frame

if TYPE_CHECKING:
    from ._websocket import FakeWebSocket

SendCallback = Callable[["FakeWebSocket", Frame], "Awaitable[None] | None"]
AcceptCallback = Callable[["FakeWebSocket"], "Awaitable[None] | None"]


class Behaviour:
    """Base class and the instant behaviour: every hook returns at once."""

    async def on_accept(self, ws: FakeWebSocket) -> None:
        return None

    async def on_send(self, ws: FakeWebSocket, frame: Frame) -> None:
        return None

    def parts(self) -> tuple[Behaviour, ...]:
        return (self,)

    def __add__(self, other: Behaviour) -> Chain:
        return Chain(self, other)


SendBehaviour = Behaviour  # the name the docs use for the policy object


class Instant(Behaviour):
    """Sends are delivered immediately (the default)."""


class Chain(Behaviour):
    """Run several behaviours in order on every accept and every send."""

    def __init__(self, *behaviours: Behaviour) -> None:
        self.behaviours = tuple(p for b in behaviours for p in b.parts())

    def parts(self) -> tuple[Behaviour, ...]:
        return self.behaviours

    async def on_accept(self, ws: FakeWebSocket) -> None:
        for b in self.behaviours:
            await b.on_accept(ws)

    async def on_send(self, ws: FakeWebSocket, frame: Frame) -> None:
        for b in self.behaviours:
            await b.on_send(ws, frame)


class Latency(Behaviour):
    """Every send takes ``seconds`` of (virtual) event-loop time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def on_send(self, ws: FakeWebSocket, frame: Frame) -> None:
        await anyio.sleep(self.seconds)


class SlowReader(Behaviour):
    """A client that drains slowly: each send costs ``fixed + per_byte * frame.size`` seconds."""

    def __init__(self, *, per_byte: float = 0.0, fixed: float = 0.0) -> None:
        self.per_byte = per_byte
        self.fixed = fixed

    def delay_for(self, frame: Frame) -> float:
        return self.fixed + self.per_byte * frame.size

    async def on_send(self, ws: FakeWebSocket, frame: Frame) -> None:
        await anyio.sleep(self.delay_for(frame))


class FailOnSend(Behaviour):
    """The ``n``-th send (1-based) fails.

    With no ``exc`` the peer vanishes mid-send, so the caller gets what Starlette
    raises for a dead peer (``WebSocketDisconnect(1006)``) and the socket is dead.
    With ``exc`` (an exception or a zero-argument factory) that is raised from
    below Starlette: an ``OSError`` is turned into ``WebSocketDisconnect(1006)``
    exactly as Starlette does (socket dead); anything else reaches the caller
    as is and the socket stays usable.
    """

    def __init__(self, n: int = 1, exc: BaseException | Callable[[], BaseException] | None = None) -> None:
        if n < 1:
            raise ValueError("n is 1-based")
        self.n = n
        self.exc = exc

    async def on_send(self, ws: FakeWebSocket, frame: Frame) -> None:
        if frame.index != self.n:
            return
        if self.exc is None:
            ws.client.vanish()
            return
        raise self.exc if isinstance(self.exc, BaseException) else self.exc()


class VanishMidSend(Behaviour):
    """The ``n``-th send blocks ``after`` seconds, then the client vanishes.

    ``after=None`` blocks until something else (the test) makes the client
    vanish or disconnect; the send then fails as in rule 4.
    """

    def __init__(self, n: int = 1, after: float | None = 1.0) -> None:
        self.n = n
        self.after = after

    async def on_send(self, ws: FakeWebSocket, frame: Frame) -> None:
        if frame.index != self.n:
            return
        if self.after is None:
            await anyio.sleep_forever()  # aborted by the fake when the peer goes
        await anyio.sleep(self.after)
        ws.client.vanish()


class NeverAccepts(Behaviour):
    """``accept()`` blocks until it is cancelled (a client stuck in the handshake)."""

    async def on_accept(self, ws: FakeWebSocket) -> None:
        await anyio.sleep_forever()


class Hook(Behaviour):
    """Call user callbacks (sync or async) on accept and/or each send.

    A callback may await, raise, or call ``ws.client`` methods.
    """

    def __init__(self, send: SendCallback | None = None, accept: AcceptCallback | None = None) -> None:
        self.send = send
        self.accept = accept

    async def on_accept(self, ws: FakeWebSocket) -> None:
        if self.accept is not None:
            await _maybe_await(self.accept(ws))

    async def on_send(self, ws: FakeWebSocket, frame: Frame) -> None:
        if self.send is not None:
            await _maybe_await(self.send(ws, frame))


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result
