"""``python -m tasktail.vectors generate | run [--factory MODULE:FACTORY | --redis URL] [--backend B]``."""

from __future__ import annotations

import argparse
import sys

from tasktail.fakes import available_backends

from ._corpus import generate, per_rule, reference_factory, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasktail.vectors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write corpus/*.json from the scenarios and the reference")
    runner = sub.add_parser("run", help="replay the corpus against a factory")
    runner.add_argument("--factory", help="MODULE:FACTORY (default: the reference)")
    runner.add_argument("--redis", metavar="URL",
                        help="the Redis backend on this server (each vector on a fresh key prefix)")
    runner.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    args = parser.parse_args(argv)
    if args.command == "generate":
        for path in generate():
            print(path.name)
        return 0
    from tasktail.scenarios import UsageError, load_factory  # the current directory is importable

    try:
        if args.factory and args.redis:
            raise UsageError("--factory and --redis exclude each other")
        if args.redis:
            from tasktail.redis.conformance import redis_factory

            factory = redis_factory(args.redis)
        else:
            factory = load_factory(args.factory) if args.factory else reference_factory
    except UsageError as exc:
        print(f"python -m tasktail.vectors: {exc}", file=sys.stderr)
        return 2
    backends = available_backends() if args.backend == "both" else (args.backend,)
    verdicts = run(factory, backends)
    for v in verdicts:
        print(f"{v.grade:<12} {v.vector} [{v.backend}] {' '.join(v.rules)}")
        for problem in v.problems:
            print(f"             {problem}")
    print()
    rules = per_rule(verdicts)
    for rule, result in rules.items():
        print(f"{result:<12} {rule}")
    return 1 if "FAIL" in rules.values() else 0


if __name__ == "__main__":
    sys.exit(main())
