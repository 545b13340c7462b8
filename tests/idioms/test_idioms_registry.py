"""The corpus is complete: labels are valid rule IDs, each one has its reproduction, and
the factories carry what the suite reads. Plus corners of ``writer_task_correct``."""

from __future__ import annotations

import anyio
import pytest

from tasktail.fakes import FakeWebSocket, Gate
from tasktail.idioms import IDIOMS, Idiom
from tasktail.scenarios._subject import CORE_RULES

from . import test_idioms_repro
from .support import ASYNCIO_ONLY, guarded, settle, texts

NEW_RULES = {"FID-1", "LOCK-1", "LOCK-2", "LOCK-3", "LOCK-4", "PROD-1"}
BROKEN = [name for name, idiom in IDIOMS.items() if idiom.fixed is not None]


def test_the_corpus_has_every_idiom_of_the_brief():
    assert len(BROKEN) >= 10 and "writer_task_correct" in IDIOMS
    assert sum(1 for n in BROKEN if not hasattr(IDIOMS[n].factory, "tasktail_backends")) >= 2  # anyio ones
    assert any("FID-1" in IDIOMS[n].breaks for n in BROKEN)


@pytest.mark.parametrize("name", list(IDIOMS))
def test_idiom_is_well_formed(name):
    idiom: Idiom = IDIOMS[name]
    assert idiom.name == name and idiom.style
    for factory in (idiom.factory, idiom.fixed):
        if factory is None:
            continue
        assert factory.tasktail_capabilities == frozenset()
        assert getattr(factory, "tasktail_backends", ("asyncio", "trio")) in (("asyncio",), ("asyncio", "trio"))
        manager = factory(max_queue_size=3)
        assert manager.get_connection_status("nobody") is False
        assert manager.get_queued_message_count("nobody") == 0
    assert set(idiom.breaks) | set(idiom.doubtful) <= set(CORE_RULES) | NEW_RULES
    assert all(reason.strip() for reason in {**idiom.breaks, **idiom.doubtful}.values())
    assert (idiom.fixed is None) == (not idiom.breaks)


@pytest.mark.parametrize("label", [(n, r) for n in BROKEN for r in IDIOMS[n].breaks], ids=lambda x: f"{x[0]}-{x[1]}")
def test_every_label_has_a_reproduction(label):
    name, rule = label
    assert hasattr(test_idioms_repro, f"test_{name}_{rule.replace('-', '_')}")


# -- writer_task_correct: corners the shared scenarios do not reach --------------------------


@pytest.mark.anyio
@ASYNCIO_ONLY
@guarded
async def test_writer_task_correct_producer_never_waits_for_a_stalled_client():
    m = IDIOMS["writer_task_correct"].factory(max_queue_size=2)
    gate = Gate()
    ws = FakeWebSocket(gate)
    await m.connect(ws, "job")
    started = anyio.current_time()
    for n in range(5):
        await m.send_log("job", "info", f"m{n}")
    await gate.wait_pending(1)
    assert anyio.current_time() == started and m.get_queued_message_count("job") <= 2 + 1
    gate.open()
    await settle()
    assert texts(ws)[-2:] == ["m3", "m4"] and m.get_queued_message_count("job") == 0
    m.disconnect("job")


@pytest.mark.anyio
@ASYNCIO_ONLY
@guarded
async def test_writer_task_correct_line_logged_after_replacement_goes_to_the_new_client():
    m = IDIOMS["writer_task_correct"].factory(max_queue_size=10)
    gate = Gate()
    old, new = FakeWebSocket(gate), FakeWebSocket()
    await m.connect(old, "job")
    await m.send_log("job", "info", "in flight")
    await gate.wait_pending(1)
    await m.connect(new, "job")  # accepted: from now on lines are the new client's (LOCK-4)
    await m.send_log("job", "info", "after")
    await settle()
    assert texts(new) == []  # the new writer waits for the old one's in-flight send
    gate.open()
    await settle()
    assert texts(old) == ["in flight"] and texts(new) == ["after"] and old.close_code == 4000
    assert old.violations == [] and new.violations == []
    m.disconnect("job")
    await settle()
    assert m.active_connections == m.message_queues == {} and not m._clients
