"""Run a Python port in test mode on its own virtual-time asyncio loop, in a thread or not.

``TestServer("starlette")`` (uvicorn) or ``TestServer("aiohttp")`` binds a loopback port
first (clients may connect at once: the kernel holds them), then serves the port's test app
on an :class:`OffsetLoop` sharing the :class:`TestMode`'s clock, with WebSocket pings off
(they would run on the virtual clock). ``start()`` runs it in a daemon thread and returns
at once; ``stop()`` ends it, bounded.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

from tasktail.vectors._corpus import reference_factory

from ._testmode import OffsetLoop, TestMode

__all__ = ["FRAMEWORKS", "TestServer"]

FRAMEWORKS = ("starlette", "aiohttp")


class TestServer:
    """A test-mode server of ``framework`` on ``host:port`` (0: an ephemeral port)."""

    __test__ = False

    def __init__(self, framework: str = "starlette", *, factory: Callable[..., Any] = reference_factory,
                 planted: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 path: str = "/ws/{task}", capabilities: dict[str, Any] | None = None) -> None:
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework={framework!r}; expected one of {FRAMEWORKS}")
        if planted is not None and framework != "aiohttp":
            raise ValueError("planted bugs are the aiohttp port's (tasktail.ports.aiohttp.PLANTED)")
        self.framework, self.factory, self.planted, self.path = framework, factory, planted, path
        self.sock = socket.create_server((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self.mode = TestMode(factory, name=f"tasktail-{framework}" + (f" (planted: {planted})" if planted else ""),
                             capabilities=capabilities)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        """The WebSocket URL template the runner takes (``--url``)."""
        return f"ws://{self.host}:{self.port}{self.path}"

    @property
    def control(self) -> str:
        return f"http://{self.host}:{self.port}/_tasktail"

    def _app(self) -> Any:
        if self.framework == "starlette":
            from ._starlette import starlette_test_app

            return starlette_test_app(mode=self.mode, path=self.path)
        from tasktail.ports.aiohttp import aiohttp_test_app

        return aiohttp_test_app(mode=self.mode, planted=self.planted, path=self.path)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = self._app()
        if self.framework == "starlette":
            import uvicorn

            server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", lifespan="off",
                                                   ws_ping_interval=None, ws_ping_timeout=None,
                                                   timeout_graceful_shutdown=2))
            serving = asyncio.get_running_loop().create_task(server.serve([self.sock]))
            self._ready.set()
            await self._stop.wait()
            server.should_exit = True
            await self.mode.aclose()
            await serving
        else:
            from aiohttp import web

            runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
            await runner.setup()
            await web.SockSite(runner, self.sock).start()
            self._ready.set()
            await self._stop.wait()
            await self.mode.aclose()
            await runner.cleanup()

    def run(self) -> None:
        """Serve in this thread until :meth:`stop` (from another thread) or Ctrl-C."""
        loop = self.loop = OffsetLoop(self.mode.clock)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            if not isinstance(exc, Exception):
                raise
        finally:
            try:
                left = asyncio.all_tasks(loop)
                for task in left:
                    task.cancel()
                if left:
                    loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                self.sock.close()

    def start(self, timeout: float = 15.0) -> TestServer:
        self._thread = threading.Thread(target=self.run, name=f"tasktail-{self.framework}-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the {self.framework} test server did not start within {timeout} s")
        if self.error is not None:
            raise RuntimeError(f"the {self.framework} test server failed to start: {self.error!r}") from self.error
        return self

    def stop(self, timeout: float = 15.0) -> None:
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop closed meanwhile
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the {self.framework} test server did not stop within {timeout} s")
        if self.error is not None:
            raise RuntimeError(f"the {self.framework} test server failed: {self.error!r}") from self.error

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
