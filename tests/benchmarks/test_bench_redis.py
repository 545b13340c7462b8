"""The bench's Redis rows (issue 11): measured on a private redis-server, or clearly skipped."""

from __future__ import annotations

import pytest

from tasktail.benchmarks import _redis
from tasktail.benchmarks._redis import format_redis, redis_rows


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_redis_rows_beside_the_floor_and_the_reference(backend):
    section = redis_rows(tasks=[3], messages=30, repeat=1, memory_messages=200, backend=backend)
    assert "skipped" not in section, section
    subjects = [row["subject"] for row in section["rows"]]
    assert subjects == ["floor-to_json", "ref-drop-oldest", "redis"]
    for row in section["rows"]:
        assert row["per_second"] > 0 and row["p99_us"] >= row["p50_us"] > 0
    assert [row["ratio"] for row in section["rows"]][0] == 1.0  # every ratio divides by this run's floor
    assert section["memory"]["stream_bytes"] > 40  # a 40-character line costs at least itself
    text = format_redis(section)
    assert "redis-server" in text and "MEMORY USAGE" in text and "x floor" in text


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_without_redis_server_the_rows_say_skipped_and_have_no_figures(monkeypatch, backend):
    monkeypatch.setattr(_redis, "find_redis_server", lambda: None)
    section = redis_rows(tasks=[3], messages=30, repeat=1, memory_messages=200, backend=backend)
    assert set(section) == {"skipped"}
    assert format_redis(section).endswith("skipped: redis-server not found (apt-get install redis-server); "
                                          "no Redis figures")
