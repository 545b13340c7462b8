"""Two uvicorn server processes on one Redis, real ``websockets`` clients, producers in
other OS processes: every message reaches the right client once, in order (asyncio only:
the ``websockets`` client runs on asyncio)."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from . import _workers
from .support import BOUND

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def two_servers(redis_server, tmp_path):
    env = {**os.environ, "TASKTAIL_TEST_REDIS_URL": redis_server.url, "PYTHONPATH": str(ROOT)}
    servers = []
    try:
        for n in range(2):
            port = _free_port()
            log = open(tmp_path / f"uvicorn-{n}.log", "wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "tests.redis._app:app", "--host", "127.0.0.1", "--port",
                 str(port), "--log-level", "warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            servers.append((process, port, log))
        deadline = time.monotonic() + BOUND
        for process, port, _ in servers:
            while not _listening(port):  # polled with a bound: another process has no event to wait on
                assert process.poll() is None, (tmp_path / "uvicorn-0.log").read_text()
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.02)
        yield [port for _, port, _ in servers]
    finally:
        for process, _, log in servers:
            process.kill()
            process.wait(BOUND)
            log.close()


async def read_until_finished(ws) -> list[dict]:
    frames = []
    with anyio.fail_after(60):
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if frame.get("finished"):
                return frames


@pytest.mark.rule("RDS-3")
async def test_two_uvicorn_processes_deliver_every_message_once_in_order(redis_server, two_servers):
    first, second = two_servers
    context = multiprocessing.get_context("spawn")
    gate = context.Event()
    workers = [context.Process(target=_workers.produce_finishing, args=(redis_server.url, task, 150, gate))
               for task in ("a", "b")]
    async with (connect(f"ws://127.0.0.1:{first}/ws/a") as a, connect(f"ws://127.0.0.1:{second}/ws/b") as b):
        with anyio.fail_after(BOUND):  # both attached (claimed) before anything is logged
            import redis as redis_py

            with redis_py.Redis.from_url(redis_server.url) as r:
                while not (r.exists("tasktail:{a}:owner") and r.exists("tasktail:{b}:owner")):
                    await anyio.sleep(0.01)
        for worker in workers:
            worker.start()
        gate.set()
        got_a = await read_until_finished(a)
        got_b = await read_until_finished(b)
        for worker in workers:
            await anyio.to_thread.run_sync(worker.join, BOUND)
        # A client of task "a" on the other process replaces the first one with 4000.
        async with connect(f"ws://127.0.0.1:{second}/ws/a") as replacement:
            with anyio.fail_after(BOUND), pytest.raises(ConnectionClosed) as closed:
                await a.recv()
            assert closed.value.rcvd.code == 4000
            await replacement.close()
    assert [w.exitcode for w in workers] == [0, 0]
    for task, got in (("a", got_a), ("b", got_b)):
        assert [f["type"] for f in got] == ["log"] * 151
        assert {f["task_id"] for f in got} == {task}
        assert [f["seq"] for f in got] == list(range(1, 152))
        assert [f["message"] for f in got] == [f"{task}#{i}" for i in range(150)] + ["done"]
