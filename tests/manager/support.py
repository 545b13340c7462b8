"""Shared helpers for the manager's tests: read a fake socket's frames as the SPEC names them."""

from __future__ import annotations

import json

from tasktail.fakes import FakeWebSocket, WallClock

__all__ = ["FakeWebSocket", "WallClock", "frames", "logs", "seqs", "gaps", "make_manager"]


def frames(ws: FakeWebSocket) -> list[dict]:
    return [json.loads(text) for text in ws.texts()]


def logs(ws: FakeWebSocket) -> list[tuple[int, str]]:
    return [(f["seq"], f["message"]) for f in frames(ws) if f["type"] == "log"]


def seqs(ws: FakeWebSocket) -> list[int]:
    return [seq for seq, _ in logs(ws)]


def gaps(ws: FakeWebSocket) -> list[tuple[int, int, str]]:
    return [(f["first_seq"], f["last_seq"], f["reason"]) for f in frames(ws) if f["type"] == "gap"]


def make_manager(**config):
    from tasktail import ConnectionManager

    config.setdefault("clock", WallClock())
    return ConnectionManager(**config)
