"""The over-the-wire mode: judge a running server, in any language, by the vectors.

* ``PROTOCOL.md`` - the test-mode control surface ``tasktail-control/1`` a port serves.
* :func:`run_wire` / ``tasktail conform --url ws://HOST:PORT/PATH/{task}`` - the runner:
  real WebSocket clients plus control calls, judged by the in-process judge.
* :class:`TestMode` and :class:`TestSocket` - the server side for Python (asyncio) ports;
  :func:`starlette_test_app` the Starlette reference in test mode; :class:`TestServer`
  runs a Python port in test mode on virtual time (``tasktail serve-test``).
"""

from ._runner import (PROTOCOL, ProtocolRefused, Target, Unsupported, WireError, connect_target, default_control,
                      play_wire, run_vector_wire, unsupported_reason, wire_expectation)
from ._programs import make_program, rules_of, run_programs
from ._serve import FRAMEWORKS, TestServer
from ._starlette import starlette_test_app
from ._suite import WireReport, run_wire
from ._testmode import OffsetLoop, TestMode, TestSocket, VirtualClock

__all__ = ["FRAMEWORKS", "OffsetLoop", "PROTOCOL", "ProtocolRefused", "Target", "TestMode", "TestServer",
           "TestSocket", "Unsupported", "VirtualClock", "WireError", "WireReport", "connect_target",
           "default_control", "make_program", "play_wire", "rules_of", "run_programs", "run_vector_wire", "run_wire",
           "starlette_test_app",
           "unsupported_reason", "wire_expectation"]
