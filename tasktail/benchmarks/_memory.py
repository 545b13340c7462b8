"""Memory: one fresh interpreter per point (``_memprobe``), slopes of bytes against queued
messages and tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ._analysis import _fit
from ._config import BenchConfig
from ._subjects import SUBJECTS


# -- memory --------------------------------------------------------------------------------


def _probe(args: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    done = subprocess.run([sys.executable, "-m", "tasktail.benchmarks._memprobe", json.dumps(args)],
                          capture_output=True, text=True, timeout=300, env=env)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {**args, "error": tail}
    return json.loads(done.stdout.strip().splitlines()[-1])


#: the per-message slope queues into this many tasks
MEMORY_TASKS_FOR_MESSAGES = 10
#: Channels scans every channel on every send, so its per-task points stay small
MEMORY_TASK_CAP = {"channels": 2000}


def run_memory(config: BenchConfig, log: Callable[[str], None]) -> list[dict[str, Any]]:
    jobs: list[tuple[str, dict[str, Any]]] = []
    names = [s for s in config.memory_subjects if s in SUBJECTS and not SUBJECTS[s].unavailable(config.backend)]
    names += [f"repr:{kind}" for kind in config.memory_reprs]
    skipped = [s for s in config.memory_subjects if s in SUBJECTS and SUBJECTS[s].unavailable(config.backend)]
    for name in names:
        for k in config.memory_messages:
            jobs.append((name, {"subject": name, "tasks": MEMORY_TASKS_FOR_MESSAGES, "queued": k,
                                "backend": config.backend}))
        if not name.startswith("repr:"):
            for n in config.memory_tasks:
                n = min(n, MEMORY_TASK_CAP.get(name, n))
                jobs.append((name, {"subject": name, "tasks": n, "queued": 1, "backend": config.backend}))
    log(f"  memory: {len(jobs)} measurements, each in a fresh interpreter")
    with ThreadPoolExecutor(max_workers=2) as pool:  # memory does not care about CPU contention
        results = list(pool.map(lambda job: _probe(job[1]), jobs))
    out = []
    for name in names:
        mine = [r for (n, _), r in zip(jobs, results) if n == name]
        errors = [r["error"] for r in mine if "error" in r]
        entry: dict[str, Any] = {"subject": name, "points": mine}
        if errors:
            entry.update(status="error", reason=errors[0])
            out.append(entry)
            continue
        per_msg = [r for r in mine if r["tasks"] == MEMORY_TASKS_FOR_MESSAGES and r["queued"] in config.memory_messages]
        slope, intercept, r2 = _fit([r["tasks"] * r["queued"] for r in per_msg], [r["bytes"] for r in per_msg])
        entry.update(status="ok", bytes_per_queued_message=slope, intercept_bytes=intercept, r2=r2,
                     text_bytes=mine[0]["text_bytes"], peak_bytes_largest=max(r["peak_bytes"] for r in per_msg))
        per_task = [r for r in mine if r["queued"] == 1 and r["tasks"] != MEMORY_TASKS_FOR_MESSAGES]
        if len(per_task) >= 2:
            t_slope, _, t_r2 = _fit([r["tasks"] for r in per_task], [r["bytes"] for r in per_task])
            entry["bytes_per_1000_tasks"] = t_slope * 1000  # each task holding one queued message
            entry["tasks_r2"] = t_r2
        out.append(entry)
    for name in skipped:
        out.append({"subject": name, "status": "skipped", "reason": SUBJECTS[name].unavailable(config.backend)})
    return out
