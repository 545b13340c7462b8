"""Run one scripted check on one backend and turn what happened into findings.

Theory of operation:

1. A fresh event loop per check (virtual time, except ``real_time`` checks), a fresh
   :class:`~._harness.Harness`, a guard of ``CHECK_SECONDS`` virtual seconds.
2. :class:`~._harness.Failed` is a finding of the check's rule, of the kind it names;
   :class:`~._harness.Unmet` means the check could not judge (status ``unmet: ...``); a
   timeout is a ``hung`` finding; any other exception is the implementation's crash, unless
   its innermost frame is the suite's own (:class:`~._findings.SuiteError`).
3. Whatever the outcome, the sockets the check made are judged for misuse: two sends in
   flight at once on one socket is a LOCK-1 finding (LOCK-1 alone judges overlap).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import anyio

from tasktail.fakes import seed_scheduler, virtual_backend

from ._findings import Finding, SuiteError, describe_exception, is_suite_bug, leaves
from ._harness import Check, Failed, Harness, NonStrict, Unmet
from ._subject import Subject, hosting

__all__ = ["CHECK_SECONDS", "CheckRun", "run_check"]

CHECK_SECONDS = 600.0  # virtual-time guard around each scripted check
REAL_SECONDS = 20.0  # the guard of a real-time check


@dataclass
class CheckRun:
    status: str  # "pass" | "non-strict: why" | "fail" | "unmet: why" | "blocked: why" | "cut short: why" | "n/a"
    findings: list[Finding]


def run_check(subject: Subject, chk: Check, backend: str) -> CheckRun:
    harness = Harness(subject)
    guard = REAL_SECONDS if chk.real_time else CHECK_SECONDS

    async def main() -> Any:
        with anyio.fail_after(guard):
            async with hosting():
                return await chk.fn(harness)

    def finding(rule: str, kind: str, message: str) -> Finding:
        return Finding(rule, kind, message, backend, f"scripted {chk.name}", check=chk.name, doc=chk.doc)

    name, options = (backend, {}) if chk.real_time else virtual_backend(backend)
    seed_scheduler(backend, zlib.crc32(chk.name.encode()))  # same check, same interleaving
    findings: list[Finding] = []
    status = "pass"
    try:
        result = anyio.run(main, backend=name, backend_options=options)
    except BaseException as exc:  # noqa: BLE001 - everything the implementation may raise
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        status, found = _judge(exc, guard, chk.real_time, chk.rule)
        if found is not None:
            findings.append(finding(*found))
            if status == "fail" and found[0] != chk.rule:
                # another rule's finding ended the check before it asked its own question
                status = f"cut short: by a {found[0]} finding ({found[1]})"
    else:
        if isinstance(result, NonStrict):
            status = f"non-strict: {result.why}"
        if chk.after_loop is not None and harness.after_loop is not None:
            problem = chk.after_loop(harness.after_loop)
            if problem and problem.startswith("unmet: "):
                status = problem  # the situation the check is about did not arise
            elif problem:
                status = "fail"
                kind, _, message = problem.partition(": ") if problem.startswith("hung: ") else ("wrong answer", "", problem)
                findings.append(finding(chk.rule, kind, message))
    overlaps = [(n, v.method) for n, ws in enumerate(harness.sockets) for v in ws.violations
                if v.kind == "overlapping_send"]
    if overlaps and not any(f.rule == "LOCK-1" for f in findings):
        findings.append(finding("LOCK-1", "overlapping send", f"two sends were in flight at once on one socket "
                                f"during {chk.name} ({len(overlaps)} time(s), first in {overlaps[0][1]}())"))
    if findings and status == "pass":
        status = "pass (other rules failed)" if all(f.rule != chk.rule for f in findings) else "fail"
    return CheckRun(status, findings)


def _judge(exc: BaseException, guard: float, real_time: bool, rule: str) -> tuple[str, tuple[str, str, str] | None]:
    """What an exception out of a check means: (status, (rule, kind, message) or None)."""
    found = leaves(exc)
    failed = [e for e in found if isinstance(e, Failed)]
    if failed:
        return "fail", (getattr(failed[0], "rule", rule), failed[0].kind, str(failed[0]))
    unmet = [e for e in found if isinstance(e, Unmet)]
    if unmet:
        return f"unmet: {unmet[0]}", None
    if all(isinstance(e, TimeoutError) for e in found):
        unit = "seconds" if real_time else "virtual seconds"
        return "fail", (rule, "hung", f"the check did not finish within {guard:.0f} {unit}: a call of the "
                                "implementation never returned after every send it waited for was released")
    if is_suite_bug(exc):
        raise SuiteError("a scripted check", exc)
    return "fail", (rule, "crashed", f"raised {describe_exception(exc)}")
