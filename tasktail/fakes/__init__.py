"""Test doubles for tasktail, in the style of ``trio.testing``.

* :class:`FakeWebSocket` - Starlette's WebSocket surface over a scripted peer,
  with a transcript, misuse detection and a ``.client`` to play the browser.
* Behaviours - :class:`Instant`, :class:`Latency`, :class:`Gate`,
  :class:`FailOnSend`, :class:`VanishMidSend`, :class:`SlowReader`,
  :class:`NeverAccepts`, :class:`Hook`, composed with ``+``.
* Virtual time - :func:`run_virtual`, :func:`virtual_backend`,
  :func:`virtual_time_backends`, :class:`VirtualEventLoop`, :class:`WallClock`,
  :func:`wait_all_tasks_blocked` (safe when a task polls on virtual time).
"""

from ._behaviour import (
    Behaviour,
    Chain,
    FailOnSend,
    Hook,
    Instant,
    Latency,
    NeverAccepts,
    SendBehaviour,
    SlowReader,
    VanishMidSend,
)
from ._client import FakeClient
from ._compat import (
    ClientDisconnected,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)
from ._gate import Gate
from ._records import Event, FakeWebSocketMisuse, Frame, Violation
from ._virtual_time import (
    VirtualEventLoop,
    WallClock,
    available_backends,
    hold_clock_while_busy,
    run_virtual,
    seed_scheduler,
    virtual_backend,
    virtual_time_backends,
    wait_all_tasks_blocked,
)
from ._websocket import FakeWebSocket

__all__ = [
    "Behaviour",
    "Chain",
    "ClientDisconnected",
    "Event",
    "FailOnSend",
    "FakeClient",
    "FakeWebSocket",
    "FakeWebSocketMisuse",
    "Frame",
    "Gate",
    "Hook",
    "hold_clock_while_busy",
    "Instant",
    "Latency",
    "NeverAccepts",
    "SendBehaviour",
    "SlowReader",
    "VanishMidSend",
    "Violation",
    "VirtualEventLoop",
    "WallClock",
    "WebSocketDisconnect",
    "WebSocketDisconnected",
    "WebSocketState",
    "available_backends",
    "run_virtual",
    "virtual_backend",
    "virtual_time_backends",
    "wait_all_tasks_blocked",
]
