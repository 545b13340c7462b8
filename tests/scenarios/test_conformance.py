"""The conformance suite itself: the reference passes, broken managers fail, the CLI behaves."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections import deque

import anyio
import pytest

from tasktail.scenarios import (Connect, Log, Program, Release, check_connection_manager, determinism,
                                reference_factory, run_program)
from tasktail.scenarios import conform, replay
from tasktail.scenarios._subject import CORE_RULES, RULE_CAPABILITIES

CI_EXAMPLES = 150


class SeedManager:
    """The seed's API only: asyncio.Lock per task, send_json of the seed's fields, no seq."""

    def __init__(self, *, max_queue_size: int) -> None:
        self.max_queue_size = max_queue_size
        self.active_connections: dict = {}
        self.message_queues: dict = {}
        self.connection_locks: dict = {}

    def _lock(self, task_id):
        return self.connection_locks.setdefault(task_id, asyncio.Lock())

    async def connect(self, websocket, task_id):
        await websocket.accept()
        async with self._lock(task_id):
            self.active_connections[task_id] = websocket
            await self._drain(task_id, websocket)

    async def _drain(self, task_id, websocket):
        queue = self.message_queues.get(task_id)
        for _ in range(len(queue or ())):  # what is queued now; later messages drain themselves
            if not queue or self.active_connections.get(task_id) is not websocket:
                return
            entry = queue[0]
            try:
                await websocket.send_json(entry)
            except Exception:
                if self.active_connections.get(task_id) is websocket:
                    del self.active_connections[task_id]
                return
            # the cap may have evicted it while it was written: then the front is another one
            if queue and queue[0] is entry and self.message_queues.get(task_id) is queue:
                queue.popleft()

    def disconnect(self, task_id):
        self.active_connections.pop(task_id, None)
        self.message_queues.pop(task_id, None)
        self.connection_locks.pop(task_id, None)

    async def send_log(self, task_id, level, message, progress=None, finished=False):
        entry = {"task_id": task_id, "timestamp": "2026-01-01T00:00:00", "level": level,
                 "message": message, "progress": progress, "finished": finished}
        queue = self.message_queues.setdefault(task_id, deque(maxlen=self.max_queue_size))
        queue.append(entry)
        if task_id in self.active_connections:
            async with self._lock(task_id):
                websocket = self.active_connections.get(task_id)
                if websocket is not None:
                    await self._drain(task_id, websocket)

    def get_connection_status(self, task_id):
        return task_id in self.active_connections

    def get_queued_message_count(self, task_id):
        return len(self.message_queues.get(task_id, ()))


def seed_factory(**config):
    return SeedManager(**config)


class LeakyManager(SeedManager):
    """Broken: disconnect forgets the client but keeps the queue and the lock."""

    def disconnect(self, task_id):
        self.active_connections.pop(task_id, None)


def leaky_factory(**config):
    return LeakyManager(**config)


def test_reference_passes_every_rule_on_both_backends():
    report = check_connection_manager(reference_factory, examples=CI_EXAMPLES)
    assert report.ok, report.table()
    assert {o.status for o in report.outcomes.values()} == {"PASS"}
    assert set(report.outcomes) == set(RULE_CAPABILITIES)


def test_coverage_goals_are_reached():
    report = check_connection_manager(reference_factory, examples=CI_EXAMPLES)
    goals = ["cap reached", "disconnect during a flush", "contention on one task's lock",
             "send failing mid-flush", "replacement during a flush"]
    assert {goal: report.coverage.get(goal, 0) > 0 for goal in goals} == dict.fromkeys(goals, True)
    assert report.missed_goals == [] and "coverage goals: cap reached" in report.table()


def test_a_budget_too_thin_for_the_goals_is_incomplete_not_pass():
    report = check_connection_manager(reference_factory, backend="asyncio", examples=1, rules="ORD-2")
    assert report.missed_goals and not report.ok and report.exit_status == 4
    assert report.outcomes["ORD-2"].status == "INCOMPLETE"
    assert "never reached 'contention on one task's lock'" in report.outcomes["ORD-2"].detail


def test_seed_only_manager_passes_core_and_is_unsupported_elsewhere():
    report = check_connection_manager(seed_factory, backend="asyncio", examples=CI_EXAMPLES)
    for rule, outcome in report.outcomes.items():
        expected = {"PASS", "NON-STRICT"} if rule in CORE_RULES else {"UNSUPPORTED"}
        assert outcome.status in expected, (rule, outcome.detail, outcome.counterexample)


def test_broken_manager_fails_with_a_printed_counterexample():
    report = check_connection_manager(leaky_factory, backend="asyncio", examples=CI_EXAMPLES)
    assert not report.ok
    assert report.outcomes["DISC-1"].status == "FAIL"
    assert "== DISC-1 finding 1/" in report.table()


def test_cli_exit_codes(capsys):
    assert conform.main(["--rules", "ORD-*", "--examples", str(CI_EXAMPLES)]) == 0
    assert "ORD-2" in capsys.readouterr().out
    assert conform.main([f"{__name__}:leaky_factory", "--backend", "asyncio", "--rules", "DISC-1",
                         "--examples", "1"]) == 1
    assert conform.main(["no.such.module:factory"]) == 2
    assert conform.main(["json:dumps"]) == 2  # a factory that cannot take the config: usage, not 15 FAILs
    for bad in ("0", "-3", "many"):
        assert conform.main(["--examples", bad]) == 2
    assert conform.main(["--no-such-option"]) == 2
    assert conform.main(["--rules", "NOPE-9"]) == 2


def _same_report(report) -> dict:
    data = report.to_json()
    data.pop("seconds")  # wall time: the one thing jobs may change
    return {**data, "steps": report.steps}


def test_jobs_search_the_backends_at_once_with_the_same_report():
    """``jobs=2`` searches asyncio here and trio in a worker process (the factory is
    importable by its name); the merged report is the serial one, findings included."""
    serial, parallel = (check_connection_manager(leaky_factory, rules="DISC-*", backend="both", examples=30,
                                                 scripted=False, jobs=jobs) for jobs in (1, 2))
    assert (serial.jobs, parallel.jobs) == (1, 2)
    assert not parallel.ok and parallel.findings
    assert {b for f in parallel.findings for b in (f.backends or [f.backend])} == {"asyncio", "trio"}
    assert _same_report(parallel) == _same_report(serial)
    assert "wall, 2 jobs (" in parallel.table() and "wall, 1 job (" in serial.table()


def test_jobs_need_a_factory_importable_by_its_name():
    factory = lambda **config: reference_factory(**config)  # noqa: E731 - not importable by a name
    factory.tasktail_capabilities = reference_factory.tasktail_capabilities
    report = check_connection_manager(factory, rules="ORD-2", backend="both", examples=3, scripted=False, jobs=2)
    assert report.jobs == 1 and not report.findings


def test_cli_jobs_option():
    for bad in ("0", "-1", "two"):
        assert conform.main(["--jobs", bad]) == 2
    assert conform.main(["--rules", "ORD-2", "--examples", "3", "--jobs", "1"]) in (0, 4)


def test_cli_writes_nothing_into_the_current_directory(tmp_path):
    """In a process of its own (under pytest, hypothesis' plugin has chosen its home already):
    hypothesis would put its caches in ./.hypothesis."""
    code = "import sys; from tasktail._cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "conform", "--rules", "ORD-2", "--backend", "asyncio",
                           "--examples", "5"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 4), done.stderr
    assert list(tmp_path.iterdir()) == []


def test_replay_round_trip(tmp_path, capsys):
    code = conform.main([f"{__name__}:leaky_factory", "--backend", "asyncio", "--rules", "DISC-*",
                         "--examples", str(CI_EXAMPLES), "--save-failures", str(tmp_path)])
    assert code == 1
    saved = sorted(tmp_path.glob("*.json"))
    programs = [p for p in saved if json.loads(p.read_text())["program"]]
    scripted = [p for p in saved if json.loads(p.read_text())["check"]]
    assert programs and scripted, "every finding is saved, scripted ones too"
    assert replay.main([str(programs[0])]) == 1
    assert "VIOLATION" in capsys.readouterr().out
    assert replay.main([str(programs[0]), "--factory", "tasktail.scenarios:reference_factory"]) == 0
    assert replay.main([str(scripted[0])]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert replay.main([str(scripted[0]), "--factory", "tasktail.scenarios:reference_factory"]) == 0


def test_printed_program_is_runnable():
    program = Program(max_queue_size=2, ops=(Log(), Connect(behaviour="gate"), Log(), Release()))
    namespace: dict = {}
    exec(program.to_python("tasktail.scenarios:reference_factory"), namespace)
    assert namespace["result"].ok
    assert Program.from_json(json.loads(program.dumps())) == program


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_determinism(backend):
    assert determinism(reference_factory, backend=backend, seed=3, examples=40) == []
    program = Program(max_queue_size=1, ops=(Log(), Log(), Connect(behaviour="gate"), Release(), Log()))
    first, second = (run_program(reference_factory, program, backend=backend).trace() for _ in range(2))
    assert first == second


def test_pytest_plugin_under_pytest_asyncio_auto_mode(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        async def test_users_own_async_test():
            pass
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "pytest_asyncio", "--asyncio-mode=auto", "-c", "pytest.ini",
         # the plugin comes in through its pytest11 entry point, as in a user's project
         "--tasktail-impl=tasktail.scenarios:reference_factory",
         "--tasktail-rules=ORD-*,CAP-3", f"--tasktail-examples={CI_EXAMPLES}", "-q", "-W", "error",
         str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # the user's async test + ORD-1..3 + CAP-3
    assert "5 passed" in result.stdout, result.stdout


def test_unclaimed_rules_are_unsupported_not_failed():
    report = check_connection_manager(seed_factory, rules="RES-*,THR-*", backend="asyncio", examples=1)
    assert {o.status for o in report.outcomes.values()} == {"UNSUPPORTED"} and report.ok
