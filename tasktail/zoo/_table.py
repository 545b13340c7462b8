"""How well the conformance suite catches the zoo: the table the README shows.

Run it as ``python -m tasktail.zoo`` (see ``__main__``) or call :func:`zoo_catch_table`.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CatchRow", "zoo_catch_table"]


class CatchRow(NamedTuple):
    member: str
    rule: str  # the rule the member is meant to break
    caught_by_rule: bool  # the suite failed it on that rule
    caught_by: str  # the scripted check, or "program #N [backend]": N programs until the first failure
    other_rules_failed: tuple[str, ...]  # other rules it also failed (honest side effects)
    search_alone: str  # with no scripted checks: "program #N [backend]" on the named rule, or ""


def zoo_catch_table(seed: int = 0, *, examples: int | None = None, backend: str = "both") -> list[CatchRow]:
    """Run the whole conformance suite on every zoo member with the CI settings."""
    from tasktail.scenarios import check_connection_manager  # lazy: hypothesis is a dev dependency

    from . import ZOO, factory_for

    rows = []
    for name, cls in ZOO.items():
        report = check_connection_manager(factory_for(name), rules="*", backend=backend,
                                          examples=examples, seed=seed)
        named = report.outcomes.get(cls.breaks)
        others = tuple(sorted(rule for rule, outcome in report.outcomes.items()
                              if outcome.status == "FAIL" and rule != cls.breaks))
        search = check_connection_manager(factory_for(name), rules=cls.breaks, backend=backend,
                                          examples=examples, seed=seed, scripted=False)
        alone = search.outcomes[cls.breaks]
        rows.append(CatchRow(name, cls.breaks, named is not None and named.status == "FAIL",
                             named.caught_by if named is not None else "", others,
                             alone.caught_by if alone.status == "FAIL" else ""))
    return rows


def format_table(rows: list[CatchRow]) -> str:
    """A Markdown table of :func:`zoo_catch_table` rows."""
    lines = ["| member | breaks | caught | caught by | generated programs alone | also failed |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row.member}` | {row.rule} | {'yes' if row.caught_by_rule else '**no**'} "
                     f"| {row.caught_by} | {row.search_alone or 'not within budget'} "
                     f"| {', '.join(row.other_rules_failed) or '-'} |")
    return "\n".join(lines)
