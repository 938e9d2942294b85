"""Run the Vigil server as a Home Assistant app (add-on).

Reads the app's options, keeps the server's data in /data/vigil (owned by the unprivileged
`vigil` user the server runs as), prints the token in the log at first start, and, once the
server answers, announces it to Home Assistant through the Supervisor's discovery API so that
the Vigil integration offers it with host, port and token filled in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import pwd
import socket
import sys
import time
from typing import Any, NoReturn
import urllib.request

from vigil_core.server.data import DataFolder

OPTIONS = Path("/data/options.json")
PORT = int(os.environ.get("VIGIL_PORT", "8765"))
USER = "vigil"
LOG_LEVELS = ("debug", "info", "warning", "error")
READY_LIMIT_S = 300.0
"""How long the announcement waits for the server to answer its health check."""


def log(message: str) -> None:
    """Write one line to the app's log."""
    print(f"vigil-addon: {message}", file=sys.stderr, flush=True)


def read_options(path: Path = OPTIONS) -> dict[str, Any]:
    """Return the app's options (the Supervisor writes them; defaults when run elsewhere)."""
    try:
        options = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        options = {}
    except (OSError, ValueError) as err:
        log(f"cannot read {path} ({err}); using the default options")
        options = {}
    level = str(options.get("log_level", "info")).lower()
    return {
        "log_level": level if level in LOG_LEVELS else "info",
        "download_models": bool(options.get("download_models", True)),
        "mqtt_publish": bool(options.get("mqtt_publish", False)),
        "mqtt_host": str(options.get("mqtt_host") or ""),
        "mqtt_port": _port(options.get("mqtt_port")),
        "mqtt_username": str(options.get("mqtt_username") or ""),
        "mqtt_password": str(options.get("mqtt_password") or ""),
        "mqtt_tls": bool(options.get("mqtt_tls", False)),
        "mqtt_topic_prefix": str(options.get("mqtt_topic_prefix") or "vigil"),
    }


def _port(value: Any) -> int | None:
    return value if isinstance(value, int) and 1 <= value <= 65535 else None


def mqtt_environment(options: dict[str, Any], service: dict[str, Any] | None) -> dict[str, str]:
    """Return the server's MQTT variables: the app's options, else Home Assistant's broker.

    The password goes through the environment, never the command line (which `ps` shows).
    """
    if not options["mqtt_publish"]:
        return {}
    if options["mqtt_host"]:
        host, port = options["mqtt_host"], options["mqtt_port"]
        username, password = options["mqtt_username"], options["mqtt_password"]
        tls = options["mqtt_tls"]
    elif service:
        host, port = str(service.get("host", "")), _port(service.get("port"))
        username = str(service.get("username") or "")
        password = str(service.get("password") or "")
        tls = bool(service.get("ssl", False))
    else:
        log("MQTT publishing is on but no broker is set and none is installed: not publishing")
        return {}
    env = {"VIGIL_MQTT_HOST": host, "VIGIL_MQTT_TOPIC_PREFIX": options["mqtt_topic_prefix"]}
    if port is not None:
        env["VIGIL_MQTT_PORT"] = str(port)
    if username:
        env["VIGIL_MQTT_USERNAME"] = username
    if password:
        env["VIGIL_MQTT_PASSWORD"] = password
    if tls:
        env["VIGIL_MQTT_TLS"] = "true"
    return env


def mqtt_service() -> dict[str, Any] | None:
    """Return the broker Home Assistant's MQTT app offers (host, port, user), or None."""
    supervisor_token = os.environ.get("SUPERVISOR_TOKEN")
    if not supervisor_token:
        return None
    url = os.environ.get("VIGIL_SUPERVISOR_URL", "http://supervisor") + "/services/mqtt"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {supervisor_token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data = json.loads(response.read()).get("data")
    except (OSError, ValueError, AttributeError) as err:
        log(f"no MQTT broker from the Supervisor ({type(err).__name__})")
        return None
    return data if isinstance(data, dict) and data.get("host") else None


def become_server_user(root: Path) -> None:
    """Give the data folder to the server's user and drop root (no-op when not root)."""
    if os.getuid() != 0:
        return
    user = pwd.getpwnam(USER)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The server must be able to reach its folder: traverse-only on the parent lists nothing.
    parent = root.parent
    parent.chmod(parent.stat().st_mode | 0o111)
    for path in (root, *root.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ["HOME"] = user.pw_dir


def print_token(token: str) -> None:
    """Show the token in the log, framed, once: at the first start."""
    rule = "-" * 72
    log(rule)
    log("The Vigil server's token (Home Assistant asks for it when the server is added by hand):")
    log(f"    {token}")
    log("Home Assistant's Vigil integration normally receives it by discovery. To show it")
    log("again: `vigil-analytics token` in this app's container (see the app's documentation).")
    log(rule)


def announce(token: str, server_id: str) -> None:
    """Wait until the server answers, then tell the Supervisor where it is (in a child)."""
    supervisor_token = os.environ.get("SUPERVISOR_TOKEN")
    if not supervisor_token:
        log("no Supervisor here: the server is not announced to Home Assistant")
        return
    if os.fork() != 0:
        return
    try:
        if wait_until_ready():
            post_discovery(supervisor_token, token, server_id)
        else:
            log(f"the server did not answer within {READY_LIMIT_S:.0f} s: not announced")
    finally:
        os._exit(0)


def wait_until_ready() -> bool:
    """Return True once the server answers its health check, False after the limit."""
    deadline = time.monotonic() + READY_LIMIT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/health", timeout=5):
                return True
        except OSError:
            time.sleep(1.0)
    return False


def post_discovery(supervisor_token: str, token: str, server_id: str) -> None:
    """Send the Vigil service's connection details to Home Assistant through the Supervisor."""
    url = os.environ.get("VIGIL_SUPERVISOR_URL", "http://supervisor") + "/discovery"
    body = {
        "service": "vigil",
        "config": {
            "host": socket.gethostname(),
            "port": PORT,
            "token": token,
            "server_id": server_id,
        },
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {supervisor_token}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except OSError as err:
        log(f"could not announce the server to Home Assistant: {err}")
    else:
        log(f"announced to Home Assistant as {body['config']['host']}:{PORT}")


def main() -> NoReturn:
    """Prepare the data folder, show the token at first start, announce, run the server."""
    options = read_options()
    data = DataFolder(Path(os.environ.get("VIGIL_DATA", "/data/vigil")))
    first_start = not (data.root / "token").exists()
    become_server_user(data.root)
    data.prepare()
    token = data.token()
    if first_start:
        print_token(token)
    announce(token, data.server_id())
    needs_service = options["mqtt_publish"] and not options["mqtt_host"]
    mqtt = mqtt_environment(options, mqtt_service() if needs_service else None)
    if mqtt:
        os.environ.update(mqtt)
        log(f"publishing states and events to MQTT at {mqtt['VIGIL_MQTT_HOST']}")
    argv = [
        "vigil-analytics",
        "serve",
        "--host", "0.0.0.0",
        "--port", str(PORT),
        "--data", str(data.root),
        "--log-level", options["log_level"],
        # Home Assistant learns of the server from the Supervisor: a multicast announcement
        # from the app's network would name an address on the Supervisor's internal network.
        "--no-zeroconf",
    ]  # fmt: skip
    if options["download_models"]:
        argv.append("--download")
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
