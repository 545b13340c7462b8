"""What a run hands back: its violations, its history and each socket's transcript."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from ._program import Program

__all__ = ["RunResult", "ScenarioFailure", "Violation"]


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    tick: int
    kind: str = "wrong answer"  # see _findings.KINDS

    @property
    def signature(self) -> tuple[str, str]:
        return (self.rule, self.kind)

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class ScenarioFailure(AssertionError):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(map(str, violations)))
        self.violations = violations


@dataclass
class RunResult:
    program: Program
    backend: str
    violations: list[Violation]
    history: list[str]
    transcripts: dict[int, list[str]]
    coverage: collections.Counter = field(default_factory=collections.Counter)

    @property
    def ok(self) -> bool:
        return not self.violations

    def trace(self) -> list[str]:
        out = list(self.history)
        for sid, items in sorted(self.transcripts.items()):
            out.append(f"socket {sid}: " + " ".join(items))
        return out + [f"VIOLATION {v}" for v in self.violations]

    def describe(self) -> str:
        return "\n".join(self.trace())
