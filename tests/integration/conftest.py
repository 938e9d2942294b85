"""Fixtures that start real peers on 127.0.0.1 for integration tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.clips import ensure_h264_mp4, looped
from tests.support.rtsp import RtspServer, gstreamer_available
from tests.support.workers import run_folder

type RtspServerFactory = Callable[..., RtspServer]


@cache
def _gstreamer() -> bool:
    return gstreamer_available()


@pytest.fixture(scope="session")
def rtsp_media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the run's folder for clips transcoded to H.264, so each is transcoded once.

    The xdist workers share it (tests/support/workers.py): tests/support/clips.py makes each
    file in it once, under the folder's lock.
    """
    return run_folder(tmp_path_factory, "rtsp-media")


@pytest.fixture
def rtsp_server(socket_enabled: None, rtsp_media_dir: Path) -> Iterator[RtspServerFactory]:
    """Return a factory that starts RTSP servers and stops them after the test.

    `rtsp_server(path)` streams a clip (transcoded once per session to H.264 if needed, cut to
    `seconds=` if given, repeated `loops=` times); `rtsp_server()` streams a live test pattern.
    Other keywords go to RtspServer (user, password, size, fps, mount). The factory takes
    `socket_enabled` because the pytest-homeassistant plugin blocks every AF_INET socket
    otherwise. Other suites reuse it with
    `from tests.integration.conftest import rtsp_media_dir, rtsp_server` in their conftest.
    """
    if not _gstreamer():
        pytest.skip("the GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) is missing")
    servers: list[RtspServer] = []

    def start(
        source: Path | None = None,
        *,
        seconds: float | None = None,
        loops: int = 1,
        **kwargs: Any,
    ) -> RtspServer:
        file = None
        if source is not None:
            file = ensure_h264_mp4(source, rtsp_media_dir, seconds=seconds)
            file = looped(file, rtsp_media_dir, loops)
        server = RtspServer(file, **kwargs)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
