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
4. A :class:`Run` is built in layers: :mod:`._record` keeps the records and the ticks,
   :mod:`._execute` carries out one operation, and this module runs the whole program;
   :mod:`._result` holds what the caller gets back.
"""

from __future__ import annotations

from typing import Any

import anyio

from tasktail.fakes import seed_scheduler, virtual_backend, wait_all_tasks_blocked

from . import _checks
from ._execute import Executor
from ._program import Connect, Program
from ._result import RunResult
from ._findings import SuiteError, describe_exception, is_suite_bug, leaves
from ._subject import Subject, hosting, parse_frame

__all__ = ["Run", "run_program"]

SETTLE_SECONDS = 3600.0  # virtual seconds everything gets to finish once gates are open
PRODUCER_GRACE = 60.0  # virtual seconds a producer that began with no client may still be running


class Run(Executor):
    """One run: its records (:class:`~._record.Recorder`), its operations
    (:class:`~._execute.Executor`) and, here, its course from first step to settling."""

    async def main(self) -> None:
        async with hosting():
            await self._main()

    async def _main(self) -> None:
        p, s = self.program, self.subject
        extra: dict[str, Any] = {"history_size": p.history_size}
        if p.send_timeout is not None:
            extra["send_timeout"] = p.send_timeout
        self.manager = s.build(p.max_queue_size, **extra)
        self.history.append(f"   0 manager = factory({', '.join(f'{k}={v!r}' for k, v in s.config(p.max_queue_size, **extra).items())})")
        async with anyio.create_task_group() as group:
            for op in p.ops:
                await self.do(op, group)
                await wait_all_tasks_blocked()
                _checks.step(self)
                if self.violations:
                    break
            else:
                await self.settle(group)
            group.cancel_scope.cancel()

    def _only_clientless_producers(self, stuck: list) -> bool:
        return bool(stuck) and all(_checks.clientless_producer(self, r) for r in stuck)

    async def _wait_done(self, what: str) -> bool:
        start = anyio.current_time()
        only_producers_since: float | None = None
        with anyio.move_on_after(SETTLE_SECONDS):
            while True:
                running, in_flight = self.running(), any(s.ws.sends_in_flight for s in self.sockets)
                if not running and not in_flight:
                    await wait_all_tasks_blocked()
                    return True
                # A producer that began with no client owes nobody a wait (PROD-1 allows
                # none; its scripted check allows 5 s): once nothing but such producers has
                # run for PRODUCER_GRACE with no send in flight, they are judged stuck,
                # instead of polling through the whole hour (CI time, not verdicts).
                if in_flight or not self._only_clientless_producers(running):
                    only_producers_since = None
                elif only_producers_since is None:
                    only_producers_since = anyio.current_time()
                elif anyio.current_time() - only_producers_since >= PRODUCER_GRACE:
                    break
                for sock in self.sockets:
                    if sock.gate is not None and not sock.gate.opened:
                        sock.gate.open()
                    sock.ws.let_go()
                await anyio.sleep(1.0)
        stuck = self.running()
        names = ", ".join(f"#{r.id} {r.label}" for r in stuck)
        rule = "PROD-1" if self._only_clientless_producers(stuck) else "LOCK-2"
        waited = anyio.current_time() - start
        self.violate(rule, f"{what}: still running after every gate opened and {waited:.0f} virtual seconds "
                     f"passed: {names}", "blocked producer" if rule == "PROD-1" else "hung")
        return False

    async def settle(self, group: anyio.abc.TaskGroup) -> None:
        self.history.append(f"{self.tick():>4} -- settle: every gate opens --")
        if not await self._wait_done("while settling"):
            return
        _checks.step(self, settled=True)
        if self.violations:
            return
        for task_id in [] if self.preconditions else _checks.owed_tasks(self):
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
                nonstrict: frozenset[str] = frozenset(), rules: frozenset[str] | None = None,
                known: frozenset = frozenset(), preconditions: frozenset[str] = frozenset(),
                config: dict[str, Any] | None = None) -> RunResult:
    """Run ``program`` once on ``backend`` in virtual time; return what happened.

    ``rules`` (default: all) are the rules being checked, ``known`` the (rule, kind)
    signatures already found: a violation of another rule, or of a known signature, is
    noted in the history and does not end the run. A bug of the suite raises SuiteError."""
    subject = factory if isinstance(factory, Subject) else Subject(factory, capabilities, config)
    run = Run(subject, program, nonstrict, rules, known, preconditions)
    name, options = virtual_backend(backend)
    seed_scheduler(backend, len(program.ops))  # the same program interleaves the same way every time
    try:
        anyio.run(run.main, backend=name, backend_options=options)
    except SuiteError:
        raise
    except BaseException as exc:  # noqa: BLE001 - whatever escaped the implementation
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        inner = [e for e in leaves(exc) if isinstance(e, SuiteError)]
        if inner:
            raise inner[0] from None
        if is_suite_bug(exc):
            raise SuiteError("a generated program", exc) from exc
        run.violate("FAIL-2", f"the run crashed outside any call the suite made: {describe_exception(exc)}",
                    "crashed")
    return run.result(backend)
