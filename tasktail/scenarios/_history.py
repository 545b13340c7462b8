"""Reading a run's history: which messages belong together, which were delivered or may be lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._record import Msg, SockRec
    from ._record import Recorder as Run

__all__ = ["acknowledges", "droppable", "has_client"]


def _epoch_msgs(run: Run, task_id: str, epoch: int) -> list[Msg]:
    return [m for m in run.msgs.values() if m.task_id == task_id and m.epoch == epoch]


def _delivered_texts(run: Run) -> dict[str, int]:
    """text -> index of its first delivery (anywhere)."""
    first: dict[str, int] = {}
    for i, d in enumerate(run.deliveries):
        if d.item.kind == "log" and d.item.text not in first:
            first[d.item.text] = i
    return first


def _acknowledged(run: Run) -> set[str]:
    """Texts a client resuming after their seq said it already has (RES-1)."""
    texts: set[str] = set()
    for sock in run.sockets:
        if acknowledges(sock):
            same = [m for m in _epoch_msgs(run, sock.task_id, sock.epoch) if m.op.outcome != "raised"]
            texts.update(m.text for m in same[:sock.after_seq])
    return texts


def _accounted(run: Run) -> set[str]:
    """Texts delivered somewhere, or acknowledged by a client resuming after their seq (RES-1)."""
    return set(_delivered_texts(run)) | _acknowledged(run)


def _progress_only(msg: Msg) -> bool:
    """CAP-5's progress-only message: progress set, not finished, level debug or info."""
    return msg.progress is not None and not msg.finished and msg.level in ("debug", "info")


def acknowledges(sock: SockRec) -> bool:
    """The socket's resume point counts: its client said it has every seq up to
    ``after_seq`` (a cancelled connect's claim stands too; a failed one's was refused), of
    the incarnation it was given for (not one that started while its connect ran, RES-4)."""
    return sock.after_seq is not None and sock.connect.outcome in ("ok", "cancelled") and not sock.adopted


def droppable(run: Run, msg: Msg, *, strict: bool = False) -> bool:
    """May ``msg`` have been dropped for the cap? ``strict``: under drop-oldest alone. Else
    also under the policy the subject declares (``tasktail_overflow``) or the scripted
    CAP-3 check saw (reject-newest): a reject-newest victim has ``cap`` messages before it,
    a coalesce-progress victim is progress-only with a progress-only message after it."""
    same = [m for m in _epoch_msgs(run, msg.task_id, msg.epoch) if m.op.outcome != "raised"]
    index = same.index(msg)
    if len(same) - index - 1 >= run.cap:
        return True
    if strict:
        return False
    policy = run.subject.overflow
    if ("CAP-3" in run.nonstrict or policy == "reject-newest") and index >= run.cap:
        return True
    return policy == "coalesce-progress" and _progress_only(msg) and any(map(_progress_only, same[index + 1:]))


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
