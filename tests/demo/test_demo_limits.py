"""The demo's limits (SPEC ``DEMO-*``) on real parts: uvicorn on loopback, real clients.

Limits are set small here (a 0.3 s upload timeout, 20 lines per task) so each test is
quick; every wait is on something observable and bounded by ``fail_after``.
"""

from __future__ import annotations

import json
import re
import socket
import struct

import anyio
import anyio.abc
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tasktail import CloseCode
from tasktail.demo import create_app
from tasktail.demo._limits import MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, clip, message_bytes

from ._server import TIMEOUT, LogWatch, close_of, read_until_finished, serve_demo, status_of

pytestmark = [pytest.mark.anyio, pytest.mark.real_server]


def wide_csv(columns: int) -> bytes:
    """A header of ``columns`` names and one numeric row: ~880 KB for 99,000 columns."""
    header = ",".join(f"c{n}" for n in range(columns))
    row = ",".join(str(n % 10) for n in range(columns))
    return f"{header}\n{row}\n".encode()


@pytest.mark.rule("DEMO-1")
async def test_a_99000_column_row_is_one_summarised_line_and_no_frame_is_over_8_kib():
    body = wide_csv(99_000)
    assert 850_000 < len(body) < 1_000_000
    async with serve_demo(pace=0) as server:
        task_id = await server.start("csv", body, name="wide.csv")
        async with server.ws(task_id) as ws:
            raw = []
            with anyio.fail_after(TIMEOUT):
                while not raw or not json.loads(raw[-1])["finished"]:
                    raw.append(await ws.recv())
    frames = [json.loads(text) for text in raw]
    assert max(len(text.encode()) for text in raw) <= MAX_FRAME_BYTES
    headers = [f["message"] for f in frames if f["message"].startswith("header: ")]
    assert headers == [", ".join(["header: c0", *(f"c{n}" for n in range(1, 20))]) + " … and 98980 more columns"]
    assert [f["message"] for f in frames if "more numeric columns" in f["message"]] == [
        "… and 98980 more numeric columns, not summarised"]
    assert frames[-1]["message"] == "wide.csv: 1 rows x 99000 columns processed"
    assert len(frames) < 40  # was 99,000+: one line per column


@pytest.mark.rule("DEMO-1")
async def test_a_task_shows_at_most_max_lines_and_says_how_many_it_withheld():
    async with serve_demo(pace=0, epochs=60, max_lines=20) as server:
        task_id = await server.start("training")
        async with server.ws(task_id) as ws:
            frames = await read_until_finished(ws)
    assert [f["seq"] for f in frames] == list(range(1, 21))  # nothing dropped: never sent
    withheld = re.fullmatch(r"(\d+) more lines not shown \(a task shows at most 20 lines\)", frames[-2]["message"])
    assert withheld and int(withheld.group(1)) >= 60 * 2 - 18  # two lines an epoch, at least
    assert frames[-1]["finished"] and frames[-1]["message"].startswith("training finished")


@pytest.mark.rule("DEMO-1")
@pytest.mark.parametrize("text", ["x" * 10_000, "é" * 5_000, "\x01" * 3_000, "🙂" * 2_000 + "tail",
                                  "ok", "x" * MAX_MESSAGE_BYTES])
def test_clip_keeps_a_message_within_its_frame_budget(text):
    clipped = clip(text)
    assert message_bytes(clipped) <= MAX_MESSAGE_BYTES
    if message_bytes(text) <= MAX_MESSAGE_BYTES:
        assert clipped == text
    else:
        prefix, cut = re.fullmatch(r"(.*) … \((\d+) more characters\)", clipped, re.S).groups()
        assert text.startswith(prefix) and len(prefix) + int(cut) == len(text)
        assert message_bytes(clip(text, MAX_MESSAGE_BYTES + 200)) > message_bytes(clipped)  # not over-cut


@pytest.mark.rule("DEMO-2")
async def test_a_job_over_its_time_limit_ends_with_an_error_and_frees_its_slot():
    async with serve_demo(pace=0.05, epochs=100_000, job_time_limit=0.5, max_running=1) as server:
        task_id = await server.start("training")
        assert (await server.http.post("/api/tasks/training")).status_code == 429
        async with server.ws(task_id) as ws:
            frames = await read_until_finished(ws)
        assert frames[-1]["level"] == "error"
        assert frames[-1]["message"] == "stopped: over the time limit of 0.5 s per task"
        await server.manager.wait_until(lambda: not server.demo.tasks[task_id].running)
        assert (await server.http.post("/api/tasks/training")).status_code == 201


@pytest.mark.rule("DEMO-3")
async def test_uploads_are_refused_before_their_body_is_read():
    async with serve_demo(pace=0.05, epochs=100_000, upload_limit=1000, max_running=1) as server:
        # No body is ever sent on these: the answer must not wait for one.
        too_big = await server.raw("POST /api/tasks/csv?name=a.csv HTTP/1.1\nContent-Length: 1001")
        status, response = await status_of(too_big)
        assert status == 413 and b"\r\nconnection: close\r\n" in response.lower()  # nor read later
        await server.start("training")  # takes the only slot
        refused = [await server.raw("POST /api/tasks/csv HTTP/1.1\nContent-Length: 500") for _ in range(20)]
        responses = [await status_of(stream) for stream in refused]
        assert [status for status, _ in responses] == [429] * 20
        assert all(b"\r\nconnection: close\r\n" in response.lower() for _, response in responses)
        for stream in [too_big, *refused]:
            await stream.aclose()


@pytest.mark.rule("DEMO-3")
async def test_a_stalled_upload_holds_a_slot_until_it_times_out_with_408():
    async with serve_demo(pace=0, epochs=1, upload_timeout=0.3, max_running=1) as server:
        stalled = await server.raw("POST /api/tasks/csv HTTP/1.1\nContent-Length: 500", b"a,b\n1,")
        await server.manager.wait_until(lambda: server.demo.uploading == 1)
        assert (await server.http.post("/api/tasks/training")).status_code == 429  # the upload holds the slot
        status, response = await status_of(stalled)
        assert status == 408 and b"upload took over the limit of 0.3 s" in response
        assert server.demo.uploading == 0
        assert (await server.http.post("/api/tasks/training")).status_code == 201
        await stalled.aclose()


@pytest.mark.rule("DEMO-4")
async def test_a_client_that_stops_reading_is_timed_out_and_told_to_resume():
    assert create_app().state.demo.manager.send_timeout == 10.0  # the app's own manager
    async with serve_demo(pace=10, epochs=2, manager_kwargs={"send_timeout": 0.3}) as server:
        task_id = await server.start("training")  # waits 10 s per epoch: still running below
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # back up early
        sock.connect(("127.0.0.1", server.port))
        async with connect(f"{server.ws_url}/ws/{task_id}", sock=sock, max_queue=1, open_timeout=TIMEOUT) as ws:
            await server.manager.wait_until(lambda: server.manager.task_statistics(task_id).connected)
            sent = 0
            with anyio.fail_after(TIMEOUT):
                while server.manager.task_statistics(task_id).connected:  # the client reads nothing
                    await server.manager.send_log(task_id, "info", "x" * 4000)
                    sent += 1
            connection = server.manager.connections[-1]
            assert (connection.close_code, connection.close_reason) == (CloseCode.SEND_TIMEOUT, "send timed out")
            stats = server.manager.task_statistics(task_id)
            assert stats.failed_sends == 1 and stats.queued >= 1  # kept for the next client (FAIL-1)
            with anyio.fail_after(TIMEOUT):  # the client reads again: frames, then the close
                code, _ = await close_of(ws)
    assert code in (CloseCode.SEND_TIMEOUT, 1006)  # 1006: the close frame could not get through either


@pytest.mark.rule("DEMO-5")
async def test_a_rebound_host_gets_400_and_no_socket():
    async with serve_demo(pace=0, epochs=1, allowed_hosts=["demo.internal"]) as server:
        task_id = await server.start("training")
        evil = {"Host": f"evil.example:{server.port}", "Origin": f"http://evil.example:{server.port}"}
        posted = await server.http.post("/api/tasks/training", headers=evil)
        assert (posted.status_code, posted.text) == (400, "Invalid host header")
        read = await server.http.get(f"/api/tasks/{task_id}", headers=evil)
        assert read.status_code == 400
        # The page's own origin passes the origin check; the Host check comes first.
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://evil.example:{server.port}/ws/{task_id}", host="127.0.0.1", port=server.port,
                          origin=evil["Origin"], open_timeout=TIMEOUT)
        assert refused.value.response.status_code == 400
        assert server.manager.connects == [] and len(server.demo.tasks) == 1
        for host in ("localhost", "demo.internal", "[::1]"):
            response = await server.http.get(f"/api/tasks/{task_id}", headers={"Host": f"{host}:{server.port}"})
            assert response.status_code == 200, host
        async with connect(f"ws://localhost:{server.port}/ws/{task_id}", host="127.0.0.1", port=server.port) as ws:
            assert (await read_until_finished(ws))[-1]["finished"]


async def _reset(stream: anyio.abc.SocketStream) -> None:
    """Close with a TCP reset, as a crashed client or a dropped network does."""
    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


@pytest.mark.rule("DEMO-6")
async def test_clients_that_go_away_are_logged_as_one_quiet_line_each():
    with LogWatch() as logs:
        async with serve_demo(pace=0.01, epochs=200, upload_timeout=0.5) as server:
            aborted = await server.raw("POST /api/tasks/csv?name=a.csv HTTP/1.1\nContent-Length: 5000", b"a,b\n")
            await server.manager.wait_until(lambda: server.demo.uploading == 1)
            await _reset(aborted)
            await logs.wait_for(lambda: len(logs.lines("tasktail.demo")) == 1)
            stalled = await server.raw("POST /api/tasks/csv?name=b.csv HTTP/1.1\nContent-Length: 5000", b"a,b\n")
            assert (await status_of(stalled))[0] == 408
            await _reset(stalled)
            task_id = await server.start("training")
            async with server.ws(task_id) as ws:
                await read_until_finished(ws, limit=5)
                ws.transport.abort()  # mid-task, with frames on the way
            await server.manager.wait_until(lambda: not server.manager.task_statistics(task_id).connected)
            await server.finished(task_id)
    # The server has shut down: anything it had to say about these clients is said.
    assert logs.lines("tasktail.demo") == [
        "upload 'a.csv' aborted: client went away after 4 bytes",
        "upload 'b.csv' too slow, refused: 4 bytes in 0.5 s"]
    assert [r.getMessage() for r in logs.records if r.exc_info or r.levelname in ("ERROR", "CRITICAL")] == []
