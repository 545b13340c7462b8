"""Scripted checks of SPEC's thread, statistics, close code and adapter rules
(THR, STAT, CLOSE, ADAPT; all extension rules).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread

from tasktail.fakes import FakeWebSocket

from ._harness import Harness, check, expect, wait_blocked

__all__ = ["CLOSE_CODES", "conform_adapt1_streams_then_detaches", "conform_adapt2_bad_after_seq_is_refused",
    "conform_adapt3_oversized_client_frame", "conform_close1_only_documented_codes",
    "conform_stat1_frozen_snapshots", "conform_thr1_threadsafe_logger", "conform_thr2_clear_failures",
    "conform_thr2_waiting_thread_learns_the_loop_ended", "thr2_after_loop", "thr2_waiting_after_loop"]


# -- threads -------------------------------------------------------------------------------

@check("THR-1", real_time=True)
async def conform_thr1_threadsafe_logger(h: Harness) -> None:
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    logger = h.manager.threadsafe()
    entry = await anyio.to_thread.run_sync(lambda: logger.send_log("t", "info", "t#thread"))
    await h.settle()
    expect(h.texts(ws) == ["t#thread"] and h.seq_of(entry, "the thread's send_log") == 1, f"got {h.texts(ws)}")


@check("THR-2", needs=(), real_time=True, after_loop=lambda logger: thr2_after_loop(logger))
async def conform_thr2_clear_failures(h: Harness) -> None:
    h.build()
    logger = h.manager.threadsafe()
    try:
        logger.send_log("t", "info", "t#x")
    except RuntimeError:
        pass
    else:
        raise AssertionError("send_log on the loop's own thread did not raise RuntimeError")
    h.after_loop = logger  # checked by the suite after the loop closed


@check("THR-2", needs=(), real_time=True, after_loop=lambda waiting: thr2_waiting_after_loop(*waiting))
async def conform_thr2_waiting_thread_learns_the_loop_ended(h: Harness) -> None:
    """A thread whose send_log is waiting (its client's send is stalled) when the event
    loop ends gets LoopClosedError within a bound: never a hang, never CancelledError."""
    h.build()
    gate, ws = await h.gated_client("t")
    logger = h.manager.threadsafe()
    box: list = []
    thread = threading.Thread(target=lambda: box.append(_try(logger, waiting=True)), daemon=True)
    thread.start()
    await h.pending(gate, what="the thread's send to start")
    h.after_loop = (thread, box)  # the loop ends with that send stalled; judged after it closed


def thr2_waiting_after_loop(thread: threading.Thread, box: list) -> str | None:
    thread.join(WAITING_BOUND)
    if thread.is_alive():
        return (f"hung: a thread whose send_log was waiting when the event loop ended was still waiting "
                f"{WAITING_BOUND:.0f} s later (it must get LoopClosedError)")
    return box[0] if box else "the thread ended without an answer"


#: real seconds a waiting thread may take to learn that the loop ended (SPEC: about a second)
WAITING_BOUND = 5.0


def thr2_after_loop(logger) -> str | None:
    box: list = []
    thread = threading.Thread(target=lambda: box.append(_try(logger)))
    thread.start()
    thread.join(10)
    return box[0] if box else "hung: the call after the loop closed did not return"


def _try(logger, waiting: bool = False) -> str | None:
    try:
        logger.send_log("t", "info", "t#waiting" if waiting else "t#late")
    except BaseException as exc:  # CancelledError included: a thread must never see it
        return None if type(exc).__name__ == "LoopClosedError" else f"raised {exc!r}, not LoopClosedError"
    if waiting:
        return "unmet: the thread's send_log returned before the loop ended (it did not wait for the send)"
    return "send_log after the loop closed did not raise"


# -- statistics and close codes ------------------------------------------------------------

@check("STAT-1")
async def conform_stat1_frozen_snapshots(h: Harness) -> None:
    h.build()
    before, task_before = h.manager.statistics(), h.manager.task_statistics("t")
    await h.log("t", "t#0")
    expect(before.logged == 0 and task_before.known is False, "snapshots changed after the fact")
    try:
        before.logged = 5
    except Exception:
        pass
    else:
        raise AssertionError("statistics() is not frozen")


CLOSE_CODES = {1000, 1001, 1008, 1009, 1011, 4000, 4001, 4002}


@check("CLOSE-1")
async def conform_close1_only_documented_codes(h: Harness) -> None:
    from tasktail.fakes import FailOnSend

    h.build()
    sockets = [h.socket(FailOnSend(1, RuntimeError("x"))), h.socket(), h.socket()]
    for ws in sockets:
        await h.connect(ws, "t")
        await h.log("t", "t#")
        await h.settle()  # delivered (or failed) once settled: a writer task may send it later
    codes = [ws.close_code for ws in sockets if ws.close_code is not None]
    expect(set(codes) <= CLOSE_CODES and codes[:2] == [1011, 4000], f"close codes {codes}")


# -- the Starlette adapter -----------------------------------------------------------------

def _adapter_socket(query: dict | None = None, behaviour=None) -> FakeWebSocket:
    ws = FakeWebSocket(behaviour, strict=False)
    ws.query_params = query or {}  # type: ignore[attr-defined]
    return ws


@asynccontextmanager
async def _streaming(h: Harness, ws: FakeWebSocket) -> AsyncIterator[None]:
    """stream_task serves ``ws`` for task "t" in the background; the body runs once it waits."""
    from tasktail.manager.starlette import stream_task

    async with anyio.create_task_group() as group:
        group.start_soon(stream_task, ws, h.manager, "t")
        await wait_blocked()
        yield


@check("ADAPT-1")
async def conform_adapt1_streams_then_detaches(h: Harness) -> None:
    h.build()
    ws = _adapter_socket()
    async with _streaming(h, ws):
        await h.log("t", "t#0")
        await h.settle()  # delivery is judged settled: a writer task may still be sending it
        ws.client.disconnect(1000)
    await h.log("t", "t#1")
    expect(h.texts(ws) == ["t#0"] and h.status("t") == (False, 1), f"got {h.texts(ws)}, {h.status('t')}")


@check("ADAPT-2")
async def conform_adapt2_bad_after_seq_is_refused(h: Harness) -> None:
    from tasktail.manager.starlette import stream_task

    h.build()
    ws = _adapter_socket({"after_seq": "-1"})
    with anyio.fail_after(10):
        await stream_task(ws, h.manager, "t")
    expect(ws.close_code == 1008, f"closed with {ws.close_code}")


@check("ADAPT-3")
async def conform_adapt3_oversized_client_frame(h: Harness) -> None:
    h.build()
    ws = _adapter_socket()
    async with _streaming(h, ws):
        ws.client.send_text("x" * 5000)
    expect(ws.close_code == 1009, f"closed with {ws.close_code}")
