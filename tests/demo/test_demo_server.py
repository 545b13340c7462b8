"""The demo end to end on real parts: uvicorn on a loopback port, ``websockets`` and ``httpx``.

Jobs run with ``pace=0`` unless a test needs a task still running; nothing sleeps to wait.
"""

from __future__ import annotations

import json

import anyio
import pytest
from websockets.asyncio.client import connect

from tasktail import CloseCode
from tasktail.demo._app import new_task_id

from ._server import close_of, csv_bytes, read_until_finished, serve_demo

pytestmark = [pytest.mark.anyio, pytest.mark.real_server]


def seqs(frames: list[dict]) -> list[int]:
    return [f["seq"] for f in frames if f["type"] == "log"]


async def test_page_and_script_are_served_with_a_strict_policy():
    async with serve_demo() as server:
        page = await server.http.get("/")
        script = await server.http.get("/static/app.js")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in page.text
    assert script.status_code == 200 and "new WebSocket" in script.text


async def test_everything_logged_before_the_client_came_arrives_in_order():
    async with serve_demo(pace=0, epochs=5) as server:
        task_id = await server.start("training")
        await server.finished(task_id)  # the whole run happened with nobody watching
        async with server.ws(task_id) as ws:
            frames = await read_until_finished(ws)
    assert all(f["type"] == "log" and f["task_id"] == task_id for f in frames)
    assert seqs(frames) == list(range(1, len(frames) + 1))
    assert frames[0]["message"] == "training run queued"
    assert [f["finished"] for f in frames].count(True) == 1
    assert frames[-1]["level"] == "success" and frames[-1]["progress"] == 100
    progress = [f["progress"] for f in frames if f["progress"] is not None]
    assert progress == sorted(progress) and progress[-1] == 100
    epochs = [f["message"].split(":")[0] for f in frames if "/5:" in f["message"]]
    assert epochs == [f"epoch {n}/5" for n in range(1, 6)]


async def test_csv_upload_logs_progress_a_summary_and_success():
    async with serve_demo(pace=0) as server:
        task_id = await server.start("csv", csv_bytes(120), name="../../etc/weather.csv")
        async with server.ws(task_id, after_seq=0) as ws:
            frames = await read_until_finished(ws)
    messages = [f["message"] for f in frames]
    assert messages[0] == "upload received: weather.csv"  # the client's path is not trusted
    assert seqs(frames) == list(range(1, len(frames) + 1))
    assert any(m.startswith("column 'temp': min 10.5") for m in messages)
    assert frames[-1]["level"] == "success" and frames[-1]["progress"] == 100
    assert messages[-1] == "weather.csv: 120 rows x 3 columns processed"


@pytest.mark.parametrize(("body", "expected"), [
    (b"a,b\n1,2\n3,4,5\n", "malformed CSV at line 3: expected 2 fields, found 3"),
    (b'a,b\n1,"unterminated\n', "malformed CSV at line"),
    (b"a,b\n\xff\xfe,1\n", "not UTF-8 text"),
    (b"", "empty file"),
])
async def test_a_malformed_csv_ends_its_task_with_an_error(body, expected):
    async with serve_demo(pace=0) as server:
        task_id = await server.start("csv", body)
        async with server.ws(task_id) as ws:
            frames = await read_until_finished(ws)
        assert (await server.http.get("/")).status_code == 200  # the server lives on
    assert frames[-1]["level"] == "error" and frames[-1]["finished"] is True
    assert expected in frames[-1]["message"]


async def test_several_tasks_stream_at_once_each_on_its_own_socket():
    async with serve_demo(pace=0.01, epochs=15) as server:
        ids = [await server.start("training"), await server.start("csv", csv_bytes(60)),
               await server.start("csv", b"x,y\n1\n")]
        results: dict[str, list[dict]] = {}

        async def follow(task_id: str) -> None:
            async with server.ws(task_id) as ws:
                results[task_id] = await read_until_finished(ws)

        async with anyio.create_task_group() as group:
            for task_id in ids:
                group.start_soon(follow, task_id)
    for task_id, frames in results.items():
        assert {f["task_id"] for f in frames} == {task_id}
        assert seqs(frames) == list(range(1, len(frames) + 1))
    assert [results[t][-1]["level"] for t in ids] == ["success", "success", "error"]


async def test_resume_after_a_dropped_connection_loses_and_repeats_nothing():
    async with serve_demo(pace=0.01, epochs=40) as server:
        task_id = await server.start("training")
        async with server.ws(task_id) as ws:
            first = await read_until_finished(ws, limit=6)
            ws.transport.abort()  # a dropped network: no close handshake, frames in flight lost
        await server.manager.wait_until(lambda: not server.manager.task_statistics(task_id).connected)
        assert not server.manager.task_statistics(task_id).finished, "the drop must happen mid-task"
        async with server.ws(task_id, after_seq=seqs(first)[-1]) as ws:
            rest = await read_until_finished(ws)
    assert not any(f["finished"] for f in first)
    everything = seqs(first) + seqs(rest)
    assert everything == list(range(1, len(everything) + 1))  # no loss, no duplicate
    assert rest[-1]["level"] == "success"


async def test_resume_replays_exactly_what_came_after_after_seq():
    async with serve_demo(pace=0, epochs=4) as server:
        task_id = await server.start("training")
        async with server.ws(task_id) as ws:
            frames = await read_until_finished(ws)
        async with server.ws(task_id, after_seq=3) as ws:
            again = await read_until_finished(ws)
    assert seqs(again) == seqs(frames)[3:]
    assert again == frames[3:]


async def test_a_second_client_replaces_the_first_with_4000():
    async with serve_demo(pace=0, epochs=3) as server:
        task_id = await server.start("training")
        async with server.ws(task_id) as first:
            frames = await read_until_finished(first)
            async with server.ws(task_id, after_seq=seqs(frames)[-1]) as second:
                assert await close_of(first) == (CloseCode.REPLACED, "replaced by a newer connection for this task")
                assert server.manager.task_statistics(task_id).connected
                assert second.close_code is None  # the newcomer keeps the stream
            await server.manager.wait_until(lambda: not server.manager.task_statistics(task_id).connected)


async def test_the_server_cleans_up_when_the_client_leaves():
    async with serve_demo(pace=0, epochs=2) as server:
        task_id = await server.start("training")
        await server.finished(task_id)
        async with server.ws(task_id) as ws:
            await read_until_finished(ws)
            await server.manager.wait_until(lambda: server.manager.statistics().connections == 1)
        await server.manager.wait_until(lambda: server.manager.statistics().connections == 0)
        stats = server.manager.task_statistics(task_id)
        assert stats.known and not stats.connected and stats.queued == 0  # kept for a resume


async def test_the_server_ending_a_task_closes_its_client_with_4002():
    async with serve_demo(pace=0, epochs=2) as server:
        task_id = await server.start("training")
        async with server.ws(task_id) as ws:
            await read_until_finished(ws)
            server.manager.disconnect(task_id)
            assert await close_of(ws) == (CloseCode.SERVER_DISCONNECT, "task disconnected by the server")
        async with server.ws(task_id) as ws:  # the app still lists it; the manager forgot it
            assert await close_of(ws) == (CloseCode.SERVER_DISCONNECT, "task expired")


@pytest.mark.parametrize(("path", "code", "reason"), [
    ("/ws/not-a-task", CloseCode.POLICY_VIOLATION, "malformed task id"),
    ("/ws/" + "x" * 23, CloseCode.POLICY_VIOLATION, "malformed task id"),
    ("/ws/{unknown}", CloseCode.POLICY_VIOLATION, "unknown task id"),
    ("/ws/{task}?after_seq=abc", CloseCode.POLICY_VIOLATION, "after_seq='abc' is not allowed"),
    ("/ws/{task}?after_seq=-1", CloseCode.POLICY_VIOLATION, "after_seq='-1' is not allowed"),
    ("/ws/{task}?after_seq=999", CloseCode.POLICY_VIOLATION, "after_seq=999 is beyond the last seq"),
])
async def test_bad_input_on_the_socket_gets_a_documented_close_code(path, code, reason):
    async with serve_demo(pace=0, epochs=1) as server:
        task_id = await server.start("training")
        url = server.ws_url + path.format(task=task_id, unknown=new_task_id())
        async with connect(url) as ws:
            got_code, got_reason = await close_of(ws)
        assert not server.manager.task_statistics(new_task_id()).known  # nothing was created
    assert got_code == code and got_reason.startswith(reason)


async def test_an_oversized_client_frame_closes_with_1009_and_a_foreign_origin_with_1008():
    async with serve_demo(pace=0, epochs=1) as server:
        task_id = await server.start("training")
        async with server.ws(task_id) as ws:
            await read_until_finished(ws)
            await ws.send("ping")  # small keep-alive text is fine
            await ws.send("x" * 5000)
            assert await close_of(ws) == (CloseCode.MESSAGE_TOO_BIG, "client frame over 4096 bytes")
        async with server.ws(task_id, origin="http://evil.example") as ws:
            assert await close_of(ws) == (CloseCode.POLICY_VIOLATION, "cross-origin request refused")


@pytest.mark.rule("DEMO-3")
async def test_http_errors_are_clear():
    async with serve_demo(pace=0.01, epochs=500, upload_limit=1000, max_running=1) as server:
        http = server.http
        assert (await http.get("/api/tasks/nope")).json() == {"error": "malformed task id"}
        assert (await http.get("/api/tasks/nope")).status_code == 400
        unknown = await http.get(f"/api/tasks/{new_task_id()}")
        assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown task id"})
        big = await http.post("/api/tasks/csv", content=b"a\n" * 600)
        assert (big.status_code, big.json()) == (413, {"error": "upload is over the limit of 1000 bytes"})

        async def chunks():
            for _ in range(3):
                yield b"a\n" * 300

        chunked = await http.post("/api/tasks/csv", content=chunks())  # no Content-Length
        assert chunked.status_code == 413
        foreign = await http.post("/api/tasks/training", headers={"Origin": "http://evil.example"})
        assert (foreign.status_code, foreign.json()) == (403, {"error": "cross-origin request refused"})
        task_id = await server.start("training")  # runs for ~5 s: still running below
        busy = await http.post("/api/tasks/training")
        assert busy.status_code == 429 and "already running" in busy.json()["error"]
        info = (await http.get(f"/api/tasks/{task_id}")).json()
        assert info == {"task_id": task_id, "kind": "training", "label": "training, 500 epochs", "running": True}
    # Shutting down mid-task ends the job at its next step, with an error message.
    last = server.manager.task_statistics(task_id)
    assert last.finished
    assert json.loads(list(server.manager.message_queues[task_id])[-1].to_json())["message"].startswith("stopped")


async def test_the_sample_csv_linked_from_the_page_processes_with_warnings():
    async with serve_demo(pace=0) as server:
        sample = await server.http.get("/static/sample.csv")
        assert sample.status_code == 200
        task_id = await server.start("csv", sample.content, name="sample.csv")
        async with server.ws(task_id) as ws:
            frames = await read_until_finished(ws)
    assert [f["message"] for f in frames if f["level"] == "warning"] == [
        "line 18: empty cell(s), skipped in the summary", "line 45: empty cell(s), skipped in the summary"]
    assert frames[-1]["message"] == "sample.csv: 60 rows x 4 columns processed"
