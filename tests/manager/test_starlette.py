"""ADAPT-*: the Starlette/FastAPI endpoint helper, driven through the fake socket."""

from __future__ import annotations

from functools import partial

import anyio
import pytest

from tasktail import CloseCode
from tasktail.manager.starlette import parse_after_seq, stream_task

from .support import FakeWebSocket, logs, make_manager, seqs

pytestmark = pytest.mark.anyio


class QuerySocket(FakeWebSocket):
    """The fake socket plus the query string Starlette parses from the URL."""

    def __init__(self, query: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.query_params = query or {}


@pytest.mark.rule("ADAPT-1")
async def test_adapter_streams_and_detaches():
    manager = make_manager()
    await manager.send_log("job", "info", "before the client")
    ws = QuerySocket()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(stream_task, ws, manager, "job")
            await anyio.wait_all_tasks_blocked()
            await manager.send_log("job", "info", "live")
            ws.client_send_text("ping")  # small client frames are ignored
            await anyio.wait_all_tasks_blocked()
            assert manager.get_connection_status("job")
            ws.client_disconnect(1001)
    assert logs(ws) == [(1, "before the client"), (2, "live")]
    assert not manager.get_connection_status("job")
    assert manager.task_statistics("job").known  # detached, not disconnected
    assert ws.close_code == 1001 and ws.closed_by == "client"


@pytest.mark.rule("ADAPT-1")
@pytest.mark.rule("CLOSE-1")
@pytest.mark.parametrize("ending", ["replaced", "disconnect"])
async def test_adapter_closes_with_recorded_code(ending):
    manager = make_manager()
    first = QuerySocket()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(stream_task, first, manager, "job")
            await anyio.wait_all_tasks_blocked()
            if ending == "replaced":
                second = QuerySocket()
                group.start_soon(stream_task, second, manager, "job")
                await anyio.wait_all_tasks_blocked()
                assert manager.active_connections["job"] is second  # old cleanup kept it
                second.client_disconnect()
            else:
                manager.disconnect("job")
    expected = CloseCode.REPLACED if ending == "replaced" else CloseCode.SERVER_DISCONNECT
    assert first.close_code == expected and first.closed_by == "server"
    assert first.violations == []


@pytest.mark.rule("ADAPT-2")
@pytest.mark.parametrize("raw", ["-1", "abc", "1.5", "99999999999999999999", "٣", "7"])
async def test_adapter_rejects_bad_after_seq(raw):
    manager = make_manager(history_size=5)
    await manager.send_log("job", "info", "one")
    ws = QuerySocket({"after_seq": raw})
    with anyio.fail_after(60):
        await stream_task(ws, manager, "job")
    assert ws.close_code == CloseCode.POLICY_VIOLATION
    assert "after_seq" in ws.close_reason
    assert ws.texts() == [] and manager.get_queued_message_count("job") == 1


@pytest.mark.rule("ADAPT-2")
async def test_adapter_resumes_from_query_string():
    manager = make_manager(history_size=5)
    first = FakeWebSocket()
    await manager.connect(first, "job")
    for n in range(4):
        await manager.send_log("job", "info", f"m{n + 1}")
    ws = QuerySocket({"after_seq": "2"})
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(stream_task, ws, manager, "job")
            await anyio.wait_all_tasks_blocked()
            ws.client_disconnect()
    assert seqs(ws) == [3, 4]
    assert parse_after_seq(None) is None and parse_after_seq("") is None and parse_after_seq("12") == 12


@pytest.mark.rule("ADAPT-3")
async def test_adapter_closes_on_oversized_client_frame():
    manager = make_manager()
    ws = QuerySocket()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(partial(stream_task, ws, manager, "job", max_client_frame=16))
            await anyio.wait_all_tasks_blocked()
            ws.client_send_text("x" * 17)
    assert ws.close_code == CloseCode.MESSAGE_TOO_BIG
    assert not manager.get_connection_status("job")


@pytest.mark.rule("ADAPT-2")
async def test_adapter_known_only_refuses_unknown_tasks():
    manager = make_manager()
    await manager.send_log("known", "info", "hello")
    stranger = QuerySocket()
    with anyio.fail_after(60):
        await stream_task(stranger, manager, "made-up", known_only=True)
    assert stranger.close_code == CloseCode.POLICY_VIOLATION and "not a known task" in stranger.close_reason
    assert not manager.task_statistics("made-up").known  # nothing was created
    friend = QuerySocket()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(partial(stream_task, friend, manager, "known", known_only=True))
            await anyio.wait_all_tasks_blocked()
            friend.client_disconnect()
    assert seqs(friend) == [1]


@pytest.mark.rule("ADAPT-2")
@pytest.mark.rule("MEM-4")
async def test_adapter_task_limit_closes_1013():
    manager = make_manager(max_tasks=1)
    await manager.connect(FakeWebSocket(), "busy")
    ws = QuerySocket()
    with anyio.fail_after(60):
        await stream_task(ws, manager, "another")
    assert ws.close_code == CloseCode.TRY_AGAIN_LATER == 1013


@pytest.mark.rule("ADAPT-2")
@pytest.mark.rule("RES-4")
async def test_adapter_passes_epoch_from_query_string():
    manager = make_manager(history_size=5)
    first = QuerySocket({"epoch": ""})
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(stream_task, first, manager, "job")
            await anyio.wait_all_tasks_blocked()
            for n in range(3):
                await manager.send_log("job", "info", f"m{n + 1}")
            first.client_disconnect()
    hello = __import__("json").loads(first.texts()[0])
    assert hello["type"] == "hello" and seqs(first) == [1, 2, 3]
    stale = QuerySocket({"epoch": "not-this-one", "after_seq": "2"})
    resumed = QuerySocket({"epoch": hello["epoch"], "after_seq": "2"})
    with anyio.fail_after(60):
        for ws in (resumed, stale):
            async with anyio.create_task_group() as group:
                group.start_soon(stream_task, ws, manager, "job")
                await anyio.wait_all_tasks_blocked()
                ws.client_disconnect()
    assert seqs(resumed) == [3] and seqs(stale) == [1, 2, 3]
    assert '"type":"reset"' in stale.texts()[0]
    bad = QuerySocket({"epoch": "x" * 100})
    with anyio.fail_after(60):
        await stream_task(bad, manager, "job")
    assert bad.close_code == CloseCode.POLICY_VIOLATION and "epoch" in bad.close_reason


@pytest.mark.rule("ADAPT-2")
async def test_adapter_never_closes_a_socket_twice():
    # Issue 9: connect closed the socket (1008) when the task was reset during the handshake,
    # and the adapter closed it again (Starlette raises on that). Now the client is told.
    manager = make_manager(history_size=5)
    await manager.send_log("job", "info", "one")

    class ResetDuringAccept(QuerySocket):
        async def accept(self, *args, **kwargs):
            await super().accept(*args, **kwargs)
            manager.disconnect("job")  # reset: after_seq=1 names nothing any more

    ws = ResetDuringAccept({"after_seq": "1"})
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(stream_task, ws, manager, "job")
            await anyio.wait_all_tasks_blocked()
            ws.client_disconnect()
    assert ws.violations == []  # the fake flags a second close as misuse
    assert '"type":"reset"' in ws.texts()[0] and seqs(ws) == []
    assert ws.close_code == 1000 and ws.closed_by == "client"
