"""The operation language: what a scenario does, as plain data (JSON in, Python out).

A :class:`Program` is a queue cap plus a list of operations. Tasks are named ``t0``, ``t1``…;
sockets are numbered in the order ``Connect`` operations create them. Operations that refer
to a socket or a pending call by number are resolved modulo what exists when they run
(nothing there: a no-op), so every list of operations is a valid program and shrinking
never produces an invalid one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "Advance", "Cancel", "CancelConnect", "Connect", "Detach", "Disconnect", "Drop", "Fail", "HandOver", "Log", "OPS",
    "Program", "Query", "Release", "BEHAVIOURS", "INVALID",
]

#: socket behaviours a Connect may ask for: "gate_accept" waits in accept() and
#: "stall_close" in close() until a Release (or settling) lets it go
BEHAVIOURS = ("instant", "gate", "fail1", "fail2", "vanish1", "slow", "never_accepts", "gate_accept", "stall_close")
#: the bad inputs a Log may carry (only generated when "validation" is claimed)
INVALID = ("level", "progress", "progress_bool", "task_id", "finished")


@dataclass(frozen=True)
class Op:
    name: ClassVar[str] = ""
    background: ClassVar[bool] = False  # runs as its own task, concurrently with what follows

    def to_json(self) -> dict[str, Any]:
        return {"op": self.name, **{k: v for k, v in asdict(self).items()}}

    def __str__(self) -> str:
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                         if getattr(self, f.name) != f.default)
        return f"{type(self).__name__}({args})"


@dataclass(frozen=True)
class Log(Op):
    """``send_log(task, level, <unique text>, progress)``; ``invalid`` names a bad argument."""

    name: ClassVar[str] = "log"
    background: ClassVar[bool] = True
    task: int = 0
    invalid: str | None = None
    finished: bool = False
    level: str = "info"
    progress: float | None = None


@dataclass(frozen=True)
class Connect(Op):
    """``connect(<new socket with behaviour>, task[, after_seq])``."""

    name: ClassVar[str] = "connect"
    background: ClassVar[bool] = True
    task: int = 0
    behaviour: str = "instant"
    after_seq: int | None = None


@dataclass(frozen=True)
class Disconnect(Op):
    name: ClassVar[str] = "disconnect"
    task: int = 0


@dataclass(frozen=True)
class Detach(Op):
    """``detach(task of socket, socket)`` (only when "detach" is claimed)."""

    name: ClassVar[str] = "detach"
    sock: int = 0


@dataclass(frozen=True)
class Drop(Op):
    """The client of socket ``sock`` vanishes (a dropped TCP connection)."""

    name: ClassVar[str] = "drop"
    sock: int = 0


@dataclass(frozen=True)
class Release(Op):
    """Let the oldest pending send through the gate of socket ``sock``."""

    name: ClassVar[str] = "release"
    sock: int = 0


@dataclass(frozen=True)
class Fail(Op):
    """Make the oldest pending send on socket ``sock``'s gate raise ``RuntimeError``."""

    name: ClassVar[str] = "fail"
    sock: int = 0


@dataclass(frozen=True)
class Cancel(Op):
    """Cancel the ``index``-th ``send_log`` still in progress (only with "cancellation")."""

    name: ClassVar[str] = "cancel"
    index: int = 0


@dataclass(frozen=True)
class HandOver(Op):
    """In one round: let the oldest pending send on socket ``sock`` through, and cancel the
    ``index``-th ``send_log`` still in progress (a waiter cancelled as the lock reaches it)."""

    name: ClassVar[str] = "hand_over"
    sock: int = 0
    index: int = 0


@dataclass(frozen=True)
class CancelConnect(Op):
    """Cancel the ``index``-th ``connect`` still in progress."""

    name: ClassVar[str] = "cancel_connect"
    index: int = 0


@dataclass(frozen=True)
class Advance(Op):
    """Let ``seconds`` of virtual time pass."""

    name: ClassVar[str] = "advance"
    seconds: float = 1.0


@dataclass(frozen=True)
class Query(Op):
    """``get_connection_status`` and ``get_queued_message_count`` of a task."""

    name: ClassVar[str] = "query"
    task: int = 0


OPS: dict[str, type[Op]] = {cls.name: cls for cls in (Log, Connect, Disconnect, Detach, Drop, Release,
                                                       Fail, Cancel, HandOver, CancelConnect, Advance, Query)}


@dataclass(frozen=True)
class Program:
    max_queue_size: int = 3
    ops: tuple[Op, ...] = field(default_factory=tuple)
    send_timeout: float | None = None  # passed only when "send_timeout" is claimed
    history_size: int = 0  # passed only when "resume" is claimed

    def to_json(self) -> dict[str, Any]:
        return {"max_queue_size": self.max_queue_size, "send_timeout": self.send_timeout,
                "history_size": self.history_size, "ops": [op.to_json() for op in self.ops]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Program:
        ops = []
        for raw in data["ops"]:
            raw = dict(raw)
            kind = OPS[raw.pop("op")]
            ops.append(kind(**raw))
        return cls(max_queue_size=data["max_queue_size"], ops=tuple(ops),
                   send_timeout=data.get("send_timeout"), history_size=data.get("history_size", 0))

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    def to_python(self, factory: str = "tasktail.scenarios:reference_factory",
                  backend: str = "asyncio", capabilities: list[str] | None = None) -> str:
        """A short runnable program that replays this scenario and prints its history."""
        module, _, attr = factory.partition(":")
        lines = [
            "import anyio",
            f"from {module} import {attr.split('.')[0]} as factory_root",
            "from tasktail.scenarios import Program, run_program",
            "from tasktail.scenarios._program import *  # Log, Connect, Release, ...",
            "",
            f"factory = factory_root{''.join('.' + p for p in attr.split('.')[1:])}",
            f"program = Program(max_queue_size={self.max_queue_size}, send_timeout={self.send_timeout!r},"
            f" history_size={self.history_size!r}, ops=(",
        ]
        lines += [f"    {op},"for op in self.ops]
        lines += [
            "))",
            f"result = run_program(factory, program, backend={backend!r}, capabilities={capabilities!r})",
            "print(result.describe())",
        ]
        return "\n".join(lines) + "\n"
