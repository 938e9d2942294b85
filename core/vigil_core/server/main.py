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
from typing import TYPE_CHECKING, Any

from vigil_protocol import DEFAULT_PORT

from .data import DataFolder

if TYPE_CHECKING:
    from .app import ServerSettings
    from .mqtt import MqttSettings

DEFAULT_PREFIX = "vigil"

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
        "--data",
        type=Path,
        help="data folder (default $VIGIL_DATA or ~/.local/share/vigil-analytics)",
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("VIGIL_HOST", "127.0.0.1"),
        help="address to listen on (default $VIGIL_HOST or 127.0.0.1; 0.0.0.0: every interface)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("VIGIL_PORT", DEFAULT_PORT)),
        help=f"port to listen on (default $VIGIL_PORT or {DEFAULT_PORT}; 0 picks a free one)",
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
        help="run this YAML configuration (standalone, without Home Assistant); a file that "
        "does not validate stops the server with every error",
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
    serve.add_argument(
        "--discovery-target",
        action="append",
        default=[],
        type=discovery_target,
        metavar="HOST[:PORT]",
        help="send ONVIF WS-Discovery probes to this address instead of the multicast group "
        "(repeatable; for camera networks that do not carry multicast)",
    )
    serve.add_argument(
        "--track-memory",
        type=float,
        default=float(os.environ.get("VIGIL_TRACK_MEMORY_S", "300")),
        metavar="SECONDS",
        help="keep each camera's recent tracks this long, in memory only, for rule previews "
        "(default 300; 0 keeps none)",
    )
    serve.add_argument(
        "--kserve-url",
        default=os.environ.get("VIGIL_KSERVE_URL") or None,
        metavar="URL",
        help="run the detector on this KServe v2 / Triton server whatever the clients' "
        "configuration says, with the local session as fallback ($VIGIL_KSERVE_URL)",
    )
    serve.add_argument(
        "--kserve-model",
        default=os.environ.get("VIGIL_KSERVE_MODEL") or None,
        metavar="NAME",
        help="the inference server's name for the detector model ($VIGIL_KSERVE_MODEL; "
        "default: the detector's own name)",
    )
    _add_mqtt_options(serve)
    serve.set_defaults(handler=cmd_serve)  # fmt: skip

    token = sub.add_parser("token", help="print the server's token (or --rotate it)")
    token.add_argument("--data", type=Path, help="data folder (default as for serve)")
    token.add_argument("--rotate", action="store_true", help="replace it: clients must re-enter it")
    token.set_defaults(handler=cmd_token)


def discovery_target(value: str) -> tuple[str, int]:
    """Return a WS-Discovery address from HOST or HOST:PORT (the port defaults to 3702)."""
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "3702")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST or HOST:PORT")
    return host, int(port)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _add_mqtt_options(serve: Any) -> None:
    """Add the MQTT publishing options (each with its environment variable)."""
    env = os.environ.get
    mqtt = serve.add_argument_group(
        "MQTT", "publish every state and event to a broker too (docs/server.md#mqtt)"
    )
    mqtt.add_argument(
        "--mqtt-host", default=env("VIGIL_MQTT_HOST") or None,
        help="the broker's address; publishing is on when it is given ($VIGIL_MQTT_HOST)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-port", type=int,
        default=int(env("VIGIL_MQTT_PORT", "0")) or None,
        help="the broker's port (default 1883, 8883 with --mqtt-tls; $VIGIL_MQTT_PORT)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-username", default=env("VIGIL_MQTT_USERNAME") or None,
        help="the user to log in as ($VIGIL_MQTT_USERNAME)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-password-file", type=Path, default=_env_path("VIGIL_MQTT_PASSWORD_FILE"),
        help="a file holding the password (or $VIGIL_MQTT_PASSWORD; never on the command line)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-client-id", default=env("VIGIL_MQTT_CLIENT_ID") or None,
        help="the MQTT client id (default vigil-<server id>)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-topic-prefix", default=env("VIGIL_MQTT_TOPIC_PREFIX", DEFAULT_PREFIX),
        help=f"the topic tree's root (default {DEFAULT_PREFIX}; $VIGIL_MQTT_TOPIC_PREFIX)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-qos", type=int, choices=(0, 1, 2), default=int(env("VIGIL_MQTT_QOS", "1")),
        help="QoS of every message (default 1; $VIGIL_MQTT_QOS)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-tls", action="store_true", default=_env_flag("VIGIL_MQTT_TLS"),
        help="connect over TLS ($VIGIL_MQTT_TLS=true)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-ca", type=Path, default=_env_path("VIGIL_MQTT_CA"),
        help="certificate authorities to trust (PEM; default: the system's; $VIGIL_MQTT_CA)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-cert", type=Path, default=_env_path("VIGIL_MQTT_CERT"),
        help="a client certificate (PEM; $VIGIL_MQTT_CERT)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-key", type=Path, default=_env_path("VIGIL_MQTT_KEY"),
        help="the client certificate's key (PEM; $VIGIL_MQTT_KEY)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-tls-insecure", action="store_true", default=_env_flag("VIGIL_MQTT_TLS_INSECURE"),
        help="accept a broker certificate whose name is not the host's",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-queue", type=int, default=int(env("VIGIL_MQTT_QUEUE", "1000")),
        help="events kept while the broker is slow or away; the oldest go first (default 1000)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-discovery", action="store_true", default=_env_flag("VIGIL_MQTT_DISCOVERY"),
        help="announce Home Assistant entities over MQTT discovery (only without the Vigil "
        "integration, or every entity shows twice; $VIGIL_MQTT_DISCOVERY=true)",
    )  # fmt: skip
    mqtt.add_argument(
        "--mqtt-discovery-prefix", default=env("VIGIL_MQTT_DISCOVERY_PREFIX", "homeassistant"),
        help="Home Assistant's discovery prefix (default homeassistant)",
    )  # fmt: skip


def mqtt_settings(args: argparse.Namespace) -> MqttSettings | None:
    """Return the MQTT settings the options and environment give (None: not publishing)."""
    from .mqtt import MqttSettings, MqttSettingsInvalid  # noqa: PLC0415

    if not args.mqtt_host:
        return None
    password = os.environ.get("VIGIL_MQTT_PASSWORD") or None
    if args.mqtt_password_file is not None:
        try:
            password = args.mqtt_password_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise MqttSettingsInvalid(
                f"the MQTT password file {args.mqtt_password_file} cannot be read: "
                f"{err.strerror or err}"
            ) from None
    return MqttSettings(
        host=args.mqtt_host,
        port=args.mqtt_port,
        username=args.mqtt_username,
        password=password,
        client_id=args.mqtt_client_id,
        topic_prefix=args.mqtt_topic_prefix,
        qos=args.mqtt_qos,
        tls=args.mqtt_tls or args.mqtt_ca is not None or args.mqtt_cert is not None,
        ca_file=args.mqtt_ca,
        cert_file=args.mqtt_cert,
        key_file=args.mqtt_key,
        tls_insecure=args.mqtt_tls_insecure,
        queue_size=args.mqtt_queue,
        discovery=args.mqtt_discovery,
        discovery_prefix=args.mqtt_discovery_prefix,
    )


def cmd_token(args: argparse.Namespace) -> int:
    """Print the token (creating the data folder and token on first use)."""
    data = DataFolder(args.data or default_data_dir())
    data.prepare()
    print(data.rotate_token() if args.rotate else data.token())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until SIGINT or SIGTERM."""
    from vigil_core.config.file import load_raw_config  # noqa: PLC0415 - loads only to serve

    from .app import ServerSettings  # noqa: PLC0415 - the engine loads only to serve

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
        discovery_targets=tuple(args.discovery_target) or None,
        track_memory_s=max(0.0, args.track_memory),
        mqtt=mqtt_settings(args),
        kserve=kserve_settings(args),
    )
    return asyncio.run(serve(settings))


def kserve_settings(args: argparse.Namespace) -> dict[str, str] | None:
    """Return the inference server the options and environment give (None: the clients say)."""
    if not args.kserve_url:
        return None
    found = {"url": str(args.kserve_url)}
    if args.kserve_model:
        found["model"] = str(args.kserve_model)
    return found


async def serve(settings: ServerSettings) -> int:
    """Start a server, say where it listens (one JSON line on stdout), run until a signal."""
    from .app import VigilServer  # noqa: PLC0415

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
