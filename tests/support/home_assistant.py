"""A real Home Assistant process on 127.0.0.1 with Vigil, onboarded through its REST API.

`hass` runs from the test venv (Home Assistant 2025.4 with its frontend) on a fresh
configuration folder holding a link to this repository's integration. Onboarding (the owner's
account, then the remaining steps) goes through the same REST endpoints the onboarding
screens call, which is faster than clicking through them; the browser then logs in for real.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "vigil"
USERNAME = "admin"
PASSWORD = "vigil-browser-test"  # a throwaway account of a throwaway instance

CONFIGURATION = """\
homeassistant:
  name: Vigil browser test
  time_zone: UTC
  country: FR
  unit_system: metric
  latitude: 48.85
  longitude: 2.35
  elevation: 35
http:
  server_host: 127.0.0.1
  server_port: {port}
frontend:
config:
logger:
  default: warning
  logs:
    custom_components.vigil: debug
"""


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HomeAssistant:
    """One `hass` process and the REST calls a test makes to it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "config"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = ""
        self.log = folder / "home-assistant.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Write a fresh configuration and start Home Assistant (returns at once)."""
        (self.config / "custom_components").mkdir(parents=True)
        (self.config / "custom_components" / "vigil").symlink_to(INTEGRATION)
        (self.config / "configuration.yaml").write_text(CONFIGURATION.format(port=self.port))
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "homeassistant", "--config", str(self.config), "--skip-pip"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, limit_s: float = 180.0) -> None:
        """Wait until the HTTP server answers (generous: the machine may be busy)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise AssertionError(f"hass exited: {self.tail()}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/api/onboarding", timeout=5).close()
                return
            time.sleep(0.5)
        raise AssertionError(f"hass did not answer in {limit_s} s: {self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """Return the end of Home Assistant's log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop Home Assistant (SIGTERM, then SIGKILL) and wait for it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    # --- REST -----------------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: Any = None, *, form: bool = False, auth: bool = True
    ) -> Any:
        """Call the REST API; return the decoded JSON answer (HTTP errors raise with the body)."""
        data = None
        headers = {}
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {path}: {err.code} {err.read()!r}") from None
        return json.loads(raw) if raw else None

    def onboard(self) -> None:
        """Create the owner's account and finish onboarding; keep a token for REST calls."""
        client_id = f"{self.url}/"
        created = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": client_id,
                "name": "Admin",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
            auth=False,
        )
        tokens = self.request(
            "POST",
            "/auth/token",
            {
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": client_id,
            },
            form=True,
            auth=False,
        )
        self.token = tokens["access_token"]
        self.request("POST", "/api/onboarding/core_config", {})
        self.request("POST", "/api/onboarding/analytics", {})
        self.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": client_id, "redirect_uri": f"{client_id}?auth_callback=1"},
        )

    def flow(self, path: str, start: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
        """Run a config (or subentry) flow through REST; return its last result."""
        result: dict[str, Any] = self.request("POST", path, start)
        for step in steps:
            assert result["type"] in ("form", "menu"), result
            assert not result.get("errors"), result
            result = self.request("POST", f"{path}/{result['flow_id']}", step)
        return result

    def states(self) -> dict[str, str]:
        """Return every entity's state."""
        return {item["entity_id"]: item["state"] for item in self.request("GET", "/api/states")}

    def stored_entries(self) -> list[dict[str, Any]]:
        """Return the config entries as Home Assistant saved them (.storage)."""
        path = self.config / ".storage" / "core.config_entries"
        if not path.exists():
            return []
        entries: list[dict[str, Any]] = json.loads(path.read_text())["data"]["entries"]
        return entries
