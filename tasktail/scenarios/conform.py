"""``tasktail conform [MODULE:FACTORY]``: check an implementation against SPEC.md.

Exit status: 0 when every claimed rule passes (NON-STRICT and UNSUPPORTED included),
1 when a rule fails, 2 for a usage error (bad import path, unknown option or rule).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ._subject import load_factory, reference_factory

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"tasktail conform: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tasktail conform", description="Check a ConnectionManager against SPEC.md.")
    p.add_argument("factory", nargs="?", help="MODULE:FACTORY (default: the reference ConnectionManager)")
    p.add_argument("--rules", default="*", help="glob(s) of rule IDs, comma-separated (default: all)")
    p.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    p.add_argument("--examples", type=int, default=None, help="generated programs per backend")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--capabilities", default=None,
                   help="comma-separated capabilities (default: the factory's tasktail_capabilities)")
    p.add_argument("--json", dest="json_path", help="write the report as JSON")
    p.add_argument("--junitxml", help="write the report as JUnit XML")
    p.add_argument("--save-failures", help="directory for failing scenarios as JSON (tasktail replay FILE)")
    p.add_argument("--check-determinism", action="store_true",
                   help="run the seed's generated programs twice per backend and compare the traces")
    return p


def main(argv: list[str] | None = None) -> int:
    from ._suite import check_connection_manager, determinism

    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        factory = load_factory(args.factory) if args.factory else reference_factory
        caps = None if args.capabilities is None else [c for c in args.capabilities.split(",") if c]
        if args.check_determinism:
            started = time.perf_counter()
            problems = determinism(factory, backend=args.backend, seed=args.seed, examples=args.examples,
                                   capabilities=caps)
            for line in problems:
                print(line)
            print(f"determinism: {'OK' if not problems else 'DIFFERENT'} ({time.perf_counter() - started:.1f}s)")
            return 1 if problems else 0
        report = check_connection_manager(factory, rules=args.rules, backend=args.backend, examples=args.examples,
                                          seed=args.seed, capabilities=caps, save_failures=args.save_failures)
    except ValueError as exc:
        print(f"tasktail conform: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(report.to_json(), f, indent=1)
    if args.junitxml:
        from ._junit import write_junit

        write_junit(report, args.junitxml)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
