"""THR-*: logging from worker threads.

These tests run on the real clock (asyncio and trio): a worker thread's progress is real
time, which a virtual clock would jump past.
"""

from __future__ import annotations

import logging
import threading

import anyio
import anyio.to_thread
import pytest

from tasktail import LoopClosedError, TaskLogHandler

from .support import FakeWebSocket, logs, make_manager

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.rule("THR-1")
async def test_threadsafe_logger_from_worker_thread():
    manager = make_manager()
    ws = FakeWebSocket()
    await manager.connect(ws, "csv")
    logger = manager.threadsafe()

    def crunch_rows():
        return [logger.send_log("csv", "info", f"row {n}", progress=n * 10) for n in range(10)]

    with anyio.fail_after(30):
        entries = await anyio.to_thread.run_sync(crunch_rows)
    assert [e.seq for e in entries] == list(range(1, 11))
    assert [m for _, m in logs(ws)] == [f"row {n}" for n in range(10)]


@pytest.mark.rule("THR-1")
async def test_threadsafe_logger_from_plain_threads():
    manager = make_manager()
    logger = manager.threadsafe()
    results = []

    def work(name):
        for n in range(5):
            results.append(logger.send_log("job", "info", f"{name}{n}"))

    def run_all():
        threads = [threading.Thread(target=work, args=(name,)) for name in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    with anyio.fail_after(30):
        await anyio.to_thread.run_sync(run_all)
    queued = list(manager.message_queues["job"])
    assert sorted(m.seq for m in queued) == list(range(1, 11))
    for name in "ab":  # each thread's own messages keep their order
        mine = [m.message for m in queued if m.message.startswith(name)]
        assert mine == [f"{name}{n}" for n in range(5)]


@pytest.mark.rule("THR-1")
async def test_logging_handler_forwards_records():
    manager = make_manager()
    handler = TaskLogHandler(manager.threadsafe(), "train")
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    log = logging.getLogger("tasktail.tests.training")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)

    def train():
        log.debug("warming up")
        log.info("epoch %d", 1, extra={"progress": 50})
        log.warning("loss is rising")
        log.critical("nan loss")
        log.info("model saved", extra={"progress": 100, "finished": True, "tasktail_level": "success"})

    try:
        with anyio.fail_after(30):
            await anyio.to_thread.run_sync(train)
    finally:
        log.removeHandler(handler)
    queued = [(m.level, m.message, m.progress, m.finished) for m in manager.message_queues["train"]]
    assert queued == [
        ("debug", "tasktail.tests.training: warming up", None, False),
        ("info", "tasktail.tests.training: epoch 1", 50, False),
        ("warning", "tasktail.tests.training: loss is rising", None, False),
        ("error", "tasktail.tests.training: nan loss", None, False),
        ("success", "tasktail.tests.training: model saved", 100, True),
    ]


@pytest.mark.rule("THR-2")
async def test_threadsafe_logger_on_loop_thread_raises():
    manager = make_manager()
    logger = manager.threadsafe()
    with pytest.raises(RuntimeError, match="event loop's own thread"):
        logger.send_log("job", "info", "would deadlock")
    assert manager.statistics().logged == 0


@pytest.mark.rule("THR-2")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_threadsafe_logger_after_loop_closed(backend):
    async def make_logger():
        manager = make_manager()
        return manager, manager.threadsafe()

    manager, logger = anyio.run(make_logger, backend=backend)
    errors = []

    def late_worker():
        try:
            logger.send_log("job", "info", "too late")
        except LoopClosedError as exc:
            errors.append(exc)

    thread = threading.Thread(target=late_worker)
    thread.start()
    thread.join(timeout=30)
    assert len(errors) == 1 and "'job'" in str(errors[0]) and "finished" in str(errors[0])
    assert manager.statistics().logged == 0


@pytest.mark.rule("THR-2")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_threads_logging_while_the_loop_ends_get_loop_closed_error(backend):
    # Issue 9: threads whose call was queued into the closing loop hung forever, and threads
    # whose call was running got CancelledError. Half the calls are running (held at a gated
    # client) when the loop ends; the rest keep calling into the loop as it closes.
    from tasktail import LogMessage
    from tasktail.fakes import Gate

    outcomes: list[object] = []
    threads: list[threading.Thread] = []

    async def main():
        manager = make_manager()
        gate = Gate()
        await manager.connect(FakeWebSocket(behaviour=gate), "held")
        logger = manager.threadsafe()
        started = threading.Barrier(17)

        def worker(n):
            started.wait()
            task = "held" if n % 2 else f"free{n}"
            while True:
                try:
                    result = logger.send_log(task, "info", f"w{n}")
                except BaseException as exc:  # anything but LoopClosedError fails the test
                    outcomes.append(exc)
                    return
                if not isinstance(result, LogMessage):
                    outcomes.append(result)
                    return

        threads.extend(threading.Thread(target=worker, args=(n,), daemon=True) for n in range(16))
        for thread in threads:
            thread.start()
        await anyio.to_thread.run_sync(started.wait)
        with anyio.fail_after(30):
            await gate.wait_pending(1)  # one call is in a send; the other "held" calls wait for its lock

    anyio.run(main, backend=backend)
    for thread in threads:
        thread.join(timeout=30)
    assert [t for t in threads if t.is_alive()] == []
    assert len(outcomes) == 16
    assert all(isinstance(o, LoopClosedError) for o in outcomes), {type(o).__name__ for o in outcomes}
