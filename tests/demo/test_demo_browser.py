"""The demo page in a real headless chromium (Debian's; nothing is downloaded).

If chromium is missing or cannot start this FAILS with what to install: run
``bash .ci/install-browser``. Set ``TASKTAIL_SCREENSHOT=docs/screenshot.png`` to also save
the mid-task screenshot there (the README's picture is made this way).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasktail import CloseCode

from ._cdp import launch
from ._server import csv_bytes, serve_demo

pytestmark = [pytest.mark.anyio, pytest.mark.real_server, pytest.mark.browser]

CARD = "[...document.querySelectorAll('.task')].find((t) => t.querySelector('.label').textContent === %r)"
STATE = """(() => { const card = %s; if (!card) return null; return {
  id: card.dataset.taskId, state: card.dataset.state,
  progress: Number(card.querySelector('.bar').getAttribute('aria-valuenow')),
  seqs: [...card.querySelectorAll('li[data-seq]')].map((li) => Number(li.dataset.seq)),
  gaps: card.querySelectorAll('li.gap').length,
  last: card.querySelector('li:last-child .msg')?.textContent,
  conn: card.querySelector('.conn').dataset.state }; })()"""


def card(label: str) -> str:
    return CARD % label


async def test_page_follows_tasks_live_and_resumes_after_reload(tmp_path):
    shots = [tmp_path / "mid-task.png"]
    if os.environ.get("TASKTAIL_SCREENSHOT"):
        shots.append(Path(os.environ["TASKTAIL_SCREENSHOT"]))
    upload = tmp_path / "weather.csv"
    upload.write_bytes(csv_bytes(40))
    training = "training, 60 epochs"
    async with launch(tmp_path / "profile", height=560) as page, serve_demo(pace=0.1, epochs=60) as server:
        await page.goto(server.url + "/")
        await page.evaluate("document.querySelector('#train-form button').click()")
        await page.wait_for(f"{card(training)}?.querySelector('.conn').dataset.state === 'connected'")
        await page.set_files("#csv-file", upload)
        await page.evaluate("document.querySelector('#csv-form button').click()")

        # Mid-task: the bar moves while the job runs. Picture it, then reload the page.
        await page.wait_for(f"Number({card('weather.csv')}?.querySelector('.bar').getAttribute('aria-valuenow')) >= 30")
        await page.screenshot(*shots)
        before = await page.evaluate(STATE % card("weather.csv"))
        assert before["state"] == "running" and before["seqs"] == list(range(1, len(before["seqs"]) + 1))
        await page.reload()
        restored = await page.evaluate(STATE % card("weather.csv"))
        assert restored["seqs"][: len(before["seqs"])] == before["seqs"]  # re-rendered from the tab's storage

        # The server drops the training run's socket (as a send timeout would): the page
        # shows it is disconnected, reconnects with after_seq by itself, and misses nothing.
        train = await page.evaluate(STATE % card(training))
        assert not server.manager.task_statistics(train["id"]).finished, "the run must still be going"
        await page.evaluate(f"""(() => {{ window.connStates = [];
            const badge = {card(training)}.querySelector('.conn');
            new MutationObserver(() => window.connStates.push(badge.dataset.state))
              .observe(badge, {{attributes: true, attributeFilter: ['data-state']}}); }})()""")
        await server.manager.wait_until(lambda: server.manager.get_connection_status(train["id"]))
        websocket = server.manager.active_connections[train["id"]]
        server.manager.detach(train["id"], websocket, CloseCode.SEND_TIMEOUT, "send timed out")
        await page.wait_for("window.connStates.includes('disconnected') && "
                            "window.connStates.at(-1) === 'connected'")

        done = {}
        for label in ("weather.csv", training):
            await page.wait_for(f"{card(label)}?.dataset.state === 'success'", timeout=30)
            done[label] = await page.evaluate(STATE % card(label))
        online = await page.evaluate("document.querySelector('#online').textContent")

    csv_state = done["weather.csv"]
    assert csv_state["seqs"] == list(range(1, len(csv_state["seqs"]) + 1))  # no gap, no repeat
    assert csv_state["gaps"] == 0 and csv_state["progress"] == 100
    assert csv_state["last"] == "weather.csv: 40 rows x 3 columns processed"
    assert csv_state["conn"] == "closed"
    train_state = done[training]
    assert train_state["seqs"] == list(range(1, len(train_state["seqs"]) + 1))
    assert train_state["gaps"] == 0 and train_state["last"].startswith("training finished")
    assert online == "no live tasks"
    # The reload resumed mid-task: a connect for the CSV task asked for after_seq > 0
    # before it finished, and so did the training run's reconnect after the drop.
    resumed = {(task, bool(after and not finished)) for task, after, finished, _ in server.manager.connects}
    assert (csv_state["id"], True) in resumed and (train_state["id"], True) in resumed
    # ...and named the incarnation its after_seq belongs to (the epoch from its hello frame, WIRE-4)
    assert all(epoch for _, after, _, epoch in server.manager.connects if after)
    assert all(epoch is not None for *_, epoch in server.manager.connects)  # every page connect asks for hello
    assert all(shot.stat().st_size > 10_000 for shot in shots)


async def test_page_told_of_a_new_incarnation_starts_the_card_over(tmp_path):
    """The task is reset on the server and its id reused while the page is disconnected:
    coming back, the page resumes with its old epoch, gets a ``reset`` frame (WIRE-4, RES-4) and
    shows the new incarnation from its first line, never the new seqs as if they were old."""
    training = "training, 40 epochs"
    async with launch(tmp_path / "profile") as page, serve_demo(pace=0.05, epochs=40) as server:
        await page.goto(server.url + "/")
        await page.evaluate("document.querySelector('#train-form button').click()")
        await page.wait_for(f"{card(training)}?.querySelectorAll('li[data-seq]').length >= 5")
        before = await page.evaluate(STATE % card(training))
        task_id = before["id"]
        old_epoch = await page.evaluate(f"JSON.parse(sessionStorage.getItem('tasktail.task.{task_id}')).epoch")
        assert old_epoch

        # The server drops the page's socket as a send timeout would (4001: the page comes
        # back after its backoff, >= 200 ms), and before that, in the same run of the
        # server's loop, forgets the task and reuses its id: the job's next lines, and this
        # one, are a new incarnation.
        await server.manager.wait_until(lambda: server.manager.get_connection_status(task_id))
        websocket = server.manager.active_connections[task_id]
        server.manager.detach(task_id, websocket, CloseCode.SEND_TIMEOUT, "send timed out")
        server.manager.disconnect(task_id)
        first = await server.manager.send_log(task_id, "info", "a new incarnation begins")
        assert first.seq == 1

        await page.wait_for(f"{card(training)}?.dataset.state === 'success'", timeout=30)
        after = await page.evaluate(STATE % card(training))
        notices = await page.evaluate(f"[...{card(training)}.querySelectorAll('li.gap')].map((li) => li.textContent)")
        new_epoch = await page.evaluate(f"JSON.parse(sessionStorage.getItem('tasktail.task.{task_id}')).epoch")

    # the page came back with the old incarnation's epoch and a resume point in it...
    assert any(t == task_id and after_seq and epoch == old_epoch for t, after_seq, _, epoch in server.manager.connects)
    # ...was told, and shows the new incarnation from seq 1 with nothing missing or repeated
    assert len(notices) == 1 and "restarted" in notices[0], notices  # told once; no gap line
    assert new_epoch and new_epoch != old_epoch
    assert after["seqs"] == list(range(1, len(after["seqs"]) + 1)) and after["seqs"][0] == 1
    assert after["last"].startswith("training finished")
