"""Reading a run's history: which messages belong together, which were delivered or may be lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._record import Msg
    from ._record import Recorder as Run

__all__ = ["droppable", "has_client"]


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
        # a resume point names seqs of the incarnation it was given for: not of one that
        # started while its connect ran (RES-4)
        if sock.after_seq is not None and sock.connect.outcome == "ok" and not sock.adopted:
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
    # a send in flight, an accept, or a close the client has not answered yet: waiting on a client
    return any(s.task_id == task_id and (s.ws.sends_in_flight or s.accepting or s.ws.held()) for s in run.sockets)


def _tasks(run: Run) -> list[str]:
    return sorted({m.task_id for m in run.msgs.values()} | {s.task_id for s in run.sockets})


def has_client(run: Run, task_id: str) -> bool:
    """The task has a client that can still take frames, or a connect of it is running."""
    epoch = run.epochs[task_id]
    for s in run.sockets:
        if s.task_id != task_id:
            continue
        if s.connect.outcome is None:
            return True
        if (s.epoch == epoch and s.connect.outcome == "ok" and not s.failed() and s.replaced_at is None
                and s.detached_at is None and s.disconnected_at is None):
            return True
    return False
