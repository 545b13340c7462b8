"""The server half of FakeWebSocket: what uvicorn does under Starlette.

Theory of operation (uvicorn 0.5x, websockets-sansio protocol, checked by
tests/fakes/test_contract.py):

1. ``receive`` pops a queue of ASGI messages. It always starts with
   ``websocket.connect``; the client appends ``websocket.receive`` and
   ``websocket.disconnect`` messages, and the app's own ``close`` appends a
   disconnect carrying the app's code (uvicorn does exactly that).
2. ``send`` raises ``ClientDisconnected`` (an ``OSError``) once the peer is
   gone; Starlette turns that into ``WebSocketDisconnect(1006)`` after the
   accept, but lets it through during the handshake.
3. A close before the accept is a rejection: uvicorn answers HTTP 403 and
   queues a 1006 disconnect.
4. A data send is in flight while the behaviour's ``on_send`` runs, inside a
   cancel scope that ``_abort_in_flight`` cancels when the client leaves (like
   connection_lost waking a send blocked on a full buffer). It is delivered only
   if the peer is still there and the app has not sent its close meanwhile; in
   that last case uvicorn raises its "after sending 'websocket.close'" error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from . import _compat as c
from ._compat import ClientDisconnected
from ._records import (
    ACCEPTED,
    CLOSE,
    DELIVERED,
    RECEIVED,
    SEND_CANCELLED,
    SEND_FAILED,
    SEND_STARTED,
    Frame,
    describe,
)

if TYPE_CHECKING:
    from ._behaviour import Behaviour
    from ._client import FakeClient


class AsgiPeer:
    """Mixin: uvicorn-level state and the ASGI receive/send a FakeWebSocket sits on."""

    behaviour: Behaviour
    client: FakeClient

    def __init__(self) -> None:
        self._incoming: deque[dict[str, Any]] = deque([{"type": "websocket.connect"}])
        self._handshake_complete = False
        self._close_sent = False
        self._peer_gone = False
        self._sends = 0
        self._in_flight: list[Frame] = []
        self._abort_scopes: set[anyio.CancelScope] = set()
        self._receivers = 0
        self._wakeup: anyio.Event | None = None

    # provided by the other halves of FakeWebSocket
    def _record(self, kind: str, **fields: Any) -> None:
        raise NotImplementedError

    def _misuse(self, kind: str, method: str, error: Exception | None = None) -> None:
        raise NotImplementedError

    async def _asgi_receive(self, method: str) -> dict[str, Any]:
        if self._receivers:
            self._misuse("overlapping_receive", method)
        self._receivers += 1
        try:
            await self._wait_for(lambda: bool(self._incoming))
        finally:
            self._receivers -= 1
        message = self._incoming.popleft()
        self._record(RECEIVED, code=message.get("code"), reason=message.get("reason"), detail=message["type"])
        return message

    async def _asgi_send(self, message: dict[str, Any], method: str) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            return await self._send_frame(message, method)
        if kind == "websocket.accept" and not self._handshake_complete:
            await self.behaviour.on_accept(self)  # type: ignore[arg-type]  # where NeverAccepts blocks
        if self._peer_gone:
            raise ClientDisconnected()
        code, reason = message.get("code", 1000), message.get("reason") or ""
        if not self._handshake_complete:
            self._handshake_complete = True
            if kind == "websocket.accept":
                self.client.accepted, self.client.subprotocol = True, message.get("subprotocol")
                self._record(ACCEPTED, by="server", detail=message.get("subprotocol"))
            else:  # rule 3
                self._close_sent = self.client.rejected = self.client.gone = True
                self._incoming.append({"type": "websocket.disconnect", "code": 1006})
                self._record(CLOSE, code=code, reason=reason, by="server", detail="rejected (HTTP 403)")
        elif not self._close_sent:
            self._close_sent = True
            self._incoming.append({"type": "websocket.disconnect", "code": code, "reason": reason})
            self.client.close_code, self.client.close_reason = code, reason
            detail = "while_send_in_flight" if self._in_flight else None
            self._record(CLOSE, code=code, reason=reason, by="server", detail=detail)
        else:
            raise RuntimeError(f"Unexpected ASGI message '{kind}', after sending 'websocket.close'.")
        self._changed()

    async def _send_frame(self, message: dict[str, Any], method: str) -> None:
        if self._in_flight:
            self._misuse("overlapping_send", method)
        self._sends += 1
        text = message.get("text")
        frame = Frame("text", text, self._sends) if text is not None else Frame("bytes", message["bytes"], self._sends)
        self._in_flight.append(frame)
        self._record(SEND_STARTED, frame=frame)
        try:
            with anyio.CancelScope() as scope:  # rule 4
                self._abort_scopes.add(scope)
                try:
                    if not self._peer_gone:
                        await self.behaviour.on_send(self, frame)  # type: ignore[arg-type]
                finally:
                    self._abort_scopes.discard(scope)
            if self._peer_gone:
                raise ClientDisconnected()
            if self._close_sent:
                raise RuntimeError(c.MSG_UVICORN_SEND_AFTER_CLOSE)
        except anyio.get_cancelled_exc_class():
            self._record(SEND_CANCELLED, frame=frame)
            raise
        except Exception as exc:
            self._record(SEND_FAILED, frame=frame, error=describe(exc))
            raise
        finally:
            self._in_flight.remove(frame)
        self.client.frames.append(frame)
        self._record(DELIVERED, frame=frame)
        self._changed()

    def _abort_in_flight(self) -> None:
        for scope in list(self._abort_scopes):
            scope.cancel()

    async def _wait_for(self, predicate: Callable[[], bool]) -> None:
        # One Event shared by all waiters, replaced on every change: no polling.
        while not predicate():
            if self._wakeup is None:
                self._wakeup = anyio.Event()
            await self._wakeup.wait()

    def _changed(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None
