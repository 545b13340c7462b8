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

import anyio

from . import _scripts
from ._common import Keys, stats_key
from ._manager import RedisConnectionManager

__all__ = ["redis_factory", "NOT_RUN", "SUITE_CAPABILITIES", "SUITE_NOT_CLAIMED", "SUITE_RULES_NOT_RUN"]

#: rules whose vectors are not played against Redis, and why (SPEC §14 "Not carried")
NOT_RUN: dict[str, str] = {
    "RES-2": "history_size is not carried: the stream itself is the resumable history (RDS-2, RDS-3)",
}


#: what the Redis backend claims before the conformance suite (``check_connection_manager``)
SUITE_CAPABILITIES = frozenset({"seq", "gaps", "close_replaced", "close_codes", "detach", "finish", "validation",
                                "resume", "adapter", "overflow", "expiry", "statistics", "cancellation",
                                "send_timeout"})
#: capabilities not claimed, and why (their rules are UNSUPPORTED, never PASS)
SUITE_NOT_CLAIMED: dict[str, str] = {
    "threads": "threadsafe() is a SyncRedisProducer, which needs no event loop: THR-2's loop-thread and "
               "loop-closed errors are not carried, and its check of a thread waiting on a stalled client when "
               "the loop ends cannot arise (send_log appends and returns) (THR-*)",
    "compact": "queued messages live in Redis (stream entries: the fields and the epoch, no encoded frame); "
               "message_queues is this process's read-ahead, empty for a task with no client here, which is "
               "where MEM-2's check looks (MEM-2)",
}
#: rules run by no check here although their capabilities are claimed, and why
SUITE_RULES_NOT_RUN: dict[str, str] = {
    "RES-2": "history_size is not carried: the stream keeps up to max_queue_size delivered entries, so a resume "
             "is replayed what the reference reports as expired",
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


class _Hosted(_Held):
    """For the conformance suite, which builds managers synchronously (its host enters them,
    SPEC RDS-8) and calls the queries without awaiting them. Async calls wait until the
    manager runs; each query is one blocking round trip to Redis (redis-py, the same
    scripts), so it answers what Redis holds, never a local guess."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ready = anyio.Event()
        self._blocking: Any = None

    async def __aenter__(self) -> _Hosted:
        await super().__aenter__()
        for task_id in list(self._removing):  # disconnects called before it ran
            self._group.start_soon(self._remove, task_id)
        self._ready.set()
        return self

    def disconnect(self, task_id: str) -> int:
        if self._group is None and not self._ready.is_set():
            # Called before the host started it: nothing is attached here yet; the keys
            # are removed as soon as it runs, and calls of the task wait for that.
            from tasktail.manager._message import check_task_id

            self._removing.setdefault(check_task_id(task_id), anyio.Event())
            return 0
        return super().disconnect(task_id)

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            if self._blocking is not None:
                self._blocking.close()

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        await self._ready.wait()
        return await super().connect(*args, **kwargs)

    async def send_log(self, *args: Any, **kwargs: Any) -> Any:
        if not self._ready.is_set():  # (a cancelled caller of a running manager still appends: FAIL-3)
            await self._ready.wait()
        return await super().send_log(*args, **kwargs)

    def _sync_redis(self) -> Any:
        if self._blocking is None:
            import redis

            self._blocking = redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)
        return self._blocking

    def get_connection_status(self, task_id: str) -> bool:  # type: ignore[override]
        from tasktail.manager._message import check_task_id

        task_id = check_task_id(task_id)
        if task_id in self._removing:  # the async query would wait for this removal: no keys
            return False
        keys = Keys(self.settings.prefix, task_id)
        return self.attached(task_id, self._sync_redis().get(keys.owner))

    def get_queued_message_count(self, task_id: str) -> int:  # type: ignore[override]
        from tasktail.manager._message import check_task_id

        task_id = check_task_id(task_id)
        if task_id in self._removing:  # the async query would wait for this removal: no keys
            return 0
        keys = Keys(self.settings.prefix, task_id)
        client = self._clients.get(task_id)
        local = [client.written, client.in_flight] if client is not None and not client.connection.ended else [0, 0]
        return int(self._sync_redis().eval(_scripts.STATUS, 2, keys.meta, keys.log, *local)[3])

    def task_statistics(self, task_id: str) -> Any:  # type: ignore[override]
        from tasktail.manager._message import check_task_id

        task_id = check_task_id(task_id)
        if task_id in self._removing:  # the async query would wait for this removal: unknown
            from tasktail.manager._stats import TaskStatistics

            return TaskStatistics(task_id, known=False)
        keys = Keys(self.settings.prefix, task_id)
        answer = self._sync_redis().eval(_scripts.TASK_STATS, 3, keys.meta, keys.log, keys.owner)
        return self.task_statistics_from(task_id, answer)

    def statistics(self) -> Any:  # type: ignore[override]
        return self.statistics_from(self._sync_redis().hgetall(stats_key(self.settings.prefix)))


def cannot_run(vector: dict[str, Any]) -> str | None:
    """Why ``vector`` cannot be played against the Redis backend (None: it can)."""
    setup = vector.get("setup", {})
    if vector.get("id") in HISTORY_BOUND:
        return f"history_size={setup.get('history_size')}: " + NOT_RUN["RES-2"]
    return None


def redis_factory(url: str, *, hosted: bool = False, **defaults: Any) -> Callable[..., RedisConnectionManager]:
    """A harness factory: ``factory(max_queue_size=..., **config)`` -> an unstarted manager
    on a fresh prefix; ``overflow`` is a policy object or (as the vectors give it) a built-in
    policy's name; ``history_size`` is accepted and not carried (``cannot_run`` keeps the
    vectors that need it out)."""

    def factory(max_queue_size: int = 1000, *, history_size: Any = None, **config: Any) -> RedisConnectionManager:
        if isinstance(config.get("overflow"), str):
            from tasktail.vectors._corpus import with_policy

            config = with_policy(config)
        prefix = f"conform-{secrets.token_hex(6)}"
        return (_Hosted if hosted else _Held)(url, max_queue_size=max_queue_size, prefix=prefix, **{**defaults, **config})

    factory.tasktail_capabilities = SUITE_CAPABILITIES if hosted else frozenset({"seq"})  # type: ignore[attr-defined]
    factory.tasktail_cannot_run = cannot_run  # type: ignore[attr-defined]
    factory.tasktail_producers_return = True  # type: ignore[attr-defined]  # send_log appends (RDS-1)
    factory.tasktail_discarded_unknown = True  # type: ignore[attr-defined]  # disconnect returns 0 (RDS-6)
    return factory
