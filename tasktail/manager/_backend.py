"""What the manager needs from the running event loop, at the cost of the live path.

Theory of operation:

1. **Is the caller cancelled?** ``send_log`` asks on every call (``CANC-1``). The backends'
   own ``checkpoint_if_cancelled`` cost almost as much as the rest of a send (1.5 us on
   asyncio: a ``getpid()`` system call, a weak-key lookup and a coroutine), so
   ``LoopIO.ready`` first answers the same question synchronously from the state those
   functions read; only a caller that is cancelled (or a state it cannot read) goes
   through :func:`cancel_check`, which raises. ``LoopIO`` is one object per kind of event
   loop; what it remembers per connection lives in the connection's own fields.
2. **Bounding a send** (``ISO-1``): most sends finish without suspending, and a deadline
   costs more than the rest of a send (a trio cancel scope: about 5 us). The manager takes a
   send's first step bare and gives only a send that suspends a deadline, from then on.
   On asyncio that is ``asyncio.timeout``: a task-level deadline, not a scope on a stack,
   so it may begin after the first step. A trio scope is on the task's stack of cancel
   statuses: when the send suspended inside scopes of its own, the late scope is put
   *below* them (:func:`_trio_late_scope_hook`), where it would be had it been entered
   first. That needs trio's internals; on a trio without them, and on any other backend,
   every send pays for a scope as before (and ``send_log`` never takes its live path).
   On trio, ``ready`` reads the task's cancel status once and hands it on as ``before``.
3. **Private internals, checked by name only.** (1) reads anyio's ``_task_states`` (the
   ``data`` dict of that ``WeakKeyDictionary``, keyed by weak references) and its
   scopes' ``_cancel_called``, ``_shield`` and ``_parent_scope``; (2) on trio rewires
   ``CancelStatus`` parents. Both were tested with anyio 4.x and trio 0.35; a release that
   keeps those names but changes their meaning would go unnoticed here, so the tests of
   ``tests/manager/test_cancellation.py`` and ``test_idle.py`` are the guard to run first
   after upgrading either.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import anyio
import anyio.lowlevel

__all__ = ["LoopIO", "bind_loop", "cancel_check", "Resumed"]

_get_running_loop = asyncio._get_running_loop

try:  # the backend's own check: anyio's generic one looks the backend up on every call,
    # which costs as much as a send_log (measured: 2.1 us against 0.56 us on asyncio)
    from anyio._backends._asyncio import AsyncIOBackend as _AsyncIOBackend

    _asyncio_cancel_check = _AsyncIOBackend.checkpoint_if_cancelled
except (ImportError, AttributeError):  # pragma: no cover - a future anyio
    _asyncio_cancel_check = anyio.lowlevel.checkpoint_if_cancelled
_other_cancel_check: Any = None


def cancel_check() -> Any:
    """The running backend's ``checkpoint_if_cancelled``: raises if the caller is cancelled."""
    global _other_cancel_check
    if _get_running_loop() is not None:
        return _asyncio_cancel_check
    if _other_cancel_check is None:
        try:
            import trio

            _other_cancel_check = trio.lowlevel.checkpoint_if_cancelled
        except ImportError:  # pragma: no cover - anyio runs on asyncio or trio
            _other_cancel_check = anyio.lowlevel.checkpoint_if_cancelled
    return _other_cancel_check


# -- one event loop's answers ----------------------------------------------------------------


class LoopIO:
    """What the live path asks of the event loop a connection lives on. One instance per
    kind of event loop (asyncio, trio, any other), shared by every connection: the live
    path touches no object of its own per connection for it (at thousands of tasks each
    such object is a cache miss per message). :func:`bind_loop` gives a connection its
    ``io`` and the fields ``ready`` reads.

    ``ready(connection)``: False when :func:`cancel_check` may raise for the calling task
    (or the backend bounds every send whole, so the live path must not be taken);
    otherwise a true value: on trio the task's cancel status before the send (``before``
    for ``ConnectionManager._bounded``), elsewhere True. It reads what the backend's own
    check reads, without a coroutine, and without ``asyncio._get_running_loop()``, which
    costs a ``getpid()`` system call on every call (CPython 3.11). ``scope_type`` is None
    on asyncio (a task deadline, ``asyncio.timeout``, may start after a send's first step),
    otherwise a cancel scope class and ``now`` its clock; ``current_status`` and
    ``open_late`` open a scope late on trio (see :func:`_trio_late_scope_hook`), None
    where that cannot be done."""

    __slots__ = ("ready", "scope_type", "now", "current_status", "open_late")

    def __init__(self, ready: Callable[[Any], Any], scope_type: Any = None, now: Any = None,
                 hook: Any = None) -> None:
        self.ready, self.scope_type, self.now = ready, scope_type, now
        self.current_status, self.open_late = hook if hook is not None else (None, None)


def _never(connection: Any) -> bool:
    return False


def bind_loop(connection: Any) -> None:
    """Decide, once per connection (a socket lives on one event loop), how its sends are
    bounded and its callers' cancellation is read: sets the connection's ``io``, ``loop``
    (the asyncio loop, else None) and the memo ``probe_task``/``probe_state`` that
    ``LoopIO.ready`` keeps there (fields of the connection, which the live path touches
    anyway)."""
    global _trio_io
    connection.probe_task = connection.probe_state = None
    loop = _get_running_loop()
    connection.loop = loop
    if loop is not None:
        connection.io = _ASYNCIO_IO
        return
    try:
        import trio

        trio.lowlevel.current_task()  # raises unless trio is running this task
    except (ImportError, RuntimeError):
        connection.io = _OTHER_IO
        return
    if _trio_io is None:
        hook = _trio_late_scope_hook()
        # trio's own scope: anyio's wrapper costs more per send. Without the hook for a
        # late scope, every send is bounded whole, so the live path is never taken.
        _trio_io = LoopIO(_trio_ready if hook is not None else _never, trio.CancelScope,
                          trio.current_time, hook)
    connection.io = _trio_io


try:
    from anyio._backends._asyncio import _task_states as _anyio_task_states

    _anyio_task_states_data: Any = _anyio_task_states.data  # weakref(task) -> state
    _current_tasks: Any = asyncio.tasks._current_tasks  # loop -> running task (C dict)
except (ImportError, AttributeError):  # pragma: no cover - a future anyio or Python
    _anyio_task_states = _anyio_task_states_data = None
    _current_tasks = None


#: (weak reference to a task, weak reference to anyio's state of that task) for the task
#: asked about last, on any loop: with one producer (the usual tight loop) the connection's
#: own memo is not even read. Replaced whole, so a thread reads a pair; another loop's task
#: never matches; weak both ways, so it keeps no ended task (nor its loop) alive.
_last_probe: tuple[Any, Any] = (None, None)


def _asyncio_ready(connection: Any) -> bool:
    global _last_probe
    task = _current_tasks.get(connection.loop)
    if task is None:
        return True  # not in a task: nothing could cancel it (and a dead task's ref is None)
    ref, state_ref = _last_probe
    # (the ref of a task that ended gives None; anyio keeps a task's state while it lives)
    if ref is None or ref() is not task or (task_state := state_ref()) is None:
        # The connection's memo, kept for producers that take turns (one per task, say).
        # Only a found state is kept: anyio keeps a task's state until the task ends, but a
        # plain asyncio task gets one only when it first enters a cancel scope, so a miss
        # must be asked again. Only the connection's loop's thread reads it.
        ref = connection.probe_task
        if ref is not None and ref() is task:
            task_state = connection.probe_state
        else:
            ref = weakref.ref(task)
            # WeakKeyDictionary.get, without its Python frame: a plain asyncio task with no
            # anyio scope asks on every call
            task_state = _anyio_task_states_data.get(ref)
            if task_state is None:
                return True  # no anyio scope (yet) that could cancel it
            connection.probe_task, connection.probe_state = ref, task_state
        _last_probe = (ref, weakref.ref(task_state))
    scope = task_state.cancel_scope
    try:  # exactly the walk of anyio's checkpoint_if_cancelled
        while scope is not None:
            if scope._cancel_called:
                return False
            if scope._shield:
                return True
            scope = scope._parent_scope
    except AttributeError:  # pragma: no cover - a future anyio
        return False
    return True


_ASYNCIO_IO = LoopIO(_never if _current_tasks is None else _asyncio_ready)
_OTHER_IO = LoopIO(_never, anyio.CancelScope, anyio.current_time)
_trio_io: LoopIO | None = None  # made on first use: trio is optional


def _trio_ready(connection: Any) -> Any:
    try:  # exactly what trio's checkpoint_if_cancelled reads
        task = _trio_current_task()
        status = task._cancel_status
        if status.effectively_cancelled or (task is task._runner.main_task and task._runner.ki_pending):
            return False
    except (AttributeError, RuntimeError):  # pragma: no cover - another trio
        return False
    return status  # (a CancelStatus is always true)


_trio_hook: Any = False  # not looked for yet
_trio_current_task: Any = None


def _trio_late_scope_hook() -> Any:
    """``(current_status, open_late)`` when this trio's internals are the ones ``open_late``
    was written for (trio 0.2x-0.3x), else None."""
    global _trio_hook, _trio_current_task
    if _trio_hook is not False:
        return _trio_hook
    _trio_hook = None
    try:
        from trio._core import _run
    except ImportError:  # pragma: no cover - another trio
        return None
    status_type = getattr(_run, "CancelStatus", None)
    scope_type = getattr(_run, "CancelScope", None)
    parent = getattr(status_type, "parent", None)
    if (not isinstance(parent, property) or parent.fset is None
            or not hasattr(scope_type, "_might_change_registered_deadline")
            or "_cancel_status" not in getattr(scope_type, "__slots__", ("_cancel_status",))):
        return None  # pragma: no cover - another trio
    current_task = _trio_current_task = _run.current_task

    def current_status() -> Any:
        return current_task()._cancel_status

    def open_late(scope: Any, before: Any) -> None:
        """Enter ``scope`` as if it had been entered while the task's cancel status was
        ``before``: between ``before`` and the scopes the suspended send opened since."""
        child = current_task()._cancel_status
        while child.parent is not before:
            child = child.parent
            if child is None:  # pragma: no cover - the send closed a scope it did not open
                raise RuntimeError("the send left the task's cancel scopes in another state")
        # What CancelScope.__enter__ does, with ``before`` as the parent instead of the
        # task's current status, which stays the send's own.
        scope._has_been_entered = True
        with scope._might_change_registered_deadline():
            scope._cancel_status = status_type(scope=scope, parent=before)
        # From here the send's scopes are inside ours: its deadline reaches the send, and
        # when they close, the task's status becomes ours, which __exit__ then closes.
        child.parent = scope._cancel_status

    _trio_hook = (current_status, open_late)
    return _trio_hook


class Resumed:
    """The rest of a coroutine whose first step already ran: ``await`` would do the same."""

    __slots__ = ("_coroutine", "_suspended_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], suspended_on: Any) -> None:
        self._coroutine, self._suspended_on = coroutine, suspended_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, value = self._coroutine, self._suspended_on
        while True:
            try:
                received = yield value  # the send's own trap, handed to the event loop
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # cancellation and the deadline reach the send
                try:
                    value = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coroutine.send(received)
                except StopIteration as stop:
                    return stop.value
