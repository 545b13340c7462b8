"""Each zoo member really has its bug, and the TutorialManager really does not.

Independent of the conformance suite: the scripted scenarios in ``scripts.py`` run on
asyncio and trio in virtual time (``anyio_backend`` in ``tests/conftest.py``).
"""

from __future__ import annotations

import anyio
import pytest

from tasktail.fakes import FailOnSend, FakeWebSocket, Gate
from tasktail.zoo import ZOO, TutorialManager, factory_for, tutorial_factory

from .scripts import SCENARIOS, SHOWS, queued, texts

pytestmark = pytest.mark.anyio

GUARD = 600  # virtual seconds: a hang shows as TimeoutError, never as a stuck test run


def test_the_zoo_is_big_and_varied():
    assert len(ZOO) >= 15
    assert len({cls.breaks for cls in ZOO.values()}) >= 10
    assert set(SHOWS) == set(ZOO), "every member needs a scenario that shows its bug"
    for name, cls in ZOO.items():
        assert issubclass(cls, TutorialManager) and cls.__doc__, name
        # one bug, one hook: a member overrides a single method of the tutorial
        overridden = [k for k, v in vars(cls).items() if callable(v) and k in dir(TutorialManager)]
        assert len(overridden) == 1, (name, overridden)


def test_factories_build_the_right_class_with_capabilities():
    assert type(tutorial_factory(max_queue_size=5)) is TutorialManager
    for name, cls in ZOO.items():
        factory = factory_for(name)
        assert type(factory(max_queue_size=5)) is cls
        assert factory.tasktail_capabilities == tutorial_factory.tasktail_capabilities
    with pytest.raises(KeyError, match="LifoFlush"):
        factory_for("NoSuchBug")


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_tutorial_passes(name):
    with anyio.fail_after(GUARD):
        await SCENARIOS[name](TutorialManager)


@pytest.mark.parametrize("member", list(SHOWS), ids=lambda m: f"{m}-{ZOO[m].breaks}")
async def test_member_has_its_bug(member):
    scenario, raises = SHOWS[member]
    with anyio.fail_after(GUARD), pytest.raises(raises):
        await SCENARIOS[scenario](ZOO[member])


# -- the TutorialManager's harder corners (no zoo member, but it must hold) ----------------

async def test_tutorial_failed_send_after_disconnect_resurrects_nothing():
    manager = TutorialManager()
    gate = Gate()
    ws = FakeWebSocket(gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "in flight")
        await gate.wait_pending(1)
        manager.disconnect("job")
        gate.fail_pending(OSError("reset"))
    assert manager.active_connections == manager.message_queues == manager.connection_locks == {}


async def test_tutorial_reconnect_while_a_producer_waits_on_the_old_lock():
    manager = TutorialManager()
    gate = Gate()
    old = FakeWebSocket(gate)
    await manager.connect(old, "job")
    new = FakeWebSocket()
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "in flight")
        await gate.wait_pending(1)
        group.start_soon(manager.send_log, "job", "info", "discarded")
        await anyio.wait_all_tasks_blocked()
        manager.disconnect("job")
        await manager.connect(new, "job")  # a fresh task with a fresh lock
        await manager.send_log("job", "info", "fresh")
        gate.open()
    assert texts(old) == ["in flight"] and texts(new) == ["fresh"]
    assert old.violations == [] and new.violations == []


async def test_tutorial_cancel_mid_send_keeps_message_and_drops_client():
    manager = TutorialManager()
    gate = Gate()
    ws = FakeWebSocket(gate)
    await manager.connect(ws, "job")
    async with anyio.create_task_group() as group:
        group.start_soon(manager.send_log, "job", "info", "half written")
        await gate.wait_pending(1)
        group.cancel_scope.cancel()
    assert queued(manager) == ["half written"]
    assert not manager.get_connection_status("job") and ws.close_code == 1011


async def test_tutorial_accept_failure_registers_nothing():
    manager = TutorialManager()
    await manager.send_log("job", "info", "queued")

    class Refusing(FakeWebSocket):
        async def accept(self, *args, **kwargs):
            raise OSError("handshake failed")

    with pytest.raises(OSError):
        await manager.connect(Refusing(), "job")
    assert not manager.get_connection_status("job") and queued(manager) == ["queued"]


async def test_tutorial_vanished_client_is_closed_without_misuse():
    manager = TutorialManager()
    ws = FakeWebSocket(FailOnSend(1))  # the peer vanishes: Starlette raises 1006
    await manager.connect(ws, "job")
    await manager.send_log("job", "info", "lost peer")
    assert queued(manager) == ["lost peer"] and ws.violations == []


async def test_tutorial_frame_carries_the_seed_fields():
    manager = TutorialManager(clock=lambda: 1_700_000_000.25)
    ws = FakeWebSocket()
    await manager.connect(ws, "job")
    await manager.send_log("job", "success", "naïve ✓", progress=100, finished=True)
    assert ws.json_frames() == [{"task_id": "job", "level": "success", "message": "naïve ✓",
                                 "progress": 100, "finished": True,
                                 "timestamp": "2023-11-14T22:13:20.250000+00:00"}]
    assert "✓" in ws.texts()[0]  # UTF-8, not \\u escapes


@pytest.mark.parametrize("bad", [dict(max_queue_size=0), dict(max_queue_size="3"), dict(clock=3)])
def test_tutorial_rejects_bad_config(bad):
    with pytest.raises((TypeError, ValueError), match=next(iter(bad))):
        TutorialManager(**bad)
