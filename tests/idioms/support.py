"""Helpers for the idiom reproductions: build a variant, read frames of any kind, settle."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from tasktail.fakes import FakeWebSocket, Hook, virtual_backend
from tasktail.idioms import IDIOMS

GUARD = 600  # virtual seconds: a hang shows as TimeoutError, never as a stuck run

#: asyncio-only idioms run on asyncio (virtual time) only; the id says so
ASYNCIO_ONLY = pytest.mark.parametrize(
    "anyio_backend", [pytest.param(virtual_backend("asyncio"), id="asyncio-only")])
VARIANTS = pytest.mark.parametrize("variant", ["broken", "fixed"])


def make(idiom: str, variant: str, **config: Any) -> Any:
    spec = IDIOMS[idiom]
    factory = spec.factory if variant == "broken" else spec.fixed
    assert factory is not None
    return factory(max_queue_size=config.pop("max_queue_size", 100), **config)


def texts(ws: FakeWebSocket) -> list[str]:
    """The ``message`` of every delivered frame (text, JSON or bytes), in order."""
    return [json.loads(f.payload)["message"] for f in ws.frames]


def fields(ws: FakeWebSocket) -> list[dict[str, Any]]:
    return [json.loads(f.payload) for f in ws.frames]


def overlapping(ws: FakeWebSocket) -> bool:
    return any(v.kind == "overlapping_send" for v in ws.violations)


def slow_first_send(seconds: float = 10) -> Hook:
    """The socket's first send takes ``seconds`` (virtual); later ones are instant."""
    async def on_send(ws: FakeWebSocket, frame: Any) -> None:
        if frame.index == 1:
            await anyio.sleep(seconds)
    return Hook(send=on_send)


async def settle() -> None:
    """Let deferred writers run until everything is blocked."""
    await anyio.wait_all_tasks_blocked()


async def log_all(manager: Any, task_id: str, names: list[str], **kwargs: Any) -> list[BaseException]:
    """Log each line; return the exceptions send_log raised (it should raise none)."""
    errors: list[BaseException] = []
    for name in names:
        try:
            await manager.send_log(task_id, "info", name, **kwargs)
        except Exception as exc:
            errors.append(exc)
    return errors


def lines(n: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def guarded(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> None:
        with anyio.fail_after(GUARD):
            await fn(*args, **kwargs)
    return wrapper
