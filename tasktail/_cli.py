"""The ``tasktail`` command."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _watch(args: argparse.Namespace) -> int:
    from ._watch import run_watch

    return run_watch(rows=args.rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tasktail", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", help="a short live demo in the terminal")
    watch.add_argument("--rows", type=int, default=40, help="rows of the simulated CSV job")
    watch.set_defaults(run=_watch)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
