"""Alternative delivery designs, written here as minimal sketches: a writer task per
connection with three buffers. They skip validation, gap notices and resume, so their
numbers are a lower bound for the design."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import anyio

from ..manager import LogMessage

from ._subject import Params, _GroupBase


# -- writer task per connection ------------------------------------------------------------


class _WState:
    __slots__ = ("seq", "buf", "tx", "rx", "scope", "wake", "dropped")

    def __init__(self) -> None:
        self.seq = 0
        self.buf: Any = None
        self.tx = self.rx = None
        self.scope: anyio.CancelScope | None = None
        self.wake: anyio.Event | None = None
        self.dropped = 0


class _WriterTask(_GroupBase):
    """Producers only enqueue; one writer task per connection sends. Buffers: ``deque``
    (deque + Event), ``stream`` (anyio memory object stream), ``asyncio`` (asyncio.Queue).
    Drop-oldest at the cap; no validation, gap notices or resume (a sketch of the design)."""

    sync_delivery = False

    def __init__(self, params: Params, buffer: str) -> None:
        self.cap = params.max_queue_size
        self.timeout = params.send_timeout
        self.buffer = buffer
        self.tasks: dict[str, _WState] = {}
        self.clock = time.time
        self.send = {"deque": self._send_deque, "stream": self._send_stream, "asyncio": self._send_asyncio}[buffer]

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        for state in self.tasks.values():
            if state.tx is not None:
                state.tx.close()
                state.rx.close()

    def _new(self, task_id: str) -> _WState:
        state = self.tasks[task_id] = _WState()
        if self.buffer == "deque":
            state.buf = deque()
        elif self.buffer == "stream":
            state.tx, state.rx = anyio.create_memory_object_stream[LogMessage](self.cap)
        else:
            import asyncio

            state.buf = asyncio.Queue(self.cap)
        return state

    def _entry(self, task_id, level, message, progress, finished) -> tuple[_WState, LogMessage]:
        """The task's state and its next message: the part every buffer variant shares."""
        state = self.tasks.get(task_id) or self._new(task_id)
        state.seq = seq = state.seq + 1
        return state, LogMessage(task_id, seq, self.clock(), level, message, progress, finished)

    async def _send_deque(self, task_id, level, message, progress=None, finished=False):
        state, entry = self._entry(task_id, level, message, progress, finished)
        buf = state.buf
        if len(buf) >= self.cap:
            buf.popleft()
            state.dropped += 1
        buf.append(entry)
        wake = state.wake
        if wake is not None:
            state.wake = None
            wake.set()
        return entry

    async def _send_stream(self, task_id, level, message, progress=None, finished=False):
        state, entry = self._entry(task_id, level, message, progress, finished)
        try:
            state.tx.send_nowait(entry)
        except anyio.WouldBlock:
            state.rx.receive_nowait()
            state.dropped += 1
            state.tx.send_nowait(entry)
        return entry

    async def _send_asyncio(self, task_id, level, message, progress=None, finished=False):
        import asyncio

        state, entry = self._entry(task_id, level, message, progress, finished)
        try:
            state.buf.put_nowait(entry)
        except asyncio.QueueFull:
            state.buf.get_nowait()
            state.dropped += 1
            state.buf.put_nowait(entry)
        return entry

    async def connect(self, websocket: Any, task_id: str) -> None:
        await websocket.accept()
        state = self.tasks.get(task_id) or self._new(task_id)
        if state.scope is not None:
            state.scope.cancel()
        state.scope = scope = anyio.CancelScope()
        self._tg.start_soon(self._writer, state, websocket, scope)

    def detach(self, task_id: str, websocket: Any) -> None:
        state = self.tasks.get(task_id)
        if state is not None and state.scope is not None:
            state.scope.cancel()
            state.scope = None

    async def _writer(self, state: _WState, websocket: Any, scope: anyio.CancelScope) -> None:
        send_text, timeout = websocket.send_text, self.timeout
        with scope:
            try:
                if self.buffer == "deque":
                    buf = state.buf
                    while True:
                        while buf:
                            with anyio.fail_after(timeout):
                                await send_text(buf[0].to_json())
                            buf.popleft()
                        state.wake = wake = anyio.Event()
                        await wake.wait()
                elif self.buffer == "stream":
                    async for entry in state.rx:
                        with anyio.fail_after(timeout):
                            await send_text(entry.to_json())
                else:
                    queue = state.buf
                    while True:
                        entry = await queue.get()
                        with anyio.fail_after(timeout):
                            await send_text(entry.to_json())
            except Exception:
                state.wake = None
                with anyio.move_on_after(timeout):
                    await websocket.close(code=4001, reason="send failed")
