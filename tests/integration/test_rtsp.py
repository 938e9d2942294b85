"""AvSource and probe against a real GStreamer RTSP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import itertools
import logging
from pathlib import Path
import socket
import threading
import time

import av
import numpy as np
import pytest

from tests.integration.conftest import RtspServerFactory
from tests.support.clips import ensure_h264_mp4, multi_slice_clip
from tests.support.shared import media
from vigil_core.config import SourceSpec
from vigil_core.decode import AvDecoder, grab_frame, probe
from vigil_core.errors import (
    AuthFailed,
    NotVideo,
    SourceTimeout,
    SourceUnavailable,
    StreamNotFound,
)
from vigil_core.events.model import SourceState, SourceStateEvent
from vigil_core.sources.av_source import AvSource
from vigil_core.types import Frame

ANALYSIS_FPS = 5.0


class LiveRecorder:
    """Collect what a live AvSource reports, with waits that poll against a deadline."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.events: list[SourceStateEvent] = []
        self._lock = threading.Lock()

    def on_frame(self, frame: Frame) -> None:
        with self._lock:
            self.frames.append(frame)

    def on_state(self, event: SourceStateEvent) -> None:
        with self._lock:
            self.events.append(event)

    @property
    def states(self) -> list[SourceState]:
        with self._lock:
            return [event.state for event in self.events]

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout_s} s waiting for {what}; states {self.states}"
                )
            time.sleep(0.02)

    def wait_state(self, state: SourceState, timeout_s: float, *, after: int = 0) -> int:
        """Wait until `state` is reported at or after event number `after`; return its position."""

        def seen() -> bool:
            return state in self.states[after:]

        self.wait_for(seen, timeout_s, state.value)
        return self.states.index(state, after)


@pytest.fixture
def live() -> Iterator[Callable[..., tuple[AvSource, LiveRecorder]]]:
    """Return a factory of started live AvSources, all stopped after the test."""
    started: list[AvSource] = []

    def start(url: str, **spec: object) -> tuple[AvSource, LiveRecorder]:
        recorder = LiveRecorder()
        source = AvSource(
            "cam",
            SourceSpec.model_validate({"url": url, **spec}),
            fps=ANALYSIS_FPS,
            max_width=640,
            on_frame=recorder.on_frame,
            on_state=recorder.on_state,
        )
        started.append(source)
        source.start()
        return source, recorder

    yield start
    for source in started:
        assert source.stop(timeout=3)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server(socket_enabled: None) -> Iterator[int]:
    """Return the port of a TCP server that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def test_consume_lose_and_reconnect(
    rtsp_server: RtspServerFactory, live: Callable[..., tuple[AvSource, LiveRecorder]]
) -> None:
    server = rtsp_server(media("car-detection.mp4"))
    source, rec = live(server.url, backoff_initial_s=0.2, backoff_max_s=1.0)

    rec.wait_state(SourceState.ONLINE, 10)
    # Frames arrive at about the analysis rate: FFmpeg's probe burst aside, 12.5 fps → 5 fps.
    rec.wait_for(lambda: len(rec.frames) >= 3, 5, "first frames")
    count, start = len(rec.frames), time.monotonic()
    rec.wait_for(lambda: time.monotonic() - start >= 2.0, 3, "two seconds")
    rate = (len(rec.frames) - count) / (time.monotonic() - start)
    assert 2.0 <= rate <= 7.5, rate  # wide: a busy CI decodes late, then catches up
    assert rec.frames[0].image.shape == (360, 640, 3)
    assert rec.frames[0].source_size == (768, 432)
    assert source.stats.input_fps == pytest.approx(12.5, rel=0.2)

    server.stop()
    offline = rec.wait_state(SourceState.OFFLINE, 10)
    assert rec.events[offline].translation_key == "stream_lost"
    # Let it fail against the closed port at least once, then bring the server back.
    rec.wait_for(lambda: rec.states.count(SourceState.OFFLINE) >= 2, 10, "a refused retry")
    frames_before = len(rec.frames)
    restarted_at = time.monotonic()
    server.restart()
    back = rec.wait_state(SourceState.ONLINE, 15, after=offline)
    reconnect_s = time.monotonic() - restarted_at
    rec.wait_for(lambda: len(rec.frames) > frames_before + 2, 5, "frames after reconnect")

    states = rec.states
    assert states[:2] == [SourceState.CONNECTING, SourceState.ONLINE]
    assert states[back - 1 : back + 1] == [SourceState.CONNECTING, SourceState.ONLINE]
    middle = states[2 : back - 1]
    assert set(middle) <= {SourceState.STALLED, SourceState.OFFLINE, SourceState.CONNECTING}
    assert all(a is not b for a, b in itertools.pairwise(states))
    refused = [e for e in rec.events[offline + 1 : back] if e.state is SourceState.OFFLINE]
    assert refused
    assert all(e.translation_key == "cannot_connect" for e in refused)
    assert all(e.retry_in_s is not None and e.retry_in_s <= 1.0 for e in refused)
    print(f"reconnected {reconnect_s:.1f} s after the server came back")
    assert source.stats.reconnects >= 1
    pts = [frame.pts_s for frame in rec.frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    indexes = [frame.index for frame in rec.frames]
    assert all(b > a for a, b in itertools.pairwise(indexes))

    assert source.stop(timeout=2)


def test_stall_then_recover_while_connected(
    rtsp_server: RtspServerFactory, live: Callable[..., tuple[AvSource, LiveRecorder]]
) -> None:
    server = rtsp_server(fps=10)
    _, rec = live(
        server.url, stall_s=1.0, read_timeout_s=2.0, backoff_initial_s=0.2, backoff_max_s=0.5
    )
    rec.wait_state(SourceState.ONLINE, 10)
    server.freeze()
    stalled = rec.wait_state(SourceState.STALLED, 5)
    offline = rec.wait_state(SourceState.OFFLINE, 5, after=stalled)
    assert "no data" in rec.events[offline].reason
    server.thaw()
    rec.wait_state(SourceState.ONLINE, 10, after=offline)


def test_stop_while_a_read_is_blocked(
    rtsp_server: RtspServerFactory, live: Callable[..., tuple[AvSource, LiveRecorder]]
) -> None:
    server = rtsp_server(fps=10)
    source, rec = live(server.url, read_timeout_s=30, stall_s=30)
    rec.wait_state(SourceState.ONLINE, 10)
    server.freeze()
    time.sleep(0.3)
    assert source.stop(timeout=2)  # not the 30 s read timeout
    server.thaw()


def test_udp_transport(
    rtsp_server: RtspServerFactory, live: Callable[..., tuple[AvSource, LiveRecorder]]
) -> None:
    server = rtsp_server(fps=10)
    _, rec = live(server.url, transport="udp")
    rec.wait_state(SourceState.ONLINE, 10)
    rec.wait_for(lambda: len(rec.frames) >= 5, 5, "frames over UDP")


def test_probe_and_grab_over_rtsp(rtsp_server: RtspServerFactory) -> None:
    server = rtsp_server(media("vtest.avi"), seconds=10)
    result = probe(server.url, timeout_s=10)
    assert (result.width, result.height, result.codec) == (768, 576, "h264")
    image = grab_frame(server.url, timeout_s=10, max_width=384)
    assert image.shape == (288, 384, 3)


def test_wrong_credentials_are_auth_failed(
    rtsp_server: RtspServerFactory, live: Callable[..., tuple[AvSource, LiveRecorder]]
) -> None:
    server = rtsp_server(user="viewer", password="right-horse")
    with pytest.raises(AuthFailed) as wrong:
        probe(server.url_as("viewer", "wrong-battery"), timeout_s=5)
    assert wrong.value.translation_key == "invalid_auth"
    assert "wrong-battery" not in str(wrong.value)
    assert "401" in str(wrong.value)
    with pytest.raises(AuthFailed):
        probe(server.url_as(), timeout_s=5)
    assert probe(server.url, timeout_s=10).width == 640

    _, rec = live(server.url_as("viewer", "wrong-battery"), backoff_initial_s=5)
    offline = rec.wait_state(SourceState.OFFLINE, 5)
    event = rec.events[offline]
    assert event.translation_key == "invalid_auth"
    assert "wrong-battery" not in event.reason


AWKWARD_PASSWORD = "ab#cd/?@:x%y"
"""Unencoded, every one of these characters ends a URL's authority or its userinfo."""


def test_a_password_with_url_delimiters_opens_and_never_shows(
    rtsp_server: RtspServerFactory,
    live: Callable[..., tuple[AvSource, LiveRecorder]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`rtsp://admin:ab#cd/?@:x%y@host/stream` as typed: split on parsing, composed to open."""
    caplog.set_level(logging.DEBUG, logger="vigil_core")
    server = rtsp_server(user="admin", password=AWKWARD_PASSWORD)
    typed = f"rtsp://admin:{AWKWARD_PASSWORD}@127.0.0.1:{server.port}/stream"
    spec = SourceSpec(url=typed)
    assert spec.url == f"rtsp://127.0.0.1:{server.port}/stream"
    assert spec.username == "admin"
    assert AWKWARD_PASSWORD not in repr(spec)
    assert probe(typed, timeout_s=10).width == 640
    source, rec = live(typed, backoff_initial_s=0.2)
    rec.wait_state(SourceState.ONLINE, 10)
    server.stop()
    rec.wait_state(SourceState.OFFLINE, 10)
    assert source.stop(timeout=3)
    seen = caplog.text + "".join(repr(event) for event in rec.events)
    for fragment in (AWKWARD_PASSWORD, "ab#cd", "ab%23cd", "cd/?@"):
        assert fragment not in seen
    assert f"rtsp://***@127.0.0.1:{server.port}/stream" in caplog.text


def test_credentials_given_apart_open_the_stream(rtsp_server: RtspServerFactory) -> None:
    """The fields Home Assistant sends: {url, username, password}."""
    server = rtsp_server(user="viewer", password="right horse")
    spec = SourceSpec(url=server.url_as(), username="viewer", password="right horse")
    assert probe(spec.address, timeout_s=10).width == 640
    with pytest.raises(AuthFailed):
        probe(SourceSpec(url=server.url_as(), username="viewer").address, timeout_s=5)


def test_a_silent_server_is_a_timeout_not_a_video_problem(
    silent_server: int, live: Callable[..., tuple[AvSource, LiveRecorder]]
) -> None:
    """A server that accepts and never answers: `timeout`, after the open timeout."""
    with pytest.raises(SourceTimeout) as err:
        probe(f"rtsp://127.0.0.1:{silent_server}/x", timeout_s=2)
    assert err.value.translation_key == "timeout"
    _, rec = live(f"rtsp://127.0.0.1:{silent_server}/x", open_timeout_s=2)
    offline = rec.wait_state(SourceState.OFFLINE, 15)
    assert rec.events[offline].translation_key == "timeout"


def test_each_failure_has_its_own_class(rtsp_server: RtspServerFactory, tmp_path: Path) -> None:
    """Wrong path, refused port, refused login, not a video: four keys, four reasons."""
    server = rtsp_server(user="viewer", password="right-horse")
    wrong_path = server.url.replace("/stream", "/nothing-here")
    cases: list[tuple[str, type[Exception], str]] = [
        (wrong_path, StreamNotFound, "not_found"),
        (f"rtsp://127.0.0.1:{closed_port()}/stream", SourceUnavailable, "cannot_connect"),
        (server.url_as("viewer", "wrong"), AuthFailed, "invalid_auth"),
    ]
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 100)
    cases.append((str(text), NotVideo, "not_video"))
    for url, error_type, key in cases:
        with pytest.raises(error_type) as err:
            probe(url, timeout_s=5)
        assert err.value.translation_key == key, (url, err.value)


def _small(image: np.ndarray) -> np.ndarray:
    """Return a quarter-size grey picture: enough to tell a smear, cheap to compare."""
    return image[::4, ::4].mean(axis=2).astype(np.int16)


def _file_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [_small(frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]


def _closest(image: np.ndarray, frames: list[np.ndarray], near: int | None = None) -> float:
    """Return the mean absolute difference to the file's most similar frame (around `near`)."""
    small = _small(image)
    window = frames if near is None else frames[max(0, near - 3) : near + 4]
    return min(float(np.abs(small - frame).mean()) for frame in window)


def _decode(url: str, count: int, timeout_s: float = 30.0) -> list[av.VideoFrame]:
    """Return the first `count` frames the decoder yields (fail after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    frames: list[av.VideoFrame] = []
    with AvDecoder.open(url, read_timeout_s=5) as decoder:
        for frame in decoder.frames():
            if frame is not None:
                frames.append(frame)
            if len(frames) >= count:
                return frames
            if time.monotonic() > deadline:
                break
    pytest.fail(f"{len(frames)} clean frames in {timeout_s:g} s ({decoder.skipped_frames} skipped)")


def test_frames_over_rtsp_are_the_files_own(
    rtsp_server: RtspServerFactory, rtsp_media_dir: Path
) -> None:
    """A multi-slice clip over RTSP: every decoded frame is one of the file's frames.

    With SPS/PPS inserted before every IDR slice (rtph264pay config-interval=-1), each slice
    started a new picture: keyframes came out half-drawn and everything after them smeared.
    """
    clip = multi_slice_clip(media("vtest.avi"), rtsp_media_dir, seconds=4)
    frames = _file_frames(clip)
    server = rtsp_server(clip)
    image = grab_frame(server.url, timeout_s=10)
    assert _closest(image, frames) < 1.0
    decoded = [frame.to_ndarray(format="rgb24") for frame in _decode(server.url, 40)]
    worst = max(_closest(image, frames, index) for index, image in enumerate(decoded))
    assert worst < 1.0, worst


def test_the_live_pattern_sends_each_picture_once(rtsp_server: RtspServerFactory) -> None:
    """x264's zerolatency slices each picture: a picture decoded twice (same pts) was split."""
    server = rtsp_server(fps=10)
    pts = [frame.pts for frame in _decode(server.url, 45)]
    assert len(pts) == len(set(pts))


def test_one_server_serves_every_bench_camera_at_its_own_mount(
    rtsp_server: RtspServerFactory, rtsp_media_dir: Path
) -> None:
    # The e2e bench's network path: one GStreamer server, one mount per camera, clips in turn.
    from vigil_tools.bench import _RtspServer  # noqa: PLC0415

    clips = [
        ensure_h264_mp4(media("vtest.avi"), rtsp_media_dir, seconds=3),
        ensure_h264_mp4(media("road_640x360.avi"), rtsp_media_dir, seconds=3),
    ]
    server = _RtspServer(clips, mounts=3)
    assert server.start() is None
    try:
        sizes = [(p.width, p.height) for p in (probe(url, timeout_s=20) for url in server.urls(3))]
    finally:
        server.stop()
    assert sizes == [(768, 576), (640, 360), (768, 576)]
    assert server.pid is None
