"""The ``idle`` summary behind ``send_log``'s connected, idle path (issue 10).

``TaskState.idle`` stands for "a new message may go straight to the socket": a client is
attached and open, the task's lock is free, nothing is queued, in flight or owed, and the
task is neither closed nor finished. ``ManagerCore.settle`` is its single owner. A stale
True would let a message overtake queued ones or share a socket with a send in flight, so a
property test drives random programs (logs, connects with instant, gated, slow and failing
clients, detach, disconnect, cancellation, gates opening) and checks, after every
operation, that the flag equals what it summarises, computed here from the state itself.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasktail.fakes import FailOnSend, Gate, Instant, Latency, wait_all_tasks_blocked

from .support import FakeWebSocket, make_manager

pytestmark = pytest.mark.anyio

TASKS = ("a", "b")
BEHAVIOURS = ("instant", "gate", "slow", "fail")


def summarised(state) -> bool:
    """What ``idle`` means, written out from the state (independently of settle)."""
    connection = state.connection
    if connection is None or connection.ended or state.closed or state.finished_seq:
        return False
    if state.in_flight is not None or len(state.queue) or len(connection.replay):
        return False
    if any(last > connection.cursor for _, last in state.gaps):
        return False  # a gap the client has not been told about
    return not state.lock.locked()


op = st.one_of(
    st.tuples(st.just("log"), st.sampled_from(TASKS), st.booleans()),
    st.tuples(st.just("connect"), st.sampled_from(TASKS), st.sampled_from(BEHAVIOURS)),
    st.tuples(st.just("detach"), st.sampled_from(TASKS)),
    st.tuples(st.just("disconnect"), st.sampled_from(TASKS)),
    st.tuples(st.just("cancel"), st.integers(0, 5)),
    st.tuples(st.just("open"), st.sampled_from(TASKS)),
)


@pytest.mark.rule("ORD-2")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=25), max_queue_size=st.sampled_from([1, 3, 100]),
       history_size=st.sampled_from([0, 2]))
async def test_idle_equals_what_it_summarises_after_every_operation(ops, max_queue_size, history_size):
    manager = make_manager(max_queue_size=max_queue_size, history_size=history_size, send_timeout=5.0)
    core = manager._core
    seen: list = []  # every task state ever created, closed ones included
    sockets: dict[str, FakeWebSocket] = {}
    gates: dict[str, Gate] = {}
    scopes: list[anyio.CancelScope] = []
    finished: set[str] = set()

    def check(after: str) -> None:
        for state in core.tasks.values():
            if not any(state is s for s in seen):
                seen.append(state)
        for state in seen:
            assert state.idle == summarised(state), (
                f"after {after}: task {state.task_id!r} idle={state.idle}, but the state says "
                f"{summarised(state)} (connection={state.connection}, queued={len(state.queue)}, "
                f"in_flight={state.in_flight is not None}, locked={state.lock.locked()}, closed={state.closed})")

    async def background(call, *args) -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            try:
                await call(*args)
            except Exception:
                pass  # a connect refused or failed, a finished task: not what is judged here

    with anyio.fail_after(600):
        async with anyio.create_task_group() as group:
            for step in ops:
                kind = step[0]
                if kind == "log":
                    _, task, last = step
                    if task in finished:
                        continue
                    if last:
                        finished.add(task)
                    group.start_soon(background, manager.send_log, task, "info", f"{task} line",
                                     None, last)
                elif kind == "connect":
                    _, task, behaviour = step
                    if task in finished:
                        continue
                    gate = gates[task] = Gate()
                    chosen = {"instant": Instant(), "gate": gate, "slow": Latency(0.5),
                              "fail": FailOnSend(1)}[behaviour]
                    ws = sockets[task] = FakeWebSocket(chosen, strict=False)
                    group.start_soon(background, manager.connect, ws, task)
                elif kind == "detach":
                    if step[1] in sockets:
                        manager.detach(step[1], sockets[step[1]])
                elif kind == "disconnect":
                    manager.disconnect(step[1])
                    finished.discard(step[1])
                elif kind == "cancel":
                    live = [scope for scope in scopes if not scope.cancel_called]
                    if live:
                        live[step[1] % len(live)].cancel()
                elif kind == "open":
                    if step[1] in gates:
                        gates[step[1]].release_all()
                check(f"{step} (at once)")
                await wait_all_tasks_blocked()
                check(str(step))
            for gate in gates.values():
                gate.release_all()
            await wait_all_tasks_blocked()
            check("the end")
            group.cancel_scope.cancel()
    check("cancelling what was left")


async def test_idle_path_is_taken_and_left_as_the_state_changes():
    # The summary in the simplest life of a task: not idle until a client is attached and
    # has been sent what was queued; idle between sends; not idle once it is finished.
    manager = make_manager()
    state_of = manager._core.tasks.get
    await manager.send_log("job", "info", "queued")
    assert not state_of("job").idle  # no client
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    assert state_of("job").idle
    await manager.send_log("job", "info", "live")
    assert state_of("job").idle and len(ws.texts()) == 2
    await manager.send_log("job", "success", "done", finished=True)
    assert not state_of("job").idle
    assert [t.count('"seq":') for t in ws.texts()] == [1, 1, 1]


class YieldsOnce(FakeWebSocket):
    """A client whose send yields to the event loop once before it completes: on asyncio a
    bare ``yield`` of None (``sleep(0)``), as Starlette's test client does."""

    async def send_text(self, data: str) -> None:
        await anyio.lowlevel.checkpoint()
        await super().send_text(data)


@pytest.mark.rule("ISO-1")
@pytest.mark.parametrize("send_timeout", [5.0, None])
async def test_a_send_that_suspends_once_is_resumed_where_it_stopped(send_timeout):
    # The idle path takes a send's first step itself; a send that suspended there (even on
    # a None, asyncio's bare yield) must be resumed, not awaited again from the start.
    manager = make_manager(send_timeout=send_timeout)
    ws = YieldsOnce()
    await manager.connect(ws, "job")
    for n in range(3):
        await manager.send_log("job", "info", f"m{n + 1}")
    assert [t.count('"message":"m') for t in ws.texts()] == [1, 1, 1]
    assert ws.violations == [] and manager.get_connection_status("job")
    assert manager._core.tasks["job"].idle


class WaitsOnEvent(FakeWebSocket):
    """A client whose send waits on an event, in no cancel scope of its own (on trio the
    deadline's scope then goes on top of the task's; under the fake's own scope otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = anyio.Event()
        self.blocked = 0

    async def send_text(self, data: str) -> None:
        if not self.go.is_set():
            self.blocked += 1
            await self.go.wait()
        await super().send_text(data)


@pytest.mark.rule("ISO-1")
@pytest.mark.parametrize("released", [False, True])
async def test_a_send_waiting_in_no_scope_of_its_own_is_bounded(released):
    # The deadline starts when the send suspends. Released in time, the message arrives;
    # never released, send_timeout ends the connection (4001) and the message stays queued.
    manager = make_manager(send_timeout=1.0)
    ws = WaitsOnEvent()
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "waits")
        await wait_all_tasks_blocked()
        assert ws.blocked == 1 and not manager._core.tasks["job"].idle
        if released:
            ws.go.set()
    if released:
        assert [t.count('"message":"waits"') for t in ws.texts()] == [1]
        assert manager._core.tasks["job"].idle
    else:
        assert ws.texts() == [] and not manager.get_connection_status("job")
        assert manager.get_queued_message_count("job") == 1
        assert ws.client.close_code == 4001
