"""The scenarios behind the vectors: defined here once; their expected outcomes come from
running each against the reference (``python -m tasktail.vectors generate``).

A scenario is steps and setup only. ``profile="seed"`` marks one a manager with the seed's
API alone can be judged by (no resume, epochs, detach or extensions in its steps);
``exact_time`` keeps timestamps as values; ``alternatives`` adds graded outcomes made by
running the same steps with another setup (e.g. another overflow policy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SETUP = {"max_queue_size": 5, "history_size": 0, "send_timeout": 10.0, "task_ttl": 3600.0}


@dataclass(frozen=True)
class Alternative:
    grade: str  # "NON-STRICT"
    why: str
    setup: dict[str, Any]  # overrides of the scenario's setup for the run that makes it


@dataclass(frozen=True)
class Scenario:
    id: str
    rules: tuple[str, ...]
    description: str
    steps: tuple[dict[str, Any], ...]
    setup: dict[str, Any] = field(default_factory=dict)  # overrides of SETUP
    profile: str = "full"
    exact_time: bool = False
    alternatives: tuple[Alternative, ...] = ()

    def full_setup(self) -> dict[str, Any]:
        return {**SETUP, **self.setup}


def log(task: str, message: str, level: str = "info", progress: Any = None, finished: bool | None = None,
        ) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "log", "task": task, "level": level, "message": message}
    if progress is not None:
        step["progress"] = progress
    if finished is not None:
        step["finished"] = finished
    return step


def connect(client: str, task: str, behaviour: str = "instant", **resume: Any) -> dict[str, Any]:
    return {"op": "connect", "client": client, "task": task, **resume, "behaviour": behaviour}


def release(client: str, n: int = 1) -> dict[str, Any]:
    return {"op": "release", "client": client, "n": n}


def accept(client: str) -> dict[str, Any]:
    return {"op": "accept", "client": client}


def fail(client: str) -> dict[str, Any]:
    return {"op": "fail", "client": client}


def drop(client: str) -> dict[str, Any]:
    return {"op": "drop", "client": client}


def detach(client: str) -> dict[str, Any]:
    return {"op": "detach", "client": client}


def disconnect(task: str) -> dict[str, Any]:
    return {"op": "disconnect", "task": task}


def advance(seconds: float) -> dict[str, Any]:
    return {"op": "advance", "seconds": seconds}


def query(task: str) -> dict[str, Any]:
    return {"op": "query", "task": task}


def epoch_of(client: str) -> dict[str, str]:
    return {"$epoch_of": client}


REJECT = Alternative("NON-STRICT", "reject-newest (CAP-4) instead of drop-oldest: the documented alternative "
                     "to CAP-3; the newest messages are refused and told as a gap instead of the oldest",
                     {"overflow": "reject-newest"})

S = Scenario
SCENARIOS: tuple[Scenario, ...] = (
    # -- wire format and content -----------------------------------------------------------
    S("wire1-log-frame-shape", ("WIRE-1", "FID-1"),
      "Log frames have the eight keys in order; an int progress stays an int; non-ASCII text and quotes "
      "arrive as written.",
      (connect("c1", "t"), log("t", 'héllo ✓ "quoted" \\ back', progress=50),
       log("t", "half", "warning", progress=12.5), log("t", "done", "success", progress=100, finished=True),
       query("t"))),
    S("wire2-gap-frame-shape", ("WIRE-2", "GAP-1", "CAP-3"),
      "Two messages evicted before any client: the late client is told one dropped gap 1..2 first.",
      (log("t", "a"), log("t", "b"), log("t", "c"), log("t", "d"), connect("c1", "t")),
      setup={"max_queue_size": 2}),
    S("wire3-timestamp-from-clock", ("WIRE-3",),
      "Timestamps are the injected clock at the send_log call, ISO-8601 UTC with microseconds, truncated "
      "(the runner's clock reads 1764000000 plus the virtual seconds elapsed).",
      (log("t", "at zero"), advance(1.5), log("t", "at 1.5"), advance(0.0000019), log("t", "truncated"),
       advance(3600), log("t", "an hour on"), connect("c1", "t")),
      exact_time=True),
    S("wire4-hello-and-resume-same-epoch", ("WIRE-4", "RES-1"),
      "A client naming no incarnation yet (epoch \"\") gets a hello frame first; a reconnect naming that "
      "epoch and its last seq gets a hello with the same epoch and nothing again.",
      (log("t", "a"), log("t", "b"), connect("c1", "t", epoch=""), log("t", "c"), drop("c1"), detach("c1"),
       connect("c2", "t", after_seq=3, epoch=epoch_of("c1")), log("t", "d")),
      setup={"history_size": 10}),
    S("wire4-no-epoch-no-hello", ("WIRE-4",),
      "A client that names no epoch gets no opening frame (the seed's wire is unchanged).",
      (log("t", "a"), connect("c1", "t"))),
    S("fid1-content-fidelity", ("FID-1",),
      "Every level, progress None/0/float/100 and finished arrive as logged.",
      (connect("c1", "t"), log("t", "d", "debug"), log("t", "i", "info", progress=0),
       log("t", "w", "warning", progress=33.25), log("t", "e", "error"), log("t", "s", "success", progress=100,
                                                                              finished=True)),
      profile="seed"),
    # -- ordering --------------------------------------------------------------------------
    S("ord1-seq-per-task-in-call-order", ("ORD-1", "ISO-1"),
      "Seqs count from 1 per task in call order; another task's calls do not spend them.",
      (log("t", "a"), log("u", "x"), log("t", "b"), log("u", "y"), log("t", "c"), connect("c1", "t"),
       connect("c2", "u"))),
    S("ord2-flush-in-order", ("ORD-2", "FLUSH-1"),
      "A late client gets the queue oldest first.",
      (log("t", "1"), log("t", "2"), log("t", "3"), log("t", "4"), connect("c1", "t"), query("t")),
      profile="seed"),
    S("ord2-several-producers", ("ORD-2", "LOCK-1"),
      "Three producers log while one send is held: the client gets them in call order, one send at a time.",
      (connect("c1", "t", "gate"), log("t", "p1"), log("t", "p2"), log("t", "p3"), query("t"),
       release("c1", 1), release("c1", 1), release("c1", 1), query("t")),
      profile="seed"),
    S("ord2-producers-of-two-tasks-interleaved", ("ORD-2", "ISO-1", "LOCK-1"),
      "Producers of two tasks interleave while each client releases one send at a time.",
      (connect("c1", "t", "gate"), connect("c2", "u", "gate"), log("t", "t1"), log("u", "u1"), log("t", "t2"),
       log("u", "u2"), release("c2", 2), release("c1", 1), log("t", "t3"), release("c1", 2), query("t"),
       query("u"))),
    S("ord3-reconnect-loop", ("ORD-3", "FAIL-1", "FLUSH-1"),
      "A client that keeps dropping and reconnecting gets every message once across its connections.",
      (connect("c1", "t"), log("t", "a"), drop("c1"), log("t", "b"), connect("c2", "t"), log("t", "c"),
       drop("c2"), log("t", "d"), log("t", "e"), connect("c3", "t"), drop("c3"), connect("c4", "t"),
       log("t", "f"), query("t")),
      profile="seed"),
    S("ord3-resume-replayed-twice", ("ORD-3", "RES-1"),
      "A resume request sent twice: each connection gets the history after the point and the queue once "
      "each, never a message twice on one connection.",
      (connect("c1", "t"), log("t", "a"), log("t", "b"), log("t", "c"), drop("c1"), log("t", "d"),
       connect("c2", "t", after_seq=1), drop("c2"), connect("c3", "t", after_seq=1), log("t", "e")),
      setup={"history_size": 10}),
    S("ord3-replacement-no-duplicates", ("ORD-3", "REPL-1"),
      "Messages delivered to a replaced client are not sent to its successor.",
      (connect("c1", "t"), log("t", "a"), log("t", "b"), connect("c2", "t"), log("t", "c")),
      profile="seed"),
    # -- connect and flush -----------------------------------------------------------------
    S("flush1-send-during-flush-comes-after", ("FLUSH-1", "ORD-2", "LOCK-1"),
      "A message logged while the connect's flush is held comes after the flushed ones.",
      (log("t", "q1"), log("t", "q2"), connect("c1", "t", "gate"), log("t", "live"), release("c1", 1),
       release("c1", 1), release("c1", 1), query("t"))),
    S("flush2-live-message-and-empty-queue", ("FLUSH-2", "PROD-1"),
      "A message logged while a client is connected reaches it; the queue is then empty.",
      (connect("c1", "t"), log("t", "a"), log("t", "b"), query("t")),
      profile="seed"),
    S("flush3-accept-failure-registers-nothing", ("FLUSH-3",),
      "A connect whose accept fails raises and changes nothing; the next client gets the queue.",
      (log("t", "a"), connect("c1", "t", "fail_accept"), query("t"), connect("c2", "t"))),
    # -- caps and gaps ---------------------------------------------------------------------
    S("cap1-queue-never-exceeds-cap", ("CAP-1", "PROD-1"),
      "Six messages, cap 3, no client: three stay queued and no producer waits.",
      (log("t", "1"), log("t", "2"), log("t", "3"), log("t", "4"), log("t", "5"), log("t", "6"), query("t"),
       connect("c1", "t")),
      setup={"max_queue_size": 3}, profile="seed"),
    S("cap1-in-flight-is-outside-the-cap", ("CAP-1", "CAP-3", "GAP-1"),
      "While one send is held the count reads cap + 1; the cap evicts only what waits.",
      (connect("c1", "t", "gate"), log("t", "a"), log("t", "b"), log("t", "c"), log("t", "d"), query("t"),
       release("c1", 1), release("c1", 1), release("c1", 1), release("c1", 1), query("t")),
      setup={"max_queue_size": 2}),
    S("cap3-drop-oldest", ("CAP-3", "GAP-1"),
      "A full queue gives up its oldest message; the client is told the gap first.",
      (log("t", "1"), log("t", "2"), log("t", "3"), log("t", "4"), log("t", "5"), query("t"), connect("c1", "t")),
      setup={"max_queue_size": 3}, profile="seed", alternatives=(REJECT,)),
    S("cap2-finished-survives-reject-newest", ("CAP-2", "CAP-4"),
      "Under reject-newest a finished message arriving at a full queue replaces the newest, never dropped.",
      (log("t", "a"), log("t", "b"), log("t", "done", "success", finished=True), query("t"), connect("c1", "t")),
      setup={"max_queue_size": 2, "overflow": "reject-newest"}),
    S("cap2-finished-survives-drop-oldest", ("CAP-2", "CAP-3"),
      "Cap 1: a finished message evicts the one before it and stays.",
      (log("t", "a"), log("t", "done", "success", finished=True), connect("c1", "t")),
      setup={"max_queue_size": 1}),
    S("cap4-reject-newest", ("CAP-4", "GAP-1"),
      "Under reject-newest a full queue refuses the incoming messages.",
      (log("t", "a"), log("t", "b"), log("t", "c"), log("t", "d"), query("t"), connect("c1", "t")),
      setup={"max_queue_size": 2, "overflow": "reject-newest"}),
    S("cap5-coalesce-progress", ("CAP-5", "GAP-1"),
      "Under coalesce-progress a progress-only message replaces the progress-only one at the tail.",
      (log("t", "start"), log("t", "10%", progress=10), log("t", "20%", progress=20), log("t", "30%", progress=30),
       log("t", "warn", "warning"), query("t"), connect("c1", "t")),
      setup={"max_queue_size": 2, "overflow": "coalesce-progress"}),
    S("gap1-told-once", ("GAP-1",),
      "A dropped range is told once; a later range is told to the next client.",
      (log("t", "a"), log("t", "b"), log("t", "c"), connect("c1", "t"), detach("c1"), log("t", "d"),
       log("t", "e"), log("t", "f"), connect("c2", "t")),
      setup={"max_queue_size": 2}),
    S("gap1-told-when-queue-runs-dry", ("GAP-1", "CAP-4"),
      "A rejected range with nothing after it is told when the client's queue runs dry.",
      (connect("c1", "t", "gate"), log("t", "a"), log("t", "b"), log("t", "c"), release("c1", 1),
       release("c1", 1), release("c1", 1), query("t")),
      setup={"max_queue_size": 1, "overflow": "reject-newest"}),
    # -- failures --------------------------------------------------------------------------
    S("fail1-send-error-keeps-the-message", ("FAIL-1", "FAIL-2", "CLOSE-1"),
      "A send that raises closes the client with 1011; the producer returns; the message waits for the "
      "next client, in order.",
      (connect("c1", "t", "fail_first_send"), log("t", "a"), query("t"), log("t", "b"), connect("c2", "t")),
      profile="seed"),
    S("fail1-held-sends-fail", ("FAIL-1", "LOCK-2"),
      "A held send fails while another producer waits: both messages stay queued, the lock is free.",
      (connect("c1", "t", "gate"), log("t", "a"), log("t", "b"), fail("c1"), query("t"), log("t", "c"),
       connect("c2", "t"), query("t"))),
    S("fail1-slow-client-timed-out", ("FAIL-1", "PROD-1", "CLOSE-1"),
      "A client that never reads is dropped with 4001 once a send waited send_timeout; its message and "
      "the later ones go to the next client.",
      (connect("c1", "t", "never_read"), log("t", "a"), advance(4.9), query("t"), advance(0.2), query("t"),
       log("t", "b"), connect("c2", "t")),
      setup={"send_timeout": 5.0}),
    S("fail2-client-vanishes-mid-send", ("FAIL-2", "FAIL-1"),
      "The client vanishes while a send is held: the producer returns normally and the message waits.",
      (connect("c1", "t", "gate"), log("t", "a"), drop("c1"), query("t"), log("t", "b"), connect("c2", "t"))),
    # -- disconnect, replacement, isolation -----------------------------------------------
    S("disc1-disconnect-removes-everything", ("DISC-1", "CLOSE-1"),
      "disconnect ends the client with 4002, discards and counts the queue, is idempotent and fine for "
      "an unknown task.",
      (connect("c1", "t"), log("t", "a"), disconnect("t"), query("t"), log("u", "x"), log("u", "y"),
       disconnect("u"), disconnect("u"), query("u"), disconnect("never"))),
    S("disc2-disconnect-during-send", ("DISC-2", "LOCK-3"),
      "disconnect while a send is held and a producer waits: the held frame completes, nothing more is "
      "sent on that socket and nothing comes back.",
      (connect("c1", "t", "gate"), log("t", "a"), log("t", "b"), disconnect("t"), release("c1", 1), query("t"))),
    S("disc2-disconnect-during-flush", ("DISC-2",),
      "disconnect during a connect's flush: the flush stops after the held frame.",
      (log("t", "a"), log("t", "b"), log("t", "c"), connect("c1", "t", "gate"), disconnect("t"), release("c1", 1),
       query("t"))),
    S("disc2-in-flight-send-fails-after-disconnect", ("DISC-2", "FAIL-2"),
      "The held send fails after its task was disconnected: nothing is raised, nothing comes back.",
      (connect("c1", "t", "gate"), log("t", "a"), log("t", "b"), disconnect("t"), fail("c1"), query("t"),
       log("t", "c"), query("t"))),
    S("repl1-replacement-during-flush", ("REPL-1", "FLUSH-1"),
      "A second client connects while the first one's flush is held: it waits for the flush (the "
      "reference's connect flushes under the task's lock), then the first is closed with 4000 and gets "
      "nothing more; a later message goes to the second.",
      (log("t", "a"), log("t", "b"), log("t", "c"), connect("c1", "t", "gate"), connect("c2", "t"),
       release("c1", 1), query("t"), release("c1", 2), log("t", "d"), query("t"))),
    S("repl2-detach-during-own-connect", ("REPL-2", "FLUSH-1"),
      "The client leaves while its own connect's flush is held: detach acts, the queue is kept for the next.",
      (log("t", "a"), log("t", "b"), connect("c1", "t", "gate"), detach("c1"), release("c1", 1), query("t"),
       connect("c2", "t"))),
    S("disc3-fresh-start", ("DISC-3",),
      "After disconnect the task id starts over at seq 1.",
      (log("t", "a"), log("t", "b"), disconnect("t"), log("t", "c"), connect("c1", "t"))),
    S("repl1-second-connect-replaces-first", ("REPL-1", "CLOSE-1"),
      "A second connect replaces the first, which is closed with 4000 and gets nothing more.",
      (connect("c1", "t"), log("t", "a"), connect("c2", "t"), log("t", "b"), query("t"))),
    S("repl1-replacement-waits-for-in-flight-send", ("REPL-1", "LOCK-4"),
      "A replacing connect waits for the held send on the old socket, then closes it with 4000.",
      (connect("c1", "t", "gate"), log("t", "a"), connect("c2", "t"), log("t", "b"), release("c1", 1),
       query("t"))),
    S("repl2-stale-detach-is-a-no-op", ("REPL-2",),
      "An old endpoint's detach does not remove its successor; a current detach keeps the queue.",
      (connect("c1", "t"), connect("c2", "t"), detach("c1"), query("t"), log("t", "a"), detach("c2"),
       log("t", "b"), query("t"), connect("c3", "t"))),
    S("iso1-stalled-client-does-not-delay-another-task", ("ISO-1", "PROD-1"),
      "A held client of one task does not delay send_log, connect or disconnect of another.",
      (connect("c1", "t", "gate"), log("t", "a"), log("t", "b"), log("u", "x"), connect("c2", "u"),
       log("u", "y"), disconnect("u"), query("t")),
      profile="seed"),
    S("lock2-lock-free-after-failure", ("LOCK-2", "FAIL-1"),
      "After a failed send a later connect and send_log of the task proceed.",
      (connect("c1", "t", "fail_first_send"), log("t", "a"), connect("c2", "t"), log("t", "b"), query("t")),
      profile="seed"),
    S("lock3-waiters-of-a-disconnected-task", ("LOCK-3",),
      "A producer and a connect waiting for the lock when the task is disconnected bring nothing back.",
      (connect("c1", "t", "gate"), log("t", "a"), log("t", "b"), connect("c2", "t"), disconnect("t"),
       release("c1", 1), query("t"), log("t", "c"))),
    S("lock4-arrival-order", ("LOCK-4", "REPL-1"),
      "A message logged after a replacing connect was accepted goes to the new socket, never the old.",
      (connect("c1", "t", "gate"), log("t", "a"), connect("c2", "t"), log("t", "b"), release("c1", 1),
       query("t"))),
    # -- validation and queries ------------------------------------------------------------
    S("val1-bad-input-changes-nothing", ("VAL-1", "VAL-2"),
      "Bad arguments raise (invalid) and spend no seq, queue nothing and create no task.",
      (log("t", "a", "fatal"), log("t", "a", progress=101), log("t", "a", progress=-1), log("t", "a", progress="half"),
       log("", "a"), log("t", "a", finished="yes"), query("t"), connect("c1", "t", after_seq=-1),
       connect("c2", "t", epoch="x" * 65), query("t"), log("t", "ok"), connect("c3", "t"))),
    S("qry1-queries-on-unknown-tasks", ("QRY-1",),
      "Queries on an unknown task answer not connected, nothing queued.",
      (query("nobody"), log("t", "a"), query("t"), query("nobody")),
      profile="seed"),
    S("fin1-finished-is-final", ("FIN-1",),
      "After a finished message send_log raises and changes nothing; disconnect starts a fresh task.",
      (log("t", "a"), log("t", "done", "success", finished=True), log("t", "late"), query("t"), connect("c1", "t"),
       disconnect("t"), log("t", "again"), query("t"))),
    # -- resume ----------------------------------------------------------------------------
    S("res1-replay-after-seq", ("RES-1",),
      "A resuming client gets the kept history after its point, then the queue, then live.",
      (connect("c1", "t"), log("t", "a"), log("t", "b"), log("t", "c"), detach("c1"), log("t", "d"),
       connect("c2", "t", after_seq=1), log("t", "e")),
      setup={"history_size": 3}),
    S("res1-queued-at-or-below-point-count-as-delivered", ("RES-1",),
      "Queued messages at or below the resume point are not sent.",
      (log("t", "a"), log("t", "b"), log("t", "c"), connect("c1", "t", after_seq=2), query("t"))),
    S("res2-resume-beyond-history-is-told-expired", ("RES-2", "WIRE-2"),
      "What is no longer kept is told as one expired gap before the rest.",
      (connect("c1", "t"), log("t", "a"), log("t", "b"), log("t", "c"), log("t", "d"), log("t", "e"), detach("c1"),
       connect("c2", "t", after_seq=1)),
      setup={"history_size": 2}),
    S("res2-resume-without-history", ("RES-2",),
      "With history_size 0 every delivered seq is expired at once.",
      (connect("c1", "t"), log("t", "a"), log("t", "b"), detach("c1"), log("t", "c"), connect("c2", "t", after_seq=0))),
    S("res3-resume-point-beyond-last-seq", ("RES-3",),
      "after_seq above the task's last seq is refused before the socket is accepted.",
      (log("t", "a"), connect("c1", "t", after_seq=5), query("t"), connect("c2", "t", after_seq=1))),
    S("res4-epoch-change", ("RES-4", "WIRE-4"),
      "The task was disconnected and restarted: a client resuming the old incarnation gets a reset frame "
      "naming it, then the new incarnation from its start; the old resume point is not applied.",
      (log("t", "a"), log("t", "b"), connect("c1", "t", epoch=""), detach("c1"), disconnect("t"), log("t", "x"),
       log("t", "y"), log("t", "z"), connect("c2", "t", after_seq=2, epoch=epoch_of("c1")), log("t", "w")),
      setup={"history_size": 10}),
    S("res4-reset-while-connecting", ("RES-4", "WIRE-4"),
      "The task is disconnected and restarted while a resuming connect (no epoch named) is still being "
      "accepted: the resume point belongs to the old incarnation and is not applied to the new one.",
      (log("t", "a"), log("t", "b"), log("t", "c"), connect("c1", "t", "hold_accept", after_seq=2),
       disconnect("t"), log("t", "x"), log("t", "y"), accept("c1"), log("t", "z"), query("t")),
      setup={"history_size": 10}),
    S("res4-reset-while-connecting-with-epoch", ("RES-4", "WIRE-4"),
      "As above, with the client naming the incarnation it resumes: a reset frame, then the new one "
      "from its start.",
      (log("t", "a"), connect("c1", "t", epoch=""), detach("c1"), log("t", "b"),
       connect("c2", "t", "hold_accept", after_seq=2, epoch=epoch_of("c1")), disconnect("t"), log("t", "x"),
       accept("c2"), log("t", "y")),
      setup={"history_size": 10}),
    # -- memory ----------------------------------------------------------------------------
    S("mem3-idle-task-expires", ("MEM-3",),
      "A task idle for task_ttl is forgotten lazily at a later call; a connected one never is.",
      (log("t", "a"), log("k", "kept"), connect("c1", "k"), advance(61), log("u", "x"), query("t"), query("k"),
       log("t", "b"), connect("c2", "t")),
      setup={"task_ttl": 60.0}),
    S("mem4-max-tasks", ("MEM-4", "CLOSE-1"),
      "Beyond max_tasks the oldest task without a client is evicted; with every task connected a new "
      "one is refused and its socket closed with 1013.",
      (log("t1", "a"), log("t2", "b"), log("t3", "c"), query("t1"), connect("c2", "t2"), connect("c3", "t3"),
       connect("c4", "t4"), log("t5", "d"), query("t4")),
      setup={"max_tasks": 2}),
)

#: SPEC rules no vector expresses, and why: each needs something beyond the steps a vector has
#: (log, connect, release, fail, drop, detach, disconnect, advance, query) and the outcomes it
#: records (frames, close codes, call results, status and queue depth).
#: ``tests/vectors`` fails if a rule here gains a vector or leaves SPEC, or a rule is in neither.
NOT_EXPRESSIBLE: dict[str, str] = {
    "GAP-2": "reads the statistics counters (delivered, dropped, discarded), not observable on the wire",
    "FAIL-3": "cancels a caller mid-call: a language runtime's cancellation, not a step a vector has",
    "CANC-1": "cancellation checkpoints and a tight loop's yields: runtime scheduling, not wire behaviour",
    "CANC-2": "bounds cleanup closes under cancellation (close_timeout), needs cancelling a caller",
    "MEM-1": "memory bounds and reachability of freed per-task state: measured in the process",
    "MEM-2": "the in-memory layout of a queued message",
    "THR-1": "logging from other OS threads (threadsafe())",
    "THR-2": "thread errors when the event loop ends",
    "STAT-1": "frozen statistics snapshot objects: an in-process API",
    "ADAPT-1": "the adapter endpoint: judged over the wire (tasktail/wire: vectors whose clients the adapter "
               "closes with the manager's 4002 cite it there)",
    "ADAPT-2": "the adapter's query-string parsing and 1008 refusal: judged over the wire (a connect the manager "
               "refuses as invalid is, through an adapter, accepted and closed with 1008)",
    "ADAPT-3": "client-sent frames and 1009: needs a client frame step, which no vector has (in-process: "
               "tests/manager/test_starlette.py)",
    "DEMO-1": "the demo application, not a manager",
    "DEMO-2": "the demo application, not a manager",
    "DEMO-3": "the demo application, not a manager",
    "DEMO-4": "the demo application, not a manager",
    "DEMO-5": "the demo application, not a manager",
    "DEMO-6": "the demo application, not a manager",
    "RDS-1": "the Redis backend across processes, judged against a real redis-server",
    "RDS-2": "the Redis backend across processes, judged against a real redis-server",
    "RDS-3": "the Redis backend across processes, judged against a real redis-server",
    "RDS-4": "the Redis backend across processes, judged against a real redis-server",
    "RDS-5": "the Redis backend across processes, judged against a real redis-server",
    "RDS-6": "the Redis backend across processes, judged against a real redis-server",
    "RDS-7": "the Redis backend's configuration switch",
    "RDS-8": "it is the corpus itself replayed against the Redis backend (tests/redis)",
}
