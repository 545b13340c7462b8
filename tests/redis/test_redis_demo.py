"""``tasktail demo --redis URL``: two uvicorn worker processes on one real redis-server, a real
``websockets`` client (asyncio only: the ``websockets`` client runs on asyncio)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect

from .support import BOUND

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]
COMMAND = "from tasktail._cli import main; raise SystemExit(main())"


@pytest.fixture
def demo_on_redis(redis_server, tmp_path):
    log = open(tmp_path / "demo.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-c", COMMAND, "demo", "--redis", redis_server.url, "--workers", "2", "--port", "0",
         "--pace", "0.01", "--epochs", "3", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
    try:
        line = process.stdout.readline().decode()  # printed before uvicorn starts: never blocks long
        assert "serving on" in line, (line, (tmp_path / "demo.log").read_text())
        assert "2 worker processes" in line
        url = line.split("serving on ")[1].split()[0].rstrip("/")
        deadline = time.monotonic() + BOUND
        while True:  # the workers start after the address is printed; polled with a bound
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "the demo's workers did not start"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(BOUND)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(BOUND)
        process.stdout.close()
        log.close()


@pytest.mark.rule("RDS-7")
async def test_demo_with_two_workers_streams_a_task_to_a_websockets_client(demo_on_redis):
    url = demo_on_redis
    origin = {"Origin": url}
    async with httpx.AsyncClient(base_url=url, headers=origin, timeout=BOUND) as http:
        started = [await http.post("/api/tasks/training") for _ in range(4)]  # spread over both workers
        assert [r.status_code for r in started] == [201] * 4
        for response in started:
            task_id = response.json()["task_id"]
            info = await http.get(f"/api/tasks/{task_id}")  # any worker knows it (shared registry)
            assert info.status_code == 200 and info.json()["kind"] == "training"
            frames = []
            async with connect(url.replace("http", "ws") + f"/ws/{task_id}", origin=url) as ws:
                with anyio.fail_after(60):
                    while not (frames and frames[-1].get("finished")):
                        frames.append(json.loads(await ws.recv()))
            logs = [f for f in frames if f["type"] == "log"]
            assert {f["task_id"] for f in logs} == {task_id}
            assert [f["seq"] for f in logs] == list(range(1, len(logs) + 1))  # all of it, once, in order
            assert logs[0]["message"] == "training run queued"
            assert logs[-1]["finished"] is True and len(logs) >= 4
