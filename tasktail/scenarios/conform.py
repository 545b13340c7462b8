"""``tasktail conform [MODULE:FACTORY]``: check an implementation against SPEC.md.

``tasktail conform --url ws://HOST:PORT/PATH/{task}`` judges a running server over the wire
instead (``tasktail.wire.conform``).

Exit status: 0 every claimed rule PASS or NON-STRICT (UNSUPPORTED ones are not claimed);
1 a rule FAILs (or --check-determinism saw a difference); 2 usage error (bad import path,
option, rule, factory that cannot take the suite's config); 3 the suite itself failed (a
bug in tasktail: please report it); 4 no FAIL, but a rule is INCOMPLETE or BLOCKED.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ._findings import SuiteError
from ._report import EXIT
from ._subject import UsageError, load_factory, reference_factory

__all__ = ["main", "parse_config"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"tasktail conform: {message}", file=sys.stderr)
        raise SystemExit(EXIT["usage"])


def _at_least_one(what: str, why: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number >= 1, else an error naming the value and ``what``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{value} {what}: expected at least 1{why}")
        return value
    return parse


_examples = _at_least_one("programs", " (the search is a rule's evidence)")
_jobs = _at_least_one("jobs")


def parse_config(items: list[str]) -> dict[str, Any]:
    """``["max_queue_size=100"]`` -> ``{"max_queue_size": 100}`` (values read as JSON, else text)."""
    config: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--config {item!r}: expected KEY=VALUE, e.g. --config max_queue_size=100")
        try:
            config[key] = json.loads(raw)
        except ValueError:
            config[key] = raw
    return config


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tasktail conform", description="Check a ConnectionManager against SPEC.md. With "
                "--url ws://HOST:PORT/PATH/{task}: judge a running server over the wire instead "
                "(options: tasktail conform --url URL --help).")
    p.add_argument("factory", nargs="?", help="MODULE:FACTORY (default: the reference ConnectionManager); "
                   "the current directory is importable")
    p.add_argument("--rules", default="*", help="glob(s) of rule IDs, comma-separated (default: all)")
    p.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    p.add_argument("--examples", type=_examples, default=None, help="generated programs per backend (>= 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--capabilities", default=None,
                   help="comma-separated capabilities (default: the factory's tasktail_capabilities)")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="what the manager really does, e.g. max_queue_size=100 for a fixed cap (repeatable)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds for the generated programs; rules they did not finish are INCOMPLETE")
    p.add_argument("--json", dest="json_path", help="write the report as JSON")
    p.add_argument("--junitxml", help="write the report as JUnit XML")
    p.add_argument("--save-failures", help="directory: every finding as JSON (tasktail replay FILE)")
    p.add_argument("--jobs", type=_jobs, default=None,
                   help="processes searching the backends at once (default: min(2, cores); 1: one after the "
                        "other); the report is the same, only the wall time differs")
    p.add_argument("--check-determinism", action="store_true",
                   help="also run the seed's generated programs twice per backend and compare the traces")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a == "--url" or a.startswith("--url=") for a in argv):  # a running server, over the wire
        from tasktail.wire.conform import main as wire_main

        return wire_main(argv)
    from ._generate import private_hypothesis_home
    from ._jobs import default_jobs
    from ._suite import check_connection_manager

    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        factory = load_factory(args.factory) if args.factory else reference_factory
        caps = None if args.capabilities is None else [c for c in args.capabilities.split(",") if c]
        with private_hypothesis_home():
            report = check_connection_manager(factory, rules=args.rules, backend=args.backend,
                                              examples=args.examples, seed=args.seed, capabilities=caps,
                                              save_failures=args.save_failures, config=parse_config(args.config),
                                              time_limit=args.time_limit, check_determinism=args.check_determinism,
                                              jobs=default_jobs() if args.jobs is None else args.jobs)
    except UsageError as exc:
        print(f"tasktail conform: {exc}", file=sys.stderr)
        return EXIT["usage"]
    except SuiteError as exc:
        print(f"tasktail conform: SUITE ERROR: {exc}", file=sys.stderr)
        return EXIT["suite error"]
    print(report.table())
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(report.to_json(), f, indent=1)
    if args.junitxml:
        from ._junit import write_junit

        write_junit(report, args.junitxml)
    return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
