"""The adapter every subject of the benchmark implements, and the parameters it is built with."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Callable

import anyio
import anyio.from_thread


UTC = timezone.utc

try:  # the ``fast`` extra
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


@dataclass(frozen=True)
class Params:
    max_queue_size: int = 1000
    send_timeout: float = 10.0


@dataclass
class Subject:
    name: str
    kind: str  # floor | reference | design | peer
    description: str
    build: Callable[[Params], Any]
    late_clients: bool = True  # delivers what was logged before the client connected
    capped: bool = True  # bounded queue with a rule for what gives way
    needs: tuple[str, ...] = ()  # modules that must be importable
    asyncio_only: bool = False
    #: zero-argument factory of a manager-like object for the conformance suite, or None
    manager_factory: Callable[..., Any] | None = None  # conformance factory: keyword config
    not_a_manager: str = ""  # why there is no factory
    unsupported: dict[str, str] | None = None  # workload -> reason
    max_tasks: int | None = None  # above this many tasks a run would take minutes
    max_tasks_reason: str = ""

    def unavailable(self, backend: str) -> str | None:
        for module in self.needs:
            if importlib.util.find_spec(module) is None:
                return f"needs {module} (pip install 'tasktail[peers]')"
        if self.asyncio_only and backend != "asyncio":
            return "asyncio only"
        return None

    def cannot(self, workload: str, tasks: int = 0) -> str | None:
        if self.max_tasks is not None and tasks > self.max_tasks:
            return self.max_tasks_reason
        return (self.unsupported or {}).get(workload)


class _Base:
    sync_delivery = True

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def threadsafe_send(self) -> Callable[..., Any]:
        """A blocking ``send`` for worker threads (call in async code)."""
        token = anyio.lowlevel.current_token()
        send = self.send

        def tsend(task_id, level, message, progress=None, finished=False):
            return anyio.from_thread.run(send, task_id, level, message, progress, finished, token=token)

        return tsend


class _GroupBase(_Base):
    """A subject that runs tasks of its own (writers, consumers) in one task group."""

    async def __aenter__(self):
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)


# -- floors ------------------------------------------------------------------------------
