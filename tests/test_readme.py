"""The README's quickstart is the file examples/quickstart.py, and it runs; .ci/run is its test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent


def test_readme_quickstart_is_the_example_file():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert (ROOT / "examples" / "quickstart.py").read_text() in blocks


@pytest.mark.rule("ADAPT-1")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_quickstart_streams_a_background_job(backend):
    from examples import quickstart

    with TestClient(quickstart.app, backend=backend) as client:
        # TestClient runs background tasks before returning: the job logs before the
        # browser comes, and the connect flushes all of it.
        assert client.post("/tasks/report-1?rows=3&pace=0").json() == {"logs": "/ws/report-1"}
        with client.websocket_connect("/ws/report-1") as ws:
            frames = [ws.receive_json() for _ in range(4)]
        with client.websocket_connect("/ws/report-1?after_seq=2") as ws:  # a reloaded page
            resumed = [ws.receive_json() for _ in range(2)]
    assert [f["message"] for f in frames] == ["row 1/3", "row 2/3", "row 3/3", "3 rows done"]
    assert frames[-1]["finished"] is True and frames[-1]["level"] == "success"
    assert [f["seq"] for f in resumed] == [3, 4]
    quickstart.manager.disconnect("report-1")


def test_ci_runs_exactly_the_readmes_test_command():
    """README: ".ci/run runs exactly the second command" (the one that runs the tests)."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(.*?)\n```", readme.split("## Two commands", 1)[1].split("\n## ", 1)[0], re.S)
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert len(commands) == 2 and ci == [commands[1].strip()]

