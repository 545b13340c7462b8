"""The Redis backend as a subject of the vectors and the conformance suite (SPEC ``RDS-8``).

``redis_factory(url)`` returns a factory for the harnesses: each call makes an unstarted
:class:`RedisConnectionManager` on its own fresh key prefix (so managers of one run share
a ``redis-server`` and nothing else); the harness enters it (``async with``) before the
first step. On virtual time the manager holds the clock while it waits on Redis
(``hold_clock_while_busy(manager.quiescent)``), so the clock jumps, and the harness
settles, only when Redis has nothing more for it: real round trips cost no virtual time
and no timeout fires because of them.

What cannot be played against Redis is said, per vector, by ``tasktail_cannot_run``
(the runner grades it UNSUPPORTED with the reason, never PASS).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from ._manager import RedisConnectionManager

__all__ = ["redis_factory", "NOT_RUN"]

#: rules whose vectors are not played against Redis, and why (SPEC §14 "Not carried")
NOT_RUN: dict[str, str] = {
    "CAP-4": "overflow policies other than drop-oldest are not carried by the Redis backend (RDS-1 trims)",
    "CAP-5": "overflow policies other than drop-oldest are not carried by the Redis backend (RDS-1 trims)",
    "MEM-3": "Redis expires keys on its own real clock: a virtual 'advance' past task_ttl cannot expire them",
    "MEM-4": "max_tasks is not carried: Redis's own maxmemory bounds memory",
    "RES-2": "history_size is not carried: the stream itself is the resumable history (RDS-2, RDS-3)",
}


#: vectors whose outcome comes from ``history_size`` being smaller than what the stream keeps
#: (a resuming client is told ``expired`` for seqs Redis still has and replays)
HISTORY_BOUND = frozenset({"res2-resume-without-history", "res2-resume-beyond-history-is-told-expired"})


class _Held(RedisConnectionManager):
    """A Redis manager that holds a virtual clock while it waits on Redis."""

    async def __aenter__(self) -> _Held:
        from tasktail.fakes._virtual_time import hold_clock_while_busy

        self._unhold = hold_clock_while_busy(self.quiescent)
        try:
            await super().__aenter__()
        except BaseException:
            self._unhold()
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            self._unhold()


def cannot_run(vector: dict[str, Any]) -> str | None:
    """Why ``vector`` cannot be played against the Redis backend (None: it can)."""
    setup = vector.get("setup", {})
    if setup.get("overflow", "drop-oldest") != "drop-oldest":
        return f"overflow={setup['overflow']!r}: " + NOT_RUN["CAP-4"]
    if setup.get("max_tasks") is not None:
        return NOT_RUN["MEM-4"]
    if vector.get("id") in HISTORY_BOUND:
        return f"history_size={setup.get('history_size')}: " + NOT_RUN["RES-2"]
    if "MEM-3" in vector.get("rules", ()):
        return NOT_RUN["MEM-3"]
    return None


def redis_factory(url: str, **defaults: Any) -> Callable[..., RedisConnectionManager]:
    """A harness factory: ``factory(max_queue_size=..., **config)`` -> an unstarted manager
    on a fresh prefix; ``history_size``, ``overflow`` (drop-oldest only) and ``max_tasks``
    are accepted and not carried (``cannot_run`` keeps the vectors that need them out)."""

    def factory(max_queue_size: int = 1000, *, history_size: Any = None, overflow: Any = None,
                max_tasks: Any = None, **config: Any) -> RedisConnectionManager:
        name = getattr(overflow, "name", overflow)
        if name not in (None, "drop-oldest"):
            raise ValueError(f"overflow={name!r}: the Redis backend drops the oldest only")
        prefix = f"conform-{secrets.token_hex(6)}"
        return _Held(url, max_queue_size=max_queue_size, prefix=prefix, **{**defaults, **config})

    factory.tasktail_capabilities = frozenset({"seq"})  # type: ignore[attr-defined]
    factory.tasktail_cannot_run = cannot_run  # type: ignore[attr-defined]
    factory.tasktail_producers_return = True  # type: ignore[attr-defined]  # send_log appends (RDS-1)
    factory.tasktail_discarded_unknown = True  # type: ignore[attr-defined]  # disconnect returns 0 (RDS-6)
    return factory
