"""Scripted checks of SPEC's failure, disconnect, replacement and isolation rules
(FAIL, DISC-1/2, REPL, ISO).
"""

from __future__ import annotations

import anyio

from tasktail.fakes import FailOnSend, Latency

from ._findings import describe_exception, from_socket
from ._harness import Charged, Failed, Harness, NonStrict, check, expect, expect_texts, wait_blocked
from ._subject import call, suite_gate

__all__ = ["conform_disc1_disconnect_removes_everything", "conform_disc2_disconnect_during_flush",
    "conform_disc2_disconnect_during_inflight_send", "conform_fail1_send_error_requeues_and_drops_client",
    "conform_fail2_producer_never_sees_client_failures", "conform_fail3_cancelled_producer_keeps_its_message",
    "conform_fail3_producer_cancelled_during_connect_flush",
    "conform_iso1_stalled_client_does_not_delay_other_tasks",
    "conform_repl1_replacement_during_inflight_send", "conform_repl1_second_connect_replaces_first",
    "conform_repl2_stale_detach_is_a_no_op"]


# -- core rules ----------------------------------------------------------------------------

@check("FAIL-1")
async def conform_fail1_send_error_requeues_and_drops_client(h: Harness) -> None:
    """A send that raises drops the client; the message and later ones go to the next client."""
    h.build()
    first = h.socket(FailOnSend(1, RuntimeError("boom")))
    await h.connect(first, "t")
    await h.log("t", "t#0")
    await h.settle()
    expect(not h.status("t")[0], f"after a failed send the task still has a client: (connected, queued) = "
           f"{h.status('t')}", "kept client")
    await h.log("t", "t#1")
    second = h.socket()
    await h.connect(second, "t")
    await h.settle()
    expect_texts(h.texts(second), ["t#0", "t#1"], f"after a send to the first client failed, the next client got "
                 f"{h.texts(second)}")
    if h.claims("close_codes"):
        expect(first.close_code == 1011, f"failed socket closed with {first.close_code}, not 1011", "wrong close code")
    if h.claims("send_timeout"):
        h.build(send_timeout=1.0)
        slow = h.socket(Latency(100.0))
        await h.connect(slow, "t")
        with anyio.fail_after(50):
            await h.log("t", "t#slow")
        # Judged settled: no send in flight. Where send_log returns before a writer task
        # sends, the 1 s bound runs after it returned; a manager that never times the send
        # out still has it in flight 10 virtual seconds later, and keeps its client.
        await h.settle()
        with anyio.move_on_after(10.0):
            while slow.sends_in_flight:
                await h.settle()
        expect(h.status("t") == (False, 1), f"after a send timeout (connected, queued) = {h.status('t')}",
               "kept client")
        if h.claims("close_codes"):
            expect(slow.close_code == 4001, f"timed-out socket closed with {slow.close_code}, not 4001",
                   "wrong close code")


@check("FAIL-2", needs=())
async def conform_fail2_producer_never_sees_client_failures(h: Harness) -> None:
    """Vanished, failing and closed clients never make send_log raise."""
    h.build()
    for n, (behaviour, what) in enumerate([(FailOnSend(1), "a vanished client (send raises OSError)"),
                                           (FailOnSend(1, RuntimeError("x")), "a send raising RuntimeError"),
                                           (None, "a client that went away before the send")]):
        ws = h.socket(behaviour)
        await h.connect(ws, "t")
        await h.settle()
        if behaviour is None:
            ws.client.vanish()
        try:
            await h.log("t", f"t#{n}")
            await h.settle()
        except Exception as exc:
            raise Failed(f"send_log raised {describe_exception(exc)} because of {what}", "crashed") from None
    gate, ws = await h.gated_client("u")
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(h.log, "u", "u#gated")
            await h.pending(gate)
            gate.fail_pending()
            await h.settle()
    except Exception as exc:
        raise Failed(f"send_log raised {describe_exception(exc)} because its stalled send failed", "crashed") from None


@check("DISC-1", needs=("queue",))
async def conform_disc1_disconnect_removes_everything(h: Harness) -> NonStrict | None:
    """disconnect forgets client, queue and lock; it is idempotent and fine for unknown tasks."""
    h.build()
    await h.log_numbered("t", 2)
    result = await h.disconnect("t")
    nonstrict = None
    if isinstance(result, int) and not isinstance(result, bool):
        if result != 2 and getattr(h.subject.factory, "tasktail_discarded_unknown", False):
            nonstrict = NonStrict(f"disconnect returned {result}, not the 2 discarded messages: the factory "
                                  "declares that it cannot count them (tasktail_discarded_unknown)")
        else:
            expect(result == 2, f"disconnect returned {result}, not the 2 discarded messages")
    h.expect_gone("t", "disconnect of a task with a queue")
    await h.disconnect("t")
    await h.disconnect("never-seen")
    ws = h.socket()
    connection = await h.connect(ws, "u")
    await h.log("u", "u#0")
    await h.settle()
    await h.disconnect("u")
    await h.settle()
    h.expect_gone("u", "disconnect of a connected task")
    if h.claims("close_codes") and connection is not None and hasattr(connection, "close_code"):
        expect(connection.close_code == 4002, f"connection handle ended with {connection.close_code}, not 4002",
               "wrong close code")
    return nonstrict


@check("DISC-2", needs=("live",))
async def conform_disc2_disconnect_during_inflight_send(h: Harness) -> None:
    """disconnect while a send is stalled: nothing raises, nothing comes back, nothing more is sent."""
    h.build()
    gate, ws = await h.gated_client("t")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "t", "t#0")
        await h.pending(gate)
        await wait_blocked()
        in_flight = h.in_flight_texts(gate)
        await h.disconnect("t", busy=True)
        h.expect_removed("t")
        gate.open()
    await h.settle()
    h.expect_gone("t", "the in-flight send finished")
    later = [t for t in h.texts(ws) if t not in in_flight]
    expect(not later, f"the removed socket got {later} after the disconnect (only {sorted(in_flight)}, in flight "
           "then, is allowed)", "sent after disconnect")


@check("DISC-2", needs=("live",))
async def conform_disc2_inflight_send_fails_after_disconnect(h: Harness) -> None:
    """disconnect while a send is stalled, then that send fails: the producer gets nothing
    (not the client's error, FAIL-2's, nor one of the manager's own cleanup)."""
    h.build()
    gate, ws = await h.gated_client("t")
    raised: list[Exception] = []

    async def produce() -> None:
        try:
            await call(h.manager.send_log, "t", "info", "t#0")
        except Exception as exc:  # judged below, once the failure has played out
            raised.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(produce)
        await h.pending(gate)
        await wait_blocked()
        await h.disconnect("t", busy=True)
        kept = h.left_after_disconnect("t")  # DISC-1's, charged only after DISC-2's own question
        gate.fail_pending(RuntimeError("transport broke"))
    await h.settle()
    if raised and from_socket(raised[0]):
        raise Charged("FAIL-2", f"send_log raised the client's {describe_exception(raised[0])}", "crashed")
    expect(not raised, f"send_log raised {describe_exception(raised[0]) if raised else ''} when its send failed "
           "after disconnect('t')", "crashed")
    if kept is not None:
        raise Charged("DISC-1", kept, "kept state")
    h.expect_gone("t", "the in-flight send failed")


@check("DISC-2")
async def conform_disc2_disconnect_during_flush(h: Harness) -> None:
    """disconnect while connect is flushing: connect does not raise, the socket gets no more."""
    h.build()
    await h.log_numbered("t", 3)
    async with h.connect_held_at_first_send("t") as (_, gate, ws):
        in_flight = h.in_flight_texts(gate)
        await h.disconnect("t", busy=True)
        kept = h.left_after_disconnect("t")  # DISC-1's, charged only after DISC-2's own question
        gate.open()
    await h.settle()
    later = [t for t in h.texts(ws) if t not in in_flight]
    expect(not later, f"the removed socket got {later} after the disconnect (only {sorted(in_flight)}, in flight "
           "then, is allowed)", "sent after disconnect")
    if kept is not None:
        raise Charged("DISC-1", kept, "kept state")
    h.expect_gone("t", "disconnect during a flush")


@check("REPL-1", needs=("live",))
async def conform_repl1_second_connect_replaces_first(h: Harness) -> None:
    """The newest client of a task gets its messages; the old one gets nothing more."""
    h.build()
    old, new = h.socket(), h.socket()
    await h.connect(old, "t")
    await h.log("t", "t#0")
    await h.settle()
    await h.connect(new, "t")
    await h.log("t", "t#1")
    await h.settle()
    expect("t#1" not in h.texts(old), f"the replaced client got {h.texts(old)}", "sent after replacement")
    expect_texts(h.texts(old) + h.texts(new), ["t#0", "t#1"], f"old got {h.texts(old)}, new {h.texts(new)}")
    if h.claims("close_replaced"):
        expect(old.close_code == 4000, f"the replaced socket was closed with {old.close_code}, not 4000",
               "wrong close code")


@check("REPL-1", needs=("live",))
async def conform_repl1_replacement_during_inflight_send(h: Harness) -> None:
    """A replacement while a send is stalled: every message reaches exactly one client."""
    h.build()
    gate = suite_gate()
    old, new = h.socket(gate), h.socket()
    await h.connect(old, "t")
    await h.settle()
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "t", "t#0")
        await h.pending(gate)
        group.start_soon(h.connect, new, "t")
        await wait_blocked()
        group.start_soon(h.log, "t", "t#1")
        await wait_blocked()
        gate.open()
    await h.settle()
    got = h.texts(old) + h.texts(new)
    expect(sorted(set(got)) == ["t#0", "t#1"], f"old got {h.texts(old)}, new got {h.texts(new)}", "lost")
    expect("t#1" in h.texts(new), f"t#1, logged after the new client connected, went to the old one: "
           f"old got {h.texts(old)}, new got {h.texts(new)}", "sent after replacement")


@check("ISO-1")
async def conform_iso1_stalled_client_does_not_delay_other_tasks(h: Harness) -> None:
    """With one task's client stalled, another task's send_log, connect, disconnect finish."""
    h.build()
    gate, _ = await h.gated_client("slow")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "slow", "slow#0")
        await h.pending(gate)
        ws = h.socket()
        try:
            with anyio.fail_after(1):
                await h.log("fast", "fast#0")
                await h.connect(ws, "fast")
                await h.log("fast", "fast#1")
                await h.settle()
                await h.disconnect("fast")
        except TimeoutError:
            raise Failed("task 'fast' waited for task 'slow''s stalled client", "hung") from None
        finally:
            gate.open()
    expect_texts(h.texts(ws), ["fast#0", "fast#1"], f"'fast' client got {h.texts(ws)}")


# -- extension rules -----------------------------------------------------------------------

@check("FAIL-3")
async def conform_fail3_cancelled_producer_keeps_its_message(h: Harness) -> None:
    h.build()
    gate, ws = await h.gated_client("t")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "t", "t#0")
        await h.pending(gate)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await h.log("t", "t#cancelled")  # waits for the lock, and is cancelled there
        group.start_soon(h.log, "t", "t#2")
        await wait_blocked()
        gate.open()
    await wait_blocked()  # delivery is judged settled: a writer task may send after send_log returned
    expect(h.texts(ws) == ["t#0", "t#cancelled", "t#2"], f"got {h.texts(ws)}")
    h.build()
    gate, ws = await h.gated_client("u")
    returned: list = []

    async def produce() -> None:
        await h.log("u", "u#0")
        returned.append(True)

    async with anyio.create_task_group() as group:
        group.start_soon(produce)
        await h.pending(gate)
        group.cancel_scope.cancel()
    if returned:
        # send_log returned before its send was written (a writer task of the manager
        # sends): cancelling the producer cancels no send, and the message still arrives
        gate.open()
        await wait_blocked()
        expect(h.texts(ws) == ["u#0"] and h.status("u") == (True, 0),
               f"send_log returned before its send; then got {h.texts(ws)}, (connected, queued) = {h.status('u')}")
    else:
        expect(h.status("u") == (False, 1), f"cancelled mid-send: (connected, queued) = {h.status('u')}")


@check("FAIL-3")
async def conform_fail3_producer_cancelled_during_connect_flush(h: Harness) -> None:
    """A producer cancelled while connect flushes: connect sends its message before returning."""
    h.build()
    await h.log("t", "t#0")
    # connect holds the lock, writing t#0
    async with h.connect_held_at_first_send("t") as (_, gate, ws):
        with anyio.CancelScope() as scope:
            scope.cancel()
            await h.log("t", "t#cancelled")  # waits for the lock, and is cancelled there
        await wait_blocked()
        gate.open()
    await wait_blocked()  # delivery is judged settled: a writer task may send after connect returned
    expect(h.texts(ws) == ["t#0", "t#cancelled"], f"got {h.texts(ws)}")
    expect(h.status("t") == (True, 0), f"settled (connected, queued) = {h.status('t')}")


@check("REPL-2")
async def conform_repl2_stale_detach_is_a_no_op(h: Harness) -> None:
    h.build()
    old, new = h.socket(), h.socket()
    await h.connect(old, "t")
    await h.connect(new, "t")
    h.manager.detach("t", old)
    expect(h.status("t")[0], "detaching the replaced socket removed its successor")
    h.manager.detach("t", new)
    await h.log("t", "t#0")
    expect(h.status("t") == (False, 1), f"after detach (connected, queued) = {h.status('t')}")
