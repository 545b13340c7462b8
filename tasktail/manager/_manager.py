"""The async ``ConnectionManager``: a thin I/O layer over :class:`ManagerCore`.

Theory of operation:

1. Shared state changes only inside synchronous core calls; between two awaits the layer
   re-reads what it needs, because a ``disconnect`` or a replacement may have happened.
2. Sending happens only under the task's lock, one frame at a time. A send's first step
   runs bare; a send that suspends gets ``send_timeout`` from then on (``ISO-1``: a stalled
   client holds up only its own task), without a timer or cancel scope for the many sends
   that never suspend (module ``_backend``).
3. A send that raises, times out or is cancelled ends the connection and requeues the
   message (``FAIL-1``); the error never reaches the producer (``FAIL-2``).
4. Cancellation is an input (``CANC-1``): ``send_log`` (once its message is queued) and
   ``connect`` (before it accepts) raise at once for a caller that is cancelled, and ``send_log`` yields to the event loop at least once
   every ``CHECKPOINT_EVERY`` calls that did not wait, so a tight producer loop can be
   cancelled and does not starve other tasks. Every cleanup (a close, shielded or not) is
   bounded by ``close_timeout``, whatever ``send_timeout`` is (``CANC-2``).
5. The connected, idle case (``TaskState.idle``: a client, the lock free, nothing queued,
   in flight or owed) is ``send_log``'s own frame, with no further calls when the send does
   not suspend: the core's fast validation, the seq, the message in flight under the
   lock, the send, the delivery counted. ``ManagerCore.settle`` alone writes ``idle``; a
   property test checks it after every operation (tests/manager/test_idle.py). Anything
   else (no client, a queue, a waiter, an odd argument) takes the general path above.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import anyio
import anyio.lowlevel

from ._backend import LoopIO, Resumed, bind_loop, cancel_check
from ._core import Connection, ManagerCore, TaskState
from ._errors import TaskLimitError
from ._lock import TaskLock
from ._message import LEVELS, LogMessage, check_after_seq, check_epoch, check_task_id, log_json, show
from ._policies import OverflowPolicy
from ._stats import CloseCode, ManagerStatistics, TaskStatistics

__all__ = ["ConnectionManager", "CHECKPOINT_EVERY"]

V = TypeVar("V")

#: send_log yields to the event loop once per this many calls that did not wait. A yield
#: costs about 7-9 us (one trip through the loop) and an unhindered send_log 2.5-6 us, so
#: 64 keeps the amortised cost near 0.1 us a call while no other task waits longer than
#: 64 calls' worth of a tight loop (well under a millisecond).
CHECKPOINT_EVERY = 64

_COROUTINE = types.CoroutineType
_LEVELS_GET = LEVELS.get
_NUMBER_TYPES = (int, float)  # exact types: bool, NaN and subclasses take the slow path
_new_message = tuple.__new__  # as the core does: LogMessage's own __new__ costs a frame
_RETURNED = object()  # what next() gives for a send that returned without suspending
_NOT_STEPPED = object()  # for _bounded: the send has not been started (None is a value a
# suspended send may have yielded: asyncio's bare yield, as in sleep(0))

class _TaskView(Mapping[str, V]):
    """A read-only live view of one field of every task, for the seed's attribute names."""

    __slots__ = ("_tasks", "_field")

    def __init__(self, tasks: dict[str, TaskState], field: Callable[[TaskState], Any]) -> None:
        self._tasks, self._field = tasks, field

    def __getitem__(self, task_id: str) -> V:
        state = self._tasks[task_id]
        value = self._field(state)
        if value is None:
            raise KeyError(task_id)
        return value

    def __iter__(self) -> Iterator[str]:
        return (task_id for task_id, state in list(self._tasks.items()) if self._field(state) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


def _check_number(name: str, value: object, *, low: float, integer: bool, allow_none: bool = False,
                  above: bool = False) -> Any:
    """A config number, as an exact int or float: TypeError for a wrong type, ValueError for
    a bad value (``VAL-2``); both name the argument and never fail to format it."""
    if value is None and allow_none:
        return None
    if integer:
        allowed = f"an int >= {low} and <= sys.maxsize"
    else:
        allowed = f"a finite number {'>' if above else '>='} {low}"
    allowed += " or None" if allow_none else ""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name}={show(value)} has type {type(value).__name__}; expected {allowed}")
    if integer:
        number: Any = int.__index__(value)  # an exact int, whatever the subclass says
        bad = number < low or number > sys.maxsize  # a deque or a slice cannot go beyond
    else:
        try:
            number = float.__float__(value) if isinstance(value, float) else float(int.__index__(value))
        except OverflowError:  # an int too large for a float
            raise ValueError(f"{name}={show(value)} is too large; expected {allowed}") from None
        bad = not math.isfinite(number) or number < low or (above and number == low)
    if bad:
        raise ValueError(f"{name}={show(value)} is not allowed; expected {allowed}")
    return number if integer else value if type(value) is int else number


class _Client(Connection):
    """A connection as the I/O layer keeps it: the core's fields, and its own: the event
    loop's answers (set by ``_backend.bind_loop``; the live path's fields first)."""

    __slots__ = ("io", "loop", "probe_task", "probe_state", "socket_closed")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.io: LoopIO | None = None  # what the live path asks of its event loop (shared)
        self.loop: Any = None  # the asyncio loop the socket lives on
        self.probe_task: Any = None  # LoopIO.ready's memo: a weak reference to a task
        self.probe_state: Any = None  # and anyio's state of that task
        self.socket_closed = False  # the close frame has been sent (or tried)


class ConnectionManager:
    """Streams each task's log messages to its WebSocket client, queueing while none is there.

    ``connect``, ``disconnect``, ``send_log``, ``get_connection_status`` and
    ``get_queued_message_count`` keep the seed's names and meanings; SPEC.md is the contract.
    """

    def __init__(
        self,
        *,
        max_queue_size: int = 1000,
        send_timeout: float | None = 10.0,
        overflow: OverflowPolicy | None = None,
        history_size: int = 0,
        task_ttl: float | None = 3600.0,
        max_tasks: int | None = None,
        clock: Callable[[], float] = time.time,
        close_timeout: float = 5.0,
    ) -> None:
        max_queue_size = _check_number("max_queue_size", max_queue_size, low=1, integer=True)
        send_timeout = _check_number("send_timeout", send_timeout, low=0, integer=False, allow_none=True,
                                     above=True)
        history_size = _check_number("history_size", history_size, low=0, integer=True)
        task_ttl = _check_number("task_ttl", task_ttl, low=0, integer=False, allow_none=True)
        max_tasks = _check_number("max_tasks", max_tasks, low=1, integer=True, allow_none=True)
        close_timeout = _check_number("close_timeout", close_timeout, low=0, integer=False, above=True)
        try:
            has_choose_victim = overflow is None or callable(getattr(overflow, "choose_victim", None))
        except Exception:  # a hostile __getattr__
            has_choose_victim = False
        if not has_choose_victim:
            raise TypeError(f"overflow={show(overflow)} has no choose_victim(queue, incoming) method")
        if not callable(clock):
            raise TypeError(f"clock={show(clock)} is not callable; expected a function returning POSIX seconds")
        #: seconds one frame may take to send (and accept); None: unbounded
        self.send_timeout = None if send_timeout is None else float(send_timeout)
        #: seconds a close may take, whatever send_timeout is: it bounds every cleanup
        self.close_timeout = float(close_timeout)
        self._unyielded = 0  # send_log calls since one last waited (CANC-1)
        self._rescues: set[Any] = set()  # asyncio drain tasks of abandoned hand-overs (FAIL-3)
        self._core = ManagerCore(
            max_queue_size=max_queue_size,
            overflow=overflow,
            history_size=history_size,
            task_ttl=task_ttl,
            max_tasks=max_tasks,
            clock=clock,
            lock_factory=TaskLock,
            connection_factory=_Client,
        )
        tasks = self._core.tasks
        #: task_id -> the websocket of its current client (seed name; a read-only view)
        self.active_connections: Mapping[str, Any] = _TaskView(
            tasks, lambda s: s.connection.websocket if s.connection is not None else None)
        #: task_id -> messages waiting for a client, oldest first (seed name; read-only view)
        self.message_queues: Mapping[str, Any] = _TaskView(tasks, lambda s: s.queue)
        #: task_id -> the lock that serialises sends to that task's client (seed name)
        self.connection_locks: Mapping[str, TaskLock] = _TaskView(tasks, lambda s: s.lock)

    @property
    def max_queue_size(self) -> int:
        return self._core.max_queue_size

    @property
    def overflow(self) -> OverflowPolicy:
        return self._core.overflow

    @property
    def history_size(self) -> int:
        return self._core.history_size

    # -- the seed API ----------------------------------------------------------------------

    async def connect(self, websocket: Any, task_id: str, after_seq: int | None = None,
                      epoch: str | None = None) -> Connection:
        """Accept ``websocket``, make it the task's client, send what is owed, then return.

        ``after_seq`` resumes after that seq; ``epoch`` (a ``hello`` frame's, or ``""`` for
        none yet) asks for a ``hello`` frame first and names the incarnation ``after_seq``
        belongs to: if the task has been reset since, the client gets a ``reset`` frame and
        the current incarnation from its start (``RES-4``).
        Returns the :class:`Connection` handle; its ``ended`` flag and ``close_code`` say
        when and why the manager let go of it."""
        task_id = check_task_id(task_id)
        after_seq = check_after_seq(after_seq)
        epoch = check_epoch(epoch)
        await anyio.lowlevel.checkpoint_if_cancelled()  # a cancelled caller accepts nothing (CANC-1)
        # Before accept, so a bad request changes nothing (RES-3); the incarnation after_seq
        # belongs to is fixed now, before the first await (RES-4).
        expected_epoch = self._core.check_resume(task_id, after_seq, epoch)
        with anyio.fail_after(self.send_timeout):  # None: no bound
            await websocket.accept()
        while True:
            try:
                state = self._core.task_for_connect(task_id)
            except TaskLimitError:
                await self._close_socket(websocket, CloseCode.TRY_AGAIN_LATER, "too many tasks")
                raise
            lock = state.lock
            if lock.try_acquire():
                self._core.settle(state)
            else:
                await self._acquire(state)
            try:
                if state.closed:
                    continue  # disconnected while we waited for the lock: attach to a fresh task
                try:
                    connection, replaced = self._core.attach(state, websocket, after_seq, expected_epoch,
                                                             opening=epoch is not None)
                except ValueError:
                    await self._close_socket(websocket, CloseCode.POLICY_VIOLATION, "after_seq is beyond the task")
                    raise
                # A socket lives on one event loop: decide the timeout mechanism once.
                bind_loop(connection)
                try:
                    if replaced is not None:
                        with anyio.CancelScope(shield=True):  # a cleanup, bounded by close_timeout
                            await self.close_connection(replaced)
                        await anyio.lowlevel.checkpoint_if_cancelled()
                    await self._drain(state, connection, state.next_seq - 1)
                except BaseException:
                    with anyio.CancelScope(shield=True):  # a cleanup, bounded by close_timeout
                        await self._abandon_connect(task_id, websocket, connection)
                    raise
                return connection
            finally:
                self._release(state)

    async def _abandon_connect(self, task_id: str, websocket: Any, connection: Connection) -> None:
        """A connect cancelled or failed after attaching: nobody would ever flush or detach
        this socket, so it must not stay attached (FLUSH-1, MEM-3)."""
        self._core.detach(task_id, websocket, CloseCode.GOING_AWAY, "connect cancelled")
        await self.close_connection(connection)

    def disconnect(self, task_id: str) -> int:
        """Forget the task: its client, queue, history and lock. Idempotent.

        Returns how many queued messages were discarded (also counted in statistics). The
        client's socket is closed by whoever awaits the connection (the adapter does)."""
        return self._core.disconnect(task_id)

    async def send_log(
        self,
        task_id: str,
        level: str,
        message: str,
        progress: float | None = None,
        finished: bool = False,
    ) -> LogMessage:
        """Log one message: send it now if the task has a client, otherwise queue it.

        Returns the :class:`LogMessage` with its ``seq``. Never raises because of a client:
        a failed send leaves the message queued for the next one. Every call is a checkpoint
        (``CANC-1``): a cancelled caller gets the cancellation, and its message, already
        logged, stays queued for whoever sends next (``FAIL-3``)."""
        core = self._core
        state = core.tasks.get(task_id) if type(task_id) is str else None
        if (state is not None and state.idle and self._unyielded < CHECKPOINT_EVERY
                and type(level) is str and (canonical_level := _LEVELS_GET(level)) is not None
                and type(message) is str and message.isascii()
                and (progress is None or type(progress) in _NUMBER_TYPES and 0 <= progress <= 100)
                and (finished is False or finished is True)
                # a cancelled caller takes the full path (CANC-1); on trio, its cancel status
                and (before := (connection := state.connection).io.ready(connection))
                and not (lock := state.lock)._locked):
            # The connected, idle path (state.idle: a client, the lock free, nothing queued,
            # in flight or owed), all in this frame. Each check above is a fast path of the
            # core's validation (VAL-1); whatever it does not accept takes the full path.
            # The lock is free (idle says so, except to code that the socket's own send
            # runs while we hold it: that code finds it taken) and is ours from here: the
            # flag flip of TaskLock.try_acquire, inline (see _lock.py).
            lock._locked = True
            #
            # idle stays True while we hold the lock and nothing awaits: only settle writes
            # it, and every change to what it summarises calls settle, which computes False
            # while the lock is held. Before any await below, settle runs (so others see
            # False); after a send that did not wait, a True still there means nothing
            # changed but what this frame did itself.
            self._unyielded += 1
            now = core.clock()
            seq = state.next_seq
            entry = _new_message(LogMessage, (task_id, seq, now, canonical_level, message, progress, finished))
            state.next_seq = seq + 1  # ORD-1: the seq is spent before any await
            if finished:
                state.finished_seq = seq
            state.last_activity = now
            core.logged += 1
            state.in_flight = entry  # outside the queue, where no cap can evict it
            if now >= core._next_sweep:
                core.sweep(now)  # only tasks without a client go, so never this one
            try:
                sending = connection.websocket.send_text(log_json(
                    state.json_prefix, seq, now, canonical_level, message, progress, finished))
                if type(sending) is _COROUTINE:
                    # The first step, bare: a send that returns never raises StopIteration
                    # this way (cheaper than coroutine.send).
                    suspended_on = next(sending.__await__(), _RETURNED)
                    if suspended_on is _RETURNED:
                        suspended = False
                    else:  # it waits: from now on it has send_timeout (ISO-1)
                        core.settle(state)  # (False: the lock is held) before we await
                        await self._bounded(connection, sending, suspended_on, before)
                        suspended = True
                else:
                    core.settle(state)
                    await self._bounded(connection, sending, _NOT_STEPPED, None)
                    suspended = True
            except Exception as exc:  # the client's fault, never the producer's (FAIL-2)
                try:
                    await self._send_failed(state, connection, (entry,), exc)
                finally:
                    self._release(state)
                return entry
            except BaseException:
                try:
                    await self._send_cancelled(state, connection, (entry,))
                finally:
                    self._release(state)
                raise
            # Delivered: what core.sent does for one message in flight, inline.
            state.in_flight = None
            state.delivered += 1
            core.delivered += 1
            connection.cursor = seq  # above the cursor: a new seq to this client
            if state.history is None and not state.dropped:  # (no gap list to prune: none
                state.sent_through = state.forgotten_through = seq  # was ever dropped)
            else:
                core.remember(state, entry)
            if suspended:
                # Others ran while the send waited: a cancelled producer may have left a
                # message with nobody to send it (FAIL-3, FLUSH-2); _drain takes it over.
                try:
                    await self._drain(state, connection, seq)
                finally:
                    self._release(state)
            else:
                lock._locked = False  # TaskLock.release, inline: waiting for it takes an await
                if finished or not state.idle:
                    core.settle(state)  # finished, or someone changed the state meanwhile
            return entry
        state, entry = core.log(task_id, level, message, progress, finished)
        try:
            if self._unyielded < CHECKPOINT_EVERY:
                self._unyielded += 1
                await cancel_check()()
            else:
                self._unyielded = 0
                await anyio.lowlevel.checkpoint()  # let other tasks run (a tight loop would not)
        except BaseException:
            # Nobody may be sending to this client now: if the lock is free, make sure
            # someone drains (a holder takes what a cancelled caller left by itself).
            if state.connection is not None and state.lock.try_acquire():
                self._core.settle(state)
                self._abandon(state)
            raise
        if state.connection is None:
            return entry
        lock = state.lock
        if lock.try_acquire():  # the usual case costs no await
            core.settle(state)
        else:
            await self._acquire(state)
            self._unyielded = 0
        try:
            connection = state.connection  # re-read: replaced or dropped while we waited
            if connection is not None:
                await self._drain(state, connection, entry.seq)
        finally:
            self._release(state)
        return entry

    async def _send(self, connection: Connection, sending: Any) -> bool:
        """Await one send (``sending``, what ``send_text`` returned); True if it had to
        wait. Raises TimeoutError if it waited longer than ``send_timeout``."""
        io = connection.io
        status = io.current_status
        before = status() if status is not None else None
        if type(sending) is not _COROUTINE or (io.scope_type is not None and before is None):
            await self._bounded(connection, sending, _NOT_STEPPED, None)  # bounded whole
            return True
        suspended_on = next(sending.__await__(), _RETURNED)  # the first step, bare
        if suspended_on is _RETURNED:
            return False
        await self._bounded(connection, sending, suspended_on, before)
        return True

    async def _bounded(self, connection: Connection, sending: Any, suspended_on: Any, before: Any) -> None:
        """The rest of a send that suspended on ``suspended_on`` after its first step (or
        all of ``sending`` when that is ``_NOT_STEPPED``: a ``None`` is what a send may
        have yielded, as asyncio's ``sleep(0)`` does), within
        ``send_timeout`` from now; ``before`` is the task's trio cancel status before the
        first step (on asyncio, unused). Raises TimeoutError when the deadline cut it
        short (module _backend)."""
        timeout = self.send_timeout
        rest = sending if suspended_on is _NOT_STEPPED else Resumed(sending, suspended_on)
        io = connection.io
        if timeout is None:
            await rest
            return
        if io.scope_type is None:  # asyncio: a task deadline may begin after the first step
            async with asyncio.timeout(timeout):
                await rest
            return
        scope = io.scope_type(deadline=io.now() + timeout)
        if before is None or io.current_status() is before:
            # Not stepped yet, or the send waits in no scope of its own: ours goes on top.
            with scope:
                await rest
        else:
            # The send waits inside scopes it opened (a fake's abort scope, a move_on): ours
            # goes below them, where it would be had it been entered before the first step.
            io.open_late(scope, before)
            try:
                await rest
            except BaseException as exc:
                if not scope.__exit__(type(exc), exc, exc.__traceback__):
                    raise
            else:
                scope.__exit__(None, None, None)
        if scope.cancelled_caught:
            raise TimeoutError

    async def _send_failed(self, state: TaskState, connection: Connection, frames: Any,
                           exc: Exception) -> None:
        """A send raised or timed out: the client's fault, never the producer's (FAIL-2).
        Requeue, end the connection, close its socket. Hold the lock."""
        timed_out = isinstance(exc, TimeoutError)
        code = CloseCode.SEND_TIMEOUT if timed_out else CloseCode.SEND_FAILED
        reason = "send timed out" if timed_out else f"send failed: {type(exc).__name__}"
        self._core.send_failed(state, connection, frames, code, reason)
        await self.close_connection(connection)

    async def _send_cancelled(self, state: TaskState, connection: Connection, frames: Any) -> None:
        """Cancelled mid-send: the frame may be half written, so this socket can no longer
        be trusted with the stream; the message stays queued. Hold the lock."""
        self._core.send_failed(state, connection, frames, CloseCode.SEND_FAILED, "send cancelled")
        with anyio.CancelScope(shield=True):
            await self.close_connection(connection)

    def _release(self, state: TaskState) -> None:
        """Let go of the task's lock (handing it to the oldest waiter), then settle idle."""
        state.lock.release()
        self._core.settle(state)

    def get_connection_status(self, task_id: str) -> bool:
        state = self._core.tasks.get(check_task_id(task_id))
        return state is not None and state.connection is not None

    def get_queued_message_count(self, task_id: str) -> int:
        state = self._core.tasks.get(check_task_id(task_id))
        if state is None:
            return 0
        return len(state.queue) + (state.in_flight is not None)

    # -- beyond the seed -----------------------------------------------------------------

    def detach(self, task_id: str, websocket: Any, code: int = CloseCode.NORMAL, reason: str = "client left") -> bool:
        """The client behind ``websocket`` has gone: drop that connection, keep the task.

        Does nothing (returns False) when ``websocket`` is no longer the task's client, so a
        replaced endpoint cannot tear down its successor (``REPL-2``)."""
        return self._core.detach(check_task_id(task_id), websocket, code, reason)

    async def close_connection(self, connection: Connection) -> None:
        """Close the socket of an ended connection with its recorded code, once."""
        await self._close_socket(connection.websocket, connection.close_code or CloseCode.NORMAL,
                                 connection.close_reason, connection)

    async def _acquire(self, state: TaskState) -> None:
        """Wait for a contended task lock; on cancellation, never leave work behind (FAIL-3).

        A waiter cancelled in the round the lock is handed to it cannot drain what the
        previous holder left for it: ``_abandon`` passes that on."""
        try:
            await state.lock.acquire(lambda: self._abandon(state))
        finally:
            self._core.settle(state)  # held, or (cancelled) passed on or freed
        try:
            # trio may resume a waiter with the lock before it delivers a cancellation that
            # came in the same round: send nothing then, rather than half a frame.
            await cancel_check()()
        except BaseException:
            self._abandon(state)
            raise

    def _abandon(self, state: TaskState) -> None:
        """A holder that is cancelled before it sent anything lets go of the lock. If no one
        else waits and a connected client is owed messages, a short-lived drain task takes
        the lock over: nobody else may come to send them (FLUSH-2)."""
        lock = state.lock
        connection = state.connection
        if (lock.waiting() or connection is None or connection.ended or state.closed
                or not (state.queue or connection.replay)):
            self._release(state)  # the next waiter drains through its own seq, past ours
            return

        async def drain_abandoned() -> None:
            try:
                if state.connection is connection:
                    await self._drain(state, connection, state.next_seq - 1)
            finally:
                self._release(state)

        if asyncio._get_running_loop() is not None:
            task = asyncio.get_running_loop().create_task(drain_abandoned())
            self._rescues.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(self._rescues.discard)
        else:
            import trio

            trio.lowlevel.spawn_system_task(drain_abandoned)

    def statistics(self) -> ManagerStatistics:
        return self._core.statistics(sum(s.lock.waiting() for s in self._core.tasks.values()))

    def task_statistics(self, task_id: str) -> TaskStatistics:
        task_id = check_task_id(task_id)
        state = self._core.tasks.get(task_id)
        return self._core.task_statistics(task_id, state.lock.waiting() if state is not None else 0)

    def threadsafe(self):  # -> ThreadSafeLogger; imported lazily to keep this module small
        """A logger that worker threads use to call ``send_log`` on this event loop."""
        from ._threads import ThreadSafeLogger

        return ThreadSafeLogger(self)

    # -- draining ------------------------------------------------------------------------

    async def _drain(self, state: TaskState, connection: Connection, through_seq: int) -> None:
        """Send through ``through_seq``, then anything a cancelled waiter left. Hold the lock.

        Each holder of the lock sends up to its own message; a producer cancelled while
        waiting for the lock leaves its message queued with nobody to send it, so the last
        holder (no one is waiting after it) takes what is left (``FAIL-3``, ``FLUSH-2``)."""
        core = self._core
        send_text = connection.websocket.send_text
        while True:
            frames = core.next_frames(state, connection, through_seq)
            if frames is None:
                last_seq = state.next_seq - 1
                if (through_seq == last_seq or not state.queue or state.lock.waiting()
                        or state.connection is not connection):
                    return
                through_seq = last_seq  # take over what a cancelled waiter left behind
                continue
            try:
                for frame in frames:
                    await self._send(connection, send_text(frame.to_json()))
            except Exception as exc:  # the client's fault, never the producer's (FAIL-2)
                await self._send_failed(state, connection, frames, exc)
                return
            except BaseException:
                await self._send_cancelled(state, connection, frames)
                raise
            if core.sent(state, connection, frames):
                return  # nothing left at all: no need to ask again

    async def _close_socket(self, websocket: Any, code: int, reason: str,
                            connection: Connection | None = None) -> None:
        if connection is not None:
            if connection.socket_closed:
                return
            connection.socket_closed = True  # set before the await: one close per socket
        if getattr(getattr(websocket, "application_state", None), "name", "") == "DISCONNECTED":
            return  # Starlette marks a socket whose send raised: closing it again would raise
        try:
            # close_timeout, not send_timeout: this may run shielded, and must end (CANC-2)
            with anyio.fail_after(self.close_timeout):
                await websocket.close(code=int(code), reason=reason)
        except Exception:
            pass  # best effort: the socket is usually broken already when we get here

