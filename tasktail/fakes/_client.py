"""The browser end of a :class:`FakeWebSocket`: what a test plays as the client.

Theory of operation:

1. Client actions are synchronous, like a browser's: sending queues an ASGI
   ``websocket.receive`` message for the app's ``receive()``.
2. ``disconnect(code, reason)`` is a clean close frame: the app's next receive
   reports that code and reason (what uvicorn's ``handle_close`` queues).
   ``vanish()`` is a dropped TCP connection: receive reports 1005 after the
   handshake and 1006 before it (uvicorn's ``connection_lost``), and the
   transcript records 1006, the RFC code for "no close frame".
3. Either way the peer is gone: sends in flight are aborted and the next send
   raises ``WebSocketDisconnect(1006)``, as under uvicorn (after that the
   socket is DISCONNECTED and Starlette refuses further sends).
4. Frames the client sends after the app closed are dropped, like uvicorn does
   once ``close_sent`` is set.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._records import CLIENT_MESSAGE, CLOSE, Frame

if TYPE_CHECKING:
    from ._websocket import FakeWebSocket


class FakeClient:
    """Plays the browser. Read what it got with ``frames`` / ``texts()`` / ``close_code``."""

    def __init__(self, ws: FakeWebSocket) -> None:
        self._ws = ws
        self.frames: list[Frame] = []  # delivered to this client, in order
        self.accepted = False
        self.rejected = False  # the app closed before accepting (HTTP 403)
        self.gone = False  # this client disconnected or vanished
        self.close_code: int | None = None  # close code this client saw or sent
        self.close_reason: str | None = None
        self.subprotocol: str | None = None

    # -- acting as the browser -------------------------------------------
    def send_text(self, data: str) -> None:
        self._send({"type": "websocket.receive", "text": data}, Frame("text", data))

    def send_bytes(self, data: bytes) -> None:
        self._send({"type": "websocket.receive", "bytes": data}, Frame("bytes", data))

    def send_json(self, data: Any) -> None:
        self.send_text(json.dumps(data))

    def disconnect(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and leave."""
        self._leave(code, reason, {"type": "websocket.disconnect", "code": code, "reason": reason}, None)

    def vanish(self) -> None:
        """Drop the connection without a close frame (network loss, killed tab)."""
        code = 1005 if self._ws._handshake_complete else 1006
        self._leave(1006, "", {"type": "websocket.disconnect", "code": code}, "vanished")

    # -- observing ---------------------------------------------------------
    def texts(self) -> list[str]:
        return [f.payload for f in self.frames if isinstance(f.payload, str)]

    def json_frames(self) -> list[Any]:
        return [json.loads(t) for t in self.texts()]

    def bytes_frames(self) -> list[bytes]:
        return [f.payload for f in self.frames if isinstance(f.payload, bytes)]

    @property
    def closed(self) -> bool:
        return self.gone or self.close_code is not None or self.rejected

    async def wait_accepted(self) -> bool:
        """Wait for the app to accept (True) or reject/close first (False)."""
        await self._ws._wait_for(lambda: self.accepted or self.rejected or self.gone)
        return self.accepted

    async def wait_frames(self, n: int) -> list[Frame]:
        """Wait until at least ``n`` frames were delivered."""
        await self._ws._wait_for(lambda: len(self.frames) >= n)
        return self.frames[:n]

    async def wait_closed(self) -> None:
        await self._ws._wait_for(lambda: self.closed)

    # -- internals -----------------------------------------------------------
    def _send(self, message: dict[str, Any], frame: Frame) -> None:
        if self.gone:
            raise RuntimeError("the fake client already disconnected; it cannot send")
        ws = self._ws
        ws._record(CLIENT_MESSAGE, frame=frame, by="client")
        if not ws._close_sent:
            ws._incoming.append(message)
            ws._changed()

    def _leave(self, code: int, reason: str, message: dict[str, Any], detail: str | None) -> None:
        if self.gone:
            return  # a second disconnect of a gone client is a no-op, like a dead TCP peer
        ws = self._ws
        self.gone = True
        if self.close_code is None:  # the app did not close first
            self.close_code, self.close_reason = code, reason
            ws._record(CLOSE, code=code, reason=reason, by="client", detail=detail)
        if not ws._close_sent:
            # Once the app sent its close, uvicorn has already queued the
            # app's own disconnect message; nothing new reaches receive().
            ws._incoming.append(message)
        ws._peer_gone = True
        ws._abort_in_flight()
        ws._changed()
