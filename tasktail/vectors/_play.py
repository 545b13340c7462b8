"""Play one vector's steps against a manager, in-process, on virtual time; return what happened.

Theory of operation (the vector runner contract, README.md in this folder, says the same):

1. One fresh manager per vector and backend: ``factory(**config)`` with the vector's setup
   (``overflow`` as its name, ``clock`` reading ``CLOCK_BASE`` plus the virtual seconds
   elapsed). A ``seed`` run passes ``max_queue_size`` alone.
2. Every step that calls the manager starts the call as its own task, then the player
   *settles*; ``release n`` lets one held send through and settles, n times: it waits until every task is blocked, without moving the clock. Only
   ``advance`` moves virtual time, so a ``send_timeout`` fires only there.
3. A step's result is read once settled: a call has ``returned``, ``raised`` (with an error
   kind) or is ``blocked`` (waiting on a client). At the end each call's final status is read
   again (``end``), then the outcome is recorded and the calls still running are cancelled.
4. Each client is a ``FakeWebSocket`` (not strict: misuse is recorded, not raised) whose
   frames, close code and misuse (two sends at once) make its outcome.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from contextlib import AsyncExitStack
from collections.abc import Callable
from typing import Any

import anyio

from tasktail.fakes import Behaviour, FailOnSend, FakeWebSocket, Gate, Hook, Instant, seed_scheduler
from tasktail.fakes import wait_all_tasks_blocked as _trio_settle
from tasktail.fakes._virtual_time import clock_held, wait_quiescent

CLOCK_BASE = 1_764_000_000.0  # what the manager's clock reads at virtual time 0 of a run
BEHAVIOURS = ("instant", "gate", "never_read", "fail_first_send", "fail_accept", "hold_accept")
_SPINS = 10_000


class SendFailed(RuntimeError):
    """What a failing fake send raises (not an OSError: the socket stays usable, so the
    manager's own close code is seen)."""


class HeldAccept(Behaviour):
    """``accept()`` waits until an ``accept`` step lets it finish; sends are instant."""

    def __init__(self) -> None:
        self.let_through = anyio.Event()

    async def on_accept(self, ws: FakeWebSocket) -> None:
        await self.let_through.wait()


def _behaviour(name: str) -> Any:
    if name == "hold_accept":
        return HeldAccept()
    if name == "instant":
        return Instant()
    if name in ("gate", "never_read"):
        return Gate()
    if name == "fail_first_send":
        return FailOnSend(1, exc=lambda: SendFailed("send failed"))
    if name == "fail_accept":
        def refuse(ws: Any) -> None:
            raise SendFailed("accept failed")
        return Hook(accept=refuse)
    raise ValueError(f"unknown behaviour {name!r}; expected one of {BEHAVIOURS}")


def error_kind(exc: BaseException) -> str:
    """The language-neutral name of what a call raised."""
    names = {c.__name__ for c in type(exc).__mro__}
    for name, kind in (("TaskFinishedError", "finished"), ("TaskLimitError", "task_limit"),
                       ("PolicyError", "policy")):
        if name in names:
            return kind
    if isinstance(exc, (TypeError, ValueError)):
        return "invalid"
    return "error"


async def settle() -> None:
    """Return once every other task is blocked; never moves the virtual clock."""
    try:
        this = asyncio.current_task()
    except RuntimeError:
        this = None
    if this is None:  # trio: exact, and it wins over the clock's autojump
        await _trio_settle()
        return
    loop = asyncio.get_running_loop()
    for _ in range(_SPINS):
        await asyncio.sleep(0)
        busy = any(t is not this and (getattr(t, "_fut_waiter", None) is None or t._fut_waiter.done())
                   for t in asyncio.all_tasks())
        if not busy and not getattr(loop, "_ready", ()):
            if not clock_held():
                return
            await wait_quiescent()  # real I/O in flight (a Redis reply): not settled yet
    raise RuntimeError("the manager never settled (a task spins)")


class _Call:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.value: Any = None

    def status(self) -> dict[str, Any]:
        if self.error is not None:
            return {"result": "raised", "error": error_kind(self.error)}
        return {"result": "returned" if self.done else "blocked"}


def _frame(payload: str | bytes) -> Any:
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    try:
        return json.loads(text)
    except ValueError:
        return {"$text": text}


def _epoch_of(clients: dict[str, FakeWebSocket], name: str) -> str | None:
    frames = clients[name].client.frames if name in clients else []
    first = _frame(frames[0].payload) if frames else None
    if isinstance(first, dict) and first.get("type") in ("hello", "reset"):
        return first.get("epoch")
    return None


async def _answer(value: Any) -> Any:
    """A query's answer; a manager whose queries ask another process (the Redis backend's
    are coroutines) is awaited."""
    return await value if inspect.isawaitable(value) else value


async def _sync_step(manager: Any, step: dict[str, Any], clients: dict[str, FakeWebSocket],
                     tasks_of: dict[str, str]) -> dict[str, Any]:
    """``detach``, ``disconnect`` or ``query``: synchronous calls; what they raise is recorded."""
    try:
        if step["op"] == "detach":
            name = step["client"]
            return {"detached": bool(manager.detach(tasks_of[name], clients[name]))}
        if step["op"] == "disconnect":
            discarded = manager.disconnect(step["task"])
            return {"discarded": discarded if isinstance(discarded, int) else None}
        return {"connected": bool(await _answer(manager.get_connection_status(step["task"]))),
                "queued": int(await _answer(manager.get_queued_message_count(step["task"])))}
    except Exception as exc:
        return {"result": "raised", "error": error_kind(exc), "end": "raised"}


def build_config(setup: dict[str, Any], *, seed: bool, clock: Callable[[], float]) -> dict[str, Any]:
    if seed:
        return {"max_queue_size": setup["max_queue_size"]}
    config = {k: setup[k] for k in ("max_queue_size", "history_size", "send_timeout", "task_ttl",
                                    "max_tasks", "overflow") if k in setup}
    config["clock"] = clock
    return config


async def play(vector: dict[str, Any], factory: Callable[..., Any], *, seed: bool = False) -> dict[str, Any]:
    """Run ``vector["steps"]`` and return ``{"clients": {...}, "steps": [...]}``."""
    start = anyio.current_time()
    manager = factory(**build_config(vector["setup"], seed=seed,
                                     clock=lambda: CLOCK_BASE + (anyio.current_time() - start)))
    clients: dict[str, FakeWebSocket] = {}
    handles: dict[str, _Call] = {}
    tasks_of: dict[str, str] = {}
    calls: list[_Call | None] = []
    results: list[dict[str, Any] | None] = []

    async with AsyncExitStack() as stack:
        if hasattr(manager, "__aenter__"):  # a manager that runs tasks of its own (Redis's reader)
            manager = await stack.enter_async_context(manager)
            await settle()
        return await _steps(vector, manager, clients, handles, tasks_of, calls, results)


async def _steps(vector: dict[str, Any], manager: Any, clients: dict[str, FakeWebSocket],
                 handles: dict[str, _Call], tasks_of: dict[str, str], calls: list[_Call | None],
                 results: list[dict[str, Any] | None]) -> dict[str, Any]:
    async with anyio.create_task_group() as tg:
        def spawn(fn: Callable[[], Any]) -> _Call:
            call = _Call()

            async def run() -> None:
                try:
                    call.value = await fn()
                    call.done = True
                except Exception as exc:  # recorded: a step's result, never the runner's crash
                    call.error = exc
            tg.start_soon(run)
            return call

        for step in vector["steps"]:
            op = step["op"]
            call: _Call | None = None
            result: dict[str, Any] | None = None
            if op == "log":
                s = step
                call = spawn(lambda s=s: manager.send_log(s["task"], s["level"], s["message"],
                                                          s.get("progress"), s.get("finished", False)))
            elif op == "connect":
                ws = FakeWebSocket(_behaviour(step.get("behaviour", "instant")), strict=False)
                name = step["client"]
                clients[name], tasks_of[name] = ws, step["task"]
                kwargs: dict[str, Any] = {}
                if "after_seq" in step:
                    kwargs["after_seq"] = step["after_seq"]
                if "epoch" in step:
                    epoch = step["epoch"]
                    kwargs["epoch"] = _epoch_of(clients, epoch["$epoch_of"]) if isinstance(epoch, dict) else epoch
                call = handles[name] = spawn(lambda ws=ws, t=step["task"], kw=kwargs: manager.connect(ws, t, **kw))
            elif op == "release":
                gate = clients[step["client"]].gate
                for _ in range(step["n"]):  # one at a time, settling between: n frames in a row
                    if gate.pending:
                        gate.release(1)
                    await settle()
            elif op == "accept":
                held = clients[step["client"]].behaviour
                if isinstance(held, HeldAccept):
                    held.let_through.set()
            elif op == "fail":
                gate = clients[step["client"]].gate
                if gate.pending:
                    gate.fail_pending(SendFailed("send failed"), n=1)
            elif op == "drop":
                clients[step["client"]].client.vanish()
            elif op in ("detach", "disconnect", "query"):
                result = await _sync_step(manager, step, clients, tasks_of)
            elif op == "advance":
                await anyio.sleep(step["seconds"])
            else:
                raise ValueError(f"unknown step {op!r}")
            await settle()
            if call is not None:
                result = call.status()  # the end status is added after the last step
                if op == "log" and call.done:
                    seq = getattr(call.value, "seq", None)
                    result["seq"] = seq if isinstance(seq, int) else None
            calls.append(call)
            results.append(result)

        for call, result in zip(calls, results):
            if call is not None and result is not None:
                result["end"] = call.status()["result"]
        outcome_clients = {}
        for name, ws in clients.items():
            close = ws.close_code
            handle = handles[name].value
            if close is None and getattr(handle, "ended", False):
                close = getattr(handle, "close_code", None)  # ended by the manager, closed by the adapter
            outcome_clients[name] = {
                "accepted": ws.client.accepted,
                "frames": [_frame(f.payload) for f in ws.client.frames],
                "close": int(close) if close is not None else None,
                "violations": sorted({v.kind for v in ws.violations}),
            }
        tg.cancel_scope.cancel()
    return {"clients": outcome_clients, "steps": results}


def play_sync(vector: dict[str, Any], factory: Callable[..., Any], *, backend: str = "asyncio",
              seed: bool = False) -> dict[str, Any]:
    """``play`` in a fresh event loop on virtual time (trio's scheduler seeded)."""
    from tasktail.fakes import virtual_backend

    seed_scheduler(backend, 0)
    name, options = virtual_backend(backend)
    return anyio.run(lambda: play(vector, factory, seed=seed), backend=name, backend_options=options)
