"""Expected outcomes: made from a reference run (``expectation``) and compared (``judge``).

Matchers stand where a value cannot be predicted:
``{"$match": "iso8601"}`` a timestamp ``YYYY-MM-DDTHH:MM:SS.ffffffZ``;
``{"$match": "epoch"}`` 1..64 printable ASCII characters, with ``"differs_from": [clients]``
it must differ from the epoch of each named client's opening frame;
``{"$epoch_of": "c1"}`` equal to the epoch of client ``c1``'s opening (hello/reset) frame.
Everything else is compared by JSON value and type (``50`` is not ``50.0``; ``true`` is not
``1``); a full judge also compares the order of a frame's keys (WIRE-1), and a ``reset``
frame whose ``epoch`` equals its ``stale_epoch`` never matches (WIRE-4).
"""

from __future__ import annotations

import re
from typing import Any

ISO8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
EPOCH = re.compile(r"^[\x21-\x7e]{1,64}$")
PROTOCOL = ("log", "gap", "hello", "reset")
SEED_FIELDS = ("level", "message", "progress", "finished")


def _opening_epoch(frames: list[Any]) -> str | None:
    if frames and isinstance(frames[0], dict) and frames[0].get("type") in ("hello", "reset"):
        epoch = frames[0].get("epoch")
        return epoch if isinstance(epoch, str) else None
    return None


# -- making an expectation from the reference's outcome -------------------------------------

def expectation(outcome: dict[str, Any], *, exact_time: bool = False) -> dict[str, Any]:
    """The reference's outcome with unpredictable fields replaced by matchers."""
    openings: dict[str, str] = {}
    clients = {}
    for name, client in outcome["clients"].items():
        frames = []
        for frame in client["frames"]:
            frame = dict(frame)
            if frame.get("type") == "log" and not exact_time:
                frame["timestamp"] = {"$match": "iso8601"}
            for key in ("epoch", "stale_epoch"):
                if frame.get("type") in ("hello", "reset") and key in frame:
                    frame[key] = _epoch_matcher(frame[key], openings)
            frames.append(frame)
        epoch = _opening_epoch(client["frames"])
        if epoch is not None:
            openings[name] = epoch
        clients[name] = {**client, "frames": frames}
    return {"clients": clients, "steps": outcome["steps"]}


def _epoch_matcher(value: str, openings: dict[str, str]) -> dict[str, Any]:
    for name, epoch in openings.items():
        if epoch == value:
            return {"$epoch_of": name}
    matcher: dict[str, Any] = {"$match": "epoch"}
    if openings:
        matcher["differs_from"] = list(openings)
    return matcher


# -- judging ----------------------------------------------------------------------------------

def _same(expected: Any, actual: Any, openings: dict[str, str], *, key_order: bool) -> bool:
    if isinstance(expected, dict) and ("$match" in expected or "$epoch_of" in expected):
        if "$epoch_of" in expected:
            return isinstance(actual, str) and actual == openings.get(expected["$epoch_of"])
        pattern = {"iso8601": ISO8601, "epoch": EPOCH}[expected["$match"]]
        if not (isinstance(actual, str) and pattern.match(actual)):
            return False
        return all(openings.get(name) != actual for name in expected.get("differs_from", ()))
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(expected) != set(actual):
            return False
        if key_order and list(expected) != list(actual):
            return False
        return all(_same(expected[k], actual[k], openings, key_order=key_order) for k in expected)
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(_same(e, a, openings, key_order=key_order) for e, a in zip(expected, actual)))
    return type(expected) is type(actual) and expected == actual


def problems(expected: dict[str, Any], outcome: dict[str, Any], *, seed: bool = False) -> list[str]:
    """How ``outcome`` differs from one expected outcome (empty: it matches).

    A ``seed`` judge (a manager with the seed's API only: no seq, gaps, epochs or close
    codes) compares log frames by the seed's fields alone (FID-1), ignores gap, hello and
    reset frames and close codes, and compares step results without seqs."""
    found: list[str] = []
    openings = {name: e for name, c in outcome["clients"].items()
                if (e := _opening_epoch(c["frames"])) is not None}
    for index, (want, got) in enumerate(zip(expected["steps"], outcome["steps"])):
        if seed and want is not None and got is not None:
            want = {k: v for k, v in want.items() if k != "seq"}
            got = {k: v for k, v in got.items() if k != "seq" and (k != "discarded" or v is not None)}
            if "discarded" not in got:
                want.pop("discarded", None)
        if not _same(want, got, openings, key_order=False):
            found.append(f"step {index + 1}: expected {want}, got {got}")
    for name, want in expected["clients"].items():
        got = outcome["clients"].get(name)
        if got is None:
            found.append(f"{name}: never connected")
            continue
        for key in ("accepted", "violations") + (() if seed else ("close",)):
            if want[key] != got[key]:
                found.append(f"{name}: {key} expected {want[key]!r}, got {got[key]!r}")
        if seed:
            found += _seed_frames(name, want["frames"], got["frames"])
            continue
        for frame in got["frames"]:
            if isinstance(frame, dict) and frame.get("type") == "reset" and frame.get("epoch") == frame.get("stale_epoch"):
                found.append(f"{name}: a reset frame names its own epoch as stale: {frame}")
        for i in range(max(len(want["frames"]), len(got["frames"]))):
            w = want["frames"][i] if i < len(want["frames"]) else None
            g = got["frames"][i] if i < len(got["frames"]) else None
            if w is None or g is None or not _same(w, g, openings, key_order=True):
                found.append(f"{name}: frame {i + 1} expected {w}, got {g}")
                break
    return found


def _seed_frames(name: str, want: list[Any], got: list[Any]) -> list[str]:
    want = [f for f in want if f.get("type") == "log"]
    got = [f for f in got if not (isinstance(f, dict) and f.get("type") in PROTOCOL[1:])]
    for i in range(max(len(want), len(got))):
        w = want[i] if i < len(want) else None
        g = got[i] if i < len(got) else None
        if w is None or not isinstance(g, dict) or any(
                k not in g or not _same(w[k], g[k], {}, key_order=False) for k in SEED_FIELDS):
            shown = None if w is None else {k: w[k] for k in SEED_FIELDS}
            return [f"{name}: log frame {i + 1} expected {shown}, got {g}"]
    return []


def grade(expect: dict[str, Any], outcome: dict[str, Any], *, seed: bool = False) -> tuple[str, list[str]]:
    """``("PASS" | "NON-STRICT" | "FAIL", problems)``: the first alternative that matches."""
    alternatives = expect.get("alternatives") or [{"grade": "PASS", **expect}]
    first: list[str] | None = None
    for alternative in alternatives:
        found = problems(alternative, outcome, seed=seed)
        if not found:
            return alternative["grade"], []
        first = found if first is None else first
    return "FAIL", first or []
