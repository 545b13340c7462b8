"""Scripted checks of the core rules: what the seed's API already implies."""

from __future__ import annotations

import anyio

from tasktail.fakes import FailOnSend, Gate, Hook, Latency, NeverAccepts

from ._rules import Harness, NonStrict, check, expect, wait_blocked

CLOSE_CODES = {1000, 1001, 1008, 1009, 1011, 4000, 4001, 4002}


@check("ORD-2")
async def conform_ord2_sequential_sends_in_order(h: Harness) -> None:
    """Sends that return one after another arrive in that order."""
    h.build()
    ws = h.socket()
    await h.connect(ws, "t")
    for n in range(4):
        await h.log("t", f"t#{n}")
    expect(h.texts(ws) == [f"t#{n}" for n in range(4)], f"got {h.texts(ws)}")


@check("ORD-2")
async def conform_ord2_concurrent_producers_in_start_order(h: Harness) -> None:
    """Producers started one after another while a send is stalled arrive in start order."""
    h.build(cap=20)
    gate = Gate()
    ws = h.socket(gate)
    await h.connect(ws, "t")
    async with anyio.create_task_group() as group:
        for n in range(6):
            group.start_soon(h.log, "t", f"t#{n}")
            await wait_blocked()
        for _ in range(6):
            await gate.wait_pending(1)
            gate.release(1)
            await wait_blocked()
    expect(h.texts(ws) == [f"t#{n}" for n in range(6)], f"got {h.texts(ws)}")
    expect(not ws.violations, f"socket misuse: {[v.kind for v in ws.violations]}")


@check("ORD-3")
async def conform_ord3_no_duplicates_across_reconnects(h: Harness) -> None:
    """A client whose second send fails, then a new client: every message once, in order."""
    h.build()
    for n in range(2):
        await h.log("t", f"t#{n}")
    first = h.socket(FailOnSend(2, RuntimeError("boom")))
    await h.connect(first, "t")
    for n in range(2, 4):
        await h.log("t", f"t#{n}")
    second = h.socket()
    await h.connect(second, "t")
    got = h.texts(first) + h.texts(second)
    expect(sorted(got) == [f"t#{n}" for n in range(4)] and got == sorted(got),
           f"first client got {h.texts(first)}, second {h.texts(second)}")


@check("FLUSH-1")
async def conform_flush1_connect_flushes_queue_in_order(h: Harness) -> None:
    """Messages queued with no client are all sent, in order, before connect returns."""
    h.build()
    for n in range(3):
        await h.log("t", f"t#{n}")
    ws = h.socket()
    await h.connect(ws, "t")
    expect(h.texts(ws) == ["t#0", "t#1", "t#2"], f"after connect returned the client had {h.texts(ws)}")


@check("FLUSH-1")
async def conform_flush1_send_during_flush_comes_after(h: Harness) -> None:
    """A send_log started while connect is flushing is delivered after the flushed messages."""
    h.build()
    for n in range(3):
        await h.log("t", f"t#{n}")
    gate = Gate()
    ws = h.socket(gate)
    async with anyio.create_task_group() as group:
        group.start_soon(h.connect, ws, "t")
        await gate.wait_pending(1)
        group.start_soon(h.log, "t", "t#live")
        await wait_blocked()
        gate.open()
    expect(h.texts(ws) == ["t#0", "t#1", "t#2", "t#live"], f"got {h.texts(ws)}")


@check("FLUSH-2")
async def conform_flush2_settled_connected_task_has_empty_queue(h: Harness) -> None:
    """Once everything settled, a connected task has nothing queued."""
    h.build()
    gate = Gate()
    ws = h.socket(gate)
    await h.log("t", "t#0")
    async with anyio.create_task_group() as group:
        group.start_soon(h.connect, ws, "t")
        await gate.wait_pending(1)
        for n in range(1, 4):
            group.start_soon(h.log, "t", f"t#{n}")
        await wait_blocked()
        gate.open()
    expect(h.status("t") == (True, 0), f"settled: (connected, queued) = {h.status('t')}")
    expect(len(h.texts(ws)) == 4, f"got {h.texts(ws)}")


@check("FLUSH-3")
async def conform_flush3_accept_failure_registers_nothing(h: Harness) -> None:
    """accept() raising makes connect raise and registers nothing; the queue is untouched."""
    h.build()
    await h.log("t", "t#0")

    def refuse(ws):
        raise RuntimeError("handshake failed")

    try:
        await h.connect(h.socket(Hook(accept=refuse)), "t")
    except Exception:
        pass
    else:
        raise AssertionError("connect returned although accept() raised")
    expect(h.status("t") == (False, 1), f"after a failed accept (connected, queued) = {h.status('t')}")
    if h.claims("send_timeout"):
        h.build(send_timeout=1.0)
        await h.log("t", "t#0")
        with anyio.fail_after(100):
            try:
                await h.connect(h.socket(NeverAccepts()), "t")
            except Exception:
                pass
            else:
                raise AssertionError("connect returned although accept() never finished")
        expect(h.status("t") == (False, 1), f"after an accept timeout (connected, queued) = {h.status('t')}")


@check("CAP-1")
async def conform_cap1_queue_never_exceeds_cap(h: Harness) -> None:
    """Ten messages with no client and a cap of three: at most three are held."""
    h.build(cap=3)
    for n in range(10):
        await h.log("t", f"t#{n}")
        count = h.status("t")[1]
        queue = getattr(h.manager, "message_queues", {}).get("t")
        expect(count <= 3 and (queue is None or len(queue) <= 3),
               f"after {n + 1} messages: queued={count}, len(message_queues['t'])={len(queue or ())}")


@check("CAP-3")
async def conform_cap3_drop_oldest_keeps_newest(h: Harness) -> NonStrict | None:
    """Six messages, cap three, then a client: it gets the newest three."""
    h.build(cap=3)
    for n in range(6):
        await h.log("t", f"t#{n}")
    ws = h.socket()
    await h.connect(ws, "t")
    got = h.texts(ws)
    if got == ["t#0", "t#1", "t#2"]:
        return NonStrict("rejects the newest message when full (reject-newest), the allowed alternative")
    expect(got == ["t#3", "t#4", "t#5"], f"got {got}")
    return None


@check("FAIL-1")
async def conform_fail1_send_error_requeues_and_drops_client(h: Harness) -> None:
    """A send that raises drops the client; the message and later ones go to the next client."""
    h.build()
    first = h.socket(FailOnSend(1, RuntimeError("boom")))
    await h.connect(first, "t")
    await h.log("t", "t#0")
    expect(h.status("t") == (False, 1), f"after a failed send (connected, queued) = {h.status('t')}")
    await h.log("t", "t#1")
    second = h.socket()
    await h.connect(second, "t")
    expect(h.texts(second) == ["t#0", "t#1"], f"the next client got {h.texts(second)}")
    if h.claims("close_codes"):
        expect(first.close_code == 1011, f"failed socket closed with {first.close_code}, not 1011")
    if h.claims("send_timeout"):
        h.build(send_timeout=1.0)
        slow = h.socket(Latency(100.0))
        await h.connect(slow, "t")
        with anyio.fail_after(50):
            await h.log("t", "t#slow")
        expect(h.status("t") == (False, 1), f"after a send timeout (connected, queued) = {h.status('t')}")
        if h.claims("close_codes"):
            expect(slow.close_code == 4001, f"timed-out socket closed with {slow.close_code}, not 4001")


@check("FAIL-2")
async def conform_fail2_producer_never_sees_client_failures(h: Harness) -> None:
    """Vanished, failing and closed clients never make send_log raise."""
    h.build()
    for n, behaviour in enumerate([FailOnSend(1), FailOnSend(1, RuntimeError("x")), None]):
        ws = h.socket(behaviour)
        await h.connect(ws, "t")
        if behaviour is None:
            ws.client.vanish()
        await h.log("t", f"t#{n}")
    gate = Gate()
    ws = h.socket(gate)
    await h.connect(ws, "u")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "u", "u#gated")
        await gate.wait_pending(1)
        gate.fail_pending()


@check("DISC-1")
async def conform_disc1_disconnect_removes_everything(h: Harness) -> None:
    """disconnect forgets client, queue and lock; it is idempotent and fine for unknown tasks."""
    h.build()
    for n in range(2):
        await h.log("t", f"t#{n}")
    result = await h.disconnect("t")
    if isinstance(result, int) and not isinstance(result, bool):
        expect(result == 2, f"disconnect returned {result}, not the 2 discarded messages")
    h.expect_gone("t", "disconnect of a task with a queue")
    await h.disconnect("t")
    await h.disconnect("never-seen")
    ws = h.socket()
    connection = await h.connect(ws, "u")
    await h.log("u", "u#0")
    await h.disconnect("u")
    h.expect_gone("u", "disconnect of a connected task")
    if h.claims("close_codes") and connection is not None and hasattr(connection, "close_code"):
        expect(connection.close_code == 4002, f"connection handle ended with {connection.close_code}, not 4002")


@check("DISC-2")
async def conform_disc2_disconnect_during_inflight_send(h: Harness) -> None:
    """disconnect while a send is stalled: nothing raises, nothing comes back, nothing more is sent."""
    h.build()
    gate = Gate()
    ws = h.socket(gate)
    await h.connect(ws, "t")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "t", "t#0")
        group.start_soon(h.log, "t", "t#1")
        await gate.wait_pending(1)
        await wait_blocked()
        await h.disconnect("t")
        h.expect_gone("t", "disconnect during a send")
        gate.open()
    h.expect_gone("t", "the in-flight send finished")
    expect(len(h.texts(ws)) <= 1, f"the removed socket got {h.texts(ws)} (only the in-flight frame is allowed)")


@check("DISC-2")
async def conform_disc2_disconnect_during_flush(h: Harness) -> None:
    """disconnect while connect is flushing: connect does not raise, the socket gets no more."""
    h.build()
    for n in range(3):
        await h.log("t", f"t#{n}")
    gate = Gate()
    ws = h.socket(gate)
    async with anyio.create_task_group() as group:
        group.start_soon(h.connect, ws, "t")
        await gate.wait_pending(1)
        await h.disconnect("t")
        gate.open()
    h.expect_gone("t", "disconnect during a flush")
    expect(len(h.texts(ws)) <= 1, f"the removed socket got {h.texts(ws)} (only the in-flight frame is allowed)")


@check("REPL-1")
async def conform_repl1_second_connect_replaces_first(h: Harness) -> None:
    """The newest client of a task gets its messages; the old one gets nothing more."""
    h.build()
    old, new = h.socket(), h.socket()
    await h.connect(old, "t")
    await h.log("t", "t#0")
    await h.connect(new, "t")
    await h.log("t", "t#1")
    expect(h.texts(old) == ["t#0"] and h.texts(new) == ["t#1"], f"old got {h.texts(old)}, new {h.texts(new)}")
    if h.claims("close_replaced"):
        expect(old.close_code == 4000, f"the replaced socket was closed with {old.close_code}, not 4000")


@check("REPL-1")
async def conform_repl1_replacement_during_inflight_send(h: Harness) -> None:
    """A replacement while a send is stalled: every message reaches exactly one client."""
    h.build()
    gate = Gate()
    old, new = h.socket(gate), h.socket()
    await h.connect(old, "t")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "t", "t#0")
        await gate.wait_pending(1)
        group.start_soon(h.connect, new, "t")
        await wait_blocked()
        group.start_soon(h.log, "t", "t#1")
        await wait_blocked()
        gate.open()
    got = h.texts(old) + h.texts(new)
    expect(sorted(got) == ["t#0", "t#1"] and "t#1" in h.texts(new),
           f"old got {h.texts(old)}, new got {h.texts(new)}")


@check("ISO-1")
async def conform_iso1_stalled_client_does_not_delay_other_tasks(h: Harness) -> None:
    """With one task's client stalled, another task's send_log, connect, disconnect finish."""
    h.build()
    gate = Gate()
    await h.connect(h.socket(gate), "slow")
    async with anyio.create_task_group() as group:
        group.start_soon(h.log, "slow", "slow#0")
        await gate.wait_pending(1)
        try:
            with anyio.fail_after(1):
                ws = h.socket()
                await h.log("fast", "fast#0")
                await h.connect(ws, "fast")
                await h.log("fast", "fast#1")
                await h.disconnect("fast")
        except TimeoutError:
            raise AssertionError("task 'fast' waited for task 'slow''s stalled client") from None
        finally:
            gate.open()
    expect(h.texts(ws) == ["fast#0", "fast#1"], f"'fast' client got {h.texts(ws)}")


@check("QRY-1")
async def conform_qry1_queries_on_unknown_tasks(h: Harness) -> None:
    """Queries of unknown tasks answer False / 0 (and validate task_id when claimed)."""
    h.build()
    expect(h.status("nope") == (False, 0), f"unknown task: {h.status('nope')}")
    if h.claims("statistics"):
        expect(h.manager.task_statistics("nope").known is False, "task_statistics of an unknown task is known")
    if h.claims("validation"):
        for bad in ("", 5, None):
            for query in (h.manager.get_connection_status, h.manager.get_queued_message_count):
                try:
                    query(bad)
                except (TypeError, ValueError):
                    continue
                raise AssertionError(f"{query.__name__}({bad!r}) did not raise TypeError/ValueError")


@check("MEM-1")
async def conform_mem1_disconnect_frees_per_task_state(h: Harness) -> None:
    """Many tasks come and go: queues stay capped and nothing stays behind in the seed's maps."""
    h.build(cap=2)
    for n in range(30):
        task = f"t{n}"
        for m in range(4):
            await h.log(task, f"{task}#{m}")
        await h.connect(h.socket(), task)
        await h.disconnect(task)
    for name in ("active_connections", "message_queues", "connection_locks"):
        mapping = getattr(h.manager, name, None)
        expect(mapping is None or len(mapping) == 0, f"{name} still holds {len(mapping or ())} entries")
    if h.claims("statistics"):
        expect(h.manager.statistics().tasks == 0, f"statistics().tasks = {h.manager.statistics().tasks}")
        for m in range(40):
            await h.log("g", f"g#{m}")
        expect(h.manager.task_statistics("g").gap_ranges <= 2 + 0 + 1, "gap ranges grow without bound")
