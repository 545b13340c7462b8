"""The Node.js port judged by *our* wire runner (``tasktail conform --url``), not only by its
own Node player: its real server in test mode on a loopback ephemeral port passes every
vector and a batch of generated programs checked against the reference; its planted-bug
variant ``no-4000`` fails by REPL-1. Needs Node and the port's dependencies
(``bash .ci/install-node-deps``); without them the tests fail, naming that command."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import anyio
import pytest

from tasktail.vectors import load
from tasktail.wire import run_wire

from ..wire._planted import assert_fails_only_on_replaced_clients
from .test_node_port import PORT, _node_ready

pytestmark = [pytest.mark.anyio, pytest.mark.real_server]
BOTH = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])  # the runner's loop
VECTORS = load()


def _serve_node(*extra: str) -> Iterator[str]:
    _node_ready()
    process = subprocess.Popen(["node", "server.js", "--port", "0", "--test-mode", *extra], cwd=PORT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()  # the server prints its address first, then serves
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        assert match, f"node server.js did not start: {line!r}"
        yield f"ws://127.0.0.1:{match.group(1)}/ws/{{task}}"
    finally:
        process.kill()
        process.wait(timeout=15)
        process.stdout.close()


@pytest.fixture(scope="module")
def node_server() -> Iterator[str]:
    yield from _serve_node()


@pytest.fixture(scope="module")
def node_planted_server() -> Iterator[str]:
    yield from _serve_node("--planted-bug", "no-4000")


@BOTH
async def test_node_port_passes_every_vector_and_generated_programs_over_the_wire(anyio_backend, node_server):
    with anyio.fail_after(240):
        report = await run_wire(node_server, programs=40, seed=3)
    assert report.target == "tasktail-node"
    assert {v.vector: (v.grade, v.problems) for v in report.verdicts if v.grade != "PASS"} == {}
    assert len(report.verdicts) == len(VECTORS) + 40
    rules = report.per_rule()
    assert rules["REPL-1"] == ("PASS", "") and rules["ADAPT-2"] == ("PASS", "")
    assert report.exit_status == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_node_planted_bug_fails_repl1_over_the_wire(anyio_backend, node_planted_server):
    """``--planted-bug no-4000`` closes a replaced client with 1000: the vectors that replace a
    client fail on that close code, and the rest pass."""
    with anyio.fail_after(240):
        report = await run_wire(node_planted_server)
    assert_fails_only_on_replaced_clients(report)
