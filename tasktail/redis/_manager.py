"""``RedisConnectionManager``: the seed API over Redis Streams, for several server processes.

Theory of operation (SPEC ``RDS-*``):

1. Redis is the only state that matters. A message is appended by one Lua script
   (``_scripts.APPEND``): next seq, ``XADD <seq>-0``, the overflow policy (drop-oldest: exact
   trim to ``max_queue_size``), TTLs; it returns the seqs the policy dropped. Producers in any process use the same
   script (``RedisProducer``, ``SyncRedisProducer``); ``send_log`` here is one of them.
2. A client is attached by ``CLAIM`` (one script): it creates the incarnation if there is
   none, takes a fencing token and records ``owner = "<fence> <process> <nonce>"`` (the
   nonce: a fence restarts with a new incarnation, a token never repeats). The previous
   owner's process is told through its control stream and closes its socket with ``4000``;
   every later acknowledgement by the old owner fails (fencing), so it cannot record more
   (it may still write the one batch it was sending when the claim moved).
3. ``connect`` flushes what the task holds (``XRANGE`` after the cursor) and only then hands
   the task to this process's one reader, which follows with ``XREAD BLOCK`` from the last
   entry the flush read: nothing can fall between the two (``RDS-3``).
4. One reader per process reads every followed stream and this process's control stream in
   one ``XREAD BLOCK``; a sender task per socket writes (a slow client holds up only
   itself, ``ISO-1``), checks each entry's epoch, tells seq jumps as ``dropped`` gaps and
   acknowledges what it sent (``sent`` in the task's hash, checked against the token).
   With any other policy the sender pulls instead (``_drain``): ``TAKE`` records what it
   sent and marks the next entry in flight, so the policy never evicts it.
5. Every ``claim_ttl / 3`` (and after Redis comes back) the reader starts a renewal of all
   its claims in one pipeline, beside it (it goes straight back to ``XREAD``); a
   claim whose incarnation is gone (Redis restarted without persistence, ``FLUSHALL``,
   expiry) makes the sender re-claim, send a ``reset`` frame (``WIRE-4``) and the new
   incarnation from its start (``RDS-2``). A crashed process's claims expire.
6. Expiry runs on this manager's clock (``RDS-6``): it tracks the tasks it logged to or
   connected; after its own calls, at most every ``task_ttl / 8``, one ``FORGET`` script per
   tracked task forgets those nobody holds and idle for ``task_ttl`` (``act`` in the hash);
   ``max_tasks`` forgets the oldest-tracked task nobody holds, or raises TaskLimitError.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

from ..manager._core import Connection
from ..manager._errors import TaskLimitError
from ..manager._manager import _check_number
from ..manager._message import GapNotice, LogMessage, Opening, check_after_seq, check_epoch, check_task_id
from ..manager._stats import CloseCode, ManagerStatistics, TaskStatistics
from . import _scripts
from ._common import (Keys, RedisUnavailableError, backoff_delays, message_from, new_epoch, shown_url, stats_key,
                      ttl_ms, validated)
from ._producer import RedisProducer, SyncRedisProducer, _connection_errors, _first, call_bounded, connect_coredis, require

__all__ = ["RedisConnectionManager", "open_manager"]


class _RedisConnection(Connection):
    """A connection as this I/O layer keeps it: the core's fields, and whether the close
    frame has been sent (the sans-IO core keeps no I/O fields)."""

    __slots__ = ("socket_closed", "detached")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.socket_closed = False
        self.detached = False  # detach ended it: the caller (the adapter) closes the socket, if anyone


class _Client:
    """One local socket following one task."""

    __slots__ = ("connection", "keys", "token", "fence", "cursor", "last_id", "pending", "wake", "lock",
                 "resync", "following", "written", "in_flight", "newest", "runs", "have")

    def __init__(self, connection: Connection, keys: Keys) -> None:
        self.connection = connection
        self.keys = keys
        self.token = ""
        self.fence = 0
        self.cursor = 0  # highest seq this client was sent or told about
        self.last_id = "0-0"  # where the reader follows from
        self.pending: deque = deque()  # entries the reader read, not yet sent
        self.wake = anyio.Event()
        self.lock = anyio.Lock()  # one writer per socket
        self.resync = False  # the incarnation went away: re-claim and reset (RDS-2)
        self.following = False
        self.written = 0  # highest seq written to the socket (a frame group may be unrecorded yet)
        self.in_flight = 0  # seq of the message being written, 0 when none
        self.newest = 0  # the newest seq of the task this process knows of (the cap's floor)
        self.runs: list = []  # seqs written and not yet acknowledged, as [first, last] runs (GAP-2)
        self.have = 0  # a resume point above what Redis recorded, until acknowledged

    def wrote(self, seq: int) -> None:
        runs = self.runs
        if runs and runs[-1][1] + 1 == seq:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])

    def written_runs(self) -> list:
        """The seqs written and not yet counted, as first, last pairs (ACK's and TAKE's)."""
        return [seq for run in self.runs for seq in run]

    def counted(self) -> None:
        """Redis answered a record: what it carried is counted, or not ours to count any
        more (the next client's)."""
        self.runs.clear()
        self.have = 0

    def poke(self) -> None:
        self.wake.set()


def _through(frame: Any) -> int:
    """The highest seq a written frame gives the client (0: an opening frame gives none)."""
    if isinstance(frame, LogMessage):
        return frame.seq
    return frame.last_seq if isinstance(frame, GapNotice) else 0


class _Unlocked:
    """No lock: the caller holds the client's lock already (``_attach``)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: Any) -> None:
        return None


class _View(Mapping):
    """A read-only live view over this process's clients (the seed's attribute names)."""

    def __init__(self, clients: dict, field: Any) -> None:
        self._clients, self._field = clients, field

    def __getitem__(self, task_id: str) -> Any:
        return self._field(self._clients[task_id])

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._clients))

    def __len__(self) -> int:
        return len(self._clients)


class RedisConnectionManager:
    """The seed's ConnectionManager API with its state in Redis (``async with`` to run it).

    ``connect``, ``send_log``, ``disconnect`` keep the seed's meanings across processes;
    ``get_connection_status`` and ``get_queued_message_count`` ask Redis, so they are
    coroutines here. ``active_connections``, ``message_queues`` and ``connection_locks``
    are this process's: its sockets, what its reader read and not yet sent, its send locks.
    ``overflow`` takes the reference's policy objects (built-ins run inside the append
    script); ``task_ttl`` (None: never) and ``max_tasks`` apply on ``clock`` to the tasks
    this manager logged to or connected (``RDS-6``).
    """

    def __init__(self, url: str, *, max_queue_size: int = 1000, send_timeout: float | None = 10.0,
                 task_ttl: float | None = 3600.0, meta_ttl: float | None = None, claim_ttl: float = 10.0,
                 close_timeout: float = 5.0, unavailable_timeout: float = 5.0, prefix: str = "tasktail",
                 clock: Any = time.time, overflow: Any = None, max_tasks: int | None = None) -> None:
        self.send_timeout = _check_number("send_timeout", send_timeout, low=0, integer=False, allow_none=True,
                                          above=True)
        self.claim_ttl = float(_check_number("claim_ttl", claim_ttl, low=0, integer=False, above=True))
        self.close_timeout = float(_check_number("close_timeout", close_timeout, low=0, integer=False,
                                                 above=True))
        if not callable(clock):
            raise TypeError(f"clock={clock!r} is not callable")
        self.max_tasks = _check_number("max_tasks", max_tasks, low=1, integer=True, allow_none=True)
        self.url = url
        self.process_id = secrets.token_hex(6)
        self._control = f"{prefix}:proc:{self.process_id}"
        self._producer = RedisProducer(url, clock=clock, max_queue_size=max_queue_size, task_ttl=task_ttl,
                                       meta_ttl=meta_ttl, unavailable_timeout=unavailable_timeout, prefix=prefix,
                                       overflow=overflow)
        self.settings = self._producer.settings  # validated once, shared (RDS-7)
        # drop-oldest: the writer sends what the reader read; any other policy: it pulls one
        # entry at a time with TAKE, which marks it in flight (the policies never evict it)
        self._pull = self.settings.policy != "drop-oldest"
        # MEM-3/MEM-4 on this manager's clock: the tasks it appended to or connected, in the
        # order it first did (kept only when task_ttl or max_tasks is set), swept lazily.
        self._tracking = self.settings.task_ttl is not None or self.max_tasks is not None
        self._tracked: dict[str, None] = {}
        self._next_sweep = clock() + self.settings.task_ttl / 8 if self.settings.task_ttl is not None else math.inf
        self._errors = _connection_errors()
        coredis = require("coredis")

        self._redis_errors = (coredis.exceptions.RedisError,)
        self._redis: Any = None
        self._reader_redis: Any = None
        self._group: Any = None
        self._clients: dict[str, _Client] = {}
        self._by_log: dict[str, _Client] = {}
        self._removing: dict[str, anyio.Event] = {}
        self._leaving: set[str] = set()  # claim tokens of ended clients being given up (_forget_client)
        self._attach_locks: dict[str, list] = {}  # task_id -> [lock, users, fence]: _attaching
        # Quiescence (``quiescent()``): calls awaiting Redis, the streams the reader's
        # XREAD waits on, the last seq this process appended per task, wake notices.
        self._busy = 0
        self._renewing = False  # a renewal runs beside the reader (_renew_all)
        self._parked: dict[str, str] | None = None
        self._xread_watch: tuple[Any, float, float] | None = None  # (scope, started, guard): _watchdog
        self._appended: dict[str, tuple[str, int]] = {}
        self._wakes_sent = self._wakes_seen = 0
        self._sync_producer: SyncRedisProducer | None = None
        #: task_id -> the websocket of this process's client of that task
        self.active_connections: Mapping[str, Any] = _View(self._clients, lambda c: c.connection.websocket)
        #: task_id -> entries this process's reader read and its sender has not sent yet
        self.message_queues: Mapping[str, Any] = _View(
            self._clients, lambda c: tuple(message_from(c.connection.task_id, e.identifier, e.field_values)[1]
                                           for e in c.pending))
        #: task_id -> the lock that serialises writes to this process's client of the task
        self.connection_locks: Mapping[str, Any] = _View(self._clients, lambda c: c.lock)

    @property
    def max_queue_size(self) -> int:
        return self.settings.max_queue_size

    @property
    def overflow(self) -> Any:
        """The overflow policy (SPEC CAP-3..5): built-ins run inside the append script."""
        return self.settings.overflow

    # -- lifetime ----------------------------------------------------------------------

    async def __aenter__(self) -> RedisConnectionManager:
        bound = self.settings.unavailable_timeout
        await self._producer.__aenter__()
        self._redis = self._producer._client
        self._reader_redis = connect_coredis(self.url, connect_timeout=bound)
        self._busy += 1
        try:
            await self._reader_redis.__aenter__()
        except BaseException as exc:
            await self._producer.__aexit__(None, None, None)
            raise RedisUnavailableError(f"connecting to {shown_url(self.url)}", 0.0, _first(exc)) from None
        finally:
            self._busy -= 1
        s = self._redis.register_script
        self._claim, self._ack = s(_scripts.CLAIM), s(_scripts.ACK)
        self._renew, self._release = s(_scripts.RENEW), s(_scripts.RELEASE)
        self._remove_script, self._status = s(_scripts.REMOVE), s(_scripts.STATUS)
        self._forget_script = s(_scripts.FORGET)
        self._notify_script = s(_scripts.NOTIFY)
        self._take = s(_scripts.TAKE)
        self._failed_script, self._task_stats = s(_scripts.FAILED), s(_scripts.TASK_STATS)
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._reader)
        self._group.start_soon(self._watchdog)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        group, self._group = self._group, None
        for client in list(self._clients.values()):
            client.connection.end(CloseCode.GOING_AWAY, "server shutting down")
        with anyio.CancelScope(shield=True):
            for client in list(self._clients.values()):
                await self._forget_client(client)
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        await self._reader_redis.__aexit__(None, None, None)
        await self._producer.__aexit__(None, None, None)
        if self._sync_producer is not None:
            self._sync_producer.close()

    def _running(self) -> None:
        if self._group is None:
            raise RuntimeError("RedisConnectionManager is not running: use "
                               "'async with RedisConnectionManager(url) as manager' (or open_manager)")

    def _ms(self, seconds: float) -> int:
        return math.ceil(seconds * 1000)

    async def _call(self, what: str, call: Any) -> Any:
        self._busy += 1
        try:
            return await call_bounded(what, self.settings.unavailable_timeout, self._errors, call)
        finally:
            self._busy -= 1

    def quiescent(self) -> bool:
        """True when nothing this manager started waits on Redis, except its reader's
        ``XREAD BLOCK``, and that read covers every stream its clients follow from where
        they are, past everything this process appended to them and every wake notice it
        sent itself: Redis has nothing more for this process until someone acts. Harnesses
        on virtual time wait for it before they judge or move the clock (SPEC ``RDS-8``)."""
        if self._busy or self._producer.busy:
            return False
        if self._group is None:
            return True
        parked = self._parked
        if parked is None or self._wakes_seen < self._wakes_sent:
            return False
        for task_id, client in self._clients.items():
            if not client.following or client.connection.ended:
                continue
            if parked.get(client.keys.log) != client.last_id:
                return False
            appended = self._appended.get(task_id)
            if (appended is not None and appended[0] == client.connection.epoch
                    and int(client.last_id.partition("-")[0]) < appended[1]):
                return False
        return True

    # -- the seed API --------------------------------------------------------------------

    async def send_log(self, task_id: str, level: str, message: str, progress: float | None = None,
                       finished: bool = False) -> LogMessage:
        """Append one message to the task's stream (one atomic script, ``RDS-1``); the
        process holding its client delivers it. Raises like the reference's ``send_log``,
        plus ``RedisUnavailableError`` after ``unavailable_timeout`` (``RDS-5``).

        A cancelled caller (cancelled on entry or during the round trip) still appends: the
        round trip is shielded and bounded by ``unavailable_timeout``, so whether the seq was
        spent is always known; then the cancellation is raised (``FAIL-3``, ``CANC-1``)."""
        self._running()
        with anyio.CancelScope(shield=True):  # every await here is bounded (unavailable_timeout)
            if type(task_id) is str and task_id in self._removing:
                await self._removing[task_id].wait()  # a disconnect of this process comes first
            if self._tracking:  # a bad call raises first and changes nothing (VAL-1)
                await self._admit(validated(task_id, level, message, progress, finished)[0])
            entry, epoch, dropped = await self._producer.append(task_id, level, message, progress, finished)
            if self._tracking:
                self._tracked.setdefault(entry.task_id)
                await self._sweep_if_due()
            client = self._clients.get(entry.task_id)
            if client is not None and entry.seq not in dropped:  # what the reader must catch up with (quiescent)
                self._appended[entry.task_id] = (epoch, entry.seq)
                if client.connection.epoch == epoch:
                    client.newest = max(client.newest, entry.seq)
        await anyio.lowlevel.checkpoint_if_cancelled()  # queued; now the caller's cancellation
        return entry

    async def connect(self, websocket: Any, task_id: str, after_seq: int | None = None,
                      epoch: str | None = None) -> Connection:
        """Accept ``websocket``, claim the task (replacing any client in any process with
        ``4000``), flush what it holds after the cursor, then follow it live."""
        task_id = check_task_id(task_id)
        after_seq = check_after_seq(after_seq)
        epoch = check_epoch(epoch)
        self._running()
        await anyio.lowlevel.checkpoint_if_cancelled()
        keys = await self._keys_after_removal(task_id)
        seen_epoch = None
        if after_seq is not None:  # RES-3 before accept, for the incarnation the client means
            meta = await self._call(f"connect({task_id!r})", lambda: self._redis.hmget(keys.meta, ["epoch", "last"]))
            current, last = meta[0], int(meta[1] or 0)
            seen_epoch = epoch or current  # the incarnation after_seq belongs to (RDS-2)
            if not (epoch and epoch != current) and after_seq > last:
                raise ValueError(f"after_seq={after_seq} is beyond the last seq of task {task_id!r}; "
                                 f"expected an int in 0..{last}")
        with anyio.fail_after(self.send_timeout):
            await websocket.accept()
        connection = _RedisConnection(websocket, task_id, 0, deque(), "")
        client = _Client(connection, keys)
        if self._tracking:
            try:
                await self._admit(task_id)
            except TaskLimitError:
                connection.end(CloseCode.TRY_AGAIN_LATER, "too many tasks")
                with anyio.CancelScope(shield=True):
                    await self._close_socket(connection)
                raise
        try:
            async with self._attaching(task_id), client.lock:
                await self._attach(client, after_seq, epoch, stale_epoch=None, seen_epoch=seen_epoch)
        except BaseException as exc:
            code = CloseCode.TRY_AGAIN_LATER if isinstance(exc, RedisUnavailableError) else CloseCode.GOING_AWAY
            connection.end(code, "redis unavailable" if code == CloseCode.TRY_AGAIN_LATER else "connect cancelled")
            with anyio.CancelScope(shield=True):
                await self._forget_client(client)
            raise
        self._running()
        if self._tracking:
            self._tracked.setdefault(task_id)
            await self._sweep_if_due()
        self._group.start_soon(self._pump, client)
        return connection

    def disconnect(self, task_id: str) -> int:
        """End the task: its local client is closed with ``4002`` and its keys are removed
        in the background (bounded by ``unavailable_timeout``); a client in another process
        is told to close. Later calls of this process for the task wait for the removal.
        Returns 0: what was queued is counted in Redis, which this sync call cannot ask."""
        task_id = check_task_id(task_id)
        self._running()
        client = self._clients.pop(task_id, None)
        self._appended.pop(task_id, None)
        self._tracked.pop(task_id, None)
        if client is not None:  # this process forgets the task now (DISC-1); Redis next
            self._by_log.pop(client.keys.log, None)
            client.connection.end(CloseCode.SERVER_DISCONNECT, "task disconnected by the server")
            client.poke()
        if task_id not in self._removing:
            self._removing[task_id] = anyio.Event()
            self._group.start_soon(self._remove, task_id)
        return 0

    async def _keys_after_removal(self, task_id: str) -> Keys:
        """The task's keys, once a disconnect of it by this process has finished: that
        disconnect comes first."""
        if task_id in self._removing:
            await self._removing[task_id].wait()
        return Keys(self.settings.prefix, task_id)

    async def get_connection_status(self, task_id: str) -> bool:
        """Whether some process holds a live claim on the task (a client is attached)."""
        task_id = check_task_id(task_id)
        keys = await self._keys_after_removal(task_id)
        owner = await self._call("get_connection_status", lambda: self._redis.get(keys.owner))
        return self.attached(task_id, owner)

    def attached(self, task_id: str, owner: str | None) -> bool:
        """Whether the claim ``owner`` (the task's owner record) is a client's: not one this
        process ended (detached, failed, replaced here) and is still giving up in Redis."""
        if owner is None:
            return False
        client = self._clients.get(task_id)
        if client is not None and client.connection.ended and client.token == owner:
            return False
        return owner not in self._leaving

    async def get_queued_message_count(self, task_id: str) -> int:
        """Messages of the task that no client was sent yet (as Redis has them)."""
        task_id = check_task_id(task_id)
        keys = await self._keys_after_removal(task_id)
        # This process's client may have written frames it has not recorded yet, and may be
        # writing one that the cap already trimmed from the stream (it still counts: CAP-1).
        client = self._clients.get(task_id)
        local = [client.written, client.in_flight] if client is not None and not client.connection.ended else [0, 0]
        result = await self._call("get_queued_message_count",
                                  lambda: self._status(keys=[keys.meta, keys.log], args=local))
        return int(result[3])

    async def task_statistics(self, task_id: str) -> TaskStatistics:
        """The task's counters as Redis has them, across processes (SPEC ``STAT-1``);
        ``lock_waiters`` is this process's."""
        task_id = check_task_id(task_id)
        keys = await self._keys_after_removal(task_id)
        answer = await self._call("task_statistics", lambda: self._task_stats(
            keys=[keys.meta, keys.log, keys.owner], args=[]))
        return self.task_statistics_from(task_id, answer)

    async def statistics(self) -> ManagerStatistics:
        """The prefix's counters as Redis has them, across processes (SPEC ``STAT-1``);
        ``connections`` and ``lock_waiters`` are this process's."""
        counts = await self._call("statistics", lambda: self._redis.hgetall(stats_key(self.settings.prefix)))
        return self.statistics_from(counts)

    def _lock_waiters(self, task_id: str) -> int:
        waiting = 0
        client = self._clients.get(task_id)
        if client is not None:
            waiting += client.lock.statistics().tasks_waiting
        entry = self._attach_locks.get(task_id)
        if entry is not None:
            waiting += entry[0].statistics().tasks_waiting
        return waiting

    def task_statistics_from(self, task_id: str, answer: list) -> TaskStatistics:
        """A ``TASK_STATS`` answer as the snapshot (the hosted suite variant asks synchronously)."""
        if not int(answer[0]):
            return TaskStatistics(task_id, known=False)
        epoch, last, sent, trimmed, dropped, delivered, failed, fin, entries, owned, dq = answer[1:]
        last, sent, trimmed, entries, dq = int(last), int(sent), int(trimmed), int(entries), int(dq)
        # queued: still in the stream, or expired with it and not yet told; not what a policy
        # evicted or rejected above `sent` (dq: holes in the stream, counted dropped)
        queued = last - max(sent, trimmed) - dq
        unsent = min(entries, queued)
        return TaskStatistics(
            task_id, known=True, connected=bool(int(owned)),
            queued=queued,
            dropped=int(dropped), delivered=int(delivered), failed_sends=int(failed), last_seq=last,
            sent_through=sent, history=entries - unsent, gap_ranges=int(trimmed > sent or dq > 0),
            finished=int(fin) > 0, lock_waiters=self._lock_waiters(task_id), epoch=str(epoch))

    def statistics_from(self, counts: Mapping) -> ManagerStatistics:
        """The ``stats`` hash as the snapshot (the hosted suite variant asks synchronously)."""
        def get(name: str) -> int:
            return int(counts.get(name, 0) or 0)

        return ManagerStatistics(
            tasks=get("tasks"), connections=sum(not c.connection.ended for c in self._clients.values()),
            queued=get("queued"), logged=get("logged"), dropped=get("dropped"), delivered=get("delivered"),
            failed_sends=get("failed_sends"), discarded=get("discarded"), expired_tasks=get("expired_tasks"),
            lock_waiters=sum(self._lock_waiters(task_id) for task_id in list(self._clients)))

    def detach(self, task_id: str, websocket: Any, code: int = CloseCode.NORMAL, reason: str = "client left") -> bool:
        """The client behind ``websocket`` left: give up its claim, keep the task."""
        client = self._clients.get(check_task_id(task_id))
        if client is None or client.connection.websocket is not websocket:
            return False
        client.connection.end(code, reason)
        # As the reference: detach does not close the socket. The client left, or the
        # adapter closes it with the recorded code (close_connection, ADAPT-3).
        client.connection.detached = True  # not connected from now on (attached: QRY-1), released next
        client.poke()
        return True

    async def close_connection(self, connection: Connection) -> None:
        await self._close_socket(connection)

    def threadsafe(self) -> SyncRedisProducer:
        """A blocking producer with this manager's settings, for worker threads (and
        ``TaskLogHandler``); it needs no event loop. Do not call it on the loop's thread:
        it would block the loop for a round trip (there, ``await send_log``)."""
        if self._sync_producer is None:
            s = self.settings
            self._sync_producer = SyncRedisProducer(
                self.url, clock=self._producer.clock, max_queue_size=s.max_queue_size, task_ttl=s.task_ttl,
                meta_ttl=s.meta_ttl, unavailable_timeout=s.unavailable_timeout, prefix=s.prefix,
                overflow=s.overflow)
        return self._sync_producer

    # -- expiry on this manager's clock (MEM-3, MEM-4) --------------------------------------

    async def _admit(self, task_id: str) -> None:
        """Before this manager appends to or connects ``task_id``: if the task is new here
        and ``max_tasks`` are tracked, expire stale tasks, then forget the oldest-created one
        without a client, or raise TaskLimitError (nothing changed)."""
        now = self._producer.clock()
        limit = self.max_tasks
        if limit is None or task_id in self._tracked or len(self._tracked) < limit:
            return
        await self._sweep(now)
        for candidate in list(self._tracked):
            if len(self._tracked) < limit:
                return
            if candidate in self._clients and not self._clients[candidate].connection.ended:
                continue  # it has a client here
            if await self._forget_task(candidate, now, "evict") != 0:
                self._tracked.pop(candidate, None)
        if len(self._tracked) >= limit:
            raise TaskLimitError(task_id, limit)

    async def _sweep_if_due(self) -> None:
        """After a call's own activity, as the reference: at most every task_ttl / 8. The
        call itself succeeded: a sweep Redis cannot answer now waits for the next one."""
        now = self._producer.clock()
        if now >= self._next_sweep:
            try:
                await self._sweep(now)
            except (RedisUnavailableError, *self._redis_errors):
                pass

    async def _sweep(self, now: float) -> None:
        """Forget the tracked tasks with no client and no activity for ``task_ttl`` seconds
        of this manager's clock (MEM-3): one script per task, all in one pipeline."""
        ttl = self.settings.task_ttl
        if ttl is None:
            return
        self._next_sweep = now + ttl / 8
        tasks = [t for t in self._tracked if t not in self._clients or self._clients[t].connection.ended]
        if not tasks:
            return

        async def forget_all() -> list:
            async with self._redis.pipeline(transaction=False, raise_on_error=False) as pipe:
                requests = [self._forget_request(task_id, now, "expire", pipe) for task_id in tasks]
            return [await request for request in requests]

        self._busy += 1
        try:
            answers = await call_bounded("expire", self.settings.unavailable_timeout, self._errors, forget_all)
        finally:
            self._busy -= 1
        for task_id, answer in zip(tasks, answers):
            if not isinstance(answer, BaseException) and int(answer) != 0:
                self._tracked.pop(task_id, None)

    def _forget_request(self, task_id: str, now: float, mode: str, pipe: Any = None) -> Any:
        keys = Keys(self.settings.prefix, task_id)
        return self._forget_script(keys=[keys.meta, keys.log, keys.owner, keys.stats],
                                   args=[repr(now), repr(self.settings.task_ttl or 0.0), mode],
                                   **({"client": pipe} if pipe is not None else {}))

    async def _forget_task(self, task_id: str, now: float, mode: str) -> int:
        return int(await self._call("evict", lambda: self._forget_request(task_id, now, mode)))

    # -- attaching -------------------------------------------------------------------------

    async def _attach(self, client: _Client, after_seq: int | None, epoch: str | None,
                      stale_epoch: str | None, seen_epoch: str | None = None) -> None:
        """Claim, flush, then hand over to the reader (hold ``client.lock``)."""
        keys = client.keys
        task_id = client.connection.task_id
        settings = self.settings
        old = self._clients.get(task_id)
        if old is not None and old is not client:
            # Replacing (or following a detached) client of this process (REPL-1): its send
            # in flight (a whole flush included) completes and is recorded first, so the new
            # client starts after it (ORD-3).
            async with old.lock:
                if not old.connection.ended:
                    old.connection.end(CloseCode.REPLACED, "replaced by a newer connection for this task")
                old.poke()
        with anyio.CancelScope(shield=True):  # bounded; a claim made is always known, so it is given up
            claim = await self._call(f"connect({task_id!r})", lambda: self._claim(
                keys=[keys.meta, keys.log, keys.owner, keys.stats],
                args=[self.process_id, self._ms(self.claim_ttl), new_epoch(), ttl_ms(settings.task_ttl),
                      ttl_ms(settings.meta_ttl), secrets.token_hex(4), repr(self._producer.clock())]))
        current, last, sent, forgotten, token, previous, _fin = claim
        last, sent, forgotten = int(last), int(sent), int(forgotten)
        client.newest = last
        client.token, client.fence = token, int(token.partition(" ")[0])
        connection = client.connection
        connection.epoch = current
        opening = None
        if stale_epoch is None and seen_epoch and seen_epoch != current:
            stale_epoch = seen_epoch  # reset between the resume check and the claim
        if stale_epoch is not None or (epoch and epoch != current):
            opening = Opening(task_id, current, last, stale_epoch or epoch)
            cursor = 0
        else:
            if epoch is not None:
                opening = Opening(task_id, current, last, None)
            cursor = sent if after_seq is None else min(after_seq, last)
        # Replace whoever held the task (REPL-1): here, or in another process (RDS-4).
        while True:  # closing a client awaits: check again who holds the task after it
            old = self._clients.get(task_id)
            if old is None or old is client:
                break
            if old.fence > client.fence:
                # A connect that claimed later registered while this one waited (closing the
                # client before): the connect that completes last is the client (REPL-1), so
                # this one claims again, and replaces that one.
                return await self._attach(client, after_seq, epoch, stale_epoch, seen_epoch)
            if old.lock.locked():
                # It registered after this connect looked and is writing: its send in flight
                # completes and is recorded first, then this connect claims afresh (ORD-3).
                return await self._attach(client, after_seq, epoch, stale_epoch, seen_epoch)
            old.connection.end(CloseCode.REPLACED, "replaced by a newer connection for this task")
            old.poke()
            with anyio.CancelScope(shield=True):
                await self._close_socket(old.connection)
            if self._clients.get(task_id) is old:
                break
        self._clients[task_id] = client  # no await since the check above
        if self._attach_locks[task_id][2] > client.fence:
            # Another process claimed after this one and its notice came before this
            # client was registered (the reader runs beside this attach): replaced now,
            # not at its first acknowledgement or renewal (RDS-4).
            client.connection.end(CloseCode.REPLACED, "replaced by a newer connection for this task")
        self._by_log[keys.log] = client
        previous_process = previous.split(" ")[1] if previous else ""
        if previous_process and previous_process != self.process_id:
            await self._notify(previous_process, "replaced", task_id, token)
        # What Redis has recorded; a resume point above it is recorded by the flush's
        # acknowledgement (RES-1: the client has every seq up to after_seq).
        client.cursor = min(cursor, sent)
        if cursor > client.cursor:
            client.written = max(client.written, cursor)
            client.have = cursor  # the client has these: delivered, once recorded (GAP-2)
        if self._pull:
            await self._drain(client, cursor, opening, locked=True)
            client.last_id = f"{client.cursor}-0"
            client.following = True
            await self._notify(self.process_id, "wake", task_id, token)
            return
        frames: list = [opening] if opening is not None else []
        entries = await self._call(f"connect({task_id!r})", lambda: self._redis.xrange(keys.log, f"({cursor}-0", "+"))
        for entry in entries:
            entry_epoch, message = message_from(task_id, entry.identifier, entry.field_values)
            if entry_epoch != current:
                client.resync = True  # the incarnation changed under us: start again
                break
            frames.extend(self._gap(task_id, cursor, message.seq, forgotten))
            frames.append(message)
            cursor = message.seq
        else:
            if cursor < last:  # the history expired with the stream: tell what is gone
                frames.extend(self._gap(task_id, cursor, last + 1, forgotten))
                cursor = last
        await self._send(client, frames, cursor)
        client.last_id = f"{client.cursor}-0"
        client.following = True
        await self._notify(self.process_id, "wake", task_id, token)  # the reader re-reads its streams

    @asynccontextmanager
    async def _attaching(self, task_id: str) -> AsyncIterator[None]:
        """One attach of a task at a time in this process, in arrival order: each claims,
        waits for the client before it (its send in flight is recorded first: ORD-3) and
        flushes before the next claims, so the connect that completes last is the client
        (REPL-1). Freed with its last waiter (MEM-1)."""
        entry = self._attach_locks.get(task_id)
        if entry is None:
            entry = self._attach_locks[task_id] = [anyio.Lock(), 0, 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0 and self._attach_locks.get(task_id) is entry:
                del self._attach_locks[task_id]

    @staticmethod
    def _gap(task_id: str, cursor: int, seq: int, forgotten: int) -> list:
        """Notices for seqs cursor+1..seq-1, absent from the stream: ``expired`` up to
        ``forgotten`` (delivered, then trimmed), ``dropped`` above (trimmed undelivered)."""
        notices = []
        first, last = cursor + 1, seq - 1
        if first > last:
            return notices
        if first <= forgotten:
            notices.append(GapNotice(task_id, first, min(last, forgotten), "expired"))
            first = forgotten + 1
        if first <= last:
            notices.append(GapNotice(task_id, first, last, "dropped"))
        return notices

    # -- sending ---------------------------------------------------------------------------

    async def _write(self, client: _Client, frame: Any) -> bool:
        """Send one frame under ``send_timeout``. A send that raises or times out ends the
        connection (``1011``/``4001``; its message stays for the next client: FAIL-1), is
        counted, and answers False; a cancelled one ends it (``1001``) and the cancellation
        goes on, the caller recording what was written before it (ORD-3)."""
        connection = client.connection
        if isinstance(frame, LogMessage):
            client.in_flight = frame.seq
        try:
            with anyio.fail_after(self.send_timeout):
                await connection.websocket.send_text(frame.to_json())
        except Exception as exc:
            timed_out = isinstance(exc, TimeoutError)
            connection.end(CloseCode.SEND_TIMEOUT if timed_out else CloseCode.SEND_FAILED,
                           "send timed out" if timed_out else f"send failed: {type(exc).__name__}")
            await self._count_failed_send(client)
            return False
        except BaseException:
            if not connection.ended:
                connection.end(CloseCode.GOING_AWAY, "send cancelled")
            raise
        finally:
            client.in_flight = 0
        if isinstance(frame, LogMessage):
            client.wrote(frame.seq)
        return True

    async def _count_failed_send(self, client: _Client) -> None:
        keys = client.keys
        try:
            await self._call("count a failed send", lambda: self._failed_script(
                keys=[keys.meta, keys.stats], args=[client.connection.epoch]))
        except RedisUnavailableError:
            pass  # a count is not worth holding the client up

    async def _send(self, client: _Client, frames: list, through: int) -> None:
        """Write ``frames``, then record that the client has everything through ``through``
        (or, when the batch stopped early, through the last frame it was sent: ORD-3)."""
        connection = client.connection
        done = client.cursor  # the highest seq of a frame this batch wrote
        cap = self.settings.max_queue_size
        held: GapNotice | None = None  # a dropped range told before the next message sent

        async def write(frame: Any) -> bool:
            nonlocal done
            if not await self._write(client, frame):
                return False
            done = max(done, _through(frame))
            return True

        try:
            for frame in frames:
                if connection.ended:
                    break
                if isinstance(frame, LogMessage) and frame.seq <= client.newest - cap:
                    # Trimmed from the stream while this batch waited (the stream holds the
                    # newest `cap` seqs): it gives way here too (CAP-1, CAP-3), and is told.
                    held = GapNotice(frame.task_id, held.first_seq if held else frame.seq, frame.seq, "dropped")
                    through = min(through, done) if frame is frames[-1] else through
                    continue
                if isinstance(frame, GapNotice) and frame.reason == "dropped":
                    if held is not None and held.last_seq + 1 == frame.first_seq:
                        held = GapNotice(frame.task_id, held.first_seq, frame.last_seq, "dropped")
                    else:  # not adjacent: the held range goes first, on its own
                        if held is not None and not await write(held):
                            break
                        held = frame
                    if frame is frames[-1]:
                        through = min(through, done)  # told with the next message
                    continue
                if held is not None:
                    if not await write(held):
                        break
                    held = None
                if not await write(frame):
                    break
                client.written = max(client.written, done)
        except BaseException:
            # Cancelled mid-write (a connect's caller, the manager's exit): what was written
            # is still recorded, shielded, or the next client would get it again (ORD-3).
            with anyio.CancelScope(shield=True):
                await self._record(client, done)
            raise
        if connection.ended:
            through = done  # stopped early: a frame that failed stays for the next client (FAIL-1)
        with anyio.CancelScope(shield=True):  # bounded by unavailable_timeout
            await self._record(client, through)

    async def _drain(self, client: _Client, done: int, opening: Any = None, *, locked: bool = False) -> None:
        """Pull mode (every policy but drop-oldest): record what was sent and take the next
        entry (``TAKE``, one script: the entry is then in flight, outside the queue the
        policies choose from), write the seqs missing before it as gap notices and the
        entry; until nothing is left after what was sent, where a missing tail is told too
        (GAP-1: the queue ran dry). ``done``: the highest seq the client has (a resume point)."""
        connection = client.connection
        task_id = connection.task_id
        keys = client.keys
        settings = self.settings
        ttls = [ttl_ms(settings.task_ttl), ttl_ms(settings.meta_ttl), self._ms(self.claim_ttl)]

        async def write(frame: Any) -> bool:
            nonlocal done
            try:
                if not await self._write(client, frame):
                    return False
            except BaseException:
                with anyio.CancelScope(shield=True):  # what was written before it (ORD-3)
                    await self._record(client, done)
                raise
            done = max(done, _through(frame))
            client.written = max(client.written, done)
            return True

        frames: list = [opening] if opening is not None else []
        while True:
            # The lock is held from one TAKE through writing what it gave to the next TAKE
            # (which records it). It is let go only with everything written recorded, so a
            # client replacing this one (it waits for the lock) starts after it (ORD-3); and
            # it is let go as soon as someone waits for it, after the send in flight.
            async with (_Unlocked() if locked else client.lock):
                while True:
                    for frame in frames:
                        if connection.ended or not await write(frame):
                            break
                    frames = []
                    if connection.ended or (not locked and client.lock.statistics().tasks_waiting):
                        if done > client.cursor:
                            await self._record(client, done)
                        if connection.ended:
                            return
                        break  # the waiter goes first (anyio's Lock is fair), then on
                    written = client.written_runs()
                    answer = await self._call("take", lambda: self._take(
                        keys=[keys.meta, keys.owner, keys.log, keys.stats],
                        args=[client.token, connection.epoch, done, *ttls, client.have, *written]))
                    client.counted()
                    status = int(answer[0])
                    if status == 0:
                        connection.end(CloseCode.REPLACED, "replaced by a newer connection for this task")
                        return
                    if status == -1:
                        client.resync = True
                        return
                    client.cursor = max(client.cursor, done)  # recorded by TAKE
                    last, forgotten = int(answer[1]), int(answer[2])
                    client.newest = max(client.newest, last)
                    if status == 1:
                        entry_epoch, message = message_from(task_id, answer[3], answer[4])
                        if entry_epoch != connection.epoch:
                            client.resync = True
                            return
                        frames = [*self._gap(task_id, done, message.seq, forgotten), message]
                    elif last > done:  # nothing kept after done: the rest was dropped (or expired)
                        frames = self._gap(task_id, done, last + 1, forgotten)
                    else:
                        return  # sent everything, all recorded
            await anyio.lowlevel.checkpoint()

    async def _record(self, client: _Client, through: int) -> None:
        """Acknowledge in Redis that the client has everything through ``through`` (and
        count what it was written, GAP-2); a fenced-off owner is closed with ``4000``."""
        if through <= client.cursor:
            return  # only an opening frame: nothing to record
        connection = client.connection
        keys = client.keys
        client.cursor = through
        written = client.written_runs()
        try:
            answer = await self._call("acknowledge", lambda: self._ack(
                keys=[keys.meta, keys.owner, keys.log, keys.stats],
                args=[client.token, connection.epoch, through, ttl_ms(self.settings.task_ttl),
                      ttl_ms(self.settings.meta_ttl), self._ms(self.claim_ttl), client.have, *written]))
        except RedisUnavailableError:
            return  # the next acknowledgement carries it; the client has the frames
        client.counted()
        if int(answer) == 0:
            connection.end(CloseCode.REPLACED, "replaced by a newer connection for this task")
        elif int(answer) == -1:
            client.resync = True

    async def _pump(self, client: _Client) -> None:
        """This socket's writer: what the reader read, in seq order, with gaps told."""
        connection = client.connection
        task_id = connection.task_id
        try:
            while not connection.ended:
                if client.resync:
                    async with self._attaching(task_id), client.lock:
                        client.following = False
                        client.pending.clear()
                        client.resync = False
                        stale = connection.epoch
                        removed = await self._call("resync", lambda: self._redis.get(client.keys.removed))
                        if removed is not None and removed == stale:
                            # disconnect ended this incarnation (in any process); its notice
                            # may not have arrived yet: 4002, never a reset (RDS-6)
                            connection.end(CloseCode.SERVER_DISCONNECT, "task disconnected by the server")
                            continue
                        await self._attach(client, None, None, stale_epoch=stale)
                    continue
                if not client.pending:
                    client.wake = anyio.Event()
                    if client.pending or connection.ended or client.resync:
                        continue
                    await client.wake.wait()
                    continue
                if self._pull:  # what the reader read only says there is more: take it from Redis
                    client.pending.clear()
                    await self._drain(client, client.cursor)
                    continue
                frames: list = []
                cursor = client.cursor
                async with client.lock:
                    while client.pending:
                        entry = client.pending.popleft()
                        entry_epoch, message = message_from(task_id, entry.identifier, entry.field_values)
                        if entry_epoch != connection.epoch:
                            client.resync = True
                            break
                        if message.seq <= cursor:
                            continue
                        # Live, a jump is what the cap trimmed before anyone sent it.
                        frames.extend(self._gap(task_id, cursor, message.seq, 0))
                        frames.append(message)
                        cursor = message.seq
                    if frames:
                        await self._send(client, frames, cursor)
        except Exception as exc:  # Redis gone for longer than the bound: let the client retry
            if not connection.ended:
                connection.end(CloseCode.TRY_AGAIN_LATER if isinstance(exc, RedisUnavailableError)
                               else CloseCode.SEND_FAILED, f"{type(exc).__name__}")
        finally:
            with anyio.CancelScope(shield=True):
                await self._forget_client(client)

    async def _forget_client(self, client: _Client) -> None:
        """Unregister, give the claim up (if still ours), close the socket once."""
        task_id = client.connection.task_id
        if self._clients.get(task_id) is client:
            del self._clients[task_id]
            self._by_log.pop(client.keys.log, None)
            self._appended.pop(task_id, None)
        client.following = False
        if client.token and client.connection.close_code != CloseCode.REPLACED:
            self._leaving.add(client.token)  # no client, for the queries, from now on (REPL-2)
            with anyio.move_on_after(self.close_timeout):
                self._busy += 1
                try:
                    await self._release(keys=[client.keys.owner, client.keys.meta, client.keys.log, client.keys.stats],
                                        args=[client.token, self.settings.policy, self.settings.max_queue_size,
                                              repr(self._producer.clock())])
                except self._errors:
                    pass  # the claim expires by itself (claim_ttl)
                finally:
                    self._busy -= 1
                    self._leaving.discard(client.token)
        if not client.connection.detached:
            await self._close_socket(client.connection)

    async def _close_socket(self, connection: Connection) -> None:
        if connection.socket_closed:
            return
        connection.socket_closed = True
        websocket = connection.websocket
        if getattr(getattr(websocket, "application_state", None), "name", "") == "DISCONNECTED":
            return
        try:
            with anyio.fail_after(self.close_timeout):
                await websocket.close(code=int(connection.close_code or CloseCode.NORMAL),
                                      reason=connection.close_reason)
        except Exception:
            pass  # best effort: the socket is usually broken already

    # -- removal and control ---------------------------------------------------------------

    async def _remove(self, task_id: str) -> None:
        keys = Keys(self.settings.prefix, task_id)
        try:
            owner, _queued = await self._call(f"disconnect({task_id!r})", lambda: self._remove_script(
                keys=[keys.meta, keys.log, keys.owner, keys.removed, keys.stats],
                args=[ttl_ms(self.settings.meta_ttl) or self._ms(max(self.claim_ttl * 10, 60.0))]))
            process = owner.split(" ")[1] if owner else ""
            if process and process != self.process_id:
                await self._notify(process, "removed", task_id, owner)
        except RedisUnavailableError:
            pass  # the keys expire by their TTLs; the epoch check tells clients (RDS-6)
        finally:
            self._removing.pop(task_id).set()

    async def _notify(self, process: str, op: str, task_id: str, token: str) -> None:
        key = f"{self.settings.prefix}:proc:{process}"
        try:
            await self._call("notify", lambda: self._notify_script(
                keys=[key], args=[op, task_id, token, self._ms(max(self.claim_ttl * 10, 60.0))]))
            if op == "wake":
                self._wakes_sent += 1
        except RedisUnavailableError:
            pass  # fencing still holds: the old owner's next acknowledgement fails

    def _control_message(self, fields: dict) -> None:
        task_id = fields.get("task", "")
        client = self._clients.get(task_id)
        op = fields.get("op")
        if op == "wake":
            self._wakes_seen += 1
        if op == "replaced" and task_id in self._attach_locks:  # kept for the attach in progress
            entry = self._attach_locks[task_id]
            entry[2] = max(entry[2], int(fields.get("token", "0 ").partition(" ")[0] or 0))
        if client is None or op == "wake":
            return
        if op == "replaced":
            if int(fields.get("token", "0 ").partition(" ")[0] or 0) > client.fence:
                client.connection.end(CloseCode.REPLACED, "replaced by a newer connection for this task")
                client.poke()
        elif op == "removed" and fields.get("token") == client.token:
            client.connection.end(CloseCode.SERVER_DISCONNECT, "task disconnected by the server")
            client.poke()

    # -- the one reader ----------------------------------------------------------------------

    async def _reader(self) -> None:
        """One ``XREAD BLOCK`` for every followed stream and the control stream (RDS-3)."""
        control_last = "0-0"
        delays: Iterator[float] | None = None
        renew_every = self.claim_ttl / 3
        next_renew = time.monotonic() + renew_every
        while True:
            streams = {self._control: control_last}
            for client in list(self._clients.values()):
                if client.following and not client.connection.ended:
                    streams[client.keys.log] = client.last_id
            block = max(1, self._ms(next_renew - time.monotonic()))
            guard = block / 1000 + self.settings.unavailable_timeout
            try:
                self._parked = streams
                try:
                    with anyio.CancelScope() as scope:
                        self._xread_watch = (scope, time.monotonic(), guard)
                        result = await self._reader_redis.xread(streams, count=self.settings.max_queue_size,
                                                                block=block)
                finally:
                    self._parked = self._xread_watch = None
                if scope.cancelled_caught:
                    raise TimeoutError(f"XREAD got no answer within {guard:.1f} s")
                if delays is not None:  # Redis is back: it may have lost everything
                    delays = None
                    next_renew = 0
            except (TimeoutError, *self._errors, *self._redis_errors):
                # Down, restarting (LOADING) or answering errors: back off and try again;
                # the reader ends only with the manager.
                delays = delays or backoff_delays(0.05, 1.0)
                await anyio.sleep(next(delays))
                continue
            for key, entries in (result or {}).items():
                if key == self._control:
                    control_last = entries[-1].identifier
                    for entry in entries:
                        self._control_message(entry.field_values)
                    continue
                client = self._by_log.get(key)
                if client is None or not client.following or client.last_id != streams[key]:
                    continue  # re-attached since: it reads from where its flush ended
                client.last_id = entries[-1].identifier
                client.newest = max(client.newest, int(client.last_id.partition("-")[0]))
                pending = client.pending
                pending.extend(entries)
                # A client slower than its producers holds at most max_queue_size entries
                # here (CAP-1); the writer tells what gave way as a dropped gap.
                while len(pending) > self.settings.max_queue_size:
                    pending.popleft()
                client.poke()
            if time.monotonic() >= next_renew:
                next_renew = time.monotonic() + renew_every
                if not self._renewing and self._group is not None:
                    # In the background: the reader goes straight back to XREAD, so
                    # nothing waits for the renewal to be delivered.
                    self._renewing = True
                    self._busy += 1  # quiescent() is False until the renewal has answered
                    self._group.start_soon(self._renew_all)

    async def _watchdog(self) -> None:
        """Cancels the reader's XREAD once it has waited ``block + unavailable_timeout`` of
        real time (a Redis that stopped answering without closing the socket). Real time,
        not the loop's: a loop on virtual time that jumps while the XREAD waits for a real
        reply must not cancel it (the reader would reconnect at every jump)."""
        every = min(1.0, self.settings.unavailable_timeout)
        while True:
            await anyio.sleep(every)
            watched = self._xread_watch
            if watched is not None and time.monotonic() - watched[1] >= watched[2]:
                watched[0].cancel()

    async def _renew_all(self) -> None:
        """Keep this process's claims; find incarnations Redis lost (RDS-2, RDS-4). One
        pipeline for all the claims (one round trip, not one per task), started by the
        reader and run beside it (holds one ``_busy`` count, given back here)."""
        try:
            clients = [(client, client.token, client.connection.epoch) for client in list(self._clients.values())
                       if client.following and not client.connection.ended]
            if not clients:
                return
            ttl = self._ms(self.claim_ttl)

            async def renew() -> list:
                async with self._redis.pipeline(transaction=False, raise_on_error=False) as pipe:
                    requests = [self._renew(keys=[client.keys.meta, client.keys.owner], args=[token, epoch, ttl],
                                            client=pipe) for client, token, epoch in clients]
                return [await request for request in requests]

            try:
                answers = await call_bounded("renew", self.settings.unavailable_timeout, self._errors, renew)
            except (RedisUnavailableError, *self._redis_errors):
                return  # tried again at the next renewal
            for (client, token, epoch), answer in zip(clients, answers):
                if isinstance(answer, BaseException) or client.token != token or client.connection.epoch != epoch:
                    continue  # an error for this one, or re-attached since: the next renewal
                if client.connection.ended:
                    continue
                answer = int(answer)
                if answer == 0:
                    client.connection.end(CloseCode.REPLACED, "replaced by a newer connection for this task")
                    client.poke()
                elif answer == -1:
                    client.resync = True
                    client.poke()
        finally:
            self._renewing = False
            self._busy -= 1


@asynccontextmanager
async def open_manager(redis_url: str | None = None, **config: Any) -> AsyncIterator[Any]:
    """The manager the configuration asks for: in-memory (default) or Redis (``redis_url``)."""
    if redis_url is None:
        from ..manager import ConnectionManager

        yield ConnectionManager(**config)
        return
    async with RedisConnectionManager(redis_url, **config) as manager:
        yield manager
