"""Fault injection against the real RTSP server: what goes wrong, and how Vigil comes back.

Each test injects faults into a live stream a real AvSource is reading — server restarts,
SIGSTOP/SIGCONT stalls, a server that accepts and never answers, a resolution change, a file
with damaged packets — and records, per fault, whether the source recovered (frames flowing
again) and how long that took. No timing is asserted: the limits are generous waits, and the
figures are printed (run with `-s`) and summed up at the end of the module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
import itertools
from pathlib import Path
import socket
import threading
import time

import pytest

from tests.integration.conftest import RtspServerFactory
from tests.support.clips import damaged_copy, make_clip, resolution_change_clip
from tests.support.rtsp import RtspServer
from vigil_core.config import SourceSpec
from vigil_core.events.model import SourceState, SourceStateEvent
from vigil_core.sources.av_source import AvSource
from vigil_core.types import Frame

RECOVERY_LIMIT_S = 60.0
"""How long a fault may take to recover before the test fails (generous: a busy CI)."""
FAST = {"backoff_initial_s": 0.2, "backoff_max_s": 1.0, "stall_s": 1.0, "read_timeout_s": 2.0}


@dataclass
class FaultRecord:
    """One injected fault and what came of it."""

    kind: str
    recovered: bool = False
    recover_s: float | None = None
    detail: str = ""


@dataclass
class FaultLog:
    """Every fault of the module, printed as a table at its end."""

    records: list[FaultRecord] = field(default_factory=list)

    def add(self, record: FaultRecord) -> FaultRecord:
        self.records.append(record)
        return record

    def summary(self) -> str:
        lines = [
            "",
            "fault injection: kind, injected, recovered, time to recover (s) min/median/max",
        ]
        for kind, group in itertools.groupby(
            sorted(self.records, key=lambda r: r.kind), key=lambda r: r.kind
        ):
            records = list(group)
            times = sorted(r.recover_s for r in records if r.recover_s is not None)
            spread = (
                f"{times[0]:.2f} / {times[len(times) // 2]:.2f} / {times[-1]:.2f}" if times else "-"
            )
            recovered = sum(r.recovered for r in records)
            details = "; ".join(sorted({r.detail for r in records if r.detail}))
            lines.append(f"  {kind:28} {len(records):3} {recovered:3}   {spread}   {details}")
        total = len(self.records)
        lines.append(
            f"  total: {total} injected, {sum(r.recovered for r in self.records)} recovered"
        )
        return "\n".join(lines)


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultLog]:
    log = FaultLog()
    yield log
    print(log.summary())


class Watch:
    """A live AvSource and what it reports."""

    def __init__(self, url: str, **spec: object) -> None:
        self.frames: list[Frame] = []
        self.events: list[SourceStateEvent] = []
        self._lock = threading.Lock()
        self.source = AvSource(
            "cam",
            SourceSpec.model_validate({"url": url, **FAST, **spec}),
            fps=5,
            max_width=640,
            on_frame=self._on_frame,
            on_state=self._on_state,
        )
        self.source.start()

    def _on_frame(self, frame: Frame) -> None:
        with self._lock:
            self.frames.append(frame)

    def _on_state(self, event: SourceStateEvent) -> None:
        with self._lock:
            self.events.append(event)

    @property
    def states(self) -> list[SourceState]:
        with self._lock:
            return [event.state for event in self.events]

    def frame_count(self) -> int:
        with self._lock:
            return len(self.frames)

    def wait(
        self, condition: Callable[[], bool], what: str, limit_s: float = RECOVERY_LIMIT_S
    ) -> float:
        """Wait for `condition`; return the seconds it took."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > limit_s:
                pytest.fail(f"no {what} within {limit_s:g} s; states {self.states}")
            time.sleep(0.02)
        return time.monotonic() - started

    def frames_after(self, count: int, more: int = 3) -> Callable[[], bool]:
        return lambda: self.frame_count() >= count + more

    def state_after(self, state: SourceState, index: int) -> Callable[[], bool]:
        return lambda: state in self.states[index:]


@pytest.fixture
def watch() -> Iterator[Callable[..., Watch]]:
    started: list[Watch] = []

    def start(url: str, **spec: object) -> Watch:
        watcher = Watch(url, **spec)
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        assert watcher.source.stop(timeout=5)


def test_repeated_restarts(
    rtsp_server: RtspServerFactory, watch: Callable[..., Watch], faults: FaultLog
) -> None:
    server = rtsp_server(fps=10)
    cam = watch(server.url)
    cam.wait(cam.frames_after(0), "first frames")
    for _ in range(5):
        record = faults.add(FaultRecord("server restart"))
        mark = len(cam.states)
        server.stop()
        cam.wait(cam.state_after(SourceState.OFFLINE, mark), "offline after the stop")
        count = cam.frame_count()
        server.start()
        record.recover_s = cam.wait(cam.frames_after(count), "frames after the restart")
        record.recovered = True
    assert cam.source.stats.reconnects >= 5


@pytest.mark.parametrize("pause_s", [0.5, 4.0], ids=["short", "long"])
def test_stalls(
    rtsp_server: RtspServerFactory,
    watch: Callable[..., Watch],
    faults: FaultLog,
    pause_s: float,
) -> None:
    """SIGSTOP the server for a while, then SIGCONT: frames flow again, whatever happened."""
    server = rtsp_server(fps=10)
    cam = watch(server.url)
    cam.wait(cam.frames_after(0), "first frames")
    for _ in range(2):
        record = faults.add(FaultRecord(f"stall {pause_s:g} s (SIGSTOP)"))
        mark, count = len(cam.states), cam.frame_count()
        server.freeze()
        time.sleep(pause_s)
        server.thaw()
        record.recover_s = cam.wait(cam.frames_after(count), "frames after SIGCONT")
        record.recovered = True
        # GStreamer's live pipeline may close the stream after a pause: Vigil reconnects.
        record.detail = ",".join(state.value for state in cam.states[mark:]) or "no change"


@pytest.fixture
def silent_port(socket_enabled: None) -> Iterator[tuple[int, Callable[[], None]]]:
    """A server on a port that accepts and never answers, and a function that closes it."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        server.close()

    yield int(server.getsockname()[1]), close
    close()


def test_a_silent_server_then_the_real_one(
    silent_port: tuple[int, Callable[[], None]],
    watch: Callable[..., Watch],
    faults: FaultLog,
) -> None:
    """A camera that accepts and never answers is a timeout; when it answers, frames flow."""
    port, close = silent_port
    record = faults.add(FaultRecord("silent server"))
    cam = watch(f"rtsp://127.0.0.1:{port}/stream", open_timeout_s=2.0)
    cam.wait(cam.state_after(SourceState.OFFLINE, 0), "offline")
    offline = next(e for e in cam.events if e.state is SourceState.OFFLINE)
    assert offline.translation_key == "timeout"
    close()
    started = time.monotonic()
    with RtspServer(port=port, fps=10):
        cam.wait(cam.frames_after(0), "frames from the real server")
        record.recover_s = time.monotonic() - started
        record.recovered = True
        assert cam.source.stop(timeout=5)


def test_a_resolution_change_mid_stream(
    rtsp_server: RtspServerFactory,
    rtsp_media_dir: Path,
    watch: Callable[..., Watch],
    faults: FaultLog,
) -> None:
    clip = resolution_change_clip(rtsp_media_dir)
    server = rtsp_server(clip)
    cam = watch(server.url)
    record = faults.add(FaultRecord("resolution change"))
    cam.wait(cam.frames_after(0), "first frames")

    def small_frames() -> bool:
        with cam._lock:
            return sum(f.source_size == (320, 180) for f in cam.frames) >= 3

    cam.wait(small_frames, "frames at the new size")
    with cam._lock:
        last_big = max(f.received_at for f in cam.frames if f.source_size == (640, 360))
        first_small = min(f.received_at for f in cam.frames if f.source_size == (320, 180))
    record.recovered = True
    record.recover_s = round(first_small - last_big, 2)
    with cam._lock:
        sizes = [frame.source_size for frame in cam.frames]
        shapes = {frame.image.shape for frame in cam.frames}
    assert sizes[0] == (640, 360) and sizes[-1] == (320, 180)
    assert shapes == {(360, 640, 3), (180, 320, 3)}
    record.detail = "no reconnection" if cam.source.stats.reconnects == 0 else "reconnected"


DAMAGED = (13, 37, 52)
"""Packets damaged in the 10 fps clip (a keyframe every 10 frames)."""


def test_a_file_with_damaged_packets(
    rtsp_server: RtspServerFactory,
    tmp_path: Path,
    watch: Callable[..., Watch],
    faults: FaultLog,
) -> None:
    """Damaged packets cost their frames (and those predicted from them), never the stream.

    Time to recover is stream time: from the damaged frame to the next frame delivered.
    """
    clean = make_clip(tmp_path, seconds=8, fps=10, gop=10)
    damaged = clean
    for index, packet in enumerate(DAMAGED):
        damaged = damaged_copy(damaged, tmp_path / f"damaged{index}.mp4", packet, length=400)
    server = rtsp_server(damaged)
    cam = watch(server.url, stall_s=5.0, read_timeout_s=5.0)
    cam.wait(cam.frames_after(0), "first frames", 30)
    with cam._lock:
        origin = cam.frames[0].pts_s
    last = DAMAGED[-1] / 10 + 1.0

    def past_the_damage() -> bool:
        with cam._lock:
            return cam.frames[-1].pts_s - origin > last

    cam.wait(past_the_damage, "frames after the last damaged packet", 30)
    with cam._lock:
        times = [frame.pts_s - origin for frame in cam.frames]
    for packet in DAMAGED:
        at = packet / 10
        after = min(t for t in times if t > at)
        faults.add(
            FaultRecord(
                "damaged packet",
                recovered=True,
                recover_s=round(after - at, 2),
                detail=f"{cam.source.stats.frames_skipped} frames skipped in all (stream time)",
            )
        )
    assert cam.source.stats.frames_skipped >= len(DAMAGED)
    assert SourceState.OFFLINE not in cam.states


def test_a_truncated_file_ends_cleanly(
    tmp_path: Path, watch: Callable[..., Watch], faults: FaultLog
) -> None:
    """A file cut in the middle of a packet, read as a file: every frame up to the cut, then
    the end, with no error."""
    clip = make_clip(tmp_path, seconds=4, fps=10)
    truncated = tmp_path / "truncated.mp4"
    data = clip.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    record = faults.add(FaultRecord("truncated file"))
    started = time.monotonic()
    cam = watch(str(truncated))
    cam.wait(cam.state_after(SourceState.ENDED, 0), "the end of the file", 30)
    record.recovered = cam.frame_count() > 0
    record.recover_s = time.monotonic() - started
    record.detail = f"{cam.frame_count()} frames, then {cam.events[-1].reason}"
    assert cam.frame_count() > 0
