"""Decode files with PyAV: sampling, resizing, timestamps, error mapping and state events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer as _ThreadingHTTPServer
import io
import itertools
import logging
from pathlib import Path
import socket
import subprocess
import threading
import time
from typing import ClassVar

import av
import numpy as np
from PIL import Image
from pydantic import ValidationError
import pytest

from tests.support.clips import damaged_copy, ensure_h264_mp4, ffmpeg, looped, make_clip
from tests.support.shared import media
from vigil_core.config import SourceSpec
from vigil_core.decode import AvDecoder, fit_size, grab_frame, probe
from vigil_core.decode.av_decoder import HELD_PACKETS_MAX
from vigil_core.decode.timing import RateSampler, StreamClock
from vigil_core.errors import (
    AuthFailed,
    ConfigInvalid,
    NotVideo,
    SourceUnavailable,
    StreamNotFound,
)
from vigil_core.events.model import SourceState, SourceStateEvent
from vigil_core.redact import MASK, StreamAddress
from vigil_core.sources import LatestFrameSlot, redact_text, redact_url
from vigil_core.sources.av_source import AvSource
from vigil_core.sources.reachability import wait_reachable
from vigil_core.types import Frame

VTEST_FRAMES = 795


class JoiningHTTPServer(_ThreadingHTTPServer):
    """A threading HTTP server whose server_close() joins its handler threads.

    The stock one marks them daemon and never joins them, which leaves a thread behind.
    """

    daemon_threads = False
    block_on_close = True


class Recorder:
    """Collect frames and state events from an AvSource."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.events: list[SourceStateEvent] = []
        self.finished = threading.Event()

    def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)

    def on_state(self, event: SourceStateEvent) -> None:
        self.events.append(event)
        if event.state in (SourceState.ENDED, SourceState.OFFLINE):
            self.finished.set()

    @property
    def states(self) -> list[SourceState]:
        return [event.state for event in self.events]


def run_file(
    path: Path | str, *, fps: float = 5.0, max_width: int = 1280, **spec: object
) -> tuple[AvSource, Recorder]:
    """Run an AvSource over a file to its end and return it with what it reported."""
    recorder = Recorder()
    source = AvSource(
        "cam",
        SourceSpec.model_validate({"url": str(path), **spec}),
        fps=fps,
        max_width=max_width,
        on_frame=recorder.on_frame,
        on_state=recorder.on_state,
    )
    source.start()
    assert recorder.finished.wait(60), "the file source did not finish"
    assert source.stop(timeout=5)
    return source, recorder


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder of clips made with ffmpeg once for this module."""
    folder = tmp_path_factory.mktemp("clips")
    make_clip(folder, "h264.mp4", seconds=4, size=(640, 360), fps=10, gop=10)
    make_clip(folder, "odd.mp4", seconds=1, size=(853, 479), fps=10, pix_fmt="yuv444p")
    make_clip(folder, "moov_at_end.mp4", seconds=4, faststart=False)
    make_clip(folder, "short.mp4", seconds=1.6, fps=10)
    make_clip(folder, "bframes.mp4", seconds=2, fps=10, gop=10, bframes=2)
    return folder


def truncated(source: Path, folder: Path) -> Path:
    """Write the first half of a file's bytes next to the other test files."""
    out = folder / f"half_{source.name}"
    data = source.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


# Files --------------------------------------------------------------------------------------


def test_vtest_decodes_every_frame_with_monotonic_pts(vtest_path: Path) -> None:
    with AvDecoder.open(str(vtest_path)) as decoder:
        frames = [frame for frame in decoder.frames() if frame is not None]
        assert decoder.codec == "msmpeg4"
        assert decoder.nominal_fps == pytest.approx(10.0)
    assert len(frames) == VTEST_FRAMES
    assert {(frame.width, frame.height) for frame in frames} == {(768, 576)}
    pts = [frame.pts for frame in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))


def test_vtest_sampled_at_5_fps(vtest_path: Path) -> None:
    source, recorder = run_file(vtest_path, fps=5.0)
    assert recorder.states == [SourceState.CONNECTING, SourceState.ONLINE, SourceState.ENDED]
    assert recorder.events[-1].translation_key == "end_of_file"
    frames = recorder.frames
    assert len(frames) == 398
    first, last = frames[0], frames[-1]
    assert (first.index, first.pts_s) == (0, 0.0)
    assert last.index == VTEST_FRAMES - 1
    assert last.pts_s == pytest.approx(79.4)
    assert all(b.pts_s - a.pts_s == pytest.approx(0.2) for a, b in itertools.pairwise(frames))
    assert first.image.shape == (576, 768, 3)
    assert first.image.dtype == np.uint8
    assert first.source_size == (768, 576)
    assert first.camera_id == "cam"
    stats = source.stats
    assert (stats.frames_decoded, stats.frames_delivered) == (VTEST_FRAMES, 398)
    assert stats.input_fps == pytest.approx(10.0)


def decode_all(path: Path, due: Callable[[float | None], bool] | None = None) -> list[object]:
    """Return what frames() yields: each frame's pts, or None for a pause."""
    with AvDecoder.open(str(path)) as decoder:
        return [None if frame is None else frame.pts for frame in decoder.frames(due)]


def bursts(items: list[object]) -> list[int]:
    """Return the lengths of the runs of frames between pauses."""
    runs = itertools.groupby(items, lambda item: item is not None)
    return [len(list(run)) for is_frame, run in runs if is_frame]


def test_frames_decode_in_bursts_up_to_the_due_one(clips: Path) -> None:
    path = clips / "h264.mp4"  # 10 fps, no B-frames
    asked: list[float | None] = []

    def every_fifth(pts_s: float | None) -> bool:
        asked.append(pts_s)
        return pts_s is not None and round(pts_s * 10) % 5 == 0

    plain = [pts for pts in decode_all(path) if pts is not None]
    held = decode_all(path, every_fifth)
    # The same frames in the same order, only decoded later: four held, then five at once.
    assert [pts for pts in held if pts is not None] == plain
    assert len(plain) == 40
    assert bursts(held) == [1, *[5] * 7, 4]
    assert asked[:3] == pytest.approx([0.0, 0.1, 0.2])


def test_held_packets_are_bounded_and_flushed_at_the_end(vtest_path: Path) -> None:
    never = decode_all(vtest_path, lambda pts_s: False)
    frames = [pts for pts in never if pts is not None]
    assert len(frames) == VTEST_FRAMES
    assert all(b > a for a, b in itertools.pairwise(frames))  # type: ignore[operator]
    assert max(bursts(never)) == HELD_PACKETS_MAX + 1


def test_a_stream_with_b_frames_decodes_packet_by_packet(clips: Path) -> None:
    path = clips / "bframes.mp4"
    with AvDecoder.open(str(path)) as decoder:
        assert decoder._stream.codec_context.has_b_frames
    plain = decode_all(path)
    never = decode_all(path, lambda pts_s: False)
    # Its due frame would come out a packet late: nothing is held.
    assert never == plain
    assert len([pts for pts in plain if pts is not None]) == 20


def test_paced_file_samples_the_same_frames_in_bursts(clips: Path) -> None:
    fast = run_file(clips / "h264.mp4", fps=5.0)[1].frames
    paced = run_file(clips / "h264.mp4", fps=5.0, realtime=True)[1].frames
    assert [(f.index, f.pts_s) for f in paced] == [(f.index, f.pts_s) for f in fast]
    assert [f.index for f in paced[:3]] == [0, 2, 4]


def test_h264_clip_made_by_ffmpeg(clips: Path) -> None:
    path = clips / "h264.mp4"
    result = probe(str(path))
    assert (result.width, result.height, result.codec) == (640, 360, "h264")
    assert result.fps == pytest.approx(10.0)
    _, recorder = run_file(path, fps=5.0)
    assert len(recorder.frames) == 20
    assert [f.index for f in recorder.frames[:3]] == [0, 2, 4]


def test_rate_above_source_delivers_every_frame(clips: Path) -> None:
    _, recorder = run_file(clips / "h264.mp4", fps=30.0)
    assert len(recorder.frames) == 40


@pytest.mark.parametrize(
    ("max_width", "expected"),
    [(320, (180, 320, 3)), (1280, (360, 640, 3)), (500, (280, 500, 3))],
)
def test_resize_to_max_width(clips: Path, max_width: int, expected: tuple[int, ...]) -> None:
    _, recorder = run_file(clips / "h264.mp4", fps=2.0, max_width=max_width)
    assert {frame.image.shape for frame in recorder.frames} == {expected}
    assert recorder.frames[0].source_size == (640, 360)


def test_odd_sized_video_comes_out_even(clips: Path) -> None:
    image = grab_frame(str(clips / "odd.mp4"))
    assert image.shape == (478, 852, 3)
    assert image.flags["C_CONTIGUOUS"]


def test_fit_size_keeps_aspect_and_never_upscales() -> None:
    assert fit_size(1920, 1080, 1280) == (1280, 720)
    assert fit_size(640, 360, 1280) == (640, 360)
    assert fit_size(768, 576, 640) == (640, 480)
    assert fit_size(853, 479, None) == (852, 478)
    with pytest.raises(ValueError, match="invalid frame size"):
        fit_size(0, 10, 100)


def test_grab_frame_pixels_match_full_decode(clips: Path) -> None:
    image = grab_frame(str(clips / "h264.mp4"), max_width=320)
    assert image.shape == (180, 320, 3)
    # testsrc draws saturated colour bars: the picture is neither blank nor grey.
    assert image.std() > 40


def test_realtime_file_is_paced(clips: Path) -> None:
    start = time.monotonic()
    _, recorder = run_file(clips / "short.mp4", fps=5.0, realtime=True)
    elapsed = time.monotonic() - start
    assert len(recorder.frames) == 8
    # 8 frames 0.2 s apart: the last is due 1.4 s after the first.
    assert elapsed >= 1.3
    gaps = [
        b.received_at - a.received_at
        for a, b in zip(recorder.frames, recorder.frames[1:], strict=False)
    ]
    assert min(gaps) > 0.1


def test_stop_returns_promptly_mid_file(vtest_path: Path) -> None:
    recorder = Recorder()
    source = AvSource(
        "cam",
        SourceSpec(url=str(vtest_path), realtime=True),
        fps=5,
        max_width=640,
        on_frame=recorder.on_frame,
        on_state=recorder.on_state,
    )
    source.start()
    deadline = time.monotonic() + 10
    while not recorder.frames and time.monotonic() < deadline:
        time.sleep(0.02)
    assert source.stop(timeout=2)
    assert SourceState.ENDED not in recorder.states


# Broken inputs ------------------------------------------------------------------------------


def test_truncated_mp4_decodes_what_it_can(clips: Path, tmp_path: Path) -> None:
    half = truncated(clips / "h264.mp4", tmp_path)
    source, recorder = run_file(half, fps=10.0)
    assert recorder.states[-1] is SourceState.ENDED
    assert 5 <= len(recorder.frames) < 40
    assert source.stats.frames_decoded == len(recorder.frames)


def test_truncated_avi_decodes_first_half(vtest_path: Path, tmp_path: Path) -> None:
    half = truncated(vtest_path, tmp_path)
    _, recorder = run_file(half, fps=10.0)
    assert recorder.states[-1] is SourceState.ENDED
    assert 300 < len(recorder.frames) < 500


def test_truncated_mp4_without_index_is_not_video(clips: Path, tmp_path: Path) -> None:
    half = truncated(clips / "moov_at_end.mp4", tmp_path)
    with pytest.raises(NotVideo, match="not a readable video"):
        probe(str(half))
    _, recorder = run_file(half)
    assert recorder.states == [SourceState.CONNECTING, SourceState.OFFLINE]
    assert recorder.events[-1].translation_key == "not_video"


def test_text_file_named_mp4_is_not_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 20)
    with pytest.raises(NotVideo) as err:
        probe(str(path))
    assert err.value.translation_key == "not_video"
    assert "\n" not in str(err.value)


def test_audio_only_file_is_not_video(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    subprocess.run(
        [ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", str(path)],
        check=True,
        timeout=30,
    )
    with pytest.raises(NotVideo, match="no video stream"):
        probe(str(path))


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    with pytest.raises(StreamNotFound, match="no such file") as err:
        grab_frame(str(missing))
    assert err.value.translation_key == "not_found"
    _, recorder = run_file(missing)
    assert recorder.states == [SourceState.CONNECTING, SourceState.OFFLINE]
    assert recorder.events[-1].reason == "no such file"


def _frames_by_pts(path: Path) -> dict[int, np.ndarray]:
    with av.open(str(path)) as container:
        return {f.pts: f.to_ndarray(format="rgb24") for f in container.decode(video=0)}


def test_corrupt_frames_and_their_successors_are_skipped(clips: Path, tmp_path: Path) -> None:
    """Packet 13 is damaged: its frame (flagged corrupt) and those predicted from it up to the
    next keyframe never come out; every frame that does is the clean clip's own."""
    damaged = damaged_copy(clips / "h264.mp4", tmp_path / "damaged.mp4", 13)
    clean = _frames_by_pts(damaged_copy(clips / "h264.mp4", tmp_path / "clean.mp4", -1))
    with AvDecoder.open(str(damaged)) as decoder:
        frames = [f for f in decoder.frames() if f is not None]
        skipped = decoder.skipped_frames
    order = sorted(clean)
    yielded = [order.index(f.pts) for f in frames]
    assert yielded == [*range(13), *range(20, len(order))]  # frames 13-19 skipped
    assert skipped == 7
    for frame in frames:
        assert np.array_equal(frame.to_ndarray(format="rgb24"), clean[frame.pts]), frame.pts


def test_grab_frame_waits_for_a_clean_keyframe(clips: Path, tmp_path: Path) -> None:
    """The first keyframe is damaged: the picture is the next keyframe's, never a smear."""
    damaged = damaged_copy(clips / "h264.mp4", tmp_path / "damaged.mp4", 0, length=4000)
    clean = list(_frames_by_pts(damaged_copy(clips / "h264.mp4", tmp_path / "c.mp4", -1)).values())
    image = grab_frame(str(damaged))
    assert np.array_equal(image, clean[10])  # the second keyframe (one every 10 frames)


def test_file_url_scheme(clips: Path) -> None:
    assert probe(f"file://{clips / 'h264.mp4'}").width == 640


def test_looped_copy_keeps_timestamps_increasing(clips: Path, tmp_path: Path) -> None:
    out = looped(clips / "short.mp4", tmp_path, 3)
    with AvDecoder.open(str(out)) as decoder:
        pts = [frame.pts for frame in decoder.frames() if frame is not None]
    assert len(pts) == 48
    assert all(b > a for a, b in itertools.pairwise(pts))


def test_msmpeg4_transcodes_to_h264_for_rtsp(tmp_path: Path) -> None:
    clip = media("tree_wind.avi")
    out = ensure_h264_mp4(clip, tmp_path)
    assert out.parent == tmp_path
    assert probe(str(out)).codec == "h264"
    assert ensure_h264_mp4(out, tmp_path) == out


# Network errors (no server needed, or a tiny HTTP one) ---------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_rtsp_is_unavailable_quickly(socket_enabled: None) -> None:
    url = f"rtsp://admin:hunter2@127.0.0.1:{closed_port()}/stream"
    start = time.monotonic()
    with pytest.raises(SourceUnavailable, match="connection refused") as err:
        probe(url, timeout_s=30)
    assert time.monotonic() - start < 10  # refused at once, not after the 30 s timeout
    assert "hunter2" not in str(err.value)
    assert "rtsp://***@127.0.0.1" in str(err.value)


def test_live_source_retries_with_backoff(
    socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="vigil_core.sources.av_source")
    recorder = Recorder()
    spec = SourceSpec(
        url=f"rtsp://127.0.0.1:{closed_port()}/x", backoff_initial_s=0.1, backoff_max_s=0.4
    )
    source = AvSource(
        "cam", spec, fps=5, max_width=640, on_frame=recorder.on_frame, on_state=recorder.on_state
    )
    source.start()
    deadline = time.monotonic() + 10
    while len(recorder.events) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert source.stop(timeout=2)
    offline = [e for e in recorder.events if e.state is SourceState.OFFLINE]
    assert len(offline) >= 4
    assert [e.attempt for e in offline[:4]] == [1, 2, 3, 4]
    delays = [e.retry_in_s or 0 for e in offline]
    assert delays[0] == pytest.approx(0.1, rel=0.15)
    assert delays[1] == pytest.approx(0.2, rel=0.15)
    assert max(delays) <= 0.4
    assert {e.translation_key for e in offline} == {"cannot_connect"}
    states = recorder.states
    assert all(a is not b for a, b in itertools.pairwise(states))
    # One line for the outage at INFO; each attempt at debug level only.
    lines = [r for r in caplog.records if r.name == "vigil_core.sources.av_source"]
    info = [r.getMessage() for r in lines if r.levelno >= logging.INFO]
    assert len(info) == 1, info
    assert "offline" in info[0]
    assert sum("offline" in r.getMessage() for r in lines) == len(offline)


@pytest.fixture
def silent_port(socket_enabled: None) -> Iterator[int]:
    """Return a port whose full accept queue drops new connections, like a host that is down."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        time.sleep(0.1)
        yield port
        for filler in fillers:
            filler.close()


def test_unanswered_connect_times_out(silent_port: int) -> None:
    cancel = threading.Event()
    start = time.monotonic()
    with pytest.raises(SourceUnavailable, match="timed out"):
        wait_reachable(f"rtsp://127.0.0.1:{silent_port}/x", timeout_s=0.5, cancel=cancel)
    assert 0.4 < time.monotonic() - start < 10


def test_stop_is_prompt_while_the_host_does_not_answer(silent_port: int) -> None:
    recorder = Recorder()
    source = AvSource(
        "cam",
        SourceSpec(url=f"rtsp://127.0.0.1:{silent_port}/x", open_timeout_s=30),
        fps=5,
        max_width=640,
        on_frame=recorder.on_frame,
        on_state=recorder.on_state,
    )
    source.start()
    time.sleep(0.3)
    start = time.monotonic()
    assert source.stop(timeout=2)
    assert time.monotonic() - start < 10  # not the 30 s open timeout (generous: busy CI)
    assert recorder.states == [SourceState.CONNECTING]


class _Handler(BaseHTTPRequestHandler):
    clip: Path

    def do_GET(self) -> None:
        if self.path.startswith("/private"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="cam"')
            self.end_headers()
        elif self.path.startswith("/clip.mp4"):
            data = self.clip.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def http_base(socket_enabled: None, clips: Path) -> Iterator[str]:
    """Serve the test clip, a 401 and 404s over HTTP on 127.0.0.1."""
    handler = type("Handler", (_Handler,), {"clip": clips / "h264.mp4"})
    server = JoiningHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_sources(http_base: str) -> None:
    assert probe(f"{http_base}/clip.mp4?token=abc").width == 640
    with pytest.raises(SourceUnavailable) as missing:
        probe(f"{http_base}/nothing.mjpg?user=admin&pwd=secret")
    assert "404" in str(missing.value)
    assert "secret" not in str(missing.value)
    with pytest.raises(AuthFailed, match="access refused"):
        probe(f"http://admin:wrong@{http_base.removeprefix('http://')}/private/video.mjpg")


def _jpeg(index: int) -> bytes:
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, (index * 8) % 140 :][:, :20] = 255
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG")
    return out.getvalue()


class _MjpegHandler(BaseHTTPRequestHandler):
    fps = 10.0
    closing = threading.Event()
    sent: ClassVar[list[float]] = []
    """When each frame went out: a loaded machine sends fewer than `fps` a second."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for index in range(10_000):
                if self.closing.is_set():
                    return
                data = _jpeg(index)
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                self.wfile.write(head.encode() + data + b"\r\n")
                self.sent.append(time.monotonic())
                time.sleep(1 / self.fps)
        except OSError:
            return

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


def test_mjpeg_over_http_is_timed_by_arrival(socket_enabled: None) -> None:
    # FFmpeg numbers MJPEG frames at a guessed 25 fps; the source must follow real time.
    closing = threading.Event()
    sent: list[float] = []
    handler = type("Handler", (_MjpegHandler,), {"closing": closing, "sent": sent})
    server = JoiningHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/video.mjpg"
    try:
        result = probe(url, timeout_s=5)
        assert (result.width, result.height, result.codec, result.fps) == (160, 120, "mjpeg", None)
        recorder = Recorder()
        source = AvSource(
            "cam",
            SourceSpec(url=url),
            fps=5,
            max_width=640,
            on_frame=recorder.on_frame,
            on_state=recorder.on_state,
        )
        source.start()
        deadline = time.monotonic() + 5
        while len(recorder.frames) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        count, start = len(recorder.frames), time.monotonic()
        time.sleep(2.0)
        rate = (len(recorder.frames) - count) / (time.monotonic() - start)
        assert source.stop(timeout=2)
    finally:
        closing.set()
        server.shutdown()
        server.server_close()  # joins the handler threads
        thread.join(5)
    assert recorder.states[:2] == [SourceState.CONNECTING, SourceState.ONLINE]
    assert 1.5 <= rate <= 7.0, rate  # 5 fps sampled from 10 fps (wide: a busy CI)
    # The rate the frames arrived at (10 fps on a quiet machine), not FFmpeg's guessed 25.
    served = sent[-min(len(sent), 40) :]
    served_fps = (len(served) - 1) / (served[-1] - served[0])
    assert source.stats.input_fps == pytest.approx(served_fps, rel=0.3)
    assert source.stats.input_fps < 15


# Timing -------------------------------------------------------------------------------------


def test_sampler_on_a_12_5_fps_grid() -> None:
    sampler = RateSampler(5.0)
    times = [i * 0.08 for i in range(125)]  # 10 s at 12.5 fps
    taken = [t for t in times if sampler.take(t)]
    assert len(taken) == 50
    assert all(0.16 - 1e-9 <= b - a <= 0.24 + 1e-9 for a, b in itertools.pairwise(taken))


def test_sampler_slow_stream_and_gap() -> None:
    sampler = RateSampler(5.0)
    assert all(sampler.take(t) for t in (0.0, 0.5, 1.0, 1.5))
    assert sampler.take(10.0)
    assert not sampler.take(10.1)
    assert sampler.take(10.2)


def test_clock_tolerates_missing_and_backward_pts() -> None:
    clock = StreamClock(live=False, nominal_fps=10.0)
    pts = [0.0, 0.1, None, 0.3, 0.25, 0.4, 0.5]
    times = [clock.advance(p, wall=i) for i, p in enumerate(pts)]
    assert times[:4] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[-1] == pytest.approx(0.5, abs=0.11)


def test_clock_follows_a_restarted_timeline() -> None:
    clock = StreamClock(live=False, nominal_fps=10.0)
    first = [clock.advance(i * 0.1, wall=0) for i in range(10)]
    # The stream starts again from zero (a looping server, an encoder restart).
    second = [clock.advance(i * 0.1, wall=0) for i in range(10)]
    times = first + second
    assert all(b > a for a, b in itertools.pairwise(times))
    assert second[-1] - second[0] == pytest.approx(0.9, abs=0.25)


def test_live_clock_without_pts_uses_wall_clock() -> None:
    clock = StreamClock(live=True, nominal_fps=None)
    walls = [100.0, 100.2, 100.4, 100.4, 100.9]
    times = [clock.advance(None, wall=w) for w in walls]
    assert times == pytest.approx([0.0, 0.2, 0.4, 0.401, 0.901])


def test_live_clock_rejects_a_jump_far_ahead_of_the_wall_clock() -> None:
    clock = StreamClock(live=True, nominal_fps=None)
    clock.advance(1.0, wall=50.0)
    assert clock.advance(1.1, wall=50.1) == pytest.approx(1.1)
    # A timestamp an hour ahead after 0.1 s of wall time is a glitch, not an hour of video.
    assert clock.advance(3601.2, wall=50.2) == pytest.approx(1.2)


# Helpers ------------------------------------------------------------------------------------


def _frame(index: int) -> Frame:
    return Frame("cam", index, index / 5, 0.0, np.zeros((2, 2, 3), np.uint8), (2, 2))


def test_latest_frame_slot_replaces_unconsumed_frames() -> None:
    slot = LatestFrameSlot()
    assert slot.get(timeout=0.01) is None
    for index in range(3):
        slot.put(_frame(index))
    got = slot.get(timeout=0)
    assert got is not None
    assert got.index == 2
    assert slot.dropped == 2
    assert slot.get(timeout=0.01) is None


def test_latest_frame_slot_wakes_waiters() -> None:
    slot = LatestFrameSlot()
    results: list[Frame | None] = []
    waiter = threading.Thread(target=lambda: results.append(slot.get(timeout=5)))
    waiter.start()
    time.sleep(0.05)
    slot.put(_frame(7))
    waiter.join(2)
    assert results[0] is not None
    assert results[0].index == 7
    closer = threading.Thread(target=lambda: results.append(slot.get(timeout=5)))
    closer.start()
    slot.close()
    closer.join(2)
    assert results[1] is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:p%40ss@10.0.0.2:554/s?channel=1", "rtsp://***@10.0.0.2:554/s?channel=1"),
        (
            "http://cam/snap.cgi?user=admin&pwd=x&res=1",
            "http://cam/snap.cgi?user=***&pwd=***&res=1",
        ),
        ("https://h/live.m3u8?token=abc", "https://h/live.m3u8?token=***"),
        ("/media/clip.mp4", "/media/clip.mp4"),
        ("rtsp://[fe80::1/broken", "rtsp://[fe80::1/broken"),
        ("rtsp://admin:ab#cd@h/s", "rtsp://***@h/s"),
        ("rtsp://admin:a/b?c@h:554/s?x=1", "rtsp://***@h:554/s?x=1"),
        ("rtsp://admin:p@ss@h/s", "rtsp://***@h/s"),
        (
            "rtsp://10.0.0.5:554/user=admin_password=tl_Jw6_channel=1_stream=0.sdp?real_stream",
            "rtsp://10.0.0.5:554/user=***_password=***_channel=1_stream=0.sdp?real_stream",
        ),
        ("rtsp://h:554/ch0;user=admin;pwd=secret/x", "rtsp://h:554/ch0;user=***;pwd=***/x"),
        ("rtsp://h/live?u=admin&p=secret;channel=2", "rtsp://h/live?u=***&p=***;channel=2"),
        ("http://h/cgi?Password=secret&PIN=1234", "http://h/cgi?Password=***&PIN=***"),
        # An @ after the host may end an unencoded password no parser reads as one: masked.
        ("rtsp://h:554/s?email=a@b.c", "rtsp://***@b.c"),
        ("rtsp://admin:1234/x@h/s", "rtsp://***@h/s"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:ab#cd@h/s",
        "rtsp://admin:p%40ss@10.0.0.2:554/s?channel=1",
        "rtsp://10.0.0.5:554/user=admin_password=tl_Jw6_channel=1_stream=0.sdp?real_stream",
        "rtsp://h:554/ch0;user=admin;pwd=s3cr3t/x",
        "http://h/live?u=admin&p=s3cr3t&token=t0k",
    ],
)
def test_credentials_are_split_out_and_composed_back_to_open(url: str) -> None:
    """The spec's url holds no secret; the decoder's composed url opens what was typed."""
    spec = SourceSpec(url=url)
    for secret in ("ab#cd", "p@ss", "p%40ss", "tl_Jw6", "s3cr3t", "t0k"):
        assert secret not in spec.url
        assert secret not in repr(spec)
        assert secret not in spec.display_url
        assert secret not in str(spec.address)
    composed = spec.address.authenticated()
    assert composed.replace("%23", "#").replace("%40", "@") == url.replace("%40", "@")
    assert SourceSpec.model_validate(spec.model_dump()).address == spec.address


def test_a_password_is_never_in_a_validation_error() -> None:
    from vigil_core.config import EngineConfig  # noqa: PLC0415

    camera = {"id": "c", "source": {"url": "rtsp://u:S3cret@h/s", "transport": "pigeon"}}
    with pytest.raises(ConfigInvalid) as err:
        EngineConfig.parse({"cameras": [camera]})
    assert "S3cret" not in str(err.value)
    with pytest.raises(ValidationError) as raw:
        SourceSpec.model_validate(camera["source"])
    assert "S3cret" not in str(raw.value)
    twice = {"url": "rtsp://u:one@h/s", "password": "two"}
    with pytest.raises(ValidationError, match="given twice") as raw:
        SourceSpec.model_validate(twice)
    assert "one" not in str(raw.value).replace("given", "")
    with pytest.raises(ValidationError, match="redacted"):
        SourceSpec(url="rtsp://***@h/s?p=***")
    # user:1234/x@host: a password with an unencoded '/', or host:port with an '@' in its path?
    with pytest.raises(ValidationError, match="percent-encode") as raw:
        SourceSpec(url="rtsp://admin:1234/x@h/s")
    assert "1234/x" not in str(raw.value)
    assert SourceSpec(url="rtsp://admin:1234%2Fx@h/s").address.password == "1234/x"
    assert SourceSpec(url="rtsp://h/s", username="admin", password="1234/x").url == "rtsp://h/s"


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:1234/x@h/s",  # a password '1234/x', or host 'admin', port 1234?
        "rtsp://admin:1234?x@h/s",
        "rtsp://admin:1234#x@h/s",
        "rtsp://h:554/s@x",  # host:port, an unencoded '@' in the path
        "rtsp://h:554/s?email=a@b.c",
        # Userinfo split off, then host:port/…@… left: refused as it would be when parsed again.
        "rtsp://admin:1234@h:554/s?x=1@y",
    ],
)
def test_an_ambiguous_at_after_host_and_port_is_refused(url: str) -> None:
    """A URL kept to open must say which '@' ends a password; only the log view may guess."""
    with pytest.raises(ValidationError, match="percent-encode") as raw:
        SourceSpec(url=url)
    assert "1234" not in str(raw.value)
    assert "rtsp://" not in str(raw.value)
    assert MASK in redact_url(url)  # the non-strict log view still masks what may be secret


@pytest.mark.parametrize(
    ("url", "expected_url", "password"),
    [
        ("rtsp://admin:1234%2Fx@h/s", "rtsp://h/s", "1234/x"),
        ("rtsp://h:554/s%40x", "rtsp://h:554/s%40x", None),
        ("rtsp://h/s@x", "rtsp://h/s@x", None),  # no port: nothing reads 'h/s' as a user
        ("rtsp://[::1]:554/s@x", "rtsp://[::1]:554/s@x", None),  # '[' is no user name
        # Not a port (0 or over 65535): the text before the '@' can only be user:password.
        ("rtsp://admin:99999/x@h/s", "rtsp://h/s", "99999/x"),
        ("rtsp://admin:0/x@h/s", "rtsp://h/s", "0/x"),
    ],
)
def test_an_unambiguous_url_is_kept(url: str, expected_url: str, password: str | None) -> None:
    spec = SourceSpec(url=url)
    assert spec.url == expected_url
    assert spec.address.password == password
    assert StreamAddress.parse(spec.address.authenticated(), strict=True) == spec.address
    assert SourceSpec.model_validate(spec.model_dump()).address == spec.address


def test_redact_text_in_ffmpeg_message() -> None:
    message = "Server returned 401 Unauthorized: 'rtsp://bob:s3cret@127.0.0.1:8554/x'"
    assert redact_text(message) == "Server returned 401 Unauthorized: 'rtsp://***@127.0.0.1:8554/x'"
