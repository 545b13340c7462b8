"""Helpers for the Redis tests: bounded waits on real time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

BOUND = 15.0  # seconds any single wait in these tests may take before it is a failure


async def wait_until(predicate: Callable[[], object], bound: float = BOUND, what: str = "condition") -> None:
    """Poll ``predicate`` (real time, bounded): Redis and other processes send no events."""
    with anyio.fail_after(bound):
        while not predicate():
            await anyio.sleep(0.005)


async def frames(ws, n: int, bound: float = BOUND) -> list[dict]:
    """The first ``n`` JSON frames the fake client received, waiting (bounded) for them."""
    with anyio.fail_after(bound):
        await ws.client.wait_frames(n)
    return ws.client.json_frames()[:n]


def logs(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] == "log"]


async def eventually(query: Callable[[], Awaitable], predicate: Callable[[object], bool]) -> object:
    """``await query()`` until ``predicate`` holds of its answer (bounded, real time): the
    acknowledgement that counts a delivery runs after the frame was written."""
    with anyio.fail_after(BOUND):
        while True:
            answer = await query()
            if predicate(answer):
                return answer
            await anyio.sleep(0.005)
