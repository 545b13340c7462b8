"""Generated programs over the wire: the reference's outcome in-process is what a correct
port must show; a port whose manager is wrong fails them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from tasktail.manager import ConnectionManager
from tasktail.vectors._corpus import with_policy
from tasktail.wire import TestServer, run_wire
from tasktail.wire._programs import blame, make_program, rules_of

pytestmark = [pytest.mark.anyio, pytest.mark.real_server]


class QueueCountOffByOne(ConnectionManager):
    """A planted bug for this test: the queue depth it answers is one too many (QRY-1)."""

    def get_queued_message_count(self, task_id: str) -> int:
        count = super().get_queued_message_count(task_id)
        return count + 1 if count else 0


def off_by_one_factory(**config: Any) -> QueueCountOffByOne:
    return QueueCountOffByOne(**with_policy(config))


@pytest.fixture(scope="module")
def off_by_one_server() -> Iterator[TestServer]:
    server = TestServer("starlette", factory=off_by_one_factory).start()
    try:
        yield server
    finally:
        server.stop()


def test_programs_are_deterministic_and_speak_the_vectors_vocabulary():
    assert make_program(3, 4) == make_program(3, 4) != make_program(4, 4)
    ops = {s["op"] for i in range(40) for s in make_program(0, i)["steps"]}
    assert ops == {"log", "connect", "release", "fail", "drop", "detach", "disconnect", "query", "advance", "accept"}
    assert set(rules_of(make_program(0, 0))) >= {"ORD-1", "ORD-2", "FLUSH-1", "QRY-1"}


def test_a_failed_program_is_blamed_on_what_differs():
    program = {"steps": [{"op": "log"}, {"op": "query"}]}
    assert blame(program, ["c1: close expected 4000, got 1000", "step 2: expected {}, got {}"]) == [
        "CLOSE-1", "REPL-1", "QRY-1"]
    assert blame(program, ["c2: frame 1 expected None, got {}", "c3: close expected None, got 4002"]) == [
        "ORD-2", "CLOSE-1"]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.parametrize("framework", ["starlette", "aiohttp"])
async def test_generated_programs_pass_against_both_python_servers(anyio_backend, framework, starlette_server,
                                                                   aiohttp_server):
    server = starlette_server if framework == "starlette" else aiohttp_server
    with anyio.fail_after(120):
        report = await run_wire(server.url, vectors=[], programs=12, seed=5)
    assert [v.vector for v in report.verdicts] == [f"program-5-{i}" for i in range(12)]
    assert {v.vector: (v.grade, v.problems) for v in report.verdicts if v.grade != "PASS"} == {}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_generated_programs_catch_a_wrong_manager_behind_the_reference_adapter(anyio_backend,
                                                                                      off_by_one_server):
    with anyio.fail_after(120):
        report = await run_wire(off_by_one_server.url, vectors=[], programs=12, seed=5)
    failed = [v for v in report.verdicts if v.grade == "FAIL"]
    assert len(failed) >= 3
    for verdict in failed:
        assert verdict.rules == ["QRY-1"]  # blamed on what differs, not on every rule the program touched
        assert all("'queued'" in p for p in verdict.problems), verdict.problems
    rules = report.per_rule()
    assert rules["QRY-1"][0] == "FAIL" and report.exit_status == 1
    assert {rule for rule, (grade, _) in rules.items() if grade == "FAIL"} == {"QRY-1"}
