"""The conformance report: an outcome per rule, every finding, and how to read them.

Outcomes (SPEC.md, "How other implementations are judged"):

* PASS - every scripted check of the rule ran to completion on every backend, and the
  generated programs ran their whole budget, reached the rule's coverage goals and broke
  nothing.
* NON-STRICT - as PASS, but a check found the documented allowed alternative.
* UNSUPPORTED - the rule needs a capability the implementation does not claim.
* FAIL - at least one finding: each is a distinct counterexample with a kind, where it was
  found and how to reproduce it.
* BLOCKED - no finding, but checks of the rule could not run because a behaviour they build
  on (a *precondition*: live delivery, a queue before the client comes) failed; the
  report names it once.
* INCOMPLETE - no finding, but the rule was not fully exercised: a check's situation never
  arose, the search was stopped by the time limit, or a coverage goal was never reached.

Exit status: 0 all claimed rules PASS or NON-STRICT; 1 a rule FAILs; 2 usage error; 3 the
suite itself failed (a bug to report); 4 no FAIL, but a rule is INCOMPLETE or BLOCKED.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._findings import Finding

__all__ = ["COVERAGE_GOALS", "EXIT", "ConformanceReport", "RuleOutcome"]

#: situation the generated programs must reach -> rules that are only exercised through it
COVERAGE_GOALS: dict[str, tuple[str, ...]] = {
    "cap reached": ("CAP-1", "CAP-3", "GAP-1"),
    "disconnect during a flush": ("DISC-2", "LOCK-3"),
    "contention on one task's lock": ("LOCK-1", "LOCK-4", "ORD-2"),
    "send failing mid-flush": ("FAIL-1",),
    "replacement during a flush": ("REPL-1",),
}
EXIT = {"ok": 0, "fail": 1, "usage": 2, "suite error": 3, "incomplete": 4}
STATUSES = ("PASS", "NON-STRICT", "UNSUPPORTED", "FAIL", "BLOCKED", "INCOMPLETE")


@dataclass
class RuleOutcome:
    rule: str
    status: str  # one of STATUSES
    detail: str = ""
    checks: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    examples_run: int = 0
    #: check name -> backend -> "pass" | "non-strict: why" | "fail" | "unmet: why" | "blocked: why" | "n/a"
    #: | "cut short: why" (another rule's finding ended it before it asked its own question)
    check_results: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why BLOCKED or INCOMPLETE

    @property
    def counterexample(self) -> str | None:
        return self.findings[0].reproduce if self.findings else None

    @property
    def caught_by(self) -> str:
        return self.findings[0].where() if self.findings else ""

    def add(self, finding: Finding) -> None:
        for known in self.findings:
            if known.signature == finding.signature and known.message == finding.message:
                if finding.backend not in known.backends:
                    known.backends.append(finding.backend)
                return
        finding.backends = finding.backends or [finding.backend]
        self.findings.append(finding)

    def resolve(self) -> None:
        """Set ``status`` and ``detail`` from what was recorded (see the module docstring)."""
        if self.status == "UNSUPPORTED":
            return
        results = [r for per in self.check_results.values() for r in per.values()]
        if self.findings:
            self.status = "FAIL"
            kinds = sorted({f.kind for f in self.findings})
            self.detail = (f"{len(self.findings)} finding{'s' * (len(self.findings) > 1)} ({', '.join(kinds)}): "
                           f"{self.findings[0].message}")
        elif any(r.startswith("blocked") for r in results):
            self.status = "BLOCKED"
        elif self.notes or any(r.startswith(("unmet", "cut short")) for r in results):
            self.status = "INCOMPLETE"
        elif any(r.startswith("non-strict") for r in results):
            self.status = "NON-STRICT"
            self.detail = "; ".join(sorted({r.partition(": ")[2] for r in results if r.startswith("non-strict")}))
        else:
            self.status = "PASS"
        if self.status in ("BLOCKED", "INCOMPLETE"):
            why = sorted({r for r in results if r.startswith(("blocked", "unmet", "cut short"))}) + self.notes
            self.detail = "; ".join(why)


@dataclass
class ConformanceReport:
    subject: str
    backends: tuple[str, ...]
    capabilities: frozenset[str]
    outcomes: dict[str, RuleOutcome]
    seconds: float = 0.0
    steps: int = 0  # operations of generated programs executed
    search_seconds: float = 0.0  # wall time of the search, all backends (in ``jobs`` processes)
    jobs: int = 1  # processes that searched at once
    examples: int = 0  # generated programs per backend asked for
    coverage: dict[str, int] = field(default_factory=dict)
    preconditions: dict[str, str] = field(default_factory=dict)  # failed precondition -> what was seen
    searched: bool = False
    determinism: list[str] | None = None  # differences found by --check-determinism (None: not asked)
    skipped_backends: dict[str, str] = field(default_factory=dict)  # backend -> why not run
    load_average: tuple[float, float, float] | None = None

    @property
    def findings(self) -> list[Finding]:
        return [f for o in self.outcomes.values() for f in o.findings]

    @property
    def missed_goals(self) -> list[str]:
        return [goal for goal in COVERAGE_GOALS if self.searched and not self.coverage.get(goal)]

    @property
    def exit_status(self) -> int:
        statuses = {o.status for o in self.outcomes.values()}
        if "FAIL" in statuses or self.determinism:
            return EXIT["fail"]
        if statuses & {"INCOMPLETE", "BLOCKED"}:
            return EXIT["incomplete"]
        return EXIT["ok"]

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def counts(self) -> dict[str, int]:
        return {s: sum(o.status == s for o in self.outcomes.values()) for s in STATUSES}

    def table(self) -> str:
        lines = [f"tasktail conformance: {self.subject} on {', '.join(self.backends)}",
                 f"capabilities: {', '.join(sorted(self.capabilities)) or '(core only)'}"]
        lines += [f"not run on {b}: {why}" for b, why in self.skipped_backends.items()]
        for name, seen in self.preconditions.items():
            blocked = sorted(r for r, o in self.outcomes.items() if o.status == "BLOCKED")
            lines.append(f"precondition '{name}' failed: {seen}" + (f" -> blocked: {', '.join(blocked)}" if blocked else ""))
        lines += ["", f"{'rule':<8} {'status':<11} {'found':>5} {'checks':>6} {'programs':>8}  detail", "-" * 78]
        for o in self.outcomes.values():
            lines.append(f"{o.rule:<8} {o.status:<11} {len(o.findings) or '':>5} {len(o.checks):>6} "
                         f"{o.examples_run:>8}  {o.detail}"[:170])
        lines += ["-" * 78, "  ".join(f"{k}: {v}" for k, v in self.counts().items() if v or k in ("PASS", "FAIL"))
                  + f"   ({self.seconds:.1f}s" + (f", load average {self.load_average[0]:.2f}" if self.load_average
                                                  else "") + ")"]
        if self.search_seconds:
            lines.append(f"generated programs: {self.examples} per backend, {self.steps} steps in "
                         f"{self.search_seconds:.1f}s wall, {self.jobs} job{'s' * (self.jobs > 1)} "
                         f"({self.steps / self.search_seconds:,.0f} steps/s)")
        if self.searched:
            lines.append("coverage goals: " + ", ".join(f"{g} {self.coverage.get(g, 0)}" for g in COVERAGE_GOALS))
        if self.determinism is not None:
            lines.append("determinism: " + ("OK (same traces twice)" if not self.determinism
                                            else "DIFFERENT: " + "; ".join(self.determinism)))
        for o in self.outcomes.values():
            for n, f in enumerate(o.findings, 1):
                lines += ["", f"== {o.rule} finding {n}/{len(o.findings)}: {f.kind}, {f.where()} ==", f.message]
                if f.reproduce:
                    lines.append(f.reproduce)
        lines.append(f"\nexit status {self.exit_status}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "backends": list(self.backends), "ok": self.ok,
                "exit_status": self.exit_status, "capabilities": sorted(self.capabilities),
                "seconds": round(self.seconds, 3), "examples": self.examples, "coverage": self.coverage,
                "missed_goals": self.missed_goals, "preconditions": self.preconditions,
                "determinism": self.determinism, "skipped_backends": self.skipped_backends,
                "counts": self.counts(),
                "outcomes": {r: {"status": o.status, "detail": o.detail, "examples_run": o.examples_run,
                                 "checks": o.check_results, "notes": o.notes,
                                 "findings": [f.to_json() for f in o.findings]}
                             for r, o in self.outcomes.items()}}
