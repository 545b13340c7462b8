"""The fault soak runs a real uvicorn on loopback: asyncio and the real clock only."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Real-clock asyncio, overriding the project's asyncio+trio virtual-time backends.

    uvicorn runs on asyncio only, and real sockets need real time: a virtual clock would
    jump past network waits and fire every send timeout at once. Every wait is bounded."""
    return "asyncio"
