"""Orchestration: the conformance column, the timed workloads, memory, reference points and
targets, assembled into one JSON-ready report."""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import Any, Callable

import anyio

from ._analysis import evaluate_targets, growth_table
from ._config import QUICK_TOTALS, SCHEMA, BenchConfig, quick_config
from ._environment import _commit, machine
from ._memory import run_memory
from ._subjects import SUBJECTS, Subject
from ._timing import _run_config, reference_points
from ._workloads import WORKLOADS


__all__ = ["BenchConfig", "run_benchmarks", "quick_config", "SCHEMA", "QUICK_TOTALS"]


# -- conformance ---------------------------------------------------------------------------


def conformance(subject: Subject, examples: int = 100) -> str:
    """The conformance suite's verdict on a subject, on asyncio (a short budget: the full
    suite is ``tasktail conform``). Never a fake PASS: anything not run says why."""
    if subject.manager_factory is None:
        return subject.not_a_manager or "n/a"
    from tasktail.scenarios import check_connection_manager
    from tasktail.scenarios._generate import private_hypothesis_home

    with private_hypothesis_home():
        report = check_connection_manager(subject.manager_factory, backend="asyncio", examples=examples)
    failed = [rule for rule, outcome in report.outcomes.items() if outcome.status == "FAIL"]
    lenient = [rule for rule, outcome in report.outcomes.items() if outcome.status == "NON-STRICT"]
    if failed:
        return "FAIL " + ",".join(failed)
    return "PASS" + (f" (non-strict {','.join(lenient)})" if lenient else "")


def run_benchmarks(config: BenchConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run everything ``config`` asks for; return the JSON-ready report."""
    log = log or (lambda text: None)
    unknown = [w for w in config.workloads if w not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload(s) {unknown}; expected some of {list(WORKLOADS)}")
    unknown = [s for s in config.subjects or [] if s not in SUBJECTS]
    if unknown:
        raise ValueError(f"unknown subject(s) {unknown}; expected some of {list(SUBJECTS)}")
    started = time.time()
    load_at_start = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    chosen = set(config.subjects or SUBJECTS) | {"floor"}
    status = {name: conformance(subject) if name in chosen else "not run (subject not selected)"
              for name, subject in SUBJECTS.items()}

    async def timed() -> list[dict[str, Any]]:
        out = []
        for workload in config.workloads:
            for n in config.tasks:
                out.append(await _run_config(workload, n, config, status, log))
        return out

    results = anyio.run(timed, backend=config.backend)
    growth = growth_table(results)
    memory = run_memory(config, log) if config.memory else []
    points = reference_points() if config.reference_points else {}
    report = {
        "schema": SCHEMA,
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                 "seconds": round(time.time() - started, 1), "command": config.command,
                 "tasktail_commit": _commit(),
                 "backend": config.backend, "machine": machine(), "load_average_at_start": load_at_start,
                 "load_average_at_end": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None},
        "config": asdict(config),
        "results": results,
        "growth": growth,
        "memory": memory,
        "reference_points_ns": points,
        "conformance": status,
    }
    report["targets"] = evaluate_targets(results, growth, memory, config.backend)
    return report
