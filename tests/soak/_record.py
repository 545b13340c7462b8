"""What a soak client saw, socket by socket, and the per-client checks on it.

A client follows one task over several sockets in turn (a race briefly has two). For each
socket it records the ``after_seq`` it asked for and every frame, in arrival order, as a
span of seqs: a log frame covers its own seq, a gap notice (SPEC WIRE-2) covers
``first_seq..last_seq``. The manager's promises (ORD-2, ORD-3, GAP-1, RES-1, RES-2) then
say: on each socket the spans follow each other exactly, starting right after the resume
point, so every seq is either received or announced as a gap, once, in order. A seq seen
again on a later socket is one that socket asked for (it resumed from an earlier point).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Socket", "Client", "check_client", "frame_span"]


@dataclass
class Socket:
    behaviour: str
    after_seq: int | None  # what this socket asked for; None: a first, non-resuming connect
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # ("log"|reason, first, last)
    close_code: int | None = None  # as the client saw it; None: the client dropped it
    server_ended: bool = False  # the server's endpoint for this socket returned


@dataclass
class Client:
    task_id: str
    sockets: list[Socket] = field(default_factory=list)
    finished_seq: int | None = None
    problems: list[str] = field(default_factory=list)  # frames that are malformed on their own

    @property
    def cursor(self) -> int:
        """The highest seq received or announced on any socket so far."""
        return max((last for s in self.sockets for _, _, last in s.spans), default=0)

    def counts(self) -> Counter:
        seen = Counter(first for s in self.sockets for kind, first, _ in s.spans if kind == "log")
        gaps = Counter(kind for s in self.sockets for kind, _, _ in s.spans if kind != "log")
        return Counter(frames=seen.total(), repeated=sum(n - 1 for n in seen.values()),
                       gaps_dropped=gaps["dropped"], gaps_expired=gaps["expired"])


def frame_span(client: Client, text: str) -> tuple[str, int, int, bool]:
    """(kind, first, last, finished) of one frame; malformed frames are noted on the client."""
    frame = json.loads(text)
    if frame.get("task_id") != client.task_id:
        client.problems.append(f"frame for another task: {text[:120]}")
    if frame.get("type") == "log":
        seq = frame["seq"]
        if not frame["message"].startswith(f"m{seq} "):
            client.problems.append(f"seq {seq} carries message {frame['message'][:20]!r}")
        return "log", seq, seq, frame["finished"]
    if frame.get("type") == "gap":
        first, last = frame["first_seq"], frame["last_seq"]
        if frame["count"] != last - first + 1 or frame["reason"] not in ("dropped", "expired") or first > last:
            client.problems.append(f"malformed gap notice: {text}")
        return frame["reason"], first, last, False
    client.problems.append(f"unknown frame: {text[:120]}")
    return "unknown", 0, -1, False


def check_client(client: Client, last_seq: int) -> list[str]:
    """Everything wrong with what ``client`` saw of a task whose last seq is ``last_seq``."""
    problems = list(client.problems)
    had = 0  # highest seq the client covered on the sockets before this one
    for number, socket in enumerate(client.sockets):
        where = f"{client.task_id} socket {number} ({socket.behaviour}, after_seq={socket.after_seq})"
        cursor = socket.after_seq or 0
        if cursor > had:
            problems.append(f"{where}: the test asked for a resume point it never reached ({had})")
        for kind, first, last in socket.spans:
            if first <= cursor:
                problems.append(f"{where}: {kind} {first}..{last} after {cursor}: out of order or repeated")
            elif first > cursor + 1:
                problems.append(f"{where}: seqs {cursor + 1}..{first - 1} missing, with no gap notice")
            cursor = max(cursor, last)
        had = max(had, cursor)
    if client.finished_seq != last_seq:
        problems.append(f"{client.task_id}: finished frame seen at {client.finished_seq}, the task ended at {last_seq}")
    if had != last_seq:
        problems.append(f"{client.task_id}: covered seqs 1..{had} of 1..{last_seq}")
    return problems
