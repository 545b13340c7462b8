"""Setup for the demo's end-to-end tests: a real uvicorn server, real clients, a real browser."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_server: runs a real uvicorn server on a loopback port")
    config.addinivalue_line("markers", "browser: drives Debian's chromium (install with .ci/install-browser)")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Real-clock asyncio only, overriding the project's asyncio+trio virtual-time backends.

    These tests serve the demo with uvicorn, which runs on asyncio only, over real loopback
    sockets to real clients (``websockets``, ``httpx``, chromium) in other threads and
    processes. Virtual time would jump past real network waits and fire every timeout at
    once, so the real clock is the only one that fits; waits are bounded by
    ``anyio.fail_after`` and wait on observable events, never on fixed sleeps.
    """
    return "asyncio"
