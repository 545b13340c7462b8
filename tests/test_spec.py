"""SPEC.md is the contract: every rule names checks that exist and are marked with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULE = re.compile(r"^\*\*([A-Z]{2,6}-\d+) — ", re.M)


def spec_rules() -> dict[str, list[str]]:
    text = (ROOT / "SPEC.md").read_text()
    rules = {}
    for match in RULE.finditer(text):
        body = text[match.end(): text.find("\n\n", match.end())]
        checks = re.search(r"Checks: (.*)", body, re.S)
        rules[match.group(1)] = re.findall(r"`(test_\w+)`", checks.group(1)) if checks else []
    return rules


def marked_tests() -> dict[str, set[str]]:
    """test name -> rule IDs in its @pytest.mark.rule(...) decorators, across tests/."""
    marks: dict[str, set[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                for decorator in node.decorator_list:
                    if (isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "rule"):
                        marks.setdefault(node.name, set()).update(a.value for a in decorator.args)
    return marks


def test_every_rule_has_a_marked_check():
    rules, marks = spec_rules(), marked_tests()
    assert len(rules) >= 40
    problems = []
    for rule, checks in rules.items():
        if not checks:
            problems.append(f"{rule}: no checks listed")
        for check in checks:
            if rule not in marks.get(check, set()):
                problems.append(f"{rule}: {check} is missing or not marked rule({rule!r})")
    assert problems == []


def test_every_marked_rule_exists_in_spec():
    rules = spec_rules()
    unknown = {rule for names in marked_tests().values() for rule in names} - set(rules)
    assert unknown == set()


def spec_lines(prefix: str) -> dict[str, list[str]]:
    """rule -> names in its ``Conformance ...:`` or ``Zoo:`` line."""
    text = (ROOT / "SPEC.md").read_text()
    found = {}
    for match in RULE.finditer(text):
        body = text[match.end(): text.find("\n\n", match.end())]
        line = re.search(rf"^{prefix}[^:]*: (.*)$", body, re.M)
        found[match.group(1)] = re.findall(r"`(\w+)`", line.group(1)) if line else []
    return found


def test_conformance_lines_match_the_suite():
    from tasktail.scenarios import CHECKS, CORE_RULES

    listed = spec_lines("Conformance")
    actual: dict[str, list[str]] = {}
    for check in CHECKS:
        actual.setdefault(check.rule, []).append(check.name)
    assert {rule: names for rule, names in listed.items() if names} == actual
    text = (ROOT / "SPEC.md").read_text()
    for rule in CORE_RULES:
        assert re.search(rf"\*\*{rule} — (?:(?!\n\*\*).)*Conformance \(core\)", text, re.S), rule


def test_zoo_lines_match_the_zoo():
    from tasktail.zoo import ZOO

    listed = {rule: names for rule, names in spec_lines("Zoo").items() if names}
    actual: dict[str, list[str]] = {}
    for name, member in ZOO.items():
        actual.setdefault(member.breaks, []).append(name)
    assert listed == actual


def test_reference_zoo_lines_match_the_reference_zoo():
    from tasktail.zoo import REFERENCE_ZOO

    listed = {rule: names for rule, names in spec_lines("Reference zoo").items() if names}
    actual: dict[str, list[str]] = {}
    for name, member in REFERENCE_ZOO.items():
        actual.setdefault(member.breaks, []).append(name)
    assert listed == actual
