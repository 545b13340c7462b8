"""The searches of several backends at once, one per process (``tasktail conform --jobs N``).

Theory of operation:

1. Only a factory that can be imported back by its ``MODULE:FACTORY`` spec is searched in
   another process (the worker imports it by that spec); anything else runs serially.
2. This process searches the first backend itself; each other backend gets one worker
   process (at most ``jobs - 1`` of them). A worker builds its own :class:`Subject` from the
   spec, the capabilities and the config, runs exactly the :func:`search` the serial path
   runs (same seed, same budget: the same programs) and sends back its
   :class:`SearchResult`.
3. Results are returned in the order of the backends asked for, whatever finished first,
   so a seed gives the same report with any number of jobs.
4. A worker is forked (see :func:`_context`); where that is not safe the backends are
   searched one after the other here, and the report says 1 job. A worker keeps
   hypothesis' caches in a temporary directory of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import traceback
from typing import Any

from ._findings import SuiteError
from ._generate import SearchResult, private_hypothesis_home, search
from ._subject import Subject, load_factory

__all__ = ["default_jobs", "parallel_spec", "search_backends"]


def default_jobs() -> int:
    """What ``tasktail conform`` uses unless told: min(2, the cores this process may use)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def parallel_spec(factory: Any) -> str | None:
    """The factory's ``MODULE:FACTORY`` spec when importing it back gives this very factory."""
    from ._save import factory_spec

    spec = factory_spec(factory)
    if spec is None:
        return None
    try:
        return spec if load_factory(spec) is factory else None
    except Exception:  # noqa: BLE001 - not importable by its name: search serially
        return None


def _worker(conn: Any, spec: str, capabilities: frozenset[str], config: dict[str, Any], backend: str,
            kwargs: dict[str, Any], seconds_left: float | None) -> None:
    import time

    try:
        subject = Subject(load_factory(spec), capabilities, config)
        deadline = None if seconds_left is None else time.perf_counter() + seconds_left
        with private_hypothesis_home():
            found = search(subject, backend, deadline=deadline, **kwargs)
        conn.send(("ok", found))
    except SuiteError as exc:
        conn.send(("suite", (exc.where, str(exc))))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        conn.send(("error", (f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc)))))
    finally:
        conn.close()


def _context() -> Any:
    """A forking context, or None (search serially). Forked, a worker starts from this
    process' state, as the serial search of its backend would: hypothesis now and then
    draws a constant found in the source of a local module imported so far, so a worker
    started afresh (spawned) could draw other programs for the same seed. Forking is safe
    with no other thread, or with idle daemon threads (trio's thread cache after the
    scripted checks) before Python 3.12, which warns then."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    if others and (sys.version_info >= (3, 12) or not all(t.daemon for t in others)):
        return None
    return multiprocessing.get_context("fork")


class WorkerSuiteError(SuiteError):
    """A :class:`SuiteError` raised in a worker process, with the worker's text."""

    def __init__(self, where: str, text: str) -> None:  # noqa: D107 - the worker already worded it
        self.where, self.exc = where, None
        Exception.__init__(self, text)


def search_backends(spec: str, subject: Subject, backends: tuple[str, ...], jobs: int, deadline: float | None,
                    preconditions: dict[str, frozenset[str]], **kwargs: Any) -> tuple[list[SearchResult], int]:
    """``search(subject, b, preconditions=preconditions[b], **kwargs)`` for each of
    ``backends``, up to ``jobs`` at once; the results in the order of ``backends``, and
    how many processes searched."""
    import time

    ctx = _context() if jobs > 1 and len(backends) > 1 else None
    if ctx is None:
        return [search(subject, b, deadline=deadline, preconditions=preconditions[b], **kwargs) for b in backends], 1
    mine, others = [backends[0]], list(backends[1:])
    while len(others) > jobs - 1:  # more backends than jobs: this process takes the rest
        mine.append(others.pop())
    workers = []
    for backend in others:
        receive, send = ctx.Pipe(duplex=False)
        left = None if deadline is None else deadline - time.perf_counter()
        proc = ctx.Process(target=_worker, args=(send, spec, subject.capabilities, subject.user_config, backend,
                                                 {**kwargs, "preconditions": preconditions[backend]}, left),
                           daemon=True)
        proc.start()
        send.close()
        workers.append((backend, proc, receive))
    results: dict[str, SearchResult] = {}
    try:
        for backend in mine:
            results[backend] = search(subject, backend, deadline=deadline, preconditions=preconditions[backend],
                                      **kwargs)
        for backend, proc, receive in workers:
            try:
                status, payload = receive.recv()
            except EOFError:
                proc.join()
                raise SuiteError(f"the {backend} search", RuntimeError(
                    f"its worker process ended with exit code {proc.exitcode} and sent nothing")) from None
            proc.join()
            if status == "suite":
                raise WorkerSuiteError(*payload)
            if status == "error":
                raise SuiteError(f"the {backend} search (worker process)", RuntimeError(
                    f"{payload[0]}\n--- the worker's traceback ---\n{payload[1]}"))
            results[backend] = payload
    finally:
        for _, proc, receive in workers:
            receive.close()
            if proc.is_alive():
                proc.terminate()
                proc.join()
    return [results[b] for b in backends], 1 + len(workers)
