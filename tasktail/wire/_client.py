"""One runner client: a WebSocket client on anyio streams (asyncio and trio) over the
``websockets`` sans-IO protocol, recording what it received.

It reads from the moment it connects until the connection ends (the protocol answers
close frames and pings by itself), so the server never waits for it; ``wait`` waits on an
event replaced at every change (no polling). ``abort`` drops the TCP connection without a
close frame (a ``drop`` step).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

__all__ = ["WireClient", "decode_frame"]


def decode_frame(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"$text": text}


class WireClient:
    """A client named ``name`` of ``url``; run :meth:`run` as a task."""

    def __init__(self, name: str, url: str, *, connect_timeout: float = 10.0) -> None:
        self.name, self.url, self.connect_timeout = name, url, connect_timeout
        self.frames: list[Any] = []
        self.accepted = False  # the handshake completed
        self.refused: str | None = None  # why the handshake failed
        self.close_code: int | None = None  # from the close frame received
        self.ended = False  # nothing more will arrive
        self.aborted = False  # the TCP connection was dropped on purpose
        self.deaf = False  # the peer vanished: nothing it is sent counts as received
        self._stream: anyio.abc.ByteStream | None = None
        self._changed = anyio.Event()

    def _change(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """True once ``predicate()`` holds; False if it did not within ``timeout`` seconds."""
        with anyio.move_on_after(timeout):
            while not predicate():
                await self._changed.wait()
            return True
        return predicate()

    async def run(self) -> None:
        try:
            await self._run()
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream) as exc:
            if not self.aborted and not self.accepted and self.refused is None:
                self.refused = f"{type(exc).__name__}: {exc}"
        except TimeoutError:
            self.refused = f"no TCP connection within {self.connect_timeout:g} s"
        finally:
            self.ended = True
            self._change()
            if self._stream is not None:
                with anyio.CancelScope(shield=True):
                    await self._stream.aclose()

    async def _run(self) -> None:
        uri = parse_uri(self.url)
        protocol = ClientProtocol(uri, max_size=None)
        with anyio.fail_after(self.connect_timeout):
            self._stream = await anyio.connect_tcp(uri.host, uri.port)
        stream = self._stream
        protocol.send_request(protocol.connect())
        await self._flush(protocol, stream)
        pending = b""
        while not self.aborted:
            try:
                data = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                protocol.receive_eof()
                data = None
            else:
                protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Response):
                    if protocol.handshake_exc is not None:
                        self.refused = f"handshake refused: {protocol.handshake_exc}"
                    else:
                        self.accepted = True
                elif event.opcode in (Opcode.TEXT, Opcode.CONT) and not self.deaf:
                    pending += event.data
                    if event.fin:
                        self.frames.append(decode_frame(pending.decode("utf-8", "replace")))
                        pending = b""
                elif event.opcode == Opcode.CLOSE and protocol.close_rcvd is not None and not self.deaf:
                    self.close_code = protocol.close_rcvd.code
            self._change()
            if not self.aborted:
                await self._flush(protocol, stream)
            if data is None or protocol.state is State.CLOSED or self.refused is not None:
                return

    async def _flush(self, protocol: ClientProtocol, stream: anyio.abc.ByteStream) -> None:
        for chunk in protocol.data_to_send():
            if chunk:
                await stream.send(chunk)
            else:  # the protocol asks to half-close: the server closes its side next
                try:
                    await stream.send_eof()  # type: ignore[attr-defined]
                except (AttributeError, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass

    def vanish(self) -> None:
        """From now on record nothing (the peer is gone, whatever the server still sends);
        the TCP connection stays open until :meth:`abort`."""
        self.deaf = True
        self._change()

    async def abort(self) -> None:
        """Vanish: close the TCP connection without a close frame; record nothing more."""
        self.aborted = self.deaf = True
        if self._stream is not None:
            await self._stream.aclose()
        self._change()
