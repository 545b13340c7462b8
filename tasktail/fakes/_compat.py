"""Starlette / uvicorn names the fakes must raise, with identical local fallbacks.

Starlette is an optional extra of tasktail (the core needs only anyio), so the
fakes import it when it is there and otherwise define look-alikes with the same
names, fields and messages. When Starlette *is* installed we must use its own
classes: a manager that writes ``except WebSocketDisconnect`` against Starlette
has to catch what the fake raises.
"""

from __future__ import annotations

import enum
import json

try:  # pragma: no branch - which arm runs depends on the environment
    from starlette.websockets import (
        WebSocketDisconnect,
        WebSocketDisconnected,
        WebSocketState,
    )
except ImportError:  # pragma: no cover - exercised only without starlette

    class WebSocketState(enum.Enum):  # type: ignore[no-redef]
        CONNECTING = 0
        CONNECTED = 1
        DISCONNECTED = 2
        RESPONSE = 3

    class WebSocketDisconnect(Exception):  # type: ignore[no-redef]
        def __init__(self, code: int = 1000, reason: str | None = None) -> None:
            self.code = code
            self.reason = reason or ""

    class WebSocketDisconnected(RuntimeError):  # type: ignore[no-redef]
        """Raised when attempting to use a disconnected WebSocket."""


try:  # pragma: no branch
    from uvicorn.protocols.utils import ClientDisconnected
except ImportError:  # pragma: no cover

    class ClientDisconnected(OSError):  # type: ignore[no-redef]
        """uvicorn's "peer is gone" error (an OSError) raised by its ASGI send."""


# Exact Starlette 1.x messages. Kept in one place so the contract test can
# prove them against the real thing.
MSG_SEND_AFTER_CLOSE = 'Cannot call "send" once a close message has been sent.'
MSG_RECEIVE_AFTER_DISCONNECT = 'Cannot call "receive" once a disconnect message has been received.'
MSG_NOT_ACCEPTED = 'WebSocket is not connected. Need to call "accept" first.'
MSG_BAD_MODE = 'The "mode" argument should be "text" or "binary".'
# uvicorn's message when a send that was already past Starlette's checks
# reaches the protocol after the app sent websocket.close.
MSG_UVICORN_SEND_AFTER_CLOSE = "Unexpected ASGI message 'websocket.send', after sending 'websocket.close'."


def msg_expected_connecting(message_type: str) -> str:
    return (
        'Expected ASGI message "websocket.accept", "websocket.close" or "websocket.http.response.start", '
        f"but got {message_type!r}"
    )


def msg_expected_connected(message_type: str) -> str:
    return f'Expected ASGI message "websocket.send" or "websocket.close", but got {message_type!r}'


__all__ = [
    "ClientDisconnected",
    "WebSocketDisconnect",
    "WebSocketDisconnected",
    "WebSocketState",
]


def json_dumps(data: object) -> str:
    """Starlette's exact JSON encoding for send_json (compact, non-ASCII kept)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
