"""The conformance suite: scripted checks plus generated programs, merged per rule.

Theory of operation:

1. Rules the implementation does not claim (``RULE_CAPABILITIES``) are UNSUPPORTED.
2. Layer 1 runs each selected rule's scripted checks on each backend (a fresh event loop
   per check, virtual time). CAP-3 first: if the implementation rejects the newest message
   instead of dropping the oldest, CAP-3 is NON-STRICT and layer 2 accepts that policy.
3. Layer 2 searches generated programs per backend; the first violation is shrunk and
   charged to the rule its checker names, with the program as a counterexample.
4. A rule FAILs if either layer found a counterexample for it; otherwise NON-STRICT if a
   check returned NonStrict, otherwise PASS.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import anyio

from tasktail.fakes import available_backends, virtual_backend

from ._generate import search
from ._rules import CHECKS, Harness, NonStrict
from ._result import RunResult
from ._subject import RULE_CAPABILITIES, Subject, select_rules

__all__ = ["ConformanceReport", "RuleOutcome", "check_connection_manager", "DEFAULT_EXAMPLES", "factory_spec"]

DEFAULT_EXAMPLES = 1000  # generated programs per backend
#: situations the generated programs must reach, or the search is too thin to trust
COVERAGE_GOALS = ("cap reached", "disconnect during a flush", "contention on one task's lock",
                  "send failing mid-flush", "replacement during a flush")
CHECK_SECONDS = 600.0  # virtual-time guard around each scripted check
LAYER2_RULES = {"ORD-1", "ORD-2", "ORD-3", "FLUSH-1", "FLUSH-2", "CAP-1", "CAP-3", "GAP-1", "GAP-2", "FAIL-1",
                "FAIL-2", "FAIL-3", "DISC-1", "DISC-2", "REPL-1", "REPL-2", "ISO-1", "VAL-1", "QRY-1", "CLOSE-1"}


@dataclass
class RuleOutcome:
    rule: str
    status: str  # PASS | NON-STRICT | UNSUPPORTED | FAIL
    detail: str = ""
    counterexample: str | None = None
    examples_run: int = 0
    checks: list[str] = field(default_factory=list)
    caught_by: str = ""  # for a FAIL: the scripted check, or "program #N [backend]" of the search


@dataclass
class ConformanceReport:
    subject: str
    backends: tuple[str, ...]
    capabilities: frozenset[str]
    outcomes: dict[str, RuleOutcome]
    seconds: float = 0.0
    steps: int = 0  # operations of generated programs executed
    search_seconds: float = 0.0
    coverage: dict[str, int] = field(default_factory=dict)
    failures: list[RunResult] = field(default_factory=list)

    searched: bool = False  # generated programs ran (some claimed rule is judged on them)

    @property
    def missed_goals(self) -> list[str]:
        """Coverage goals the generated programs never reached (only when they ran)."""
        return [goal for goal in COVERAGE_GOALS if self.searched and not self.coverage.get(goal)]

    @property
    def ok(self) -> bool:
        return all(o.status != "FAIL" for o in self.outcomes.values()) and not self.missed_goals

    def table(self) -> str:
        lines = [f"tasktail conformance: {self.subject} on {', '.join(self.backends)}",
                 f"capabilities: {', '.join(sorted(self.capabilities)) or '(core only)'}", "",
                 f"{'rule':<8} {'status':<12} {'checks':>6} {'examples':>8}  detail", "-" * 72]
        for o in self.outcomes.values():
            lines.append(f"{o.rule:<8} {o.status:<12} {len(o.checks):>6} {o.examples_run:>8}  {o.detail}"[:160])
        counts = {s: sum(o.status == s for o in self.outcomes.values())
                  for s in ("PASS", "NON-STRICT", "UNSUPPORTED", "FAIL")}
        lines += ["-" * 72, "  ".join(f"{k}: {v}" for k, v in counts.items()) + f"   ({self.seconds:.1f}s)"]
        if self.search_seconds:
            lines.append(f"generated programs: {self.steps} steps in {self.search_seconds:.1f}s "
                         f"({self.steps / self.search_seconds:,.0f} steps/s)")
        if self.searched:
            reached = ", ".join(f"{goal} {self.coverage.get(goal, 0)}" for goal in COVERAGE_GOALS)
            lines.append(f"coverage goals: {reached}")
        if self.missed_goals:
            lines.append(f"FAIL: coverage goals never reached: {', '.join(self.missed_goals)} "
                         "(raise --examples: the search was too thin to trust)")
        for o in self.outcomes.values():
            if o.status == "FAIL" and o.counterexample:
                lines += ["", f"== {o.rule} counterexample ==", o.counterexample]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "backends": list(self.backends), "ok": self.ok,
                "capabilities": sorted(self.capabilities), "seconds": round(self.seconds, 3),
                "coverage": self.coverage, "missed_goals": self.missed_goals,
                "outcomes": {r: {"status": o.status, "detail": o.detail, "counterexample": o.counterexample,
                                 "examples_run": o.examples_run, "checks": o.checks}
                             for r, o in self.outcomes.items()}}


def factory_spec(factory: Callable[..., Any]) -> str | None:
    """``module:qualname`` when the factory can be imported back, else None."""
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if not module or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def _run_check(subject: Subject, fn: Callable, backend: str, rule: str = "") -> tuple[str, str]:
    harness = Harness(subject)

    async def main() -> Any:
        with anyio.fail_after(CHECK_SECONDS if not rule.startswith("THR") else 20.0):
            return await fn(harness)

    # THR-* need a worker thread's real progress: virtual time would jump past it.
    name, options = (backend, {}) if rule.startswith("THR") else virtual_backend(backend)
    try:
        result = anyio.run(main, backend=name, backend_options=options)
    except TimeoutError:
        return "FAIL", f"hung for {CHECK_SECONDS:.0f} virtual seconds"
    except Exception as exc:  # noqa: BLE001
        leaf = exc
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        if isinstance(leaf, AssertionError):
            return "FAIL", str(leaf) or type(leaf).__name__
        return "FAIL", f"crashed: {''.join(traceback.format_exception_only(leaf)).strip()}"
    if "after_loop" in harness.__dict__:  # THR-2's second half, once the loop is gone
        from ._rules_threads import thr2_after_loop

        problem = thr2_after_loop(harness.__dict__["after_loop"])
        if problem:
            return "FAIL", problem
    if isinstance(result, NonStrict):
        return "NON-STRICT", result.why
    return "PASS", ""


def check_connection_manager(factory: Callable[..., Any], *, rules: str = "*", backend: str = "both",
                             examples: int | None = None, seed: int = 0, capabilities: Any = None,
                             save_failures: str | None = None, scripted: bool = True) -> "ConformanceReport":
    """Check ``factory``'s managers against SPEC.md; see the module docstring."""
    started = time.perf_counter()
    subject = Subject(factory, capabilities)
    if backend not in ("asyncio", "trio", "both"):
        raise ValueError(f"backend={backend!r}; expected asyncio, trio or both")
    backends = available_backends() if backend == "both" else (backend,)
    examples = DEFAULT_EXAMPLES if examples is None else examples
    selected = select_rules(rules)
    if not selected:
        raise ValueError(f"rules={rules!r} matches no SPEC rule")
    outcomes: dict[str, RuleOutcome] = {}
    for rule in selected:
        missing = sorted(RULE_CAPABILITIES[rule] - subject.capabilities)
        checks = [c.name for c in CHECKS if c.rule == rule]
        outcomes[rule] = (RuleOutcome(rule, "UNSUPPORTED", f"needs capability {', '.join(missing)}", checks=checks)
                          if missing else RuleOutcome(rule, "PASS", checks=checks))
    # scripted=False leaves only the generated programs: how the zoo table measures that layer
    ordered = sorted(CHECKS, key=lambda c: c.rule != "CAP-3") if scripted else []
    for chk in ordered:
        outcome = outcomes.get(chk.rule)
        if outcome is None or outcome.status == "UNSUPPORTED":
            continue
        for name in backends:
            status, detail = _run_check(subject, chk.fn, name, chk.rule)
            if status == "FAIL" and outcome.status != "FAIL":
                outcome.status, outcome.detail = "FAIL", f"{chk.name} [{name}]: {detail}"
                outcome.counterexample = f"scripted check {chk.name} on {name}: {chk.doc}\n  -> {detail}"
                outcome.caught_by = f"scripted {chk.name} [{name}]"
            elif status == "NON-STRICT" and outcome.status == "PASS":
                outcome.status, outcome.detail = "NON-STRICT", detail
    nonstrict = frozenset(r for r, o in outcomes.items() if o.status == "NON-STRICT")
    report = ConformanceReport(subject.name, tuple(backends), subject.capabilities, outcomes)
    wanted = {r for r, o in outcomes.items() if r in LAYER2_RULES and o.status != "UNSUPPORTED"}
    if wanted and examples > 0:
        report.searched = True
        for name in backends:
            search_started = time.perf_counter()
            found = search(subject, name, examples=examples, seed=seed, nonstrict=nonstrict,
                           rules=frozenset(wanted))
            report.search_seconds += time.perf_counter() - search_started
            report.steps += found.steps
            for key, value in found.coverage.items():
                report.coverage[key] = report.coverage.get(key, 0) + value
            for rule in wanted:
                outcomes[rule].examples_run += found.examples
            if found.failure is not None:
                report.failures.append(found.failure)
                _charge(found.failure, outcomes, factory, subject, name, save_failures,
                        f"program #{found.first_failure_at} [{name}]")
    report.seconds = time.perf_counter() - started
    return report


def _charge(run: RunResult, outcomes: dict[str, RuleOutcome], factory: Any, subject: Subject,
            backend: str, save_failures: str | None, caught_by: str) -> None:
    spec = factory_spec(factory) or "your_module:your_factory"
    program = run.program.to_python(spec, backend, sorted(subject.capabilities))
    text = (f"{program}\n# what happened ({backend}):\n" + "\n".join(f"#   {line}" for line in run.trace()))
    path = None
    if save_failures:
        os.makedirs(save_failures, exist_ok=True)
        path = os.path.join(save_failures, f"{run.violations[0].rule}-{backend}.json")
        with open(path, "w") as f:
            json.dump({"factory": factory_spec(factory), "backend": backend,
                       "capabilities": sorted(subject.capabilities), "program": run.program.to_json(),
                       "violations": [str(v) for v in run.violations]}, f, indent=1)
        text += f"\n# saved: tasktail replay {path}"
    for violation in run.violations:
        outcome = outcomes.get(violation.rule)
        if outcome is None or outcome.status == "UNSUPPORTED" or outcome.status == "FAIL":
            continue
        outcome.status, outcome.detail = "FAIL", f"generated program [{backend}]: {violation.message}"
        outcome.counterexample = text
        outcome.caught_by = caught_by


def determinism(factory: Callable[..., Any], *, backend: str = "both", seed: int = 0, examples: int | None = None,
                capabilities: Any = None) -> list[str]:
    """Run the seed's generated programs twice per backend; return the differences (none: [])."""
    subject = Subject(factory, capabilities)
    backends = available_backends() if backend == "both" else (backend,)
    problems = []
    for name in backends:
        first: list = []
        second: list = []
        search(subject, name, examples=examples or DEFAULT_EXAMPLES, seed=seed, record=first)
        search(subject, name, examples=examples or DEFAULT_EXAMPLES, seed=seed, record=second)
        if first != second:
            index = next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), min(len(first), len(second)))
            problems.append(f"{name}: example {index} differs between two runs of seed {seed}")
    return problems
