"""Run the corpus (and generated programs) over the wire; the report (table, Autobahn-style
index JSON, JUnit XML)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from tasktail.vectors._corpus import GRADES, Verdict, load, worst
from tasktail.vectors._scenarios import NOT_EXPRESSIBLE

from ._runner import Target, connect_target, run_vector_wire

__all__ = ["NOT_A_PORTS_RULE", "WireReport", "run_wire"]

#: rule prefixes that are not about a port (the demo app, the Redis backend)
NOT_A_PORTS_RULE = ("DEMO-", "RDS-")
#: ADAPT rules the wire mode has vectors for (wire_expectation adds them)
COVERED_OVER_THE_WIRE = ("ADAPT-1", "ADAPT-2")


@dataclass
class WireReport:
    target: str
    url: str
    capabilities: dict[str, Any]
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0
    durations: dict[str, float] = field(default_factory=dict)  # vector id -> seconds

    def per_rule(self) -> dict[str, tuple[str, str]]:
        """rule -> (grade, why): the worst grade of the vectors citing it; the rules no vector
        can check over the wire are UNSUPPORTED with their reason."""
        grades: dict[str, list[str]] = {}
        for v in self.verdicts:
            for rule in v.rules:
                grades.setdefault(rule, []).append(v.grade)
        rules = {}
        for rule, found in grades.items():
            result = worst(found)
            failed = [v.vector for v in self.verdicts if rule in v.rules and v.grade == result != "PASS"]
            why = {"FAIL": "failed: ", "NON-STRICT": "non-strict: "}.get(result, "")
            rules[rule] = (result, why + ", ".join(failed) if why else "")
        for rule, why in NOT_EXPRESSIBLE.items():
            if rule.startswith(NOT_A_PORTS_RULE) or rule in COVERED_OVER_THE_WIRE or rule in rules:
                continue
            rules[rule] = ("UNSUPPORTED", f"needs in-process control: {why}")
        for rule, (result, _) in list(rules.items()):
            if result == "UNSUPPORTED" and not rules[rule][1]:
                reasons = sorted({p for v in self.verdicts if rule in v.rules for p in v.problems})
                rules[rule] = (result, "; ".join(reasons))
        return dict(sorted(rules.items()))

    def counts(self) -> dict[str, int]:
        return {g: sum(v.grade == g for v in self.verdicts) for g in GRADES}

    @property
    def exit_status(self) -> int:
        return 1 if any(g == "FAIL" for g, _ in self.per_rule().values()) else 0

    def table(self) -> str:
        caps = self.capabilities
        lines = [f"tasktail conformance over the wire: {self.target} at {self.url}",
                 f"protocol {caps.get('protocol')}, profile {caps.get('profile')}, virtual timers "
                 f"{caps.get('virtual_timers')}, settle {caps.get('settle', 'exact')}", ""]
        for v in self.verdicts:
            lines.append(f"{v.grade:<12} {v.vector}  {' '.join(v.rules)}")
            lines += [f"             {p}" for p in v.problems[:6]]
        lines += ["", f"{'rule':<9} {'status':<12} detail", "-" * 78]
        for rule, (result, why) in self.per_rule().items():
            lines.append(f"{rule:<9} {result:<12} {why}"[:200])
        lines += ["-" * 78, "cases: " + "  ".join(f"{g}: {n}" for g, n in self.counts().items())
                  + f"   ({self.seconds:.1f}s)",
                  "rules: " + "  ".join(f"{g}: {n}" for g in GRADES
                                        if (n := sum(r == g for r, _ in self.per_rule().values()))),
                  f"\nexit status {self.exit_status}"]
        return "\n".join(lines)

    def to_index(self) -> dict[str, Any]:
        """Autobahn's ``index.json`` shape: agent -> case -> result (``behavior`` is our grade)."""
        cases = {v.vector: {"behavior": v.grade, "behaviorClose": v.grade, "rules": v.rules,
                            "problems": v.problems,
                            "duration": round(1000 * self.durations.get(v.vector, 0.0)), "reportfile": None}
                 for v in self.verdicts}
        return {self.target: cases}

    def write_junit(self, path: str) -> None:
        suite = ET.Element("testsuite", name="tasktail-conform-wire", time=f"{self.seconds:.3f}")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for v in self.verdicts:
            case = ET.SubElement(suite, "testcase", classname=f"{self.target}.{'.'.join(v.rules[:1])}",
                                 name=v.vector)
            counts["tests"] += 1
            if v.grade == "FAIL":
                ET.SubElement(case, "failure", message=(v.problems or ["FAIL"])[0][:500]).text = "\n".join(v.problems)
                counts["failures"] += 1
            elif v.grade == "UNSUPPORTED":
                ET.SubElement(case, "skipped", message="UNSUPPORTED: " + "; ".join(v.problems))
                counts["skipped"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
        ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)


async def run_wire(url: str, control: str | None = None, *, vectors: list[dict[str, Any]] | None = None,
                   timeout: float = 10.0, programs: int = 0, seed: int = 0, wait: float = 0.0) -> WireReport:
    """Judge the server at ``url`` by the corpus (and ``programs`` generated programs)."""
    started = time.monotonic()
    target: Target = await connect_target(url, control, timeout=timeout, wait=wait)
    report = WireReport(target.name, url, target.capabilities)
    for vector in load() if vectors is None else vectors:
        began = time.monotonic()
        report.verdicts.append(await run_vector_wire(vector, target))
        report.durations[vector["id"]] = time.monotonic() - began
    if programs:
        from ._programs import run_programs

        report.verdicts += await run_programs(target, programs, seed=seed)
    report.seconds = time.monotonic() - started
    return report
