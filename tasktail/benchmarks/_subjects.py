"""Everything the benchmark compares, behind one small adapter interface.

* floors: bare loops that build and encode one message and hand it to the socket;
* the reference ``ConnectionManager`` with each overflow policy it ships (send under the
  task's lock);
* alternative delivery designs (a writer task per connection, with three buffers), written
  here as minimal sketches: they skip validation, gap notices and resume, so their numbers
  are a lower bound for the design, and they are not candidates until they pass conformance;
* peers: a FastAPI-tutorial-style manager, Django Channels' in-memory channel layer and
  broadcaster's memory backend (the ``peers`` extra; asyncio only).

An *instance* is built fresh for every measured run and used as an async context manager.
``send(task_id, level, message, progress, finished)`` is awaited by the producer;
``sync_delivery`` says whether a connected client already has the frame when it returns.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import anyio
import anyio.from_thread

from ..manager import CoalesceProgress, ConnectionManager, DropOldest, LogMessage, RejectNewest

__all__ = ["Params", "Subject", "SUBJECTS", "subject_names"]

UTC = timezone.utc

try:  # the ``fast`` extra
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


@dataclass(frozen=True)
class Params:
    max_queue_size: int = 1000
    send_timeout: float = 10.0


@dataclass
class Subject:
    name: str
    kind: str  # floor | reference | design | peer
    description: str
    build: Callable[[Params], Any]
    late_clients: bool = True  # delivers what was logged before the client connected
    capped: bool = True  # bounded queue with a rule for what gives way
    needs: tuple[str, ...] = ()  # modules that must be importable
    asyncio_only: bool = False
    #: zero-argument factory of a manager-like object for the conformance suite, or None
    manager_factory: Callable[..., Any] | None = None  # conformance factory: keyword config
    not_a_manager: str = ""  # why there is no factory
    unsupported: dict[str, str] | None = None  # workload -> reason
    max_tasks: int | None = None  # above this many tasks a run would take minutes
    max_tasks_reason: str = ""

    def unavailable(self, backend: str) -> str | None:
        for module in self.needs:
            if importlib.util.find_spec(module) is None:
                return f"needs {module} (pip install 'tasktail[peers]')"
        if self.asyncio_only and backend != "asyncio":
            return "asyncio only"
        return None

    def cannot(self, workload: str, tasks: int = 0) -> str | None:
        if self.max_tasks is not None and tasks > self.max_tasks:
            return self.max_tasks_reason
        return (self.unsupported or {}).get(workload)


class _Base:
    sync_delivery = True

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def threadsafe_send(self) -> Callable[..., Any]:
        """A blocking ``send`` for worker threads (call in async code)."""
        token = anyio.lowlevel.current_token()
        send = self.send

        def tsend(task_id, level, message, progress=None, finished=False):
            return anyio.from_thread.run(send, task_id, level, message, progress, finished, token=token)

        return tsend


# -- floors ------------------------------------------------------------------------------


class _Floor(_Base):
    """A bare loop body: build the message, encode it, hand it to the task's socket."""

    def __init__(self, params: Params, variant: str) -> None:
        self.sockets: dict[str, Any] = {}
        self.seqs: dict[str, int] = {}
        sockets, seqs = self.sockets, self.seqs
        now = datetime.now
        if variant == "orjson" and _orjson is not None:
            dumps = _orjson.dumps

            async def send(task_id, level, message, progress=None, finished=False):
                await sockets[task_id].send_text(dumps({
                    "task_id": task_id, "timestamp": now(UTC).isoformat(), "level": level,
                    "message": message, "progress": progress, "finished": finished}).decode())
        elif variant == "orjson-noawait" and _orjson is not None:
            dumps = _orjson.dumps

            async def send(task_id, level, message, progress=None, finished=False):
                sockets[task_id].deliver(dumps({
                    "task_id": task_id, "timestamp": now(UTC).isoformat(), "level": level,
                    "message": message, "progress": progress, "finished": finished}).decode())
        elif variant in ("json", "orjson", "orjson-noawait"):  # orjson missing: json.dumps
            dumps = json.dumps

            async def send(task_id, level, message, progress=None, finished=False):
                await sockets[task_id].send_text(dumps({
                    "task_id": task_id, "timestamp": now(UTC).isoformat(), "level": level,
                    "message": message, "progress": progress, "finished": finished}))
        elif variant == "to_json":
            clock = time.time

            async def send(task_id, level, message, progress=None, finished=False):
                seqs[task_id] = seq = seqs[task_id] + 1
                await sockets[task_id].send_text(
                    LogMessage(task_id, seq, clock(), level, message, progress, finished).to_json())
        else:  # pragma: no cover
            raise ValueError(variant)
        self.send = send

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        self.sockets[task_id] = websocket
        self.seqs.setdefault(task_id, 0)

    def detach(self, task_id: str, websocket: Any) -> None:
        if self.sockets.get(task_id) is websocket:
            del self.sockets[task_id]


# -- the reference -----------------------------------------------------------------------


class _Reference(_Base):
    def __init__(self, params: Params, policy: Any) -> None:
        self.manager = m = ConnectionManager(
            max_queue_size=params.max_queue_size, send_timeout=params.send_timeout, overflow=policy)
        self.send = m.send_log

    async def connect(self, websocket: Any, task_id: str) -> None:
        await self.manager.connect(websocket, task_id)

    def detach(self, task_id: str, websocket: Any) -> None:
        self.manager.detach(task_id, websocket)

    def threadsafe_send(self) -> Callable[..., Any]:
        return self.manager.threadsafe().send_log


# -- writer task per connection ------------------------------------------------------------


class _WState:
    __slots__ = ("seq", "buf", "tx", "rx", "scope", "wake", "dropped")

    def __init__(self) -> None:
        self.seq = 0
        self.buf: Any = None
        self.tx = self.rx = None
        self.scope: anyio.CancelScope | None = None
        self.wake: anyio.Event | None = None
        self.dropped = 0


class _WriterTask(_Base):
    """Producers only enqueue; one writer task per connection sends. Buffers: ``deque``
    (deque + Event), ``stream`` (anyio memory object stream), ``asyncio`` (asyncio.Queue).
    Drop-oldest at the cap; no validation, gap notices or resume (a sketch of the design)."""

    sync_delivery = False

    def __init__(self, params: Params, buffer: str) -> None:
        self.cap = params.max_queue_size
        self.timeout = params.send_timeout
        self.buffer = buffer
        self.tasks: dict[str, _WState] = {}
        self.clock = time.time
        self.send = {"deque": self._send_deque, "stream": self._send_stream, "asyncio": self._send_asyncio}[buffer]

    async def __aenter__(self):
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        for state in self.tasks.values():
            if state.tx is not None:
                state.tx.close()
                state.rx.close()

    def _new(self, task_id: str) -> _WState:
        state = self.tasks[task_id] = _WState()
        if self.buffer == "deque":
            state.buf = deque()
        elif self.buffer == "stream":
            state.tx, state.rx = anyio.create_memory_object_stream[LogMessage](self.cap)
        else:
            import asyncio

            state.buf = asyncio.Queue(self.cap)
        return state

    def _entry(self, task_id, level, message, progress, finished) -> tuple[_WState, LogMessage]:
        """The task's state and its next message: the part every buffer variant shares."""
        state = self.tasks.get(task_id) or self._new(task_id)
        state.seq = seq = state.seq + 1
        return state, LogMessage(task_id, seq, self.clock(), level, message, progress, finished)

    async def _send_deque(self, task_id, level, message, progress=None, finished=False):
        state, entry = self._entry(task_id, level, message, progress, finished)
        buf = state.buf
        if len(buf) >= self.cap:
            buf.popleft()
            state.dropped += 1
        buf.append(entry)
        wake = state.wake
        if wake is not None:
            state.wake = None
            wake.set()
        return entry

    async def _send_stream(self, task_id, level, message, progress=None, finished=False):
        state, entry = self._entry(task_id, level, message, progress, finished)
        try:
            state.tx.send_nowait(entry)
        except anyio.WouldBlock:
            state.rx.receive_nowait()
            state.dropped += 1
            state.tx.send_nowait(entry)
        return entry

    async def _send_asyncio(self, task_id, level, message, progress=None, finished=False):
        import asyncio

        state, entry = self._entry(task_id, level, message, progress, finished)
        try:
            state.buf.put_nowait(entry)
        except asyncio.QueueFull:
            state.buf.get_nowait()
            state.dropped += 1
            state.buf.put_nowait(entry)
        return entry

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        state = self.tasks.get(task_id) or self._new(task_id)
        if state.scope is not None:
            state.scope.cancel()
        state.scope = scope = anyio.CancelScope()
        self._tg.start_soon(self._writer, state, websocket, scope)

    def detach(self, task_id: str, websocket: Any) -> None:
        state = self.tasks.get(task_id)
        if state is not None and state.scope is not None:
            state.scope.cancel()
            state.scope = None

    async def _writer(self, state: _WState, websocket: Any, scope: anyio.CancelScope) -> None:
        send_text, timeout = websocket.send_text, self.timeout
        with scope:
            try:
                if self.buffer == "deque":
                    buf = state.buf
                    while True:
                        while buf:
                            with anyio.fail_after(timeout):
                                await send_text(buf[0].to_json())
                            buf.popleft()
                        state.wake = wake = anyio.Event()
                        await wake.wait()
                elif self.buffer == "stream":
                    async for entry in state.rx:
                        with anyio.fail_after(timeout):
                            await send_text(entry.to_json())
                else:
                    queue = state.buf
                    while True:
                        entry = await queue.get()
                        with anyio.fail_after(timeout):
                            await send_text(entry.to_json())
            except Exception:
                state.wake = None
                with anyio.move_on_after(timeout):
                    await websocket.close(code=4001, reason="send failed")


# -- peers ---------------------------------------------------------------------------------


@dataclass
class _TutorialMessage:
    task_id: str
    timestamp: str
    level: str
    message: str
    progress: float | None = None
    finished: bool = False


class _Tutorial(_Base):
    """The FastAPI-tutorial shape: dicts of sockets, deques and per-task locks, a dataclass
    per message, ``json.dumps(asdict(msg))``; no send timeout, drops silently at the cap."""

    def __init__(self, params: Params) -> None:
        self.max_queue_size = params.max_queue_size
        self.active_connections: dict[str, Any] = {}
        self.message_queues: dict[str, deque] = {}
        self.connection_locks: dict[str, Any] = {}
        self._lock: Any = None

    def _lock_for(self, task_id: str):
        lock = self.connection_locks.get(task_id)
        if lock is None:
            if self._lock is None:  # asyncio.Lock, as the tutorial; trio's lock on trio
                import sniffio

                if sniffio.current_async_library() == "asyncio":
                    import asyncio

                    self._lock = asyncio.Lock
                else:
                    self._lock = anyio.Lock
            lock = self.connection_locks[task_id] = self._lock()
        return lock

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        self.active_connections[task_id] = websocket
        queue = self.message_queues.get(task_id)
        if queue:
            async with self._lock_for(task_id):
                while queue:
                    await websocket.send_text(json.dumps(asdict(queue.popleft())))

    def disconnect(self, task_id: str) -> None:
        self.active_connections.pop(task_id, None)
        self.connection_locks.pop(task_id, None)

    def detach(self, task_id: str, websocket: Any) -> None:
        if self.active_connections.get(task_id) is websocket:
            del self.active_connections[task_id]

    # the rest of the seed's API, so the conformance suite can judge it as it is
    def get_connection_status(self, task_id: str) -> bool:
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id: str) -> int:
        return len(self.message_queues.get(task_id, ()))

    async def send_log(self, task_id, level, message, progress=None, finished=False):
        return await self.send(task_id, level, message, progress, finished)

    async def send(self, task_id, level, message, progress=None, finished=False):
        msg = _TutorialMessage(task_id, datetime.now(UTC).isoformat(), level, message, progress, finished)
        websocket = self.active_connections.get(task_id)
        if websocket is not None:
            try:
                async with self._lock_for(task_id):
                    await websocket.send_text(json.dumps(asdict(msg)))
                return msg
            except Exception:
                self.disconnect(task_id)
        queue = self.message_queues.get(task_id)
        if queue is None:
            queue = self.message_queues[task_id] = deque(maxlen=self.max_queue_size)
        queue.append(msg)
        return msg

    send_log = send


class _Consumers(_Base):
    """Shared plumbing of the pub/sub peers: one consumer task per connection."""

    sync_delivery = False

    def __init__(self, params: Params) -> None:
        self.params = params
        self.scopes: dict[str, anyio.CancelScope] = {}

    async def __aenter__(self):
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)

    def detach(self, task_id: str, websocket: Any) -> None:
        scope = self.scopes.pop(task_id, None)
        if scope is not None:
            scope.cancel()


class _Channels(_Consumers):
    """Django Channels' InMemoryChannelLayer: a group per task, a consumer per socket that
    encodes the event (as a Channels consumer's handler does). The layer has no send
    timeout; ``group_send`` drops silently when a channel holds ``capacity`` messages."""

    async def __aenter__(self):
        from channels.layers import InMemoryChannelLayer

        self.layer = InMemoryChannelLayer(capacity=self.params.max_queue_size)
        self.send = self._send
        return await super().__aenter__()

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        name = await self.layer.new_channel()
        await self.layer.group_add(task_id, name)
        self.scopes[task_id] = scope = anyio.CancelScope()
        self._tg.start_soon(self._consume, websocket, task_id, name, scope)

    async def _consume(self, websocket: Any, task_id: str, name: str, scope: anyio.CancelScope) -> None:
        layer = self.layer
        with scope:
            try:
                while True:
                    event = await layer.receive(name)
                    await websocket.send_text(json.dumps(event["payload"]))
            except Exception:
                await layer.group_discard(task_id, name)

    async def _send(self, task_id, level, message, progress=None, finished=False):
        await self.layer.group_send(task_id, {"type": "log.message", "payload": {
            "task_id": task_id, "timestamp": datetime.now(UTC).isoformat(), "level": level,
            "message": message, "progress": progress, "finished": finished}})


class _Broadcaster(_Consumers):
    """broadcaster's memory backend: publish the encoded message on the task's channel; a
    subscriber per socket forwards it. Unbounded queues, no send timeout."""

    async def __aenter__(self):
        from broadcaster import Broadcast

        self.broadcast = Broadcast("memory://")
        await self.broadcast.connect()
        self.send = self._send
        return await super().__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        await self.broadcast.disconnect()

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        self.scopes[task_id] = scope = anyio.CancelScope()
        ready = anyio.Event()
        self._tg.start_soon(self._consume, websocket, task_id, scope, ready)
        await ready.wait()  # subscribed before connect returns, or early messages are lost

    async def _consume(self, websocket: Any, task_id: str, scope: anyio.CancelScope, ready: anyio.Event) -> None:
        with scope:
            async with self.broadcast.subscribe(channel=task_id) as subscriber:
                ready.set()
                try:
                    async for event in subscriber:
                        await websocket.send_text(event.message)
                except Exception:
                    return

    async def _send(self, task_id, level, message, progress=None, finished=False):
        await self.broadcast.publish(channel=task_id, message=json.dumps({
            "task_id": task_id, "timestamp": datetime.now(UTC).isoformat(), "level": level,
            "message": message, "progress": progress, "finished": finished}))


# -- the catalogue -------------------------------------------------------------------------

_NO_LATE = "messages logged before the client subscribes are lost (no per-task queue)"
_NO_QUEUE = "no queue without a subscriber, so nothing to cap"
_PEER_UNSUPPORTED = {"late": _NO_LATE, "overflow": _NO_QUEUE}
_ENC = "orjson" if _orjson is not None else "json.dumps (orjson missing)"


def _ref_factory(policy_type: type) -> Callable[..., Any]:
    """A conformance factory (keyword config) for the reference with one overflow policy."""
    from tasktail.scenarios import reference_factory

    def factory(**config: Any) -> ConnectionManager:
        config.setdefault("overflow", policy_type())
        return ConnectionManager(**config)

    factory.tasktail_capabilities = reference_factory.tasktail_capabilities
    factory.tasktail_overflow = policy_type.name  # so the suite judges CAP-3 under this policy
    return factory


def _tutorial_factory(**config: Any) -> Any:
    """The tutorial peer as the conformance suite builds it: only the seed's cap."""
    return _Tutorial(Params(max_queue_size=config["max_queue_size"]))


SUBJECTS: dict[str, Subject] = {s.name: s for s in [
    Subject("floor", "floor", f"bare loop: dict of the six seed fields, isoformat(), {_ENC}, await send_text",
            lambda p: _Floor(p, "orjson"), not_a_manager="the floor"),
    Subject("floor-noawait", "floor", "the floor, handing the text over without awaiting send_text",
            lambda p: _Floor(p, "orjson-noawait"), not_a_manager="the floor"),
    Subject("floor-json", "floor", "the floor with json.dumps instead of orjson",
            lambda p: _Floor(p, "json"), not_a_manager="the floor"),
    Subject("floor-to_json", "floor", "the floor with the reference's encoder: LogMessage(...).to_json()",
            lambda p: _Floor(p, "to_json"), not_a_manager="the floor"),
    Subject("ref-drop-oldest", "reference", "ConnectionManager, DropOldest (default): send under the task's lock",
            lambda p: _Reference(p, DropOldest()), manager_factory=_ref_factory(DropOldest)),
    Subject("ref-reject-newest", "reference", "ConnectionManager, RejectNewest",
            lambda p: _Reference(p, RejectNewest()), manager_factory=_ref_factory(RejectNewest)),
    Subject("ref-coalesce", "reference", "ConnectionManager, CoalesceProgress",
            lambda p: _Reference(p, CoalesceProgress()), manager_factory=_ref_factory(CoalesceProgress)),
    Subject("writer-deque", "design", "writer task per connection; deque + Event buffer (sketch)",
            lambda p: _WriterTask(p, "deque"), not_a_manager="not checked (sketch: no gaps/resume)"),
    Subject("writer-stream", "design", "writer task per connection; anyio memory stream (sketch)",
            lambda p: _WriterTask(p, "stream"), not_a_manager="not checked (sketch: no gaps/resume)"),
    Subject("writer-asyncio", "design", "writer task per connection; asyncio.Queue (sketch)",
            lambda p: _WriterTask(p, "asyncio"), asyncio_only=True,
            not_a_manager="not checked (sketch: no gaps/resume)"),
    Subject("tutorial", "peer", "FastAPI-tutorial style: dataclass, json.dumps(asdict()), deque, per-task lock",
            _Tutorial, manager_factory=_tutorial_factory),
    Subject("channels", "peer", "Django Channels InMemoryChannelLayer, group per task, consumer per socket",
            _Channels, late_clients=False, needs=("channels",), asyncio_only=True,
            not_a_manager="n/a (pub/sub layer, not a manager)", unsupported=_PEER_UNSUPPORTED,
            max_tasks=1000, max_tasks_reason="not run above 1,000 tasks: every send scans every channel "
            "(O(tasks) per message), so even one message per task takes minutes"),
    Subject("broadcaster", "peer", "broadcaster memory backend, channel per task, subscriber per socket",
            _Broadcaster, late_clients=False, capped=False, needs=("broadcaster",), asyncio_only=True,
            not_a_manager="n/a (pub/sub layer, not a manager)", unsupported=_PEER_UNSUPPORTED),
]}

#: subjects that only make sense in the plain connected workload
FLOOR_VARIANTS = ("floor-noawait", "floor-json", "floor-to_json")


def subject_names() -> list[str]:
    return list(SUBJECTS)
