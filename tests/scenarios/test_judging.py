"""How the generated programs' checkers judge: each test is a program that once drew a
false verdict on the reference (or missed a real bug elsewhere), kept as a regression.

Programs run on both backends with every capability the reference claims.
"""

from __future__ import annotations

import pytest

from tasktail.idioms import IDIOMS
from tasktail.scenarios import (ALL_CAPABILITIES, CancelConnect, Connect, Detach, Disconnect, Fail, Log, Program,
                                Release, check_connection_manager, reference_factory, run_program)
from tasktail.scenarios._subject import UsageError

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])
EVERY = sorted(ALL_CAPABILITIES)


def _reference(program: Program, backend: str) -> list[str]:
    result = run_program(reference_factory, program, backend=backend, capabilities=EVERY)
    return [f"{v.rule}: {v.message}" for v in result.violations]


FALSE_VERDICTS = {
    # a connect still accepting when its task was disconnected attaches to the fresh task:
    # that task is the connect's, not a resurrected one (was DISC-2 "came back")
    "adopted connect starts the fresh task": Program(max_queue_size=1, send_timeout=5.0, history_size=0, ops=(
        Log(), Log(), Connect(behaviour="gate_accept", after_seq=2), Disconnect())),
    # connect #1 attached to the old task before the disconnect ended it (its handle says
    # 4002); #2 then started the fresh task: #1 was ended, not replaced (was REPL-1)
    "a connect the disconnect ended is not replaced later": Program(
        max_queue_size=1, send_timeout=5.0, history_size=0, ops=(
            Connect(behaviour="stall_close"), Connect(behaviour="gate"), Connect(behaviour="gate"), Disconnect())),
    "an adopted connect whose send fails leaves its fresh task": Program(
        max_queue_size=1, send_timeout=5.0, history_size=0, ops=(
            Log(), Connect(behaviour="gate"), Connect(behaviour="fail1", after_seq=0), Disconnect())),
    # the client said it had seq 1 (after_seq=1), then its connect was cancelled: seq 1 is
    # not owed to the next client (was FAIL-1 "lost", then GAP-1 "neither delivered nor announced")
    "a cancelled resume's claim stands": Program(max_queue_size=2, send_timeout=5.0, history_size=0, ops=(
        Connect(behaviour="gate"), Log(), Log(), Fail(), Connect(behaviour="gate", after_seq=1), CancelConnect())),
    # detach of a socket whose connect is still running: detach() returned True, so the
    # manager had attached it; the next connect does not replace it (was REPL-1)
    "detach during the socket's own connect": Program(max_queue_size=1, send_timeout=5.0, history_size=0, ops=(
        Connect(task=1, behaviour="gate"), Log(task=1), Log(task=1), Log(), Log(), Connect(behaviour="stall_close"),
        Connect(behaviour="gate"), Detach(sock=2))),
    # the replacing connect was cancelled before it took over: the old client rightly got
    # the line logged meanwhile (was LOCK-4)
    "a cancelled connect replaces nothing": Program(max_queue_size=1, send_timeout=5.0, history_size=0, ops=(
        Connect(behaviour="gate"), Log(), Log(), Connect(behaviour="gate"), Log(), CancelConnect())),
    # socket 0 resumed after seq 2, socket 2 replayed from 0: t0#3 reaching socket 0 before
    # t0#2 reached socket 2 is no reorder (was ORD-2)
    "a resumed client had what it acknowledged": Program(max_queue_size=2, send_timeout=5.0, history_size=2, ops=(
        Log(), Log(), Connect(behaviour="gate_accept", after_seq=2), Log(), Connect(behaviour="fail1"), Release(),
        Connect(behaviour="gate", after_seq=0))),
}


@BACKENDS
@pytest.mark.parametrize("name", list(FALSE_VERDICTS))
def test_reference_program_draws_no_false_verdict(name, backend):
    assert _reference(FALSE_VERDICTS[name], backend) == []


def test_a_writer_task_that_holds_every_line_breaks_the_cap():
    """The writer task's own asyncio.Queue is unbounded: four lines wait behind a stalled
    send (the manager's queue says nothing) and all four arrive later: CAP-1 and CAP-3."""
    program = Program(max_queue_size=1, send_timeout=None, history_size=0, ops=(
        Connect(behaviour="gate"), Log(), Log(), Log(), Log()))
    result = run_program(IDIOMS["writer_task_per_connection"].factory, program, backend="asyncio", capabilities=[])
    assert {(v.rule, v.kind) for v in result.violations} >= {("CAP-1", "over cap")}
    correct = run_program(IDIOMS["writer_task_per_connection"].fixed, program, backend="asyncio", capabilities=[])
    assert correct.violations == []


@BACKENDS
def test_the_reference_behind_a_stalled_client_holds_no_more_than_the_cap(backend):
    program = Program(max_queue_size=1, send_timeout=None, history_size=0, ops=(
        Connect(behaviour="gate"), Log(), Log(), Log(), Log()))
    assert _reference(program, backend) == []


def _coalescing(**config):
    from tasktail import CoalesceProgress, ConnectionManager

    config.setdefault("overflow", CoalesceProgress())
    return ConnectionManager(**config)


_coalescing.tasktail_capabilities = reference_factory.tasktail_capabilities


def _declared(**config):
    return _coalescing(**config)


_declared.tasktail_capabilities = reference_factory.tasktail_capabilities
_declared.tasktail_overflow = "coalesce-progress"

#: cap 2: a plain line, then two progress ticks; the second replaces the first (CAP-5)
COALESCED = Program(max_queue_size=2, send_timeout=5.0, history_size=0, ops=(
    Log(), Log(progress=10.0), Log(progress=20.0), Connect(behaviour="instant")))


@BACKENDS
def test_a_declared_overflow_policy_judges_cap3_under_it(backend):
    declared = run_program(_declared, COALESCED, backend=backend, capabilities=EVERY)
    assert declared.violations == []
    # undeclared, the coalesced (and announced) progress tick reads as a drop-oldest loss
    undeclared = run_program(_coalescing, COALESCED, backend=backend, capabilities=EVERY)
    assert [(v.rule, v.kind) for v in undeclared.violations] == [("CAP-3", "lost")]


def test_a_declared_policy_is_reported_non_strict():
    report = check_connection_manager(_declared, rules="CAP-3", examples=150)
    assert report.outcomes["CAP-3"].status == "NON-STRICT", report.table()
    assert "coalesce-progress" in report.outcomes["CAP-3"].detail


def test_an_unknown_declared_policy_is_a_usage_error():
    def factory(**config):
        return reference_factory(**config)

    factory.tasktail_overflow = "drop-newest"
    with pytest.raises(UsageError, match="tasktail_overflow='drop-newest'.*coalesce-progress"):
        check_connection_manager(factory, rules="CAP-3", examples=1)
