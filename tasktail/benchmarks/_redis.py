"""The Redis backend's rows (issue 11): end-to-end throughput, delivery latency, Redis memory
per queued message, beside the in-memory reference and the same floor, in the same run.

A private ``redis-server`` is started for the run (free loopback port, temporary directory,
no persistence) and killed after it; without ``redis-server`` the section says
``skipped: redis-server not found`` and has no figures. Every subject gets the same
workload, interleaved (floor, reference, Redis, floor, ...): ``tasks`` sockets that read
instantly, one producer logging ``messages`` lines per task round robin, each ``send_log``
awaited; the clock runs from the first call to the last frame written. A message's latency
is from the start of its ``send_log`` to its frame's ``send_text`` (for the reference and
the floor the write happens inside the call; for Redis it is append, ``XREAD``, write).
Memory: one task, no client, ``memory_messages`` 40-character lines appended with the cap
above that count; ``MEMORY USAGE`` of the stream key and the change of ``INFO memory``'s
``used_memory`` (the stream, the task's hash and TTLs), each divided by the count.
"""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import anyio

from ..manager import ConnectionManager, LogMessage

__all__ = ["redis_rows", "format_redis", "find_redis_server"]

LINE = "x" * 40  # the same 40-character line as the in-memory memory rows
_now = time.perf_counter


def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found is None and Path("/usr/bin/redis-server").exists():
        found = "/usr/bin/redis-server"
    return found


class _Sink:
    """A client that reads instantly and notes when each frame arrived."""

    __slots__ = ("arrived", "expect", "done", "application_state")

    def __init__(self, expect: int, done: Callable[[], None]) -> None:
        self.arrived: list[float] = []
        self.expect = expect
        self.done = done
        self.application_state = None

    async def accept(self) -> None:
        pass

    async def send_text(self, text: str) -> None:
        if text.startswith('{"type":"log"') or '"level"' in text:
            self.arrived.append(_now())
            if len(self.arrived) == self.expect:
                self.done()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


class _FloorSubject:
    """The bench's ``floor-to_json``: build, encode, hand to the socket; nothing else."""

    def __init__(self) -> None:
        self.sockets: dict[str, Any] = {}
        self.seqs: dict[str, int] = {}

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        self.sockets[task_id] = websocket
        self.seqs[task_id] = 0

    async def send_log(self, task_id: str, level: str, message: str) -> None:
        self.seqs[task_id] = seq = self.seqs[task_id] + 1
        await self.sockets[task_id].send_text(LogMessage(task_id, seq, time.time(), level, message, None,
                                                         False).to_json())


async def _one(subject: Any, tasks: int, messages: int, bound: float) -> dict[str, float]:
    remaining = [tasks]
    finished = anyio.Event()

    def one_done() -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            finished.set()

    sinks = {}
    for t in range(tasks):
        task_id = f"bench-{t}"
        sinks[task_id] = sink = _Sink(messages, one_done)
        await subject.connect(sink, task_id)
    started: dict[str, list[float]] = {task_id: [] for task_id in sinks}
    begin = _now()
    for i in range(messages):
        for task_id in sinks:
            started[task_id].append(_now())
            await subject.send_log(task_id, "info", f"{LINE[:36]}{i:04d}")
    with anyio.move_on_after(bound):
        await finished.wait()
    end = _now()
    if remaining[0]:
        raise RuntimeError(f"{remaining[0]} of {tasks} clients did not get all {messages} messages within {bound} s")
    latencies = sorted(a - s for task_id, sink in sinks.items() for s, a in zip(started[task_id], sink.arrived))
    total = tasks * messages
    return {"seconds": end - begin, "per_second": total / (end - begin),
            "p50_us": latencies[len(latencies) // 2] * 1e6,
            "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6}


async def _measure(url: str, tasks: list[int], messages: int, repeat: int, memory_messages: int,
                   log: Callable[[str], None]) -> dict[str, Any]:
    from tasktail.redis import RedisConnectionManager, RedisProducer

    rows: list[dict[str, Any]] = []
    for n in tasks:
        per = max(1, messages // n)
        runs: dict[str, list[dict[str, float]]] = {"floor-to_json": [], "ref-drop-oldest": [], "redis": []}
        for rep in range(repeat):
            runs["floor-to_json"].append(await _one(_FloorSubject(), n, per, 60))
            runs["ref-drop-oldest"].append(await _one(ConnectionManager(max_queue_size=per + 10), n, per, 60))
            async with RedisConnectionManager(url, max_queue_size=per + 10, prefix=f"bench{rep}-{n}") as manager:
                runs["redis"].append(await _one(manager, n, per, 120))
            log(f"redis bench: {n} tasks x {per}, repetition {rep + 1}/{repeat}")
        floor = statistics.median(r["seconds"] for r in runs["floor-to_json"])
        for name, results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            rows.append({"tasks": n, "messages": per, "subject": name, "seconds": seconds,
                         "per_second": statistics.median(r["per_second"] for r in results),
                         "p50_us": statistics.median(r["p50_us"] for r in results),
                         "p99_us": statistics.median(r["p99_us"] for r in results),
                         "ratio": seconds / floor})
    import redis as redis_py

    with redis_py.Redis.from_url(url) as r:
        before = int(r.info("memory")["used_memory"])
        async with RedisProducer(url, max_queue_size=memory_messages + 1, prefix="benchmem") as producer:
            for i in range(memory_messages):
                await producer.send_log("mem", "info", LINE)
        after = int(r.info("memory")["used_memory"])
        stream = int(r.memory_usage("benchmem:{mem}:log", samples=0) or 0)
    memory = {"messages": memory_messages, "stream_bytes": stream / memory_messages,
              "used_memory_bytes": (after - before) / memory_messages}
    return {"rows": rows, "memory": memory}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_rows(*, tasks: list[int], messages: int, repeat: int, memory_messages: int, backend: str = "asyncio",
               log: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """Start a private redis-server, measure, stop it. ``{"skipped": why}`` without one."""
    binary = find_redis_server()
    if binary is None:
        return {"skipped": "redis-server not found (apt-get install redis-server); no Redis figures"}
    try:
        import coredis  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        return {"skipped": "the redis extra is not installed (pip install 'tasktail[redis]'); no Redis figures"}
    with tempfile.TemporaryDirectory(prefix="tasktail-bench-redis-") as directory:
        port = _free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
             "--appendonly", "no", "--logfile", str(Path(directory) / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:  # a real server has no event to wait on: poll, bounded
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                        conn.sendall(b"PING\r\n")
                        if conn.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    return {"skipped": f"redis-server did not start on port {port}"}
                time.sleep(0.01)
            url = f"redis://127.0.0.1:{port}/0"
            result = anyio.run(_measure, url, tasks, messages, repeat, memory_messages, log, backend=backend)
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"INFO server\r\n")
                info = conn.recv(4096).decode(errors="replace")
            version = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                            if line.startswith("redis_version:")), "?")
            return {**result, "backend": backend, "redis_version": version}
        finally:
            process.kill()
            process.wait(timeout=10)


def format_redis(section: dict[str, Any]) -> str:
    if "skipped" in section:
        return f"## Redis backend\n\nskipped: {section['skipped']}"
    lines = [f"## Redis backend (redis-server {section['redis_version']}, loopback, no persistence; "
             f"{section['backend']})", "",
             "One producer awaiting each send_log, clients that read instantly; latency is send_log start to "
             "the frame's send_text.", "",
             f"{'tasks x msgs':>14} {'subject':<16} {'msgs/s':>10} {'x floor':>8} {'p50 µs':>9} {'p99 µs':>9}"]
    for row in section["rows"]:
        lines.append(f"{row['tasks']:>7} x {row['messages']:<5} {row['subject']:<16} {row['per_second']:>10,.0f} "
                     f"{row['ratio']:>8.1f} {row['p50_us']:>9.1f} {row['p99_us']:>9.1f}")
    mem = section["memory"]
    lines += ["", f"Redis memory per queued message ({mem['messages']:,} lines of 40 characters, one task, no "
              f"client): MEMORY USAGE of the stream {mem['stream_bytes']:.0f} B, used_memory growth "
              f"{mem['used_memory_bytes']:.0f} B"]
    return "\n".join(lines)
