"""``tasktail conform --url`` end to end: table, Autobahn-shaped index JSON, JUnit, exit status."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tasktail._cli import main
from tasktail.vectors import load

pytestmark = pytest.mark.real_server
VECTOR_IDS = {v["id"] for v in load()}


def test_conform_url_writes_the_table_the_index_and_junit(starlette_server, tmp_path, capsys):
    index, junit = tmp_path / "index.json", tmp_path / "junit.xml"
    status = main(["conform", "--url", starlette_server.url, "--programs", "2", "--json", str(index),
                   "--junit", str(junit)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"tasktail conformance over the wire: tasktail-starlette at {starlette_server.url}" in out
    assert "cases: PASS: 58  NON-STRICT: 0  UNSUPPORTED: 0  FAIL: 0" in out
    assert "STAT-1    UNSUPPORTED  needs in-process control: " in out
    cases = json.loads(index.read_text())["tasktail-starlette"]
    assert set(cases) == VECTOR_IDS | {"program-0-0", "program-0-1"}
    assert {c["behavior"] for c in cases.values()} == {"PASS"}
    assert all(isinstance(c["duration"], int) and c["rules"] for c in cases.values())
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("58", "0", "0")


def test_conform_url_exits_1_when_a_rule_fails(planted_server, tmp_path, capsys):
    junit = tmp_path / "junit.xml"
    status = main(["conform", "--url", planted_server.url, "--programs", "0", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert status == 1
    assert "REPL-1    FAIL" in out and "close expected 4000, got 1000" in out
    suite = ET.parse(junit).getroot()
    assert int(suite.get("failures")) >= 5
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert all("4000" in c.find("failure").get("message") for c in failures)


def test_conform_url_exits_2_when_nobody_answers(capsys):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as sock:  # bound, closed before use: nobody listens there
        port = sock.getsockname()[1]
    status = main(["conform", "--url", f"ws://127.0.0.1:{port}/ws/{{task}}", "--timeout", "2"])
    assert status == 2
    assert "cannot connect" in capsys.readouterr().err


def test_conform_url_needs_the_task_placeholder(capsys):
    assert main(["conform", "--url", "ws://127.0.0.1:9/ws/logs"]) == 2
    assert "{task}" in capsys.readouterr().err
