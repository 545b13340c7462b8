"""What a scripted check is written with: the :class:`Harness`, ``@check`` and its outcomes.

Theory of operation:

1. A check is an async function of a :class:`Harness`, registered with ``@check(rule)``;
   its name (``conform_...``) is what SPEC.md lists. It fails by raising :class:`Failed`
   (through :func:`expect`), returns :class:`NonStrict` for a documented allowed
   alternative, or raises :class:`Unmet` when what it builds on never happened (nothing
   was queued, no send started): the check could not judge its rule, and says why.
2. Delivery is judged once the system has *settled* (:meth:`Harness.settle`: every task
   blocked, then a little virtual time, then blocked again), so a manager that delivers
   through a writer task is judged on what it delivers, not on when.
3. Every socket a check makes is kept; after the check the suite judges their misuse
   (two sends in flight at once: LOCK-1) whatever rule the check was written for.
4. A check that waits for something (a pending send at a gate) waits with
   :meth:`Harness.until`: if the system settles without it, that is :class:`Unmet`, never
   a hang charged to the rule.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from tasktail.fakes import FakeWebSocket, Gate, wait_all_tasks_blocked

from ._findings import describe_exception, from_socket
from ._subject import Item, Subject, call, parse_frame, queue_length, seed_entries, suite_gate

__all__ = ["CHECKS", "Charged", "Check", "Failed", "Harness", "NonStrict", "Unmet", "check", "expect", "expect_texts", "wait_blocked"]

SETTLE_SECONDS = 0.5  # virtual time a settle lets pass: timers a writer task may batch on
PRODUCER_SECONDS = 120.0  # virtual seconds a send_log may take before a check says it waits


class Failed(AssertionError):
    """A scripted check saw the rule broken; ``kind`` is the finding kind (see ``_findings``)."""

    def __init__(self, message: str, kind: str = "wrong answer") -> None:
        super().__init__(message)
        self.kind = kind


class Charged(Failed):
    """A failure the harness saw in a call, charged to the rule that forbids it (``rule``)."""

    def __init__(self, rule: str, message: str, kind: str) -> None:
        super().__init__(message, kind)
        self.rule = rule


class Unmet(Exception):
    """What a check builds on never happened; ``precondition`` names it (see PRECONDITIONS)."""

    def __init__(self, what: str, precondition: str = "") -> None:
        super().__init__(what)
        self.precondition = precondition


@dataclass(frozen=True)
class NonStrict:
    why: str


@dataclass(frozen=True)
class Check:
    rule: str
    name: str
    fn: Callable[[Harness], Awaitable[NonStrict | None]]
    doc: str
    #: preconditions (keys of ``_preconditions.PRECONDITIONS``) the check builds on
    needs: tuple[str, ...] = ()
    #: runs on the real clock: a worker thread's progress cannot be jumped over (THR-*)
    real_time: bool = False
    #: judged again once the event loop has closed, with what the check left in ``h.after_loop``:
    #: None (pass), "unmet: why", "hung: what", or what went wrong (a wrong answer)
    after_loop: Callable[[Any], str | None] | None = None
    #: capabilities without which the check does not apply (not run, and not counted)
    claims: tuple[str, ...] = ()


CHECKS: list[Check] = []


def check(rule: str, *, needs: tuple[str, ...] = ("live", "queue"), real_time: bool = False,
          after_loop: Callable[[Any], str | None] | None = None, claims: tuple[str, ...] = ()) -> Callable:
    def register(fn: Callable) -> Callable:
        CHECKS.append(Check(rule, fn.__name__, fn, (fn.__doc__ or "").strip(), tuple(needs), real_time, after_loop,
                            tuple(claims)))
        return fn
    return register


def expect(condition: object, message: str, kind: str = "wrong answer") -> None:
    if not condition:
        raise Failed(message, kind)


def _misdelivery(got: list[str], expected: list[str]) -> str:
    """The finding kind when ``got`` is not ``expected``: what went wrong with the messages."""
    if len(got) != len(set(got)):
        return "duplicated"
    if set(expected) - set(got):
        return "lost"
    return "reordered"


def expect_texts(got: list[str], expected: list[str], message: str) -> None:
    """``got == expected``, failing as lost or reordered; a duplicate is ORD-3's to judge."""
    kind = _misdelivery(got, expected)
    if got != expected and kind == "duplicated":
        raise Charged("ORD-3", f"a message was delivered twice: {message}", "duplicated")
    expect(got == expected, message, kind)


async def wait_blocked() -> None:
    await wait_all_tasks_blocked()


@dataclass
class Harness:
    subject: Subject
    manager: Any = None
    sockets: list[FakeWebSocket] = field(default_factory=list)
    after_loop: Any = None
    built_cap: int = 0
    #: other rules' findings held back (``deferring``) until the check asked its own question
    deferred: list[Charged] = field(default_factory=list)

    @property
    def caps(self) -> frozenset[str]:
        return self.subject.capabilities

    def claims(self, *caps: str) -> bool:
        return self.subject.claims(*caps)

    def cap(self, wanted: int) -> int:
        """The queue cap a check gets: ``wanted``, or what the user said the manager uses."""
        return self.subject.fixed_cap or wanted

    def build(self, cap: int = 5, **extra: Any) -> Any:
        self.built_cap = self.cap(cap)
        self.manager = self.subject.build(self.built_cap, **extra)
        return self.manager

    async def deferring(self, call_: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """``await call_(*args)``, holding back another rule's finding (``Charged``) so the
        check still asks its own question; ``raise_deferred`` charges it afterwards."""
        try:
            return await call_(*args, **kwargs)
        except Charged as exc:
            self.deferred.append(exc)
            return None

    def raise_deferred(self) -> None:
        if self.deferred:
            raise self.deferred[0]

    def socket(self, behaviour: Any = None) -> FakeWebSocket:
        ws = FakeWebSocket(behaviour, strict=False)
        self.sockets.append(ws)
        return ws

    def items(self, ws: FakeWebSocket) -> list[Item]:
        return [parse_frame(f.payload, self.claims("seq")) for f in ws.frames]

    def texts(self, ws: FakeWebSocket) -> list[str]:
        return [i.text for i in self.items(ws) if i.kind == "log" and i.text is not None]

    async def settle(self) -> None:
        """Let every task run until blocked, let a little virtual time pass, and again."""
        await wait_all_tasks_blocked()
        await anyio.sleep(SETTLE_SECONDS)
        await wait_all_tasks_blocked()

    async def until(self, condition: Callable[[], object], what: str, precondition: str = "") -> None:
        """Wait until ``condition()``; if everything settles without it, raise :class:`Unmet`."""
        for _ in range(3):
            if condition():
                return
            await self.settle()
        if not condition():
            raise Unmet(what, precondition)

    async def pending(self, gate: Gate, n: int = 1, *, what: str = "a send to start") -> None:
        await self.until(lambda: gate.pending >= n, f"waited for {what} at a gated socket; none started")

    async def log(self, task: str, text: str, **kwargs: Any) -> Any:
        """send_log with valid input: raising is FAIL-2's (or CAP-3's when the queue is full),
        waiting long with no send in flight anywhere is PROD-1's, whatever the check."""
        try:
            queued = self.manager.get_queued_message_count(task)
        except Exception:  # noqa: BLE001 - a broken query is QRY-1's business, not this call's
            queued = None
        try:
            with anyio.move_on_after(PRODUCER_SECONDS) as scope:
                return await call(self.manager.send_log, task, "info", text, **kwargs)
        except Exception as exc:
            if not from_socket(exc) and isinstance(queued, int) and queued >= 1 and self._full(task, queued):
                raise Charged("CAP-3", f"send_log({task!r}, ..., {text!r}) raised {describe_exception(exc)} with "
                              f"{queued} queued: a full queue drops per policy, it does not raise", "crashed") from exc
            raise Charged("FAIL-2", f"send_log({task!r}, 'info', {text!r}) raised {describe_exception(exc)}",
                          "crashed") from exc
        if scope.cancelled_caught:
            if not any(ws.sends_in_flight for ws in self.sockets):
                raise Charged("PROD-1", f"send_log({task!r}, 'info', {text!r}) waited {PRODUCER_SECONDS:.0f} virtual "
                              "seconds with no send in flight on any client", "blocked producer")
            raise Failed(f"send_log({task!r}, 'info', {text!r}) did not return within {PRODUCER_SECONDS:.0f} virtual "
                         "seconds", "hung")

    def _full(self, task: str, queued: int) -> bool:
        return queued >= (self.subject.fixed_cap or getattr(self, "built_cap", 0) or queued)

    async def raw_log(self, task: str, text: str, **kwargs: Any) -> Any:
        """send_log where the check expects it may raise (FIN-1, MEM-4)."""
        return await call(self.manager.send_log, task, "info", text, **kwargs)

    async def log_numbered(self, task: str, count: int, first: int = 0) -> None:
        """send_log ``task#first`` .. ``task#(first + count - 1)``, one after another."""
        for n in range(first, first + count):
            await self.log(task, f"{task}#{n}")

    async def connect(self, ws: FakeWebSocket, task: str, **kwargs: Any) -> Any:
        try:
            return await call(self.manager.connect, ws, task, **kwargs)
        except Exception as exc:
            if ws.events_of("send_failed") and ws.client.accepted:
                # the client's failure reached the caller: FAIL-1 says it drops the client
                raise Charged("FAIL-1", f"connect raised {describe_exception(exc)} because a send to its "
                              "client failed (a failed send drops the client, it does not raise)", "crashed") from exc
            raise

    async def gated_client(self, task: str) -> tuple[Gate, FakeWebSocket]:
        """A client of ``task``, connected, whose sends wait at the returned gate."""
        gate = suite_gate()
        ws = self.socket(gate)
        await self.connect(ws, task)
        await self.settle()
        return gate, ws

    @asynccontextmanager
    async def connect_held_at_first_send(
            self, task: str) -> AsyncIterator[tuple[anyio.abc.TaskGroup, Gate, FakeWebSocket]]:
        """connect a gated client to ``task`` in the background; the body runs once the
        client's first send (of what was queued) waits at the gate, and the group ends with it."""
        gate = suite_gate()
        ws = self.socket(gate)
        async with anyio.create_task_group() as group:
            group.start_soon(self.connect, ws, task)
            try:
                await self.until(lambda: gate.pending, "connect to start sending what was queued before it",
                                 "queue")
            except Unmet:
                gate.open()
                raise
            yield group, gate, ws

    async def disconnect(self, task: str, *, busy: bool = False) -> Any:
        """disconnect; with ``busy`` (a send of the task in flight) a raise is DISC-2's,
        unless disconnecting an idle task raises too (then it is DISC-1's)."""
        try:
            return await call(self.manager.disconnect, task)
        except Exception as exc:
            if not busy:
                raise Charged("DISC-1", f"disconnect({task!r}) raised {describe_exception(exc)}", "crashed") from exc
            try:
                await self.log(f"{task}-idle", f"{task}-idle#0")
                await call(self.manager.disconnect, f"{task}-idle")
            except Exception:  # noqa: BLE001 - it raises when idle too
                raise Charged("DISC-1", f"disconnect({task!r}) raised {describe_exception(exc)} (and does "
                              "for an idle task too)", "crashed") from exc
            raise Charged("DISC-2", f"disconnect({task!r}) raised {describe_exception(exc)} while a send of it "
                          "was in flight", "crashed") from exc

    def left_after_disconnect(self, task: str) -> str | None:
        """What the task still shows right after disconnect (None: nothing)."""
        status, count = self.status(task)
        left = seed_entries(self.manager, task)
        if status or count or left:
            return f"right after disconnect({task!r}): connected={status}, queued={count}, still in {left}"
        return None

    def expect_removed(self, task: str) -> None:
        """Right after disconnect: anything left is DISC-1's (what comes back later is DISC-2's)."""
        left = self.left_after_disconnect(task)
        if left is not None:
            raise Charged("DISC-1", left, "kept state")

    def status(self, task: str) -> tuple[bool, int]:
        return self.manager.get_connection_status(task), self.manager.get_queued_message_count(task)

    def queued_in_container(self, task: str) -> int | None:
        """How many items ``message_queues[task]`` holds (None: no such entry or not countable)."""
        queues = getattr(self.manager, "message_queues", None)
        try:
            queue = queues.get(task) if queues is not None else None
        except Exception:  # noqa: BLE001 - not a mapping we can read
            return None
        return None if queue is None else queue_length(queue)

    def seq_of(self, result: Any, what: str) -> int:
        seq = getattr(result, "seq", None)
        expect(isinstance(seq, int), f"{what} returned {result!r}, which has no int .seq ('seq' is claimed)")
        return seq

    def in_flight_texts(self, gate: Gate) -> set[str]:
        """The messages whose sends wait at ``gate`` now (what a disconnect may still let through)."""
        return {t for f in gate.pending_frames
                if (t := parse_frame(f.payload, False).text) is not None}

    def expect_gone(self, task: str, when: str) -> None:
        status, count = self.status(task)
        left = seed_entries(self.manager, task)
        expect(not status and count == 0 and not left,
               f"after {when}: connected={status}, queued={count}, still in {left}", "kept state")
