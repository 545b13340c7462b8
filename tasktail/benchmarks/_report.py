"""Terminal tables (fixed-width), JSON and the optional PNG chart."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["format_report", "write_json", "write_png", "clean_json"]


def _ns(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.1f} ms"
    if value >= 1e3:
        return f"{value / 1e3:.2f} us"
    return f"{value:.0f} ns"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


def _throughput(config: dict[str, Any]) -> list[str]:
    extra = config["workload"] == "overflow"
    headers = ["subject", "msgs/task", "ns/msg", "min-max", "msg/s", "x floor", "lost"]
    if extra:
        headers += ["drops", "gaps told"]
    headers += ["conformance", "note"]
    rows = []
    for r in config["rows"]:
        if r["status"] != "ok":
            rows.append([r["subject"], "-", "-", "-", "-", "-", "-"] + (["-", "-"] if extra else [])
                        + [r["conformance"], f"cannot: {r['reason']}"])
            continue
        cells = [r["subject"], str(r["messages_per_task"]), _ns(r["median_ns"]),
                 f"{_ns(r['min_ns'])}-{_ns(r['max_ns'])}", f"{r['msgs_per_s']:,.0f}",
                 _num(r["ratio_to_floor"]), str(r.get("lost", 0))]
        if extra:
            cells += [str(r.get("drops", "-")), str(r.get("gap_notices", "-"))]
        note = r.get("reason", "")
        if "produce_ns_per_msg" in r:
            note = (note + "; " if note else "") + f"produce only {_ns(r['produce_ns_per_msg'])}/msg"
        if r["subject"] == "floor" and config["workload"] in ("late", "overflow"):
            note = "connected loop of the same size"
        if "connects" in r:
            note = (note + "; " if note else "") + f"{r['connects']} connects"
        cells += [r["conformance"], note]
        rows.append(cells)
    return _table(headers, rows, right={1, 2, 3, 4, 5, 6, 7, 8} if extra else {1, 2, 3, 4, 5, 6})


def _holdup(config: dict[str, Any]) -> list[str]:
    headers = ["subject", "msgs/task", "hold p50", "p99", "max", "| stalled p50", "p99", "max",
               "p99 x clean", "latency p50", "p99", "x floor", "conformance", "note"]
    rows = []
    for r in config["rows"]:
        if r["status"] != "ok":
            rows.append([r["subject"]] + ["-"] * 11 + [r["conformance"], f"cannot: {r['reason']}"])
            continue
        note = r.get("reason", "")
        if r["subject"] == "floor":
            note = "clean run only (no failure handling)"
        if r.get("lost_fast_when_stalled"):
            note = (note + "; " if note else "") + f"fast clients lost {r['lost_fast_when_stalled']}"
        rows.append([
            r["subject"], str(r["messages_per_task"]), _ns(r["clean_hold_p50_ns"]), _ns(r["clean_hold_p99_ns"]),
            _ns(r["clean_hold_max_ns"]), "| " + _ns(r.get("stalled_hold_p50_ns")), _ns(r.get("stalled_hold_p99_ns")),
            _ns(r.get("stalled_hold_max_ns")), _num(r.get("p99_stalled_over_clean")),
            _ns(r["clean_latency_p50_ns"]), _ns(r["clean_latency_p99_ns"]), _num(r["ratio_to_floor"]),
            r["conformance"], note])
    return _table(headers, rows, right=set(range(1, 12)))


def format_report(report: dict[str, Any]) -> str:
    meta, machine = report["meta"], report["meta"]["machine"]
    out = [f"tasktail bench - {meta['started']} - {machine['cpu']} ({machine['cpus']} cpus) - "
           f"Python {machine['python']} - backend {meta['backend']} - {meta['seconds']} s",
           f"command: {meta['command']}   (tasktail {meta.get('tasktail_commit')})",
           f"load average at start {meta.get('load_average_at_start')}, at end {meta.get('load_average_at_end')} "
           "(other processes share the CPUs when these exceed 0)",
           "Medians of interleaved repetitions (A B C A B C ...), min-max across them; 'x floor' is the "
           "median over the median of the floor measured in the same configuration of this run."]
    for config in report["results"]:
        title = f"== {config['workload']}: {config['tasks']} tasks x {config['messages_per_task']} messages"
        if config["workload"] == "stalled":
            title += " (one producer per task; hold-up and latency of the fast clients' tasks; " \
                     "stalled run: 10% stalled + 10% slow clients)"
        out += ["", title + " =="]
        out += _holdup(config) if config["workload"] == "stalled" else _throughput(config)
    if report["growth"]:
        sizes = sorted({t for g in report["growth"] for t in g["tasks"]})
        headers = ["subject"] + [f"{t} tasks" for t in sizes] + ["largest/smallest", "slope ns/decade"]
        rows = []
        for g in report["growth"]:
            by = dict(zip(g["tasks"], g["ns_per_msg"]))
            rows.append([g["subject"]] + [_ns(by.get(t)) for t in sizes]
                        + [_num(g["largest_over_smallest"]), _num(g["slope_ns_per_decade"], "{:+.0f}")])
        out += ["", "== cost growth: connected ns/msg by number of tasks (flat is good; slope per 10x tasks) =="]
        out += _table(headers, rows, right=set(range(1, len(headers))))
    if report["memory"]:
        headers = ["subject", "B/queued msg", "r2", "intercept", "of which text", "KiB/1,000 tasks", "peak KiB"]
        rows = []
        for e in report["memory"]:
            if e.get("status") != "ok":
                rows.append([e["subject"], "-", "-", "-", "-", "-", f"{e.get('status')}: {e.get('reason')}"])
                continue
            rows.append([e["subject"], _num(e["bytes_per_queued_message"], "{:.0f}"), _num(e["r2"], "{:.4f}"),
                         _num(e["intercept_bytes"], "{:.0f}"), str(e["text_bytes"]),
                         _num(e.get("bytes_per_1000_tasks", float("nan")) / 1024, "{:.0f}"),
                         _num(e["peak_bytes_largest"] / 1024, "{:.0f}")])
        out += ["", "== memory (tracemalloc, fresh interpreter per point; slope of bytes vs queued messages; "
                    "per 1,000 tasks each holding one message) =="]
        out += _table(headers, rows, right=set(range(1, 7)))
    if report["reference_points_ns"]:
        out += ["", "== reference points (timeit, one operation) =="]
        out += _table(["operation", "cost"], [[k, _ns(v)] for k, v in report["reference_points_ns"].items()], right={1})
    out += ["", "== targets =="]
    out += _table(["target", "wanted", "measured", "status", "where"],
                  [[t["name"], t["target"], _num(t["measured"]), t["status"], t["where"]] for t in report["targets"]],
                  right={2})
    return "\n".join(out)


def clean_json(value: Any) -> Any:
    """NaN and infinities become null, so the file is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return value


def write_json(report: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(clean_json(report), f, indent=1, allow_nan=False)
        f.write("\n")


def write_png(report: dict[str, Any], path: str) -> str | None:
    """Draw ns/msg per subject (largest connected config) and the growth curves; return an
    explanation instead when matplotlib (the ``plot`` extra) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "PNG skipped: matplotlib missing (pip install 'tasktail[plot]')"
    connected = [c for c in report["results"] if c["workload"] == "connected"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    if connected:
        config = min(connected, key=lambda c: abs(math.log10(c["tasks"]) - 3))
        rows = [r for r in config["rows"] if r["status"] == "ok"]
        ax = axes[0]
        ax.barh([r["subject"] for r in rows], [r["median_ns"] / 1000 for r in rows],
                xerr=[[(r["median_ns"] - r["min_ns"]) / 1000 for r in rows],
                      [(r["max_ns"] - r["median_ns"]) / 1000 for r in rows]], color="tab:blue")
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("us per message (median, min-max; log scale)")
        ax.set_title(f"connected: {config['tasks']} tasks x {config['messages_per_task']}")
    ax = axes[1]
    colours = plt.get_cmap("tab20").colors
    for i, g in enumerate(report["growth"]):
        ax.plot(g["tasks"], [v / 1000 for v in g["ns_per_msg"]], marker="os^D"[i % 4],
                linestyle="-" if g["subject"].startswith(("ref", "floor")) else "--",
                color=colours[i % len(colours)], label=g["subject"])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tasks")
    ax.set_ylabel("us per message")
    ax.set_title("cost growth (connected)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
