"""Log messages, their validation and their one wire encoding.

Theory of operation:

1. A ``LogMessage`` is an immutable tuple: building one costs one tuple allocation, and a
   queued message holds nothing but its seven fields (see SPEC ``MEM-2``).
2. Validation happens before anything else, so a bad argument spends no sequence number and
   queues nothing (``VAL-1``). Errors name the argument, the bad value and what is allowed.
3. The wire form is a single JSON text built by hand (``WIRE-1``): the field order is fixed,
   strings go through the C string escaper, and the ISO-8601 second prefix of the timestamp
   is cached, because ``datetime.isoformat()`` alone would cost more than the rest.
"""

from __future__ import annotations

import enum
import time
from datetime import datetime, timezone
from json.encoder import encode_basestring
from typing import NamedTuple

__all__ = ["Level", "LogMessage", "GapNotice", "Opening", "LEVELS", "show", "exact_str", "log_json", "log_prefix"]


class Level(enum.StrEnum):
    """The closed set of log levels (``VAL-2``)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    SUCCESS = "success"


#: Canonical level strings; looking a level up here both validates it and interns it, so a
#: queued message shares one string object per level.
LEVELS: dict[str, str] = {level.value: level.value for level in Level}
_ALLOWED_LEVELS = ", ".join(repr(name) for name in LEVELS)


#: (second, "YYYY-MM-DDTHH:MM:SS") of the last timestamp encoded: consecutive messages
#: almost always share their second, and formatting one costs more than the whole frame.
_second_cache: tuple[int, str] = (-1, "")


def _second_prefix(second: int) -> str:
    global _second_cache
    prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    _second_cache = (second, prefix)  # replaced whole: a reader in another thread sees a pair
    return prefix


class LogMessage(NamedTuple):
    """One log line of one task, as it is queued, kept and sent.

    ``timestamp`` is POSIX seconds (UTC) read from the manager's injectable clock;
    ``seq`` counts a task's messages from 1 in the order ``send_log`` was called.
    """

    task_id: str
    seq: int
    timestamp: float
    level: str
    message: str
    progress: int | float | None = None
    finished: bool = False

    @property
    def datetime(self) -> datetime:
        """The timestamp as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.timestamp, tz=timezone.utc)

    @property
    def progress_only(self) -> bool:
        """True for a routine progress update that a newer one may replace (``CAP-5``)."""
        return self.progress is not None and not self.finished and self.level in ("debug", "info")

    def to_json(self) -> str:
        """The exact wire text of this message (SPEC ``WIRE-1``)."""
        task_id, seq, timestamp, level, message, progress, finished = self
        return log_json(log_prefix(task_id), seq, timestamp, level, message, progress, finished)


def log_prefix(task_id: str) -> str:
    """The start of every log frame of ``task_id``, up to its seq: a task caches it."""
    return f'{{"type":"log","task_id":{encode_basestring(task_id)},"seq":'


def log_json(prefix: str, seq: int, timestamp: float, level: str, message: str,
             progress: int | float | None, finished: bool) -> str:
    """The wire text of a log message whose task's :func:`log_prefix` is ``prefix`` (the one
    encoder of ``WIRE-1``; ``LogMessage.to_json`` and the manager's live path both use it)."""
    second = int(timestamp)
    cached = _second_cache  # one read: the pair cannot change under us
    stamp = cached[1] if cached[0] == second else _second_prefix(second)
    # One join of literal pieces: measurably cheaper than an f-string with a format spec
    # (this runs once per message); "%06d" truncates the float like int() would.
    return "".join((
        prefix, str(seq), ',"timestamp":"', stamp, ".", "%06d" % ((timestamp - second) * 1e6),
        'Z","level":"', level, '","message":', encode_basestring(message),
        ',"progress":', "null" if progress is None else repr(progress),
        ',"finished":true}' if finished else ',"finished":false}',
    ))


class GapNotice(NamedTuple):
    """Tells a client that ``first_seq..last_seq`` of a task will never reach it (``GAP-1``).

    ``reason`` is ``"dropped"`` (evicted by the queue cap before any client got them) or
    ``"expired"`` (delivered earlier, but no longer kept for a resuming client).
    """

    task_id: str
    first_seq: int
    last_seq: int
    reason: str

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1

    def to_json(self) -> str:
        """The exact wire text of this notice (SPEC ``WIRE-2``)."""
        return (
            f'{{"type":"gap","task_id":{encode_basestring(self.task_id)},'
            f'"first_seq":{self.first_seq},"last_seq":{self.last_seq},'
            f'"count":{self.last_seq - self.first_seq + 1},"reason":"{self.reason}"}}'
        )


class Opening(NamedTuple):
    """The first frame of a connection whose client named an incarnation (SPEC ``WIRE-4``).

    ``hello`` tells the client which incarnation (``epoch``) of the task it is following;
    ``reset`` (``stale_epoch`` set) tells it that the incarnation it named is gone and that
    what follows is the current one from its start (``RES-4``)."""

    task_id: str
    epoch: str
    last_seq: int
    stale_epoch: str | None = None

    def to_json(self) -> str:
        if self.stale_epoch is None:
            return (f'{{"type":"hello","task_id":{encode_basestring(self.task_id)},'
                    f'"epoch":{encode_basestring(self.epoch)},"last_seq":{self.last_seq}}}')
        return (f'{{"type":"reset","task_id":{encode_basestring(self.task_id)},'
                f'"epoch":{encode_basestring(self.epoch)},"last_seq":{self.last_seq},'
                f'"stale_epoch":{encode_basestring(self.stale_epoch)}}}')


_SHOW_LIMIT = 200  # characters of a bad value an error message shows


def show(value: object) -> str:
    """``repr(value)`` for an error message, shortened; never raises (``VAL-1``).

    A hostile argument must not turn a clear ``TypeError`` into another error: a ``__repr__``
    may raise, and ``repr`` of an int with more than 4,300 digits does."""
    if type(value) is int and value.bit_length() > 64:
        return f"<int of {value.bit_length()} bits>"  # str() of it may exceed the digit limit
    try:
        text = repr(value)
    except Exception:
        text = f"<{_type_name(value)} object whose repr() failed>"
    if type(text) is not str:
        text = f"<{_type_name(value)} object>"
    return text if len(text) <= _SHOW_LIMIT else text[:_SHOW_LIMIT - 5] + "…" + text[-4:]


def _type_name(value: object) -> str:
    name = getattr(type(value), "__name__", "?")
    return name if type(name) is str else "?"


def exact_str(text: str) -> str:
    """An exact ``str`` with the characters of ``text`` (a ``str`` subclass included).

    ``str.__str__`` copies the characters without calling the subclass's own ``__str__``,
    which could return anything; what is stored and sent is then always a plain ``str``."""
    return text if type(text) is str else str.__str__(text)


def check_task_id(task_id: object) -> str:
    if type(task_id) is not str:
        if not isinstance(task_id, str):
            raise TypeError(
                f"task_id={show(task_id)} has type {_type_name(task_id)}; expected a non-empty str"
            )
        task_id = exact_str(task_id)
    if not task_id:
        raise ValueError("task_id='' is empty; expected a non-empty str")
    _check_utf8("task_id", task_id)
    return task_id


def _check_utf8(name: str, text: str) -> None:
    # A lone surrogate cannot travel in a WebSocket text frame: every send of it would fail
    # and the message would come back to the queue forever.
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{name}={show(text)} has a lone surrogate at index {exc.start}; "
                "expected text that can be encoded as UTF-8"
            ) from None


def check_level(level: object) -> str:
    # exact_str first: a str subclass's own __hash__/__eq__ never decides the lookup
    canonical = LEVELS.get(exact_str(level)) if isinstance(level, str) else None
    if canonical is None:
        if not isinstance(level, str):
            raise TypeError(
                f"level={show(level)} has type {_type_name(level)}; expected one of {_ALLOWED_LEVELS}"
            )
        raise ValueError(f"level={show(level)} is not allowed; expected one of {_ALLOWED_LEVELS}")
    return canonical


def check_progress(progress: object) -> int | float | None:
    if progress is None:
        return None
    kind = type(progress)
    if kind is not int and kind is not float:
        if isinstance(progress, bool) or not isinstance(progress, (int, float)):
            raise TypeError(
                f"progress={show(progress)} has type {_type_name(progress)}; "
                "expected None or a finite int or float in [0, 100] (bool is not a number here)"
            )
        # the exact type's own methods: a subclass's __float__/__index__ are not asked
        progress = float.__float__(progress) if isinstance(progress, float) else int.__index__(progress)
    if not (0 <= progress <= 100):  # NaN fails this comparison too
        raise ValueError(
            f"progress={show(progress)} is out of range; expected None or a finite number in [0, 100]"
        )
    return progress


def check_message(message: object) -> str:
    if type(message) is not str:
        if not isinstance(message, str):
            raise TypeError(f"message={show(message)} has type {_type_name(message)}; expected a str")
        message = exact_str(message)
    _check_utf8("message", message)
    return message


def check_finished(finished: object) -> bool:
    if finished is not True and finished is not False:
        raise TypeError(f"finished={show(finished)} has type {_type_name(finished)}; expected a bool")
    return finished


def check_after_seq(after_seq: object) -> int | None:
    if after_seq is None:
        return None
    if type(after_seq) is not int:
        raise TypeError(
            f"after_seq={show(after_seq)} has type {_type_name(after_seq)}; "
            "expected None or an int >= 0 (bool is not a number here)"
        )
    if after_seq < 0:
        raise ValueError(f"after_seq={show(after_seq)} is negative; expected None or an int >= 0")
    return after_seq


def check_epoch(epoch: object) -> str | None:
    """``None`` (the client does not follow incarnations), ``""`` (it does, and knows none
    yet) or the epoch string a ``hello`` frame gave it (``RES-4``)."""
    if epoch is None:
        return None
    if not isinstance(epoch, str):
        raise TypeError(f"epoch={show(epoch)} has type {_type_name(epoch)}; expected None or a str")
    epoch = exact_str(epoch)
    if len(epoch) > 64 or not epoch.isascii() or not epoch.isprintable():
        raise ValueError(f"epoch={show(epoch)} is not allowed; expected None or a str of at most "
                         "64 printable ASCII characters, as a hello frame gave it")
    return epoch
