"""Project-wide pytest setup.

Every ``@pytest.mark.anyio`` test runs twice, on asyncio and on trio, both on a
virtual clock that jumps forward whenever all tasks are blocked (see
``tasktail.fakes._virtual_time``): ``anyio.sleep(3600)`` returns at once and
timeouts fire deterministically. The fixture is module-scoped like anyio's
own, so one clock serves a whole module: measure durations as differences of
``anyio.current_time()``, not from 0. A test that needs real time (real
sockets, e.g. a uvicorn server) overrides it with
``@pytest.mark.parametrize("anyio_backend", ["asyncio"])``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tasktail.fakes import available_backends, virtual_backend


@pytest.fixture(scope="module", params=available_backends())
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_backend(request.param)
