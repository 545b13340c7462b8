"""Checkers that read the sockets' transcripts: misuse, order, duplicates, frames after the end.

``MISUSE_RULE`` charges each misuse the fake socket records to a rule (overlap to LOCK-1
alone); ``order`` judges the deliveries: content (FID-1), duplicates (ORD-3), frames after
the end (DISC-2, REPL-1/2, LOCK-3), service order (LOCK-4), flush before live (FLUSH-1) and
order among the rest (ORD-2); ``replaced_closed`` checks that a replaced socket was closed
with 4000 (REPL-1, when "close_replaced" is claimed).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ._history import _acknowledged, _delivered_texts, _epoch_msgs
from ._rules_content import content_mismatch

if TYPE_CHECKING:
    from ._record import Delivery, Msg, SockRec
    from ._record import Recorder as Run

__all__ = ["MISUSE_RULE", "misuse", "order", "replaced_closed"]

MISUSE_RULE = {"overlapping_send": "LOCK-1", "send_before_accept": "FLUSH-1", "close_twice": "CLOSE-1",
               "accept_twice": "FLUSH-1"}
SENT_AFTER = {"disconnected": ("DISC-2", "sent after disconnect"), "replaced": ("REPL-1", "sent after replacement"),
              "detached": ("REPL-2", "sent after detach")}


def misuse(run: Run) -> None:
    seen = run.__dict__.setdefault("_misuse_seen", defaultdict(int))
    for sock in run.sockets:
        for violation in sock.ws.violations[seen[sock.sid]:]:
            kind = violation.kind
            rule, finding = MISUSE_RULE.get(kind), "misuse"
            if kind == "overlapping_send":
                finding = "overlapping send"
            elif kind.startswith("send_after"):
                state = ("disconnected" if sock.disconnected_at else "replaced" if sock.replaced_at
                         else "detached" if sock.detached_at else None)
                rule, finding = SENT_AFTER[state] if state else ("FAIL-1", "kept client")
            rule = rule or "FAIL-2"
            if rule != "CLOSE-1" or run.subject.supports("CLOSE-1"):
                run.violate(rule, f"socket {sock.sid}: {kind.replace('_', ' ')} in {violation.method}()", finding)
        seen[sock.sid] = len(sock.ws.violations)


def order(run: Run, settled: bool = False) -> None:
    per_socket: dict[int, set[str]] = defaultdict(set)
    where: dict[str, int] = {}
    for d in run.deliveries:
        sock = run.sockets[d.sid]
        if _after_end(run, d, sock):
            return
        if d.item.kind != "log" or d.item.text not in run.msgs:
            continue
        text = d.item.text
        msg = run.msgs[text]
        wrong = content_mismatch(d.item.raw, msg.level, msg.text, msg.progress, msg.finished)
        if wrong and run.violate("FID-1", f"{text} was logged with level={msg.level!r}, progress={msg.progress!r}, "
                                 f"finished={msg.finished!r}; socket {d.sid} got {', '.join(wrong)}", "wrong content"):
            return
        if text in per_socket[d.sid]:
            if run.violate("ORD-3", f"{text} delivered twice on socket {d.sid}", "duplicated"):
                return
        per_socket[d.sid].add(text)
        if text in where and where[text] != d.sid and sock.after_seq is None \
                and run.sockets[where[text]].after_seq is None:
            if run.violate("ORD-3", f"{text} delivered on socket {where[text]} and again on socket {d.sid}",
                           "duplicated"):
                return
        where.setdefault(text, d.sid)
        if _served_out_of_order(run, d, sock, msg):
            return
    first = _delivered_texts(run)
    flush_sets = {sock.sid: _flush_set(run, sock) for sock in run.sockets}
    if _flush_then_live(run, flush_sets) or _live_order(run, first, flush_sets):
        return


def _after_end(run: Run, d: Delivery, sock: SockRec) -> bool:
    """A frame on a socket after its task was disconnected, it was replaced or detached."""
    for label, at in (("disconnected", sock.disconnected_at), ("replaced", sock.replaced_at),
                      ("detached", sock.detached_at if sock.replaced_at is None else None)):
        if at is None or d.started <= at or _in_flight_group(run, d, at):
            continue
        rule, kind = SENT_AFTER[label]
        if label == "disconnected" and d.sender in sock.waiters_at_disconnect:
            rule = "LOCK-3"  # a call that was waiting for the lock sent it, not the one sending then
        if run.violate(rule, f"socket {d.sid} got {d.item.short()} after it was {label}", kind):
            return True
    return False


def _served_out_of_order(run: Run, d: Delivery, sock: SockRec, msg: Msg) -> bool:
    """LOCK-4: ``msg`` began after a newer client of its task was accepted, yet went to the
    older socket (before the newer connect returned: after it, REPL-1 judges)."""
    for newer in run.sockets:
        if (newer.task_id != sock.task_id or newer.sid <= sock.sid or newer.accepted_at is None
                or newer.accepted_at >= msg.op.invoke or newer.connect.outcome in ("raised", "cancelled") or newer.adopted
                or newer.epoch != msg.epoch or sock.connect.outcome != "ok" or sock.connect.ret > newer.connect.invoke):
            continue
        if sock.replaced_at is not None and d.started > sock.replaced_at:
            continue
        if any(x.sid == newer.sid and x.item.text == msg.text for x in run.deliveries):
            continue  # sent to both: a broadcast, REPL-1's and ORD-3's to judge
        if run.violate("LOCK-4", f"{msg.text} began after socket {newer.sid}'s connect was accepted, yet went to "
                       f"socket {d.sid}, which that connect replaces", "sent after replacement"):
            return True
    return False


def _flush_set(run: Run, sock: SockRec) -> set[str]:
    """Messages of ``sock``'s task queued before its connect began and not delivered before."""
    invoke = sock.connect.invoke
    delivered_before = {d.item.text for d in run.deliveries if d.tick < invoke}
    return {m.text for m in _epoch_msgs(run, sock.task_id, sock.epoch)
            if m.op.ret is not None and m.op.ret < invoke and m.op.outcome == "ok"
            and m.text not in delivered_before}


def _flush_then_live(run: Run, flush_sets: dict[int, set[str]]) -> bool:
    """FLUSH-1: on a socket that connected to a task with messages queued, each of those
    that it gets comes before every message logged after its connect began."""
    for sock in run.sockets:
        if sock.after_seq is not None or sock.adopted:
            continue
        flushed = flush_sets[sock.sid]
        mine = [d.item.text for d in run.deliveries if d.sid == sock.sid and d.item.kind == "log"]
        for i, text in enumerate(mine):
            msg = run.msgs.get(text)
            if msg is None or msg.op.invoke <= sock.connect.invoke or text in flushed:
                continue
            late = [t for t in mine[i + 1:] if t in flushed]
            if late:
                return run.violate("FLUSH-1", f"socket {sock.sid} got {text} (logged after its connect began) before "
                                   f"{late[0]}, which was queued before", "reordered")
    return False


def _live_order(run: Run, first: dict[str, int], flush_sets: dict[int, set[str]]) -> bool:
    """ORD-2 among messages that are not a flush against live sends (FLUSH-1 judges those)."""
    flushed = set().union(*flush_sets.values())
    acknowledged = _acknowledged(run)  # a resumed client had these already: their first delivery may come later
    groups: dict[tuple, list[Msg]] = defaultdict(list)
    for msg in run.msgs.values():
        groups[(msg.task_id, msg.epoch)].append(msg)
    for msgs in groups.values():
        for a in msgs:
            if a.op.ret is None or a.text not in first or a.text in acknowledged:
                continue
            for b in msgs:
                if (b.text in first and a.op.ret < b.op.invoke and first[a.text] > first[b.text]
                        and (a.text in flushed) == (b.text in flushed)):
                    if run.violate("ORD-2", f"{a.text} returned before {b.text} began, but {b.text} was "
                                   "delivered first", "reordered"):
                        return True
    if run.with_seq:
        for sock in run.sockets:
            items = [d.item for d in run.deliveries if d.sid == sock.sid and d.item.kind == "log"]
            for x, y in zip(items, items[1:]):
                if (x.text in flushed) != (y.text in flushed):
                    continue
                if not isinstance(x.seq, int) or not isinstance(y.seq, int) or y.seq <= x.seq:
                    seqs = [i.seq for i in items]
                    if run.violate("ORD-2", f"socket {sock.sid} got seqs out of order: {seqs}", "reordered"):
                        return True
    return False


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
        codes = [e.code for e in sock.ws.events_of("close")] or list(sock.ws.close_attempts)
        if 4000 not in codes:
            got = f"closed with {codes[0]}" if codes else "never closed"
            run.violate("REPL-1", f"socket {sock.sid} was replaced but {got}, not with 4000", "wrong close code")
