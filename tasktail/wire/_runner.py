"""Play a vector against a running server over the wire (PROTOCOL.md), judge it in-process.

Theory of operation:

1. The runner is the vector runner contract (``tasktail/vectors/README.md``) with the
   manager behind HTTP: ``reset`` makes the fresh manager, a ``connect`` is a real WebSocket
   client (:class:`WireClient`), the other steps are control calls, and after every step
   the port *settles* (``/settle``) and answers the report: each call's result and what
   each test socket wrote. The runner then waits, bounded, until each client received what
   was written.
2. The outcome is built as in-process: call results from the reports, frames from what the
   clients *received*, close codes from the close frames they received (else the report's:
   a drop, a connection the manager ended and the adapter has not closed).
3. It is judged by the in-process judge (``tasktail.vectors._judge.grade``) against the
   vector's expectation as the adapter shows it (:func:`wire_expectation`): a connect the
   manager refuses as invalid is, behind an adapter, accepted and closed with 1008
   (SPEC ADAPT-2), so such vectors also cite ADAPT-2; vectors whose clients the adapter
   closes with the manager's recorded 4002 also cite ADAPT-1.
4. Every wait is bounded (``timeout`` seconds per control call and per wait for frames);
   what was not answered or received in time is a FAIL naming it, never a hang. A vector
   the port cannot play (its ``capabilities``, or a ``422``) is UNSUPPORTED, never PASS.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import anyio

from tasktail.vectors._corpus import Verdict, check_vector
from tasktail.vectors._judge import grade
from tasktail.vectors._judge import problems as problems_of

from ._client import WireClient
from ._http import ControlError, request_json

__all__ = ["PROTOCOL", "ProtocolRefused", "Target", "Unsupported", "WireError", "connect_target",
           "default_control", "play_wire", "run_vector_wire", "unsupported_reason", "wire_expectation"]

PROTOCOL = "tasktail-control/1"


class ProtocolRefused(Exception):
    """The port speaks another major version of the control protocol (or none)."""


class Unsupported(Exception):
    """The port answered 422 ``unsupported``."""


class WireError(Exception):
    """The port or the network broke the run: an answer missing, late or malformed."""


@dataclass
class Target:
    url: str  # the WebSocket URL template, with {task}
    control: str  # the control surface's base URL
    capabilities: dict[str, Any] = field(default_factory=dict)
    timeout: float = 10.0

    @property
    def name(self) -> str:
        return str(self.capabilities.get("name") or self.url)

    @property
    def seed(self) -> bool:
        return self.capabilities.get("profile") == "seed"

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        try:
            status, answer = await request_json(self.control, method, path, body, timeout=self.timeout)
        except ControlError as exc:
            raise WireError(str(exc)) from None
        if status == 422:
            raise Unsupported(f"{path[1:]}: {answer.get('detail', answer) if isinstance(answer, dict) else answer}")
        if status != 200 or not isinstance(answer, dict):
            raise WireError(f"{method} {path} answered HTTP {status}: {answer}")
        return answer


def default_control(url: str) -> str:
    """``ws://H:P/...`` -> ``http://H:P/_tasktail`` (``wss`` -> ``https``)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"--url {url!r}: expected ws://HOST:PORT/PATH/{{task}}")
    return f"{scheme}://{parts.netloc}/_tasktail"


async def connect_target(url: str, control: str | None = None, *, timeout: float = 10.0,
                         wait: float = 0.0) -> Target:
    """Ask the port's capabilities; refuse another protocol major version (an error, not a
    verdict). ``wait``: seconds to keep asking a server that refuses connections (starting)."""
    if "{task}" not in url:
        raise ValueError(f"--url {url!r} has no {{task}} placeholder (e.g. ws://127.0.0.1:8000/ws/{{task}})")
    target = Target(url, control or default_control(url), timeout=timeout)
    deadline = anyio.current_time() + wait
    try:
        while True:
            try:
                caps = await target.call("GET", "/capabilities")
                break
            except WireError as exc:
                if "cannot connect" not in str(exc) or anyio.current_time() >= deadline:
                    raise
                await anyio.sleep(0.1)  # a server still starting: ask again, until the deadline
    except Unsupported as exc:
        raise ProtocolRefused(f"GET /capabilities answered 422: {exc}") from None
    spoken = caps.get("protocol")
    if not isinstance(spoken, str) or spoken.rpartition("/")[0] != PROTOCOL.rpartition("/")[0]:
        raise ProtocolRefused(f"the port speaks {spoken!r}, not a version of {PROTOCOL!r}")
    if spoken != PROTOCOL:
        raise ProtocolRefused(f"the port speaks {spoken!r}; this runner speaks {PROTOCOL!r} "
                              "(a different major version changes what the endpoints mean)")
    target.capabilities = caps
    return target


# -- what the port can play ---------------------------------------------------------------------

def unsupported_reason(vector: dict[str, Any], caps: dict[str, Any]) -> str | None:
    """Why ``caps`` cannot play ``vector``, or None."""
    if caps.get("profile") == "seed" and vector.get("profile") != "seed":
        return "needs more than the seed's API (the port's profile is 'seed')"
    steps = vector["steps"]
    missing = sorted({s["op"] for s in steps} - set(caps.get("steps", ())))
    if missing:
        return f"the port cannot do the steps {', '.join(missing)}"
    behaviours = sorted({s.get("behaviour", "instant") for s in steps if s["op"] == "connect"}
                        - set(caps.get("behaviours", ())))
    if behaviours:
        return f"the port's test socket has no behaviours {', '.join(behaviours)}"
    overflow = vector["setup"].get("overflow")
    if overflow is not None and overflow not in caps.get("overflow", ()):
        return f"the port has no overflow policy {overflow!r}"
    if not caps.get("virtual_timers", False):
        holding = False
        for step in steps:
            holding = holding or (step["op"] == "connect" and step.get("behaviour") in ("gate", "never_read",
                                                                                         "hold_accept"))
            if step["op"] == "advance" and holding:
                return "advances the clock while a send may be pending, and the port's timers are not virtual"
    return None


def wire_expectation(vector: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The vector's ``expect`` as a client sees it through an adapter, and the ADAPT rules
    that adds: a connect the manager refuses as ``invalid`` (before accepting) is accepted
    and closed with 1008 by the adapter (ADAPT-2); a close 4002 is the adapter's (ADAPT-1)."""
    expect = copy.deepcopy(vector["expect"])
    rules: list[str] = []
    alternatives = expect.get("alternatives") or [expect]
    for alternative in alternatives:
        for step, result in zip(vector["steps"], alternative["steps"]):
            if (step["op"] == "connect" and isinstance(result, dict) and result.get("result") == "raised"
                    and result.get("error") == "invalid"):
                client = alternative["clients"].get(step["client"])
                if client is not None and not client["accepted"]:
                    client["accepted"], client["close"] = True, 1008
                    if "ADAPT-2" not in rules:
                        rules.append("ADAPT-2")
        if any(c.get("close") == 4002 for c in alternative["clients"].values()) and "ADAPT-1" not in rules:
            rules.append("ADAPT-1")
    return expect, rules


# -- playing --------------------------------------------------------------------------------------

def _client_url(template: str, step: dict[str, Any], epoch: str | None) -> str:
    query: dict[str, Any] = {"tt_client": step["client"], "tt_behaviour": step.get("behaviour", "instant")}
    if "after_seq" in step:
        query["after_seq"] = step["after_seq"]
    if "epoch" in step and epoch is not None:
        query["epoch"] = epoch
    url = template.replace("{task}", quote(step["task"], safe=""))
    return url + ("&" if "?" in url else "?") + urlencode(query)


def _opening_epoch(client: WireClient | None) -> str | None:
    first = client.frames[0] if client is not None and client.frames else None
    if isinstance(first, dict) and first.get("type") in ("hello", "reset"):
        epoch = first.get("epoch")
        return epoch if isinstance(epoch, str) else None
    return None


async def play_wire(vector: dict[str, Any], target: Target) -> tuple[dict[str, Any], list[str]]:
    """Play ``vector`` on ``target``; return ``(outcome, transport problems)``.

    Raises :class:`Unsupported` (a 422), :class:`WireError` (a late or bad answer)."""
    await target.call("POST", "/reset", vector["setup"])
    clients: dict[str, WireClient] = {}
    problems: list[str] = []
    results: list[dict[str, Any] | None] = []
    calls: list[str | None] = []
    stalled: set[str] = set()  # clients that did not receive what was written, in time

    async def settle(**body: Any) -> dict[str, Any]:
        report = await target.call("POST", "/settle", body)
        if not isinstance(report.get("calls"), dict) or not isinstance(report.get("clients"), dict):
            raise WireError(f"/settle answered no report: {report}")
        for name, client in clients.items():
            written = (report["clients"].get(name) or {}).get("written", 0)
            if client.deaf or name in stalled:  # (one bounded wait per client, not one per step)
                continue
            if not await client.wait(lambda c=client, w=written: len(c.frames) >= w or c.ended, target.timeout):
                stalled.add(name)
                problems.append(f"hung: {name} received {len(client.frames)} of the {written} frames the port "
                                f"wrote within {target.timeout:g} s")
            elif len(client.frames) != written and f"{name}: count" not in " ".join(problems):
                problems.append(f"{name}: count: the port wrote {written} frames, the client received "
                                f"{len(client.frames)}")
        return report

    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        try:
            for step in vector["steps"]:
                op, call, result = step["op"], None, None
                if op == "log":
                    call = (await target.call("POST", "/log", {k: v for k, v in step.items() if k != "op"}))["call"]
                    report = await settle()
                elif op == "connect":
                    name = step["client"]
                    epoch = step.get("epoch")
                    if isinstance(epoch, dict):
                        epoch = _opening_epoch(clients.get(epoch["$epoch_of"]))
                    client = clients[name] = WireClient(name, _client_url(target.url, step, epoch),
                                                        connect_timeout=target.timeout)
                    group.start_soon(client.run)
                    call = f"connect:{name}"
                    report = await settle(wait_for=[name])
                    for _ in range(50):  # a port that ignores wait_for: ask again, bounded
                        if name in report["clients"] or client.ended:
                            break
                        await client.wait(lambda: False, target.timeout / 50)
                        report = await settle(wait_for=[name])
                elif op == "release":
                    await target.call("POST", "/release", {"client": step["client"], "n": step["n"]})
                    report = await settle()
                elif op in ("accept", "fail"):
                    await target.call("POST", f"/{op}", {"client": step["client"]})
                    report = await settle()
                elif op == "drop":
                    clients[step["client"]].vanish()  # what arrives from now on was never received
                    await target.call("POST", "/drop", {"client": step["client"]})
                    await clients[step["client"]].abort()
                    report = await settle()
                elif op in ("detach", "disconnect", "query"):
                    body = {"client": step["client"]} if op == "detach" else {"task": step["task"]}
                    result = await target.call("POST", f"/{op}", body)
                    if result.get("result") == "raised":
                        result = {"result": "raised", "error": result.get("error"), "end": "raised"}
                    report = await settle()
                elif op == "advance":
                    await target.call("POST", "/advance", {"seconds": step["seconds"]})
                    report = await settle()
                else:
                    raise WireError(f"unknown step {op!r}")
                if call is not None:
                    result = _call_result(op, report["calls"], call)
                calls.append(call)
                results.append(result)
            final = await settle()
            for call, result in zip(calls, results):
                if call is not None and result is not None:
                    result["end"] = _call_result("log", final["calls"], call)["result"]
            outcome_clients = {}
            for name, client in clients.items():
                outcome_clients[name] = await _client_outcome(name, client, final["clients"].get(name), target,
                                                              problems)
        except (Unsupported, WireError) as exc:  # raised below, outside the task group
            failure = exc
        finally:
            for client in clients.values():
                if not client.ended:
                    await client.abort()
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return {"clients": outcome_clients, "steps": results}, problems


def _call_result(op: str, calls: dict[str, Any], call: str) -> dict[str, Any]:
    status = calls.get(call)
    if not isinstance(status, dict):
        return {"result": "missing: the port never reported this call"}
    result = {"result": status.get("result")}
    if status.get("result") == "raised":
        result["error"] = status.get("error")
    if op == "log" and status.get("result") == "returned":
        seq = status.get("seq")
        result["seq"] = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    return result


async def _client_outcome(name: str, client: WireClient, report: dict[str, Any] | None, target: Target,
                          problems: list[str]) -> dict[str, Any]:
    if report is None:
        problems.append(f"{name}: the port never saw this client (its report has no {name!r})")
        report = {"accepted": False, "close": None, "violations": []}
    if report.get("accepted") and not client.deaf:
        if not await client.wait(lambda: client.accepted or client.ended, target.timeout):
            problems.append(f"hung: {name}: the port accepted it, the handshake did not complete within "
                            f"{target.timeout:g} s")
    close = report.get("close")
    # (a close behind a held send is not written yet: waiting for it would only let real time
    # run on the port's clock)
    if close is not None and close != 1006 and not client.deaf and not report.get("held"):
        await client.wait(lambda: client.close_code is not None or client.ended, target.timeout)
    return {"accepted": client.accepted, "frames": list(client.frames),
            "close": client.close_code if client.close_code is not None else close,
            "violations": sorted(report.get("violations") or [])}


async def run_vector_wire(vector: dict[str, Any], target: Target) -> Verdict:
    """The vector's verdict on ``target``: the in-process judge on the wire's outcome."""
    check_vector(vector)  # a bad vector is never blamed on the port
    expect, extra = wire_expectation(vector)
    rules = list(vector["rules"]) + [r for r in extra if r not in vector["rules"]]
    why = unsupported_reason(vector, target.capabilities)
    if why is not None:
        return Verdict(vector["id"], rules, "wire", "UNSUPPORTED", [why])
    try:
        outcome, problems = await play_wire(vector, target)
    except Unsupported as exc:
        return Verdict(vector["id"], rules, "wire", "UNSUPPORTED", [f"the port answered 422: {exc}"])
    except WireError as exc:
        return Verdict(vector["id"], rules, "wire", "FAIL", [f"the run failed: {exc}"])
    result, found = grade(expect, outcome, seed=target.seed)
    if result == "NON-STRICT":  # say which allowed alternative it was, and why it is allowed
        matched = next(a for a in expect["alternatives"] if not problems_of(a, outcome, seed=target.seed))
        found = [f"allowed alternative: {matched.get('why', '')}"]
    if problems:
        return Verdict(vector["id"], rules, "wire", "FAIL", problems + found)
    return Verdict(vector["id"], rules, "wire", result, found)
