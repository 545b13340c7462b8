"""What the manager needs from the running event loop, at the cost of the live path.

Theory of operation:

1. **Is the caller cancelled?** ``send_log`` asks on every call (``CANC-1``). The backends'
   own ``checkpoint_if_cancelled`` cost almost as much as the rest of a send (1.5 us on
   asyncio: a weak-key lookup and a coroutine), so :func:`cancel_pending` first answers the
   same question synchronously from the state those functions read; only a caller that is
   cancelled (or a state it cannot read) goes through :func:`cancel_check`, which raises.
2. **Bounding a send** (``ISO-1``): most sends finish without suspending, and a deadline
   costs more than the rest of a send (a trio cancel scope: about 5 us). The manager takes a
   send's first step bare and gives only a send that suspends a deadline, from then on.
   On asyncio that is ``asyncio.timeout``: a task-level deadline, not a scope on a stack,
   so it may begin after the first step. A trio scope is on the task's stack of cancel
   statuses: when the send suspended inside scopes of its own, the late scope is put
   *below* them (:func:`_trio_late_scope_hook`), where it would be had it been entered
   first. That needs trio's internals; on a trio without them, and on any other backend,
   every send pays for a scope as before.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import anyio
import anyio.lowlevel

__all__ = ["cancel_pending", "cancel_check", "deadline_scope_factory", "Resumed"]

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


# -- cancel_pending ------------------------------------------------------------------------

try:
    from anyio._backends._asyncio import _task_states as _anyio_task_states

    _current_tasks: Any = asyncio.tasks._current_tasks  # loop -> running task (C dict)
except (ImportError, AttributeError):  # pragma: no cover - a future anyio or Python
    _anyio_task_states = None
    _current_tasks = None

#: (weak reference to the asyncio task last asked about, anyio's state of that task):
#: replaced whole, so a reader on another event loop's thread never sees a torn pair.
_asyncio_probe: tuple[Any, Any] = (None, None)
_trio_probe: Any = None  # trio.lowlevel.current_task, once trio has been seen


def cancel_pending() -> bool:
    """True if :func:`cancel_check` may raise for the calling task; False only when it
    certainly would not. Reads what the backend's own check reads, without a coroutine."""
    global _asyncio_probe, _trio_probe
    loop = _get_running_loop()
    if loop is not None:
        if _current_tasks is None:  # pragma: no cover - a future anyio or Python
            return True
        task = _current_tasks.get(loop)
        ref, task_state = _asyncio_probe
        if ref is None or ref() is not task:
            if task is None:
                return False
            task_state = _anyio_task_states.get(task)
            _asyncio_probe = (weakref.ref(task), task_state)
        if task_state is None:
            return False  # a task anyio does not know has no anyio scope to be cancelled by
        scope = task_state.cancel_scope
        try:  # exactly the walk of anyio's checkpoint_if_cancelled
            while scope is not None:
                if scope._cancel_called:
                    return True
                if scope._shield:
                    return False
                scope = scope._parent_scope
        except AttributeError:  # pragma: no cover - a future anyio
            return True
        return False
    if _trio_probe is None:
        try:
            import trio

            _trio_probe = trio.lowlevel.current_task
        except ImportError:  # pragma: no cover - anyio runs on asyncio or trio
            return True
    try:  # exactly what trio's checkpoint_if_cancelled reads
        task = _trio_probe()
        runner = task._runner
        return task._cancel_status.effectively_cancelled or (task is runner.main_task and runner.ki_pending)
    except (AttributeError, RuntimeError):  # another trio, or not trio at all
        return True


# -- bounding a send -----------------------------------------------------------------------


def deadline_scope_factory() -> tuple[Any, Callable[[], float], Any, Any] | None:
    """How a send is bounded on the running event loop: None on asyncio (a task deadline,
    ``asyncio.timeout``, may start after the send's first step); otherwise a cancel scope
    class, its clock, and ``current_status``, ``open_late`` (see
    :func:`_trio_late_scope_hook`), both None where a scope cannot be opened late: trio's
    own scope (anyio's wrapper costs more per send), anyio's on anything else."""
    if _get_running_loop() is not None:
        return None
    try:
        import trio

        trio.lowlevel.current_task()  # raises unless trio is running this task
    except (ImportError, RuntimeError):
        return anyio.CancelScope, anyio.current_time, None, None
    hook = _trio_late_scope_hook()
    return (trio.CancelScope, trio.current_time) + (hook if hook is not None else (None, None))


_trio_hook: Any = False  # not looked for yet


def _trio_late_scope_hook() -> Any:
    """``(current_status, open_late)`` when this trio's internals are the ones ``open_late``
    was written for (trio 0.2x-0.3x), else None."""
    global _trio_hook
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
    current_task = _run.current_task

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
