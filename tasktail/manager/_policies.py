"""Overflow policies: what a full queue does with one more message (SPEC ``CAP-*``).

A policy is a strategy object with one method, ``choose_victim(queue, incoming)``, called
only when the task's queue already holds ``max_queue_size`` messages. It returns the index
in ``queue`` of the message to evict, or ``None`` to reject ``incoming`` itself. The core
enforces the rules a policy may not bend (``CAP-2``): a ``finished`` message is never
evicted nor rejected; a policy that tries gets a :class:`PolicyError`. Policies hold no
per-task state, so one instance may serve every task and every manager.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._errors import PolicyError
from ._message import LogMessage, show

__all__ = ["OverflowPolicy", "DropOldest", "RejectNewest", "CoalesceProgress", "checked_victim"]


class OverflowPolicy(Protocol):
    name: str

    def choose_victim(self, queue: Sequence[LogMessage], incoming: LogMessage) -> int | None:
        """Index of the queued message to evict, or ``None`` to reject ``incoming``."""


class DropOldest:
    """Evict the oldest queued message: a late client sees the most recent lines (default)."""

    name = "drop-oldest"

    def choose_victim(self, queue: Sequence[LogMessage], incoming: LogMessage) -> int | None:
        return 0

    def __repr__(self) -> str:
        return "DropOldest()"


class RejectNewest:
    """Keep the oldest lines and refuse new ones, except a ``finished`` message, which
    takes the place of the newest queued line so the client still learns the outcome."""

    name = "reject-newest"

    def choose_victim(self, queue: Sequence[LogMessage], incoming: LogMessage) -> int | None:
        return len(queue) - 1 if incoming.finished else None

    def __repr__(self) -> str:
        return "RejectNewest()"


class CoalesceProgress:
    """A progress-only update replaces a progress-only update at the tail of the queue
    (consecutive progress ticks collapse into the newest); anything else evicts the oldest."""

    name = "coalesce-progress"

    def choose_victim(self, queue: Sequence[LogMessage], incoming: LogMessage) -> int | None:
        if incoming.progress_only and queue[-1].progress_only:
            return len(queue) - 1
        return 0

    def __repr__(self) -> str:
        return "CoalesceProgress()"


def checked_victim(policy: OverflowPolicy, queue: Sequence[LogMessage], incoming: LogMessage) -> int | None:
    """Ask ``policy`` which message gives way (an index in ``queue``, or None: ``incoming``);
    raise PolicyError, having changed nothing, if its answer breaks the contract (CAP-2).
    The reference's core and the Redis backend's producers both ask through this."""
    victim = policy.choose_victim(queue, incoming)
    if victim is None:
        if incoming.finished:
            raise PolicyError(policy, "rejected a finished message")
        return None
    if type(victim) is not int:
        raise PolicyError(policy, f"returned {show(victim)} of type {type(victim).__name__}, not None or an int")
    if not -len(queue) <= victim < len(queue):
        raise PolicyError(policy, f"chose index {show(victim)} in a queue of {len(queue)}")
    if queue[victim].finished:
        raise PolicyError(policy, "chose to evict a finished message")
    return victim
