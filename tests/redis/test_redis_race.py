"""The real cross-process race: two uvicorn processes on one Redis, two ``websockets``
clients of the same task connecting at the same moment, while another OS process logs to
the task (RDS-4). The producer logs a backlog (none for some tasks: then no flush, and so
no delivery record, can give the replaced client away), waits until the race is decided,
then logs the rest and a finished message. Exactly one client of each task is closed with
``4000``; it never gets a message logged after that; the other gets every seq after the
ones the replaced client was sent, in order, to the finished one, with no gap (delivery
is at least once across a takeover: a seq may reach both). Asyncio only: the
``websockets`` client runs on asyncio."""

from __future__ import annotations

import json
import multiprocessing

import anyio
import pytest
import redis as redis_py
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tasktail.fakes import FakeWebSocket
from tasktail.redis import RedisConnectionManager
from tasktail.redis._common import Keys

from . import _workers
from .support import BOUND, frames, wait_until
from .test_redis_servers import two_servers  # noqa: F401 - the fixture

pytestmark = pytest.mark.anyio

BACKLOGS = [0, 0, 0, 40, 40, 40]  # one task per entry: what is logged before its clients race
AFTER = 60  # logged once the race is decided (plus a finished message)


class _Client:
    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.code: int | None = None
        self.closed = anyio.Event()
        self.finished = anyio.Event()

    async def follow(self, url: str, connected: anyio.Event) -> None:
        async with connect(url) as ws:
            connected.set()
            try:
                while True:
                    frame = json.loads(await ws.recv())
                    self.frames.append(frame)
                    if frame.get("finished"):
                        self.finished.set()
            except ConnectionClosed as closed:
                self.code = closed.rcvd.code if closed.rcvd is not None else None
                self.closed.set()


@pytest.mark.rule("RDS-4")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_two_processes_racing_for_one_task_leave_exactly_one_client(redis_server, two_servers):  # noqa: F811
    ports = two_servers
    context = multiprocessing.get_context("spawn")
    start, go_on = context.Event(), context.Event()
    tasks = [f"race{n}" for n in range(len(BACKLOGS))]
    workers = [context.Process(target=_workers.produce_in_two_phases,
                               args=(redis_server.url, task, before, AFTER, start, go_on))
               for task, before in zip(tasks, BACKLOGS)]
    for worker in workers:
        worker.start()
    start.set()
    with redis_py.Redis.from_url(redis_server.url) as r:  # bounded poll: another process sends no event
        await wait_until(lambda: all(r.xlen(Keys("tasktail", task).log) == before for task, before in zip(tasks, BACKLOGS)),
                         what="the backlogs logged")
    clients = {task: [_Client(), _Client()] for task in tasks}
    try:
        async with anyio.create_task_group() as group:
            connected = [anyio.Event() for _ in range(2 * len(tasks))]
            for n, task in enumerate(tasks):
                for side in (0, 1):
                    group.start_soon(clients[task][side].follow, f"ws://127.0.0.1:{ports[side]}/ws/{task}",
                                     connected[2 * n + side])
            with anyio.fail_after(BOUND):
                for event in connected:
                    await event.wait()
                # The race is decided: one client of each task is closed (replaced).
                for task in tasks:
                    async with anyio.create_task_group() as first_close:
                        async def closed(client: _Client) -> None:
                            await client.closed.wait()
                            first_close.cancel_scope.cancel()

                        for client in clients[task]:
                            first_close.start_soon(closed, client)
            go_on.set()
            with anyio.fail_after(BOUND):
                for task in tasks:
                    survivor = next(c for c in clients[task] if not c.closed.is_set())
                    await survivor.finished.wait()
            group.cancel_scope.cancel()
    finally:
        go_on.set()
        for worker in workers:
            await anyio.to_thread.run_sync(worker.join, BOUND)
    assert [w.exitcode for w in workers] == [0] * len(tasks)

    for task, before in zip(tasks, BACKLOGS):
        replaced = [c for c in clients[task] if c.closed.is_set()]
        assert [c.code for c in replaced] == [4000], f"{task}: exactly one client replaced: {[c.code for c in replaced]}"
        loser, = replaced
        winner, = [c for c in clients[task] if c is not loser]
        for client in (loser, winner):
            assert [f["type"] for f in client.frames] == ["log"] * len(client.frames), f"{task}: {client.frames}"
            seqs = [f["seq"] for f in client.frames]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True, f"{task}: in order: {seqs}"
            assert all(f["message"] == (f"{task}#{f['seq'] - 1}" if f["seq"] <= before + AFTER else "done")
                       for f in client.frames)
        assert all(f["seq"] <= before for f in loser.frames), f"{task}: the replaced client got a later message"
        last = before + AFTER + 1
        assert winner.frames and winner.frames[-1]["seq"] == last and winner.frames[-1]["finished"]
        # the winner goes on from where the loser was (at least once across the takeover)
        assert winner.frames[0]["seq"] <= (loser.frames[-1]["seq"] + 1 if loser.frames else 1)
        assert {f["seq"] for f in winner.frames + loser.frames} == set(range(1, last + 1))


@pytest.mark.rule("RDS-4")
async def test_a_replacement_notice_that_comes_before_the_claim_is_registered_still_replaces(redis_server):
    # claim_ttl 60: no renewal (every 20 s) can close the replaced client within BOUND
    async with (RedisConnectionManager(redis_server.url, claim_ttl=60) as first_process,
                RedisConnectionManager(redis_server.url, claim_ttl=60) as second_process):
        first, second = FakeWebSocket(), FakeWebSocket()
        noticed = anyio.Event()
        take_notice, claim = first_process._control_message, first_process._claim

        def control_message(fields: dict) -> None:
            take_notice(fields)
            if fields.get("op") == "replaced":
                noticed.set()

        async def claimed_then_overtaken(**kwargs):
            answer = await claim(**kwargs)
            # the second process claims after this one and tells this process, whose reader
            # takes the notice before this attach goes on to register its client
            await second_process.connect(second, "t")
            await noticed.wait()
            return answer

        first_process._control_message, first_process._claim = control_message, claimed_then_overtaken
        with anyio.fail_after(BOUND):
            await first_process.connect(first, "t")
            await wait_until(lambda: first.client.close_code is not None)
        assert first.client.close_code == 4000
        assert "t" not in first_process.active_connections and "t" in second_process.active_connections
        await first_process.send_log("t", "info", "m1")
        assert [f["message"] for f in await frames(second, 1)] == ["m1"]
        assert second.client.close_code is None and first.client.json_frames() == []
