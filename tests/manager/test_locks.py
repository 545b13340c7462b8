"""The reference keeps the lock, producer, content and memory rules (LOCK, PROD, FID, MEM-1).

Each test runs the rule's conformance check against the reference on the backend at hand
and requires it to find nothing: the same scenario a port is judged by."""

from __future__ import annotations

import pytest

from tasktail.scenarios import CHECKS, reference_factory
from tasktail.scenarios._checks_run import run_check
from tasktail.scenarios._subject import Subject

BACKENDS = ["asyncio", "trio"]


def _clean(name: str, backend: str) -> None:
    chk = next(c for c in CHECKS if c.name == name)
    result = run_check(Subject(reference_factory), chk, backend)
    assert result.findings == [] and result.status == "pass", (result.status, result.findings)


@pytest.mark.rule("FID-1")
@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_carry_what_was_logged(backend):
    _clean("conform_fid1_frames_carry_what_was_logged", backend)


@pytest.mark.rule("MEM-1")
@pytest.mark.parametrize("backend", BACKENDS)
def test_churned_tasks_leave_nothing_reachable(backend):
    _clean("conform_mem1_disconnect_frees_per_task_state", backend)


@pytest.mark.rule("LOCK-1")
@pytest.mark.parametrize("backend", BACKENDS)
def test_one_send_in_flight_per_socket(backend):
    _clean("conform_lock1_flush_and_live_send_never_overlap", backend)
    _clean("conform_lock1_concurrent_producers_never_overlap", backend)


@pytest.mark.rule("LOCK-2")
@pytest.mark.parametrize("backend", BACKENDS)
def test_lock_released_after_failure_and_cancellation(backend):
    _clean("conform_lock2_lock_released_after_failure_and_cancellation", backend)


@pytest.mark.rule("LOCK-3")
@pytest.mark.parametrize("backend", BACKENDS)
def test_waiters_of_a_disconnected_task(backend):
    _clean("conform_lock3_waiters_of_a_disconnected_task", backend)


@pytest.mark.rule("LOCK-4")
@pytest.mark.parametrize("backend", BACKENDS)
def test_waiters_served_in_arrival_order(backend):
    _clean("conform_lock4_waiters_served_in_arrival_order", backend)


@pytest.mark.rule("PROD-1")
@pytest.mark.parametrize("backend", BACKENDS)
def test_producer_never_waits_without_a_client(backend):
    _clean("conform_prod1_producer_never_waits_without_a_client", backend)
    _clean("conform_prod1_stalled_client_bounded", backend)
