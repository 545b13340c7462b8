"""``tasktail serve-test``: serve a Python port in test mode (tasktail/wire/PROTOCOL.md) on
virtual time, for ``tasktail conform --url``. Never in production: the control surface lets
anyone log into any task."""

from __future__ import annotations

import argparse
import sys

from ._serve import FRAMEWORKS, TestServer

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tasktail serve-test", description=__doc__)
    p.add_argument("--framework", choices=FRAMEWORKS, default="starlette")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--planted", default=None, help="the aiohttp port's planted bug (tasktail.ports.aiohttp.PLANTED)")
    try:
        args = p.parse_args(sys.argv[1:] if argv is None else argv)
        server = TestServer(args.framework, planted=args.planted, host=args.host, port=args.port)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (ValueError, OSError) as exc:
        print(f"tasktail serve-test: {exc}", file=sys.stderr)
        return 2
    print(f"serving {server.mode.name} in test mode: --url '{server.url}' (control {server.control})", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
