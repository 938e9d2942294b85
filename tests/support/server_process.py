"""Run `vigil-analytics serve` as a real subprocess on 127.0.0.1, as a user or an add-on does.

The server prints one JSON line on stdout once it listens (its port, id and token file); the
token is read from its data folder. `kill()` is a SIGKILL (a crash or a power cut); `start()`
again on the same data folder and port is the server coming back. Its logs go to a file in
the data folder's parent, shown when a start fails.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import IO, Any

HOST = "127.0.0.1"


class ServerProcess:
    """One `vigil-analytics serve` process with its own data folder."""

    def __init__(
        self,
        data: Path,
        models_dir: Path,
        *,
        name: str = "Vigil test server",
        start_timeout_s: float = 120.0,
        extra_args: tuple[str, ...] = (),
        cpus: str | None = None,
    ) -> None:
        """Keep where the server keeps its data; nothing runs before `start`.

        `cpus` (a `taskset` CPU list, such as ``"0"``) keeps the server and every thread it
        starts on those cores, as a container's CPU set does.
        """
        self.data = data
        self.models_dir = models_dir
        self.name = name
        self.extra_args = extra_args
        self.cpus = cpus
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.server_id = ""
        self.token = ""
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Return the file the server's stderr goes to."""
        return self.data.parent / f"{self.data.name}.log"

    @property
    def running(self) -> bool:
        """Return whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server (on its previous port after the first start); wait until it listens.

        Blocking: call it from a worker thread in a test running on an event loop.
        """
        if self.running:
            raise RuntimeError("the server is already running")
        self.data.mkdir(parents=True, exist_ok=True)
        stdout = self.data.parent / f"{self.data.name}.stdout"
        stdout.write_bytes(b"")
        self._log = self.log_path.open("ab")
        pinned = ["taskset", "--cpu-list", self.cpus] if self.cpus is not None else []
        command = [
            *pinned, sys.executable, "-m", "vigil_core.cli", "serve",
            "--host", HOST, "--port", str(self.port), "--data", str(self.data),
            "--no-zeroconf", "--models-dir", str(self.models_dir), "--name", self.name,
            *self.extra_args,
        ]  # fmt: skip
        with stdout.open("ab") as out:
            self._proc = subprocess.Popen(
                command, stdout=out, stderr=self._log, stdin=subprocess.DEVNULL
            )
        listening = self._wait_listening(stdout)
        self.port = int(listening["port"])
        self.server_id = str(listening["server_id"])
        self.token = (self.data / "token").read_text(encoding="utf-8").strip()
        self.starts += 1

    def _wait_listening(self, stdout: Path) -> dict[str, Any]:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            for line in stdout.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    message = json.loads(line)
                    if isinstance(message, dict) and message.get("event") == "listening":
                        return message
            assert self._proc is not None
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        log = self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        self.stop()
        raise RuntimeError(f"vigil-analytics serve did not start:\n{log}")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): no clean shutdown, as in a crash."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM), or kill it when it does not stop in time."""
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
