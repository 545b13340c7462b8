"""The operation half of a run (see :mod:`._runner`): carry out one :class:`~._program.Op`.

``Log`` and ``Connect`` start as background tasks in the run's task group and are judged
when they return; the other operations act at once on the manager, a socket's client or
gate, or the virtual clock.
"""

from __future__ import annotations

from typing import Any

import anyio

from tasktail.fakes import WebSocketState

from . import _checks
from ._findings import SuiteError, describe_exception, from_socket, is_suite_bug
from ._program import (Advance, Cancel, CancelConnect, Connect, Detach, Disconnect, Drop, Fail, HandOver, Log, Op,
                       Query, Release)
from ._record import Msg, OpRec, Recorder, RecordingSocket, SockRec, behaviour
from ._subject import call

__all__ = ["BAD_ARGS", "Executor"]

BAD_ARGS = {"level": {"level": "loud"}, "progress": {"progress": 250}, "progress_bool": {"progress": True},
            "task_id": {"task_id": ""}, "finished": {"finished": "yes"}}


class Executor(Recorder):
    """A run's recorder that can also carry out operations; :class:`~._runner.Run` drives it."""

    async def _log(self, rec: OpRec, kwargs: dict[str, Any], msg: Msg | None, invalid: str | None) -> None:
        epoch = self.epochs[rec.task_id]
        rec.task = anyio.get_current_task().id
        try:
            with anyio.CancelScope() as rec.scope:
                result = await call(self.manager.send_log, **kwargs)
        except Exception as exc:
            if is_suite_bug(exc):
                raise SuiteError(f"send_log #{rec.id}", exc) from exc
            what = describe_exception(exc)
            self._end(rec, "raised", what)
            client_failed = from_socket(exc) and any(s.task_id == rec.task_id and s.failed() for s in self.sockets)
            if invalid is None and client_failed:
                # a client's own failure reaching the producer is FAIL-2's, disconnected meanwhile or not
                self.violate("FAIL-2", f"send_log #{rec.id} {rec.label} raised {what}: a failed send of its "
                             "client reached the producer", "crashed")
            elif invalid is None and self.epochs[rec.task_id] != epoch:
                # its task was disconnected while it ran: "raises nothing then or later"
                self.violate("DISC-2", f"send_log #{rec.id} {rec.label} raised {what} after "
                             f"{rec.task_id!r} was disconnected during it", "crashed")
            elif (invalid is None and not from_socket(exc) and isinstance(rec.queued_at_start, int)
                  and rec.queued_at_start >= self.cap):
                self.violate("CAP-3", f"send_log #{rec.id} {rec.label} raised {what} with {rec.queued_at_start} "
                             "queued: a full queue drops per policy, it does not raise", "crashed")
            elif invalid is None:
                self.violate("FAIL-2", f"send_log #{rec.id} {rec.label} raised {what}", "crashed")
            elif not isinstance(exc, (TypeError, ValueError)):
                self.violate("VAL-1", f"bad {invalid} raised {type(exc).__name__}, not TypeError/ValueError",
                             "wrong answer")
            return
        if rec.scope.cancelled_caught:
            self._end(rec, "cancelled")
            return
        seq = getattr(result, "seq", None)
        if msg is not None and self.with_seq:
            msg.seq = seq
        self._end(rec, "ok", "" if seq is None else f"seq {seq}")
        if invalid is not None:
            self.violate("VAL-1", f"send_log with a bad {invalid} was accepted (#{rec.id})", "wrong answer")

    async def _connect(self, rec: OpRec, sock: SockRec) -> None:
        kwargs = {} if sock.after_seq is None else {"after_seq": sock.after_seq}
        rec.task = anyio.get_current_task().id
        try:
            with anyio.CancelScope() as rec.scope:
                sock.handle = await call(self.manager.connect, sock.ws, sock.task_id, **kwargs)
        except Exception as exc:
            if is_suite_bug(exc):
                raise SuiteError(f"connect #{rec.id}", exc) from exc
            what = describe_exception(exc)
            self._end(rec, "raised", what)
            healthy = sock.behaviour in ("instant", "gate") and not sock.failed()
            if sock.disconnected_at is not None or sock.adopted:
                # (with after_seq, RES-3's ValueError is right: the fresh task has no such seq)
                if healthy and sock.after_seq is None:
                    self.violate("DISC-2", f"connect #{rec.id} {rec.label} raised {what} after "
                                 f"{sock.task_id!r} was disconnected during it", "crashed")
            elif healthy and sock.replaced_at is None:
                self.violate("FLUSH-1", f"connect #{rec.id} {rec.label} raised {what} on a healthy socket", "crashed")
            return
        if rec.scope.cancelled_caught:
            self._end(rec, "cancelled")
            sock.cancelled = True
            return
        self._end(rec, "ok")
        if sock.ws.events_of("send_failed"):
            self.coverage["send failing mid-flush"] += 1
        _checks.on_connect_returned(self, sock)

    def _pick(self, candidates: list, index: int) -> Any:
        return candidates[index % len(candidates)] if candidates else None

    def _start_log(self, op: Log, group: anyio.abc.TaskGroup) -> None:
        self._logs += 1
        task_id = f"t{op.task}"
        text = f"{task_id}#{self._logs}"
        kwargs: dict[str, Any] = {"task_id": task_id, "level": op.level, "message": text}
        if op.progress is not None:
            kwargs["progress"] = op.progress
        if op.finished:
            kwargs["finished"] = True
        if op.invalid:
            kwargs.update(BAD_ARGS[op.invalid])
        rec = self._begin(op, f"send_log({kwargs['task_id']!r}, {kwargs['level']!r}, {text!r}"
                          + "".join(f", {k}={kwargs[k]!r}" for k in ("progress", "finished") if k in kwargs)
                          + ")", task_id)
        rec.had_client = _checks.has_client(self, task_id)
        try:
            rec.queued_at_start = self.manager.get_queued_message_count(task_id)
        except Exception:  # noqa: BLE001 - judged by QRY-1 at the end of the step
            rec.queued_at_start = None
        msg = None
        if op.invalid is None:
            msg = self.msgs[text] = Msg(text, task_id, self.epochs[task_id], rec, level=op.level,
                                        progress=op.progress, finished=op.finished)
        group.start_soon(self._log, rec, kwargs, msg, op.invalid)

    def _start_connect(self, op: Connect, group: anyio.abc.TaskGroup) -> None:
        task_id = f"t{op.task}"
        epoch = self.epochs[task_id]
        after_seq = None
        if op.after_seq is not None and self.subject.claims("resume"):
            spent = sum(1 for m in self.msgs.values() if m.task_id == task_id and m.epoch == epoch
                        and m.op.outcome != "raised")
            after_seq = min(op.after_seq, spent)
        if self._flushing(task_id):
            self.coverage["replacement during a flush"] += 1
        sid = len(self.sockets)
        rec = self._begin(op, f"connect(socket {sid} [{op.behaviour}], {task_id!r}"
                          + ("" if after_seq is None else f", after_seq={after_seq}") + ")", task_id)
        rec.sock = sid
        sock = SockRec(sid, None, task_id, epoch, op.behaviour, after_seq, rec)  # type: ignore[arg-type]
        self.sockets.append(sock)
        sock.ws = RecordingSocket(behaviour(op.behaviour), self, sid, hold_accept=op.behaviour == "gate_accept",
                                  hold_close=op.behaviour == "stall_close")
        group.start_soon(self._connect, rec, sock)

    async def do(self, op: Op, group: anyio.abc.TaskGroup) -> None:
        if isinstance(op, Log):
            self._start_log(op, group)
        elif isinstance(op, Connect):
            self._start_connect(op, group)
        elif isinstance(op, Disconnect):
            await self.disconnect(f"t{op.task}")
        elif isinstance(op, Detach):
            sock = self._pick(self.sockets, op.sock)
            if sock is not None:
                await _checks.detach(self, sock)
        elif isinstance(op, Drop):
            sock = self._pick([s for s in self.sockets if not s.ws.client.gone], op.sock)
            if sock is not None:
                self.history.append(f"{self.tick():>4} client of socket {sock.sid} vanishes")
                if sock.connect.outcome is None and not sock.started_sending():
                    self.coverage["send failing mid-flush"] += sock.ws.sends_in_flight > 0
                sock.ws.client.vanish()
        elif isinstance(op, Release):
            gated = self._gated()  # a send at its gate, or an accept/close held for the client
            sock = self._pick([s for s in self.sockets if s in gated or s.ws.held()], op.sock)
            if sock is not None and sock.ws.held():
                self.history.append(f"{self.tick():>4} let socket {sock.sid}'s {sock.ws.waiting_in}() go on")
                sock.ws.let_go()
            elif sock is not None:
                self.history.append(f"{self.tick():>4} release the next send on socket {sock.sid}")
                sock.gate.release(1)
        elif isinstance(op, HandOver):
            sock = self._pick(self._gated(), op.sock)
            rec = self._pick([r for r in self.running() if isinstance(r.op, Log) and r.scope is not None
                              and not any(r.task in s.ws.sending for s in self.sockets)], op.index)
            if sock is not None and rec is not None:
                self.history.append(f"{self.tick():>4} release the next send on socket {sock.sid} and cancel "
                                    f"#{rec.id} in the same round")
                sock.gate.release(1)
                self._cancel(rec)
        elif isinstance(op, CancelConnect):
            rec = self._pick([r for r in self.running() if isinstance(r.op, Connect) and r.scope is not None],
                             op.index)
            if rec is not None:
                self.history.append(f"{self.tick():>4} cancel #{rec.id}")
                rec.scope.cancel()
        elif isinstance(op, Fail):
            sock = self._pick(self._gated(), op.sock)
            if sock is not None:
                self.history.append(f"{self.tick():>4} fail the next send on socket {sock.sid}")
                if sock.connect.outcome is None or self._backlog(sock.task_id):
                    self.coverage["send failing mid-flush"] += 1
                sock.gate.fail_pending(RuntimeError("injected send failure"), n=1)
        elif isinstance(op, Cancel):
            rec = self._pick([r for r in self.running() if isinstance(r.op, Log) and r.scope is not None], op.index)
            if rec is not None:
                self.history.append(f"{self.tick():>4} cancel #{rec.id}")
                self._cancel(rec)
        elif isinstance(op, Advance):
            self.history.append(f"{self.tick():>4} advance {op.seconds}s")
            await anyio.sleep(op.seconds)
        elif isinstance(op, Query):
            await _checks.query(self, f"t{op.task}")

    def _gated(self) -> list:
        """Sockets with a send waiting at their gate (what Release, Fail and HandOver act on)."""
        return [s for s in self.sockets if s.gate is not None and s.gate.pending]

    def _cancel(self, rec: OpRec) -> None:
        for msg in self.msgs.values():
            if msg.op is rec:
                msg.cancelled = True
        rec.scope.cancel()

    def _flushing(self, task_id: str) -> bool:
        """A connect of the task is running, or one of its sockets has a send in flight."""
        return any(r.label.startswith("connect") and r.task_id == task_id for r in self.running()) or any(
            s.task_id == task_id and s.ws.sends_in_flight for s in self.sockets)

    def _backlog(self, task_id: str) -> bool:
        try:
            count = self.manager.get_queued_message_count(task_id)
        except Exception:  # noqa: BLE001 - QRY-1 judges that at the end of the step
            return False
        return isinstance(count, int) and count >= 2  # the failing one and one behind it

    async def disconnect(self, task_id: str) -> None:
        if self._flushing(task_id):
            self.coverage["disconnect during a flush"] += 1
        running = [r for r in self.running() if r.task_id == task_id]
        # DISC-2 is about a send or flush in flight; a connect still waiting to accept (behind a
        # lock) has started neither, so a raise then is DISC-1's "fine for any task"
        busy = any(s.task_id == task_id and (s.ws.sends_in_flight or (
            s.connect.outcome is None and s.ws.application_state != WebSocketState.CONNECTING)) for s in self.sockets)
        rec = self._begin(None, f"disconnect({task_id!r})", task_id)
        self.epochs[task_id] += 1
        for sock in self.sockets:
            if sock.task_id == task_id and sock.disconnected_at is None:
                sock.senders_at_disconnect = frozenset(sock.ws.sending)
                sock.waiters_at_disconnect = frozenset(r.task for r in running) - sock.senders_at_disconnect
                if sock.connect.outcome is None and not sock.started_sending():
                    # Still connecting: it may end up the client of the fresh task (the
                    # reference attaches it there), or of nothing; judged when it returns.
                    sock.adopted = True
                else:
                    sock.disconnected_at = rec.invoke
        try:
            result = await call(self.manager.disconnect, task_id)
        except Exception as exc:
            if is_suite_bug(exc):
                raise SuiteError(f"disconnect({task_id!r})", exc) from exc
            self._end(rec, "raised", describe_exception(exc))
            self.violate("DISC-2" if busy else "DISC-1", f"disconnect({task_id!r}) raised {describe_exception(exc)}",
                         "crashed")
            return
        self._end(rec, "ok", "" if result is None else f"-> {result!r}")
        if _checks.after_disconnect(self, task_id, "DISC-1"):  # what disconnect itself left; later: DISC-2
            self.removed_at[task_id] = rec.ret  # (state it never removed is DISC-1's, not "came back")
        else:
            self.removed_at.pop(task_id, None)
