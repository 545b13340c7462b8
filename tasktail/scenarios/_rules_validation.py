"""Scripted checks of SPEC's query, validation, finish, resume and memory rules
(QRY, VAL, FIN, RES, MEM).
"""

from __future__ import annotations

from collections.abc import Awaitable

from tasktail.fakes import WallClock

from ._harness import Harness, check, expect

__all__ = ["BAD_LOGS", "conform_fin1_send_after_finished_raises",
    "conform_mem2_queued_message_is_compact",
    "conform_mem3_idle_task_expires_lazily", "conform_mem4_max_tasks",
    "conform_qry1_queries_on_unknown_tasks", "conform_res1_resume_replays_history",
    "conform_res2_resume_beyond_history_gets_expired", "conform_res3_resume_point_beyond_last_seq",
    "conform_val1_bad_input_changes_nothing", "conform_val2_bad_config_and_after_seq"]


async def _expect_error_named(name: str, call: Awaitable, otherwise: str) -> None:
    """``call`` must raise an exception whose class is called ``name``: implementations
    define their own error classes, so only the name can be compared."""
    try:
        await call
    except Exception as exc:
        expect(type(exc).__name__ == name, f"raised {exc!r}")
    else:
        raise AssertionError(otherwise)


# -- core rules ----------------------------------------------------------------------------

@check("QRY-1", needs=())
async def conform_qry1_queries_on_unknown_tasks(h: Harness) -> None:
    """Queries of unknown tasks answer False / 0 (and validate task_id when claimed)."""
    h.build()
    expect(h.status("nope") == (False, 0), f"unknown task: {h.status('nope')}")
    if h.claims("statistics"):
        expect(h.manager.task_statistics("nope").known is False, "task_statistics of an unknown task is known")
    if h.claims("validation"):
        for bad in ("", 5, None):
            for query in (h.manager.get_connection_status, h.manager.get_queued_message_count):
                try:
                    query(bad)
                except (TypeError, ValueError):
                    continue
                raise AssertionError(f"{query.__name__}({bad!r}) did not raise TypeError/ValueError")


# -- extension rules -----------------------------------------------------------------------

BAD_LOGS = [({"task_id": ""}, "task_id"), ({"task_id": 3}, "task_id"), ({"level": "loud"}, "level"),
            ({"message": 5}, "message"), ({"progress": True}, "progress"), ({"progress": 101}, "progress"),
            ({"progress": float("nan")}, "progress"), ({"finished": "yes"}, "finished")]


@check("VAL-1", needs=())
async def conform_val1_bad_input_changes_nothing(h: Harness) -> None:
    h.build()
    for bad, name in BAD_LOGS:
        args = {"task_id": "t", "level": "info", "message": "t#x", **bad}
        try:
            await h.manager.send_log(**args)
        except (TypeError, ValueError) as exc:
            expect(name in str(exc), f"{bad}: the error {exc!r} does not name {name!r}")
        else:
            raise AssertionError(f"send_log accepted {bad}")
        expect(h.status("t") == (False, 0), f"after bad {bad}: {h.status('t')}")
    expect(h.seq_of(await h.log("t", "t#ok"), "send_log") == 1, "a rejected call spent a seq")


@check("VAL-2", needs=())
async def conform_val2_bad_config_and_after_seq(h: Harness) -> None:
    for bad in ({"max_queue_size": 0}, {"max_queue_size": "3"}, {"max_queue_size": True}):
        try:
            h.subject.factory(**bad)
        except (TypeError, ValueError):
            continue
        raise AssertionError(f"the factory accepted {bad}")
    if h.claims("resume"):
        h.build()
        for bad in (-1, True, "1"):
            try:
                await h.connect(h.socket(), "t", after_seq=bad)
            except (TypeError, ValueError):
                continue
            raise AssertionError(f"connect accepted after_seq={bad!r}")


@check("FIN-1", needs=())
async def conform_fin1_send_after_finished_raises(h: Harness) -> None:
    h.build()
    await h.log("t", "t#0", finished=True)
    await _expect_error_named("TaskFinishedError", h.raw_log("t", "t#1"), "send_log after finished=True did not raise")
    expect(h.status("t")[1] == 1, f"queued {h.status('t')[1]}")
    await h.disconnect("t")
    await h.log("t", "t#2")


@check("RES-1")
async def conform_res1_resume_replays_history(h: Harness) -> None:
    h.build(history_size=5)
    first = h.socket()
    await h.connect(first, "t")
    await h.log_numbered("t", 3)
    h.manager.detach("t", first) if h.claims("detach") else first.client.vanish()
    await h.log("t", "t#3")
    second = h.socket()
    await h.connect(second, "t", after_seq=1)
    await h.settle()
    expect(h.texts(second) == ["t#1", "t#2", "t#3"], f"resumed after 1, got {h.texts(second)}")


@check("RES-2")
async def conform_res2_resume_beyond_history_gets_expired(h: Harness) -> None:
    h.build(history_size=0)
    first = h.socket()
    await h.connect(first, "t")
    await h.log_numbered("t", 2)
    second = h.socket()
    await h.connect(second, "t", after_seq=0)
    await h.settle()
    got = [i.short() for i in h.items(second)]
    expect(got == ["gap[1..2 expired]"], f"got {got}")


@check("RES-3", needs=())
async def conform_res3_resume_point_beyond_last_seq(h: Harness) -> None:
    h.build()
    await h.log("t", "t#0")
    ws = h.socket()
    try:
        await h.connect(ws, "t", after_seq=5)
    except ValueError:
        expect(not ws.client.accepted, "the socket was accepted before after_seq was rejected")
    else:
        raise AssertionError("connect accepted after_seq beyond the last seq")


@check("MEM-2", needs=())
async def conform_mem2_queued_message_is_compact(h: Harness) -> None:
    h.build()
    await h.log("t", "t#0")
    queue = getattr(h.manager, "message_queues", {}).get("t")
    expect(queue, "message_queues['t'] is empty after a message was queued")
    item = next(iter(queue))
    expect(isinstance(item, tuple) and len(item) == 7 and not hasattr(item, "__dict__"), f"queued item {item!r}")


@check("MEM-3", needs=())
async def conform_mem3_idle_task_expires_lazily(h: Harness) -> None:
    clock = WallClock(follow_loop=False)
    h.build(task_ttl=80.0, clock=clock)
    await h.log("idle", "idle#0")
    await h.connect(h.socket(), "busy")
    clock.advance(200.0)
    await h.log("other", "other#0")
    expect(h.status("idle") == (False, 0) and h.status("busy")[0], f"idle {h.status('idle')}, busy {h.status('busy')}")


@check("MEM-4", needs=())
async def conform_mem4_max_tasks(h: Harness) -> None:
    h.build(max_tasks=2)
    await h.log("a", "a#0")
    await h.log("b", "b#0")
    await h.log("c", "c#0")
    expect(h.status("a") == (False, 0) and h.status("c")[1] == 1, "the oldest unconnected task was not evicted")
    h.build(max_tasks=1)
    await h.connect(h.socket(), "a")
    await _expect_error_named("TaskLimitError", h.raw_log("b", "b#0"),
                              "a task beyond max_tasks with every task connected was accepted")
