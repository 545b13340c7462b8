"""The conformance suite: scripted checks plus generated programs, every finding per rule.

Theory of operation:

1. The factory is probed first: one that cannot take the suite's config, or whose managers
   lack the seed API, is a :class:`UsageError` (exit 2), never a verdict.
2. Rules the implementation does not claim (``RULE_CAPABILITIES``) are UNSUPPORTED.
3. Per backend, the *preconditions* run first (live delivery, a queue before the client
   comes; see ``PRECONDITIONS``): when one fails, its owner rule FAILs once and every check
   that builds on it is BLOCKED, not run and not failed.
4. Then every scripted check of every selected rule runs to completion (CAP-3 first: a
   reject-newest manager is NON-STRICT there and the search accepts that). Each failure is a
   finding; misuse of its sockets (overlapping sends) is a LOCK-1 finding too.
5. The search runs the generated-program budget per backend; a violation is shrunk,
   recorded and set aside by its signature (rule, kind), and the search goes on with the
   rest of the budget, so every rule gets all of it (``_generate``).
6. Each rule's outcome is resolved from what was recorded (``_report``); an exception whose
   innermost frame is the suite's own is a :class:`SuiteError` (exit 3).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from tasktail.fakes import available_backends

from ._checks_run import CheckRun, run_check
from ._findings import Finding, SuiteError
from ._generate import search
from ._jobs import parallel_spec, search_backends
from ._report import COVERAGE_GOALS, ConformanceReport, RuleOutcome
from ._rules import CHECKS, Check
from ._save import factory_spec, save_finding
from ._subject import RULE_CAPABILITIES, Subject, UsageError, select_rules

__all__ = ["DEFAULT_EXAMPLES", "PRECONDITIONS", "check_connection_manager", "determinism", "factory_spec"]

DEFAULT_EXAMPLES = 1000  # generated programs per backend
LAYER2_RULES = {"FID-1", "ORD-1", "ORD-2", "ORD-3", "FLUSH-1", "FLUSH-2", "CAP-1", "CAP-3", "GAP-1", "GAP-2",
                "FAIL-1", "FAIL-2", "FAIL-3", "DISC-1", "DISC-2", "REPL-1", "REPL-2", "ISO-1", "VAL-1", "QRY-1",
                "CLOSE-1", "LOCK-1", "LOCK-2", "LOCK-3", "LOCK-4", "PROD-1", "RES-4"}
#: precondition -> (the check that probes it, what it means); its owner is the check's rule
PRECONDITIONS: dict[str, tuple[str, str]] = {
    "live": ("conform_flush2_live_message_reaches_client",
             "a message logged while a client is connected reaches that client"),
    "queue": ("conform_flush1_queued_message_reaches_late_client",
              "a message logged before any client connects reaches the client that connects later"),
}


def _backends(subject: Subject, backend: str) -> tuple[tuple[str, ...], dict[str, str]]:
    if backend not in ("asyncio", "trio", "both"):
        raise UsageError(f"backend={backend!r}; expected asyncio, trio or both")
    wanted = available_backends() if backend == "both" else (backend,)
    if subject.backends is None:
        return tuple(wanted), {}
    skipped = {b: f"the factory's tasktail_backends = {subject.backends!r}" for b in wanted if b not in subject.backends}
    run = tuple(b for b in wanted if b in subject.backends)
    if not run:
        raise UsageError(f"the factory runs only on {', '.join(subject.backends)}; asked for {backend}")
    return run, skipped


def check_connection_manager(factory: Callable[..., Any], *, rules: str = "*", backend: str = "both",
                             examples: int | None = None, seed: int = 0, capabilities: Any = None,
                             save_failures: str | None = None, scripted: bool = True,
                             config: dict[str, Any] | None = None, time_limit: float | None = None,
                             check_determinism: bool = False, jobs: int = 1) -> ConformanceReport:
    """Check ``factory``'s managers against SPEC.md; see the module docstring.

    ``jobs`` > 1 searches the backends in that many processes at once when the factory can
    be imported by its ``MODULE:FACTORY`` name (``_jobs``); the report is the same."""
    started = time.perf_counter()
    subject = Subject(factory, capabilities, config)
    backends, skipped = _backends(subject, backend)
    examples = DEFAULT_EXAMPLES if examples is None else examples
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise UsageError(f"examples={examples!r}: expected an int >= 1 (generated programs per backend)")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"jobs={jobs!r}: expected an int >= 1 (processes searching at once)")
    selected = select_rules(rules)
    if not selected:
        raise UsageError(f"rules={rules!r} matches no SPEC rule")
    subject.probe()
    outcomes: dict[str, RuleOutcome] = {}
    for rule in selected:
        missing = sorted(RULE_CAPABILITIES[rule] - subject.capabilities)
        checks = [c.name for c in CHECKS if c.rule == rule]
        outcomes[rule] = RuleOutcome(rule, "UNSUPPORTED" if missing else "PASS",
                                     f"needs capability {', '.join(missing)}" if missing else "", checks)
    report = ConformanceReport(subject.name, backends, subject.capabilities, outcomes, examples=examples,
                               skipped_backends=skipped)
    deadline = None if time_limit is None else started + time_limit
    known: dict[str, set] = {b: set() for b in backends}
    failed_pre: dict[str, dict[str, str]] = {b: {} for b in backends}
    if scripted:
        for name in backends:
            _scripted(subject, name, outcomes, failed_pre[name], report, save_failures, factory)
    nonstrict = frozenset(r for r, o in outcomes.items()
                          if any(v.startswith("non-strict") for per in o.check_results.values() for v in per.values()))
    wanted = frozenset(r for r, o in outcomes.items() if r in LAYER2_RULES and o.status != "UNSUPPORTED")
    if wanted:
        report.searched = True
        spec = parallel_spec(factory) if jobs > 1 and len(backends) > 1 else None
        search_started = time.perf_counter()
        if spec:
            results, report.jobs = search_backends(spec, subject, backends, jobs, deadline,
                                                   {b: frozenset(failed_pre[b]) for b in backends},
                                                   examples=examples, seed=seed, nonstrict=nonstrict, rules=wanted)
        else:
            results = [search(subject, name, examples=examples, seed=seed, nonstrict=nonstrict, rules=wanted,
                              preconditions=frozenset(failed_pre[name]), deadline=deadline) for name in backends]
        report.search_seconds = time.perf_counter() - search_started  # wall time, whatever the jobs
        for name, found in zip(backends, results):
            report.steps += found.steps
            for key, value in found.coverage.items():
                report.coverage[key] = report.coverage.get(key, 0) + value
            for rule in wanted:
                outcomes[rule].examples_run += found.examples
                if found.examples < examples:
                    outcomes[rule].notes.append(f"the search stopped at the time limit after {found.examples} of "
                                                f"{examples} programs on {name}")
            for finding in found.findings:
                finding.reproduce = _reproduce(finding, factory, subject)
                if save_failures:
                    save_finding(finding, save_failures, factory, subject)
                outcomes[finding.rule].add(finding)
            known[name] |= {f.signature for f in found.findings}
        for goal, goal_rules in COVERAGE_GOALS.items():
            if not report.coverage.get(goal):
                for rule in goal_rules:
                    if rule in wanted:
                        outcomes[rule].notes.append(f"the generated programs never reached '{goal}' "
                                                    "(raise --examples)")
    for outcome in outcomes.values():
        outcome.resolve()
    if check_determinism:
        report.determinism = determinism(factory, backend=backend, seed=seed, examples=min(examples, 200),
                                         capabilities=capabilities, config=config)
    if hasattr(os, "getloadavg"):
        report.load_average = os.getloadavg()
    report.seconds = time.perf_counter() - started
    return report


def _scripted(subject: Subject, backend: str, outcomes: dict[str, RuleOutcome], failed: dict[str, str],
              report: ConformanceReport, save_failures: str | None, factory: Any) -> None:
    by_name = {c.name: c for c in CHECKS}
    probes = [by_name[PRECONDITIONS[p][0]] for p in PRECONDITIONS]
    ordered = probes + sorted((c for c in CHECKS if c not in probes), key=lambda c: c.rule != "CAP-3")
    for chk in ordered:
        outcome = outcomes.get(chk.rule)
        is_probe = chk in probes
        if (outcome is None or outcome.status == "UNSUPPORTED") and not is_probe:
            continue
        result = _one(subject, chk, backend, failed)
        if is_probe and result.findings:
            pre = next(p for p, (name, _) in PRECONDITIONS.items() if name == chk.name)
            failed[pre] = result.findings[0].message
            report.preconditions.setdefault(pre, f"{PRECONDITIONS[pre][1]}: no ({chk.rule})")
        if outcome is None or outcome.status == "UNSUPPORTED":
            continue
        outcome.check_results.setdefault(chk.name, {})[backend] = result.status
        for finding in result.findings:
            target = outcomes.get(finding.rule)
            if target is None or target.status == "UNSUPPORTED":
                continue
            finding.reproduce = _reproduce(finding, factory, subject)
            if save_failures:
                save_finding(finding, save_failures, factory, subject)
            target.add(finding)


def _one(subject: Subject, chk: Check, backend: str, failed: dict[str, str]) -> CheckRun:
    if any(not subject.claims(c) for c in chk.claims):
        return CheckRun("n/a", [])
    blockers = [p for p in chk.needs if p in failed]
    if blockers:
        owner = next(c.rule for c in CHECKS if c.name == PRECONDITIONS[blockers[0]][0])
        return CheckRun(f"blocked: by {owner} (precondition '{blockers[0]}' failed on {backend})", [])
    return run_check(subject, chk, backend)


def _reproduce(finding: Finding, factory: Any, subject: Subject) -> str:
    spec = factory_spec(factory) or "your_module:your_factory"
    if finding.program is not None:
        program = finding.program.to_python(spec, finding.backend, sorted(subject.capabilities))
        return program + "# what happened:\n" + "\n".join(f"#   {line}" for line in finding.trace)
    caps = ",".join(sorted(subject.capabilities))
    return (f"# re-run: tasktail conform {spec} --backend {finding.backend} --rules {finding.rule}"
            + (f" --capabilities {caps}" if caps else "") + f"\n# ({finding.check}: {finding.doc})")


def determinism(factory: Callable[..., Any], *, backend: str = "both", seed: int = 0, examples: int | None = None,
                capabilities: Any = None, config: dict[str, Any] | None = None) -> list[str]:
    """Run the seed's generated programs twice per backend; return the differences (none: [])."""
    subject = Subject(factory, capabilities, config)
    backends, _ = _backends(subject, backend)
    problems = []
    for name in backends:
        first: list = []
        second: list = []
        for record in (first, second):
            search(subject, name, examples=examples or DEFAULT_EXAMPLES, seed=seed, record=record)
        if first != second:
            index = next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), min(len(first), len(second)))
            problems.append(f"{name}: program {index} differs between two runs of seed {seed}")
    return problems


__all__ += ["SuiteError"]
