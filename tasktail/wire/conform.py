"""``tasktail conform --url ws://HOST:PORT/PATH/{task}``: judge a running server over the wire.

Exit status: 0 no rule FAILs (UNSUPPORTED ones are not claimed); 1 a rule FAILs; 2 usage
error, or the port cannot be judged (unreachable, another protocol major version).
"""

from __future__ import annotations

import argparse
import json
import sys

import anyio

from ._runner import ProtocolRefused, WireError
from ._suite import run_wire

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tasktail conform --url",
                                description="Judge a running server by the vectors, over the wire "
                                            "(tasktail/wire/PROTOCOL.md).")
    p.add_argument("--url", required=True, help="the WebSocket URL template, e.g. ws://127.0.0.1:8000/ws/{task}")
    p.add_argument("--control", default=None, help="the control surface's base URL (default: http://HOST:PORT/_tasktail)")
    p.add_argument("--programs", type=int, default=5, help="generated programs checked against the reference "
                   "(default 5; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated programs")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds any one wait may take (default 10)")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a server that is starting "
                   "(refusing connections) before giving up (default 0)")
    p.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio", help="the runner's event loop")
    p.add_argument("--json", dest="json_path", help="write the report as JSON in the shape of Autobahn's index.json")
    p.add_argument("--junit", "--junitxml", dest="junit", help="write the report as JUnit XML")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.programs < 0 or args.timeout <= 0:
        print("tasktail conform: --programs must be >= 0 and --timeout > 0", file=sys.stderr)
        return 2
    try:
        report = anyio.run(lambda: run_wire(args.url, args.control, timeout=args.timeout, programs=args.programs,
                                            seed=args.seed, wait=args.wait), backend=args.backend)
    except (ValueError, ProtocolRefused, WireError) as exc:
        print(f"tasktail conform: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(report.to_index(), f, indent=1)
    if args.junit:
        report.write_junit(args.junit)
    return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
