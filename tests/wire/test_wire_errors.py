"""What the runner does when it cannot judge: another protocol version is refused (an error,
never a verdict), a hung server gives a bounded error, what a port cannot play is
UNSUPPORTED (never PASS)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from tasktail.vectors import load
from tasktail.vectors._corpus import reference_factory
from tasktail.wire import ProtocolRefused, TestServer, WireError, connect_target, run_wire

from ._fake import fake_control

pytestmark = [pytest.mark.anyio, pytest.mark.real_server]
BOTH = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
VECTORS = {v["id"]: v for v in load()}
CAPS = {"protocol": "tasktail-control/1", "name": "fake", "steps": ["log", "connect", "query"],
        "behaviours": ["instant"], "overflow": [], "profile": "full", "virtual_timers": True}


@BOTH
@pytest.mark.parametrize("spoken", ["tasktail-control/2", "tasktail-control/0", "other/1", None])
async def test_another_protocol_version_is_refused_naming_both(anyio_backend, spoken):
    caps = {**CAPS, "protocol": spoken}
    with anyio.fail_after(20):
        async with fake_control(lambda method, path: (200, caps)) as url:
            with pytest.raises(ProtocolRefused) as refused:
                await connect_target(url)
    assert repr(spoken) in str(refused.value)
    if spoken and spoken.startswith("tasktail-control/"):
        assert "'tasktail-control/1'" in str(refused.value)


@BOTH
async def test_a_server_that_never_answers_is_a_bounded_error(anyio_backend):
    started = time.monotonic()
    with anyio.fail_after(20):
        async with fake_control(lambda method, path: None) as url:
            with pytest.raises(WireError, match=r"hung: GET http://127\.0\.0\.1:\d+/_tasktail/capabilities got no "
                                                r"answer within 0\.5 s"):
                await run_wire(url, timeout=0.5)
    assert time.monotonic() - started < 10


@BOTH
async def test_a_server_that_hangs_mid_vector_fails_that_vector_with_a_bounded_message(anyio_backend):
    def answer(method: str, path: str) -> tuple[int, Any] | None:
        if path.endswith("/capabilities"):
            return 200, CAPS
        if path.endswith("/query"):
            return 200, {"connected": False, "queued": 0}
        if path.endswith(("/reset", "/log")):
            return 200, {"call": "k1"} if path.endswith("/log") else {}
        return None  # /settle never answers

    vector = VECTORS["qry1-queries-on-unknown-tasks"]
    with anyio.fail_after(20):
        async with fake_control(answer) as url:
            report = await run_wire(url, vectors=[vector], timeout=0.5)
    [verdict] = report.verdicts
    assert verdict.grade == "FAIL"
    assert verdict.problems == [f"the run failed: hung: POST {url.split('/ws/')[0].replace('ws:', 'http:')}/_tasktail/settle got no answer "
                                "within 0.5 s"]
    assert report.exit_status == 1


@BOTH
async def test_what_the_capabilities_leave_out_is_unsupported_never_pass(anyio_backend):
    def answer(method: str, path: str) -> tuple[int, Any] | None:
        return (200, CAPS) if path.endswith("/capabilities") else (500, {"error": "should not be asked"})

    chosen = [VECTORS["fail1-slow-client-timed-out"], VECTORS["cap4-reject-newest"], VECTORS["ord2-several-producers"]]
    with anyio.fail_after(20):
        async with fake_control(answer) as url:
            report = await run_wire(url, vectors=chosen, timeout=2)
    assert {v.vector: (v.grade, v.problems) for v in report.verdicts} == {
        "fail1-slow-client-timed-out": ("UNSUPPORTED", ["the port cannot do the steps advance"]),
        "cap4-reject-newest": ("UNSUPPORTED", ["the port has no overflow policy 'reject-newest'"]),
        "ord2-several-producers": ("UNSUPPORTED", ["the port cannot do the steps release"]),
    }
    assert report.exit_status == 0 and "PASS" not in {g for g, _ in report.per_rule().values()}


def _no_reject_newest(**config: Any) -> Any:
    if config.get("overflow") == "reject-newest":
        raise ValueError("overflow='reject-newest' is not implemented here")
    return reference_factory(**config)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_setup_the_port_answers_422_is_unsupported_and_timers_not_virtual_are_declared(anyio_backend):
    server = TestServer("starlette", factory=_no_reject_newest, capabilities={"virtual_timers": False})
    await anyio.to_thread.run_sync(server.start)
    try:
        chosen = [VECTORS["cap4-reject-newest"], VECTORS["fail1-slow-client-timed-out"],
                  VECTORS["wire3-timestamp-from-clock"]]
        with anyio.fail_after(60):
            report = await run_wire(server.url, vectors=chosen)
    finally:
        await anyio.to_thread.run_sync(server.stop)
    grades = {v.vector: (v.grade, v.problems) for v in report.verdicts}
    assert grades["cap4-reject-newest"][0] == "UNSUPPORTED"
    assert "the manager refuses this setup" in grades["cap4-reject-newest"][1][0]
    assert grades["fail1-slow-client-timed-out"] == (
        "UNSUPPORTED", ["advances the clock while a send may be pending, and the port's timers are not virtual"])
    assert grades["wire3-timestamp-from-clock"] == ("PASS", [])  # advances with nothing pending


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_starlette_test_app_under_a_plain_uvicorn_says_its_timers_are_not_virtual(anyio_backend):
    """``starlette_test_app()`` mounted on an ordinary server (real time): honest capabilities,
    and the vectors that would need a virtual send timeout are UNSUPPORTED, the rest PASS."""
    import socket

    import uvicorn

    from tasktail.wire import starlette_test_app

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(starlette_test_app(), log_config=None, log_level="warning",
                                           lifespan="off", ws_ping_interval=None, ws_ping_timeout=None))
    chosen = [VECTORS["fail1-slow-client-timed-out"], VECTORS["wire3-timestamp-from-clock"],
              VECTORS["mem3-idle-task-expires"], VECTORS["ord2-several-producers"]]
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, [sock])
        try:
            with anyio.fail_after(60):
                report = await run_wire(f"ws://127.0.0.1:{port}/ws/{{task}}", vectors=chosen, wait=10)
        finally:
            server.should_exit = True
    sock.close()
    assert report.capabilities["virtual_timers"] is False
    assert {v.vector: v.grade for v in report.verdicts} == {
        "fail1-slow-client-timed-out": "UNSUPPORTED", "wire3-timestamp-from-clock": "PASS",
        "mem3-idle-task-expires": "PASS", "ord2-several-producers": "PASS"}


def _reject_newest_by_default(**config: Any) -> Any:
    return reference_factory(**{"overflow": "reject-newest", **config})


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_allowed_alternative_is_non_strict_over_the_wire_with_its_why(anyio_backend):
    """A port that rejects the newest message when full (the documented alternative to
    drop-oldest): CAP-3's vector grades it NON-STRICT, with the vector's why."""
    server = TestServer("starlette", factory=_reject_newest_by_default)
    await anyio.to_thread.run_sync(server.start)
    try:
        with anyio.fail_after(60):
            report = await run_wire(server.url, vectors=[VECTORS["cap3-drop-oldest"]])
    finally:
        await anyio.to_thread.run_sync(server.stop)
    [verdict] = report.verdicts
    assert verdict.grade == "NON-STRICT"
    assert verdict.problems == ["allowed alternative: " + VECTORS["cap3-drop-oldest"]["expect"]["alternatives"][1]["why"]]
    assert report.per_rule()["CAP-3"] == ("NON-STRICT", "non-strict: cap3-drop-oldest")
    assert report.exit_status == 0


@BOTH
async def test_frames_the_port_says_it_wrote_but_the_client_never_got_fail_the_vector(anyio_backend):
    caps = {**CAPS, "steps": ["log", "connect"]}
    report_body = {"calls": {"k1": {"result": "returned", "seq": 1}, "connect:c1": {"result": "returned"}},
                   "clients": {"c1": {"accepted": True, "written": 2, "close": None, "violations": []}}}

    def answer(method: str, path: str) -> tuple[int, Any] | None:
        if path.endswith("/capabilities"):
            return 200, caps
        if path.endswith("/log"):
            return 200, {"call": "k1"}
        return 200, report_body if path.endswith("/settle") else {}

    started = time.monotonic()
    with anyio.fail_after(30):
        async with fake_control(answer) as url:  # its WebSocket handshake is refused: no frame arrives
            report = await run_wire(url, vectors=[VECTORS["wire4-no-epoch-no-hello"]], timeout=1)
    [verdict] = report.verdicts
    assert verdict.grade == "FAIL"
    assert "c1: count: the port wrote 2 frames, the client received 0" in verdict.problems
    assert time.monotonic() - started < 20
