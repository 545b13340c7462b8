"""Everything the benchmark compares, behind one small adapter interface.

* floors: bare loops that build and encode one message and hand it to the socket;
* the reference ``ConnectionManager`` with each overflow policy it ships (send under the
  task's lock);
* alternative delivery designs (a writer task per connection, with three buffers), written
  here as minimal sketches: they skip validation, gap notices and resume, so their numbers
  are a lower bound for the design, and they are not candidates until they pass conformance;
* peers: the FastAPI tutorial's shape as usually copied (``tutorial-naive``: it FAILs
  conformance; the zoo's ``TutorialManager`` is a different, correct manager in that style),
  Django Channels' in-memory channel layer and broadcaster's memory backend (the ``peers``
  extra; asyncio only).

The subjects live in ``_floors`` (floors and the reference), ``_designs`` (writer-task
designs) and ``_peers``; ``_subject`` has the adapter they share; this module names them.

An *instance* is built fresh for every measured run and used as an async context manager.
``send(task_id, level, message, progress, finished)`` is awaited by the producer;
``sync_delivery`` says whether a connected client already has the frame when it returns.
"""

from __future__ import annotations

from typing import Any, Callable

from ..manager import CoalesceProgress, ConnectionManager, DropOldest, RejectNewest

from ._designs import _WriterTask
from ._floors import _Floor, _Reference
from ._peers import _Broadcaster, _Channels, _NaiveTutorial
from ._subject import Params, Subject, _orjson


__all__ = ["Params", "Subject", "SUBJECTS", "subject_names", "FLOOR_VARIANTS"]


_NO_LATE = "messages logged before the client subscribes are lost (no per-task queue)"
_NO_QUEUE = "no queue without a subscriber, so nothing to cap"
_PEER_UNSUPPORTED = {"late": _NO_LATE, "overflow": _NO_QUEUE}
_ENC = "orjson" if _orjson is not None else "json.dumps (orjson missing)"


def _ref_factory(policy_type: type) -> Callable[..., Any]:
    """A conformance factory (keyword config) for the reference with one overflow policy."""
    from tasktail.scenarios import reference_factory

    def factory(**config: Any) -> ConnectionManager:
        config.setdefault("overflow", policy_type())
        return ConnectionManager(**config)

    factory.tasktail_capabilities = reference_factory.tasktail_capabilities
    factory.tasktail_overflow = policy_type.name  # so the suite judges CAP-3 under this policy
    return factory


def _tutorial_factory(**config: Any) -> Any:
    """The tutorial-naive peer as the conformance suite builds it: only the seed's cap."""
    return _NaiveTutorial(Params(max_queue_size=config["max_queue_size"]))


SUBJECTS: dict[str, Subject] = {s.name: s for s in [
    Subject("floor", "floor", f"bare loop: dict of the six seed fields, isoformat(), {_ENC}, await send_text",
            lambda p: _Floor(p, "orjson"), not_a_manager="the floor"),
    Subject("floor-noawait", "floor", "the floor, handing the text over without awaiting send_text",
            lambda p: _Floor(p, "orjson-noawait"), not_a_manager="the floor"),
    Subject("floor-json", "floor", "the floor with json.dumps instead of orjson",
            lambda p: _Floor(p, "json"), not_a_manager="the floor"),
    Subject("floor-to_json", "floor", "the floor with the reference's encoder: LogMessage(...).to_json()",
            lambda p: _Floor(p, "to_json"), not_a_manager="the floor"),
    Subject("ref-drop-oldest", "reference", "ConnectionManager, DropOldest (default): send under the task's lock",
            lambda p: _Reference(p, DropOldest()), manager_factory=_ref_factory(DropOldest)),
    Subject("ref-reject-newest", "reference", "ConnectionManager, RejectNewest",
            lambda p: _Reference(p, RejectNewest()), manager_factory=_ref_factory(RejectNewest)),
    Subject("ref-coalesce", "reference", "ConnectionManager, CoalesceProgress",
            lambda p: _Reference(p, CoalesceProgress()), manager_factory=_ref_factory(CoalesceProgress)),
    Subject("writer-deque", "design", "writer task per connection; deque + Event buffer (sketch)",
            lambda p: _WriterTask(p, "deque"), not_a_manager="not checked (sketch: no gaps/resume)"),
    Subject("writer-stream", "design", "writer task per connection; anyio memory stream (sketch)",
            lambda p: _WriterTask(p, "stream"), not_a_manager="not checked (sketch: no gaps/resume)"),
    Subject("writer-asyncio", "design", "writer task per connection; asyncio.Queue (sketch)",
            lambda p: _WriterTask(p, "asyncio"), asyncio_only=True,
            not_a_manager="not checked (sketch: no gaps/resume)"),
    Subject("tutorial-naive", "peer", "the FastAPI tutorial's shape as usually copied: dataclass, json.dumps(asdict()), "
            "deque, per-task lock (not the zoo's TutorialManager, a correct manager in that style)",
            _NaiveTutorial, manager_factory=_tutorial_factory),
    Subject("channels", "peer", "Django Channels InMemoryChannelLayer, group per task, consumer per socket",
            _Channels, late_clients=False, needs=("channels",), asyncio_only=True,
            not_a_manager="n/a (pub/sub layer, not a manager)", unsupported=_PEER_UNSUPPORTED,
            max_tasks=1000, max_tasks_reason="not run above 1,000 tasks: every send scans every channel "
            "(O(tasks) per message), so even one message per task takes minutes"),
    Subject("broadcaster", "peer", "broadcaster memory backend, channel per task, subscriber per socket",
            _Broadcaster, late_clients=False, capped=False, needs=("broadcaster",), asyncio_only=True,
            not_a_manager="n/a (pub/sub layer, not a manager)", unsupported=_PEER_UNSUPPORTED),
]}

#: subjects that only make sense in the plain connected workload
FLOOR_VARIANTS = ("floor-noawait", "floor-json", "floor-to_json")


def subject_names() -> list[str]:
    return list(SUBJECTS)
