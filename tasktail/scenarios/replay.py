"""``tasktail replay FILE``: re-run a finding that ``--save-failures`` wrote as JSON.

A generated program runs again and prints its history; a scripted finding re-runs its
check. Exit status 0 when the rule now holds, 1 when it still breaks, 2 for a bad file."""

from __future__ import annotations

import argparse
import json
import sys

from ._program import Program
from ._runner import run_program
from ._subject import Subject, UsageError, load_factory, reference_factory

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tasktail replay", description=__doc__)
    p.add_argument("file")
    p.add_argument("--factory", help="MODULE:FACTORY to run it against instead of the saved one")
    p.add_argument("--backend", choices=["asyncio", "trio"], help="instead of the saved backend")
    try:
        args = p.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        with open(args.file) as f:
            data = json.load(f)
        spec = args.factory or data.get("factory")
        factory = load_factory(spec) if spec else reference_factory
        backend = args.backend or data.get("backend", "asyncio")
        subject = Subject(factory, data.get("capabilities"), data.get("config"))
        program = Program.from_json(data["program"]) if data.get("program") else None
        check = data.get("check")
        if program is None and not check:
            raise ValueError("the file names neither a program nor a check")
    except (OSError, ValueError, KeyError, TypeError, UsageError) as exc:
        print(f"tasktail replay: {exc}", file=sys.stderr)
        return 2
    if program is not None:
        result = run_program(subject, program, backend=backend)
        print(result.describe())
        print("OK: no rule broken" if result.ok else f"FAILED: {len(result.violations)} violation(s)")
        return 0 if result.ok else 1
    from ._checks_run import run_check
    from ._rules import CHECKS

    chk = next((c for c in CHECKS if c.name == check), None)
    if chk is None:
        print(f"tasktail replay: no scripted check named {check!r}", file=sys.stderr)
        return 2
    outcome = run_check(subject, chk, backend)
    print(f"{chk.name} [{backend}] ({chk.rule}): {chk.doc}")
    for finding in outcome.findings:
        print(f"  {finding.rule} {finding.kind}: {finding.message}")
    failed = [f for f in outcome.findings if f.rule == data.get("rule", chk.rule)]
    print(f"FAILED: {outcome.status}" if failed else f"OK: {outcome.status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
