"""The records a run keeps, and the recording half of a run (see :mod:`._runner`).

Every invoke and return (or raise) gets a tick of one global counter, and so does every
frame a recording socket delivers, with the tick at which its send started; the
invariant checkers of :mod:`._checks` read these records.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import anyio

from tasktail.fakes import FailOnSend, FakeWebSocket, Gate, Instant, Latency, NeverAccepts

from ._program import Op, Program
from ._result import Violation
from ._subject import Item, Subject, foreign_frame, parse_frame, suite_gate

__all__ = ["Delivery", "Msg", "OpRec", "Recorder", "SockRec", "behaviour"]


@dataclass
class OpRec:
    id: int
    op: Op | None
    label: str
    task_id: str | None
    invoke: int
    ret: int | None = None
    outcome: str | None = None  # ok | raised | cancelled
    detail: str = ""
    scope: anyio.CancelScope | None = None
    sock: int | None = None
    task: int | None = None  # the anyio task running it (to tell which call sent a frame)
    had_client: bool = True  # a send_log began while its task had a client or a connect running
    queued_at_start: Any = None  # get_queued_message_count when a send_log began
    waited_clientless: bool = False  # a send_log seen blocked while its task had no client (PROD-1's)


@dataclass
class Msg:
    text: str
    task_id: str
    epoch: int
    op: OpRec
    seq: int | None = None
    cancelled: bool = False
    level: str = "info"
    progress: float | None = None
    finished: bool = False


@dataclass
class Delivery:
    tick: int
    started: int
    sid: int
    item: Item
    sender: int | None = None  # the anyio task that sent it


@dataclass
class SockRec:
    sid: int
    ws: RecordingSocket
    task_id: str
    epoch: int
    behaviour: str
    after_seq: int | None
    connect: OpRec
    replaced_at: int | None = None  # tick a newer connect of its task returned
    disconnected_at: int | None = None
    detached_at: int | None = None
    accepting: bool = False
    adopted: bool = False  # its connect was running when the task was disconnected
    accepted_at: int | None = None  # tick its accept() returned
    cancelled: bool = False  # its connect was cancelled
    handle: Any = None  # what its connect returned (the reference: a Connection with ``close_code``)
    #: when its task was disconnected: the calls that were sending on it, and those waiting
    senders_at_disconnect: frozenset = frozenset()
    waiters_at_disconnect: frozenset = frozenset()

    @property
    def gate(self) -> Gate | None:
        return self.ws.behaviour if isinstance(self.ws.behaviour, Gate) else None

    def started_sending(self) -> bool:
        """The manager began a protocol frame on it (an application's own status frame, sent
        before the socket was attached, does not count)."""
        return any(e.frame is not None and not foreign_frame(e.frame) for e in self.ws.events_of("send_started"))

    def failed(self) -> bool:
        return (any(e.kind in ("send_failed", "send_cancelled") for e in self.ws.events) or self.ws.client.gone
                or self.cancelled)


class RecordingSocket(FakeWebSocket):
    """A FakeWebSocket that reports each delivered frame, with the tick its send started."""

    def __init__(self, behaviour: Any, run: Recorder, sid: int, *, hold_accept: bool = False,
                 hold_close: bool = False) -> None:
        super().__init__(behaviour, strict=False)
        self._run, self.sid = run, sid
        self.sending: dict[int, int] = {}  # anyio task id -> tick its send started
        #: accept() / close() wait here until released ("gate_accept", "stall_close")
        self.accept_held = anyio.Event() if hold_accept else None
        self.close_held = anyio.Event() if hold_close else None
        self.waiting_in: str | None = None  # "accept" or "close" while held there
        self.close_attempts: list[int] = []
        self.closed_at: int | None = None  # tick the manager first asked to close it

    def held(self) -> bool:
        return self.waiting_in is not None

    def let_go(self) -> None:
        for event in (self.accept_held, self.close_held):
            if event is not None:
                event.set()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.close_attempts.append(code)  # a close the client never answers may be given up on
        if self.closed_at is None:
            self.closed_at = self._run.tick()
        if self.close_held is not None and not self.close_held.is_set():
            self.waiting_in = "close"
            try:
                await self.close_held.wait()
            finally:
                self.waiting_in = None
        await super().close(code, reason)

    async def accept(self, *args: Any, **kwargs: Any) -> None:
        rec = self._run.sockets[self.sid]
        rec.accepting = True
        try:
            if self.accept_held is not None and not self.accept_held.is_set():
                self.waiting_in = "accept"
                try:
                    await self.accept_held.wait()
                finally:
                    self.waiting_in = None
            await super().accept(*args, **kwargs)
            rec.accepted_at = self._run.tick()
        finally:
            rec.accepting = False

    async def _recorded(self, send: Any) -> None:
        started, task = self._run.tick(), anyio.get_current_task().id
        self.sending[task] = started
        try:
            await send
        finally:
            self.sending.pop(task, None)
        self._run.delivered(self.sid, started, self.frames[-1].payload, task)

    async def send(self, message: dict[str, Any]) -> None:
        """Starlette's raw ASGI send: a close is a close, a data frame is recorded."""
        if message.get("type") == "websocket.close":
            await self.close(message.get("code", 1000), message.get("reason"))
        elif message.get("type") == "websocket.send":
            await self._recorded(super().send(message))
        else:
            await super().send(message)

    async def send_text(self, data: str) -> None:
        await self._recorded(super().send_text(data))

    async def send_json(self, data: Any, mode: str = "text") -> None:
        await self._recorded(super().send_json(data, mode))

    async def send_bytes(self, data: bytes) -> None:
        await self._recorded(super().send_bytes(data))


def behaviour(name: str) -> Any:
    """A fresh socket behaviour for a :class:`~._program.Connect`'s ``behaviour`` name."""
    return {"instant": Instant, "gate": suite_gate, "fail1": lambda: FailOnSend(1, RuntimeError("injected")),
            "fail2": lambda: FailOnSend(2, RuntimeError("injected")), "vanish1": lambda: FailOnSend(1),
            "slow": lambda: Latency(30.0), "never_accepts": NeverAccepts, "gate_accept": Instant,
            "stall_close": Instant}[name]()


class Recorder:
    """The state of one run and how it is recorded; :mod:`._checks` reads it."""

    def __init__(self, subject: Subject, program: Program, nonstrict: frozenset[str] = frozenset(),
                 rules: frozenset[str] | None = None, known: frozenset = frozenset(),
                 preconditions: frozenset[str] = frozenset()) -> None:
        self.subject, self.program, self.nonstrict, self.rules = subject, program, nonstrict, rules
        #: signatures (rule, kind) already found: noted, and the run goes on looking for others
        self.known = known
        #: preconditions that failed (``_suite.PRECONDITIONS``): their consequences are set aside
        self.preconditions = preconditions
        self._ignored: set[tuple[str, str]] = set()
        self.cap = subject.fixed_cap or program.max_queue_size
        self.with_seq = subject.claims("seq")
        self._tick = 0
        self.ops: list[OpRec] = []
        self.msgs: dict[str, Msg] = {}
        self.sockets: list[SockRec] = []
        self.deliveries: list[Delivery] = []
        self.epochs: dict[str, int] = collections.defaultdict(int)
        self.violations: list[Violation] = []
        self.history: list[str] = []
        self.coverage: collections.Counter = collections.Counter()
        self.coverage_at_cap: dict[str, bool] = {}  # task -> its queue reached the cap at some step
        self.removed_at: dict[str, int] = {}  # task -> tick its last disconnect returned
        #: (task, texts, slack): at some step more than cap + slack (sends in flight) messages
        #: of the task had been logged (send_log returned) and were not delivered yet
        self.held_beyond_cap: list[tuple[str, frozenset[str], int]] = []
        self.manager: Any = None
        self._logs = 0

    def tick(self) -> int:
        self._tick += 1
        return self._tick

    def delivered(self, sid: int, started: int, payload: Any, sender: int | None = None) -> None:
        d = Delivery(self.tick(), started, sid, parse_frame(payload, self.with_seq), sender)
        self.deliveries.append(d)
        self.history.append(f"{d.tick:>4} socket {sid} <- {d.item.short()}")

    def violate(self, rule: str, message: str, kind: str) -> bool:
        """Record a violation; True if it counts. A rule outside ``rules`` (the ones being
        checked), or a signature already found, is only noted in the history and the run
        goes on looking for the others."""
        if (self.rules is None or rule in self.rules) and (rule, kind) not in self.known:
            self.violations.append(Violation(rule, message, self._tick, kind))
            return True
        if (rule, message) not in self._ignored:
            self._ignored.add((rule, message))
            self.history.append(f"{self._tick:>4} (not checked) {rule}: {message}")
        return False

    def running(self) -> list[OpRec]:
        return [r for r in self.ops if r.outcome is None and r.op is not None]

    def _begin(self, op: Op | None, label: str, task_id: str | None) -> OpRec:
        rec = OpRec(len(self.ops), op, label, task_id, self.tick())
        self.ops.append(rec)
        self.history.append(f"{rec.invoke:>4} invoke #{rec.id} {label}")
        return rec

    def _end(self, rec: OpRec, outcome: str, detail: str = "") -> None:
        rec.ret, rec.outcome, rec.detail = self.tick(), outcome, detail
        self.history.append(f"{rec.ret:>4} {outcome:<8} #{rec.id} {detail}".rstrip())
