"""Every vector over the wire against real servers: the Starlette reference (uvicorn) and the
aiohttp port, judged by the in-process judge; the planted bug fails by its rule."""

from __future__ import annotations

import anyio
import pytest

from tasktail.vectors import load
from tasktail.vectors._scenarios import NOT_EXPRESSIBLE
from tasktail.wire import run_wire

from ._planted import assert_fails_only_on_replaced_clients

pytestmark = [pytest.mark.anyio, pytest.mark.real_server]
BOTH = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])  # the runner's loop; real time
VECTORS = load()
#: rules no vector checks over the wire, and why: the corpus's NOT_EXPRESSIBLE less the
#: adapter rules the wire mode adds (ADAPT-1, ADAPT-2) and the rules that are not a port's
WIRE_UNSUPPORTED = {r for r in NOT_EXPRESSIBLE if not r.startswith(("DEMO-", "RDS-")) and r not in ("ADAPT-1", "ADAPT-2")}


async def _report(server, **kwargs):
    with anyio.fail_after(120):
        return await run_wire(server.url, **kwargs)


def _assert_all_pass(report) -> None:
    assert {v.vector: (v.grade, v.problems) for v in report.verdicts if v.grade != "PASS"} == {}
    assert [v.vector for v in report.verdicts] == [v["id"] for v in VECTORS]
    rules = report.per_rule()
    assert {r for r, (g, _) in rules.items() if g == "UNSUPPORTED"} == WIRE_UNSUPPORTED
    assert all(why.startswith("needs in-process control: ") for g, why in rules.values() if g == "UNSUPPORTED")
    assert rules["ADAPT-1"] == ("PASS", "") and rules["ADAPT-2"] == ("PASS", "")
    assert {g for g, _ in rules.values()} == {"PASS", "UNSUPPORTED"}
    assert report.exit_status == 0


@BOTH
@pytest.mark.rule("ADAPT-1")
@pytest.mark.rule("ADAPT-2")
async def test_every_vector_passes_over_the_wire_against_the_starlette_reference(anyio_backend, starlette_server):
    report = await _report(starlette_server)
    assert report.target == "tasktail-starlette"
    _assert_all_pass(report)


@BOTH
@pytest.mark.rule("ADAPT-1")
@pytest.mark.rule("ADAPT-2")
async def test_every_vector_passes_over_the_wire_against_the_aiohttp_port(anyio_backend, aiohttp_server):
    report = await _report(aiohttp_server)
    assert report.target == "tasktail-aiohttp"
    _assert_all_pass(report)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_planted_bug_fails_by_the_rule_it_breaks(anyio_backend, planted_server):
    """The broken aiohttp variant closes a replaced client with 1000: every vector where a
    client is replaced fails on that close code, and nothing else fails."""
    report = await _report(planted_server)
    assert_fails_only_on_replaced_clients(report)
