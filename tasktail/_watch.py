"""``tasktail watch``: a CSV job logs before and after a client connects, in the terminal."""

from __future__ import annotations

import argparse
import json

import anyio

from .manager import ConnectionManager

__all__ = ["main", "run_watch"]


class _TerminalSocket:
    """Prints each frame the manager sends, as a browser's console would."""

    async def accept(self) -> None:
        print("client connected")

    async def send_text(self, text: str) -> None:
        frame = json.loads(text)
        if frame["type"] == "gap":
            print(f"  !! {frame['count']} message(s) dropped: seq {frame['first_seq']}..{frame['last_seq']}")
            return
        bar = "" if frame["progress"] is None else f" [{'#' * int(frame['progress'] // 10):<10}]"
        print(f"  #{frame['seq']:>3} {frame['level']:<7}{bar} {frame['message']}")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        print(f"client closed: {code} {reason}")


async def _job(rows: int) -> None:
    manager = ConnectionManager(max_queue_size=5)
    task = "csv-demo"
    print(f"job starts before any client; queue cap is {manager.max_queue_size}")
    for row in range(1, rows + 1):
        if row == rows // 2:
            print(f"queued: {manager.get_queued_message_count(task)}, "
                  f"dropped: {manager.task_statistics(task).dropped}")
            await manager.connect(_TerminalSocket(), task)
        await manager.send_log(task, "info", f"processed row {row}/{rows}", progress=100 * row / rows)
        await anyio.sleep(0.02)
    await manager.send_log(task, "success", f"{rows} rows processed", progress=100, finished=True)
    print(manager.statistics())


def run_watch(rows: int = 40) -> int:
    anyio.run(_job, rows)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tasktail watch", description=__doc__)
    parser.add_argument("--rows", type=int, default=40, help="rows of the simulated CSV job")
    return run_watch(parser.parse_args(argv).rows)
