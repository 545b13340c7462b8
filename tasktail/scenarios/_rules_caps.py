"""Scripted checks of SPEC's queue cap, overflow policy and gap rules (CAP, GAP)."""

from __future__ import annotations

import anyio

from ._harness import Failed, Harness, NonStrict, check, expect, wait_blocked

__all__ = ["conform_cap1_queue_never_exceeds_cap", "conform_cap2_finished_survives_every_policy",
    "conform_cap3_drop_oldest_keeps_newest", "conform_cap4_reject_newest_keeps_oldest",
    "conform_cap5_coalesce_progress_replaces_tail", "conform_gap1_notice_precedes_message_and_is_told_once",
    "conform_gap2_accounting_identity"]


# -- core rules ----------------------------------------------------------------------------

CAP_PROBE = 2000  # messages logged to find the cap a manager really has when it ignores ours


@check("CAP-1", needs=())
async def conform_cap1_queue_never_exceeds_cap(h: Harness) -> None:
    """Ten messages more than the cap with no client: at most the cap is held. If more is,
    log on to find the cap the manager really has (a fixed cap, or none)."""
    cap = h.cap(3)
    h.build(cap=3)
    for n in range(cap + 10):
        await h.log("t", f"t#{n}")
        count, held = h.status("t")[1], h.queued_in_container("t")
        if count > cap or (held is not None and held > cap):
            break
    else:
        return None
    most = max(count, held or 0)
    for n in range(cap + 10, CAP_PROBE):
        await h.log("t", f"t#{n}")
        most = max(most, h.status("t")[1], h.queued_in_container("t") or 0)
    told = h.subject.fixed_cap is not None
    if most >= CAP_PROBE:
        raise Failed(f"max_queue_size={cap}, yet the queue held {most} messages after {CAP_PROBE} were logged "
                     "with no client: it is unbounded", "over cap")
    raise Failed(f"max_queue_size={cap} {'(from --config) ' if told else ''}was not honoured: the queue held up to "
                 f"{most} messages (a fixed cap of {most}?). If that is by design, tell the suite with "
                 f"--config max_queue_size={most} so the other cap rules run with it",
                 "over cap" if told else "config ignored")


@check("CAP-3")
async def conform_cap3_drop_oldest_keeps_newest(h: Harness) -> NonStrict | None:
    """Twice the cap, then a client: it gets the newest cap's worth."""
    cap = h.cap(3)
    h.build(cap=3)
    async with anyio.create_task_group() as group:
        for n in range(2 * cap):  # one after another; one that waits for room (PROD-1's) waits here
            group.start_soon(h.log, "t", f"t#{n}")
            await wait_blocked()
        ws = h.socket()
        await h.connect(ws, "t")
        await h.settle()
    got = h.texts(ws)
    if got == [f"t#{n}" for n in range(cap)]:
        return NonStrict("rejects the newest message when full (reject-newest), the allowed alternative")
    expected = [f"t#{n}" for n in range(cap, 2 * cap)]
    kind = "over cap" if len(got) > cap else "lost" if set(expected) - set(got) else "reordered"
    expect(got == expected, f"cap {cap}, {2 * cap} messages logged with no client: the client got {got}, "
           f"expected the newest {cap}", kind)
    if h.subject.overflow not in (None, "drop-oldest"):  # judged under it: never plain PASS
        return NonStrict(f"the factory declares tasktail_overflow={h.subject.overflow!r}, not the default "
                         "drop-oldest")
    return None


# -- extension rules -----------------------------------------------------------------------

@check("CAP-2")
async def conform_cap2_finished_survives_every_policy(h: Harness) -> None:
    from tasktail import CoalesceProgress, DropOldest, RejectNewest

    for policy in (DropOldest(), RejectNewest(), CoalesceProgress()):
        h.build(cap=2, overflow=policy)
        for n in range(3):
            await h.log("t", f"t#{n}", progress=n)
        await h.log("t", "t#end", finished=True)
        ws = h.socket()
        await h.connect(ws, "t")
        expect("t#end" in h.texts(ws), f"{policy!r}: the finished message was lost: {h.texts(ws)}")


@check("CAP-4")
async def conform_cap4_reject_newest_keeps_oldest(h: Harness) -> None:
    from tasktail import RejectNewest

    h.build(cap=2, overflow=RejectNewest())
    await h.log_numbered("t", 4)
    await h.log("t", "t#end", finished=True)
    ws = h.socket()
    await h.connect(ws, "t")
    await h.settle()
    expect(h.texts(ws) == ["t#0", "t#end"], f"got {h.texts(ws)}")


@check("CAP-5")
async def conform_cap5_coalesce_progress_replaces_tail(h: Harness) -> None:
    from tasktail import CoalesceProgress

    h.build(cap=2, overflow=CoalesceProgress())
    await h.log("t", "t#plain")
    for p in (10, 20, 30):
        await h.log("t", f"t#p{p}", progress=p)
    ws = h.socket()
    await h.connect(ws, "t")
    await h.settle()
    expect(h.texts(ws) == ["t#plain", "t#p30"], f"got {h.texts(ws)}")


@check("GAP-1")
async def conform_gap1_notice_precedes_message_and_is_told_once(h: Harness) -> None:
    """Five messages, cap two, then a client: whatever the policy dropped, the notices cover
    exactly the missing seqs, each before the first message above it; none told twice."""
    h.build(cap=2)
    await h.log_numbered("t", 5)
    ws = h.socket()
    await h.connect(ws, "t")
    await h.settle()
    items = h.items(ws)
    got = [i.short() for i in items]
    delivered = {i.seq for i in items if i.kind == "log"}
    expect(all(isinstance(i.first, int) and isinstance(i.last, int) for i in items if i.kind == "gap"),
           f"a gap notice without int first_seq/last_seq: {got}")
    told = [seq for i in items if i.kind == "gap" for seq in range(i.first, i.last + 1)]
    expect(len(delivered) == 2 and sorted(told) == sorted(set(range(1, 6)) - delivered),
           f"the notices do not cover exactly the dropped seqs: got {got}")
    for index, item in enumerate(items):
        if item.kind == "log":
            late = [i.short() for i in items[index:] if i.kind == "gap" and isinstance(i.last, int)
                    and isinstance(item.seq, int) and i.last < item.seq]
            expect(not late, f"{late} came after {item.short()}: got {got}")
    again = h.socket()
    await h.connect(again, "t")
    await h.settle()
    expect(h.items(again) == [], f"the range was told again: {[i.short() for i in h.items(again)]}")


@check("GAP-2")
async def conform_gap2_accounting_identity(h: Harness) -> None:
    h.build(cap=2)
    await h.log_numbered("t", 5)
    await h.connect(h.socket(), "t")
    await h.log("t", "t#5")
    await h.log("u", "u#0")
    await h.disconnect("u")
    t, s = h.manager.task_statistics("t"), h.manager.statistics()
    expect(t.last_seq == t.delivered + t.queued + t.dropped, f"{t}")
    expect(s.logged == s.delivered + s.queued + s.dropped + s.discarded, f"{s}")
