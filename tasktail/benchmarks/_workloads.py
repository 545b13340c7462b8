"""The workloads. Each builds a fresh subject instance, sets up untimed, times one thing and
returns a dict of raw measurements. The producer loop is the same for every subject."""

from __future__ import annotations

import gc
import time
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

from ._sockets import FastSocket, RecordingSocket, SlowSocket, StalledSocket, Tally, TimedSocket
from ._subjects import Params, Subject

__all__ = ["WORKLOADS", "script", "task_ids", "percentile"]

_now_ns = time.perf_counter_ns
_cpu_ns = time.process_time_ns
STILL = 0.5  # seconds without any delivery after which the rest counts as lost


async def _delivered(tally: Tally, sockets: list) -> None:
    """Wait until every socket has what it expects, or delivery stops making progress."""
    last = -1
    while tally.pending:
        if await tally.wait(STILL):
            return
        total = sum(s.count for s in sockets)
        if total == last:
            return
        last = total


def _uncapped(params: Params, m: int) -> Params:
    """Throughput workloads size the cap above m: they measure delivery, not overflow (a
    producer that never yields would otherwise overflow every writer-task buffer)."""
    return Params(max(params.max_queue_size, m), params.send_timeout)


def task_ids(n: int) -> list[str]:
    return [f"t{i:05d}" for i in range(n)]


def line(seq: int) -> str:
    """A typical 40-character log line."""
    return f"step {seq:07d}: processed 512 rows, ok."[:40].ljust(40, ".")


def script(m: int) -> list[tuple[str, str, int | None, bool]]:
    """(level, message, progress, finished) for seq 1..m: three progress ticks in four
    (what CoalesceProgress may merge), one plain line in four, the last one finished."""
    out = []
    for seq in range(1, m + 1):
        if seq == m:
            out.append(("success", line(seq), 100, True))
        elif seq % 4 == 0:
            out.append(("info", line(seq), None, False))
        else:
            out.append(("info", line(seq), min(99, seq * 100 // m), False))
    return out


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[index])


async def _produce(send, ids: list[str], msgs: list) -> None:
    for level, text, progress, finished in msgs:
        for task_id in ids:
            await send(task_id, level, text, progress, finished)


async def connected(subject: Subject, params: Params, n: int, m: int) -> dict[str, Any]:
    """n connected fast clients; one producer logs m messages to each task, round robin."""
    ids, msgs = task_ids(n), script(m)
    async with subject.build(_uncapped(params, m)) as inst:
        tally = Tally()
        sockets = [FastSocket(tally, m) for _ in ids]
        for ws, task_id in zip(sockets, ids):
            await inst.connect(ws, task_id)
        gc.collect()
        c0, t0 = _cpu_ns(), _now_ns()
        await _produce(inst.send, ids, msgs)
        await _delivered(tally, sockets)
        elapsed, cpu = _now_ns() - t0, _cpu_ns() - c0
    return {"elapsed_ns": elapsed, "cpu_ns": cpu, "messages": n * m, "lost": n * m - sum(s.count for s in sockets)}


async def late(subject: Subject, params: Params, n: int, m: int) -> dict[str, Any]:
    """Produce everything with no client (queued, cap above m), then connect every client."""
    if subject.kind == "floor":
        return await connected(subject, params, n, m)
    ids, msgs = task_ids(n), script(m)
    params = Params(max(params.max_queue_size, m), params.send_timeout)
    async with subject.build(params) as inst:
        tally = Tally()
        sockets = [FastSocket(tally, m) for _ in ids]
        gc.collect()
        c0, t0 = _cpu_ns(), _now_ns()
        await _produce(inst.send, ids, msgs)
        t1 = _now_ns()
        for ws, task_id in zip(sockets, ids):
            await inst.connect(ws, task_id)
        await _delivered(tally, sockets)
        elapsed, cpu = _now_ns() - t0, _cpu_ns() - c0
    return {"elapsed_ns": elapsed, "cpu_ns": cpu, "produce_ns": t1 - t0, "messages": n * m,
            "lost": n * m - sum(s.count for s in sockets)}


async def overflow(subject: Subject, params: Params, n: int, m: int) -> dict[str, Any]:
    """No client while m messages per task are logged past a cap of m // 4 (timed), then a
    client connects (untimed) and we count what arrives: log lines and gap notices."""
    if subject.kind == "floor":
        return await connected(subject, params, n, m)
    ids, msgs = task_ids(n), script(m)
    cap = max(1, m // 4)
    async with subject.build(Params(cap, params.send_timeout)) as inst:
        gc.collect()
        c0, t0 = _cpu_ns(), _now_ns()
        await _produce(inst.send, ids, msgs)
        elapsed, cpu = _now_ns() - t0, _cpu_ns() - c0
        sockets = [RecordingSocket() for _ in ids]
        for ws, task_id in zip(sockets, ids):
            await inst.connect(ws, task_id)
        if not inst.sync_delivery:  # let the writers drain
            last = -1
            while (total := sum(s.count for s in sockets)) != last:
                last = total
                await anyio.sleep(0.01)
    delivered = sum(s.logs for s in sockets)
    return {"elapsed_ns": elapsed, "cpu_ns": cpu, "messages": n * m, "cap": cap, "delivered": delivered,
            "drops": n * m - delivered, "gap_notices": sum(s.gaps for s in sockets)}


def _roles(n: int, stalled: float, slow: float) -> list[str]:
    """Spread stalled and slow clients evenly: with 10% each, task 3 of every 10 stalls and
    task 7 of every 10 is slow."""
    roles = []
    for i in range(n):
        frac = (i % 10 + 0.5) / 10 if n >= 10 else (i + 0.5) / n
        if stalled and abs(frac - 0.35) < stalled / 2:
            roles.append("stalled")
        elif slow and abs(frac - 0.75) < slow / 2:
            roles.append("slow")
        else:
            roles.append("fast")
    return roles


async def holdup(subject: Subject, params: Params, n: int, m: int, *, stalled: float = 0.0,
                 slow: float = 0.0, slow_delay: float = 0.002) -> dict[str, Any]:
    """One producer per task, all concurrent, each yielding between messages. Times every
    ``send`` of the tasks whose clients are fast (the hold-up), and when each of their
    frames arrived (delivery latency). Stalled clients block until the send timeout."""
    ids, msgs = task_ids(n), script(m)
    roles = _roles(n, stalled, slow)
    async with subject.build(_uncapped(params, m)) as inst:
        tally = Tally()
        sockets: list[Any] = []
        for role in roles:
            if role == "fast":
                sockets.append(TimedSocket(tally, m))
            elif role == "slow":
                sockets.append(SlowSocket(tally, m, slow_delay))
            else:
                sockets.append(StalledSocket(give_up=2 * params.send_timeout))
        for ws, task_id in zip(sockets, ids):
            await inst.connect(ws, task_id)
        send = inst.send
        starts: dict[int, list[int]] = {}
        holds: list[int] = []
        checkpoint = anyio.lowlevel.checkpoint

        async def producer(index: int, task_id: str, record: bool) -> None:
            mine_start: list[int] = []
            mine_hold: list[int] = []
            for level, text, progress, finished in msgs:
                t0 = _now_ns()
                await send(task_id, level, text, progress, finished)
                t1 = _now_ns()
                mine_start.append(t0)
                mine_hold.append(t1 - t0)
                await checkpoint()
            if record:
                starts[index] = mine_start
                holds.extend(mine_hold)

        gc.collect()
        c0, t0 = _cpu_ns(), _now_ns()
        async with anyio.create_task_group() as tg:
            for index, (task_id, role) in enumerate(zip(ids, roles)):
                tg.start_soon(producer, index, task_id, role == "fast")
        await _delivered(tally, sockets)
        elapsed, cpu = _now_ns() - t0, _cpu_ns() - c0
    latencies: list[int] = []
    lost = 0
    for index, begun in starts.items():
        times = sockets[index].times
        lost += len(begun) - len(times)
        latencies.extend(t - s for s, t in zip(begun, times))
    holds.sort()
    latencies.sort()
    return {
        "elapsed_ns": elapsed, "cpu_ns": cpu, "messages": n * m, "lost": lost,
        "stalled_clients": roles.count("stalled"), "slow_clients": roles.count("slow"),
        "hold_p50_ns": percentile(holds, 0.5), "hold_p99_ns": percentile(holds, 0.99),
        "hold_max_ns": float(holds[-1]) if holds else float("nan"),
        "latency_p50_ns": percentile(latencies, 0.5), "latency_p99_ns": percentile(latencies, 0.99),
        "latency_max_ns": float(latencies[-1]) if latencies else float("nan"),
    }


async def churn(subject: Subject, params: Params, n: int, m: int) -> dict[str, Any]:
    """Every task's client connects, gets 10 messages, leaves; m // 10 rounds."""
    ids = task_ids(n)
    per = 10 if m >= 10 else m
    rounds = max(1, m // per)
    msgs = script(rounds * per)
    async with subject.build(_uncapped(params, rounds * per)) as inst:
        gc.collect()
        delivered = 0
        c0, t0 = _cpu_ns(), _now_ns()
        for r in range(rounds):
            tally = Tally()
            sockets = [FastSocket(tally, per) for _ in ids]
            for ws, task_id in zip(sockets, ids):
                await inst.connect(ws, task_id)
            await _produce(inst.send, ids, msgs[r * per:(r + 1) * per])
            await _delivered(tally, sockets)
            for ws, task_id in zip(sockets, ids):
                inst.detach(task_id, ws)
            delivered += sum(s.count for s in sockets)
        elapsed, cpu = _now_ns() - t0, _cpu_ns() - c0
    total = n * rounds * per
    return {"elapsed_ns": elapsed, "cpu_ns": cpu, "messages": total, "connects": n * rounds, "lost": total - delivered}


async def threads(subject: Subject, params: Params, n: int, m: int, workers: int = 4) -> dict[str, Any]:
    """Producers in ``workers`` worker threads, each owning every workers-th task and
    blocking on a thread-safe send; the clients are connected and fast."""
    ids, msgs = task_ids(n), script(m)
    async with subject.build(_uncapped(params, m)) as inst:
        tally = Tally()
        sockets = [FastSocket(tally, m) for _ in ids]
        for ws, task_id in zip(sockets, ids):
            await inst.connect(ws, task_id)
        tsend = inst.threadsafe_send()

        def worker(mine: list[str]) -> None:
            for level, text, progress, finished in msgs:
                for task_id in mine:
                    tsend(task_id, level, text, progress, finished)

        gc.collect()
        c0, t0 = _cpu_ns(), _now_ns()
        async with anyio.create_task_group() as tg:
            for w in range(min(workers, n)):
                tg.start_soon(anyio.to_thread.run_sync, worker, ids[w::workers])
        await _delivered(tally, sockets)
        elapsed, cpu = _now_ns() - t0, _cpu_ns() - c0
    return {"elapsed_ns": elapsed, "cpu_ns": cpu, "messages": n * m, "lost": n * m - sum(s.count for s in sockets)}


WORKLOADS = {
    "connected": (connected, "n connected fast clients, one producer, round robin"),
    "late": (late, "produce with no client (queued), then connect every client"),
    "overflow": (overflow, "no client, log m per task past a cap of m/4"),
    "stalled": (holdup, "a producer per task; clean run vs 10% stalled + 10% slow clients"),
    "churn": (churn, "connect, 10 messages, leave; repeated"),
    "threads": (threads, "producers in 4 worker threads, blocking thread-safe send"),
}
