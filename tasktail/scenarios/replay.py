"""``tasktail replay FILE``: re-run a failing scenario that ``--save-failures`` wrote as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from ._program import Program
from ._runner import run_program
from ._subject import load_factory, reference_factory

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
        program = Program.from_json(data["program"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"tasktail replay: {exc}", file=sys.stderr)
        return 2
    result = run_program(factory, program, backend=args.backend or data.get("backend", "asyncio"),
                         capabilities=data.get("capabilities"))
    print(result.describe())
    print("OK: no rule broken" if result.ok else f"FAILED: {len(result.violations)} violation(s)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
