"""Generated programs over the wire: random step sequences in the vectors' vocabulary, the
expected outcome from the reference in-process (``play_sync``), judged by the same judge.

A program is a vector made on the fly (``program-SEED-N``): a setup drawn from a few, and
8 to 24 steps drawn with a seeded ``random.Random`` so that every step is meaningful where it
stands (a ``release`` names a gated client, an ``accept`` a held one). Values are valid:
what a bad value does is the corpus's (VAL-1, ADAPT-2). A client is not dropped after the
application may have ended its connection (see ``ended`` in :func:`make_program`). Clock steps are 1.5 or 6 seconds
with a send timeout of 5, so no deadline falls on an advance exactly (real time also runs
on a wire port's loop). Its rules are the ones its steps exercise (:func:`rules_of`); a
program that FAILs cites instead the rules its differences speak about (:func:`blame`), so
one wrong close code does not fail every rule the program happened to touch.
"""

from __future__ import annotations

import random
import re
from typing import Any

import anyio
import anyio.to_thread

from tasktail.vectors._corpus import VERSION, Verdict, reference_factory
from tasktail.vectors._judge import expectation
from tasktail.vectors._play import play_sync

from ._runner import Target, run_vector_wire, unsupported_reason

__all__ = ["blame", "make_program", "rules_of", "run_programs"]

SETUPS = (
    {"max_queue_size": 3, "history_size": 0, "send_timeout": 5.0, "task_ttl": 3600.0},
    {"max_queue_size": 2, "history_size": 4, "send_timeout": 5.0, "task_ttl": 3600.0},
    {"max_queue_size": 4, "history_size": 2, "send_timeout": 5.0, "task_ttl": 3600.0, "overflow": "reject-newest"},
    {"max_queue_size": 2, "history_size": 0, "send_timeout": 5.0, "task_ttl": 3600.0, "overflow": "coalesce-progress"},
)
LEVELS = ("debug", "info", "warning", "error", "success")


def make_program(seed: int, index: int) -> dict[str, Any]:
    """Program ``index`` of ``seed``: setup and steps (no ``expect`` yet)."""
    rng = random.Random(f"{seed}:{index}")
    setup = dict(rng.choice(SETUPS))
    tasks = ("t", "u")
    steps: list[dict[str, Any]] = []
    clients: dict[str, tuple[str, str]] = {}  # name -> (task, behaviour)
    #: clients whose connection the application may have ended (detach, disconnect, a newer
    #: client): an adapter closes those at once (ADAPT-1), in-process nobody does, so a drop
    #: after that would be judged on which close came first, not on the port
    ended: set[str] = set()
    held_accept: list[str] = []
    finished: set[str] = set()
    for _ in range(rng.randint(8, 24)):
        kind = rng.choices(("log", "connect", "release", "fail", "drop", "detach", "disconnect", "query",
                            "advance", "accept"), weights=(10, 4, 4, 1, 1, 1, 1, 2, 1, 1))[0]
        task = rng.choice(tasks)
        gated = [n for n, (_, b) in clients.items() if b == "gate"]
        if kind == "log" and task not in finished:
            step: dict[str, Any] = {"op": "log", "task": task, "level": rng.choice(LEVELS),
                                    "message": f"m{len(steps) + 1}"}
            roll = rng.random()
            if roll < 0.3:
                step["progress"] = rng.choice((0, 10, 50, 100, 12.5))
            if roll > 0.95:
                step["finished"] = True
                finished.add(task)
            steps.append(step)
        elif kind == "connect" and len(clients) < 6:
            name = f"c{len(clients) + 1}"
            behaviour = rng.choices(("instant", "gate", "never_read", "fail_first_send", "hold_accept"),
                                    weights=(5, 3, 1, 1, 1))[0]
            step = {"op": "connect", "client": name, "task": task}
            # (a refused resume point is accepted and closed by the adapter: not with a held accept)
            if rng.random() < 0.2 and setup["history_size"] and behaviour not in ("hold_accept", "fail_accept"):
                step["after_seq"] = rng.randint(0, 2)
            step["behaviour"] = behaviour
            ended.update(n for n, (t, _) in clients.items() if t == task)
            clients[name] = (task, behaviour)
            if behaviour == "hold_accept":
                held_accept.append(name)
            steps.append(step)
        elif kind == "release" and gated:
            steps.append({"op": "release", "client": rng.choice(gated), "n": rng.randint(1, 2)})
        elif kind == "fail" and gated:
            steps.append({"op": "fail", "client": rng.choice(gated)})
        elif kind == "drop" and set(clients) - ended:
            steps.append({"op": "drop", "client": rng.choice(sorted(set(clients) - ended))})
        elif kind == "detach" and clients:
            name = rng.choice(sorted(clients))
            ended.add(name)
            steps.append({"op": "detach", "client": name})
        elif kind == "disconnect":
            steps.append({"op": "disconnect", "task": task})
            finished.discard(task)
            ended.update(n for n, (t, _) in clients.items() if t == task)
        elif kind == "query":
            steps.append({"op": "query", "task": task})
        elif kind == "advance":
            steps.append({"op": "advance", "seconds": rng.choice((1.5, 6.0))})
        elif kind == "accept" and held_accept:
            steps.append({"op": "accept", "client": held_accept.pop(0)})
    steps.append({"op": "query", "task": "t"})
    return {"version": VERSION, "id": f"program-{seed}-{index}", "rules": [], "profile": "full",
            "description": f"generated program {index} of seed {seed}, checked against the reference's outcome",
            "setup": setup, "steps": steps}


def rules_of(program: dict[str, Any]) -> list[str]:
    """The SPEC rules a program's steps exercise (what a FAIL of it speaks about)."""
    ops = [s["op"] for s in program["steps"]]
    behaviours = {s.get("behaviour") for s in program["steps"] if s["op"] == "connect"}
    rules = ["ORD-1", "ORD-2", "FLUSH-1", "QRY-1"]
    conditional = (("REPL-1", ops.count("connect") > 1), ("LOCK-1", "gate" in behaviours),
                   ("FAIL-1", bool({"fail", "drop"} & set(ops)) or bool({"fail_first_send", "never_read"} & behaviours)),
                   ("DISC-1", "disconnect" in ops), ("REPL-2", "detach" in ops), ("CAP-1", "log" in ops),
                   ("RES-1", any("after_seq" in s for s in program["steps"])))
    return rules + [rule for rule, present in conditional if present]


#: a close code the reference expected -> the rule that gives it
_CLOSE_RULES = {4000: "REPL-1", 4001: "FAIL-1", 4002: "DISC-1", 1011: "FAIL-1", 1008: "ADAPT-2", 1013: "MEM-4"}
#: a step whose result differed -> the rule about that result
_STEP_RULES = {"log": "ORD-1", "connect": "FLUSH-1", "query": "QRY-1", "detach": "REPL-2", "disconnect": "DISC-1"}
_CLOSE = re.compile(r"^\w+: close expected (\w+), got")
_STEP = re.compile(r"^step (\d+): ")


def blame(program: dict[str, Any], problems: list[str]) -> list[str]:
    """The rules a failed program's differences speak about (not every rule it exercised):
    a close code by the rule that gives the expected one (and CLOSE-1), a frame by ORD-2, a
    step's result by the rule about that result."""
    rules: list[str] = []
    for problem in problems:
        if close := _CLOSE.match(problem):
            expected = close.group(1)
            found = ["CLOSE-1"] + ([_CLOSE_RULES[int(expected)]] if expected.isdigit() and int(expected)
                                   in _CLOSE_RULES else [])
        elif step := _STEP.match(problem):
            found = [_STEP_RULES.get(program["steps"][int(step.group(1)) - 1]["op"], "ORD-2")]
        elif ": accepted expected" in problem:
            found = ["FLUSH-3"]
        else:  # a frame, a count, a bounded wait that ran out
            found = ["ORD-2"]
        rules += [r for r in found if r not in rules]
    return rules or rules_of(program)


async def run_programs(target: Target, count: int, *, seed: int = 0) -> list[Verdict]:
    """``count`` generated programs on ``target``; a program the port cannot play is
    UNSUPPORTED, like a vector."""
    verdicts = []
    for index in range(count):
        program = make_program(seed, index)
        program["rules"] = rules_of(program)
        if unsupported_reason(program, target.capabilities) is None:
            outcome = await anyio.to_thread.run_sync(play_sync, program, reference_factory)
            program["expect"] = expectation(outcome)
        else:
            program["expect"] = {"clients": {}, "steps": [None] * len(program["steps"])}
        verdict = await run_vector_wire(program, target)
        if verdict.grade == "FAIL":
            verdict.rules = blame(program, verdict.problems)
        verdicts.append(verdict)
    return verdicts
