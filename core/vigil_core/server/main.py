"""`vigil-analytics serve` and `vigil-analytics token`: run the server, show or rotate its token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from importlib.metadata import PackageNotFoundError, version
import json
import logging
import os
from pathlib import Path
import signal
import socket
import sys
from typing import Any

from vigil_protocol import DEFAULT_PORT

from .app import ServerSettings, VigilServer
from .data import DataFolder

_LOGGER = logging.getLogger(__name__)

LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def default_data_dir() -> Path:
    """Return the data folder: $VIGIL_DATA, else ~/.local/share/vigil-analytics."""
    env = os.environ.get("VIGIL_DATA")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vigil-analytics"


def package_version() -> str:
    """Return the installed vigil-analytics version ("dev" from a source tree)."""
    try:
        return version("vigil-analytics")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "dev"


def add_commands(sub: Any) -> None:
    """Add `serve` and `token` to the command line's subcommands."""
    serve = sub.add_parser("serve", help="run the Vigil server (for Home Assistant and scripts)")
    serve.add_argument(
        "--data", type=Path, help="data folder (default $VIGIL_DATA or ~/.local/share)"
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("VIGIL_HOST", "127.0.0.1"),
        help="address to listen on (0.0.0.0: every interface)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("VIGIL_PORT", DEFAULT_PORT)),
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    serve.add_argument("--name", help="name announced on the network (default: the host name)")
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=os.environ.get("VIGIL_LOG_LEVEL", "info").lower(),
        help="what the log says (default $VIGIL_LOG_LEVEL or info; -v is debug)",
    )
    serve.add_argument(
        "--config",
        type=Path,
        help="run this YAML configuration (standalone, without Home Assistant)",
    )
    serve.add_argument(
        "--models-dir", type=Path, help="folder holding the model files (default <data>/models)"
    )
    serve.add_argument(
        "--download",
        action="store_true",
        help="download the models a configuration needs from their pinned URLs (sha256-checked)",
    )
    serve.add_argument("--tls-cert", type=Path, help="serve TLS with this certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="accept clients without the token (loopback addresses only)",
    )
    serve.add_argument(
        "--no-zeroconf", action="store_true", help="do not announce the server on the local network"
    )
    serve.set_defaults(handler=cmd_serve)  # fmt: skip

    token = sub.add_parser("token", help="print the server's token (or --rotate it)")
    token.add_argument("--data", type=Path, help="data folder (default as for serve)")
    token.add_argument("--rotate", action="store_true", help="replace it: clients must re-enter it")
    token.set_defaults(handler=cmd_token)


def cmd_token(args: argparse.Namespace) -> int:
    """Print the token (creating the data folder and token on first use)."""
    data = DataFolder(args.data or default_data_dir())
    data.prepare()
    print(data.rotate_token() if args.rotate else data.token())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until SIGINT or SIGTERM."""
    from vigil_core.cli import load_raw_config  # noqa: PLC0415 - the CLI imports this module

    level = LOG_LEVELS.get(args.log_level)
    if level is None:  # a default from $VIGIL_LOG_LEVEL is not checked by argparse
        print(
            f"vigil-analytics: error: log level {args.log_level!r} is not one of "
            f"{', '.join(LOG_LEVELS)}",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    if (args.tls_cert is None) != (args.tls_key is None):
        print("vigil-analytics: error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    settings = ServerSettings(
        data_dir=args.data or default_data_dir(),
        host=args.host,
        port=args.port,
        name=args.name or socket.gethostname(),
        models_dir=args.models_dir,
        allow_download=args.download,
        config=load_raw_config(args.config) if args.config is not None else None,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        require_token=not args.no_auth,
        zeroconf=not args.no_zeroconf,
        version=package_version(),
    )
    return asyncio.run(serve(settings))


async def serve(settings: ServerSettings) -> int:
    """Start a server, say where it listens (one JSON line on stdout), run until a signal."""
    server = VigilServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await server.start()
        print(
            json.dumps(
                {
                    "event": "listening",
                    "host": settings.host,
                    "port": server.port,
                    "server_id": server.server_id,
                    "tls": settings.tls_cert is not None,
                    "token_file": str(server.data.root / "token"),
                }
            ),
            flush=True,
        )
        await stop.wait()
    finally:
        await server.stop()
    return 0
