"""The demo's two jobs. Both run in a worker thread and log through the thread-safe API.

- :func:`csv_job` reads an uploaded CSV row by row through a plain ``logging.Logger`` with a
  :class:`~tasktail.TaskLogHandler`, the way existing code usually logs. A malformed file ends
  the task with an ``error`` message; the job never raises because of its input.
- :func:`training_job` simulates a training run and calls ``ThreadSafeLogger.send_log``.

``pace`` is the seconds slept per reported step (tests pass ~0), ``stop`` ends a job
early when the server shuts down, and ``deadline`` (a ``time.monotonic()`` value) ends it
when it has run too long, so a pathological upload cannot hold a task slot (``DEMO-2``).
Neither job echoes its input in bulk: a wide header and many numeric columns are
summarised with a count (``DEMO-1``).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import random
import threading
import time
from collections.abc import Callable

__all__ = ["csv_job", "training_job"]

#: at most this many progress lines per CSV, whatever its length
PROGRESS_STEPS = 50
#: rows with empty cells reported one by one, before a single "and N more"
EMPTY_CELL_REPORTS = 3
#: header names shown, and numeric columns summarised, before a single "and N more"
SHOWN_COLUMNS = 20
#: characters of a column name shown (names come from the upload)
NAME_CHARS = 40


def _name(raw: str, index: int) -> str:
    name = raw.strip() or f"#{index + 1}"
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS] + "…"


def _over(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _pause(pace: float, deadline: float | None) -> float:
    """Sleep no further than the deadline, so a slow pace cannot overshoot it."""
    return pace if deadline is None else max(0.0, min(pace, deadline - time.monotonic()))


def _too_long(limit: float | None) -> str:
    return f"stopped: over the time limit of {limit:g} s per task"


def _log(log: logging.Logger, level: str, message: str, progress: float | None = None,
         finished: bool = False) -> None:
    extra = {"tasktail_level": level, "progress": progress, "finished": finished}
    log.log(logging.ERROR if level == "error" else logging.INFO, "%s", message, extra=extra)


class _Column:
    """Running min/mean/max of one column while every non-empty value is a number."""

    def __init__(self, name: str) -> None:
        self.name, self.numeric, self.count, self.total = name, True, 0, 0.0
        self.low, self.high = math.inf, -math.inf

    def add(self, value: str) -> None:
        if not self.numeric or not value.strip():
            return
        try:
            number = float(value)
        except ValueError:
            self.numeric = False
            return
        if not math.isfinite(number):
            self.numeric = False
            return
        self.count += 1
        self.total += number
        self.low, self.high = min(self.low, number), max(self.high, number)

    def summary(self) -> str | None:
        if not self.numeric or not self.count:
            return None
        return (f"column {self.name!r}: min {self.low:g}, mean {self.total / self.count:g}, "
                f"max {self.high:g} over {self.count} values")


def csv_job(log: logging.Logger, data: bytes, name: str, *, pace: float, stop: threading.Event,
            deadline: float | None = None, time_limit: float | None = None) -> None:
    """Process ``data`` as a CSV with a header row; log progress, a summary and the outcome.

    ``deadline`` is when to give up (``time.monotonic()``); ``time_limit`` names it in the message."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _log(log, "error", f"{name}: not UTF-8 text (bad byte at offset {exc.start})", finished=True)
        return
    lines = text.count("\n") + (not text.endswith("\n"))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    step = max(1, lines // PROGRESS_STEPS)
    columns: list[_Column] = []
    rows = empty_rows = 0
    _log(log, "info", f"{name}: {len(data)} bytes, {lines} lines", progress=0)
    try:
        for record in reader:
            if not record:
                continue  # a blank line
            if not columns:
                columns = [_Column(_name(header, i)) for i, header in enumerate(record)]
                shown = ", ".join(c.name for c in columns[:SHOWN_COLUMNS])
                more = len(columns) - SHOWN_COLUMNS
                _log(log, "debug", f"header: {shown}" + (f" … and {more} more columns" if more > 0 else ""))
                continue
            if len(record) != len(columns):
                raise csv.Error(f"expected {len(columns)} fields, found {len(record)}")
            rows += 1
            for column, value in zip(columns, record, strict=True):
                column.add(value)
            if any(not value.strip() for value in record):
                empty_rows += 1
                if empty_rows <= EMPTY_CELL_REPORTS:
                    _log(log, "warning", f"line {reader.line_num}: empty cell(s), skipped in the summary")
            if _over(deadline):
                _log(log, "error", f"{name}: {_too_long(time_limit)} (at line {reader.line_num})", finished=True)
                return
            if rows % step == 0:
                _log(log, "info", f"processed {rows} rows (line {reader.line_num} of {lines})",
                     progress=round(min(99.0, 100 * reader.line_num / lines), 1))
                if stop.wait(_pause(pace, deadline)):
                    _log(log, "error", "stopped: the server is shutting down", finished=True)
                    return
    except csv.Error as exc:
        _log(log, "error", f"{name}: malformed CSV at line {reader.line_num}: {exc}", finished=True)
        return
    if not columns:
        _log(log, "error", f"{name}: empty file, expected a header row", finished=True)
        return
    if empty_rows > EMPTY_CELL_REPORTS:
        _log(log, "warning", f"{empty_rows - EMPTY_CELL_REPORTS} more rows with empty cells")
    summaries = [summary for column in columns if (summary := column.summary()) is not None]
    for summary in summaries[:SHOWN_COLUMNS]:
        _log(log, "info", summary)
    if len(summaries) > SHOWN_COLUMNS:
        _log(log, "info", f"… and {len(summaries) - SHOWN_COLUMNS} more numeric columns, not summarised")
    _log(log, "success", f"{name}: {rows} rows x {len(columns)} columns processed",
         progress=100, finished=True)


def training_job(send: Callable[..., object], *, epochs: int, pace: float, stop: threading.Event,
                 seed: int | None = None, deadline: float | None = None, time_limit: float | None = None) -> None:
    """A pretend training run: ``send(level, message, progress, finished)`` per epoch."""
    rng = random.Random(seed)
    loss = 2.2 + rng.random() * 0.3
    best, best_epoch, last_val = math.inf, 0, math.inf
    send("info", f"training a toy model for {epochs} epochs", 0)
    for epoch in range(1, epochs + 1):
        if stop.wait(_pause(pace, deadline)):
            send("error", "stopped: the server is shutting down", None, True)
            return
        if _over(deadline):
            send("error", _too_long(time_limit), None, True)
            return
        lr = 0.01 * 0.9 ** (epoch - 1)
        loss *= 0.70 + rng.random() * 0.12
        val = loss * (1.04 + rng.random() * 0.2)
        send("debug", f"epoch {epoch}: lr={lr:.5f}")
        if val > last_val:
            send("warning", f"epoch {epoch}: val_loss rose to {val:.4f} (from {last_val:.4f})")
        if val < best:
            best, best_epoch = val, epoch
        last_val = val
        send("info", f"epoch {epoch}/{epochs}: loss={loss:.4f} val_loss={val:.4f}",
             round(100 * epoch / epochs, 1))
    send("success", f"training finished: best val_loss {best:.4f} at epoch {best_epoch}", 100, True)
