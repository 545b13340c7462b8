"""The synchronous, I/O-free bookkeeping of the manager (sans-IO, like h11).

Theory of operation:

1. Every message goes through its task's queue, connected or not. ``log`` validates, spends
   the next ``seq`` and appends, all before any await (``ORD-1``). Whoever holds the task's
   lock drains the queue in ``seq`` order, so flush and live sends cannot interleave
   (``ORD-2``, ``FLUSH-1``).
2. Draining is a loop of ``next_frames`` (pop the front message into ``in_flight``), the
   send, then ``sent`` or ``send_failed``. A failed send puts the message back at the front
   and ends the connection (``FAIL-1``). ``in_flight`` is outside the queue, so the cap can
   never evict a message while it is being written.
3. A full queue asks the overflow policy for a victim. Evicted seqs become *gap ranges*;
   a connection announces each range above its ``cursor`` before the next message, or when
   its queue runs dry (``GAP-1``). ``sent_through`` is the highest seq whose fate some
   client has been told; a new connection starts there, a resuming one at ``after_seq``.
4. ``history`` keeps the last ``history_size`` delivered messages; what falls out of it, or
   is sent with no history, moves ``forgotten_through`` up, and a resume below it is told
   ``expired`` (``RES-2``). Gap ranges at or below it are pruned, so every list is bounded.
5. ``disconnect`` and TTL expiry remove a task at once and mark it ``closed``; code that
   wakes up later holding the old state sees ``closed`` and stops (``DISC-2``). A task id
   used again starts a new *incarnation* with its own ``epoch``; a resume point names the
   epoch it belongs to, and one from another incarnation is never applied (``RES-4``).
6. ``log`` asks the overflow policy before it changes anything, so a policy that breaks its
   contract (``PolicyError``) costs no seq and leaves every counter as it was (``CAP-2``).
7. This class is the seam for other state stores (Redis Streams for several processes) and
   for ports to other frameworks: the async layer calls only ``log``, ``check_resume``,
   ``task_for_connect``, ``attach``, ``detach``, ``disconnect``, ``next_frames``, ``sent``,
   ``send_failed``, ``put_back``, ``remember``, ``settle``, ``sweep`` and the statistics,
   and reads only ``tasks`` and a ``TaskState``'s ``connection``, ``queue``, ``in_flight``,
   ``next_seq``, ``closed``, ``epoch``, ``lock``, ``idle`` and ``json_prefix``. Its idle
   path (``ConnectionManager.send_log``) also does what ``log`` and ``sent`` do for one
   message, inline, on a task whose ``idle`` summary is True.
8. ``idle`` summarises, per task, "a new message may go straight to the socket"; only
   ``settle`` writes it, and every method here that changes what it covers calls
   ``settle``. The core knows no I/O: the lock comes from ``lock_factory`` (the core only
   asks ``locked()``), connections from ``connection_factory`` (the I/O layer's subclass
   carries its own fields).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from ._errors import PolicyError, TaskFinishedError, TaskLimitError
from ._message import (
    LEVELS,
    GapNotice,
    LogMessage,
    Opening,
    log_prefix,
    check_finished,
    check_level,
    check_message,
    check_progress,
    check_task_id,
    show,
)
from ._policies import DropOldest, OverflowPolicy, checked_victim
from ._stats import CloseCode, ManagerStatistics, TaskStatistics

__all__ = ["Connection", "TaskState", "ManagerCore"]

_LEVELS_GET = LEVELS.get
_NUMBER_TYPES = (int, float)  # exact types: bool, NaN and subclasses take the slow path
_new_message = tuple.__new__  # LogMessage's own __new__ adds a Python frame per message


class Connection:
    """One client socket attached to one task, as the core sees it."""

    # (the live path's fields first: fewer cache lines touched per message)
    __slots__ = ("websocket", "cursor", "ended", "replay", "task_id", "epoch", "close_code", "close_reason",
                 "on_end")

    def __init__(self, websocket: Any, task_id: str, cursor: int, replay: deque, epoch: str = "") -> None:
        self.websocket = websocket
        self.task_id = task_id
        self.epoch = epoch  # the task incarnation this client follows (RES-4)
        self.cursor = cursor  # highest seq this client was sent or told about
        self.replay = replay  # history and notices owed to a resuming client, in seq order
        self.ended = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.on_end: Callable[[], None] | None = None  # set by the I/O layer to wake waiters

    def end(self, code: int, reason: str) -> None:
        if not self.ended:
            self.ended, self.close_code, self.close_reason = True, code, reason
            if self.on_end is not None:
                self.on_end()

    def __repr__(self) -> str:
        state = f"ended {self.close_code}" if self.ended else "open"
        return f"<Connection task_id={self.task_id!r} cursor={self.cursor} {state}>"


class TaskState:
    # The fields send_log's idle path reads or writes come first, so that a message touches
    # as few of the task's cache lines as it can (it matters at thousands of tasks).
    __slots__ = (
        "idle", "lock", "connection", "next_seq", "in_flight", "json_prefix", "finished_seq",
        "last_activity", "delivered", "history", "dropped", "sent_through", "forgotten_through",
        "task_id", "queue", "gaps", "failed_sends", "closed", "epoch",
    )

    def __init__(self, task_id: str, now: float, history_size: int, lock: Any, epoch: str = "") -> None:
        self.task_id = task_id
        self.epoch = epoch
        self.next_seq = 1
        self.queue: deque[LogMessage] = deque()
        self.history: deque[LogMessage] | None = deque(maxlen=history_size) if history_size else None
        self.gaps: list[list[int]] = []  # dropped [first, last] ranges, sorted, disjoint
        self.in_flight: LogMessage | None = None
        self.sent_through = 0
        self.forgotten_through = 0
        self.connection: Connection | None = None
        self.finished_seq = 0
        self.dropped = self.delivered = self.failed_sends = 0
        self.last_activity = now
        self.closed = False
        self.lock = lock
        #: True when a new message may go straight to the socket: a client is attached and
        #: open, the lock is free, the queue is empty, nothing is in flight and nothing is
        #: owed (replay, untold gaps); the task is neither closed nor finished. Only
        #: ManagerCore.settle sets it True (see there); it is a summary, never a source.
        self.idle = False
        self.json_prefix = log_prefix(task_id)  # the encoded task id, once per task (WIRE-1)


class ManagerCore:
    """All per-task state and accounting; every method is synchronous."""

    __slots__ = ("max_queue_size", "overflow", "history_size", "task_ttl", "max_tasks", "clock",
                 "lock_factory", "tasks", "logged", "dropped", "delivered", "failed_sends",
                 "discarded", "expired_tasks", "_next_sweep", "epoch_prefix", "incarnations",
                 "connection_factory")

    def __init__(
        self,
        *,
        max_queue_size: int,
        overflow: OverflowPolicy | None,
        history_size: int,
        task_ttl: float | None,
        max_tasks: int | None,
        clock: Callable[[], float],
        lock_factory: Callable[[], Any] = lambda: None,
        connection_factory: Callable[..., Connection] = Connection,
    ) -> None:
        self.max_queue_size = max_queue_size
        self.overflow = DropOldest() if overflow is None else overflow
        self.history_size = history_size
        self.task_ttl = task_ttl
        self.max_tasks = max_tasks
        self.clock = clock
        self.lock_factory = lock_factory
        self.connection_factory = connection_factory  # the I/O layer's subclass, with its fields
        self.tasks: dict[str, TaskState] = {}
        self.logged = self.dropped = self.delivered = self.failed_sends = self.discarded = self.expired_tasks = 0
        self._next_sweep = clock() + task_ttl / 8 if task_ttl is not None else float("inf")
        # An epoch is "<prefix>.<n>": n counts this manager's incarnations, so it is unique
        # within the manager at the cost of one format per new task; the random prefix makes
        # epochs of a restarted process (or another manager) differ too, so a client that
        # resumes against a new server is told instead of being given another run's seqs.
        self.epoch_prefix = secrets.token_hex(4)
        self.incarnations = 0

    # -- the idle summary ------------------------------------------------------------------

    def settle(self, state: TaskState) -> None:
        """The one place that computes ``state.idle`` (its single owner).

        No other code writes it. Every core method that changes what the summary covers
        calls it before returning; the I/O layer calls it after it takes or lets go of the
        task's lock (the lock is the I/O layer's: the core only asks ``locked()``), and
        before any await while it holds the lock. The I/O layer's idle path is the one
        exception it documents: it takes the lock and, if its send finishes without
        waiting, lets go of it again with no await in between, and calls this only if the
        message was the last (finished) or someone else settled meanwhile. A property test
        (tests/manager/test_idle.py) checks the flag against the state after every
        operation."""
        connection = state.connection
        lock = state.lock
        state.idle = (connection is not None and not connection.ended and not state.closed
                      and not state.finished_seq and state.in_flight is None and not state.queue
                      and not connection.replay
                      and not (state.gaps and state.gaps[-1][1] > connection.cursor)
                      and (lock is None or not lock.locked()))

    # -- producing -------------------------------------------------------------------------

    def log(self, task_id: object, level: object, message: object,
            progress: object = None, finished: object = False) -> tuple[TaskState, LogMessage]:
        # Each check's fast path is inlined: this runs once per message (VAL-1 still holds,
        # the full check_* functions decide every case the fast path does not accept).
        if type(task_id) is not str or not task_id or not task_id.isascii():
            task_id = check_task_id(task_id)
        canonical_level = _LEVELS_GET(level) if type(level) is str else None
        level = check_level(level) if canonical_level is None else canonical_level
        if type(message) is not str or not message.isascii():
            message = check_message(message)
        if progress is not None and (type(progress) not in _NUMBER_TYPES or not 0 <= progress <= 100):
            progress = check_progress(progress)
        if finished is not False and finished is not True:
            finished = check_finished(finished)
        now = self.clock()
        state = self.tasks.get(task_id)
        if state is None:
            state = self._new_task(task_id, now)
        elif state.finished_seq:
            raise TaskFinishedError(task_id, state.finished_seq)
        seq = state.next_seq
        entry = _new_message(LogMessage, (task_id, seq, now, level, message, progress, finished))
        queue = state.queue
        if len(queue) >= self.max_queue_size:
            # Asked before anything changes: a PolicyError spends no seq (CAP-2, GAP-2).
            # (A new task's queue is empty, so no task was created for nothing either.)
            self._place(state, entry, self._choose_victim(queue, entry))
        else:
            queue.append(entry)
        state.next_seq = seq + 1
        if finished:
            state.finished_seq = seq
        state.last_activity = now
        self.logged += 1
        if state.idle:
            self.settle(state)  # the queue is no longer empty (a False stays False)
        if now >= self._next_sweep:
            self.sweep(now)
        return state, entry

    def _choose_victim(self, queue: deque, incoming: LogMessage) -> int | None:
        """Ask the policy which message gives way; PolicyError, changing nothing, if its
        answer breaks the contract (``checked_victim``)."""
        return checked_victim(self.overflow, queue, incoming)

    def _place(self, state: TaskState, incoming: LogMessage, victim: int | None) -> None:
        """Apply a checked choice: drop ``incoming`` (None) or evict ``queue[victim]``."""
        if victim is None:
            self._record_drop(state, incoming.seq)
            return
        queue = state.queue
        evicted = queue[victim]
        del queue[victim]
        queue.append(incoming)
        self._record_drop(state, evicted.seq)

    def _record_drop(self, state: TaskState, seq: int) -> None:
        state.dropped += 1
        self.dropped += 1
        gaps = state.gaps
        # Keep ranges sorted and merged; drops are usually at or next to the newest range.
        index = len(gaps)
        while index and gaps[index - 1][0] > seq:
            index -= 1
        if index and gaps[index - 1][1] == seq - 1:
            gaps[index - 1][1] = seq
            if index < len(gaps) and gaps[index][0] == seq + 1:
                gaps[index - 1][1] = gaps[index][1]
                del gaps[index]
        elif index < len(gaps) and gaps[index][0] == seq + 1:
            gaps[index][0] = seq
        else:
            gaps.insert(index, [seq, seq])

    # -- connections ---------------------------------------------------------------------

    def check_resume(self, task_id: str, after_seq: int | None, epoch: str | None = None) -> str | None:
        """Check a resume point and return the epoch it belongs to, for ``attach``.

        Raises if ``after_seq`` names a message the incarnation it belongs to never logged
        (``RES-3``). ``epoch`` is what the client sent: ``None`` or ``""`` mean the
        incarnation there is now (``None`` when there is none: seq 0 belongs to any), a
        non-empty one is returned as it is, stale or not (``RES-4``)."""
        state = self.tasks.get(task_id)
        if epoch and (state is None or state.epoch != epoch):
            return epoch  # another incarnation's seqs: attach starts the client from the start
        if after_seq is not None:
            last = state.next_seq - 1 if state is not None else 0
            if after_seq > last:
                raise ValueError(
                    f"after_seq={show(after_seq)} is beyond the last seq of task {task_id!r}; "
                    f"expected an int in 0..{last}"
                )
        if epoch or after_seq is not None:
            return state.epoch if state is not None else None
        return None

    def task_for_connect(self, task_id: str) -> TaskState:
        now = self.clock()
        if now >= self._next_sweep:
            self.sweep(now)
        state = self.tasks.get(task_id)
        return self._new_task(task_id, now) if state is None else state

    def attach(self, state: TaskState, websocket: Any, after_seq: int | None,
               epoch: str | None = None, opening: bool = False) -> tuple[Connection, Connection | None]:
        """Make ``websocket`` the task's connection; return it and the one it replaces.

        ``epoch`` is what ``check_resume`` returned before the caller's first await: when
        it is not this incarnation's, the resume point belongs to another one and the client
        is sent a ``reset`` frame and this incarnation from its start (``RES-4``). With
        ``opening`` (the client follows epochs) it is sent a ``hello`` frame first.
        Call with the task's lock held, so nothing is in flight (``REPL-1``)."""
        stale = epoch if epoch is not None and epoch != state.epoch else None
        if stale is not None:
            after_seq = 0
        else:
            self.check_resume(state.task_id, after_seq)
        replay: deque = deque()
        cursor = state.sent_through
        if after_seq is not None:
            cursor = min(after_seq, state.sent_through)
            replay = deque(self._replay(state, after_seq))  # popped from the front, one by one
            # Queued messages the client already has (it saw them just before a send was
            # reported failed) are not sent twice.
            queue = state.queue
            while queue and queue[0].seq <= after_seq:
                self.remember(state, queue.popleft())
                state.delivered += 1
                self.delivered += 1
        if opening or stale is not None:
            replay.appendleft(Opening(state.task_id, state.epoch, state.next_seq - 1, stale))
        connection = self.connection_factory(websocket, state.task_id, cursor, replay, state.epoch)
        old = state.connection
        state.connection = connection
        state.last_activity = self.clock()
        if old is not None:
            old.end(CloseCode.REPLACED, "replaced by a newer connection for this task")
        self.settle(state)
        return connection, old

    def _replay(self, state: TaskState, after_seq: int) -> list:
        items: list = []
        floor = after_seq
        if after_seq < state.forgotten_through:
            items.append(GapNotice(state.task_id, after_seq + 1, state.forgotten_through, "expired"))
            floor = state.forgotten_through
        for first, last in state.gaps:
            if last > floor and first <= state.sent_through:
                items.append(GapNotice(state.task_id, max(first, floor + 1), min(last, state.sent_through), "dropped"))
        if state.history is not None:
            items.extend(m for m in state.history if m.seq > floor)
            items.sort(key=_item_seq)
        return items

    def detach(self, task_id: str, websocket: Any, code: int, reason: str) -> bool:
        """The client of ``websocket`` left: forget that connection, keep the task."""
        state = self.tasks.get(task_id)
        connection = state.connection if state is not None else None
        if connection is None or connection.websocket is not websocket:
            return False
        state.connection = None
        state.last_activity = self.clock()
        connection.end(code, reason)
        self.settle(state)
        return True

    def disconnect(self, task_id: object) -> int:
        """Remove the task entirely; return how many queued messages were discarded."""
        state = self.tasks.pop(check_task_id(task_id), None)
        if state is None:
            return 0
        return self._forget(state, CloseCode.SERVER_DISCONNECT, "task disconnected by the server")

    def _forget(self, state: TaskState, code: int, reason: str) -> int:
        state.closed = True
        discarded = len(state.queue)
        self.discarded += discarded
        state.queue.clear()
        if state.connection is not None:
            state.connection.end(code, reason)
            state.connection = None
        self.settle(state)
        return discarded

    # -- draining ------------------------------------------------------------------------

    def next_frames(self, state: TaskState, connection: Connection, through_seq: int) -> list | None:
        """What to send next to ``connection``: notices and at most one message, in order.

        Returns ``None`` when there is nothing (left) to send up to ``through_seq``, or the
        connection is no longer the task's. Marks the message in flight."""
        if state.closed or connection.ended or state.in_flight is not None:
            return None
        if connection.replay:
            item = connection.replay.popleft()
            return [item]
        queue = state.queue
        if queue and queue[0].seq <= through_seq:
            message = queue.popleft()
            state.in_flight = message
            gaps = state.gaps
            if gaps and gaps[-1][1] > connection.cursor:
                frames = self._notices(state, connection.cursor, message.seq)
                frames.append(message)
                return frames
            return [message]
        if state.gaps and state.gaps[-1][1] > connection.cursor and not queue:
            return self._notices(state, connection.cursor, state.next_seq) or None
        return None

    def _notices(self, state: TaskState, cursor: int, below_seq: int) -> list:
        return [
            GapNotice(state.task_id, max(first, cursor + 1), last, "dropped")
            for first, last in state.gaps
            if last > cursor and first < below_seq
        ]

    def sent(self, state: TaskState, connection: Connection, frames: list) -> bool:
        """Every frame of ``frames`` reached the socket. True when nothing at all is left
        to send (no queued message, replay or untold gap): the drain may stop asking."""
        last = frames[-1]
        if last is state.in_flight:  # the usual case: one queued message went out
            state.in_flight = None
            state.delivered += 1
            self.delivered += 1
            connection.cursor = last.seq  # above the cursor: queued seqs are new to a client
            self.remember(state, last)
        elif type(last) is not Opening:
            # Notices, or a replayed message: only the cursors move.
            seq = last.seq if isinstance(last, LogMessage) else last.last_seq
            if seq > connection.cursor:
                connection.cursor = seq
            if seq > state.sent_through:
                state.sent_through = seq
        return not (state.queue or connection.replay or state.gaps and state.gaps[-1][1] > connection.cursor)

    def remember(self, state: TaskState, message: LogMessage) -> None:
        state.sent_through = message.seq
        history = state.history
        if history is None:
            state.forgotten_through = message.seq
        else:
            if len(history) == history.maxlen:
                state.forgotten_through = history[0].seq
            history.append(message)
        gaps = state.gaps
        while gaps and gaps[0][1] <= state.forgotten_through:
            del gaps[0]

    def send_failed(self, state: TaskState, connection: Connection, frames: list, code: int, reason: str) -> None:
        """Sending ``frames`` raised or timed out: requeue, and end the connection."""
        state.failed_sends += 1
        self.failed_sends += 1
        message = state.in_flight
        # Notices and replayed history need no requeue: they are recomputed from the
        # cursor of whichever connection comes next.
        if message is not None and frames[-1] is message:
            self.put_back(state)
        if state.connection is connection:
            state.connection = None
            state.last_activity = self.clock()
        connection.end(code, reason)
        self.settle(state)

    def put_back(self, state: TaskState) -> None:
        """The message in flight was not sent: it goes back to the front of the queue (or
        is discarded with a closed task). Call with the task's lock held."""
        message = state.in_flight
        state.in_flight = None
        if state.closed:
            self.discarded += 1
            return
        queue = state.queue
        queue.appendleft(message)
        if len(queue) > self.max_queue_size:
            # The newest message re-enters through the policy, which chooses what
            # gives way, the requeued one included.
            newest = queue.pop()
            try:
                victim = self._choose_victim(queue, newest)
            except PolicyError:
                # No caller to tell (FAIL-2): the oldest gives way. It is the requeued
                # message, never the finished one (that has the highest seq).
                victim = 0
            self._place(state, newest, victim)

    # -- expiry --------------------------------------------------------------------------

    def _new_task(self, task_id: str, now: float) -> TaskState:
        if self.max_tasks is not None and len(self.tasks) >= self.max_tasks:
            self.sweep(now)
            if len(self.tasks) >= self.max_tasks:
                victim = next((s for s in self.tasks.values() if s.connection is None and s.in_flight is None), None)
                if victim is None:
                    raise TaskLimitError(task_id, self.max_tasks)
                del self.tasks[victim.task_id]
                self._forget(victim, CloseCode.SERVER_DISCONNECT, "task evicted by max_tasks")
                self.expired_tasks += 1
        self.incarnations += 1
        state = TaskState(task_id, now, self.history_size, self.lock_factory(),
                          f"{self.epoch_prefix}.{self.incarnations}")
        self.tasks[task_id] = state
        return state

    def sweep(self, now: float) -> int:
        """Forget tasks with no client and no activity for ``task_ttl`` seconds (``MEM-3``)."""
        ttl = self.task_ttl
        if ttl is None:
            return 0
        self._next_sweep = now + ttl / 8
        stale = [
            state for state in self.tasks.values()
            if state.connection is None and state.in_flight is None and now - state.last_activity >= ttl
        ]
        for state in stale:
            del self.tasks[state.task_id]
            self._forget(state, CloseCode.SERVER_DISCONNECT, "task expired")
        self.expired_tasks += len(stale)
        return len(stale)

    # -- queries -------------------------------------------------------------------------

    def task_statistics(self, task_id: str, lock_waiters: int = 0) -> TaskStatistics:
        state = self.tasks.get(task_id)
        if state is None:
            return TaskStatistics(task_id, known=False)
        return TaskStatistics(
            task_id,
            known=True,
            connected=state.connection is not None,
            queued=len(state.queue) + (state.in_flight is not None),
            dropped=state.dropped,
            delivered=state.delivered,
            failed_sends=state.failed_sends,
            last_seq=state.next_seq - 1,
            sent_through=state.sent_through,
            history=len(state.history) if state.history is not None else 0,
            gap_ranges=len(state.gaps),
            finished=bool(state.finished_seq),
            lock_waiters=lock_waiters,
            epoch=state.epoch,
        )

    def statistics(self, lock_waiters: int = 0) -> ManagerStatistics:
        tasks = self.tasks.values()
        return ManagerStatistics(
            tasks=len(self.tasks),
            connections=sum(state.connection is not None for state in tasks),
            queued=sum(len(state.queue) + (state.in_flight is not None) for state in tasks),
            logged=self.logged,
            dropped=self.dropped,
            delivered=self.delivered,
            failed_sends=self.failed_sends,
            discarded=self.discarded,
            expired_tasks=self.expired_tasks,
            lock_waiters=lock_waiters,
        )


def _item_seq(item: LogMessage | GapNotice) -> int:
    return item.seq if isinstance(item, LogMessage) else item.first_seq
