"""Smoke test of ``tasktail bench``: a tiny configuration through the Python API.

It checks the shape of the report and that every ratio comes from the same run; it asserts
nothing about speed (timings belong in BENCHMARKS.md, not in CI)."""

from __future__ import annotations

import json
import math

import pytest

from tasktail.benchmarks import SCHEMA, format_report, main, quick_config, run_benchmarks
from tasktail.benchmarks._report import write_json
from tasktail.benchmarks._subjects import SUBJECTS
from tasktail.benchmarks._workloads import WORKLOADS

REPEAT = 2


@pytest.fixture(scope="module")
def report() -> dict:
    config = quick_config(
        tasks=[10], messages=3, repeat=REPEAT, stall_timeout=0.01,
        memory_messages=[2, 6], memory_tasks=[20, 40], memory_subjects=["ref-drop-oldest"],
        memory_reprs=["namedtuple"], reference_points=False, command="pytest smoke",
    )
    return run_benchmarks(config)


def test_report_shape(report: dict) -> None:
    assert report["schema"] == SCHEMA
    assert set(report) >= {"meta", "config", "results", "growth", "memory", "targets", "conformance",
                           "reference_points_ns"}
    assert report["meta"]["machine"]["python"]
    assert [r["workload"] for r in report["results"]] == list(WORKLOADS)
    for config in report["results"]:
        assert config["tasks"] == 10 and config["messages_per_task"] == 3
        names = [row["subject"] for row in config["rows"]]
        assert names[0] == "floor"
        assert set(names) <= set(SUBJECTS)
        for row in config["rows"]:
            assert row["status"] in ("ok", "skipped")
            assert row["conformance"]
            if row["status"] == "skipped":
                assert row["reason"]  # a peer that cannot do a workload says why
                continue
            assert len(row["samples_ns"]) == REPEAT
            assert row["min_ns"] <= row["median_ns"] <= row["max_ns"]
            assert row["lost"] == 0


def test_ratios_come_from_the_same_run(report: dict) -> None:
    for config in report["results"]:
        floor = next(row for row in config["rows"] if row["subject"] == "floor")
        assert floor["status"] == "ok"
        assert config["floor_median_ns"] == floor["median_ns"]
        for row in config["rows"]:
            if row["status"] == "ok":
                assert math.isclose(row["ratio_to_floor"], row["median_ns"] / config["floor_median_ns"],
                                    rel_tol=1e-12)


def test_conformance_comes_from_the_suite(report: dict) -> None:
    verdicts = report["conformance"]
    assert verdicts["ref-drop-oldest"] == "PASS"
    # CAP-3 is the default policy's rule: the factory declares CoalesceProgress
    # (tasktail_overflow), so CAP-3 is judged under CAP-5 and reported as the allowed alternative
    assert verdicts["ref-coalesce"] == "PASS (non-strict CAP-3)"
    assert verdicts["ref-reject-newest"] == "PASS (non-strict CAP-3)"  # the allowed alternative
    assert verdicts["tutorial-naive"].startswith("FAIL ") and "DISC-1" in verdicts["tutorial-naive"]  # leaks its queue
    assert verdicts["writer-deque"].startswith("not checked")  # sketches are never called PASS
    assert verdicts["floor"] == "the floor"


def test_memory_growth_and_targets(report: dict) -> None:
    memory = {entry["subject"]: entry for entry in report["memory"]}
    assert memory["ref-drop-oldest"]["status"] == "ok", memory["ref-drop-oldest"]
    assert memory["ref-drop-oldest"]["bytes_per_queued_message"] > 0
    assert memory["repr:namedtuple"]["status"] == "ok"
    assert {g["subject"] for g in report["growth"]} >= {"floor", "ref-drop-oldest"}
    assert {t["status"] for t in report["targets"]} <= {"MET", "MISSED", "NOT MEASURED"}


def test_outputs(report: dict, tmp_path) -> None:
    text = format_report(report)
    assert "== connected: 10 tasks x 3 messages ==" in text and "x floor" in text
    path = tmp_path / "bench.json"
    write_json(report, str(path))
    loaded = json.loads(path.read_text())
    assert loaded["schema"] == SCHEMA and len(loaded["results"]) == len(report["results"])


def test_cli_rejects_bad_options(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "nonsense"])
    assert main(["--list"]) == 0
    assert "ref-drop-oldest" in capsys.readouterr().out
