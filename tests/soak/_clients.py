"""Soak clients: real ``websockets`` clients that follow one task over successive sockets.

Each socket gets one behaviour, drawn from a seeded RNG:

- ``read``: read some frames (or to the end), then close cleanly and resume later;
- ``slow``: the same, pausing a few milliseconds before each read;
- ``stall``: stop reading with tiny buffers, so TCP backs up until the manager's
  ``send_timeout`` fires; then drop the socket (what it never read is lost to it);
- ``abort``: read a few frames, then drop the TCP connection with no close handshake;
- ``race``: open a second socket for the same task; the first must be closed with 4000.

Every socket after the first resumes with ``?after_seq=`` the highest seq the client has
covered, or now and then an earlier one (asking for some frames again).
"""

from __future__ import annotations

import random
import socket as sockets
from collections import Counter
from dataclasses import dataclass, field
from itertools import count

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ._record import Client, Socket, frame_span

__all__ = ["Soak", "run_client"]

BEHAVIOURS = ("read", "read", "read", "slow", "slow", "stall", "stall", "abort", "abort", "race")


@dataclass
class Soak:
    """What the clients share: where the server is and the server's side of each socket."""

    port: int  # of the server on 127.0.0.1
    messages: int  # per task
    stall_limit: float  # seconds a stalled client waits for the server to give up on it
    ended: dict[str, anyio.Event] = field(default_factory=dict)  # socket id -> endpoint returned
    events: Counter = field(default_factory=Counter)
    _ids: count = field(default_factory=count)

    async def open(self, client: Client, behaviour: str, after_seq: int | None,
                   stall: bool = False) -> tuple[ClientConnection, Socket, str]:
        sid = str(next(self._ids))
        self.ended[sid] = anyio.Event()
        query = f"?c={sid}" + ("" if after_seq is None else f"&after_seq={after_seq}")
        # Unbounded on other sockets: with websockets' default of 16 frames, a client that
        # closes while frames keep coming stops reading at 16 and never sees the server's
        # close frame behind them, so close() waits out close_timeout and ends with 1006.
        kwargs: dict = {"max_queue": None}
        if stall:  # small buffers on the client's side, and it stops reading after one frame
            sock = sockets.socket()
            sock.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)  # before connect: sets the window
            sock.connect(("127.0.0.1", self.port))  # loopback: the kernel completes it at once
            kwargs = {"sock": sock, "max_queue": 1}
        url = f"ws://127.0.0.1:{self.port}/ws/{client.task_id}{query}"
        ws = await connect(url, compression=None, open_timeout=10, **kwargs)
        record = Socket(behaviour, after_seq)
        client.sockets.append(record)
        return ws, record, sid


async def _read(client: Client, ws: ClientConnection, record: Socket, limit: int | None,
                pause: float = 0.0) -> bool:
    """Read up to ``limit`` frames; True if the socket is still open afterwards."""
    n = 0
    while limit is None or n < limit:
        if pause:
            await anyio.sleep(pause)  # a slow reader: load shaping, not a wait for an event
        try:
            text = await ws.recv()
        except ConnectionClosed:
            record.close_code = ws.close_code
            return False
        kind, first, last, finished = frame_span(client, text)
        record.spans.append((kind, first, last))
        n += 1
        if finished:
            client.finished_seq = last
            return True
    return True


async def run_client(soak: Soak, client: Client, rng: random.Random) -> None:
    """Follow ``client.task_id`` until its finished frame, changing sockets as drawn."""
    first = True
    while client.finished_seq is None:
        behaviour = rng.choice(BEHAVIOURS)
        cursor = client.cursor
        if behaviour == "stall" and cursor > soak.messages * 0.6:
            behaviour = "abort"  # too little left to back TCP up: the stall would not bite
        if first:
            after_seq = None
        elif rng.random() < 0.15:
            after_seq = rng.randint(max(0, cursor - 40), cursor)  # ask for some again
        else:
            after_seq = cursor
        first = False
        ws, record, sid = await soak.open(client, behaviour, after_seq, stall=behaviour == "stall")
        soak.events[behaviour] += 1
        soak.events["resumed"] += after_seq is not None
        if behaviour in ("read", "slow"):
            limit = None if rng.random() < 0.3 else rng.randint(5, 60)
            pause = rng.uniform(0.001, 0.004) if behaviour == "slow" else 0.0
            if await _read(client, ws, record, limit, pause):
                await ws.close()
        elif behaviour == "abort":
            if await _read(client, ws, record, rng.randint(0, 20)):
                ws.transport.abort()
                soak.events["aborted"] += 1
        elif behaviour == "stall":
            if await _read(client, ws, record, rng.randint(0, 3)):
                with anyio.move_on_after(soak.stall_limit):
                    await soak.ended[sid].wait()
                record.server_ended = soak.ended[sid].is_set()
                soak.events["timed_out" if record.server_ended else "stall_not_timed_out"] += 1
                ws.transport.abort()
        else:  # race
            if await _read(client, ws, record, rng.randint(1, 20)) and client.finished_seq is None:
                successor, successor_record, _ = await soak.open(client, "race-successor", client.cursor)
                if await _read(client, ws, record, None):  # the old socket, until it is closed
                    await ws.close()  # finished on the old one before the swap reached it
                soak.events["replaced"] += record.close_code == 4000
                if await _read(client, successor, successor_record, None):
                    await successor.close()
            elif client.finished_seq is not None:
                await ws.close()
