"""Frozen records the fakes produce: frames, transcript events, violations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ._compat import WebSocketDisconnect, WebSocketState

FrameKind = Literal["text", "bytes"]

# Transcript event kinds, in roughly the order a connection produces them.
ACCEPTED = "accepted"
RECEIVED = "received"  # the app got an ASGI message from receive()
CLIENT_MESSAGE = "client_message"  # the client (browser) sent a frame
SEND_STARTED = "send_started"
DELIVERED = "delivered"  # the frame reached the client
SEND_FAILED = "send_failed"
SEND_CANCELLED = "send_cancelled"
CLOSE = "close"
ERROR = "error"  # an exception the fake raised into the app
VIOLATION = "violation"


@dataclass(frozen=True)
class Frame:
    """One data frame. ``index`` is the 1-based send number on its socket."""

    kind: FrameKind
    payload: str | bytes
    index: int = 0

    @property
    def size(self) -> int:
        """Bytes on the wire (UTF-8 for text), what a slow reader pays for."""
        if isinstance(self.payload, str):
            return len(self.payload.encode("utf-8"))
        return len(self.payload)

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True)
class Event:
    """One transcript entry; ``time`` is ``anyio.current_time()`` (None outside a loop)."""

    time: float | None
    kind: str
    frame: Frame | None = None
    code: int | None = None
    reason: str | None = None
    by: Literal["server", "client"] | None = None
    error: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Violation:
    """A misuse of the socket by the code under test, with the state it found."""

    kind: str
    method: str
    time: float | None
    application_state: WebSocketState
    client_state: WebSocketState
    message: str


class FakeWebSocketMisuse(AssertionError):
    """Raised (when ``strict=True``) at the point the code under test misused a socket.

    It is an AssertionError on purpose: misuse is a bug in the code under test,
    not a network condition it should handle. The exception Starlette would
    have raised is chained as ``__cause__``.
    """

    def __init__(self, violation: Violation) -> None:
        super().__init__(f"{violation.kind} in {violation.method}(): {violation.message}")
        self.violation = violation


def describe(exc: BaseException) -> str:
    """A stable, comparable one-line description of an exception."""
    if isinstance(exc, WebSocketDisconnect):
        return f"WebSocketDisconnect(code={exc.code}, reason={exc.reason!r})"
    return f"{type(exc).__name__}: {exc}"
