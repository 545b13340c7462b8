"""Just enough of the Chrome DevTools protocol to test a page, over ``websockets``.

Launches Debian's chromium headless (never downloads a browser), opens one page, and offers
navigate / reload / evaluate / wait_for (a MutationObserver in the page, bounded by a
timeout) / set_files / screenshot. A browser that cannot start fails the test with what
to install, never a skip.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["Page", "find_chromium", "launch"]

INSTALL_HINT = "run `bash .ci/install-browser` (installs Debian's chromium) or set TASKTAIL_CHROMIUM"
_ENDPOINT = re.compile(r"DevTools listening on (ws://\S+)")
_WAIT_JS = """new Promise((resolve, reject) => {
  const test = () => { try { return (%s); } catch (e) { return false; } };
  let observer, timer;
  const check = () => {
    const value = test();
    if (value) { observer.disconnect(); clearTimeout(timer); resolve(value); }
  };
  observer = new MutationObserver(check);
  timer = setTimeout(() => {
    observer.disconnect();
    reject(new Error("timed out after %d ms waiting for: " + %s));
  }, %d);
  observer.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  check();
})"""


def find_chromium() -> str:
    for candidate in (os.environ.get("TASKTAIL_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(f"no chromium found for the browser tests: {INSTALL_HINT}", pytrace=False)


class Page:
    """One browser tab, attached with a flat session."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws, self._ids, self.session = ws, itertools.count(1), None
        self._replies: dict[int, list] = {}
        self._waiters: dict[str, list[anyio.Event]] = {}

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._read_all()

    async def _read_all(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            if "id" in message and message["id"] in self._replies:
                slot = self._replies[message["id"]]
                slot.append(message)
                slot[0].set()
            for event in self._waiters.pop(message.get("method", ""), []):
                event.set()

    async def send(self, method: str, params: dict | None = None, *, browser: bool = False) -> dict:
        call_id = next(self._ids)
        slot = self._replies[call_id] = [anyio.Event()]
        call = {"id": call_id, "method": method, "params": params or {}}
        if not browser and self.session:
            call["sessionId"] = self.session
        await self._ws.send(json.dumps(call))
        with anyio.fail_after(30):
            await slot[0].wait()
        reply = self._replies.pop(call_id)[1]
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def expect(self, method: str) -> anyio.Event:
        """An event set when ``method`` next arrives; call before the action that causes it."""
        event = anyio.Event()
        self._waiters.setdefault(method, []).append(event)
        return event

    async def _load(self, method: str, params: dict | None = None) -> None:
        loaded = self.expect("Page.loadEventFired")
        await self.send(method, params)
        with anyio.fail_after(30):
            await loaded.wait()

    async def goto(self, url: str) -> None:
        await self._load("Page.navigate", {"url": url})

    async def reload(self) -> None:
        await self._load("Page.reload")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                      "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise AssertionError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    async def wait_for(self, condition: str, timeout: float = 15) -> Any:
        """The first truthy value of the JS ``condition``, re-checked on every DOM change."""
        millis = int(timeout * 1000)
        return await self.evaluate(_WAIT_JS % (condition, millis, json.dumps(condition), millis))

    async def set_files(self, selector: str, *paths: Path) -> None:
        root = (await self.send("DOM.getDocument", {"depth": 0}))["root"]["nodeId"]
        node = (await self.send("DOM.querySelector", {"nodeId": root, "selector": selector}))["nodeId"]
        await self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})

    async def screenshot(self, *paths: Path) -> None:
        data = base64.b64decode((await self.send("Page.captureScreenshot", {"format": "png"}))["data"])
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@contextlib.asynccontextmanager
async def launch(profile: Path, *, width: int = 1280, height: int = 860) -> AsyncIterator[Page]:
    """Start headless chromium with a fresh profile and yield its one page."""
    executable = find_chromium()
    args = [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--mute-audio",
            f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"]
    try:
        process = await anyio.open_process(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    except OSError as exc:
        pytest.fail(f"chromium ({executable}) did not start: {exc}; {INSTALL_HINT}", pytrace=False)
    # Read stderr up to the endpoint line before any task group exists, so that a browser
    # that cannot start fails the test with a plain message, not an exception group.
    stderr: list[str] = []
    endpoint = None
    with anyio.move_on_after(30):
        buffer = ""
        async for chunk in process.stderr:
            *lines, buffer = (buffer + chunk.decode(errors="replace")).split("\n")
            stderr += lines
            if match := next(filter(None, map(_ENDPOINT.search, lines)), None):
                endpoint = match.group(1)
                break
    if endpoint is None:
        if process.returncode is None:
            process.kill()
        with anyio.move_on_after(5):
            await process.aclose()
        tail = "\n".join(stderr[-15:])
        pytest.fail(f"chromium ({executable}) did not open its DevTools endpoint; {INSTALL_HINT}."
                    f"\nIts stderr ends with:\n{tail}", pytrace=False)

    async def drain() -> None:  # keep reading, or a chatty browser blocks on a full pipe
        async for _ in process.stderr:
            pass

    async with process, anyio.create_task_group() as group:
        group.start_soon(drain)
        try:
            async with connect(endpoint, max_size=None, open_timeout=30) as ws:
                page = Page(ws)
                group.start_soon(page._read)
                target = (await page.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
                page.session = (await page.send("Target.attachToTarget",
                                                {"targetId": target, "flatten": True}))["sessionId"]
                for domain in ("Page.enable", "Runtime.enable", "DOM.enable"):
                    await page.send(domain)
                await page.send("Emulation.setDeviceMetricsOverride",
                                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
                yield page
                with contextlib.suppress(Exception):
                    await page.send("Browser.close", browser=True)
                    with anyio.move_on_after(10):
                        await process.wait()
        finally:
            if process.returncode is None:
                process.terminate()
                with anyio.move_on_after(5, shield=True):
                    await process.wait()
            if process.returncode is None:
                process.kill()
            group.cancel_scope.cancel()
