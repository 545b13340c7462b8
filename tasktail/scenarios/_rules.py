"""Layer 1: short scripted checks, one or more per SPEC rule, run on each backend.

Theory of operation:

1. A check is an async function of a :class:`Harness` registered with ``@check(rule)``; its
   name (``conform_...``) is what SPEC.md lists. It fails by raising :class:`Failed` with
   what it saw, or returns :class:`NonStrict` for a documented allowed alternative.
2. Checks build managers through the harness, so only claimed config is passed, and read
   frames by the message texts they generate (seed-only implementations work as they are).
   Parts of a rule that need a capability run only when it is claimed.
3. Every check runs under a virtual-time ``fail_after``: a hang is a failure, not a hang.
4. The checks live by SPEC section in ``_rules_ordering``, ``_rules_caps``,
   ``_rules_failures``, ``_rules_validation`` and ``_rules_threads``. :data:`CHECKS` lists
   the checks of core rules first, then those of extension rules, each in import order
   (the order reports and SPEC.md's tables have always used).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from tasktail.fakes import FakeWebSocket, Gate

from ._subject import CORE_RULES, Item, Subject, call, parse_frame, seed_entries

__all__ = ["CHECKS", "Check", "Failed", "Harness", "NonStrict", "check"]


class Failed(AssertionError):
    """A scripted check saw the rule broken."""


@dataclass(frozen=True)
class NonStrict:
    why: str


@dataclass(frozen=True)
class Check:
    rule: str
    name: str
    fn: Callable[[Harness], Awaitable[NonStrict | None]]
    doc: str


CHECKS: list[Check] = []


def check(rule: str) -> Callable:
    def register(fn: Callable) -> Callable:
        CHECKS.append(Check(rule, fn.__name__, fn, (fn.__doc__ or "").strip()))
        return fn
    return register


def expect(condition: object, message: str) -> None:
    if not condition:
        raise Failed(message)


class Harness:
    def __init__(self, subject: Subject) -> None:
        self.subject = subject
        self.caps = subject.capabilities
        self.manager: Any = None

    def claims(self, *caps: str) -> bool:
        return self.subject.claims(*caps)

    def build(self, cap: int = 5, **extra: Any) -> Any:
        self.manager = self.subject.build(cap, **extra)
        return self.manager

    def socket(self, behaviour: Any = None) -> FakeWebSocket:
        return FakeWebSocket(behaviour, strict=False)

    def items(self, ws: FakeWebSocket) -> list[Item]:
        return [parse_frame(f.payload, self.claims("seq")) for f in ws.frames]

    def texts(self, ws: FakeWebSocket) -> list[str]:
        return [i.text for i in self.items(ws) if i.kind == "log"]

    async def log(self, task: str, text: str, **kwargs: Any) -> Any:
        return await call(self.manager.send_log, task, "info", text, **kwargs)

    async def log_numbered(self, task: str, count: int, first: int = 0) -> None:
        """send_log ``task#first`` .. ``task#(first + count - 1)``, one after another."""
        for n in range(first, first + count):
            await self.log(task, f"{task}#{n}")

    async def connect(self, ws: FakeWebSocket, task: str, **kwargs: Any) -> Any:
        return await call(self.manager.connect, ws, task, **kwargs)

    async def gated_client(self, task: str) -> tuple[Gate, FakeWebSocket]:
        """A client of ``task``, connected, whose sends wait at the returned gate."""
        gate = Gate()
        ws = self.socket(gate)
        await self.connect(ws, task)
        return gate, ws

    @asynccontextmanager
    async def connect_held_at_first_send(
            self, task: str) -> AsyncIterator[tuple[anyio.abc.TaskGroup, Gate, FakeWebSocket]]:
        """connect a gated client to ``task`` in the background; the body runs once connect
        holds the task (its first flushed send waits at the gate) and the group ends with it."""
        gate = Gate()
        ws = self.socket(gate)
        async with anyio.create_task_group() as group:
            group.start_soon(self.connect, ws, task)
            await gate.wait_pending(1)
            yield group, gate, ws

    async def disconnect(self, task: str) -> Any:
        return await call(self.manager.disconnect, task)

    def status(self, task: str) -> tuple[bool, int]:
        return self.manager.get_connection_status(task), self.manager.get_queued_message_count(task)

    def expect_gone(self, task: str, when: str) -> None:
        status, count = self.status(task)
        left = seed_entries(self.manager, task)
        expect(not status and count == 0 and not left,
               f"after {when}: connected={status}, queued={count}, still in {left}")


async def wait_blocked() -> None:
    await anyio.wait_all_tasks_blocked()


# Importing the section modules registers their checks, in this order (not alphabetical).
from . import _rules_ordering  # noqa: E402,F401,I001
from . import _rules_caps  # noqa: E402,F401,I001
from . import _rules_failures  # noqa: E402,F401,I001
from . import _rules_validation  # noqa: E402,F401,I001
from . import _rules_threads  # noqa: E402,F401,I001
from . import _rules_reliability  # noqa: E402,F401,I001

# Core before extension, import order within each (sort is stable); see 4. above.
CHECKS.sort(key=lambda c: c.rule not in CORE_RULES)
