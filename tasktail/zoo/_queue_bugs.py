"""Zoo members whose bug is in queueing, flushing or send-failure handling.

Each is :class:`TutorialManager` with one hook overridden by one bug; ``breaks`` names the
SPEC rule the conformance suite must fail it on. Docstrings: the bug, then why real code
ends up like that, then any other rule it cannot help breaking.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ._tutorial import Message, TutorialManager

__all__ = [
    "ClearWhenFull",
    "HoldsBackLast",
    "LifoFlush",
    "OffByOneCap",
    "PopBeforeSend",
    "RequeueAtBack",
    "RequeueTwice",
    "ReraisingSendError",
    "SwallowedSendError",
    "UnboundedQueue",
]


class LifoFlush(TutorialManager):
    """The flush sends the newest queued message first.

    Why: the queue started life as a ``list`` used with ``.pop()``; turning it into a
    deque kept the wrong end. Single live messages look fine; a backlog comes out reversed.
    Also fails every other check that looks at a backlog's order (FLUSH-1, FAIL-1, CAP-3,
    ORD-3's "in order" clause): the same reversal, seen from each rule.
    """

    breaks = "ORD-2"

    def _take(self, queue: deque[Message]) -> Message:
        return queue[-1]  # BUG: the newest end


class RequeueAtBack(TutorialManager):
    """After a failed send, the failed message is moved to the back of the queue.

    Why: "retry it later" logic borrowed from a job queue, where order does not matter.
    The next client gets later messages before it. Also breaks FAIL-1's "in order" clause,
    which is the same symptom seen from the failure's side.
    """

    breaks = "ORD-2"

    async def _on_send_error(self, task_id: str, websocket: Any, queue: deque[Message],
                             message: Message, exc: BaseException) -> None:
        await super()._on_send_error(task_id, websocket, queue, message, exc)
        if queue and queue[0] is message:
            queue.append(queue.popleft())  # BUG: to the back of the line


class RequeueTwice(TutorialManager):
    """After a failed send, the message is put back at the front although it never left.

    Why: the requeue was written for a pop-before-send flush; the flush was later changed
    to peek, and the requeue stayed "to be safe". The next client gets it twice. If the
    queue is full at that moment it also holds one more than the cap (CAP-1).
    """

    breaks = "ORD-3"

    async def _on_send_error(self, task_id: str, websocket: Any, queue: deque[Message],
                             message: Message, exc: BaseException) -> None:
        await super()._on_send_error(task_id, websocket, queue, message, exc)
        queue.appendleft(message)  # BUG: it is still there


class HoldsBackLast(TutorialManager):
    """The flush keeps the newest message back, and nothing sends it if no more come.

    Why: a debounce so the next progress update can replace the last one before it is
    sent; it works while the producer is chatty and strands the final line when it stops.
    The same hook runs the connect flush, so ``connect`` also returns with the newest
    queued message unsent (FLUSH-1), and every check that waits for a task's last message
    fails as well (ORD-*, FAIL-*, REPL-1, ISO-1, CAP-3): one stranded message, many views.
    """

    breaks = "FLUSH-2"

    def _has_more(self, queue: deque[Message]) -> bool:
        return len(queue) > 1  # BUG: the last one waits for a successor


class OffByOneCap(TutorialManager):
    """The cap test is ``>`` instead of ``>=``, so a full queue holds one message too many.

    The late client then gets one message more than the newest N (CAP-3 fails too).
    """

    breaks = "CAP-1"

    def _enqueue(self, task_id: str, message: Message) -> None:
        queue = self.message_queues.setdefault(task_id, deque())
        if len(queue) > self.max_queue_size:  # BUG: should be >=
            queue.popleft()
        queue.append(message)


class UnboundedQueue(TutorialManager):
    """No cap at all: a task nobody watches grows its queue without bound.

    Why: "limits queued messages" was left as a TODO; tests never log more than a few lines.
    The late client then gets everything, not the newest N (CAP-3 fails too).
    """

    breaks = "CAP-1"

    def _enqueue(self, task_id: str, message: Message) -> None:
        self.message_queues.setdefault(task_id, deque()).append(message)  # BUG: no cap


class ClearWhenFull(TutorialManager):
    """When the queue is full the whole backlog is thrown away, not just the oldest line.

    Why: "if it is full the client is clearly not coming, start over" - a reset that keeps
    memory bounded (CAP-1 holds) but keeps only the newest message instead of the newest N.
    Dropping the *newest* instead would be the allowed reject-newest alternative (CAP-4),
    so that is not in the zoo. A message cleared while ``connect`` waited to flush is
    missing from that flush (FLUSH-1 fails too).
    """

    breaks = "CAP-3"

    def _enqueue(self, task_id: str, message: Message) -> None:
        queue = self.message_queues.setdefault(task_id, deque())
        if len(queue) >= self.max_queue_size:
            queue.clear()  # BUG: everything gives way, not the oldest
        queue.append(message)


class PopBeforeSend(TutorialManager):
    """The message is popped before it is sent and nothing puts it back if the send fails.

    Why: ``message = queue.popleft(); await ws.send_text(...)`` is how every tutorial
    flushes; the failure path drops the client but the message is already gone. The next
    client's flush is then missing it (FLUSH-1, ORD-3's "every message once" check).
    """

    breaks = "FAIL-1"

    def _take(self, queue: deque[Message]) -> Message:
        return queue.popleft()  # BUG: lost if the send below raises


class SwallowedSendError(TutorialManager):
    """A failed send is logged and ignored: the dead socket stays the task's client.

    Why: ``except Exception: logger.exception(...)`` around the send, so the producer never
    sees it (FAIL-2 holds) - but the task keeps a client that will never receive anything,
    so its messages pile up while "connected" (FLUSH-2 breaks too, unavoidably).
    """

    breaks = "FAIL-1"

    async def _on_send_error(self, task_id: str, websocket: Any, queue: deque[Message],
                             message: Message, exc: BaseException) -> None:
        pass  # BUG: the client is neither dropped nor closed


class ReraisingSendError(TutorialManager):
    """A failed send is cleaned up correctly and then re-raised to the producer.

    Why: "let the caller know" - but the caller is the background job, which now crashes
    because a browser tab closed. Checks of other rules that involve a failing send
    (FAIL-1, ORD-3) see the same exception.
    """

    breaks = "FAIL-2"

    async def _on_send_error(self, task_id: str, websocket: Any, queue: deque[Message],
                             message: Message, exc: BaseException) -> None:
        await super()._on_send_error(task_id, websocket, queue, message, exc)
        raise exc  # BUG: the client's failure reaches the producer
