"""Run one :class:`Program` against an implementation, recording a history.

Theory of operation:

1. A fresh event loop per run (``anyio.run`` on a virtual clock), a fresh manager, fresh
   fake sockets. ``Log`` and ``Connect`` run as background tasks; after every operation the
   runner waits until every task is blocked, so a *step* ends in a quiescent state that
   only the scenario's next operation can change (sends wait at gates, time is frozen).
2. Every invoke and return (or raise) gets a tick of one global counter, and so does every
   frame a socket delivers (``send_text``/``send_json`` returned), with the tick at which
   its send started. Checkers compare ticks, never wall or loop time.
3. After each step the invariant checkers of :mod:`._checks` run; a violation stops the
   run. At the end every gate opens and the runner waits for everything to finish (a
   deadlock is a violation), connects a fresh client to each task that still owes
   messages, waits again, runs the final checks and disconnects every task.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

import anyio

from tasktail.fakes import FailOnSend, FakeWebSocket, Gate, Instant, Latency, NeverAccepts, virtual_backend

from . import _checks
from ._program import Advance, Cancel, Connect, Detach, Disconnect, Drop, Fail, Log, Op, Program, Query, Release
from ._subject import Item, Subject, call, parse_frame

__all__ = ["RunResult", "Run", "run_program", "Violation"]

SETTLE_SECONDS = 3600.0  # virtual seconds everything gets to finish once gates are open
BAD_ARGS = {"level": {"level": "loud"}, "progress": {"progress": 250}, "progress_bool": {"progress": True},
            "task_id": {"task_id": ""}, "finished": {"finished": "yes"}}


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    tick: int

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


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


@dataclass
class Msg:
    text: str
    task_id: str
    epoch: int
    op: OpRec
    seq: int | None = None
    cancelled: bool = False


@dataclass
class Delivery:
    tick: int
    started: int
    sid: int
    item: Item


@dataclass
class SockRec:
    sid: int
    ws: _Socket
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

    @property
    def gate(self) -> Gate | None:
        return self.ws.behaviour if isinstance(self.ws.behaviour, Gate) else None

    def failed(self) -> bool:
        return any(e.kind in ("send_failed", "send_cancelled") for e in self.ws.events) or self.ws.client.gone


class _Socket(FakeWebSocket):
    """A FakeWebSocket that reports each delivered frame, with the tick its send started."""

    def __init__(self, behaviour: Any, run: Run, sid: int) -> None:
        super().__init__(behaviour, strict=False)
        self._run, self.sid = run, sid

    async def accept(self, *args: Any, **kwargs: Any) -> None:
        rec = self._run.sockets[self.sid]
        rec.accepting = True
        try:
            await super().accept(*args, **kwargs)
        finally:
            rec.accepting = False

    async def send_text(self, data: str) -> None:
        started = self._run.tick()
        await super().send_text(data)
        self._run.delivered(self.sid, started, self.frames[-1].payload)

    async def send_json(self, data: Any, mode: str = "text") -> None:
        started = self._run.tick()
        await super().send_json(data, mode)
        self._run.delivered(self.sid, started, self.frames[-1].payload)


def _behaviour(name: str) -> Any:
    return {"instant": Instant, "gate": Gate, "fail1": lambda: FailOnSend(1, RuntimeError("injected")),
            "fail2": lambda: FailOnSend(2, RuntimeError("injected")), "vanish1": lambda: FailOnSend(1),
            "slow": lambda: Latency(30.0), "never_accepts": NeverAccepts}[name]()


class ScenarioFailure(AssertionError):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(map(str, violations)))
        self.violations = violations


@dataclass
class RunResult:
    program: Program
    backend: str
    violations: list[Violation]
    history: list[str]
    transcripts: dict[int, list[str]]
    coverage: collections.Counter = field(default_factory=collections.Counter)

    @property
    def ok(self) -> bool:
        return not self.violations

    def trace(self) -> list[str]:
        out = list(self.history)
        for sid, items in sorted(self.transcripts.items()):
            out.append(f"socket {sid}: " + " ".join(items))
        return out + [f"VIOLATION {v}" for v in self.violations]

    def describe(self) -> str:
        return "\n".join(self.trace())


class Run:
    """The state of one run; :mod:`._checks` reads it."""

    def __init__(self, subject: Subject, program: Program, nonstrict: frozenset[str] = frozenset(),
                 rules: frozenset[str] | None = None) -> None:
        self.subject, self.program, self.nonstrict, self.rules = subject, program, nonstrict, rules
        self._ignored: set[tuple[str, str]] = set()
        self.cap = program.max_queue_size
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
        self.manager: Any = None
        self._logs = 0

    # -- recording ---------------------------------------------------------------------
    def tick(self) -> int:
        self._tick += 1
        return self._tick

    def delivered(self, sid: int, started: int, payload: Any) -> None:
        d = Delivery(self.tick(), started, sid, parse_frame(payload, self.with_seq))
        self.deliveries.append(d)
        self.history.append(f"{d.tick:>4} socket {sid} <- {d.item.short()}")

    def violate(self, rule: str, message: str) -> bool:
        """Record a violation; True if it counts. A rule outside ``rules`` (the ones being
        checked) is only noted in the history and the run goes on looking for the others."""
        if self.rules is None or rule in self.rules:
            self.violations.append(Violation(rule, message, self._tick))
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

    # -- operations --------------------------------------------------------------------
    async def _log(self, rec: OpRec, kwargs: dict[str, Any], msg: Msg | None, invalid: str | None) -> None:
        epoch = self.epochs[rec.task_id]
        try:
            with anyio.CancelScope() as rec.scope:
                result = await call(self.manager.send_log, **kwargs)
        except Exception as exc:
            self._end(rec, "raised", f"{type(exc).__name__}: {exc}")
            if invalid is None and self.epochs[rec.task_id] != epoch:
                # its task was disconnected while it ran: "raises nothing then or later"
                self.violate("DISC-2", f"send_log #{rec.id} raised {type(exc).__name__}: {exc} after "
                             f"{rec.task_id!r} was disconnected during it")
            elif invalid is None:
                self.violate("FAIL-2", f"send_log #{rec.id} raised {type(exc).__name__}: {exc}")
            elif not isinstance(exc, (TypeError, ValueError)):
                self.violate("VAL-1", f"bad {invalid} raised {type(exc).__name__}, not TypeError/ValueError")
            return
        if rec.scope.cancelled_caught:
            self._end(rec, "cancelled")
            return
        seq = getattr(result, "seq", None)
        if msg is not None and self.with_seq:
            msg.seq = seq
        self._end(rec, "ok", "" if seq is None else f"seq {seq}")
        if invalid is not None:
            self.violate("VAL-1", f"send_log with a bad {invalid} was accepted (#{rec.id})")

    async def _connect(self, rec: OpRec, sock: SockRec) -> None:
        kwargs = {} if sock.after_seq is None else {"after_seq": sock.after_seq}
        try:
            await call(self.manager.connect, sock.ws, sock.task_id, **kwargs)
        except Exception as exc:
            self._end(rec, "raised", f"{type(exc).__name__}: {exc}")
            healthy = sock.behaviour in ("instant", "gate") and not sock.failed()
            if sock.disconnected_at is not None or sock.adopted:
                # (with after_seq, RES-3's ValueError is right: the fresh task has no such seq)
                if healthy and sock.after_seq is None:
                    self.violate("DISC-2", f"connect #{rec.id} raised {type(exc).__name__}: {exc} after "
                                 f"{sock.task_id!r} was disconnected during it")
            elif healthy and sock.replaced_at is None:
                self.violate("FLUSH-1", f"connect #{rec.id} raised {type(exc).__name__}: {exc} on a healthy socket")
            return
        self._end(rec, "ok")
        if sock.ws.events_of("send_failed"):
            self.coverage["send failing mid-flush"] += 1
        _checks.on_connect_returned(self, sock)

    def _pick(self, candidates: list, index: int) -> Any:
        return candidates[index % len(candidates)] if candidates else None

    async def do(self, op: Op, group: anyio.abc.TaskGroup) -> None:
        if isinstance(op, Log):
            self._logs += 1
            task_id = f"t{op.task}"
            text = f"{task_id}#{self._logs}"
            kwargs = {"task_id": task_id, "level": "info", "message": text}
            if op.finished:
                kwargs["finished"] = True
            if op.invalid:
                kwargs.update(BAD_ARGS[op.invalid])
            rec = self._begin(op, f"send_log({kwargs['task_id']!r}, {kwargs['level']!r}, {text!r}"
                              + "".join(f", {k}={kwargs[k]!r}" for k in ("progress", "finished") if k in kwargs)
                              + ")", task_id)
            msg = None
            if op.invalid is None:
                msg = self.msgs[text] = Msg(text, task_id, self.epochs[task_id], rec)
            group.start_soon(self._log, rec, kwargs, msg, op.invalid)
        elif isinstance(op, Connect):
            task_id = f"t{op.task}"
            epoch = self.epochs[task_id]
            after_seq = None
            if op.after_seq is not None and self.subject.claims("resume"):
                spent = sum(1 for m in self.msgs.values() if m.task_id == task_id and m.epoch == epoch
                            and m.op.outcome != "raised")
                after_seq = min(op.after_seq, spent)
            if any(r.label.startswith("connect") and r.task_id == task_id for r in self.running()):
                self.coverage["replacement during a flush"] += 1
            sid = len(self.sockets)
            rec = self._begin(op, f"connect(socket {sid} [{op.behaviour}], {task_id!r}"
                              + ("" if after_seq is None else f", after_seq={after_seq}") + ")", task_id)
            rec.sock = sid
            sock = SockRec(sid, None, task_id, epoch, op.behaviour, after_seq, rec)  # type: ignore[arg-type]
            self.sockets.append(sock)
            sock.ws = _Socket(_behaviour(op.behaviour), self, sid)
            group.start_soon(self._connect, rec, sock)
        elif isinstance(op, Disconnect):
            await self.disconnect(f"t{op.task}")
        elif isinstance(op, Detach):
            sock = self._pick(self.sockets, op.sock)
            if sock is not None:
                await _checks.detach(self, sock)
        elif isinstance(op, Drop):
            sock = self._pick([s for s in self.sockets if not s.ws.client.gone], op.sock)
            if sock is not None:
                self.history.append(f"{self.tick():>4} client of socket {sock.sid} vanishes")
                if sock.connect.outcome is None and not sock.ws.events_of("send_started"):
                    self.coverage["send failing mid-flush"] += sock.ws.sends_in_flight > 0
                sock.ws.client.vanish()
        elif isinstance(op, (Release, Fail)):
            sock = self._pick([s for s in self.sockets if s.gate is not None and s.gate.pending], op.sock)
            if sock is not None:
                verb = "release" if isinstance(op, Release) else "fail"
                self.history.append(f"{self.tick():>4} {verb} the next send on socket {sock.sid}")
                if isinstance(op, Release):
                    sock.gate.release(1)
                else:
                    if sock.connect.outcome is None and not sock.ws.events_of("send_started"):
                        self.coverage["send failing mid-flush"] += 1
                    sock.gate.fail_pending(RuntimeError("injected send failure"), n=1)
        elif isinstance(op, Cancel):
            rec = self._pick([r for r in self.running() if isinstance(r.op, Log) and r.scope is not None], op.index)
            if rec is not None:
                self.history.append(f"{self.tick():>4} cancel #{rec.id}")
                for msg in self.msgs.values():
                    if msg.op is rec:
                        msg.cancelled = True
                rec.scope.cancel()
        elif isinstance(op, Advance):
            self.history.append(f"{self.tick():>4} advance {op.seconds}s")
            await anyio.sleep(op.seconds)
        elif isinstance(op, Query):
            await _checks.query(self, f"t{op.task}")

    async def disconnect(self, task_id: str) -> None:
        if any(r.label.startswith("connect") and r.task_id == task_id for r in self.running()):
            self.coverage["disconnect during a flush"] += 1
        busy = any(r.task_id == task_id for r in self.running())
        rec = self._begin(None, f"disconnect({task_id!r})", task_id)
        self.epochs[task_id] += 1
        for sock in self.sockets:
            if sock.task_id == task_id and sock.disconnected_at is None:
                if sock.connect.outcome is None and not sock.ws.events_of("send_started"):
                    # Still connecting: it may end up the client of the fresh task (the
                    # reference attaches it there), or of nothing; judged when it returns.
                    sock.adopted = True
                else:
                    sock.disconnected_at = rec.invoke
        try:
            result = await call(self.manager.disconnect, task_id)
        except Exception as exc:
            self._end(rec, "raised", f"{type(exc).__name__}: {exc}")
            self.violate("DISC-2" if busy else "DISC-1", f"disconnect raised {type(exc).__name__}: {exc}")
            return
        self._end(rec, "ok", "" if result is None else f"-> {result!r}")
        _checks.after_disconnect(self, task_id, "DISC-2" if busy else "DISC-1")

    # -- the whole run -----------------------------------------------------------------
    async def main(self) -> None:
        p, s = self.program, self.subject
        extra: dict[str, Any] = {"history_size": p.history_size}
        if p.send_timeout is not None:
            extra["send_timeout"] = p.send_timeout
        self.manager = s.build(p.max_queue_size, **extra)
        async with anyio.create_task_group() as group:
            for op in p.ops:
                await self.do(op, group)
                await anyio.wait_all_tasks_blocked()
                _checks.step(self)
                if self.violations:
                    break
            else:
                await self.settle(group)
            group.cancel_scope.cancel()

    async def _wait_done(self, what: str) -> bool:
        with anyio.move_on_after(SETTLE_SECONDS):
            while self.running() or any(s.ws.sends_in_flight for s in self.sockets):
                for sock in self.sockets:
                    if sock.gate is not None and not sock.gate.opened:
                        sock.gate.open()
                await anyio.sleep(1.0)
            await anyio.wait_all_tasks_blocked()
            return True
        stuck = ", ".join(f"#{r.id} {r.label}" for r in self.running())
        self.violate("FLUSH-2", f"deadlock {what}: still running after every gate opened and "
                     f"{SETTLE_SECONDS:.0f}s passed: {stuck}")
        return False

    async def settle(self, group: anyio.abc.TaskGroup) -> None:
        self.history.append(f"{self.tick():>4} -- settle: every gate opens --")
        if not await self._wait_done("while settling"):
            return
        _checks.step(self, settled=True)
        if self.violations:
            return
        for task_id in _checks.owed_tasks(self):
            await self.do(Connect(task=int(task_id[1:]), behaviour="instant"), group)
        if not await self._wait_done("after the final connects"):
            return
        _checks.step(self, settled=True)
        _checks.final(self)
        if self.violations:
            return
        for task_id in sorted({m.task_id for m in self.msgs.values()} | {s.task_id for s in self.sockets}):
            await self.disconnect(task_id)
        _checks.step(self, settled=True)

    def result(self, backend: str) -> RunResult:
        transcripts = {s.sid: [parse_frame(f.payload, self.with_seq).short() for f in s.ws.frames]
                       for s in self.sockets}
        return RunResult(self.program, backend, list(self.violations), list(self.history), transcripts,
                         self.coverage)


def run_program(factory: Any, program: Program, *, backend: str = "asyncio", capabilities: Any = None,
                nonstrict: frozenset[str] = frozenset(), rules: frozenset[str] | None = None) -> RunResult:
    """Run ``program`` once on ``backend`` in virtual time; return what happened.

    ``rules`` (default: all) are the rules being checked: a violation of another rule is
    noted in the history and does not end the run."""
    subject = factory if isinstance(factory, Subject) else Subject(factory, capabilities)
    run = Run(subject, program, nonstrict, rules)
    name, options = virtual_backend(backend)
    try:
        anyio.run(run.main, backend=name, backend_options=options)
    except Exception as exc:  # noqa: BLE001 - the implementation's bug, reported as a violation
        leaf = exc
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        run.violate("FAIL-2", f"the run crashed: {type(leaf).__name__}: {leaf}")
    return run.result(backend)
