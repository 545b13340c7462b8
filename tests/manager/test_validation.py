"""VAL-*, QRY-*, FIN-1: bad input gets a clear error and changes nothing."""

from __future__ import annotations

import math

import pytest

from tasktail import ConnectionManager, Level, TaskFinishedError

from .support import FakeWebSocket, make_manager

pytestmark = pytest.mark.anyio

GOOD = {"task_id": "job", "level": "info", "message": "hello", "progress": 50, "finished": False}

# (argument, bad value, exception, words the message must contain)
BAD_INPUTS = [
    ("task_id", "", ValueError, ["task_id", "''", "non-empty str"]),
    ("task_id", 42, TypeError, ["task_id", "42", "non-empty str"]),
    ("task_id", None, TypeError, ["task_id", "None", "non-empty str"]),
    ("level", "verbose", ValueError, ["level", "'verbose'", "'debug'", "'success'"]),
    ("level", "INFO", ValueError, ["level", "'INFO'", "'info'"]),
    ("level", 20, TypeError, ["level", "20", "'warning'"]),
    ("message", b"bytes", TypeError, ["message", "b'bytes'", "str"]),
    ("message", None, TypeError, ["message", "None", "str"]),
    ("message", "bad \ud800 text", ValueError, ["message", "surrogate", "UTF-8"]),
    ("task_id", "job\udfff", ValueError, ["task_id", "surrogate", "UTF-8"]),
    ("progress", True, TypeError, ["progress", "True", "bool is not a number"]),
    ("progress", "50", TypeError, ["progress", "'50'", "[0, 100]"]),
    ("progress", -1, ValueError, ["progress", "-1", "[0, 100]"]),
    ("progress", 100.5, ValueError, ["progress", "100.5", "[0, 100]"]),
    ("progress", math.nan, ValueError, ["progress", "nan", "finite"]),
    ("progress", math.inf, ValueError, ["progress", "inf", "finite"]),
    ("finished", 1, TypeError, ["finished", "1", "bool"]),
    ("finished", "yes", TypeError, ["finished", "'yes'", "bool"]),
]


@pytest.mark.rule("VAL-1")
@pytest.mark.rule("VAL-2")
@pytest.mark.parametrize(("argument", "value", "error", "words"), BAD_INPUTS,
                         ids=[f"{a}={v!r}" for a, v, _, _ in BAD_INPUTS])
async def test_bad_input_changes_nothing(argument, value, error, words):
    manager = make_manager()
    await manager.send_log("job", "info", "before")  # a known task with one queued message
    before = (manager.statistics(), manager.task_statistics("job"), list(manager.message_queues["job"]))
    with pytest.raises(error) as caught:
        await manager.send_log(**{**GOOD, argument: value})
    for word in words:
        assert word in str(caught.value)
    after = (manager.statistics(), manager.task_statistics("job"), list(manager.message_queues["job"]))
    assert after == before
    entry = await manager.send_log(**GOOD)
    assert entry.seq == 2  # no seq was spent by the bad call


@pytest.mark.rule("VAL-2")
async def test_level_enum_and_all_levels_accepted():
    manager = make_manager()
    for level in ("debug", "info", "warning", "error", Level.SUCCESS):
        entry = await manager.send_log("job", level, "ok")
        assert type(entry.level) is str and entry.level == str(level)


@pytest.mark.rule("VAL-1")
@pytest.mark.rule("VAL-2")
@pytest.mark.parametrize(("after_seq", "error"), [(-1, ValueError), (True, TypeError), ("3", TypeError), (1.0, TypeError)])
async def test_bad_after_seq_changes_nothing(after_seq, error):
    manager = make_manager()
    await manager.send_log("job", "info", "queued")
    ws = FakeWebSocket()
    with pytest.raises(error, match="after_seq"):
        await manager.connect(ws, "job", after_seq=after_seq)
    assert not ws.client.accepted
    assert manager.get_queued_message_count("job") == 1 and not manager.get_connection_status("job")


@pytest.mark.rule("VAL-2")
@pytest.mark.parametrize(("config", "name"), [
    ({"max_queue_size": 0}, "max_queue_size"), ({"max_queue_size": 1.5}, "max_queue_size"),
    ({"max_queue_size": True}, "max_queue_size"), ({"send_timeout": 0}, "send_timeout"),
    ({"send_timeout": math.inf}, "send_timeout"), ({"history_size": -1}, "history_size"),
    ({"task_ttl": -5}, "task_ttl"), ({"max_tasks": 0}, "max_tasks"),
    ({"overflow": "drop-oldest"}, "overflow"), ({"clock": 3.0}, "clock"),
])
async def test_bad_config_is_rejected(config, name):
    with pytest.raises((TypeError, ValueError), match=name):
        ConnectionManager(**config)


@pytest.mark.rule("QRY-1")
async def test_queries_on_unknown_tasks():
    manager = make_manager()
    assert manager.get_connection_status("nobody") is False
    assert manager.get_queued_message_count("nobody") == 0
    stats = manager.task_statistics("nobody")
    assert stats.known is False and stats.queued == 0
    assert manager.disconnect("nobody") == 0
    assert manager.statistics().tasks == 0  # queries create nothing


@pytest.mark.rule("QRY-1")
@pytest.mark.parametrize("bad", ["", 7, None, b"job"])
async def test_queries_validate_task_id(bad):
    manager = make_manager()
    for query in (manager.get_connection_status, manager.get_queued_message_count,
                  manager.task_statistics, manager.disconnect):
        with pytest.raises((TypeError, ValueError), match="task_id"):
            query(bad)


@pytest.mark.rule("FIN-1")
async def test_send_after_finished_raises():
    manager = make_manager()
    await manager.send_log("job", "success", "done", finished=True)
    before = manager.task_statistics("job")
    with pytest.raises(TaskFinishedError, match="'job'.*seq 1"):
        await manager.send_log("job", "info", "late")
    assert manager.task_statistics("job") == before
    manager.disconnect("job")
    assert (await manager.send_log("job", "info", "again")).seq == 1


class Evil(str):
    """A str subclass that lies in __str__ and cannot be repr()'d."""

    def __str__(self):
        return "someone-else"

    def __repr__(self):
        raise RuntimeError("repr failed")


class BadRepr:
    def __repr__(self):
        raise RuntimeError("repr failed")


HUGE = 10 ** 5000  # more than 4,300 digits: str() of it raises


def ids(cases):
    return [f"{case[0] if isinstance(case[0], str) else next(iter(case[0]))}-{n}" for n, case in enumerate(cases)]


CONFIG_CASES = [
    ({"max_queue_size": 1.5}, "max_queue_size", TypeError), ({"max_queue_size": "5"}, "max_queue_size", TypeError),
    ({"max_queue_size": True}, "max_queue_size", TypeError), ({"history_size": None}, "history_size", TypeError),
    ({"send_timeout": "10"}, "send_timeout", TypeError), ({"task_ttl": []}, "task_ttl", TypeError),
    ({"max_tasks": 2.0}, "max_tasks", TypeError), ({"max_queue_size": HUGE}, "max_queue_size", ValueError),
    ({"history_size": 2 ** 70}, "history_size", ValueError), ({"send_timeout": HUGE}, "send_timeout", ValueError),
    ({"task_ttl": 10 ** 400}, "task_ttl", ValueError), ({"max_queue_size": 0}, "max_queue_size", ValueError),
    ({"send_timeout": float("nan")}, "send_timeout", ValueError), ({"overflow": BadRepr()}, "overflow", TypeError),
    ({"clock": BadRepr()}, "clock", TypeError),
]


@pytest.mark.rule("VAL-2")
@pytest.mark.parametrize(("config", "name", "error"), CONFIG_CASES, ids=ids(CONFIG_CASES))
async def test_config_errors_are_exact(config, name, error):
    # Issue 9: wrong types raised ValueError; huge ints raised OverflowError or an int-to-str
    # error naming nothing; a raising __repr__ became a RuntimeError.
    with pytest.raises(error) as caught:
        ConnectionManager(**config)
    assert type(caught.value) is error and str(caught.value).startswith(f"{name}=")


ARGUMENT_CASES = [
    ("progress", HUGE, ValueError), ("progress", -HUGE, ValueError), ("task_id", BadRepr(), TypeError),
    ("message", BadRepr(), TypeError), ("level", BadRepr(), TypeError), ("finished", BadRepr(), TypeError),
    ("progress", BadRepr(), TypeError), ("message", "x" * 10_000 + "\ud800", ValueError),
]


@pytest.mark.rule("VAL-1")
@pytest.mark.rule("VAL-2")
@pytest.mark.parametrize(("argument", "value", "error"), ARGUMENT_CASES, ids=ids(ARGUMENT_CASES))
async def test_error_formatting_cannot_fail(argument, value, error):
    manager = make_manager()
    await manager.send_log("job", "info", "before")
    before = manager.statistics()
    with pytest.raises(error) as caught:
        await manager.send_log(**{**GOOD, argument: value})
    assert type(caught.value) is error and str(caught.value).startswith(f"{argument}=")
    assert len(str(caught.value)) < 500  # a huge value is shown shortened
    assert manager.statistics() == before


@pytest.mark.rule("VAL-1")
async def test_huge_after_seq_is_rejected_naming_it():
    manager = make_manager()
    with pytest.raises(ValueError, match=r"^after_seq=<int of \d+ bits> is beyond"):
        await manager.connect(FakeWebSocket(), "job", after_seq=HUGE)


@pytest.mark.rule("VAL-2")
async def test_str_subclass_ids_and_texts_are_stored_as_exact_str():
    # Issue 9: a str subclass task id was replaced by what its own __str__ returned.
    manager = make_manager()
    entry = await manager.send_log(Evil("job"), Evil("info"), Evil("hello"))
    assert (entry.task_id, entry.level, entry.message) == ("job", "info", "hello")
    assert all(type(x) is str for x in (entry.task_id, entry.level, entry.message))
    assert list(manager.message_queues) == ["job"] and type(next(iter(manager.message_queues))) is str
    assert manager.get_queued_message_count(Evil("job")) == 1 and manager.disconnect(Evil("job")) == 1
