"""Virtual time: sleeps and timeouts cost no real time and are exact, on both backends."""

from __future__ import annotations

import asyncio
import selectors
import time

import anyio
import pytest

from tasktail.fakes import (
    VirtualEventLoop,
    WallClock,
    run_virtual,
    virtual_backend,
    virtual_time_backends,
    wait_all_tasks_blocked,
)
from tasktail.fakes._virtual_time import _JumpingSelector

pytestmark = pytest.mark.anyio

REAL_BUDGET = 2.0  # generous bound on real seconds for things that "take" hours


async def test_an_hour_long_sleep_is_instant() -> None:
    real0, t0 = time.monotonic(), anyio.current_time()
    await anyio.sleep(3600)
    assert anyio.current_time() - t0 == pytest.approx(3600)
    assert time.monotonic() - real0 < REAL_BUDGET


async def test_fail_after_fires_exactly_at_its_deadline() -> None:
    real0, t0 = time.monotonic(), anyio.current_time()
    with pytest.raises(TimeoutError):
        with anyio.fail_after(5):
            await anyio.sleep(3600)
    assert anyio.current_time() - t0 == pytest.approx(5)
    assert time.monotonic() - real0 < REAL_BUDGET


async def test_concurrent_sleepers_wake_in_deadline_order_at_exact_times() -> None:
    t0 = anyio.current_time()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await anyio.sleep(seconds)
        woke.append((name, round(anyio.current_time() - t0, 9)))

    async with anyio.create_task_group() as tg:
        for name, seconds in [("c", 30.0), ("a", 0.5), ("b", 7.25)]:
            tg.start_soon(sleeper, name, seconds)
    assert woke == [("a", 0.5), ("b", 7.25), ("c", 30.0)]


async def test_a_year_of_timeouts_in_a_loop() -> None:
    real0, t0, fired = time.monotonic(), anyio.current_time(), 0
    for _ in range(365):
        with anyio.move_on_after(86400):
            await anyio.sleep_forever()
        fired += 1
    assert fired == 365
    assert anyio.current_time() - t0 == pytest.approx(365 * 86400)
    assert time.monotonic() - real0 < REAL_BUDGET


async def test_the_asyncio_side_really_runs_on_the_virtual_loop(anyio_backend_name: str) -> None:
    if anyio_backend_name == "asyncio":
        assert isinstance(asyncio.get_running_loop(), VirtualEventLoop)
    else:
        import trio.testing

        assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)


async def test_real_io_and_threads_still_work() -> None:
    # No timer is pending here, so the loop blocks for real until I/O arrives.
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            async def serve_one(stream: anyio.abc.SocketStream) -> None:
                async with stream:
                    await stream.send(b"echo:" + await stream.receive())
            tg.start_soon(listener.serve, serve_one)
            async with await anyio.connect_tcp("127.0.0.1", port) as client:
                await client.send(b"hi")
                assert await client.receive() == b"echo:hi"
            tg.cancel_scope.cancel()
    assert await anyio.to_thread.run_sync(lambda: 6 * 7) == 42


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_virtual_starts_at_zero_and_returns_the_value(backend: str) -> None:
    async def main(x: int) -> tuple[float, float, int]:
        start = anyio.current_time()
        await anyio.sleep(10)
        return start, anyio.current_time(), x

    real0 = time.monotonic()
    assert run_virtual(main, 7, backend=backend) == (0.0, 10.0, 7)
    assert time.monotonic() - real0 < REAL_BUDGET


def test_backend_helpers() -> None:
    names = [name for name, _ in virtual_time_backends()]
    assert names == ["asyncio", "trio"]
    _, options = virtual_backend("asyncio", autojump_threshold=0.5)
    loop = options["loop_factory"]()
    try:
        assert isinstance(loop, VirtualEventLoop) and loop.autojump_threshold == 0.5
    finally:
        loop.close()
    assert virtual_backend("trio")[1]["clock"] is not virtual_backend("trio")[1]["clock"]  # fresh each time
    with pytest.raises(ValueError):
        virtual_backend("curio")


class StubSelector(selectors.BaseSelector):
    """Records select() timeouts and returns scripted results, so no real waiting happens."""

    def __init__(self, results: list[list]) -> None:
        self.results, self.timeouts = results, []

    def select(self, timeout=None):
        self.timeouts.append(timeout)
        return self.results.pop(0)

    def register(self, fileobj, events, data=None): ...
    def unregister(self, fileobj): ...
    def get_map(self): return {}
    def close(self): ...


def test_selector_jumps_only_when_nothing_is_ready() -> None:
    loop = VirtualEventLoop()
    try:
        ready = [("key", 1)]
        stub = StubSelector([[], ready, [], []])
        sel = _JumpingSelector(loop, stub)
        assert sel.select(10.0) == [] and loop.time() == 10.0  # idle: jump, after a zero poll
        assert sel.select(5.0) == ready and loop.time() == 10.0  # I/O ready: no jump
        assert sel.select(0) == [] and loop.time() == 10.0  # a zero timeout never jumps
        assert sel.select(None) == [] and loop.time() == 10.0  # no timers: a real, blocking wait
        assert stub.timeouts == [0, 0, 0, None]
        loop.autojump_threshold = 0.25
        stub.results = [[], []]
        sel.select(3.0)
        assert stub.timeouts[-2:] == [0, 0.25] and loop.time() == 13.0  # grace for real I/O, then jump
        with pytest.raises(ValueError):
            loop.advance(-1)
    finally:
        loop.close()


async def test_wall_clock_follows_virtual_time() -> None:
    clock = WallClock(1_764_000_000.0)
    assert clock() == 1_764_000_000.0  # the first read is exactly start
    await anyio.sleep(90)
    assert clock() == pytest.approx(1_764_000_090.0)
    clock.set(2_000_000_000.0)
    await anyio.sleep(1.5)
    assert clock() == pytest.approx(2_000_000_001.5)
    clock.advance(10)
    assert clock() == pytest.approx(2_000_000_011.5)


def test_manual_wall_clock_works_outside_a_loop() -> None:
    clock = WallClock(100.0, follow_loop=False)
    assert clock() == 100.0
    clock.advance(2.5)
    assert clock() == 102.5
    clock.set(7.0)
    assert clock() == 7.0
    assert "follow_loop=False" in repr(clock)


async def test_timers_still_fire_far_from_zero(anyio_backend_name: str) -> None:
    # Regression: at ~1.7e7 s the float spacing exceeds asyncio's 1e-9 clock
    # resolution and a timer due exactly "now" never ran (the loop spun forever).
    if anyio_backend_name == "asyncio":
        asyncio.get_running_loop().advance(1e12)
    else:
        import trio

        trio.lowlevel.current_clock().jump(1e12)
    with anyio.fail_after(4 * 86400):  # without the fix this hangs: the guard is such a timer too
        for _ in range(3):
            with anyio.move_on_after(86400) as scope:
                await anyio.sleep_forever()
            assert scope.cancelled_caught


async def test_wait_all_tasks_blocked_ends_beside_a_task_that_polls() -> None:
    """Rule 7: a task polling with a short sleep is blocked between polls, and the wait
    moves no clock (the generated program in tests/scenarios/test_polling_producer.py is
    the one where anyio's own helper never returned)."""
    polls = 0

    async def poller() -> None:
        nonlocal polls
        while True:
            polls += 1
            await anyio.sleep(0.1)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(poller)
            t0 = anyio.current_time()
            await wait_all_tasks_blocked()
            assert polls == 1 and anyio.current_time() == t0  # it ran the poller, moved no clock
            await anyio.sleep(1.05)
            await wait_all_tasks_blocked()
            assert polls == 11
            group.cancel_scope.cancel()


async def test_wait_all_tasks_blocked_waits_for_a_wait_for_that_is_about_to_return(anyio_backend_name) -> None:
    """Rule 7: on asyncio, ``wait_for``'s inner task finishing resolves the outer task's
    waiter through a callback; until it ran, the outer task only looks blocked."""
    event, done = anyio.Event(), []

    async def bounded_wait() -> None:
        if anyio_backend_name == "asyncio":
            await asyncio.wait_for(event.wait(), 5)
        else:  # trio has no wait_for: its bounded wait is a cancel scope (no extra task)
            with anyio.fail_after(5):
                await event.wait()
        done.append(True)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(bounded_wait)
            await wait_all_tasks_blocked()
            event.set()
            await wait_all_tasks_blocked()
            assert done == [True]


async def test_wait_all_tasks_blocked_waits_for_ready_tasks() -> None:
    steps: list[int] = []

    async def walker() -> None:
        for i in range(50):
            steps.append(i)
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(walker)
            await wait_all_tasks_blocked()
            assert steps == list(range(50))
