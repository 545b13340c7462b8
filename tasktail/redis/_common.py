"""What the async producer, the sync producer and the manager share: keys, argument
encoding, the validation (the reference's own ``check_*`` functions), errors and backoff."""

from __future__ import annotations

import math
import random
import secrets
from urllib.parse import quote, urlsplit, urlunsplit

from ..manager._errors import TaskFinishedError, TasktailError
from ..manager._message import (
    LEVELS,
    LogMessage,
    check_finished,
    check_level,
    check_message,
    check_progress,
    check_task_id,
    show,
)
from ..manager._policies import CoalesceProgress, DropOldest, RejectNewest, checked_victim
from ..manager._manager import _check_number

__all__ = ["RedisUnavailableError", "Keys", "stats_key", "Settings", "shown_url", "validated", "append_args",
           "message_from", "result_message", "backoff_delays", "new_epoch", "check_overflow", "choose", "full_queue"]


class RedisUnavailableError(TasktailError, ConnectionError):
    """Redis did not answer within ``unavailable_timeout`` seconds (SPEC ``RDS-5``).

    Raised by ``send_log`` of the producers and of the Redis manager. The message was not
    logged, unless Redis ran it and only the reply was lost (a retry within the bound is
    recognised by its token and not logged twice; see ``RDS-1``, ``RDS-5``)."""

    def __init__(self, what: str, waited: float, cause: BaseException | None) -> None:
        how = f"got no answer within {waited:.1f} s" if waited else "failed at once"  # 0: the first try, no retry
        super().__init__(f"Redis unavailable: {what} {how} "
                         f"({type(cause).__name__ if cause else 'timeout'}: {cause}); nothing was logged, "
                         "unless Redis ran the call just before the connection dropped")
        self.waited = waited


def shown_url(url: str) -> str:
    """``url`` for an error message: a password in it is never shown."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"{parts.username}:***@" if parts.username else ":***@") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def new_epoch() -> str:
    """A fresh incarnation id: 64 random bits, unique across processes and restarts."""
    return "r" + secrets.token_hex(8)


class Keys:
    """The keys of one task: one hash tag, so a cluster keeps them on one node."""

    __slots__ = ("meta", "log", "owner", "removed", "stats")

    def __init__(self, prefix: str, task_id: str) -> None:
        base = f"{prefix}:{{{quote(task_id, safe='')}}}"
        self.meta, self.log, self.owner = f"{base}:meta", f"{base}:log", f"{base}:owner"
        self.removed = f"{base}:removed"  # the epoch disconnect removed (RDS-6)
        self.stats = stats_key(prefix)


def stats_key(prefix: str) -> str:
    """The prefix's counters (``statistics()``, SPEC ``STAT-1``): one hash for all its tasks."""
    return f"{prefix}:stats"


class Settings:
    """Validated configuration shared by producers and the manager."""

    __slots__ = ("max_queue_size", "task_ttl", "meta_ttl", "unavailable_timeout", "prefix", "overflow", "policy")

    def __init__(self, *, max_queue_size: int = 1000, task_ttl: float | None = 3600.0, meta_ttl: float | None = None,
                 unavailable_timeout: float = 5.0, prefix: str = "tasktail", overflow: object = None) -> None:
        self.max_queue_size = _check_number("max_queue_size", max_queue_size, low=1, integer=True)
        if task_ttl is None:  # nothing expires (MEM-3: task_ttl=None disables it): no key TTLs
            if meta_ttl is not None:
                raise ValueError(f"meta_ttl={show(meta_ttl)} is not allowed with task_ttl=None (no expiry); "
                                 "expected None")
            self.task_ttl = self.meta_ttl = None
        else:
            self.task_ttl = float(_check_number("task_ttl", task_ttl, low=0, integer=False, above=True))
            meta_ttl = 4 * self.task_ttl if meta_ttl is None else meta_ttl
            self.meta_ttl = float(_check_number("meta_ttl", meta_ttl, low=self.task_ttl, integer=False, above=True))
        self.unavailable_timeout = float(_check_number("unavailable_timeout", unavailable_timeout, low=0,
                                                       integer=False, above=True))
        if type(prefix) is not str or not prefix:
            raise TypeError(f"prefix={prefix!r}: expected a non-empty str")
        self.prefix = prefix
        #: the policy object (as given: DropOldest() for None) and how the append script runs it
        self.overflow, self.policy = check_overflow(overflow)


#: the reference's built-in policies, run inside the append script (SPEC RDS-1, CAP-3..5)
BUILT_IN_POLICIES = {DropOldest: "drop-oldest", RejectNewest: "reject-newest", CoalesceProgress: "coalesce-progress"}


def check_overflow(overflow: object) -> tuple[object, str]:
    """``overflow`` as the Redis backend runs it: (the policy, the script's mode). The
    built-in policies (exactly these classes) run inside the append script; any other
    object with ``choose_victim`` is asked in Python on the queue the script returns, and
    its answer is applied only to that very state (else it is asked again)."""
    if overflow is None:
        return DropOldest(), "drop-oldest"
    mode = BUILT_IN_POLICIES.get(type(overflow))
    if mode is not None:
        return overflow, mode
    if callable(getattr(overflow, "choose_victim", None)):
        return overflow, "custom"
    raise TypeError(f"overflow={show(overflow)} has no choose_victim(queue, incoming) method; expected None "
                    "(drop-oldest), DropOldest(), RejectNewest(), CoalesceProgress() or a policy object with "
                    "choose_victim(queue, incoming)")


def choose(policy: object, queue: list[LogMessage], incoming: LogMessage) -> str:
    """Ask a policy object (not a built-in) for its victim, checked as the reference's core
    checks it (``checked_victim``: PolicyError, nothing logged, CAP-2). Returns the append
    script's decision: ``"reject"`` or the seq of the queued victim."""
    victim = checked_victim(policy, queue, incoming)  # type: ignore[arg-type]
    return "reject" if victim is None else str(queue[victim].seq)


def full_queue(result: list, task_id: str) -> tuple[str, int, list[LogMessage]]:
    """A ``full`` answer of the append script: (the state it describes, the next seq, the queue)."""
    state = _text(result[2])
    queue = [message_from(task_id, _text(entry[0]), _pairs(entry[1]))[1] for entry in result[3:]]
    return state, int(state.partition(":")[0]) + 1, queue


def _pairs(fields: object) -> dict:
    if isinstance(fields, dict):
        return fields
    items = [_text(x) for x in fields]  # type: ignore[union-attr]
    return dict(zip(items[::2], items[1::2]))


def validated(task_id: object, level: object, message: object, progress: object,
              finished: object) -> tuple[str, str, str, int | float | None, bool]:
    """``send_log``'s arguments checked exactly as the reference checks them (``VAL-1``):
    the same functions, so the same errors; nothing reaches Redis before this passes."""
    task_id = check_task_id(task_id)
    level = check_level(level)
    message = check_message(message)
    progress = check_progress(progress)
    finished = check_finished(finished)
    return task_id, level, message, progress, finished


def _encode_progress(progress: int | float | None) -> str:
    if progress is None:
        return ""
    return f"i:{progress}" if type(progress) is int else f"f:{float(progress)!r}"


def _decode_progress(text: str) -> int | float | None:
    if not text:
        return None
    return int(text[2:]) if text[0] == "i" else float(text[2:])


def append_args(settings: Settings, timestamp: float, level: str, message: str, progress: int | float | None,
                finished: bool, token: str, decision: str = "", state: str = "") -> list:
    return [new_epoch(), settings.max_queue_size, ttl_ms(settings.task_ttl), ttl_ms(settings.meta_ttl), repr(timestamp), level, message, _encode_progress(progress),
            "1" if finished else "0", token, settings.policy, decision, state]


def ttl_ms(seconds: float | None) -> int:
    """A key TTL for the scripts: milliseconds, 0 for none (the key persists)."""
    return 0 if seconds is None else math.ceil(seconds * 1000)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def result_message(result: list, task_id: str, timestamp: float, level: str, message: str,
                   progress: int | float | None, finished: bool) -> tuple[LogMessage, str, list[int]]:
    """The script's answer as the LogMessage, its epoch and the seqs the policy dropped (the
    message's own seq among them when it was rejected)."""
    status = _text(result[0])
    if status == "finished":
        raise TaskFinishedError(task_id, int(result[2]))
    seq = int(result[2])
    dropped = [int(s) for s in result[5:]]
    if int(result[4]) == 0 and seq not in dropped:  # a retry's answer: rejected the first time
        dropped.append(seq)
    return (LogMessage(task_id, seq, timestamp, level, message, progress, finished), _text(result[1]), dropped)


def message_from(task_id: str, entry_id: str, fields: object) -> tuple[str, LogMessage]:
    """A stream entry as (its epoch, the LogMessage)."""
    get = _pairs(fields).get
    return _text(get("e", "")), LogMessage(
        task_id, int(_text(entry_id).partition("-")[0]), float(_text(get("t"))), LEVELS[_text(get("l"))],
        _text(get("m")), _decode_progress(_text(get("p", ""))), _text(get("f")) == "1")


def backoff_delays(first: float = 0.05, cap: float = 1.0):
    """Exponential backoff with full jitter: 0..first, 0..2·first, … capped at ``cap``."""
    attempt = 0
    while True:
        yield random.uniform(0, min(cap, first * 2 ** attempt))
        attempt += 1
