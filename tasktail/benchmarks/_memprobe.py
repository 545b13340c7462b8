"""One memory measurement, run in a fresh interpreter by the benchmark:

    python -m tasktail.benchmarks._memprobe '{"subject": "ref-drop-oldest", "tasks": 100, "queued": 250}'

queues ``queued`` messages (unique 40-character lines) in each of ``tasks`` tasks with no
client reading, and prints JSON: bytes still allocated (tracemalloc, after a collection) and
the peak, both relative to just before the first task existed. ``subject`` is a benchmark
subject or ``repr:<kind>`` for a bare message representation kept in a deque per task.
Subjects that cannot queue without a client get a client that never reads.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from collections import deque
from datetime import datetime, timezone
from typing import Any, NamedTuple

import anyio

from ._sockets import StalledSocket
from ._subjects import SUBJECTS, Params
from ._peers import _TutorialMessage  # the tutorial's message: ISO timestamp string
from ._workloads import line, task_ids

REPRS = ("namedtuple", "slots", "dataclass", "dict", "pydantic")


class _SlotsMessage:
    __slots__ = ("task_id", "seq", "timestamp", "level", "message", "progress", "finished")

    def __init__(self, task_id, seq, timestamp, level, message, progress, finished):
        self.task_id, self.seq, self.timestamp, self.level = task_id, seq, timestamp, level
        self.message, self.progress, self.finished = message, progress, finished


class _Tuple(NamedTuple):
    task_id: str
    seq: int
    timestamp: float
    level: str
    message: str
    progress: float | None = None
    finished: bool = False


def _repr_builder(kind: str):
    now = time.time
    if kind == "namedtuple":
        return lambda t, s, text: _Tuple(t, s, now(), "info", text, None, False)
    if kind == "slots":
        return lambda t, s, text: _SlotsMessage(t, s, now(), "info", text, None, False)
    if kind == "dataclass":
        return lambda t, s, text: _TutorialMessage(t, datetime.now(timezone.utc).isoformat(), "info", text)
    if kind == "dict":
        return lambda t, s, text: {"task_id": t, "timestamp": datetime.now(timezone.utc).isoformat(),
                                   "level": "info", "message": text, "progress": None, "finished": False}
    if kind == "pydantic":
        import pydantic

        class PydanticMessage(pydantic.BaseModel):
            task_id: str
            timestamp: datetime
            level: str
            message: str
            progress: float | None = None
            finished: bool = False

        return lambda t, s, text: PydanticMessage(task_id=t, timestamp=datetime.now(timezone.utc),
                                                  level="info", message=text)
    raise ValueError(kind)


def _measure(base: int) -> dict[str, int]:
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    return {"bytes": current - base, "peak_bytes": peak - base}


def probe_repr(kind: str, tasks: int, queued: int) -> dict[str, Any]:
    build = _repr_builder(kind)
    ids = task_ids(tasks)
    build(ids[0], 1, line(1))  # warm any lazy class machinery before measuring
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    queues = {task_id: deque() for task_id in ids}
    # Each task counts its own seq, as a manager does: a loop variable shared by every task
    # would give the tuples of one round one int object between them (an int above 256 is
    # 28 bytes), which no per-task counter can, and flatter the plain representation.
    seqs = dict.fromkeys(ids, 0)
    counter = 0
    for _ in range(queued):
        for task_id in ids:
            counter += 1
            seqs[task_id] = seq = seqs[task_id] + 1
            queues[task_id].append(build(task_id, seq, line(counter)))
    return _measure(base)


async def probe_subject(name: str, tasks: int, queued: int, backend: str) -> dict[str, Any]:
    subject = SUBJECTS[name]
    ids = task_ids(tasks)
    params = Params(max_queue_size=queued + 10, send_timeout=3600.0)
    async with subject.build(params) as inst:
        send = inst.send
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        if not subject.late_clients:  # pub/sub: queue behind a client that never reads
            for task_id in ids:
                await inst.connect(StalledSocket(give_up=3600.0), task_id)
        counter = 0
        for seq in range(1, queued + 1):
            for task_id in ids:
                counter += 1
                await send(task_id, "info", line(counter), None, False)
        for _ in range(5):
            await anyio.sleep(0)
        result = _measure(base)
        tracemalloc.stop()
    return result


def main(argv: list[str]) -> int:
    args = json.loads(argv[0])
    name, tasks, queued = args["subject"], int(args["tasks"]), int(args["queued"])
    backend = args.get("backend", "asyncio")
    if name.startswith("repr:"):
        result = probe_repr(name[5:], tasks, queued)
    else:
        result = anyio.run(probe_subject, name, tasks, queued, backend, backend=backend)
    result.update(subject=name, tasks=tasks, queued=queued, text_bytes=sys.getsizeof(line(1)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
