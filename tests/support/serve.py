"""`vigil-analytics serve` as a separate process on 127.0.0.1, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
import signal
import subprocess
import sys
from typing import Any


class VigilServe:
    """One `vigil-analytics serve` process: where it listens and its token."""

    def __init__(self, data: Path, models_dir: Path, *args: str) -> None:
        """Start the server on a free port and wait for the line saying where it listens."""
        self.log = data.with_suffix(".log")
        data.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "vigil_core.cli", "serve", "--port", "0", "--no-zeroconf",
                "--data", str(data), "--models-dir", str(models_dir), *args,
            ],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise AssertionError(f"serve exited: {self.log.read_text(errors='replace')[-2000:]}")
        self.listening: dict[str, Any] = json.loads(line)
        self.port = int(self.listening["port"])
        self.token = Path(self.listening["token_file"]).read_text().strip()

    def stop(self) -> int:
        """Stop the server (SIGTERM, then SIGKILL); return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()
        return int(self.process.returncode)
