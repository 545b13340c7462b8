"""The Node.js port (``ports/node``, on the ``ws`` package) passes its own tests: the vectors
replayed in-process by its Node runner, its planted-bug variants failing by the rule they
break, and its real server over loopback (every vector over the wire, through its
``tasktail-control/1`` surface). These need Node >= 20 and the port's dependencies, installed
from the lockfile by ``bash .ci/install-node-deps``; without them the tests fail, naming that
command (never a skip)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORT = ROOT / "ports" / "node"
INSTALL = "bash .ci/install-node-deps   (runs `npm ci` in ports/node; needs Node >= 20 and npm)"
NPM_TEST_BOUND = 300  # seconds: the whole `npm test` takes about 10


def _node_ready() -> None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not on PATH; install Node >= 20 and npm, then run: {INSTALL}")
    if not (PORT / "node_modules" / "ws" / "package.json").is_file():
        pytest.fail(f"ports/node/node_modules is missing (the ws package); run: {INSTALL}")


def _run(args: list[str], bound: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, cwd=PORT, capture_output=True, text=True, timeout=bound, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(args)} did not finish within {bound} s:\n{exc.stdout or ''}\n{exc.stderr or ''}")


def test_package_has_ws_as_its_only_runtime_dependency_and_a_lockfile():
    package = json.loads((PORT / "package.json").read_text(encoding="utf-8"))
    assert list(package["dependencies"]) == ["ws"]
    lock = json.loads((PORT / "package-lock.json").read_text(encoding="utf-8"))
    assert "node_modules/ws" in lock["packages"]


def test_npm_test_passes():
    _node_ready()
    result = _run(["npm", "test", "--silent"], NPM_TEST_BOUND)
    assert result.returncode == 0, f"npm test failed in ports/node:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert "# fail 0" in result.stdout


def test_node_vector_runner_passes_every_vector_and_the_planted_bug_fails_its_rule():
    _node_ready()
    good = _run(["node", "vectors.js", "--json"], 120)
    assert good.returncode == 0, good.stdout[-4000:] + good.stderr[-2000:]
    report = json.loads(good.stdout)
    corpus = sorted(p.stem for p in (ROOT / "tasktail" / "vectors" / "corpus").glob("*.json"))
    assert sorted(v["vector"] for v in report["vectors"]) == corpus
    assert {v["grade"] for v in report["vectors"]} <= {"PASS", "NON-STRICT"}
    bad = _run(["node", "vectors.js", "--json", "--planted-bug", "lifo-flush"], 120)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["rules"]["ORD-2"] == "FAIL"
