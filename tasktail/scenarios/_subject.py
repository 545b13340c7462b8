"""The implementation under test, as the suite sees it: capabilities, config, frames.

Theory of operation:

1. An implementation is a *factory* taking keyword config. The suite passes
   ``max_queue_size`` always and the other keywords only for capabilities it claims.
2. Messages are identified by the text the suite generates (``"t0#17"``): every text frame
   is parsed as JSON and its ``"message"`` field names the message, so an implementation that
   only knows the seed's API (``send_text(json.dumps(...))`` or ``send_json(dict)``, no
   ``seq``) is testable as it is. ``seq`` is read only when ``"seq"`` is claimed.
3. Seed methods may be sync or async (``disconnect`` is sync in the seed); ``call`` awaits
   whatever comes back.
4. A manager that is an async context manager (one that runs tasks of its own, as the
   Redis backend's) is entered when it is built inside ``hosting()`` (every scripted check
   and generated program runs in one): in a shielded task of the host's group, and exited
   when the check or program ends, normally, never by cancellation. Its calls must wait
   until it is running (the factory's business).
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio

from tasktail.fakes import Frame, Gate

__all__ = [
    "ALL_CAPABILITIES", "CORE_RULES", "OVERFLOW_POLICIES", "RULE_CAPABILITIES", "SEED_API", "Item", "Subject",
    "UsageError", "foreign_frame", "load_factory", "parse_frame", "queue_length", "reference_factory",
    "select_rules", "suite_gate",
]

#: what a manager must have for the suite to judge it at all
SEED_API = ("connect", "disconnect", "send_log", "get_connection_status", "get_queued_message_count")


class UsageError(ValueError):
    """The suite cannot be applied as asked (bad factory, config, option): exit status 2."""

#: capability -> what claiming it means
ALL_CAPABILITIES: dict[str, str] = {
    "seq": "frames carry seq; WIRE-1 wire format; send_log returns an object with .seq",
    "gaps": "dropped/expired ranges are announced with gap frames (WIRE-2, GAP-1)",
    "statistics": "statistics() and task_statistics() (GAP-2, STAT-1)",
    "resume": "factory accepts history_size; connect accepts after_seq (RES-*)",
    "threads": "threadsafe() logger for worker threads (THR-*)",
    "close_replaced": "a replaced socket is closed with 4000 (REPL-1)",
    "close_codes": "sockets are closed with SPEC's codes only (CLOSE-1, FAIL-1's 1011/4001)",
    "detach": "detach(task_id, websocket) (REPL-2)",
    "finish": "finished=True is final: TaskFinishedError afterwards (FIN-1)",
    "validation": "bad arguments raise TypeError/ValueError and change nothing (VAL-*)",
    "expiry": "factory accepts task_ttl, max_tasks and clock (MEM-3/4, WIRE-3)",
    "send_timeout": "factory accepts send_timeout; slow sends and accepts time out",
    "cancellation": "a cancelled send_log leaves its message queued (FAIL-3)",
    "overflow": "factory accepts overflow= with tasktail's policy objects (CAP-2/4/5)",
    "compact": "queued messages in message_queues are compact LogMessage tuples (MEM-2)",
    "adapter": "works with tasktail.manager.starlette.stream_task (ADAPT-*)",
}

#: rule -> capabilities it needs (empty: core, always checked)
RULE_CAPABILITIES: dict[str, frozenset[str]] = {rule: frozenset(caps) for rule, caps in {
    "WIRE-1": {"seq"}, "WIRE-2": {"seq", "gaps"}, "WIRE-3": {"seq", "expiry"}, "WIRE-4": {"resume", "seq"},
    "FID-1": (), "ORD-1": {"seq"}, "ORD-2": (), "ORD-3": (),
    "FLUSH-1": (), "FLUSH-2": (), "FLUSH-3": (),
    "CAP-1": (), "CAP-2": {"overflow", "finish"}, "CAP-3": (), "CAP-4": {"overflow"},
    "CAP-5": {"overflow"}, "GAP-1": {"seq", "gaps"}, "GAP-2": {"statistics"},
    "FAIL-1": (), "FAIL-2": (), "FAIL-3": {"cancellation"},
    "DISC-1": (), "DISC-2": (), "DISC-3": {"seq"},
    "REPL-1": (), "REPL-2": {"detach"}, "ISO-1": (),
    "LOCK-1": (), "LOCK-2": (), "LOCK-3": (), "LOCK-4": (), "PROD-1": (),
    "VAL-1": {"validation"}, "VAL-2": {"validation"}, "QRY-1": (), "FIN-1": {"finish"},
    "RES-1": {"resume", "seq"}, "RES-2": {"resume", "seq", "gaps"}, "RES-3": {"resume"},
    "RES-4": {"resume", "seq"}, "CANC-1": {"cancellation"}, "CANC-2": {"cancellation"},
    "MEM-1": (), "MEM-2": {"compact"}, "MEM-3": {"expiry"}, "MEM-4": {"expiry"},
    "THR-1": {"threads"}, "THR-2": {"threads"}, "STAT-1": {"statistics"},
    "CLOSE-1": {"close_codes"},
    "ADAPT-1": {"adapter", "detach"}, "ADAPT-2": {"adapter", "resume"}, "ADAPT-3": {"adapter", "detach"},
}.items()}

CORE_RULES = tuple(rule for rule, caps in RULE_CAPABILITIES.items() if not caps)


def select_rules(pattern: str) -> list[str]:
    """Rule IDs matching a glob or a comma-separated list of globs (``"CAP-*,ORD-2"``)."""
    globs = [g.strip() for g in pattern.split(",") if g.strip()] or ["*"]
    return [r for r in RULE_CAPABILITIES if any(fnmatch.fnmatchcase(r, g.upper()) for g in globs)]


def reference_factory(**config: Any) -> Any:
    """The reference ``ConnectionManager`` (claims every capability)."""
    from tasktail import ConnectionManager

    return ConnectionManager(**config)


reference_factory.tasktail_capabilities = frozenset(ALL_CAPABILITIES)  # type: ignore[attr-defined]


def load_factory(spec: str) -> Callable[..., Any]:
    """``"package.module:attr"`` (``attr`` may be dotted) -> the callable. Raises ValueError."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"{spec!r} is not MODULE:FACTORY")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as pytest does: a module beside you is importable
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r} (from {os.getcwd()}): {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise UsageError(f"{spec} is not callable")
    return obj


@dataclass(frozen=True)
class Item:
    """One parsed frame: a log message (by its text) or a gap notice."""

    kind: str  # "log" | "gap" | "hello" | "reset" | "other"
    text: str | None = None
    seq: int | None = None
    first: int | None = None
    last: int | None = None
    reason: str | None = None
    raw: Any = None

    def short(self) -> str:
        if self.kind == "log":
            return self.text if self.seq is None else f"{self.text}(seq {self.seq})"
        if self.kind == "gap":
            return f"gap[{self.first}..{self.last} {self.reason}]"
        if self.kind in ("hello", "reset"):
            return f"{self.kind}[last_seq {self.seq}]"
        return f"other({self.raw!r})"


def parse_frame(payload: str | bytes, with_seq: bool) -> Item:
    """A frame sent with ``send_text``, ``send_json`` or ``send_bytes`` (UTF-8 JSON)."""
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            return Item("other", raw=payload)
    try:
        data = json.loads(payload)
    except (ValueError, TypeError):
        return Item("other", raw=payload)
    if not isinstance(data, dict):
        return Item("other", raw=data)
    if data.get("type") in ("hello", "reset"):  # WIRE-4; the epoch itself is random: not shown
        return Item(data["type"], seq=data.get("last_seq"), raw=data)
    if data.get("type") == "gap":
        return Item("gap", first=data.get("first_seq"), last=data.get("last_seq"),
                    reason=data.get("reason"), raw=data)
    if isinstance(data.get("message"), str):
        seq = data.get("seq") if with_seq else None
        return Item("log", text=data["message"], seq=seq, raw=data)
    return Item("other", raw=data)


def foreign_frame(frame: Frame) -> bool:
    """A frame that is none of the protocol's (log, gap, hello, reset): an application's own
    status frame, say ``{"type": "status", "status": "connected"}``."""
    return parse_frame(frame.payload, False).kind == "other"


def suite_gate() -> Gate:
    """The gate every check and generated program uses: it holds the protocol's frames and
    lets an application's own status frames through, which no check is about."""
    return Gate(passes=foreign_frame)


def queue_length(queue: Any) -> int | None:
    """How many items a seed ``message_queues`` value holds: ``len()``, ``qsize()`` (an
    ``asyncio.Queue``) or, for a plain iterable, by counting a copy. None: not countable."""
    try:
        return len(queue)
    except TypeError:
        pass
    qsize = getattr(queue, "qsize", None)
    if callable(qsize):
        try:
            return int(qsize())
        except Exception:  # noqa: BLE001 - a broken qsize is the implementation's business
            return None
    try:
        return sum(1 for _ in list(queue))
    except Exception:  # noqa: BLE001
        return None


#: what a factory may declare as ``tasktail_overflow`` (SPEC CAP-3..5)
OVERFLOW_POLICIES = ("drop-oldest", "reject-newest", "coalesce-progress")


class Subject:
    """A factory plus the capabilities it claims; builds managers with the right config.

    ``config`` is what the user told the suite about the manager (``--config``): a
    ``max_queue_size`` there is the cap the manager really has, and every check uses it."""

    def __init__(self, factory: Callable[..., Any], capabilities: Iterable[str] | None = None,
                 config: dict[str, Any] | None = None) -> None:
        if not callable(factory):
            raise UsageError(f"the factory {factory!r} is not callable")
        self.factory = factory
        if capabilities is None:
            capabilities = getattr(factory, "tasktail_capabilities", None)
        caps = frozenset(capabilities or ())
        unknown = caps - set(ALL_CAPABILITIES)
        if unknown:
            raise UsageError(f"unknown capabilities {sorted(unknown)}; known: {sorted(ALL_CAPABILITIES)}")
        self.capabilities = caps
        self.name = getattr(factory, "__qualname__", repr(factory))
        self.module = getattr(factory, "__module__", None)
        self.user_config = dict(config or {})
        cap = self.user_config.get("max_queue_size")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise UsageError(f"--config max_queue_size={cap!r}: expected an int >= 1")
        self.fixed_cap: int | None = cap
        backends = getattr(factory, "tasktail_backends", None)
        self.backends: tuple[str, ...] | None = tuple(backends) if backends else None
        overflow = getattr(factory, "tasktail_overflow", None)
        if overflow not in (None, *OVERFLOW_POLICIES):
            raise UsageError(f"{self.name}.tasktail_overflow={overflow!r}: expected one of "
                             f"{', '.join(map(repr, OVERFLOW_POLICIES))} (the policy its managers use when full)")
        #: the overflow policy the factory's managers really use (None: the default, drop-oldest)
        self.overflow: str | None = overflow

    def claims(self, *caps: str) -> bool:
        return self.capabilities.issuperset(caps)

    def supports(self, rule: str) -> bool:
        return RULE_CAPABILITIES[rule] <= self.capabilities

    def config(self, max_queue_size: int, **extra: Any) -> dict[str, Any]:
        """Keyword config for the factory: only what the claimed capabilities allow."""
        config: dict[str, Any] = {"max_queue_size": self.fixed_cap or max_queue_size}
        if "expiry" in self.capabilities:
            from tasktail.fakes import WallClock

            config.update(task_ttl=None, clock=WallClock())
        allowed = {"history_size": "resume", "send_timeout": "send_timeout", "overflow": "overflow",
                   "task_ttl": "expiry", "max_tasks": "expiry", "clock": "expiry"}
        for key, value in extra.items():
            if allowed.get(key) in self.capabilities:
                config[key] = value
        config.update({k: v for k, v in self.user_config.items() if k != "max_queue_size"})
        return config

    def build(self, max_queue_size: int, **extra: Any) -> Any:
        manager = self.factory(**self.config(max_queue_size, **extra))
        host = _HOST.get()
        if host is not None and hasattr(manager, "__aenter__"):
            host[0].start_soon(_serve, manager, host[1])
        return manager

    def probe(self) -> None:
        """Build one manager as the suite will; a factory the suite cannot use is a
        :class:`UsageError` that says what to do (raised before any verdict)."""
        config = self.config(3)
        try:
            manager = self.factory(**config)
        except TypeError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in config.items())
            raise UsageError(
                f"{self.name}({shown}) raised TypeError: {exc}. The suite calls the factory with keyword "
                "config (max_queue_size always; other keywords only for claimed capabilities). Wrap your "
                "class: def factory(max_queue_size=100, **config): return MyManager(...), and if your "
                "manager has a fixed cap, say so with --config max_queue_size=N") from exc
        missing = [name for name in SEED_API if not callable(getattr(manager, name, None))]
        if missing:
            raise UsageError(f"{self.name}(...) returned {type(manager).__name__!s}, which lacks the seed API "
                             f"member(s) {', '.join(missing)} (needs {', '.join(SEED_API)})")


_HOST: ContextVar[tuple[Any, anyio.Event] | None] = ContextVar("tasktail_scenarios_host", default=None)


@asynccontextmanager
async def hosting() -> AsyncIterator[None]:
    """Managers built in this block that are async context managers run here (rule 4)."""
    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        token = _HOST.set((group, stop))
        try:
            yield
        finally:
            _HOST.reset(token)
            stop.set()


async def _serve(manager: Any, stop: anyio.Event) -> None:
    with anyio.CancelScope(shield=True):  # it stops when told, not half-way through a cancel
        async with manager:
            await stop.wait()


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a seed method that may be sync or async."""
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def seed_entries(manager: Any, task_id: str) -> list[str]:
    """Which of the seed's per-task attributes still hold ``task_id``."""
    found = []
    for name in ("active_connections", "message_queues", "connection_locks"):
        mapping = getattr(manager, name, None)
        try:
            if mapping is not None and task_id in mapping:
                found.append(name)
        except TypeError:
            pass
    return found
