"""Frozen snapshots that tests and benchmarks read, and the documented close codes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CloseCode", "ManagerStatistics", "TaskStatistics"]


class CloseCode(enum.IntEnum):
    """WebSocket close codes the manager and its adapter use (SPEC ``CLOSE-1``)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server is shutting down the endpoint
    POLICY_VIOLATION = 1008  # bad task id or after_seq from the client
    MESSAGE_TOO_BIG = 1009  # a client frame over the adapter's limit
    SEND_FAILED = 1011  # a send raised; the socket is probably gone already
    TRY_AGAIN_LATER = 1013  # connect refused: max_tasks tasks exist, all with clients
    REPLACED = 4000  # a newer connection took over this task: do not reconnect
    SEND_TIMEOUT = 4001  # the client read too slowly; it may reconnect with after_seq
    SERVER_DISCONNECT = 4002  # disconnect(task_id), TTL expiry or max_tasks eviction


@dataclass(frozen=True, slots=True)
class ManagerStatistics:
    tasks: int
    connections: int
    queued: int  # waiting to be sent, in flight included
    logged: int  # send_log calls that produced a message
    dropped: int  # evicted or rejected by the overflow policy
    delivered: int
    failed_sends: int
    discarded: int  # thrown away with a task by disconnect, expiry or eviction
    expired_tasks: int
    lock_waiters: int


@dataclass(frozen=True, slots=True)
class TaskStatistics:
    task_id: str
    known: bool
    connected: bool = False
    queued: int = 0
    dropped: int = 0
    delivered: int = 0
    failed_sends: int = 0
    last_seq: int = 0
    sent_through: int = 0
    history: int = 0
    gap_ranges: int = 0
    finished: bool = False
    lock_waiters: int = 0
    epoch: str = ""  # the incarnation (RES-4); "" for an unknown task
