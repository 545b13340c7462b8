"""Real test-mode servers on loopback ephemeral ports, each in a thread of its own with an
asyncio loop on virtual time (``tasktail.wire.TestServer``): the wire client side of a test
runs on the test's own event loop, asyncio or trio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasktail.wire import TestServer


def _serve(framework: str, **kwargs) -> Iterator[TestServer]:
    server = TestServer(framework, **kwargs).start()  # bounded: start() waits at most 15 s
    try:
        yield server
    finally:
        server.stop()  # bounded: joins at most 15 s, raises if the server thread failed


@pytest.fixture(scope="module")
def starlette_server() -> Iterator[TestServer]:
    yield from _serve("starlette")


@pytest.fixture(scope="module")
def aiohttp_server() -> Iterator[TestServer]:
    yield from _serve("aiohttp")


@pytest.fixture(scope="module")
def planted_server() -> Iterator[TestServer]:
    yield from _serve("aiohttp", planted="replaced-close-1000")
