"""The final checks, once everything settled and every owing task got a client: loss, seqs, gaps."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ._history import _accounted, _epoch_msgs, _tasks, acknowledges, droppable

if TYPE_CHECKING:
    from ._record import Msg
    from ._record import Recorder as Run

__all__ = ["final", "owed_tasks"]


def owed_tasks(run: Run) -> list[str]:
    delivered = _accounted(run)
    owed = {m.task_id for m in run.msgs.values() if m.epoch == run.epochs[m.task_id]
            and m.op.outcome != "raised" and m.text not in delivered and not droppable(run, m)}
    owed |= {t for t in _tasks(run) if run.manager.get_queued_message_count(t)}
    if run.subject.claims("gaps"):
        # A dropped range whose notice went down with a failed client is owed to the next
        # client (GAP-1) even when nothing is queued: reject-newest leaves exactly that.
        owed |= {m.task_id for m in run.msgs.values() if m.epoch == run.epochs[m.task_id]
                 and m.op.outcome != "raised" and m.text not in delivered and droppable(run, m)}
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
        if "live" in run.preconditions or ("queue" in run.preconditions and not _had_client(run, msg)):
            continue  # the failed precondition's finding already says so (see _suite.PRECONDITIONS)
        rule = _loss_rule(run, msg)
        if run.violate(rule, f"{msg.text} was never delivered (and was not dropped by the queue cap)", "lost"):
            return
    _held_elsewhere(run)
    if run.with_seq:
        _seqs(run)
    if run.subject.claims("gaps"):
        _gaps(run)


def _held_elsewhere(run: Run) -> None:
    """CAP-1/CAP-3 by what clients got: more than cap + in-flight messages that waited
    undelivered at one step, all delivered later to clients that did not resume (a resumed
    client may rightly get history), were held by the manager beyond its cap, and the
    oldest of them never gave way."""
    fresh = {s.sid for s in run.sockets if s.after_seq is None}
    delivered = {d.item.text for d in run.deliveries if d.item.kind == "log" and d.sid in fresh}
    for task_id, waiting, in_flight in run.held_beyond_cap:
        later = waiting & delivered
        if len(later) > run.cap + in_flight:
            what = (f"{len(later)} messages of {task_id} waited undelivered at once (send_log had returned; "
                    f"{in_flight} send(s) in flight) and all reached a client later: max_queue_size={run.cap}")
            run.violate("CAP-1", f"{what}, so the manager held them beyond its cap", "over cap")
            run.violate("CAP-3", f"{what}, so when full the oldest did not give way", "over cap")
            return


def _loss_rule(run: Run, msg: Msg) -> str:
    """Which rule a lost message breaks: what was going on when it was lost."""
    socks = [s for s in run.sockets if s.task_id == msg.task_id and s.epoch == msg.epoch]
    if msg.cancelled:
        return "FAIL-3"  # a cancelled producer's message (needs "cancellation")
    if any(s.adopted and s.after_seq is not None for s in socks):
        return "RES-4"  # a resume point of the earlier incarnation was applied to this one
    if any(v.kind == "overlapping_send" for s in socks for v in s.ws.violations):
        return "LOCK-1"  # two writes at once on one socket: what follows from the overlap is LOCK-1's
    if any(s.failed() for s in socks):
        return "FAIL-1"  # a failed send dropped the message, not only the client
    if len(socks) > 2:
        return "REPL-1"
    if not msg.op.had_client:
        return "CAP-3" if run.coverage_at_cap.get(msg.task_id) else "FLUSH-1"
    return "FLUSH-2"


def _had_client(run: Run, msg: Msg) -> bool:
    return msg.op.had_client


def _seqs(run: Run) -> None:
    by_text = {d.item.text: d.item.seq for d in run.deliveries if d.item.kind == "log"}
    groups: dict[tuple, list[Msg]] = defaultdict(list)
    for msg in run.msgs.values():
        if msg.op.outcome != "raised":
            groups[(msg.task_id, msg.epoch)].append(msg)
    for msgs in groups.values():
        for position, msg in enumerate(msgs, 1):
            if msg.seq is not None and msg.seq != position:
                if run.violate("ORD-1", f"{msg.text} got seq {msg.seq}; it was call number {position} of its task",
                               "wrong answer"):
                    return
            if msg.seq is not None and msg.text in by_text and by_text[msg.text] != msg.seq:
                if run.violate("ORD-1", f"{msg.text} returned seq {msg.seq} but was sent with seq {by_text[msg.text]}",
                               "wrong answer"):
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
                        if run.violate("GAP-1", f"socket {sock.sid} was told about seqs {sorted(span & mine)} twice",
                                       "duplicated"):
                            return
                    mine |= span
                elif item.kind == "log" and isinstance(item.seq, int):
                    got.add(item.seq)
            told |= mine
            if acknowledges(sock):
                acked |= set(range(1, sock.after_seq + 1))  # the client said it has them
        last = len([m for m in _epoch_msgs(run, task_id, epoch) if m.op.outcome != "raised"])
        if told & got:
            if run.violate("GAP-1", f"{task_id}: seqs {sorted(told & got)} were announced dropped but delivered", "wrong answer"):
                return
        silent = sorted(set(range(1, last + 1)) - told - got - acked)
        if silent:
            if run.violate("GAP-1", f"{task_id}: seqs {silent} were neither delivered nor announced as dropped", "lost"):
                return
