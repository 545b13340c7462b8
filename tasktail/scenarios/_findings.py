"""Findings: what the suite saw go wrong, in words a user can act on, and whose fault it was.

Theory of operation:

1. A :class:`Finding` is one distinct counterexample: the rule it breaks, its *kind* (one of
   :data:`KINDS`: lost, duplicated, reordered, ...), where it was found (a scripted check
   or generated program #N, on a backend) and how to reproduce it.
2. An exception is the implementation's unless its innermost frame lies in the suite
   itself (``tasktail/scenarios``): that is a :class:`SuiteError`, never a verdict. A fake
   socket raising (``tasktail/fakes``) is the fake answering the implementation's misuse.
3. :func:`describe_exception` flattens exception groups and names each leaf with the
   implementation's own traceback frames, innermost last.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "Finding", "SuiteError", "describe_exception", "from_socket", "is_suite_bug", "leaves"]

#: finding kind -> what it means
KINDS: dict[str, str] = {
    "lost": "a message was neither delivered, nor still queued, nor dropped by the cap",
    "duplicated": "a message was delivered twice (on one socket or on two)",
    "reordered": "messages were delivered out of order",
    "overlapping send": "two sends were in flight on one socket at once",
    "sent after disconnect": "a frame was sent on a socket after its task was disconnected",
    "sent after replacement": "a frame was sent on a socket after a newer client replaced it",
    "sent after detach": "a frame was sent on a socket after it was detached",
    "crashed": "a call raised where the rule says it must not",
    "hung": "a call never returned after every send was released and time passed",
    "blocked producer": "send_log waited for a client or a full queue",
    "wrong content": "a delivered frame carries other values than were logged",
    "over cap": "a queue held more messages than max_queue_size",
    "config ignored": "the manager does not honour the config the suite passed",
    "left queued": "messages stayed queued although a client was connected and all settled",
    "kept client": "a failed client was kept as the task's client",
    "resurrected": "state of a removed task came back",
    "kept state": "per-task state stays reachable after its task is gone",
    "wrong answer": "a query, return value or error was not what the rule says",
    "wrong close code": "a socket was closed with another code, or not at all",
    "accounting": "statistics do not add up",
    "misuse": "the socket was used against its protocol (send before accept, close twice)",
    "precondition": "a behaviour other rules build on is missing",
}


class SuiteError(Exception):
    """A bug in the suite itself: exit status 3, never a verdict on the implementation."""

    def __init__(self, where: str, exc: BaseException) -> None:
        self.where, self.exc = where, exc
        text = "".join(traceback.format_exception(exc)).rstrip()
        super().__init__(f"tasktail's conformance suite itself failed in {where}; this is a bug in tasktail, "
                         f"not a verdict on your implementation. Please report it with this text:\n{text}")


_HERE = os.path.dirname(os.path.abspath(__file__))
_FAKES = os.path.join(os.path.dirname(_HERE), "fakes")
_LIBRARIES = ("/anyio/", "/trio/", "/asyncio/", "/_pytest/", "/pluggy/", "/hypothesis/", "/sniffio/",
              "/outcome/", "/exceptiongroup/", "/contextlib.py", "/threading.py")


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``[exc]``."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """File, line and function of each traceback frame (no source lines or column
    positions: ``traceback.extract_tb`` computes both, and this runs for every exception
    a generated program meets)."""
    return [traceback.FrameSummary(frame.f_code.co_filename, lineno, frame.f_code.co_name, lookup_line=False)
            for frame, lineno in traceback.walk_tb(exc.__traceback__)]


def is_suite_bug(exc: BaseException) -> bool:
    """True when the innermost frame of some leaf lies in the suite (see rule 2)."""
    for leaf in leaves(exc):
        frames = _frames(leaf)
        if frames and os.path.abspath(frames[-1].filename).startswith(_HERE + os.sep):
            return True
    return False


def from_socket(exc: BaseException) -> bool:
    """True when some leaf was raised by a (fake) socket: a client's failure reaching the caller."""
    for leaf in leaves(exc):
        frames = _frames(leaf)
        if frames and os.path.abspath(frames[-1].filename).startswith(_FAKES + os.sep):
            return True
    return False


def _theirs(frame: traceback.FrameSummary) -> bool:
    path = os.path.abspath(frame.filename)
    return not (path.startswith(_HERE + os.sep) or path.startswith(_FAKES + os.sep)
                or any(lib in path for lib in _LIBRARIES))


def describe_exception(exc: BaseException, *, frames: int = 4) -> str:
    """``Type: message`` per leaf, each with up to ``frames`` of the implementation's own frames."""
    parts = []
    for leaf in leaves(exc):
        text = f"{type(leaf).__name__}: {leaf}".rstrip(": ")
        own = [f for f in _frames(leaf) if _theirs(f)][-frames:]
        if own:
            text += " (at " + " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}"
                                          for f in reversed(own)) + ")"
        parts.append(text)
    if len(parts) == 1:
        return parts[0]
    return f"{len(parts)} exceptions: " + "; ".join(f"[{n}] {p}" for n, p in enumerate(parts, 1))


@dataclass
class Finding:
    """One distinct counterexample of one rule."""

    rule: str
    kind: str
    message: str
    backend: str
    source: str  # "scripted conform_x" or "program #N"
    check: str | None = None  # the scripted check's name
    program: Any = None  # the generated Program
    reproduce: str = ""  # a runnable program, or how to re-run the check
    saved: str | None = None  # path written by --save-failures
    backends: list[str] = field(default_factory=list)  # every backend it was seen on
    trace: list[str] = field(default_factory=list)  # what happened, step by step (generated programs)
    doc: str = ""  # the scripted check's docstring

    @property
    def signature(self) -> tuple[str, str, str]:
        """Two findings with one signature are one counterexample (seen twice)."""
        return (self.rule, self.kind, self.check or "program")

    def where(self) -> str:
        return f"{self.source} [{', '.join(self.backends or [self.backend])}]"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "message": self.message, "found_by": self.source,
                "backends": self.backends or [self.backend], "check": self.check,
                "program": None if self.program is None else self.program.to_json(),
                "reproduce": self.reproduce, "saved": self.saved}
