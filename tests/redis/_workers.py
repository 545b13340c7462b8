"""Code that runs in separate OS processes (multiprocessing, spawn) in the Redis tests."""

from __future__ import annotations

import time


def produce(url: str, task_id: str, name: str, count: int, start_gate) -> None:
    """A worker process: ``count`` messages with the sync producer (no event loop)."""
    from tasktail.redis import SyncRedisProducer

    start_gate.wait(30)
    with SyncRedisProducer(url, max_queue_size=10_000) as producer:
        for i in range(count):
            producer.send_log(task_id, "info", f"{name}#{i}")


def hold_a_client(url: str, task_id: str, claim_ttl: float, ready) -> None:
    """A server process that attaches one client and then hangs until it is killed."""
    import anyio

    from tasktail.fakes import FakeWebSocket
    from tasktail.redis import RedisConnectionManager

    async def main() -> None:
        async with RedisConnectionManager(url, claim_ttl=claim_ttl) as manager:
            await manager.connect(FakeWebSocket(), task_id)
            ready.set()
            await anyio.sleep(3600)  # killed with SIGKILL long before

    anyio.run(main)


def produce_finishing(url: str, task_id: str, count: int, start_gate) -> None:
    """A worker process: ``count`` messages and a finished one, sync producer."""
    from tasktail.redis import SyncRedisProducer

    start_gate.wait(30)
    with SyncRedisProducer(url, max_queue_size=10_000) as producer:
        for i in range(count):
            producer.send_log(task_id, "info", f"{task_id}#{i}")
        producer.send_log(task_id, "success", "done", 100, True)



def produce_in_two_phases(url: str, task_id: str, before: int, after: int, start_gate, go_on) -> None:
    """``before`` messages, then (once ``go_on`` is set) ``after`` more and a finished one."""
    from tasktail.redis import SyncRedisProducer

    start_gate.wait(30)
    with SyncRedisProducer(url, max_queue_size=10_000) as producer:
        for i in range(before + after):
            if i == before:
                go_on.wait(30)
            producer.send_log(task_id, "info", f"{task_id}#{i}")
        producer.send_log(task_id, "success", "done", 100, True)

