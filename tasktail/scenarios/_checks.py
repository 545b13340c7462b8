"""Invariant checkers: judge a run's history and transcripts against SPEC's rules.

Theory of operation:

1. Checkers read the :class:`~._runner.Run` (ticks of invokes, returns and deliveries, the
   sockets' transcripts) and ask the manager only the seed's queries. Every violation
   names the SPEC rule it enforces, so the conformance report can attribute it.
2. ``step`` runs after every operation (the run is quiescent then); ``on_connect_returned``,
   ``after_disconnect``, ``detach`` and ``query`` run at the moment their operation
   returns; ``final`` runs once everything has settled and every owing task got a client.
3. Loss is judged conservatively: a message may be missing only if the task was
   disconnected, or at least ``max_queue_size`` later messages of its task were logged
   (drop-oldest; with reject-newest accepted as NON-STRICT, as many earlier ones).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ._subject import call, seed_entries

if TYPE_CHECKING:
    from ._runner import Msg, Run, SockRec

__all__ = ["after_disconnect", "detach", "final", "on_connect_returned", "owed_tasks", "query", "step"]

MISUSE_RULE = {"overlapping_send": "ORD-2", "send_before_accept": "FLUSH-1", "send_after_disconnect": "FAIL-1",
               "close_twice": "CLOSE-1", "accept_twice": "FLUSH-1"}


def _epoch_msgs(run: Run, task_id: str, epoch: int) -> list[Msg]:
    return [m for m in run.msgs.values() if m.task_id == task_id and m.epoch == epoch]


def _delivered_texts(run: Run) -> dict[str, int]:
    """text -> index of its first delivery (anywhere)."""
    first: dict[str, int] = {}
    for i, d in enumerate(run.deliveries):
        if d.item.kind == "log" and d.item.text not in first:
            first[d.item.text] = i
    return first


def _accounted(run: Run) -> set[str]:
    """Texts delivered somewhere, or acknowledged by a client resuming after their seq (RES-1)."""
    texts = set(_delivered_texts(run))
    for sock in run.sockets:
        if sock.after_seq is not None and sock.connect.outcome == "ok":
            same = [m for m in _epoch_msgs(run, sock.task_id, sock.epoch) if m.op.outcome != "raised"]
            texts.update(m.text for m in same[:sock.after_seq])
    return texts


def droppable(run: Run, msg: Msg, *, strict: bool = False) -> bool:
    same = [m for m in _epoch_msgs(run, msg.task_id, msg.epoch) if m.op.outcome != "raised"]
    index = same.index(msg)
    if len(same) - index - 1 >= run.cap:
        return True
    return not strict and "CAP-3" in run.nonstrict and index >= run.cap


def _stalled(run: Run, task_id: str) -> bool:
    return any(s.task_id == task_id and (s.ws.sends_in_flight or s.accepting) for s in run.sockets)


def _tasks(run: Run) -> list[str]:
    return sorted({m.task_id for m in run.msgs.values()} | {s.task_id for s in run.sockets})


def on_connect_returned(run: Run, sock: SockRec) -> None:
    ret, task_id = sock.connect.ret, sock.task_id
    if sock.adopted:
        sock.epoch = run.epochs[task_id]  # it attached to the fresh task, if to any
    if sock.epoch != run.epochs[task_id]:
        return
    for other in run.sockets:
        if (other is not sock and other.task_id == task_id and other.replaced_at is None
                and other.connect.outcome == "ok" and other.connect.ret < ret):
            other.replaced_at = ret
    overlapping = any(o is not sock and o.task_id == task_id and o.connect.invoke < ret
                      and (o.connect.ret is None or o.connect.ret > sock.connect.invoke) for o in run.sockets)
    if (sock.after_seq is not None or sock.failed() or overlapping or sock.disconnected_at is not None
            or sock.detached_at is not None or sock.adopted):
        return
    delivered = _accounted(run)
    for msg in _epoch_msgs(run, task_id, sock.epoch):
        if (msg.op.outcome == "ok" and msg.op.ret < sock.connect.invoke and msg.text not in delivered
                and not droppable(run, msg)):
            run.violate("FLUSH-1", f"connect #{sock.connect.id} returned without sending {msg.text}, "
                        f"queued before it began")
            return


def after_disconnect(run: Run, task_id: str, rule: str) -> None:
    manager = run.manager
    try:
        status, count = manager.get_connection_status(task_id), manager.get_queued_message_count(task_id)
    except Exception as exc:
        run.violate("QRY-1", f"query after disconnect({task_id!r}) raised {type(exc).__name__}: {exc}")
        return
    left = seed_entries(manager, task_id)
    if status or count or left:
        run.violate(rule, f"after disconnect({task_id!r}): status={status}, queued={count}, entries in {left}")


async def detach(run: Run, sock: SockRec) -> None:
    manager = run.manager
    before = manager.get_connection_status(sock.task_id)
    stale = sock.replaced_at is not None
    rec = run._begin(None, f"detach({sock.task_id!r}, socket {sock.sid})", sock.task_id)
    if sock.connect.outcome is not None or sock.ws.events_of("send_started"):
        sock.detached_at = rec.invoke  # (before it attached, detach is rightly a no-op)
    try:
        await call(manager.detach, sock.task_id, sock.ws)
    except Exception as exc:
        run._end(rec, "raised", f"{type(exc).__name__}: {exc}")
        run.violate("REPL-2", f"detach raised {type(exc).__name__}: {exc}")
        return
    run._end(rec, "ok")
    if stale and before and not manager.get_connection_status(sock.task_id):
        run.violate("REPL-2", f"detaching replaced socket {sock.sid} removed its successor")


async def query(run: Run, task_id: str) -> None:
    rec = run._begin(None, f"query({task_id!r})", task_id)
    try:
        status = run.manager.get_connection_status(task_id)
        count = run.manager.get_queued_message_count(task_id)
    except Exception as exc:
        run._end(rec, "raised", f"{type(exc).__name__}: {exc}")
        run.violate("QRY-1", f"query of {task_id!r} raised {type(exc).__name__}: {exc}")
        return
    run._end(rec, "ok", f"-> connected={status!r}, queued={count!r}")
    if task_id not in _tasks(run) and (status is not False or count != 0):
        run.violate("QRY-1", f"unknown task {task_id!r}: status={status!r}, queued={count!r}")


def _misuse(run: Run) -> None:
    seen = run.__dict__.setdefault("_misuse_seen", defaultdict(int))
    for sock in run.sockets:
        for violation in sock.ws.violations[seen[sock.sid]:]:
            kind = violation.kind
            rule = MISUSE_RULE.get(kind)
            if kind.startswith("send_after"):
                rule = rule or ("DISC-2" if sock.disconnected_at else "REPL-1" if sock.replaced_at else "FAIL-1")
            rule = rule or "FAIL-2"
            if rule != "CLOSE-1" or run.subject.supports("CLOSE-1"):
                run.violate(rule, f"socket {sock.sid}: {kind} in {violation.method}()")
        seen[sock.sid] = len(sock.ws.violations)


def _order(run: Run) -> None:
    per_socket: dict[int, set[str]] = defaultdict(set)
    where: dict[str, int] = {}
    for d in run.deliveries:
        sock = run.sockets[d.sid]
        for label, at in (("replaced", sock.replaced_at), ("disconnected", sock.disconnected_at)):
            if at is not None and d.started > at and not _in_flight_group(run, d, at):
                rule = "REPL-1" if label == "replaced" else "DISC-2"
                run.violate(rule, f"socket {d.sid} got {d.item.short()} after it was {label}")
                return
        if (sock.detached_at is not None and d.started > sock.detached_at and sock.replaced_at is None
                and not _in_flight_group(run, d, sock.detached_at)):
            run.violate("REPL-2", f"socket {d.sid} got {d.item.short()} after it was detached")
            return
        if d.item.kind != "log" or d.item.text not in run.msgs:
            continue
        text = d.item.text
        if text in per_socket[d.sid]:
            run.violate("ORD-3", f"{text} delivered twice on socket {d.sid}")
            return
        per_socket[d.sid].add(text)
        if text in where and where[text] != d.sid and sock.after_seq is None \
                and run.sockets[where[text]].after_seq is None:
            run.violate("ORD-3", f"{text} delivered on socket {where[text]} and again on socket {d.sid}")
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
                    run.violate("ORD-2", f"{a.text} returned before {b.text} began, but {b.text} was "
                                "delivered first")
                    return
    if run.with_seq:
        for sock in run.sockets:
            seqs = [d.item.seq for d in run.deliveries if d.sid == sock.sid and d.item.kind == "log"]
            if any(not isinstance(x, int) or not isinstance(y, int) or y <= x for x, y in zip(seqs, seqs[1:])):
                run.violate("ORD-2", f"socket {sock.sid} got seqs out of order: {seqs}")
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


def step(run: Run, settled: bool = False) -> None:
    _misuse(run)
    _order(run)
    manager, running = run.manager, run.running()
    for task_id in _tasks(run):
        try:
            status = manager.get_connection_status(task_id)
            count = manager.get_queued_message_count(task_id)
        except Exception as exc:
            run.violate("QRY-1", f"query of {task_id!r} raised {type(exc).__name__}: {exc}")
            return
        in_flight = any(s.task_id == task_id and s.ws.sends_in_flight for s in run.sockets)
        queue = getattr(manager, "message_queues", {}).get(task_id)
        if count > run.cap + in_flight or (queue is not None and len(queue) > run.cap):
            run.violate("CAP-1", f"{task_id} holds {count} queued messages; max_queue_size={run.cap}")
        if count >= run.cap:
            run.coverage["cap reached"] += 1
        if run.subject.claims("statistics"):
            _accounting(run, task_id)
        if settled and status and count:
            cancelled = [m.text for m in run.msgs.values() if m.cancelled and m.task_id == task_id]
            rule = "FAIL-3" if cancelled else "FLUSH-2"  # a cancelled producer's message was left behind
            run.violate(rule, f"settled, {task_id} has a client and {count} queued messages"
                        + (f" (cancelled: {cancelled})" if cancelled else ""))
        current = [s for s in run.sockets if s.task_id == task_id and s.epoch == run.epochs[task_id]
                   and s.connect.outcome == "ok" and s.replaced_at is None and s.detached_at is None]
        if settled and status and current and current[-1].ws.events_of("send_failed"):
            run.violate("FAIL-1", f"a send to socket {current[-1].sid} failed but {task_id} still has a client")
        busy = [r for r in running if r.task_id == task_id]
        if len(busy) >= 2:
            run.coverage["contention on one task's lock"] += 1
        if busy and not _stalled(run, task_id):
            others = [t for t in _tasks(run) if t != task_id and _stalled(run, t)]
            rule, why = ("ISO-1", f"only {others} have stalled clients") if others else ("FLUSH-2", "deadlock")
            run.violate(rule, f"#{busy[0].id} {busy[0].label} is blocked though no client of {task_id} "
                        f"is stalled ({why})")
    if settled and run.subject.claims("statistics"):  # a removed task's in-flight frame is in no bucket
        s = manager.statistics()
        if s.logged != s.delivered + s.queued + s.dropped + s.discarded:
            run.violate("GAP-2", f"statistics() do not add up: {s}")


def _accounting(run: Run, task_id: str) -> None:
    t = run.manager.task_statistics(task_id)
    if t.known and t.last_seq != t.delivered + t.queued + t.dropped:
        run.violate("GAP-2", f"task_statistics({task_id!r}) do not add up: {t}")


def owed_tasks(run: Run) -> list[str]:
    delivered = _accounted(run)
    owed = {m.task_id for m in run.msgs.values() if m.epoch == run.epochs[m.task_id]
            and m.op.outcome != "raised" and m.text not in delivered and not droppable(run, m)}
    owed |= {t for t in _tasks(run) if run.manager.get_queued_message_count(t)}
    return sorted(owed)


def final(run: Run) -> None:
    delivered = _accounted(run)
    for msg in run.msgs.values():
        if msg.epoch != run.epochs[msg.task_id] or msg.op.outcome == "raised" or msg.text in delivered:
            continue
        if droppable(run, msg, strict=True):
            continue
        if droppable(run, msg):
            continue  # reject-newest, accepted as NON-STRICT
        sent_before = [s for s in run.sockets if any(f.payload and msg.text in str(f.payload)
                                                     for e in s.ws.events if (f := e.frame) is not None)]
        many = sum(1 for s in run.sockets if s.task_id == msg.task_id and s.epoch == msg.epoch) > 2
        rule = ("FAIL-3" if msg.cancelled else "FAIL-1" if sent_before else "REPL-1" if many
                else "CAP-3" if len(_epoch_msgs(run, msg.task_id, msg.epoch)) > run.cap else "FLUSH-2")
        run.violate(rule, f"{msg.text} was never delivered (and was not dropped by the queue cap)")
        return
    if run.with_seq:
        _seqs(run)
    if run.subject.claims("gaps"):
        _gaps(run)


def _seqs(run: Run) -> None:
    by_text = {d.item.text: d.item.seq for d in run.deliveries if d.item.kind == "log"}
    groups: dict[tuple, list[Msg]] = defaultdict(list)
    for msg in run.msgs.values():
        if msg.op.outcome != "raised":
            groups[(msg.task_id, msg.epoch)].append(msg)
    for msgs in groups.values():
        for position, msg in enumerate(msgs, 1):
            if msg.seq is not None and msg.seq != position:
                run.violate("ORD-1", f"{msg.text} got seq {msg.seq}; it was call number {position} of its task")
                return
            if msg.seq is not None and msg.text in by_text and by_text[msg.text] != msg.seq:
                run.violate("ORD-1", f"{msg.text} returned seq {msg.seq} but was sent with seq {by_text[msg.text]}")
                return


def _gaps(run: Run) -> None:
    for (task_id, epoch) in {(s.task_id, s.epoch) for s in run.sockets}:
        if epoch != run.epochs[task_id]:
            continue
        socks = [s for s in run.sockets if s.task_id == task_id and s.epoch == epoch]
        told, got, acked = set(), set(), set()
        for sock in socks:
            mine: set[int] = set()
            for d in (d for d in run.deliveries if d.sid == sock.sid):
                item = d.item
                if item.kind == "gap" and item.reason == "dropped":
                    span = set(range(item.first, item.last + 1))
                    if span & mine and sock.after_seq is None:
                        run.violate("GAP-1", f"socket {sock.sid} was told about seqs {sorted(span & mine)} twice")
                        return
                    mine |= span
                elif item.kind == "log" and isinstance(item.seq, int):
                    got.add(item.seq)
            told |= mine
            if sock.after_seq is not None and sock.connect.outcome == "ok":
                acked |= set(range(1, sock.after_seq + 1))  # the client said it has them
        last = len([m for m in _epoch_msgs(run, task_id, epoch) if m.op.outcome != "raised"])
        if told & got:
            run.violate("GAP-1", f"{task_id}: seqs {sorted(told & got)} were announced dropped but delivered")
            return
        silent = sorted(set(range(1, last + 1)) - told - got - acked)
        if silent:
            run.violate("GAP-1", f"{task_id}: seqs {silent} were neither delivered nor announced as dropped")
            return
