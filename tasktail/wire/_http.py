"""A tiny JSON-over-HTTP/1.1 client on anyio streams (asyncio and trio), for the control surface.

The wire runner's only HTTP needs are small JSON requests to one host, so this keeps the
runtime dependencies to anyio and websockets (httpx stays a dev dependency): one
connection per request (``Connection: close``), ``Content-Length`` bodies, every wait
bounded by the caller's ``timeout``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import anyio

__all__ = ["ControlError", "request_json"]


class ControlError(Exception):
    """The control surface could not be reached or answered something that is not JSON."""


async def request_json(base: str, method: str, path: str, body: Any = None, *,
                       timeout: float = 10.0) -> tuple[int, Any]:
    """``(status, decoded JSON body)`` of ``METHOD base/path``; ControlError on trouble."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)
    if url.scheme != "http":
        raise ControlError(f"control URL {base!r}: only http:// is supported")
    target = url.path.rstrip("/") + path
    payload = b"" if body is None else json.dumps(body).encode()
    head = (f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
            f"Accept: application/json\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
    what = f"{method} {base.rstrip('/')}{path}"
    try:
        with anyio.fail_after(timeout):
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(head.encode() + payload)
                data = b""
                while True:
                    if b"\r\n\r\n" in data:
                        header, _, rest = data.partition(b"\r\n\r\n")
                        length = _content_length(header)
                        if length is not None and len(rest) >= length:
                            data = header + b"\r\n\r\n" + rest[:length]
                            break
                    try:
                        data += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
    except TimeoutError:
        raise ControlError(f"hung: {what} got no answer within {timeout:g} s") from None
    except OSError as exc:
        raise ControlError(f"{what}: cannot connect: {exc}") from None
    header, sep, rest = data.partition(b"\r\n\r\n")
    try:
        status = int(header.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise ControlError(f"{what}: not an HTTP response: {data[:200]!r}") from None
    if b"chunked" in header.lower():
        rest = _unchunk(rest)
    try:
        return status, json.loads(rest or b"null")
    except ValueError:
        raise ControlError(f"{what}: HTTP {status} with a body that is not JSON: {rest[:200]!r}") from None


def _content_length(header: bytes) -> int | None:
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2:]
    return out
