"""Start and stop the GStreamer test RTSP server (tests/support/rtsp_server.py) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import selectors
import signal
import subprocess
import tempfile
import time
from types import TracebackType
from typing import IO, Self

import pytest

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
HOST = "127.0.0.1"


def gstreamer_available() -> bool:
    """Return whether the system Python can import the GStreamer RTSP server bindings."""
    check = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import GstRtspServer"
    )
    try:
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", check], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


class RtspServer:
    """One test RTSP server process: a file (H.264 mp4) or a live test pattern.

    The first start() binds a free port; restart() binds the same port again so that a client
    can reconnect to the URL it already has. freeze()/thaw() pause the process (SIGSTOP) to
    simulate a stream that stalls while its TCP connection stays open.
    """

    def __init__(
        self,
        file: Path | None = None,
        *,
        port: int = 0,
        mount: str = "/stream",
        user: str | None = None,
        password: str | None = None,
        size: tuple[int, int] = (640, 360),
        fps: int = 10,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.file = file
        self.port = port
        self.mount = mount
        self.user = user
        self.password = password
        self.size = size
        self.fps = fps
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self.starts = 0

    # Lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Start the server and return its URL once it listens."""
        if self._proc is not None:
            raise RuntimeError("server already running")
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                self._spawn(deadline)
                break
            except OSError:
                # Restarting on a fixed port can race the old socket's release: retry briefly.
                if self.port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.starts += 1
        return self.url

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server process (SIGTERM, then SIGKILL) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def restart(self) -> str:
        """Stop the server and start it again on the same port."""
        self.stop()
        return self.start()

    def freeze(self) -> None:
        """Pause the server process: connections stay open but no data flows."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen server."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # URLs ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the stream URL with the server's credentials, if it has any."""
        if self.user is None:
            return self.url_as()
        return self.url_as(self.user, self.password or "")

    def url_as(self, user: str | None = None, password: str | None = None) -> str:
        """Return the stream URL with the given credentials (none by default)."""
        if self.port == 0:
            raise RuntimeError("server not started")
        auth = f"{user}:{password or ''}@" if user is not None else ""
        return f"rtsp://{auth}{HOST}:{self.port}{self.mount}"

    # Internals -----------------------------------------------------------------------------

    def _command(self) -> list[str]:
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--mount", self.mount]
        if self.file is not None:
            cmd += ["--file", str(self.file)]
        else:
            width, height = self.size
            cmd += ["--pattern", "--width", str(width), "--height", str(height)]
        cmd += ["--fps", str(self.fps)]
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password or ""]
        return cmd

    def _spawn(self, deadline: float) -> None:
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(self._command(), stdout=subprocess.PIPE, stderr=stderr)
        try:
            line = _read_line(proc, deadline)
        except BaseException:
            _kill(proc)
            stderr.close()
            raise
        if not line.startswith("READY "):
            _kill(proc)
            stderr.seek(0)
            detail = stderr.read().decode(errors="replace").strip().splitlines()[-3:]
            stderr.close()
            if line.startswith("ERROR cannot listen"):
                raise OSError(f"RTSP server cannot listen on port {self.port}")
            pytest.fail(f"RTSP server did not start: {line or 'no output'} {' | '.join(detail)}")
        url = line.split(" ", 1)[1]
        self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        self._proc = proc
        self._stderr = stderr


def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> str:
    """Return the first stdout line of the process, or '' if it exits or the deadline passes."""
    assert proc.stdout is not None
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return ""
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
    return buffer.decode(errors="replace").split("\n", 1)[0].strip()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()
