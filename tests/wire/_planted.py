"""What a port whose replaced client is closed with 1000 instead of 4000 must be judged
(the aiohttp port's and the Node port's planted bugs): every vector where a client is
replaced fails on that close code, REPL-1 FAILs, the exit status is 1, and nothing else fails."""

from __future__ import annotations

from tasktail.vectors import load

VECTORS = load()


def assert_fails_only_on_replaced_clients(report) -> None:
    failed = {v.vector: v for v in report.verdicts if v.grade == "FAIL"}
    replaced = {v["id"] for v in VECTORS
                if any(c["close"] == 4000 for c in (v["expect"].get("alternatives") or [v["expect"]])[0]["clients"].values())}
    assert set(failed) == replaced and len(replaced) >= 5
    for verdict in failed.values():
        assert any("close expected 4000, got 1000" in p for p in verdict.problems), verdict.problems
    assert report.per_rule()["REPL-1"][0] == "FAIL"
    assert report.exit_status == 1
    assert {v.grade for v in report.verdicts if v.vector not in replaced} == {"PASS"}
