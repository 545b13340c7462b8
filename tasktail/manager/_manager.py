"""The async ``ConnectionManager``: a thin I/O layer over :class:`ManagerCore`.

Theory of operation:

1. Shared state changes only inside synchronous core calls; between two awaits the layer
   re-reads what it needs, because a ``disconnect`` or a replacement may have happened.
2. Sending happens only under the task's lock, one frame group at a time, each bounded by
   ``send_timeout`` (``ISO-1``: a stalled client holds up only its own task).
3. A send that raises, times out or is cancelled ends the connection and requeues the
   message (``FAIL-1``); the error never reaches the producer (``FAIL-2``).
4. Cancellation is an input (``CANC-1``): ``send_log`` (once its message is queued) and
   ``connect`` (before it accepts) raise at once for a caller that is cancelled, and ``send_log`` yields to the event loop at least once
   every ``CHECKPOINT_EVERY`` calls that did not wait, so a tight producer loop can be
   cancelled and does not starve other tasks. Every cleanup (a close, shielded or not) is
   bounded by ``close_timeout``, whatever ``send_timeout`` is (``CANC-2``).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
import types
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping
from typing import Any, TypeVar

import anyio
import anyio.lowlevel

from ._core import Connection, ManagerCore, TaskState
from ._errors import TaskLimitError
from ._lock import TaskLock
from ._message import LogMessage, check_after_seq, check_epoch, check_task_id, show
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

try:  # the backend's own check: anyio's generic one looks the backend up on every call,
    # which costs as much as a send_log (measured: 2.1 us against 0.56 us on asyncio)
    from anyio._backends._asyncio import AsyncIOBackend as _AsyncIOBackend

    _asyncio_cancel_check = _AsyncIOBackend.checkpoint_if_cancelled
except (ImportError, AttributeError):  # pragma: no cover - a future anyio
    _asyncio_cancel_check = anyio.lowlevel.checkpoint_if_cancelled
_other_cancel_check: Any = None


def _cancel_check() -> Any:
    """The running backend's ``checkpoint_if_cancelled``: raises if the caller is cancelled."""
    global _other_cancel_check
    if asyncio._get_running_loop() is not None:
        return _asyncio_cancel_check
    if _other_cancel_check is None:
        try:
            import trio

            _other_cancel_check = trio.lowlevel.checkpoint_if_cancelled
        except ImportError:  # pragma: no cover - anyio runs on asyncio or trio
            _other_cancel_check = anyio.lowlevel.checkpoint_if_cancelled
    return _other_cancel_check


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


def _deadline_scope_factory() -> tuple[Any, Callable[[], float]] | None:
    """None on asyncio (``_drain`` uses ``asyncio.timeout`` there); otherwise a cancel scope
    class and its clock: trio's own when on trio (anyio's wrapper costs more per send)."""
    if asyncio._get_running_loop() is not None:
        return None
    try:
        import trio

        trio.lowlevel.current_task()  # raises unless trio is running this task
    except (ImportError, RuntimeError):
        return anyio.CancelScope, anyio.current_time
    return trio.CancelScope, trio.current_time


class _Resumed:
    """The rest of a coroutine whose first step already ran: ``await`` would do the same.

    ``asyncio.timeout`` is a task-level deadline, not a scope on a stack, so it may begin
    after the send's first step even if that step opened a cancel scope of its own."""

    __slots__ = ("_coroutine", "_suspended_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], suspended_on: Any) -> None:
        self._coroutine, self._suspended_on = coroutine, suspended_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, value = self._coroutine, self._suspended_on
        while True:
            try:
                received = yield value  # the send's own trap, handed to the event loop
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # cancellation and the deadline reach the send
                try:
                    value = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coroutine.send(received)
                except StopIteration as stop:
                    return stop.value


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
            if not lock.try_acquire():
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
                connection.scope_factory = _deadline_scope_factory()
                try:
                    if replaced is not None:
                        with anyio.CancelScope(shield=True):  # a cleanup, bounded by close_timeout
                            await self.close_connection(replaced)
                        await anyio.lowlevel.checkpoint_if_cancelled()
                    await self._drain(state, connection, state.next_seq - 1)
                except BaseException:
                    # Cancelled before the caller got the connection: nobody would ever
                    # flush or detach this socket, so it must not stay attached (FLUSH-1, MEM-3).
                    self._core.detach(task_id, websocket, CloseCode.GOING_AWAY, "connect cancelled")
                    with anyio.CancelScope(shield=True):
                        await self.close_connection(connection)
                    raise
                return connection
            finally:
                lock.release()

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
        state, entry = self._core.log(task_id, level, message, progress, finished)
        try:
            if self._unyielded < CHECKPOINT_EVERY:
                self._unyielded += 1
                await _cancel_check()()
            else:
                self._unyielded = 0
                await anyio.lowlevel.checkpoint()  # let other tasks run (a tight loop would not)
        except BaseException:
            # Nobody may be sending to this client now: if the lock is free, make sure
            # someone drains (a holder takes what a cancelled caller left by itself).
            if state.connection is not None and state.lock.try_acquire():
                self._abandon(state)
            raise
        if state.connection is None:
            return entry
        lock = state.lock
        if not lock.try_acquire():  # the usual case costs no await
            await self._acquire(state)
            self._unyielded = 0
        try:
            connection = state.connection  # re-read: replaced or dropped while we waited
            if connection is not None:
                await self._drain(state, connection, entry.seq)
        finally:
            lock.release()
        return entry

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
        await state.lock.acquire(lambda: self._abandon(state))
        try:
            # trio may resume a waiter with the lock before it delivers a cancellation that
            # came in the same round: send nothing then, rather than half a frame.
            await _cancel_check()()
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
            lock.release()  # the next waiter drains through its own seq, past ours
            return

        async def drain_abandoned() -> None:
            try:
                if state.connection is connection:
                    await self._drain(state, connection, state.next_seq - 1)
            finally:
                lock.release()

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
        timeout = self.send_timeout
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
                if timeout is None:
                    for frame in frames:
                        await send_text(frame.to_json())
                elif connection.scope_factory is None:  # asyncio
                    for frame in frames:
                        # Most sends finish without suspending, and a timer costs more
                        # than the rest of a send: run the first step bare, and only a
                        # send that has to wait gets a deadline (see _Resumed).
                        sending = send_text(frame.to_json())
                        if type(sending) is not _COROUTINE:  # a Future, or another awaitable
                            async with asyncio.timeout(timeout):
                                await sending
                            continue
                        try:
                            suspended_on = sending.send(None)
                        except StopIteration:
                            continue
                        async with asyncio.timeout(timeout):
                            await _Resumed(sending, suspended_on)
                else:
                    # trio cannot start a deadline after the send began (its scopes form
                    # a stack), so each send pays for one: the backend's own, cheapest.
                    scope_factory, now = connection.scope_factory
                    with scope_factory(deadline=now() + timeout) as scope:
                        for frame in frames:
                            await send_text(frame.to_json())
                    if scope.cancelled_caught:
                        raise TimeoutError
            except Exception as exc:  # the client's fault, never the producer's (FAIL-2)
                timed_out = isinstance(exc, TimeoutError)
                code = CloseCode.SEND_TIMEOUT if timed_out else CloseCode.SEND_FAILED
                reason = "send timed out" if timed_out else f"send failed: {type(exc).__name__}"
                core.send_failed(state, connection, frames, code, reason)
                await self.close_connection(connection)
                return
            except BaseException:
                # Cancelled mid-send: the frame may be half written, so this socket can no
                # longer be trusted with the stream; the message stays queued.
                core.send_failed(state, connection, frames, CloseCode.SEND_FAILED, "send cancelled")
                with anyio.CancelScope(shield=True):
                    await self.close_connection(connection)
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

