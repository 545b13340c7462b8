"""The idiom corpus: managers written the way people write this pattern in FastAPI and
Starlette projects, each labelled by hand with the SPEC rules its bugs break, plus a
corrected variant of each and :class:`WriterTaskCorrect` (deferred delivery).

* :data:`IDIOMS` - name -> :class:`Idiom` (factory, labels, corrected factory, style).
* Every factory takes keyword config (``max_queue_size``), has
  ``tasktail_capabilities = frozenset()`` (core rules only), and ``tasktail_backends =
  ("asyncio",)`` when it is built on asyncio primitives.
* ``tests/idioms/test_idioms_repro.py`` reproduces every label without the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._anyio_bugs import FixedGlobalLock, FixedNoLock, GlobalLock, NoLock
from ._asyncio_queue import BlockingProducer, DictOfAsyncioQueue, FixedBlockingProducer, FixedDictOfAsyncioQueue
from ._broadcast import FixedSocketListBroadcast, FixedUserRegistry, SocketListBroadcast, UserRegistry
from ._labels import BREAKS, DOUBTFUL
from ._replay import FixedReplayBuffer, ReplayBuffer
from ._status import StatusFrame
from ._seed_bugs import FixedCap, FixedFixedCap, FixedPropagatingSendErrors, PropagatingSendErrors
from ._writer import WriterTaskCorrect
from ._writer_broken import WriterTaskPerConnection

__all__ = ["IDIOMS", "Idiom", "factory_of"]

ASYNCIO_ONLY = ("asyncio",)


@dataclass(frozen=True)
class Idiom:
    name: str
    factory: Callable[..., Any]
    breaks: dict[str, str]
    fixed: Callable[..., Any] | None
    style: str
    doubtful: dict[str, str] = field(default_factory=dict)


def factory_of(cls: type, backends: tuple[str, ...] | None = ASYNCIO_ONLY) -> Callable[..., Any]:
    """``factory(**config) -> cls(**config)`` with the attributes the suite reads."""

    def factory(**config: Any) -> Any:
        return cls(**config)

    factory.__name__ = factory.__qualname__ = f"{cls.__name__}_factory"
    factory.__module__ = __name__
    factory.__doc__ = cls.__doc__
    factory.tasktail_capabilities = frozenset()  # type: ignore[attr-defined]
    if backends is not None:
        factory.tasktail_backends = backends  # type: ignore[attr-defined]
    return factory


_BROKEN: list[tuple[str, type, type, str, tuple[str, ...] | None]] = [
    ("dict_of_asyncio_queue", DictOfAsyncioQueue, FixedDictOfAsyncioQueue,
     "seed dicts of asyncio.Queue(maxsize), asyncio.Lock per task, get_nowait flush, send_text", ASYNCIO_ONLY),
    ("socket_list_broadcast", SocketListBroadcast, FixedSocketListBroadcast,
     "list of sockets per task, broadcast loop under an asyncio.Lock, send_json", ASYNCIO_ONLY),
    ("replay_buffer", ReplayBuffer, FixedReplayBuffer,
     "every line kept in a list and replayed to each new client, asyncio.Lock, send_text", ASYNCIO_ONLY),
    ("writer_task_per_connection", WriterTaskPerConnection, WriterTaskCorrect,
     "asyncio.Queue + asyncio.create_task writer per connection (deferred delivery), send_text", ASYNCIO_ONLY),
    ("no_lock", NoLock, FixedNoLock,
     "seed dicts without connection_locks, popleft flush, anyio, send_text", None),
    ("user_registry", UserRegistry, FixedUserRegistry,
     "set of sockets per task plus a pending collections.deque, no lock, send_json", ASYNCIO_ONLY),
    ("propagating_send_errors", PropagatingSendErrors, FixedPropagatingSendErrors,
     "seed dicts + asyncio.Lock, unguarded send_text", ASYNCIO_ONLY),
    ("fixed_cap", FixedCap, FixedFixedCap,
     "seed dicts + asyncio.Lock, deque(maxlen=50), send_bytes(json.dumps(...).encode())", ASYNCIO_ONLY),
    ("blocking_producer", BlockingProducer, FixedBlockingProducer,
     "bounded asyncio.Queue per task used as back-pressure (await put()), send_text", ASYNCIO_ONLY),
    ("global_lock", GlobalLock, FixedGlobalLock,
     "one anyio.Lock for every task, held across accept, send_json", None),
]


def _build() -> dict[str, Idiom]:
    idioms: dict[str, Idiom] = {}
    for name, broken, fixed, style, backends in _BROKEN:
        idioms[name] = Idiom(name, factory_of(broken, backends), BREAKS[name], factory_of(fixed, backends),
                             style, DOUBTFUL.get(name, {}))
    idioms["writer_task_correct"] = Idiom(
        "writer_task_correct", idioms["writer_task_per_connection"].fixed, {}, None,
        "deque per task + one asyncio.create_task writer per client (deferred delivery), send_text")
    idioms["status_frame"] = Idiom(
        "status_frame", factory_of(StatusFrame, None), {}, None,
        "the anyio seed manager greeting each client with a {\"type\": \"status\"} frame first, send_text")
    return idioms


#: name -> idiom; the broken ones first (in the order of the brief), then the correct ones
IDIOMS: dict[str, Idiom] = _build()

# Every factory is importable by its name, so ``tasktail conform tasktail.idioms:NoLock_factory``
# and the suite's printed counterexamples work.
for _idiom in IDIOMS.values():
    for _factory in (_idiom.factory, _idiom.fixed):
        if _factory is not None:
            globals()[_factory.__name__] = _factory
            __all__.append(_factory.__name__)
