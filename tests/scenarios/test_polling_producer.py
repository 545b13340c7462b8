"""A producer that polls (``while full: await sleep(0.1)``) under virtual time.

Regression: once PROD-1 was known, the search kept running this program to the end, and
anyio's ``wait_all_tasks_blocked`` on the virtual asyncio loop never returned beside the
two polling producers (fakes rule 7). The CI run that hit it did not finish in 90 minutes.
"""

from __future__ import annotations

import pytest

from tasktail.fakes import available_backends
from tasktail.scenarios._program import Connect, Log, Program, Release
from tasktail.scenarios._runner import run_program
from tasktail.zoo import factory_for

PROGRAM = Program(max_queue_size=1, ops=(
    Log(task=0), Log(task=0), Log(task=0), Connect(task=0, behaviour="gate"),
    Release(sock=1), Release(sock=1), Connect(task=0, behaviour="gate")), send_timeout=None, history_size=0)


@pytest.mark.parametrize("backend", available_backends())
def test_a_known_blocked_producer_lets_the_run_finish(backend):
    run = run_program(factory_for("BlockingPut"), PROGRAM, backend=backend, rules=frozenset({"PROD-1"}),
                      known=frozenset({("PROD-1", "blocked producer")}))
    history = "\n".join(run.history)
    assert "(not checked) PROD-1" in history  # the known finding is noted, not charged again
    assert "-- settle: every gate opens --" in history and "ok       #2" in history, history
