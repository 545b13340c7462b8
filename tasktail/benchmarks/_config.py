"""What a run measures: the configuration and its defaults (``--quick`` included)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._workloads import WORKLOADS


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
        "ref-drop-oldest", "writer-deque", "writer-stream", "writer-asyncio", "tutorial-naive", "channels", "broadcaster"])
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
                         memory_subjects=["ref-drop-oldest", "writer-deque", "tutorial-naive"],
                         memory_reprs=["namedtuple", "dataclass", "dict"], quick=True)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config
