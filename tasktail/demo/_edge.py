"""Hardening at the edge: task ids, origin checks, bounded bodies, response headers."""

from __future__ import annotations

import re
import secrets

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

__all__ = ["HEADERS", "TASK_ID", "new_task_id", "error", "same_origin", "read_body", "clean_name"]

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


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is over ``limit`` bytes (checked before reading if declared)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
