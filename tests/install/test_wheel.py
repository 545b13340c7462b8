"""The README's install line for a user's own project works outside this checkout: the
wheel, with the ``harness`` extra, in a fresh venv, runs ``tasktail conform`` and the pytest
plugin on a manager module that sits in the user's folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

USER_MANAGER = textwrap.dedent('''
    """A user's manager, in the user's own folder (not importable from anywhere else)."""
    import json

    import anyio


    class Manager:
        def __init__(self, max_queue_size=100):
            self.max_queue_size = max_queue_size
            self.active_connections, self.message_queues, self.connection_locks = {}, {}, {}

        async def connect(self, websocket, task_id):
            await websocket.accept()
            lock = self.connection_locks.setdefault(task_id, anyio.Lock())
            async with lock:
                self.active_connections[task_id] = websocket
                queue = self.message_queues.setdefault(task_id, [])
                while queue:
                    await websocket.send_text(json.dumps(queue[0]))
                    queue.pop(0)

        def disconnect(self, task_id):
            for d in (self.active_connections, self.message_queues, self.connection_locks):
                d.pop(task_id, None)

        async def send_log(self, task_id, level, message, progress=None, finished=False):
            queue = self.message_queues.setdefault(task_id, [])
            queue.append({"level": level, "message": message, "progress": progress, "finished": finished})
            del queue[:-self.max_queue_size]

        def get_connection_status(self, task_id):
            return task_id in self.active_connections

        def get_queued_message_count(self, task_id):
            return len(self.message_queues.get(task_id, ()))


    def factory(**config):
        return Manager(**config)
''')


@pytest.mark.install
def test_wheel_with_harness_extra_checks_a_users_manager(tmp_path):
    dist, venv, project = tmp_path / "dist", tmp_path / "venv", tmp_path / "project"
    run = lambda *args, **kw: subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)  # noqa: E731
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT))
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("tasktail-*.whl"))
    assert run(sys.executable, "-m", "venv", str(venv)).returncode == 0
    installed = run(str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[harness]", "pytest")
    assert installed.returncode == 0, installed.stderr
    project.mkdir()
    (project / "mymanager.py").write_text(USER_MANAGER)
    # the cwd is importable, as with pytest; this manager never sends a live line: FLUSH-2 FAILs
    conform = run(str(venv / "bin" / "tasktail"), "conform", "mymanager:factory", "--examples", "20",
                  "--rules", "FLUSH-*,CAP-1", cwd=project)
    assert conform.returncode == 1, conform.stdout + conform.stderr
    assert "precondition 'live' failed" in conform.stdout and "FLUSH-2  FAIL" in conform.stdout, conform.stdout
    plugin = run(str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "--tasktail-impl=mymanager:factory", "--tasktail-rules=CAP-1", "--tasktail-examples=20",
                 "--tasktail-backend=asyncio", cwd=project)
    assert "1 passed" in plugin.stdout, plugin.stdout + plugin.stderr
