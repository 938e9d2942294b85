"""Start and stop a real mosquitto broker on 127.0.0.1 for tests, and publish to it.

mosquitto cannot listen on port 0, so a free port is picked first (bound and released); a
restart listens on the same port again, as a broker restarted by its service would, so that
clients reconnect to the address they already have. `mosquitto` is the pytest fixture:
``from tests.support.mosquitto import mosquitto  # noqa: F401`` in a test module enables it.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import time
from typing import Any

import pytest

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Mosquitto:
    """One mosquitto process with an anonymous listener on 127.0.0.1, no persistence."""

    def __init__(self, folder: Path, port: int | None = None, *, extra: str = "") -> None:
        """Write the configuration; `extra` lines may add listeners, TLS or passwords."""
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = port or free_port()
        self.config = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        anonymous = "" if "allow_anonymous" in extra else "allow_anonymous true\n"
        # Started as root, mosquitto becomes user `mosquitto`, who cannot open the test's
        # private folder: its log, password file and certificates would be unreadable.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(
            f"listener {self.port} {HOST}\n{anonymous}{user}persistence false\n"
            f"log_dest file {self.log}\n{extra}"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Return whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and return once it accepts connections."""
        if self.running:
            raise RuntimeError("mosquitto is already running")
        deadline = time.monotonic() + timeout_s
        while True:
            self._proc = subprocess.Popen(
                [self.binary, "-c", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_listening(deadline):
                return
            # The old socket of a restart may linger a moment: try again on the same port.
            self.stop()
            if time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not listen on {HOST}:{self.port}")
            time.sleep(0.1)

    def _wait_listening(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return True
            time.sleep(0.02)
        return False

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused broker cannot handle SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open and nothing is read from them."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen broker run again (SIGCONT)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Stop the broker and start it again on the same port (it forgets every session)."""
        self.stop()
        self.start()


class Publisher:
    """A paho client publishing test payloads (QoS 1, so a publish returns once delivered)."""

    def __init__(self, port: int) -> None:
        from paho.mqtt.client import Client  # noqa: PLC0415
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

        self._client = Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self._client.connect(HOST, port, keepalive=30)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        """Publish one message and wait until the broker has it."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=5)

    def close(self) -> None:
        """Disconnect and stop paho's thread."""
        self._client.disconnect()
        self._client.loop_stop()


def publish(port: int, messages: list[tuple[str, Any]], *, retain_available: bool = True) -> None:
    """Publish (topic, payload) pairs in order with a short-lived client."""
    from tests.support.frigate_payloads import encode  # noqa: PLC0415

    publisher = Publisher(port)
    try:
        for topic, payload in messages:
            retain = retain_available and topic.endswith("/available")
            publisher.publish(topic, encode(payload), retain=retain)
    finally:
        publisher.close()


@pytest.fixture
def mosquitto(socket_enabled: None, tmp_path: Path) -> Iterator[Mosquitto]:
    """Run a mosquitto broker on 127.0.0.1 for the test; stop it afterwards."""
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
