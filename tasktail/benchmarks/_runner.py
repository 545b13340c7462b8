"""Orchestration: interleaved repetitions, medians, ratios to the floor of the same run,
cost growth, memory in fresh subprocesses, targets."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import anyio

from ._subjects import FLOOR_VARIANTS, SUBJECTS, Params, Subject
from ._workloads import WORKLOADS, holdup

__all__ = ["BenchConfig", "run_benchmarks", "quick_config", "SCHEMA"]

SCHEMA = "tasktail-bench/1"

#: Throughput workloads keep the event loop busy in one thread, so they are timed in process
#: CPU time (steadier on a shared machine); threads are timed on the wall clock. Wall time
#: is in the JSON for every run.
WALL_CLOCK = {"threads"}

#: messages per configuration (tasks x messages/task) when --messages is not given
FULL_TOTALS = {"connected": 200_000, "late": 50_000, "overflow": 50_000, "stalled": 20_000,
               "churn": 20_000, "threads": 5_000}
QUICK_TOTALS = {"connected": 20_000, "late": 10_000, "overflow": 10_000, "stalled": 2_000,
                "churn": 5_000, "threads": 1_000}


@dataclass
class BenchConfig:
    tasks: list[int] = field(default_factory=lambda: [10, 100, 1000, 10000])
    messages: int | None = None  # per task; None: totals[workload] // tasks
    totals: dict[str, int] = field(default_factory=lambda: dict(FULL_TOTALS))
    repeat: int = 5
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    subjects: list[str] | None = None  # None: all
    backend: str = "asyncio"
    run_budget_s: float = 1.0  # a design/peer slower than this per run gets fewer messages
    stall_timeout: float = 0.05  # the managers' send_timeout in the stalled workload
    stalled_share: float = 0.10
    slow_share: float = 0.10
    memory: bool = True
    memory_messages: list[int] = field(default_factory=lambda: [10, 250, 1000])  # per task, 10 tasks
    memory_tasks: list[int] = field(default_factory=lambda: [1000, 10000])  # 1 message each
    memory_subjects: list[str] = field(default_factory=lambda: [
        "ref-drop-oldest", "writer-deque", "writer-stream", "writer-asyncio", "tutorial", "channels", "broadcaster"])
    memory_reprs: list[str] = field(default_factory=lambda: ["namedtuple", "slots", "dataclass", "dict", "pydantic"])
    reference_points: bool = True
    quick: bool = False
    command: str = ""

    def messages_for(self, workload: str, n: int) -> int:
        if self.messages is not None:
            return self.messages
        return max(1, self.totals[workload] // n)


def quick_config(**overrides: Any) -> BenchConfig:
    config = BenchConfig(tasks=[10, 1000], totals=dict(QUICK_TOTALS), repeat=3, run_budget_s=0.25,
                         memory_messages=[10, 500], memory_tasks=[1000, 5000],
                         memory_subjects=["ref-drop-oldest", "writer-deque", "tutorial"],
                         memory_reprs=["namedtuple", "dataclass", "dict"], quick=True)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


# -- statistics ----------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x: (slope b, intercept a, r squared)."""
    n = len(xs)
    if n < 2:
        return float("nan"), float("nan"), float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0:
        return float("nan"), float("nan"), float("nan")
    slope = sxy / sxx
    r2 = (sxy * sxy) / (sxx * syy) if syy else 1.0
    return slope, my - slope * mx, r2


# -- conformance ---------------------------------------------------------------------------


def conformance(subject: Subject, examples: int = 100) -> str:
    """The conformance suite's verdict on a subject, on asyncio (a short budget: the full
    suite is ``tasktail conform``). Never a fake PASS: anything not run says why."""
    if subject.manager_factory is None:
        return subject.not_a_manager or "n/a"
    from tasktail.scenarios import check_connection_manager

    report = check_connection_manager(subject.manager_factory, backend="asyncio", examples=examples)
    failed = [rule for rule, outcome in report.outcomes.items() if outcome.status == "FAIL"]
    lenient = [rule for rule, outcome in report.outcomes.items() if outcome.status == "NON-STRICT"]
    if failed:
        return "FAIL " + ",".join(failed)
    return "PASS" + (f" (non-strict {','.join(lenient)})" if lenient else "")


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


# -- targets -------------------------------------------------------------------------------


def _find(results: list[dict], workload: str, n: int | None = None) -> dict | None:
    matching = [r for r in results if r["workload"] == workload and (n is None or r["tasks"] == n)]
    if not matching:
        return None
    if n is None:  # the configuration closest to the 1,000-task target
        matching.sort(key=lambda r: abs(math.log10(r["tasks"]) - 3))
    return matching[0]


def _row(config_result: dict | None, subject: str) -> dict | None:
    if config_result is None:
        return None
    row = next((r for r in config_result["rows"] if r["subject"] == subject), None)
    return row if row is not None and row["status"] == "ok" else None


def evaluate_targets(results: list[dict], growth: list[dict], memory: list[dict]) -> list[dict[str, Any]]:
    targets = []

    def add(name: str, target: str, measured: float | None, ok: bool | None, where: str) -> None:
        status = "NOT MEASURED" if measured is None or ok is None else ("MET" if ok else "MISSED")
        targets.append({"name": name, "target": target, "measured": measured, "status": status, "where": where})

    conn = _find(results, "connected")
    ref, tut = _row(conn, "ref-drop-oldest"), _row(conn, "tutorial")
    where = f"connected, {conn['tasks']} tasks x {conn['messages_per_task']}" if conn else ""
    add("reference vs floor", "<= 1.5x", ref["ratio_to_floor"] if ref else None,
        ref["ratio_to_floor"] <= 1.5 if ref else None, where)
    speedup = tut["median_ns"] / ref["median_ns"] if ref and tut else None
    add("tutorial / reference", ">= 4x", speedup, speedup >= 4 if speedup else None, where)
    mem = next((e for e in memory if e["subject"] == "ref-drop-oldest" and e.get("status") == "ok"), None)
    b = mem["bytes_per_queued_message"] if mem else None
    add("queued bytes per 40-char message", "<= 250 B", b, b <= 250 if b is not None else None, "memory")
    st = _row(_find(results, "stalled"), "ref-drop-oldest")
    r = st.get("p99_stalled_over_clean") if st else None
    add("hold-up p99, 10% stalled / clean", "<= 1.2x", r, r <= 1.2 if r is not None else None,
        f"stalled, {st and _find(results, 'stalled')['tasks']} tasks" if st else "")
    g = next((e for e in growth if e["subject"] == "ref-drop-oldest"), None)
    gr = g["largest_over_smallest"] if g and len(g["tasks"]) >= 2 else None
    add("ns/msg largest / smallest task count", "< 1.3x", gr, gr < 1.3 if gr is not None else None,
        f"connected, {g['tasks'][0]}..{g['tasks'][-1]} tasks" if g else "")
    return targets


def growth_table(results: list[dict]) -> list[dict[str, Any]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for config in results:
        if config["workload"] != "connected":
            continue
        for row in config["rows"]:
            if row["status"] == "ok":
                series.setdefault(row["subject"], []).append((config["tasks"], row["median_ns"]))
    out = []
    for subject, points in series.items():
        points.sort()
        tasks = [p[0] for p in points]
        values = [p[1] for p in points]
        slope, _, _ = _fit([math.log10(t) for t in tasks], values)
        out.append({"subject": subject, "tasks": tasks, "ns_per_msg": values,
                    "largest_over_smallest": values[-1] / values[0] if values and values[0] else float("nan"),
                    "slope_ns_per_decade": slope})
    return out


# -- the whole run ---------------------------------------------------------------------------


def _commit() -> str | None:
    """The tasktail checkout's commit, with ``+dirty`` when the manager has local edits."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "tasktail/manager"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for text in f:
                if text.startswith("model name"):
                    cpu = text.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import anyio as _anyio

    versions = {"anyio": getattr(_anyio, "__version__", None)}
    for module in ("orjson", "channels", "broadcaster", "trio"):
        try:
            from importlib.metadata import version

            versions[module] = version(module)
        except Exception:
            versions[module] = None
    try:
        versions["anyio"] = __import__("importlib.metadata").metadata.version("anyio")
    except Exception:
        pass
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {"load_average": load, "python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "versions": versions}


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
    status = {name: conformance(subject) for name, subject in SUBJECTS.items()}

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
    report["targets"] = evaluate_targets(results, growth, memory)
    return report
