"""Timed runs: each subject built fresh, a probe run, then interleaved repetitions (A B C A
B C ...) on the clock the workload calls for; single-operation costs with timeit."""

from __future__ import annotations

import json
import time
import timeit
from typing import Any, Callable

from ._analysis import _median
from ._config import WALL_CLOCK, BenchConfig
from ._subjects import FLOOR_VARIANTS, SUBJECTS, Params, Subject
from ._workloads import WORKLOADS, holdup


# -- timed runs ----------------------------------------------------------------------------


def _subjects_for(config: BenchConfig, workload: str) -> list[Subject]:
    names = config.subjects or list(SUBJECTS)
    if "floor" not in names:
        names = ["floor", *names]  # every ratio needs the floor of the same run
    if workload != "connected":
        names = [n for n in names if n not in FLOOR_VARIANTS]
    return [SUBJECTS[n] for n in names]


async def _one(workload: str, subject: Subject, config: BenchConfig, n: int, m: int, variant: str) -> dict:
    func = WORKLOADS[workload][0]
    if workload == "stalled":
        params = Params(1000, config.stall_timeout)
        if variant == "stalled":
            return await holdup(subject, params, n, m, stalled=config.stalled_share, slow=config.slow_share)
        return await holdup(subject, params, n, m)
    return await func(subject, Params(1000, 10.0), n, m)


async def _run_config(workload: str, n: int, config: BenchConfig, status: dict[str, str],
                      log: Callable[[str], None]) -> dict[str, Any]:
    m = config.messages_for(workload, n)
    variants = ["clean", "stalled"] if workload == "stalled" else ["main"]
    rows: list[dict[str, Any]] = []
    active: list[tuple[dict, Subject]] = []
    for subject in _subjects_for(config, workload):
        row: dict[str, Any] = {"subject": subject.name, "kind": subject.kind,
                               "description": subject.description, "conformance": status[subject.name]}
        reason = subject.unavailable(config.backend) or subject.cannot(workload, n)
        if workload == "stalled" and subject.kind == "floor":
            reason = None  # the floor runs the clean variant only (it has no failure handling)
        if reason:
            row.update(status="skipped", reason=reason)
        else:
            row.update(status="ok", reason="", messages_per_task=m, samples={v: [] for v in variants})
            active.append((row, subject))
        rows.append(row)

    began = time.perf_counter()
    # Probe (also the warm-up): a small run tells how long a full one would take.
    for row, subject in active:
        probe_m = max(1, min(m, 2000 // n))
        sample = await _one(workload, subject, config, n, probe_m, "clean")
        per_msg = sample["elapsed_ns"] / max(1, sample["messages"])
        if subject.kind in ("design", "peer") and config.messages is None:
            affordable = int(config.run_budget_s * 1e9 / (per_msg * n)) if per_msg > 0 else m
            if affordable < m:
                row["messages_per_task"] = max(1, affordable)
                row["reason"] = f"ran {row['messages_per_task']}/task to stay in the time budget"

    for rep in range(config.repeat):
        for row, subject in active:  # A B C A B C ...: drift hits every subject alike
            for variant in variants:
                if variant == "stalled" and subject.kind == "floor":
                    continue
                sample = await _one(workload, subject, config, n, row["messages_per_task"], variant)
                row["samples"][variant].append(sample)
        log(f"  {workload} n={n} rep {rep + 1}/{config.repeat} ({time.perf_counter() - began:.1f} s)")

    for row, subject in active:
        _summarise(workload, row)
    floor = next(r for r in rows if r["subject"] == "floor")
    floor_median = floor.get("median_ns", float("nan"))
    for row in rows:
        if row["status"] == "ok":
            row["ratio_to_floor"] = row["median_ns"] / floor_median
    return {"workload": workload, "tasks": n, "messages_per_task": m, "floor_median_ns": floor_median,
            "headline": "p50 hold-up, clean run (ns)" if workload == "stalled" else "ns per message",
            "rows": rows}


def _summarise(workload: str, row: dict[str, Any]) -> None:
    samples = row["samples"]
    if workload == "stalled":
        clean = samples["clean"]
        values = [s["hold_p50_ns"] for s in clean]
        row["samples_ns"] = values
        for key in ("hold_p50_ns", "hold_p99_ns", "hold_max_ns", "latency_p50_ns", "latency_p99_ns", "latency_max_ns"):
            row[f"clean_{key}"] = _median([s[key] for s in clean])
        row["lost"] = max(s["lost"] for s in clean)
        stalled = samples.get("stalled") or []
        if stalled:
            for key in ("hold_p50_ns", "hold_p99_ns", "hold_max_ns", "latency_p50_ns", "latency_p99_ns"):
                row[f"stalled_{key}"] = _median([s[key] for s in stalled])
            row["stalled_p99_range_ns"] = [min(s["hold_p99_ns"] for s in stalled), max(s["hold_p99_ns"] for s in stalled)]
            row["p99_stalled_over_clean"] = row["stalled_hold_p99_ns"] / row["clean_hold_p99_ns"]
            row["stalled_clients"] = stalled[0]["stalled_clients"]
            row["slow_clients"] = stalled[0]["slow_clients"]
            row["lost_fast_when_stalled"] = max(s["lost"] for s in stalled)
    else:
        runs = samples["main"]
        key = "elapsed_ns" if workload in WALL_CLOCK else "cpu_ns"
        row["clock"] = "wall" if workload in WALL_CLOCK else "cpu"
        values = [s[key] / s["messages"] for s in runs]
        row["wall_median_ns"] = _median([s["elapsed_ns"] / s["messages"] for s in runs])
        row["samples_ns"] = values
        row["messages"] = runs[0]["messages"]
        row["lost"] = max(s.get("lost", 0) for s in runs)
        for key in ("drops", "gap_notices", "cap", "delivered", "connects"):
            if key in runs[0]:
                row[key] = runs[0][key]
        if "produce_ns" in runs[0]:
            row["produce_ns_per_msg"] = _median([s["produce_ns"] / s["messages"] for s in runs])
    row["median_ns"] = _median(row["samples_ns"])
    row["min_ns"] = min(row["samples_ns"])
    row["max_ns"] = max(row["samples_ns"])
    row["msgs_per_s"] = 1e9 / row["median_ns"] if row["median_ns"] > 0 else float("nan")
    row.pop("samples")


# -- reference points -----------------------------------------------------------------------


def reference_points() -> dict[str, float]:
    """Single-operation costs (timeit, best of 5), to read the floors against."""
    from dataclasses import asdict as _asdict
    from dataclasses import dataclass as _dataclass
    from datetime import datetime, timezone

    from ..manager import LogMessage

    utc = timezone.utc
    text = "step 0000042: processed 512 rows, ok...."

    @_dataclass
    class M:
        task_id: str
        timestamp: str
        level: str
        message: str
        progress: float | None
        finished: bool

    def seed_dict():
        return {"task_id": "t00001", "timestamp": datetime.now(utc).isoformat(), "level": "info",
                "message": text, "progress": 40, "finished": False}

    cases: dict[str, Callable[[], Any]] = {
        "datetime.now(utc).isoformat()": lambda: datetime.now(utc).isoformat(),
        "dict + json.dumps": lambda: json.dumps(seed_dict()),
        "dataclass + json.dumps(asdict())": lambda: json.dumps(_asdict(M("t00001", datetime.now(utc).isoformat(), "info", text, 40, False))),
        "LogMessage(...).to_json()": lambda: LogMessage("t00001", 42, time.time(), "info", text, 40, False).to_json(),
    }
    try:
        import orjson

        cases["dict + orjson.dumps().decode()"] = lambda: orjson.dumps(seed_dict()).decode()
    except ImportError:
        pass
    out = {}
    for name, func in cases.items():
        timer = timeit.Timer(func)
        out[name] = min(timer.repeat(5, 2_000)) / 2_000 * 1e9
    return out
