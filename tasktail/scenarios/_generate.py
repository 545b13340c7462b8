"""Hypothesis strategies for programs, and the search for a failing one.

Theory of operation:

1. Programs are short lists of operations over two tasks and a small queue cap, so caps,
   replacements during a flush and contention on one task's lock happen often. Which gated
   send proceeds next (``Release``/``Fail``) is drawn like any other operation, so a
   failing schedule shrinks to the few steps that matter.
2. Only operations the implementation can take are drawn: invalid inputs need
   "validation", resume points "resume", slow and never accepting sockets "send_timeout"
   (a seed-only manager has no timeout to get out). Cancelling a producer is always drawn:
   every await can be cancelled (LOCK-2); keeping a cancelled producer's message, and
   cancelling a connect or a waiter at the hand-over of the lock, need "cancellation"
   (FAIL-3, FLUSH-1). Levels and progress values vary, for FID-1.
3. Each example is one ``run_program`` (a fresh event loop) per backend; hypothesis runs
   with no database, a fixed seed and no deadline, so a seed reproduces a search. After a
   counterexample the search goes on (see :func:`search`).
4. A program is an *opening* (``_openings``) followed by the drawn operations. There are
   three openings, on one task: none (the drawn operations alone, as before openings
   existed); a backlog of one to three ``Log`` then a ``Connect`` whose sends wait at a
   gate, so the connect is held mid-flush; or a gated ``Connect`` followed by two ``Log``,
   so live sends queue behind a stalled one. With the last two, whatever is drawn next
   (live logs, failures, a disconnect, a second connect) meets a send in progress. A
   subject that claims ``resume`` has two more: two ``Log`` then a resuming ``Connect``
   whose accept waits, alone or followed by a ``Disconnect`` and a ``Log`` of its task
   (the task is reset under the resume in progress, RES-4). A subject that claims
   "cancellation" has three more: a client whose close stalls, a ``Log``, and a gated
   ``Connect`` that replaces it, alone or followed by a ``CancelConnect`` (the replacing
   connect cancelled while it closes the old client, FLUSH-1) and a ``Log``; and the
   gated ``Connect`` with two ``Log`` followed by a ``HandOver`` (the held send let
   through in the round its waiter is cancelled, FAIL-3).
"""

from __future__ import annotations

import collections
import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, configuration, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky
from hypothesis import strategies as st

from ._program import (Advance, Cancel, CancelConnect, Connect, Detach, Disconnect, Drop, Fail, HandOver, Log,
                       Program, Query, Release)
from ._findings import Finding, SuiteError, leaves
from ._result import RunResult
from ._runner import run_program
from ._subject import Subject

__all__ = ["programs", "search", "SearchResult"]


LEVELS = ["info", "info", "debug", "warning", "error", "success"]
PROGRESS = [None, None, 0, 12.5, 50, 100]


def _ops(subject: Subject) -> st.SearchStrategy:
    tasks = st.sampled_from([0, 0, 0, 1])  # mostly one task: contention, replacement, flushes
    behaviours = ["gate", "gate", "instant", "fail1", "fail2", "vanish1", "gate_accept", "stall_close"]
    if subject.claims("send_timeout"):
        behaviours += ["slow", "never_accepts"]
    after = st.none()
    if subject.claims("resume"):
        after = st.none() | st.integers(0, 6)
    invalid = st.none()
    if subject.claims("validation"):
        invalid = st.none() | st.sampled_from(["level", "progress", "progress_bool", "task_id", "finished"])
    choices = [
        st.builds(Log, task=tasks, invalid=st.one_of(st.none(), st.none(), invalid)),
        st.builds(Log, task=tasks, level=st.sampled_from(LEVELS), progress=st.sampled_from(PROGRESS)),
        st.builds(Connect, task=tasks, behaviour=st.sampled_from(behaviours), after_seq=after),
        st.builds(Release, sock=st.integers(0, 3)),
        st.builds(Connect, task=tasks, behaviour=st.just("gate")),
        st.builds(Release, sock=st.integers(0, 3)),
        st.builds(Fail, sock=st.integers(0, 3)),
        st.builds(Disconnect, task=tasks),
        st.builds(Disconnect, task=tasks),
        st.builds(Drop, sock=st.integers(0, 3)),
        st.builds(Query, task=st.integers(0, 2)),
        st.builds(Advance, seconds=st.sampled_from([0.5, 6.0])),
        st.builds(Cancel, index=st.integers(0, 3)),
    ]
    if subject.claims("cancellation"):  # what a cancelled connect or hand-over must keep: FAIL-3, FLUSH-1
        choices += [st.builds(HandOver, sock=st.integers(0, 3), index=st.integers(0, 3)),
                    st.builds(CancelConnect, index=st.integers(0, 3))]
    if subject.claims("detach"):
        choices.append(st.builds(Detach, sock=st.integers(0, 3)))
    return st.one_of(*choices)


def _openings(subject: Subject) -> st.SearchStrategy[tuple]:
    """How a program begins: nothing, a backlog then a gated client, a gated client then
    two logs, or (with ``resume``) a resume in progress (see 4. in the module docstring).
    The gated ones make what follows (live logs, failures, a disconnect, a second connect)
    meet a send in progress with messages queued."""
    task = st.sampled_from([0, 0, 0, 1])
    backlog = st.integers(1, 3).flatmap(lambda n: task.map(lambda t: (Log(task=t),) * n + (Connect(task=t, behaviour="gate"),)))
    live = task.map(lambda t: (Connect(task=t, behaviour="gate"), Log(task=t), Log(task=t)))
    openings = [st.just(()), backlog, live]
    if subject.claims("cancellation"):
        # a replacement whose close of the old client stalls, then the replacing connect
        # cancelled in that close: it must not leave its socket attached (FLUSH-1, MEM-3)
        replace = task.map(lambda t: (Connect(task=t, behaviour="stall_close"), Log(task=t),
                                      Connect(task=t, behaviour="gate")))
        openings += [replace, replace.map(lambda ops: ops + (CancelConnect(index=0), Log(task=ops[0].task))),
                     # the live opening's held send let through as its waiter is cancelled (FAIL-3)
                     live.map(lambda ops: ops + (HandOver(sock=0, index=0),))]
    if not subject.claims("resume"):
        return st.one_of(*openings)
    # a resume whose accept waits: a disconnect and new logs may come before it attaches (RES-4)
    resume = task.map(lambda t: (Log(task=t), Log(task=t), Connect(task=t, behaviour="gate_accept", after_seq=2)))
    # ...and the race itself: the task is reset and logged to again before that accept returns
    race = resume.map(lambda ops: ops + (Disconnect(task=ops[0].task), Log(task=ops[0].task)))
    return st.one_of(*openings, resume, race)


def programs(subject: Subject, max_ops: int = 24) -> st.SearchStrategy[Program]:
    ops = st.lists(_ops(subject), min_size=1, max_size=max_ops).map(tuple)
    return st.builds(
        Program,
        max_queue_size=st.integers(1, 3),
        ops=st.tuples(_openings(subject), ops).map(lambda parts: parts[0] + parts[1]),
        send_timeout=st.just(5.0 if subject.claims("send_timeout") else None),
        history_size=st.sampled_from([0, 2, 4]) if subject.claims("resume") else st.just(0),
    )


@dataclass
class SearchResult:
    backend: str
    examples: int = 0  # generated programs run (shrinking not counted)
    steps: int = 0  # operations executed, shrinking included
    findings: list[Finding] = field(default_factory=list)
    coverage: collections.Counter = field(default_factory=collections.Counter)

    @property
    def failure(self) -> RunResult | None:  # the first finding's run, for callers of one failure
        return self.runs[0] if self.runs else None

    runs: list[RunResult] = field(default_factory=list)


MAX_FINDINGS = 40  # distinct counterexamples per backend before the search stops looking


def search(subject: Subject, backend: str, *, examples: int, seed: int, nonstrict: frozenset[str] = frozenset(),
           record: list | None = None, rules: frozenset[str] | None = None,
           preconditions: frozenset[str] = frozenset(), deadline: float | None = None) -> SearchResult:
    """Run ``examples`` generated programs; shrink, record and set aside each new violation.

    After a counterexample is shrunk its signature (rule, kind) is *known*: later runs note
    it without stopping, and the search goes on with a fresh seed of the same sequence for
    the programs still owed, so every rule gets the whole budget (SPEC: PASS means it did).
    Only violations of ``rules`` (default: all) count."""
    result = SearchResult(backend)
    known: set = set()
    rounds = 0
    while result.examples < examples and len(result.findings) < MAX_FINDINGS:
        if deadline is not None and time.perf_counter() > deadline:
            break
        run = _one_round(subject, backend, examples - result.examples, seed * 1_000_003 + rounds, nonstrict,
                         record, rules, frozenset(known), preconditions, result, deadline)
        rounds += 1
        if run is None:
            break
        program_number = result.examples
        for violation in run.violations:
            if violation.signature in known:
                continue
            known.add(violation.signature)
            result.runs.append(run)
            result.findings.append(Finding(violation.rule, violation.kind, violation.message, backend,
                                           f"program #{program_number}", program=run.program, trace=run.trace()))
    return result


class _Stop(Exception):
    """The deadline passed: end this round without a counterexample."""


def _one_round(subject: Subject, backend: str, budget: int, seed: int, nonstrict: frozenset[str],
               record: list | None, rules: frozenset[str] | None, known: frozenset, preconditions: frozenset[str],
               result: SearchResult, deadline: float | None) -> RunResult | None:
    """One hypothesis search of up to ``budget`` programs; the shrunk failing run, or None."""
    last: dict[str, Any] = {}

    @hypothesis_seed(seed)
    @settings(database=None, max_examples=budget, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], print_blob=False)
    @given(programs(subject))
    def one(program: Program) -> None:
        if "run" not in last:
            if deadline is not None and time.perf_counter() > deadline:
                raise _Stop
            result.examples += 1
        run = run_program(subject, program, backend=backend, nonstrict=nonstrict, rules=rules, known=known,
                          preconditions=preconditions)
        result.steps += len(program.ops)
        if record is not None:
            record.append(run.trace())
        result.coverage.update(run.coverage)
        if not run.ok:
            last["run"] = run
            raise AssertionError(str(run.violations[0]))

    try:
        one()
    except _Stop:
        return None
    except (AssertionError, Flaky, BaseExceptionGroup) as exc:
        # Flaky: a failing program did not fail when hypothesis ran it again (an
        # implementation whose interleaving is not repeatable); what was seen stands.
        if "run" not in last or any(isinstance(e, SuiteError) for e in leaves(exc)):
            raise exc
        # The last failing run hypothesis executed is the shrunk one; re-run it to be sure.
        shrunk = last["run"]
        again = run_program(subject, shrunk.program, backend=backend, nonstrict=nonstrict, rules=rules, known=known,
                            preconditions=preconditions)
        return again if not again.ok else shrunk  # (flaky: report what was seen)
    return None


@contextlib.contextmanager
def private_hypothesis_home() -> Iterator[None]:
    """Hypothesis keeps caches in ``./.hypothesis`` even with no example database; a command
    (``tasktail conform``, ``tasktail bench``) writes nothing into the current directory but
    what it is asked to, so they go to a temporary directory, removed afterwards."""
    before = getattr(configuration, "__hypothesis_home_directory", None)
    with tempfile.TemporaryDirectory(prefix="tasktail-hypothesis-") as home:
        configuration.set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(before)
