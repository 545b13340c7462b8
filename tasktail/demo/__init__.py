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


def serve(app, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "warning", workers: int = 1,
          options: dict | None = None) -> None:
    """Bind first (port 0 picks a free one), print the real address, then run uvicorn.

    ``workers`` > 1 (with ``--redis``): uvicorn's supervisor starts that many processes on
    the one socket, each building the app from ``options`` (``tasktail.demo._worker``)."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    print(f"tasktail demo: serving on {_url(sock)}  (Ctrl+C to stop)"
          + (f"  [{workers} worker processes, Redis]" if workers > 1 else ""), flush=True)
    if workers > 1:
        import json
        import os

        from uvicorn.supervisors import Multiprocess

        from ._worker import ENV

        os.environ[ENV] = json.dumps(options or {})
        config = uvicorn.Config("tasktail.demo._worker:app", factory=True, workers=workers, log_level=log_level,
                                lifespan="on", log_config=_log_config())
        Multiprocess(config, sockets=[sock]).run()
        return
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
    parser.add_argument("--redis", metavar="URL",
                        help="run on the Redis backend (e.g. redis://127.0.0.1:6379/0) with several workers")
    parser.add_argument("--workers", type=int, default=None,
                        help="uvicorn worker processes (needs --redis; default 2 with --redis, else 1)")
    args = parser.parse_args(argv)
    if args.pace < 0 or args.epochs < 1 or args.upload_limit < 1 or not 0 <= args.port <= 65535:
        parser.error("--pace must be >= 0, --epochs and --upload-limit >= 1, --port in 0..65535")
    workers = args.workers if args.workers is not None else (2 if args.redis else 1)
    if workers < 1 or (workers > 1 and not args.redis):
        parser.error("--workers must be >= 1, and above 1 only with --redis (in-memory tasks live in one process)")
    options = dict(pace=args.pace, epochs=args.epochs, upload_limit=args.upload_limit,
                   allowed_hosts=[args.host, *args.allow_host], redis_url=args.redis)
    if args.redis:
        try:
            from tasktail.redis._common import shown_url
            from tasktail.redis._producer import require

            require("coredis")
            import redis as redis_py

            with redis_py.Redis.from_url(args.redis, socket_connect_timeout=5, socket_timeout=5) as probe:
                probe.ping()
        except ImportError as exc:
            print(f"tasktail demo --redis needs the redis extra: pip install 'tasktail[redis]' ({exc})",
                  file=sys.stderr)
            return 1
        except Exception as exc:  # noqa: BLE001 - said plainly, before any worker starts
            print(f"tasktail demo: Redis at {shown_url(args.redis)} does not answer: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 1
    try:
        app = create_app(**options)
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
        serve(app, args.host, args.port, log_level=args.log_level, workers=workers, options=options)
    except OSError as exc:
        print(f"tasktail demo: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
