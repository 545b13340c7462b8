"""Hand-written labels: for each broken idiom, every core rule it breaks (rule -> what
goes wrong), and the rules we were unsure about (rule -> why). Judged against SPEC.md's
core rules plus FID-1, LOCK-1..4, PROD-1 and the changed MEM-1/ORD-3, with FLUSH-1 read
as "queued messages are delivered first, in order, before anything logged later".
"""

from __future__ import annotations

__all__ = ["BREAKS", "DOUBTFUL"]

BREAKS: dict[str, dict[str, str]] = {
    "dict_of_asyncio_queue": {
        "CAP-3": "A full queue's put_nowait raises asyncio.QueueFull into the producer; the oldest line never gives way.",
        "FAIL-1": "The line a failed send took with get_nowait is gone: the next client never gets it.",
        "DISC-2": "A flush running when disconnect() pops the dicts keeps writing its queue to the removed socket.",
    },
    "socket_list_broadcast": {
        "REPL-1": "A second connect is appended to the list: the old socket keeps receiving every line.",
        "ORD-3": "With two sockets in the list each line is delivered to both connections.",
        "FAIL-1": "A failed send is ignored: the dead socket stays the task's client and the line is not kept.",
        "LOCK-3": "A send_log (or connect) waiting for the lock when disconnect ran still writes to the sockets it read before waiting (and a waiting connect registers under the removed lock, so later send_logs raise KeyError).",
        "DISC-2": "After disconnect during an in-flight send, the waiting producers still send on the removed socket.",
    },
    "replay_buffer": {
        "ORD-3": "Every connect replays the whole buffer, so a reconnecting or replacing client gets lines already delivered, and a line logged during the replay is sent twice on one socket.",
        "CAP-1": "The buffer has no cap: get_queued_message_count grows past max_queue_size.",
        "CAP-3": "Nothing ever gives way: a late client gets every line, not the newest max_queue_size.",
        "FLUSH-2": "Delivered lines stay in the buffer, so a settled connected task reports queued messages.",
        "DISC-1": "disconnect() keeps the buffer and the lock: the task's entries and queued count survive it (and it returns 0).",
        "MEM-1": "The buffers of every task that ever ran stay reachable from the manager.",
        "DISC-2": "A replay running when disconnect() is called goes on writing the buffer to the removed socket.",
    },
    "writer_task_per_connection": {
        "FLUSH-1": "Lines logged before the client connected are never queued, so they are never delivered.",
        "CAP-1": "The per-connection asyncio.Queue() is unbounded: with a stalled client it grows past max_queue_size.",
        "CAP-3": "Nothing is ever evicted: after a stall the client gets every line, not the newest max_queue_size.",
        "FAIL-1": "A failed send ends the writer quietly: the line is lost and the dead client stays registered.",
        "FLUSH-2": "After a failed send the task still reports a client while lines pile up in a queue nobody reads.",
        "DISC-2": "disconnect() does not cancel the writer, which keeps writing its backlog to the removed socket.",
        "REPL-1": "A replaced connection's writer is not cancelled: it keeps writing its backlog to the old socket, and the new client never gets those lines.",
    },
    "no_lock": {
        "LOCK-1": "connect's flush and a producer's flush write to the same socket at the same time.",
        "ORD-2": "Of two overlapping writes the later one can finish first, so lines arrive out of order.",
        "FLUSH-1": "A line logged during connect's flush can be delivered before backlog lines the flush had not finished.",
        "REPL-1": "A replacing connect closes the old socket while a write to it is still in flight.",
        "FLUSH-2": "The write cut off by that close puts its line back after the new client's flush ended: it sits queued under a connected client.",
        "CAP-1": "A line popped for a write that then fails goes back in front with appendleft and no eviction: lines logged during the write already filled the queue, so it holds max_queue_size + 1.",
        "CAP-3": "...and nothing gives way: the next client gets all max_queue_size + 1 lines, the oldest included.",
    },
    "user_registry": {
        "CAP-1": "The pending deque has no maxlen: lines for an unwatched task pile up past max_queue_size.",
        "CAP-3": "Nothing ever gives way: a late client gets every pending line, not the newest ones.",
        "REPL-1": "A second client is added to the set: the old one keeps receiving.",
        "ORD-3": "With two sockets in the set each line is delivered to both connections.",
        "FAIL-1": "A failed send loses the line (live or from the pending deque); the producer or connect crashes instead.",
        "FAIL-2": "Discarding the failed socket from the set being iterated raises 'Set changed size during iteration' into send_log.",
        "LOCK-1": "No lock: two producers write to the same socket at the same time.",
        "ORD-2": "Of two overlapping writes the later one can finish first.",
        "DISC-2": "A broadcast in flight when disconnect() runs goes on to the task's other (removed) sockets.",
    },
    "propagating_send_errors": {
        "FAIL-2": "A client's send error (or a vanished peer) propagates out of send_log to the producer.",
        "FAIL-1": "The failed client is not dropped: the task still reports it connected and later lines are tried on it.",
        "FLUSH-2": "The failed line stays queued while the dead client is still registered.",
    },
    "fixed_cap": {
        "CAP-1": "The cap is a hard-coded 50; with max_queue_size below 50 the queue holds more than the cap.",
        "CAP-3": "Eviction starts only at 50, so a late client gets more than the newest max_queue_size lines.",
        "FID-1": "progress is sent rounded to an int (42.5 arrives as 42).",
    },
    "blocking_producer": {
        "PROD-1": "await queue.put() on a full queue suspends send_log until a client drains it (with no client: forever).",
        "CAP-3": "A full queue does not evict the oldest line; the producer waits instead.",
        "FAIL-1": "The line a failed send took with get_nowait is gone: the next client never gets it.",
    },
    "global_lock": {
        "ISO-1": "One lock for every task: a stalled client (or a hanging accept) of one task blocks send_log and connect of all others.",
        "DISC-1": "disconnect() keeps the task's queue (count stays, entry stays) and raises KeyError for an unknown task or a second call.",
        "MEM-1": "The queue of every task that ever ran stays reachable from the manager.",
        "REPL-1": "The producer holding the lock drains the whole queue: a line logged while a replacing connect waits goes to the old socket after its in-flight send completed.",
        "DISC-2": "disconnect() during a send that then fails: the failure path's `del active_connections[task_id]` raises KeyError into the producer.",
    },
}

DOUBTFUL: dict[str, dict[str, str]] = {
    "global_lock": {
        "REPL-1": "Labelled from REPL-1's letter ('receives nothing more' after the in-flight send); the replacing connect had not even accepted yet (accept is under the lock), so LOCK-4's 'after accepted' boundary would not cover it.",
    },
    "dict_of_asyncio_queue": {
        "CAP-3": "QueueFull refuses the newest line, which resembles reject-newest (CAP-3's NON-STRICT alternative); we call it FAIL because the refusal is an exception that kills the producer's job.",
    },
    "no_lock": {
        "FAIL-1": "Not labelled: with overlapping writes, a later line can be delivered to a client whose earlier write then fails, so 'that message and every later one stay queued' does not hold; but NEW_RULES charges overlap to LOCK-1 alone.",
    },
    "writer_task_per_connection": {
        "MEM-1": "Not labelled: the un-cancelled writer tasks keep their sockets and queues alive, but only the event loop reaches them, not the manager, so MEM-1's reachability measure does not see them.",
    },
    "replay_buffer": {
        "FAIL-1": "Not labelled: after a failed send the next client does get the failed line and every later one, in order; the extra replayed lines are charged to ORD-3.",
    },
    "socket_list_broadcast": {
        "FAIL-2": "Not labelled: the KeyError a later send_log raises after a waiting connect re-registered under the removed lock is charged to LOCK-3; it is not caused by a client.",
    },
}
