"""The demo's output limits (SPEC ``DEMO-1``): what one task may put on the wire.

Every line a task logs, from the app or from a job in a worker thread, passes through one
:class:`TaskOutput`. It clips a line's text so that no frame exceeds :data:`MAX_FRAME_BYTES`
and lets a task log at most ``max_lines`` lines: past that, lines are counted, not sent,
and the count is logged once, just before the task's ``finished`` line (which always goes
through, so the page always learns that the task ended).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_FRAME_BYTES", "MAX_MESSAGE_BYTES", "MAX_LINES", "clip", "message_bytes", "TaskOutput"]

#: no frame the demo sends is larger than this (UTF-8 bytes of the JSON text)
MAX_FRAME_BYTES = 8192
#: a line's text, as encoded inside the frame, is at most this many bytes; the rest of a
#: frame (type, 22-character id, seq, timestamp, level, progress, finished) is under 300
MAX_MESSAGE_BYTES = 4096
#: default number of lines one task may log (its finished line and the count included)
MAX_LINES = 500


def message_bytes(text: str) -> int:
    """Bytes ``text`` takes inside a frame: UTF-8, with JSON's escapes (WIRE-1)."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def clip(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``text`` if it fits in ``limit`` frame bytes, else a prefix that says what was cut."""
    if message_bytes(text) <= limit:
        return text
    suffix = f" … ({{}} more characters)"
    room = limit - message_bytes(suffix.format(len(text)))
    # Each character costs at least one byte, so the answer is at most `room` characters;
    # find the longest prefix that fits (escapes and non-ASCII cost up to 6 bytes each).
    low, high = 0, min(len(text), room)
    while low < high:
        middle = (low + high + 1) // 2
        if message_bytes(text[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low] + suffix.format(len(text) - low)


Send = Callable[[str, str, "float | None", bool], Any]


class TaskOutput:
    """One task's line budget. Call :meth:`plan` for each line; send what it returns.

    The app's first line, the job's lines (worker thread) and a crash report happen one
    after another, never at once, but the lock keeps the count right regardless."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        if max_lines < 3:
            raise ValueError(f"max_lines={max_lines!r} is not allowed; expected an int >= 3 "
                             "(a first line, the count of withheld lines, the finished line)")
        self.max_lines = max_lines
        self.sent = 0
        self.withheld = 0
        self._lock = threading.Lock()

    def plan(self, level: str, message: str, progress: float | None = None,
             finished: bool = False) -> list[tuple[str, str, float | None, bool]]:
        """The lines to send for this one: none (over budget), it, or a count and it."""
        with self._lock:
            if not finished:
                # Keep two lines for the end: the count of withheld lines and the finished one.
                if self.sent >= self.max_lines - 2:
                    self.withheld += 1
                    return []
                self.sent += 1
                return [(level, clip(message), progress, False)]
            lines: list[tuple[str, str, float | None, bool]] = []
            if self.withheld:
                lines.append(("warning", f"{self.withheld} more lines not shown (a task shows at most "
                                         f"{self.max_lines} lines)", None, False))
            lines.append((level, clip(message), progress, True))
            self.sent += len(lines)
            return lines

    def send_with(self, send: Send) -> Callable[..., None]:
        """A ``send(level, message, progress=None, finished=False)`` for worker threads."""

        def bounded(level: str, message: str, progress: float | None = None, finished: bool = False) -> None:
            for line in self.plan(level, message, progress, finished):
                send(*line)

        return bounded
