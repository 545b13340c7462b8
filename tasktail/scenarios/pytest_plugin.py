"""pytest plugin: ``pytest --tasktail-impl=MODULE:FACTORY`` adds one test item per SPEC rule.

Items are plain synchronous tests that call the suite (which runs its own event loops), so
they never need an event loop from pytest: pytest-asyncio in auto mode leaves them alone.
Register with ``-p tasktail.scenarios.pytest_plugin`` or the ``pytest11`` entry point.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["pytest_addoption", "pytest_collection_modifyitems"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tasktail", "tasktail conformance suite")
    group.addoption("--tasktail-impl", default=None, help="MODULE:FACTORY to check against SPEC.md")
    group.addoption("--tasktail-rules", default="*", help="glob(s) of rule IDs")
    group.addoption("--tasktail-backend", default="both", choices=["asyncio", "trio", "both"])
    group.addoption("--tasktail-examples", type=int, default=None)
    group.addoption("--tasktail-seed", type=int, default=0)
    group.addoption("--tasktail-config", action="append", default=[], metavar="KEY=VALUE",
                    help="what the manager really does, e.g. max_queue_size=100")


class _Report:
    report: Any = None


class RuleItem(pytest.Item):
    def __init__(self, *, rule: str, shared: _Report, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule, self.shared = rule, shared

    def report(self) -> Any:
        """The suite's report, run once and shared by every item."""
        if self.shared.report is None:
            from . import check_connection_manager
            from ._subject import load_factory
            from .conform import parse_config

            opt = self.config.getoption
            self.shared.report = check_connection_manager(
                load_factory(opt("--tasktail-impl")), rules=opt("--tasktail-rules"),
                backend=opt("--tasktail-backend"), examples=opt("--tasktail-examples"), seed=opt("--tasktail-seed"),
                config=parse_config(opt("--tasktail-config")))
        return self.shared.report

    def runtest(self) -> None:
        outcome = self.report().outcomes[self.rule]
        if outcome.status == "UNSUPPORTED":
            pytest.skip(f"UNSUPPORTED: {outcome.detail}")
        if outcome.status == "FAIL":
            found = "\n\n".join(f"finding {n}: {f.kind}, {f.where()}\n{f.message}\n{f.reproduce}"
                                 for n, f in enumerate(outcome.findings, 1))
            raise AssertionError(f"{self.rule}: {outcome.detail}\n{found}")
        if outcome.status in ("INCOMPLETE", "BLOCKED"):  # not a pass: the rule was not fully judged
            raise AssertionError(f"{self.rule} {outcome.status}: {outcome.detail}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:  # type: ignore[override]
        return str(excinfo.value)

    def reportinfo(self) -> tuple[str, int, str]:
        return "tasktail-conform", 0, f"tasktail conform {self.rule}"


class RuleCollector(pytest.Collector):
    def collect(self) -> list[pytest.Item]:
        from ._subject import select_rules

        shared = _Report()
        rules = select_rules(self.config.getoption("--tasktail-rules"))
        return [RuleItem.from_parent(self, name=rule, rule=rule, shared=shared) for rule in rules]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--tasktail-impl"):
        return
    collector = RuleCollector.from_parent(session, name="tasktail-conform")
    items.extend(collector.collect())
