"""Reading the samples: medians, least-squares fits, ratios to the floor, cost growth and
the targets."""

from __future__ import annotations

import math
import statistics
from typing import Any


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


#: issue 10: the reference's connected path against the floor of the same run
FLOOR_TARGETS = {"asyncio": ((1000, 1.2), (10000, 1.35)), "trio": ((1000, 1.5),)}
#: issue 10: queued memory against a plain 7-tuple per message (repr:namedtuple)
MEMORY_TARGET = 1.08


def evaluate_targets(results: list[dict], growth: list[dict], memory: list[dict],
                     backend: str = "asyncio") -> list[dict[str, Any]]:
    targets = []

    def add(name: str, target: str, measured: float | None, ok: bool | None, where: str) -> None:
        status = "NOT MEASURED" if measured is None or ok is None else ("MET" if ok else "MISSED")
        targets.append({"name": name, "target": target, "measured": measured, "status": status, "where": where})

    conn = _find(results, "connected")
    ref, tut = _row(conn, "ref-drop-oldest"), _row(conn, "tutorial-naive")
    where = f"connected, {conn['tasks']} tasks x {conn['messages_per_task']}" if conn else ""
    for n, wanted in FLOOR_TARGETS.get(backend, ((1000, 1.5),)):
        at = _find(results, "connected", n)
        row = _row(at, "ref-drop-oldest")
        ratio = row["ratio_to_floor"] if row and row.get("status") == "ok" else None
        add(f"reference vs floor, {n:,} tasks ({backend})", f"<= {wanted}x", ratio,
            ratio <= wanted if ratio is not None else None,
            f"connected, {n} tasks x {at['messages_per_task']}" if at else f"connected, {n} tasks (not run)")
    speedup = tut["median_ns"] / ref["median_ns"] if ref and tut else None
    add("tutorial-naive / reference", ">= 4x", speedup, speedup >= 4 if speedup else None, where)
    mem = next((e for e in memory if e["subject"] == "ref-drop-oldest" and e.get("status") == "ok"), None)
    plain = next((e for e in memory if e["subject"] == "repr:namedtuple" and e.get("status") == "ok"), None)
    b = (mem["bytes_per_queued_message"] / plain["bytes_per_queued_message"]
         if mem and plain and plain["bytes_per_queued_message"] > 0 else None)
    add("queued bytes / a plain 7-tuple's", f"<= {MEMORY_TARGET}x", b,
        b <= MEMORY_TARGET if b is not None else None, "memory")
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
