"""One exception class per failure cause (SPEC ``FIN-1``, ``MEM-4``, ``CAP-2``, ``THR-2``).

Messages are built with ``show``, which cannot fail, so a hostile ``__repr__`` never
replaces the error it was meant to describe."""

from __future__ import annotations

from ._message import show

__all__ = ["TasktailError", "TaskFinishedError", "TaskLimitError", "PolicyError", "LoopClosedError"]


class TasktailError(Exception):
    """Base class of every error tasktail raises on its own account."""


class TaskFinishedError(TasktailError):
    """``send_log`` after the task's ``finished=True`` message (``FIN-1``)."""

    def __init__(self, task_id: str, finished_seq: int) -> None:
        super().__init__(
            f"send_log on task {task_id!r} after it finished with seq {finished_seq}; "
            "a finished task accepts no more messages (disconnect it to start over)"
        )
        self.task_id, self.finished_seq = task_id, finished_seq


class TaskLimitError(TasktailError):
    """A new task while ``max_tasks`` tasks exist and every one has a client (``MEM-4``)."""

    def __init__(self, task_id: str, max_tasks: int) -> None:
        super().__init__(
            f"cannot add task {task_id!r}: max_tasks={max_tasks} tasks exist and every one "
            "has a client connected, so none can be evicted"
        )
        self.task_id, self.max_tasks = task_id, max_tasks


class PolicyError(TasktailError):
    """An overflow policy broke its contract (``CAP-2``)."""

    def __init__(self, policy: object, what: str) -> None:
        super().__init__(f"overflow policy {show(policy)} {what}; nothing was logged, and a finished "
                         "message is never evicted or rejected; choose_victim must return None or "
                         "the int index of a queued message that is not finished")
        self.policy = policy


class LoopClosedError(TasktailError):
    """A worker thread logged after the event loop it was bound to had finished (``THR-2``)."""
