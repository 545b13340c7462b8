"""Scripted checks of content fidelity and of memory by reachability (FID-1, MEM-1)."""

from __future__ import annotations

import gc
import math
import types
from typing import Any

from tasktail.fakes import FakeWebSocket

from ._harness import Harness, check, expect
from ._subject import Subject

__all__ = ["LOGGED", "conform_fid1_frames_carry_what_was_logged", "conform_mem1_disconnect_frees_per_task_state",
           "content_mismatch", "reachable_objects"]

#: (level, progress, finished) of the messages FID-1 logs, in order; the last one finishes
LOGGED: list[tuple[str, Any, bool]] = [("debug", None, False), ("info", 0, False), ("warning", 12.5, False),
                                       ("error", 50, False), ("success", 100, False), ("info", 99.75, True)]


def _value(x: Any) -> Any:
    return getattr(x, "value", x)  # a Level enum member is sent as its value


def content_mismatch(frame: dict, level: Any, message: str, progress: Any, finished: bool) -> list[str]:
    """The seed fields of ``frame`` that differ from what was logged (absent fields are not judged)."""
    wrong = []
    if "level" in frame and frame["level"] != _value(level):
        wrong.append(f"level {frame['level']!r} (logged {_value(level)!r})")
    if "message" in frame and frame["message"] != message:
        wrong.append(f"message {frame['message']!r} (logged {message!r})")
    if "progress" in frame:
        got = frame["progress"]
        same = (got is None and progress is None) or (
            isinstance(got, (int, float)) and not isinstance(got, bool) and progress is not None
            and math.isclose(got, progress, rel_tol=0, abs_tol=1e-9))
        if not same:
            wrong.append(f"progress {got!r} (logged {progress!r})")
    if "finished" in frame and frame["finished"] is not bool(finished):
        wrong.append(f"finished {frame['finished']!r} (logged {finished!r})")
    return wrong


@check("FID-1", needs=("live",))
async def conform_fid1_frames_carry_what_was_logged(h: Harness) -> None:
    """Every level, progress as None, int and float, finished: each frame carries what was logged."""
    h.build(cap=10)
    ws = h.socket()
    await h.connect(ws, "t")
    for n, (level, progress, finished) in enumerate(LOGGED):
        await h.manager.send_log("t", level, f"t#{n}", progress=progress, finished=finished)
    await h.settle()
    items = {i.text: i.raw for i in h.items(ws) if i.kind == "log"}
    for n, (level, progress, finished) in enumerate(LOGGED):
        frame = items.get(f"t#{n}")
        expect(frame is not None, f"t#{n} was not delivered: got {h.texts(ws)}", "lost")
        wrong = content_mismatch(frame, level, f"t#{n}", progress, finished)
        expect(not wrong, f"t#{n} was logged with level={level!r}, progress={progress!r}, finished={finished!r}; "
               f"its frame has {', '.join(wrong)}: {frame}", "wrong content")


#: objects counted but not walked into: the suite's own, and the event loop's machinery
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType,
           types.FrameType, types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType,
           FakeWebSocket, Harness, Subject)
_LOOP_MODULES = ("asyncio", "trio", "anyio", "selectors", "threading", "concurrent", "_asyncio", "socket")


def reachable_objects(root: Any) -> int:
    """How many objects ``root`` reaches (see _OPAQUE: counted, not walked)."""
    seen = {id(root)}
    todo = [root]
    while todo:
        obj = todo.pop()
        for ref in gc.get_referents(obj):
            if id(ref) in seen:
                continue
            seen.add(id(ref))
            if isinstance(ref, _OPAQUE) or type(ref).__module__.split(".")[0] in _LOOP_MODULES:
                continue
            todo.append(ref)
    return len(seen)


@check("MEM-1", needs=())
async def conform_mem1_disconnect_frees_per_task_state(h: Harness) -> None:
    """Tasks come and go (log, connect, disconnect): what the manager reaches does not grow with
    their number, whatever its attributes are called."""
    h.build(cap=2)

    async def churn(first: int, last: int) -> None:
        for n in range(first, last):
            task = f"mem{n}"
            await h.log_numbered(task, 3)
            await h.connect(h.socket(), task)
            await h.settle()
            await h.disconnect(task)
        await h.settle()
        gc.collect()

    await churn(0, 20)
    before = reachable_objects(h.manager)
    await churn(20, 100)
    after = reachable_objects(h.manager)
    expect(after - before < 20, f"after 80 more tasks came and went the manager reaches {after - before} more "
           f"objects ({before} -> {after}): per-task state is kept after disconnect", "kept state")
    for name in ("active_connections", "message_queues", "connection_locks"):
        mapping = getattr(h.manager, name, None)
        try:
            left = len(mapping) if mapping is not None else 0
        except TypeError:
            continue
        expect(left == 0, f"{name} still holds {left} entries after every task was disconnected", "kept state")
