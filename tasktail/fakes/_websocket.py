"""FakeWebSocket: Starlette's WebSocket surface over a scripted fake peer.

Theory of operation:

1. Two layers, like production. The public methods copy Starlette 1.x's state
   machine (``client_state`` / ``application_state``) line for line, so misuse
   raises exactly Starlette's exception and message. Underneath, ``_asgi_*``
   plays uvicorn's websockets-sansio protocol (the ASGI server Starlette runs
   on), including what it raises and queues when the peer is gone.
   The transcript readers live in ``_transcript.py``, the uvicorn half in
   ``_asgi.py``.
2. Every misuse is recorded in ``violations`` first; then, if ``strict``, a
   ``FakeWebSocketMisuse`` is raised (chained to the Starlette error), else the
   Starlette error itself. Peer failures (``WebSocketDisconnect``) are not misuse.
3. A data send is *in flight* from ``send_started`` until it is delivered or
   fails; the behaviour's ``on_send`` runs inside it. A second send starting
   then is ``overlapping_send``. ``close()`` meanwhile is legal: it is recorded
   with ``detail="while_send_in_flight"`` and the in-flight send later fails
   with uvicorn's "after sending 'websocket.close'" RuntimeError.
4. Every exception raised into the app is also in the transcript as ``error``.
5. Waiting (receive, client waits) uses one anyio Event replaced on every state
   change: no polling. An instant send never yields, as with uvicorn.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from . import _compat as c
from ._asgi import AsgiPeer
from ._behaviour import Behaviour, Instant
from ._client import FakeClient
from ._compat import WebSocketDisconnect, WebSocketDisconnected, WebSocketState
from ._gate import Gate
from ._records import ERROR, VIOLATION, FakeWebSocketMisuse, Violation, describe
from ._transcript import Transcript, now

CONNECTING, CONNECTED, DISCONNECTED = WebSocketState.CONNECTING, WebSocketState.CONNECTED, WebSocketState.DISCONNECTED


class FakeWebSocket(Transcript, AsgiPeer):
    """A stand-in for ``starlette.websockets.WebSocket`` (see module docstring).

    ``behaviour`` scripts accepts and sends (see ``tasktail.fakes._behaviour``);
    ``strict`` makes misuse raise :class:`FakeWebSocketMisuse`; ``client`` plays
    the browser; ``events`` / ``violations`` / ``texts()`` read what happened.
    """

    def __init__(self, behaviour: Behaviour | None = None, *, strict: bool = True) -> None:
        Transcript.__init__(self)
        AsgiPeer.__init__(self)
        self.behaviour = behaviour if behaviour is not None else Instant()
        self.strict = strict
        self.client_state = CONNECTING
        self.application_state = CONNECTING
        self.client = FakeClient(self)
        self._dead_by: str | None = None  # "close" or "disconnect": why application_state is DISCONNECTED

    # -- Starlette surface ------------------------------------------------------
    async def accept(self, subprotocol: str | None = None, headers: Iterable[tuple[bytes, bytes]] | None = None) -> None:
        with self._errors("accept"):
            if self.client_state == CONNECTING:
                await self._receive("accept")
            message = {"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers or [])}
            await self._send(message, "accept")

    async def send_text(self, data: str) -> None:
        with self._errors("send_text"):
            await self._send({"type": "websocket.send", "text": data}, "send_text")

    async def send_bytes(self, data: bytes) -> None:
        with self._errors("send_bytes"):
            await self._send({"type": "websocket.send", "bytes": data}, "send_bytes")

    async def send_json(self, data: Any, mode: str = "text") -> None:
        with self._errors("send_json"):
            if mode not in {"text", "binary"}:
                raise RuntimeError(c.MSG_BAD_MODE)
            text = c.json_dumps(data)
            message = {"type": "websocket.send", "text": text} if mode == "text" else {"type": "websocket.send", "bytes": text.encode("utf-8")}
            await self._send(message, "send_json")

    async def send(self, message: dict[str, Any]) -> None:
        """Starlette's raw ``send``: an ASGI ``websocket.send`` / ``websocket.close`` message."""
        with self._errors("send"):
            await self._send(message, "send")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        with self._errors("close"):
            await self._send({"type": "websocket.close", "code": code, "reason": reason or ""}, "close")

    async def receive(self) -> dict[str, Any]:
        with self._errors("receive"):
            return await self._receive("receive")

    async def receive_text(self) -> str:
        with self._errors("receive_text"):
            return (await self._receive_data("receive_text"))["text"]

    async def receive_bytes(self) -> bytes:
        with self._errors("receive_bytes"):
            return (await self._receive_data("receive_bytes"))["bytes"]

    async def receive_json(self, mode: str = "text") -> Any:
        with self._errors("receive_json"):
            if mode not in {"text", "binary"}:
                raise RuntimeError(c.MSG_BAD_MODE)
            message = await self._receive_data("receive_json")
            return c.json.loads(message["text"] if mode == "text" else message["bytes"].decode("utf-8"))

    # -- state -----------------------------------------------------------------
    @property
    def sends_in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def gate(self) -> Gate:
        for part in self.behaviour.parts():
            if isinstance(part, Gate):
                return part
        raise LookupError("this FakeWebSocket has no Gate in its behaviour")

    # shortcuts for playing the browser
    def client_send_text(self, data: str) -> None:
        self.client.send_text(data)

    def client_send_bytes(self, data: bytes) -> None:
        self.client.send_bytes(data)

    def client_disconnect(self, code: int = 1000, reason: str = "") -> None:
        self.client.disconnect(code, reason)

    # -- Starlette layer ------------------------------------------------------
    async def _receive(self, method: str) -> dict[str, Any]:
        if self.client_state == CONNECTING:
            message = await self._asgi_receive(method)  # always websocket.connect
            self.client_state = CONNECTED
            return message
        if self.client_state == CONNECTED:
            message = await self._asgi_receive(method)
            if message["type"] == "websocket.disconnect":
                self.client_state = DISCONNECTED
            return message
        self._misuse("receive_after_disconnect", method, WebSocketDisconnected(c.MSG_RECEIVE_AFTER_DISCONNECT))
        raise AssertionError("unreachable")

    async def _receive_data(self, method: str) -> dict[str, Any]:
        if self.application_state != CONNECTED:
            kind = "receive_before_accept" if self.application_state == CONNECTING else "receive_after_close"
            self._misuse(kind, method, WebSocketDisconnected(c.MSG_NOT_ACCEPTED))
        message = await self._receive(method)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message["code"], message.get("reason"))
        return message

    async def _send(self, message: dict[str, Any], method: str) -> None:
        kind = message["type"]
        if self.application_state == CONNECTING:
            if kind not in {"websocket.accept", "websocket.close"}:
                self._misuse("send_before_accept", method, RuntimeError(c.msg_expected_connecting(kind)))
            self.application_state = DISCONNECTED if kind == "websocket.close" else CONNECTED
            self._dead_by = "close" if kind == "websocket.close" else None
            await self._asgi_send(message, method)
        elif self.application_state == CONNECTED:
            if kind not in {"websocket.send", "websocket.close"}:
                self._misuse("accept_twice", method, RuntimeError(c.msg_expected_connected(kind)))
            if kind == "websocket.close":
                self.application_state, self._dead_by = DISCONNECTED, "close"
            try:
                await self._asgi_send(message, method)
            except OSError:
                self.application_state = DISCONNECTED
                self._dead_by = self._dead_by or "disconnect"
                raise WebSocketDisconnect(code=1006)
        else:
            action = {"websocket.send": "send", "websocket.close": "close", "websocket.accept": "accept"}[kind]
            why = self._dead_by or "close"
            name = "close_twice" if (action, why) == ("close", "close") else f"{action}_after_{why}"
            self._misuse(name, method, WebSocketDisconnected(c.MSG_SEND_AFTER_CLOSE))

    # -- plumbing -------------------------------------------------------------
    def _misuse(self, kind: str, method: str, error: Exception | None = None) -> None:
        violation = Violation(kind, method, now(), self.application_state, self.client_state,
                              str(error) if error is not None else kind.replace("_", " "))
        self.violations.append(violation)
        self._record(VIOLATION, detail=kind)
        if self.strict:
            raise FakeWebSocketMisuse(violation) from error
        if error is not None:
            raise error

    @contextmanager
    def _errors(self, method: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self._record(ERROR, error=describe(exc), detail=method)
            raise

    def __repr__(self) -> str:
        return (f"<FakeWebSocket app={self.application_state.name} client={self.client_state.name} "
                f"sent={self._sends} violations={len(self.violations)}>")
