"""The soak's per-client checks find what they are meant to find (no server needed)."""

from __future__ import annotations

import json

import pytest

from ._record import Client, Socket, check_client, frame_span


def log(seq: int, finished: bool = False, task_id: str = "t") -> str:
    return json.dumps({"type": "log", "task_id": task_id, "seq": seq, "timestamp": "", "level": "info",
                       "message": f"m{seq} x", "progress": None, "finished": finished})


def gap(first: int, last: int, reason: str = "dropped", count: int | None = None) -> str:
    return json.dumps({"type": "gap", "task_id": "t", "first_seq": first, "last_seq": last,
                       "count": last - first + 1 if count is None else count, "reason": reason})


def client(*sockets: tuple[int | None, list[str]]) -> Client:
    seen = Client("t")
    for after_seq, frames in sockets:
        seen.sockets.append(record := Socket("read", after_seq))
        for text in frames:
            kind, first, last, finished = frame_span(seen, text)
            record.spans.append((kind, first, last))
            if finished:
                seen.finished_seq = last
    return seen


def test_a_clean_history_passes():
    seen = client((None, [log(1), gap(2, 4), log(5)]),  # dropped before anyone read them
                  (5, [log(6), log(7)]),  # resumed where it was
                  (3, [gap(4, 5, "expired"), log(6), log(7), log(8, True)]))  # asked for 4.. again
    assert check_client(seen, 8) == []
    assert seen.counts()["repeated"] == 2


@pytest.mark.parametrize(("sockets", "expected"), [
    ([(None, [log(1), log(3, True)])], "seqs 2..2 missing, with no gap notice"),
    ([(None, [log(1), log(2), log(2), log(3, True)])], "log 2..2 after 2: out of order or repeated"),
    ([(None, [log(2), log(1), log(3, True)])], "seqs 1..1 missing"),
    ([(None, [log(1), log(2)]), (2, [log(2), log(3, True)])], "log 2..2 after 2: out of order or repeated"),
    ([(None, [log(1), log(2)]), (1, [gap(3, 3), log(4, True)])], "seqs 2..2 missing"),
    ([(None, [log(1), log(2)])], "finished frame seen at None, the task ended at 2"),
    ([(None, [log(1), gap(2, 3, count=5), log(4, True)])], "malformed gap notice"),
    ([(None, [log(1, task_id="u"), log(2, True)])], "frame for another task"),
])
def test_each_kind_of_fault_is_reported(sockets, expected):
    seen = client(*sockets)
    last = max(last for s in seen.sockets for _, _, last in s.spans)
    problems = check_client(seen, last if seen.finished_seq is not None else 2)
    assert any(expected in problem for problem in problems), problems


def test_a_message_under_the_wrong_seq_is_reported():
    seen = client((None, [log(1), log(2, True).replace('"m2 x"', '"m7 x"')]))
    assert check_client(seen, 2) == ["seq 2 carries message 'm7 x'"]
