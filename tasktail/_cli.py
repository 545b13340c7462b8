"""The ``tasktail`` command: each subcommand lives with the part of the project it runs."""

from __future__ import annotations

import sys
from importlib import import_module

__all__ = ["main"]

#: subcommand -> (module whose ``main(argv) -> int`` runs it, one-line help)
COMMANDS = {
    "watch": ("tasktail._watch", "a short live demo in the terminal"),
    "demo": ("tasktail.demo", "serve the live-log web app on 127.0.0.1"),
    "conform": ("tasktail.scenarios.conform", "check an implementation against SPEC.md (--url: a server, over the wire)"),
    "serve-test": ("tasktail.wire.serve", "serve a Python port in test mode for 'conform --url'"),
    "replay": ("tasktail.scenarios.replay", "re-run a failing scenario saved as JSON"),
    "bench": ("tasktail.benchmarks", "compare queue strategies and peers"),
}


def _usage() -> str:
    lines = ["usage: tasktail COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines.append("\n'tasktail COMMAND --help' describes a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"tasktail: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = import_module(COMMANDS[name][0])
    except ModuleNotFoundError as exc:  # an optional extra is not installed
        extra = {"hypothesis": "harness", "trio": "harness", "starlette": "starlette",
                 "uvicorn": "starlette", "websockets": "starlette", "aiohttp": "aiohttp"}.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"tasktail {name}: needs {exc.name!r}; install it with: pip install 'tasktail[{extra}]'",
              file=sys.stderr)
        return 2
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
