"""Producers for any process: ``RedisProducer`` (async, anyio: asyncio or trio, on coredis)
and ``SyncRedisProducer`` (no event loop: worker processes and threads, on redis-py).

Both validate with the reference's functions before anything reaches Redis (``VAL-1``),
append with the one atomic script (``RDS-1``) and, when Redis does not answer, retry with
exponential backoff and full jitter until ``unavailable_timeout`` seconds have passed, then
raise :class:`RedisUnavailableError` (``RDS-5``). Every retry of one call carries the same
idempotency token, so an append whose reply was lost is not logged twice.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import anyio

from ..manager._message import LogMessage
from . import _scripts
from ._common import (
    Keys,
    RedisUnavailableError,
    Settings,
    shown_url,
    _text,
    append_args,
    backoff_delays,
    choose,
    full_queue,
    result_message,
    validated,
)

__all__ = ["RedisProducer", "SyncRedisProducer", "connect_coredis"]


def require(module: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"the Redis backend needs {module.partition('.')[0]!r}: "
                          "pip install 'tasktail[redis]'") from exc


def connect_coredis(url: str, *, connect_timeout: float) -> Any:
    """A coredis client for ``url`` that never retries on its own (we do, bounded)."""
    coredis = require("coredis")
    NoRetryPolicy = require("coredis.retry").NoRetryPolicy

    return coredis.Redis.from_url(url, decode_responses=True, connect_timeout=connect_timeout,
                                  retry_policy=NoRetryPolicy())


def _connection_errors() -> tuple[type[BaseException], ...]:
    coredis = require("coredis")

    return (coredis.exceptions.ConnectionError, ConnectionError, OSError, TimeoutError)


class RedisProducer:
    """``send_log`` into Redis from async code (``async with RedisProducer(url) as p``).

    ``clock`` gives the timestamp (POSIX seconds), as the manager's does (``WIRE-3``)."""

    def __init__(self, url: str, *, clock: Any = time.time, **settings: Any) -> None:
        self.settings = Settings(**settings)
        self.url = url
        self.clock = clock
        self._client: Any = None
        self._script: Any = None
        self._errors = _connection_errors()
        #: Redis calls of this producer awaiting their reply (the manager's quiescence)
        self.busy = 0

    async def __aenter__(self) -> RedisProducer:
        self._client = connect_coredis(self.url, connect_timeout=self.settings.unavailable_timeout)
        self.busy += 1
        try:
            await self._client.__aenter__()
        except BaseException as exc:  # coredis wraps a refused connection in a group
            raise RedisUnavailableError(f"connecting to {shown_url(self.url)}", 0.0, _first(exc)) from None
        finally:
            self.busy -= 1
        self._script = self._client.register_script(_scripts.APPEND)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        client, self._client = self._client, None
        if client is not None:
            # No scope around it: the client's own task group was entered outside any.
            await client.__aexit__(None, None, None)

    async def send_log(self, task_id: str, level: str, message: str, progress: float | None = None,
                       finished: bool = False) -> LogMessage:
        entry, _epoch, _dropped = await self.append(task_id, level, message, progress, finished)
        return entry

    async def append(self, task_id: object, level: object, message: object, progress: object = None,
                     finished: object = False) -> tuple[LogMessage, str, list[int]]:
        """Log one message; return it, its task's epoch and the seqs the cap dropped."""
        task_id, level, message, progress, finished = validated(task_id, level, message, progress, finished)
        if self._script is None:
            raise RuntimeError("RedisProducer is not open: use 'async with RedisProducer(url) as producer'")
        timestamp = self.clock()
        keys = Keys(self.settings.prefix, task_id)
        token = secrets.token_hex(8)
        decision = state = ""
        while True:
            args = append_args(self.settings, timestamp, level, message, progress, finished, token, decision, state)
            result = await self._call(f"send_log({task_id!r})", self._script, [keys.meta, keys.log, keys.stats],
                                      args)
            if _text(result[0]) != "full":
                return result_message(result, task_id, timestamp, level, message, progress, finished)
            # A policy object of the caller's, the queue full: it chooses on this state (CAP-2).
            state, seq, queue = full_queue(result, task_id)
            decision = choose(self.settings.overflow, queue,
                              LogMessage(task_id, seq, timestamp, level, message, progress, finished))

    async def _call(self, what: str, script: Any, keys: list, args: list) -> Any:
        self.busy += 1
        try:
            return await call_bounded(what, self.settings.unavailable_timeout, self._errors,
                                      lambda: script(keys=keys, args=args))
        finally:
            self.busy -= 1


async def call_bounded(what: str, bound: float, errors: tuple, call: Any) -> Any:
    """Run ``call()`` until it answers; retry connection errors with backoff and jitter;
    after ``bound`` seconds raise RedisUnavailableError (``RDS-5``)."""
    start = time.monotonic()
    delays = backoff_delays()
    last: BaseException | None = None
    while True:
        left = bound - (time.monotonic() - start)
        if left <= 0:
            raise RedisUnavailableError(what, bound, last)
        try:
            with anyio.fail_after(left):
                return await call()
        except TimeoutError as exc:
            raise RedisUnavailableError(what, bound, exc) from None
        except errors as exc:
            last = exc
        await anyio.sleep(min(next(delays), max(0.0, bound - (time.monotonic() - start))))


def _first(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class SyncRedisProducer:
    """``send_log`` into Redis with no event loop (worker processes, threads, Celery...).

    Uses redis-py's blocking client; safe to share between threads (its pool is)."""

    def __init__(self, url: str, *, clock: Any = time.time, **settings: Any) -> None:
        redis = require("redis")

        self.settings = Settings(**settings)
        self.clock = clock
        bound = self.settings.unavailable_timeout
        self._client = redis.Redis.from_url(url, socket_connect_timeout=bound, socket_timeout=bound)
        self._script = self._client.register_script(_scripts.APPEND)  # EVALSHA, EVAL on NOSCRIPT
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SyncRedisProducer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def send_log(self, task_id: str, level: str, message: str, progress: float | None = None,
                 finished: bool = False) -> LogMessage:
        task_id, level, message, progress, finished = validated(task_id, level, message, progress, finished)
        timestamp = self.clock()
        keys = Keys(self.settings.prefix, task_id)
        token = secrets.token_hex(8)
        decision = state = ""
        while True:
            args = append_args(self.settings, timestamp, level, message, progress, finished, token, decision, state)
            result = self._call(task_id, keys, args)
            if _text(result[0]) != "full":
                return result_message(result, task_id, timestamp, level, message, progress, finished)[0]
            state, seq, queue = full_queue(result, task_id)  # a policy object of the caller's (CAP-2)
            decision = choose(self.settings.overflow, queue,
                              LogMessage(task_id, seq, timestamp, level, message, progress, finished))

    def _call(self, task_id: str, keys: Keys, args: list) -> Any:
        bound = self.settings.unavailable_timeout
        start = time.monotonic()
        delays = backoff_delays()
        while True:
            try:
                return self._script(keys=[keys.meta, keys.log, keys.stats], args=args)
            except self._errors as exc:
                left = bound - (time.monotonic() - start)
                if left <= 0:
                    raise RedisUnavailableError(f"send_log({task_id!r})", bound, exc) from None
                time.sleep(min(next(delays), left))  # backoff between retries, not a wait in a test
