"""``tasktail demo``: a web page that shows CSV jobs and training runs live.

Run ``tasktail demo`` (needs the ``starlette`` extra) and open the printed address. Build
the app yourself with :func:`create_app`, e.g. to serve it from tests on an ephemeral port.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

__all__ = ["main", "create_app", "serve"]


def create_app(*args, **kwargs):  # a thin wrapper so 'import tasktail.demo' needs no starlette
    from ._app import create_app as _create_app

    return _create_app(*args, **kwargs)


create_app.__doc__ = "The demo Starlette app; see :func:`tasktail.demo._app.create_app`."


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _log_config() -> dict:
    """uvicorn's logging, plus the app's one-line reports (``tasktail.demo``) in its format."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["tasktail.demo"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def serve(app, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "warning") -> None:
    """Bind first (port 0 picks a free one), print the real address, then run uvicorn."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    print(f"tasktail demo: serving on {_url(sock)}  (Ctrl+C to stop)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on", log_config=_log_config()))
    server.run(sockets=[sock])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tasktail demo", description="Serve a web page that shows CSV jobs and training runs live.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    parser.add_argument("--pace", type=float, default=0.3, help="seconds per job step (default 0.3)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of a training run (default 20)")
    parser.add_argument("--upload-limit", type=int, default=1_000_000, help="max CSV bytes (default 1 MB)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also accept this Host header (repeatable); 127.0.0.1, localhost, [::1] "
                             "and --host are always accepted")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level (default info)")
    args = parser.parse_args(argv)
    if args.pace < 0 or args.epochs < 1 or args.upload_limit < 1 or not 0 <= args.port <= 65535:
        parser.error("--pace must be >= 0, --epochs and --upload-limit >= 1, --port in 0..65535")
    try:
        app = create_app(pace=args.pace, epochs=args.epochs, upload_limit=args.upload_limit,
                         allowed_hosts=[args.host, *args.allow_host])
    except ImportError as exc:
        print(f"tasktail demo needs the web extra: pip install 'tasktail[starlette]' ({exc})", file=sys.stderr)
        return 1
    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            print("warning: the demo has no login; anyone who can reach this address can start tasks "
                  "(requests must name it, or an --allow-host name, in their Host header)", file=sys.stderr)
    except ValueError:
        pass  # a host name
    try:
        serve(app, args.host, args.port, log_level=args.log_level)
    except OSError as exc:
        print(f"tasktail demo: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
