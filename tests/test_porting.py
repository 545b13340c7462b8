"""PORTING.md's walkthrough, followed literally: every ``sh`` block runs (``bash -e``) in one
fresh directory, in order, and every block introduced by "Save as `FILE`" is written to that
file first; the ports 8765 and 8766 it names are swapped for free ones. The servers it starts
are real (uvicorn, aiohttp) on loopback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
SAVE_AS = re.compile(r"Save as `([\w.]+)`:\s*$")

pytestmark = pytest.mark.real_server


def _blocks() -> list[tuple[str, str, str | None]]:
    """(language, code, file to save it as) for each fenced block, in order."""
    text = (ROOT / "PORTING.md").read_text()
    found = []
    for match in BLOCK.finditer(text):
        before = text[:match.start()].rstrip().splitlines()[-1] if match.start() else ""
        save = SAVE_AS.search(before)
        found.append((match.group(1), match.group(2), save.group(1) if save else None))
    return found


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def test_the_walkthrough_has_the_steps_it_promises():
    blocks = _blocks()
    shells = [code for lang, code, _ in blocks if lang == "sh"]
    assert len(shells) >= 4
    assert any("tasktail conform --url" in code and "--json" in code and "--junit" in code for code in shells)
    assert any("--planted" in code for code in shells)
    assert [save for _, _, save in blocks if save] == ["my_server.py"]


def test_following_porting_md_gives_a_conformance_report(tmp_path):
    ports = {"8765": str(_free_port()), "8766": str(_free_port())}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    ran = 0
    for lang, code, save in _blocks():
        for old, new in ports.items():
            code = code.replace(old, new)
        if save is not None:
            (tmp_path / save).write_text(code)
            continue
        if lang != "sh":
            continue
        process = subprocess.Popen(["bash", "-e", "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = process.communicate(timeout=180)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever the block left running
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
        assert process.returncode == 0, f"PORTING.md block failed:\n{code}\n--- output ---\n{out}"
        ran += 1
    assert ran >= 4
    assert (tmp_path / "report.xml").read_text().count("<testcase") >= 56
    assert "exit status 1" in (tmp_path / "broken.txt").read_text()
