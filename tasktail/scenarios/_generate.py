"""Hypothesis strategies for programs, and the search for a failing one.

Theory of operation:

1. Programs are short lists of operations over two tasks and a small queue cap, so caps,
   replacements during a flush and contention on one task's lock happen often. Which gated
   send proceeds next (``Release``/``Fail``) is drawn like any other operation, so a
   failing schedule shrinks to the few steps that matter.
2. Only operations the implementation can take are drawn: invalid inputs need
   "validation", resume points "resume", cancellation "cancellation", slow and never
   accepting sockets "send_timeout" (a seed-only manager has no timeout to get out).
3. Each example is one ``run_program`` (a fresh event loop) per backend; hypothesis runs
   with no database, a fixed seed and no deadline, so a seed reproduces a search.
4. A program is an *opening* (``_openings``) followed by the drawn operations. There are
   three openings, on one task: none (the drawn operations alone, as before openings
   existed); a backlog of one to three ``Log`` then a ``Connect`` whose sends wait at a
   gate, so the connect is held mid-flush; or a gated ``Connect`` followed by two ``Log``,
   so live sends queue behind a stalled one. With the last two, whatever is drawn next
   (live logs, failures, a disconnect, a second connect) meets a send in progress.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from ._program import (Advance, Cancel, Connect, Detach, Disconnect, Drop, Fail, Log, Program, Query,
                       Release)
from ._result import RunResult
from ._runner import run_program
from ._subject import Subject

__all__ = ["programs", "search", "SearchResult"]


def _ops(subject: Subject) -> st.SearchStrategy:
    tasks = st.sampled_from([0, 0, 0, 1])  # mostly one task: contention, replacement, flushes
    behaviours = ["gate", "gate", "instant", "fail1", "fail2", "vanish1"]
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
        st.builds(Log, task=tasks),
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
    ]
    if subject.claims("detach"):
        choices.append(st.builds(Detach, sock=st.integers(0, 3)))
    if subject.claims("cancellation"):
        choices.append(st.builds(Cancel, index=st.integers(0, 3)))
    return st.one_of(*choices)


def _openings(subject: Subject) -> st.SearchStrategy[tuple]:
    """How a program begins: nothing, a backlog then a gated client, or a gated client then
    two logs (see 4. in the module docstring). The last two make what follows (live logs,
    failures, a disconnect, a second connect) meet a send in progress with messages queued."""
    task = st.sampled_from([0, 0, 0, 1])
    backlog = st.integers(1, 3).flatmap(lambda n: task.map(lambda t: (Log(task=t),) * n + (Connect(task=t, behaviour="gate"),)))
    live = task.map(lambda t: (Connect(task=t, behaviour="gate"), Log(task=t), Log(task=t)))
    return st.one_of(st.just(()), backlog, live)


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
    examples: int = 0
    steps: int = 0  # operations executed, shrinking included
    first_failure_at: int | None = None  # programs run until the first one failed, that one included
    failure: RunResult | None = None
    coverage: collections.Counter = field(default_factory=collections.Counter)


def search(subject: Subject, backend: str, *, examples: int, seed: int, nonstrict: frozenset[str] = frozenset(),
           record: list | None = None, rules: frozenset[str] | None = None) -> SearchResult:
    """Run up to ``examples`` generated programs; shrink and return the first failure.

    Only violations of ``rules`` (default: all) count: looking for one rule's
    counterexample does not stop at another rule's."""
    result = SearchResult(backend)
    last: dict[str, Any] = {}

    @hypothesis_seed(seed)
    @settings(database=None, max_examples=examples, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], print_blob=False)
    @given(programs(subject))
    def one(program: Program) -> None:
        run = run_program(subject, program, backend=backend, nonstrict=nonstrict, rules=rules)
        result.examples += 1
        result.steps += len(program.ops)
        if record is not None:
            record.append(run.trace())
        result.coverage.update(run.coverage)
        if not run.ok:
            if result.first_failure_at is None:
                result.first_failure_at = result.examples
            last["run"] = run
            raise AssertionError(str(run.violations[0]))

    try:
        one()
    except AssertionError:
        # The last failing run hypothesis executed is the shrunk one; re-run it to be sure.
        shrunk = last["run"]
        result.failure = run_program(subject, shrunk.program, backend=backend, nonstrict=nonstrict, rules=rules)
        if result.failure.ok:  # flaky: report what we saw
            result.failure = shrunk
    return result
