"""Checkers that read the sockets' transcripts: misuse, order, duplicates, frames after the end.

``MISUSE_RULE`` charges each misuse the fake socket records to a rule; ``order`` judges the
deliveries (ORD-2, ORD-3, REPL-1/2 and DISC-2's "nothing after"); ``replaced_closed``
checks that a replaced socket was closed with 4000 (REPL-1, when "close_replaced" is claimed).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ._history import _delivered_texts

if TYPE_CHECKING:
    from ._record import Msg
    from ._runner import Run

__all__ = ["MISUSE_RULE", "misuse", "order", "replaced_closed"]

MISUSE_RULE = {"overlapping_send": "ORD-2", "send_before_accept": "FLUSH-1", "send_after_disconnect": "FAIL-1",
               "close_twice": "CLOSE-1", "accept_twice": "FLUSH-1"}

def misuse(run: Run) -> None:
    seen = run.__dict__.setdefault("_misuse_seen", defaultdict(int))
    for sock in run.sockets:
        for violation in sock.ws.violations[seen[sock.sid]:]:
            kind = violation.kind
            rule = MISUSE_RULE.get(kind)
            if kind.startswith("send_after"):
                rule = rule or ("DISC-2" if sock.disconnected_at else "REPL-1" if sock.replaced_at else "FAIL-1")
            if kind == "overlapping_send" and sock.connect.outcome is None:
                rule = "FLUSH-1"  # a live send written beside connect's flush, not after it
            rule = rule or "FAIL-2"
            if rule != "CLOSE-1" or run.subject.supports("CLOSE-1"):
                run.violate(rule, f"socket {sock.sid}: {kind} in {violation.method}()")
        seen[sock.sid] = len(sock.ws.violations)


def order(run: Run) -> None:
    per_socket: dict[int, set[str]] = defaultdict(set)
    where: dict[str, int] = {}
    for d in run.deliveries:
        sock = run.sockets[d.sid]
        for label, at in (("replaced", sock.replaced_at), ("disconnected", sock.disconnected_at)):
            if at is not None and d.started > at and not _in_flight_group(run, d, at):
                rule = "REPL-1" if label == "replaced" else "DISC-2"
                if run.violate(rule, f"socket {d.sid} got {d.item.short()} after it was {label}"):
                    return
        if (sock.detached_at is not None and d.started > sock.detached_at and sock.replaced_at is None
                and not _in_flight_group(run, d, sock.detached_at)):
            if run.violate("REPL-2", f"socket {d.sid} got {d.item.short()} after it was detached"):
                return
        if d.item.kind != "log" or d.item.text not in run.msgs:
            continue
        text = d.item.text
        if text in per_socket[d.sid]:
            if run.violate("ORD-3", f"{text} delivered twice on socket {d.sid}"):
                return
        per_socket[d.sid].add(text)
        if text in where and where[text] != d.sid and sock.after_seq is None \
                and run.sockets[where[text]].after_seq is None:
            if run.violate("ORD-3", f"{text} delivered on socket {where[text]} and again on socket {d.sid}"):
                return
        where.setdefault(text, d.sid)
    first = _delivered_texts(run)
    groups: dict[tuple, list[Msg]] = defaultdict(list)
    for msg in run.msgs.values():
        groups[(msg.task_id, msg.epoch)].append(msg)
    for msgs in groups.values():
        for a in msgs:
            if a.op.ret is None or a.text not in first:
                continue
            for b in msgs:
                if b.text in first and a.op.ret < b.op.invoke and first[a.text] > first[b.text]:
                    if run.violate("ORD-2", f"{a.text} returned before {b.text} began, but {b.text} was "
                                   "delivered first"):
                        return
    if run.with_seq:
        for sock in run.sockets:
            seqs = [d.item.seq for d in run.deliveries if d.sid == sock.sid and d.item.kind == "log"]
            if any(not isinstance(x, int) or not isinstance(y, int) or y <= x for x, y in zip(seqs, seqs[1:])):
                if run.violate("ORD-2", f"socket {sock.sid} got seqs out of order: {seqs}"):
                    return


def _in_flight_group(run: Run, d, at: int) -> bool:
    """True when ``d`` completes the frame group in flight at tick ``at``: gap notices whose
    send began before ``at``, then the one message they precede (the reference sends them
    together; SPEC's "the in-flight frame")."""
    mine = [x for x in run.deliveries if x.sid == d.sid]
    before = [x for x in mine if x.started < at < x.tick]
    if not before or before[-1].item.kind != "gap":
        return False
    after = [x for x in mine if x.started > at and x.tick <= d.tick]
    return all(x.item.kind == "gap" for x in after[:-1]) and sum(x.item.kind == "log" for x in after) <= 1

def replaced_closed(run: Run) -> None:
    """REPL-1 with "close_replaced": once settled, a socket a newer connect replaced while
    nothing else had ended it (a failed send, a vanished client, detach, disconnect) has
    been closed with 4000."""
    for sock in run.sockets:
        if (sock.replaced_at is None or sock.failed() or sock.disconnected_at is not None
                or sock.detached_at is not None or sock.ws.sends_in_flight):
            continue
        codes = [e.code for e in sock.ws.events_of("close")]
        if 4000 not in codes:
            got = f"closed with {codes[0]}" if codes else "never closed"
            run.violate("REPL-1", f"socket {sock.sid} was replaced but {got}, not with 4000")
