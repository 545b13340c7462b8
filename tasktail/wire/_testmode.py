"""The server side of ``tasktail-control/1`` (PROTOCOL.md), for any asyncio Python port.

Theory of operation:

1. :class:`TestMode` owns the port's manager in test mode: ``reset`` makes a fresh one from
   a vector's setup (through :class:`TrackedManager`, which records each ``connect`` as the
   call ``connect:NAME``), ``log`` starts ``send_log`` as a task, and the other endpoints act
   on the :class:`TestSocket` the runner names. :meth:`TestMode.handle` answers one
   control request as ``(status, body)``; each framework binding only routes HTTP to it.
2. :class:`TestSocket` sits between the manager (and the adapter) and the framework's
   socket, exactly where the in-process fakes sit (PROTOCOL section 3): it holds, fails or
   lets through sends as the client's behaviour says, counts what it wrote, records the
   first close code and any overlapping send. A close waits for the sends in progress (a
   frame handed to a transport arrives before a later close frame). After a ``drop`` it
   hides the disconnect from the adapter (its ``receive`` waits until the run is over), as a
   vanished peer is invisible in-process until a send fails.
3. Settling is the in-process runner's rule (``tasktail.vectors._play.settle``) on the
   server's own asyncio loop: every task but the caller blocked and nothing ready to run;
   then close handshakes in progress are let finish (bounded), since a framework whose
   close waits for the client's answer is waiting on the network, not on a step.
4. Virtual time: :class:`VirtualClock` is what the manager's ``clock`` reads
   (``CLOCK_BASE`` + seconds advanced since the last reset), and :class:`OffsetLoop` is an
   asyncio loop whose ``time()`` is real monotonic time plus every second ever advanced, so
   the manager's send timeout (``asyncio.timeout`` on that loop) fires when ``advance``
   passes it. Real time still runs on that loop (milliseconds per vector, next to send
   timeouts of seconds); the manager's clock has none of it, so timestamps are exact. On
   any other loop ``capabilities`` says ``virtual_timers: false``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from tasktail.vectors._corpus import reference_factory
from tasktail.vectors._play import BEHAVIOURS, CLOCK_BASE, build_config, error_kind, settle

__all__ = ["PROTOCOL_VERSION", "AcceptFailed", "OffsetLoop", "TestMode", "TestSocket", "TrackedManager",
           "VirtualClock"]

PROTOCOL_VERSION = "tasktail-control/1"
STEPS = ("log", "connect", "release", "accept", "fail", "drop", "detach", "disconnect", "advance", "query")
OVERFLOW = ("drop-oldest", "reject-newest", "coalesce-progress")
WAIT_FOR_CLIENT = 10.0  # seconds /settle waits for a named client's socket to arrive
CLOSE_BOUND = 5.0  # seconds /settle waits for a close handshake in progress


class SendFailed(RuntimeError):
    """What a scripted send failure raises (``fail``, ``fail_first_send``, a dropped peer)."""


class AcceptFailed(RuntimeError):
    """What a ``fail_accept`` socket's accept raises; the endpoint then refuses the handshake."""


class VirtualClock:
    """Seconds advanced: ``offset`` in all (the loop's), ``now()`` since the last reset."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._reset_at = 0.0

    def now(self) -> float:
        return CLOCK_BASE + (self.offset - self._reset_at)

    def reset(self) -> None:
        self._reset_at = self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class OffsetLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` runs ``clock.offset`` seconds ahead of the real one."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.tasktail_clock = clock

    def time(self) -> float:
        return super().time() + self.tasktail_clock.offset


class _Call:
    __slots__ = ("done", "error", "value", "task")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.value: Any = None
        self.task: asyncio.Task[Any] | None = None

    def status(self) -> dict[str, Any]:
        if self.error is not None:
            return {"result": "raised", "error": error_kind(self.error)}
        if self.done:
            seq = getattr(self.value, "seq", None)
            return {"result": "returned", **({"seq": seq} if isinstance(seq, int) else {})}
        return {"result": "blocked"}


class TestSocket:
    """A framework socket with a scripted behaviour (PROTOCOL section 3).

    ``inner`` has Starlette's surface (``accept``, ``send_text``, ``close(code, reason)``,
    ``receive``); everything else (``query_params``, ``application_state``) is read
    through. ``send_close_code`` lets a planted bug change the code it forwards."""

    __test__ = False  # not a pytest class

    def __init__(self, inner: Any, name: str, behaviour: str, task: str) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"tt_behaviour={behaviour!r}; expected one of {BEHAVIOURS}")
        self.inner, self.name, self.behaviour, self.task = inner, name, behaviour, task
        self.accepted = False
        self.written = 0
        self.close_code: int | None = None
        self.violations: set[str] = set()
        self.dropped = False
        self.abandoned = False
        self.connection: Any = None  # what connect returned (close code of an ended connection)
        self._held: deque[asyncio.Future[str]] = deque()
        self._accept = asyncio.Event()
        self._gone = asyncio.Event()  # the run is over: a dropped socket's receive may return
        self._sending = 0
        self._sends = 0
        self._idle = asyncio.Event()  # no send in progress
        self._idle.set()
        self._closing_frame = False  # a close frame is being written (the framework's close has not returned)
        self._close_done = asyncio.Event()  # the framework's close returned (or raised)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def report(self) -> dict[str, Any]:
        close = self.close_code
        if close is None and getattr(self.connection, "ended", False):
            close = getattr(self.connection, "close_code", None)  # ended, not yet closed by the adapter
        return {"accepted": self.accepted, "written": self.written,
                "close": int(close) if close is not None else None, "violations": sorted(self.violations),
                "held": len(self._held)}

    # -- what the manager and adapter call --------------------------------------------------
    async def accept(self, *args: Any, **kwargs: Any) -> None:
        if self.behaviour == "fail_accept":
            raise AcceptFailed("accept failed (fail_accept)")
        if self.behaviour == "hold_accept":
            await self._accept.wait()
        if self.abandoned:
            raise AcceptFailed("the run this socket belonged to is over")
        await self.inner.accept(*args, **kwargs)
        self.accepted = True

    async def send_text(self, data: str) -> None:
        if self._sending:
            self.violations.add("overlapping_send")
        self._sending += 1
        self._idle.clear()
        try:
            self._sends += 1
            if self.dropped:
                raise SendFailed("the peer vanished (drop)")
            if self.behaviour == "fail_first_send" and self._sends == 1:
                raise SendFailed("send failed (fail_first_send)")
            if self.behaviour in ("gate", "never_read"):
                held: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                self._held.append(held)
                try:
                    await held
                finally:
                    if held in self._held:
                        self._held.remove(held)
                if self.dropped:
                    raise SendFailed("the peer vanished (drop)")
            await self.inner.send_text(data)
            self.written += 1
        finally:
            self._sending -= 1
            if not self._sending:
                self._idle.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code = int(code)
        if self.dropped:
            return  # the peer is gone: nothing to send
        # A frame handed to a transport reaches the client before a later close frame: a
        # close waits for the sends in progress (held ones included) to be written or fail.
        while self._sending:
            await self._idle.wait()
        self._closing_frame = True
        try:
            await self.inner.close(code=code, reason=reason)
        finally:
            self._closing_frame = False
            self._close_done.set()

    async def receive(self) -> Any:
        message = await self.inner.receive()
        if self.dropped:  # a vanished peer says nothing (as in-process) until the run is over
            await self._gone.wait()
        return message

    # -- what the runner asks ---------------------------------------------------------------
    def release(self) -> bool:
        if not self._held:
            return False
        held = self._held.popleft()
        if not held.done():
            held.set_result("release")
        return True

    def fail(self) -> bool:
        if not self._held:
            return False
        held = self._held.popleft()
        if not held.done():
            held.set_exception(SendFailed("send failed (fail)"))
        return True

    def let_accept(self) -> None:
        self._accept.set()

    def abandon(self) -> None:
        """The run is over (a reset, the server stopping): held sends and a held accept fail."""
        self.abandoned = True
        while self.fail():
            pass
        self._accept.set()
        self._gone.set()

    def drop(self) -> None:
        self.dropped = True
        if self.close_code is None:
            self.close_code = 1006
        while self._held:
            held = self._held.popleft()
            if not held.done():
                held.set_exception(SendFailed("the peer vanished (drop)"))


class TrackedManager:
    """The manager, with each ``connect`` recorded as the call ``connect:NAME``."""

    def __init__(self, manager: Any, mode: TestMode) -> None:
        self._manager, self._mode = manager, mode

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    async def connect(self, websocket: Any, task_id: Any, after_seq: Any = None, **kwargs: Any) -> Any:
        call = _Call()
        if isinstance(websocket, TestSocket):
            self._mode.calls[f"connect:{websocket.name}"] = call
        try:
            call.value = await self._manager.connect(websocket, task_id, after_seq, **kwargs)
            call.done = True
        except BaseException as exc:
            if isinstance(exc, Exception):
                call.error = exc
            raise
        if isinstance(websocket, TestSocket):
            websocket.connection = call.value
        return call.value


class _Problem(Exception):
    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail


class TestMode:
    """The control surface's state and answers; one per server, on one asyncio loop.

    ``factory(**config)`` makes a manager from a vector's setup (``overflow`` by name, as
    :func:`tasktail.vectors.reference_factory` takes it). ``name`` is reported in
    ``capabilities``; ``virtual_timers`` says whether the manager's timers run on ``clock``
    (default: whether the server runs on an :class:`OffsetLoop` sharing it, asked each time;
    under a plain loop ``advance`` moves timestamps and expiry but no send timeout)."""

    __test__ = False

    def __init__(self, factory: Callable[..., Any] = reference_factory, *, name: str = "tasktail",
                 clock: VirtualClock | None = None, virtual_timers: bool | None = None,
                 capabilities: Mapping[str, Any] | None = None) -> None:
        self.factory, self.name = factory, name
        self.clock = clock if clock is not None else VirtualClock()
        self.virtual_timers = virtual_timers
        self.extra_capabilities = dict(capabilities or {})
        self.calls: dict[str, _Call] = {}
        self.sockets: dict[str, TestSocket] = {}
        self._arrived = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._next_call = 0
        self.manager: TrackedManager = TrackedManager(factory(**build_config(
            {"max_queue_size": 1000, "history_size": 0}, seed=False, clock=self.clock.now)), self)

    # -- sockets ------------------------------------------------------------------------------
    def wrap(self, inner: Any, query: Mapping[str, str], task: str) -> TestSocket | None:
        """The test socket for a connection whose query names ``tt_client``, else None."""
        name = query.get("tt_client")
        if name is None:
            return None
        socket = TestSocket(inner, name, query.get("tt_behaviour", "instant"), task)
        self.sockets[name] = socket
        self._arrived.set()
        self._arrived = asyncio.Event()
        return socket

    def timers_are_virtual(self) -> bool:
        if self.virtual_timers is not None:
            return self.virtual_timers
        loop = asyncio.get_running_loop()
        return isinstance(loop, OffsetLoop) and loop.tasktail_clock is self.clock

    def capabilities(self) -> dict[str, Any]:
        return {"protocol": PROTOCOL_VERSION, "name": self.name, "steps": list(STEPS),
                "behaviours": list(BEHAVIOURS), "overflow": list(OVERFLOW), "profile": "full",
                "virtual_timers": self.timers_are_virtual(), "settle": "exact", **self.extra_capabilities}

    def _socket(self, body: Mapping[str, Any]) -> TestSocket:
        name = body.get("client")
        if name not in self.sockets:
            raise _Problem(404, "unknown_client", f"no client {name!r} since the last reset")
        return self.sockets[name]

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- endpoints ----------------------------------------------------------------------------
    async def handle(self, op: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Answer ``POST /op`` (or ``GET /capabilities``) with ``(status, JSON object)``."""
        try:
            if op == "capabilities":
                return 200, self.capabilities()
            if not isinstance(body, dict):
                raise _Problem(400, "bad_request", "the body must be a JSON object")
            method = getattr(self, f"_op_{op}", None)
            if method is None:
                raise _Problem(404, "bad_request", f"no endpoint {op!r}")
            return 200, await method(body)
        except _Problem as problem:
            return problem.status, {"error": problem.kind, "detail": problem.detail}
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"error": "bad_request", "detail": f"{type(exc).__name__}: {exc}"}

    async def _op_reset(self, setup: dict[str, Any]) -> dict[str, Any]:
        known = {"max_queue_size", "history_size", "send_timeout", "task_ttl", "max_tasks", "overflow"}
        unknown = sorted(set(setup) - known)
        if unknown:
            raise _Problem(422, "unsupported", f"setup key {unknown[0]!r} is not supported")
        if "overflow" in setup and setup["overflow"] not in OVERFLOW:
            raise _Problem(422, "unsupported", f"setup overflow {setup['overflow']!r} is not supported")
        for call in self.calls.values():
            if call.task is not None:
                call.task.cancel()
        for socket in self.sockets.values():
            socket.abandon()  # held sends and accepts end; the adapter sees the close and returns
            self._spawn(_close_quietly(socket.inner))
        self.calls, self.sockets = {}, {}
        self.clock.reset()
        try:
            manager = self.factory(**build_config(setup, seed=False, clock=self.clock.now))
        except (TypeError, ValueError) as exc:
            raise _Problem(422, "unsupported", f"the manager refuses this setup: {exc}") from None
        self.manager = TrackedManager(manager, self)
        return {}

    async def _op_log(self, body: dict[str, Any]) -> dict[str, Any]:
        call = _Call()
        self._next_call += 1
        name = f"k{self._next_call}"
        self.calls[name] = call
        manager = self.manager

        async def run() -> None:
            try:
                call.value = await manager.send_log(body["task"], body["level"], body["message"],
                                                    body.get("progress"), body.get("finished", False))
                call.done = True
            except Exception as exc:  # a step's result
                call.error = exc

        call.task = self._spawn(run())
        return {"call": name}

    async def _op_settle(self, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("wait_for") or []
        if names:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_FOR_CLIENT  # (virtual time does not move during a settle)
            while not all(n in self.sockets for n in names):
                left = deadline - loop.time()
                if left <= 0:
                    break  # the runner sees the client missing from the report
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
        await self.settle()
        return self.report()

    async def settle(self) -> None:
        """Settle, and let close frames in progress finish: a framework whose close waits for
        the client's answer (aiohttp) is waiting on the network, not on a step."""
        for _ in range(100):
            await settle()
            closing = [s for s in self.sockets.values() if s._closing_frame]
            if not closing:
                return
            try:
                await asyncio.wait_for(closing[0]._close_done.wait(), CLOSE_BOUND)
            except TimeoutError:
                return  # the report shows what the client did not answer

    def report(self) -> dict[str, Any]:
        calls = {name: call.status() for name, call in self.calls.items()}
        for name, socket in self.sockets.items():
            key = f"connect:{name}"
            if key not in calls and socket.close_code == 1008:  # refused by the adapter (ADAPT-2)
                calls[key] = {"result": "raised", "error": "invalid"}
        return {"calls": calls, "clients": {n: s.report() for n, s in self.sockets.items()}}

    async def _op_release(self, body: dict[str, Any]) -> dict[str, Any]:
        socket = self._socket(body)
        for _ in range(int(body.get("n", 1))):
            socket.release()
            await self.settle()
        return {}

    async def _op_fail(self, body: dict[str, Any]) -> dict[str, Any]:
        self._socket(body).fail()
        return {}

    async def _op_accept(self, body: dict[str, Any]) -> dict[str, Any]:
        self._socket(body).let_accept()
        return {}

    async def _op_drop(self, body: dict[str, Any]) -> dict[str, Any]:
        self._socket(body).drop()
        return {}

    async def _op_detach(self, body: dict[str, Any]) -> dict[str, Any]:
        socket = self._socket(body)
        return _sync(lambda: {"detached": bool(self.manager.detach(socket.task, socket))})

    async def _op_disconnect(self, body: dict[str, Any]) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            discarded = self.manager.disconnect(body["task"])
            return {"discarded": discarded if isinstance(discarded, int) else None}
        return _sync(run)

    async def _op_advance(self, body: dict[str, Any]) -> dict[str, Any]:
        seconds = body["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
                math.isfinite(seconds) and seconds >= 0):
            raise _Problem(400, "bad_request", f"seconds={seconds!r}: expected a finite number >= 0")
        if not self.timers_are_virtual() and any(s._held or not s.accepted for s in self.sockets.values()):
            raise _Problem(422, "unsupported", "this server's timers are not on the virtual clock")
        self.clock.advance(float(seconds))
        return {}

    async def _op_query(self, body: dict[str, Any]) -> dict[str, Any]:
        return _sync(lambda: {"connected": bool(self.manager.get_connection_status(body["task"])),
                              "queued": int(self.manager.get_queued_message_count(body["task"]))})

    async def aclose(self) -> None:
        """End what still runs (the server is stopping)."""
        for socket in self.sockets.values():
            socket.abandon()
        await asyncio.gather(*(_close_quietly(s.inner) for s in self.sockets.values()))
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except BaseException:
                pass


def _sync(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return run()
    except Exception as exc:
        return {"result": "raised", "error": error_kind(exc)}


async def _close_quietly(inner: Any) -> None:
    try:
        await asyncio.wait_for(inner.close(code=1001, reason="reset"), 5.0)
    except BaseException:
        pass
