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

from typing import TYPE_CHECKING

from ._checks_final import final, owed_tasks
from ._checks_transcript import misuse, order, replaced_closed
from ._findings import describe_exception
from ._history import _stalled, _tasks, droppable, has_client
from ._subject import call, queue_length, seed_entries

if TYPE_CHECKING:
    from ._record import OpRec
    from ._record import Recorder as Run
    from ._record import SockRec

__all__ = ["after_disconnect", "clientless_producer", "detach", "droppable", "final", "has_client",
           "on_connect_returned", "owed_tasks", "query", "step"]


def on_connect_returned(run: Run, sock: SockRec) -> None:
    """A connect returned: the sockets it replaced are replaced from now on. (Whether it
    flushed what was queued is judged on delivery order, ``_checks_transcript.order``:
    a manager may deliver through a writer task, after connect returned.)"""
    ret, task_id = sock.connect.ret, sock.task_id
    if sock.adopted and sock.disconnected_at is None:
        if run.subject.claims("close_codes") and getattr(sock.handle, "close_code", None) == 4002:
            # it had attached to the old task before the disconnect, which ended it (the
            # handle says so, DISC-1's 4002; closing the socket is the caller's)
            sock.disconnected_at = sock.connect.ret
            return
        sock.epoch = run.epochs[task_id]  # it attached to the fresh task, if to any
    if sock.epoch != run.epochs[task_id]:
        return
    for other in run.sockets:
        # one the manager closed before this connect began (say, a connect whose task was
        # disconnected while it waited: LOCK-3) was ended, not replaced
        ended_before = other.ws.closed_at is not None and other.ws.closed_at < sock.connect.invoke
        if (other is not sock and other.task_id == task_id and other.replaced_at is None
                and other.connect.outcome == "ok" and other.connect.ret < ret and not ended_before):
            other.replaced_at = ret


def after_disconnect(run: Run, task_id: str, rule: str) -> bool:
    """Charge ``rule`` with whatever the task still shows; True when it shows nothing."""
    manager = run.manager
    try:
        status, count = manager.get_connection_status(task_id), manager.get_queued_message_count(task_id)
    except Exception as exc:
        run.violate("QRY-1", f"query after disconnect({task_id!r}) raised {describe_exception(exc)}", "crashed")
        return False
    left = seed_entries(manager, task_id)
    if status or count or left:
        run.violate(rule, f"after disconnect({task_id!r}): status={status}, queued={count}, entries in {left}",
                    "kept state")
        return False
    return True


async def detach(run: Run, sock: SockRec) -> None:
    manager = run.manager
    before = manager.get_connection_status(sock.task_id)
    stale = sock.replaced_at is not None
    rec = run._begin(None, f"detach({sock.task_id!r}, socket {sock.sid})", sock.task_id)
    if sock.connect.outcome is not None or sock.started_sending():
        sock.detached_at = rec.invoke  # (before it attached, detach is rightly a no-op)
    try:
        result = await call(manager.detach, sock.task_id, sock.ws)
    except Exception as exc:
        run._end(rec, "raised", describe_exception(exc))
        run.violate("REPL-2", f"detach raised {describe_exception(exc)}", "crashed")
        return
    run._end(rec, "ok", "" if result is None else f"-> {result!r}")
    if result is True and sock.detached_at is None:
        sock.detached_at = rec.invoke  # its running connect had attached it already: the manager says so
    if stale and before and not manager.get_connection_status(sock.task_id):
        run.violate("REPL-2", f"detaching replaced socket {sock.sid} removed its successor", "wrong answer")


async def query(run: Run, task_id: str) -> None:
    rec = run._begin(None, f"query({task_id!r})", task_id)
    try:
        status = run.manager.get_connection_status(task_id)
        count = run.manager.get_queued_message_count(task_id)
    except Exception as exc:
        run._end(rec, "raised", describe_exception(exc))
        run.violate("QRY-1", f"query of {task_id!r} raised {describe_exception(exc)}", "crashed")
        return
    run._end(rec, "ok", f"-> connected={status!r}, queued={count!r}")
    if task_id not in _tasks(run) and (status is not False or count != 0):
        run.violate("QRY-1", f"unknown task {task_id!r}: status={status!r}, queued={count!r}", "wrong answer")


def _held(run: Run, task_id: str) -> int | None:
    queues = getattr(run.manager, "message_queues", None)
    try:
        queue = queues.get(task_id) if queues is not None else None
    except Exception:  # noqa: BLE001 - not a mapping: nothing to read
        return None
    return None if queue is None else queue_length(queue)


def _attached_after_cancel(run: Run, task_id: str) -> None:
    """The task has a client, and the only socket it can be is one whose connect was
    cancelled after accepting it: nobody will ever flush or detach it (FLUSH-1, MEM-3)."""
    mine = [s for s in run.sockets if s.task_id == task_id and s.epoch == run.epochs[task_id]
            and s.replaced_at is None and s.detached_at is None and s.disconnected_at is None]
    if any(not s.cancelled and s.connect.outcome in (None, "ok") and s.ws.closed_at is None for s in mine):
        return
    stranded = [s for s in mine if s.cancelled and s.accepted_at is not None and s.ws.closed_at is None]
    if stranded:
        run.violate("FLUSH-1", f"settled, {task_id} has a client, and the only socket it can be is socket "
                    f"{stranded[-1].sid}, whose connect was cancelled after accepting it and which "
                    "nobody closed", "attached after cancel")


def step(run: Run, settled: bool = False) -> None:
    misuse(run)
    order(run, settled)
    manager, running = run.manager, run.running()
    for task_id in _tasks(run):
        try:
            status = manager.get_connection_status(task_id)
            count = manager.get_queued_message_count(task_id)
        except Exception as exc:
            run.violate("QRY-1", f"query of {task_id!r} raised {describe_exception(exc)}", "crashed")
            return
        in_flight = sum(s.ws.sends_in_flight for s in run.sockets if s.task_id == task_id)
        _note_undelivered(run, task_id, in_flight)
        held = _held(run, task_id)  # a message being written may still sit in the container
        if (isinstance(count, int) and count > run.cap + in_flight) or (held is not None and held > run.cap + in_flight):
            run.violate("CAP-1", f"{task_id} holds {max(count, held or 0)} queued messages; "
                        f"max_queue_size={run.cap}", "over cap")
        if isinstance(count, int) and count >= run.cap:
            run.coverage["cap reached"] += 1
            run.coverage_at_cap[task_id] = True
        if run.subject.claims("statistics"):
            _accounting(run, task_id)
        if settled and status:
            _attached_after_cancel(run, task_id)
        if settled and status and count:
            cancelled = [m.text for m in run.msgs.values() if m.cancelled and m.task_id == task_id]
            rule = "FAIL-3" if cancelled else "FLUSH-2"  # a cancelled producer's message was left behind
            run.violate(rule, f"settled, {task_id} has a client and {count} queued messages"
                        + (f" (cancelled: {cancelled})" if cancelled else ""), "left queued")
        current = [s for s in run.sockets if s.task_id == task_id and s.epoch == run.epochs[task_id]
                   and s.connect.outcome == "ok" and s.replaced_at is None and s.detached_at is None]
        if settled and status and current and current[-1].ws.events_of("send_failed") and not _overlapped(run, current[-1]):
            run.violate("FAIL-1", f"a send to socket {current[-1].sid} failed but {task_id} still has a client",
                        "kept client")
        busy = [r for r in running if r.task_id == task_id]
        if len(busy) >= 2 or (in_flight and (busy or (isinstance(count, int) and count >= 1))):
            # several calls on one task, or (deferred delivery) a send in flight with more behind it
            run.coverage["contention on one task's lock"] += 1
        if busy and not _stalled(run, task_id):
            _blocked(run, task_id, busy)
    _resurrected(run)
    if settled and run.subject.claims("close_replaced"):
        replaced_closed(run)
    if settled and run.subject.claims("statistics"):  # a removed task's in-flight frame is in no bucket
        s = manager.statistics()
        if s.logged != s.delivered + s.queued + s.dropped + s.discarded:
            run.violate("GAP-2", f"statistics() do not add up: {s}", "accounting")


def _note_undelivered(run: Run, task_id: str, in_flight: int) -> None:
    """Remember when more of the task's logged messages (send_log returned) wait undelivered
    than the cap allows: if they all reach a client later, the manager held them somewhere,
    whatever its queue reported (a writer task's own queue, say); ``final`` judges that."""
    epoch = run.epochs[task_id]
    candidates = [m.text for m in run.msgs.values() if m.task_id == task_id and m.epoch == epoch
                  and m.op.outcome == "ok"]
    if len(candidates) <= run.cap + in_flight:
        return
    delivered = {d.item.text for d in run.deliveries if d.item.kind == "log"}
    waiting = frozenset(t for t in candidates if t not in delivered)
    if len(waiting) > run.cap + in_flight:
        run.held_beyond_cap.append((task_id, waiting, in_flight))


def _resurrected(run: Run) -> None:
    """DISC-2: a disconnected task that nothing has used since shows state again."""
    for task_id, at in run.removed_at.items():
        if any(r.invoke > at for r in run.ops if r.task_id == task_id and r.op is not None):
            continue  # a later log or connect may rightly have started a fresh task
        if any(s.task_id == task_id and s.adopted and s.disconnected_at is None and s.connect.outcome in (None, "ok")
               for s in run.sockets):
            continue  # a connect running at the disconnect may attach to a fresh task (LOCK-3 judges it)
        try:
            status, count = run.manager.get_connection_status(task_id), run.manager.get_queued_message_count(task_id)
        except Exception:  # noqa: BLE001 - QRY-1 judges that in step()
            return
        left = seed_entries(run.manager, task_id)
        if status or count or left:
            run.violate("DISC-2", f"{task_id} came back after disconnect({task_id!r}) with nothing new: "
                        f"connected={status}, queued={count}, entries in {left}", "resurrected")
            return


def _overlapped(run: Run, sock: SockRec) -> bool:
    """Its connect overlapped another connect of its task: which one the manager kept is open."""
    end = sock.connect.ret if sock.connect.ret is not None else float("inf")
    return any(o is not sock and o.task_id == sock.task_id and o.connect.invoke < end
               and (o.connect.ret if o.connect.ret is not None else float("inf")) > sock.connect.invoke
               for o in run.sockets)


def _blocked(run: Run, task_id: str, busy: list) -> None:
    """Calls of ``task_id`` still running at the end of a step, though none of its clients
    has a send in flight: another task's stalled client holds them (ISO-1), a producer
    waits with no client at all (PROD-1), or the task's lock was never released (LOCK-2)."""
    first = busy[0]
    waiting = [r for r in busy if r.label.startswith("send_log")]
    if waiting and _full_with_no_client(run, task_id):
        # waiting for room in its own full queue with no client to drain it (its client may
        # have failed since it began), whatever other tasks' clients do
        _waits_with_no_client(run, task_id, waiting, "waits at a full queue")
        return
    others = [t for t in _tasks(run) if t != task_id and _stalled(run, t)]
    if others:
        run.violate("ISO-1", f"#{first.id} {first.label} is blocked though no client of {task_id} is stalled "
                    f"(only {others} have stalled clients)", "hung")
        return
    producers = [r for r in waiting if not r.had_client]
    if producers and not has_client(run, task_id):
        _waits_with_no_client(run, task_id, producers, "began with none and is still waiting")
        return
    stuck = [r for r in busy if r.waited_clientless]
    if stuck:  # a client came later, but this producer was already waiting on no client: not a lock's fault
        r = stuck[0]
        run.violate("PROD-1", f"#{r.id} {r.label} was seen waiting with no client for {task_id} and still waits "
                    "now that a client is connected", "blocked producer")
        return
    run.violate("LOCK-2", f"#{first.id} {first.label} is blocked though no client of {task_id} has a send in "
                "flight: the task's lock was not released", "hung")


def _full_with_no_client(run: Run, task_id: str) -> bool:
    held = _held(run, task_id)
    return isinstance(held, int) and held >= run.cap and not has_client(run, task_id)


def clientless_producer(run: Run, r: OpRec) -> bool:
    """A send_log with no client to wait for (PROD-1's if it waits): it began with none, was
    seen waiting with none, or its task's queue is full and no client is left to drain it."""
    return r.label.startswith("send_log") and (not r.had_client or r.waited_clientless
                                               or _full_with_no_client(run, r.task_id))


def _waits_with_no_client(run: Run, task_id: str, producers: list, how: str) -> None:
    for p in producers:
        p.waited_clientless = True
    r = producers[0]
    run.violate("PROD-1", f"#{r.id} {r.label} has no client for {task_id} and {how} "
                f"({_held(run, task_id)} held in message_queues[{task_id!r}])", "blocked producer")


def _accounting(run: Run, task_id: str) -> None:
    t = run.manager.task_statistics(task_id)
    if t.known and t.last_seq != t.delivered + t.queued + t.dropped:
        run.violate("GAP-2", f"task_statistics({task_id!r}) do not add up: {t}", "accounting")
