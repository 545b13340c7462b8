"""Hardening at the edge: task ids, hosts and origins, bounded uploads, response headers."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
from collections.abc import Iterable

import anyio
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse

__all__ = ["HEADERS", "TASK_ID", "LOCAL_HOSTS", "new_task_id", "error", "same_origin", "host_names",
           "read_body", "clean_name", "UploadTooLarge", "UploadTooSlow", "UploadAborted"]

#: the quiet one-line reports of clients that went away (``DEMO-5``)
log = logging.getLogger("tasktail.demo")
#: ``Host`` names always allowed (``DEMO-4``); the address the server is bound to is added
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")

#: what :func:`new_task_id` makes: ``secrets.token_urlsafe(16)``, 128 random bits
TASK_ID = re.compile(r"[A-Za-z0-9_-]{22}")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def new_task_id() -> str:
    return secrets.token_urlsafe(16)


def clean_name(raw: str | None) -> str:
    """A file name to display: its last path part, word characters only, 80 at most."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^\w .-]", "_", name)[:80].strip() or "upload.csv"


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=HEADERS)


def same_origin(conn: HTTPConnection) -> bool:
    """Requests without ``Origin`` (curl, scripts) pass; a browser's must name this host."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return origin == f"{scheme}://{conn.headers.get('host', '')}"


def host_names(hosts: Iterable[str]) -> list[str]:
    """Names as a ``Host`` header carries them: an IPv6 address in brackets."""
    names = []
    for host in hosts:
        try:
            if ipaddress.ip_address(host).version == 6:
                host = f"[{host}]"
        except ValueError:
            pass  # a name, or already bracketed
        names.append(host.lower())
    return names


class UploadTooLarge(Exception):
    """The body is, or says it will be, over the size limit (413)."""


class UploadTooSlow(Exception):
    """The body did not arrive in full within the time limit (408)."""


class UploadAborted(Exception):
    """The client went away before its body arrived in full (no response can reach it)."""


def _declared_size(request: Request) -> int | None:
    declared = request.headers.get("content-length", "")
    # More than 18 digits is over any limit; int() of a huge string is itself slow.
    return int(declared[:19]) if declared.isascii() and declared.isdecimal() else None


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, read as a stream: at most ``limit`` bytes, within ``timeout`` seconds.

    A declared ``Content-Length`` over the limit is refused before a byte is read."""
    declared = _declared_size(request)
    if declared is not None and declared > limit:
        raise UploadTooLarge(f"declared {declared} bytes")
    body = bytearray()
    with anyio.move_on_after(timeout) as scope:
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise UploadTooLarge(f"over {limit} bytes after {len(body)}")
        except ClientDisconnect:
            raise UploadAborted(f"client went away after {len(body)} bytes") from None
    if scope.cancelled_caught:
        raise UploadTooSlow(f"{len(body)} bytes in {timeout:g} s")
    return bytes(body)
