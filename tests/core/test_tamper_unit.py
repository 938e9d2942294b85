"""Camera-health checks on synthetic frames: conditions, persistence, stream loss, re-capture."""

from __future__ import annotations

from collections.abc import Iterator
import threading

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

from vigil_core.config import CameraSpec, SourceSpec, TamperSpec, TrackerSpec
from vigil_core.events.model import (
    EventPhase,
    RuleEvent,
    SourceState,
    SourceStateEvent,
    VigilEvent,
)
from vigil_core.health import (
    CameraReport,
    TamperAnalyzer,
    TamperBoard,
    TamperCondition,
    build_analyzers,
    camera_report_event,
)
from vigil_core.health.features import GRID_COLS, GRID_ROWS, Layout
from vigil_core.health.latch import ConditionLatch
from vigil_core.pipeline import CameraPipeline
from vigil_core.stages import FrameAnalyzer, SourceStateListener
from vigil_core.types import Frame

type Image = npt.NDArray[np.uint8]

FPS = 5.0
SIZE = (640, 360)


def scene(seed: int = 0, size: tuple[int, int] = SIZE) -> Image:
    """Return a textured RGB picture: blobs and edges at several scales, like a street."""
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = ndimage.zoom(rng.random((height // 20, width // 20)), 20, order=0)
    fine = ndimage.gaussian_filter(rng.random((height, width)), 1.0)
    grey = 40 + 120 * coarse[:height, :width] + 160 * (fine - fine.mean())
    image = np.clip(grey, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))


NOISE = [
    np.random.default_rng(seed).integers(0, 4, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    for seed in range(7)
]


def noisy(image: Image, step: int) -> Image:
    """Flip the two low bits at random, so consecutive frames differ as a real camera's do."""
    return np.bitwise_xor(image, NOISE[step % len(NOISE)])


class Feed:
    """Send frames to an analyser at 5 fps from a 25 fps stream; collect its events."""

    def __init__(self, analyzer: TamperAnalyzer) -> None:
        self.analyzer = analyzer
        self.events: list[RuleEvent] = []
        self.t_s = 0.0
        self.index = 0
        self.step = 0

    def run(self, image: Image, seconds: float, *, noise: bool = True, stride: int = 5) -> None:
        for _ in range(round(seconds * FPS)):
            picture = noisy(image, self.step) if noise else image
            self.step += 1
            frame = Frame("cam", self.index, self.t_s, 0.0, picture, SIZE)
            self.events += self.analyzer.update(frame)
            self.t_s += 1.0 / FPS
            self.index += stride

    def started(self) -> list[str]:
        return [e.kind for e in self.events if e.phase is EventPhase.STARTED]

    def ended(self) -> list[str]:
        return [e.kind for e in self.events if e.phase is EventPhase.ENDED]


@pytest.fixture
def feed() -> Feed:
    return Feed(TamperAnalyzer("cam", TamperSpec(), fps=FPS))


def test_a_steady_noisy_scene_raises_nothing(feed: Feed) -> None:
    feed.run(scene(), 20)
    assert feed.events == []
    state = feed.analyzer.state()
    for condition in TamperCondition:
        entry = state[condition.value]
        assert isinstance(entry, dict)
        assert entry["active"] is False
        assert entry["source"] == "vigil"


def test_covering_most_of_the_view_is_an_obstruction_with_start_and_end(feed: Feed) -> None:
    image = scene()
    feed.run(image, 5)
    covered = image.copy()
    covered[:, : int(0.8 * SIZE[0])] = 30  # a dark hand over 80 % of the lens
    feed.run(covered, 3)
    assert feed.started() == ["obstruction"]
    started = feed.events[0]
    assert started.rule_id == "tamper"
    assert started.source == "vigil"
    assert started.attrs["source"] == "vigil"
    assert started.attrs["condition"] == "obstruction"
    assert isinstance(started.attrs["score"], float) and started.attrs["score"] >= 0.5
    assert started.at_s - started.attrs["since_s"] == pytest.approx(1.0, abs=0.21)
    feed.run(image, 5)
    assert feed.ended() == ["obstruction"]
    ended = feed.events[-1]
    assert ended.attrs["duration_s"] > 1.0
    assert ended.attrs["peak_score"] >= started.attrs["score"]


def test_a_brief_cover_shorter_than_start_s_is_ignored(feed: Feed) -> None:
    image = scene()
    feed.run(image, 5)
    covered = image.copy()
    covered[:, : int(0.8 * SIZE[0])] = 30
    feed.run(covered, 0.6)  # someone walking right past the lens
    feed.run(image, 5)
    assert feed.events == []


def test_blurring_the_whole_view_is_defocus_not_obstruction(feed: Feed) -> None:
    image = scene()
    feed.run(image, 5)
    blurred = ndimage.gaussian_filter(image, sigma=(3, 3, 0))
    feed.run(blurred, 3)
    assert feed.started() == ["defocus"]


def test_turning_the_camera_is_an_orientation_change(feed: Feed) -> None:
    image = scene()
    feed.run(image, 5)
    feed.run(np.ascontiguousarray(np.roll(image, SIZE[0] // 6, axis=1)), 3)
    assert feed.started() == ["orientation_change"]


def test_recapturing_the_reference_ends_the_change_and_keeps_the_new_view(feed: Feed) -> None:
    image = scene()
    moved = np.ascontiguousarray(np.roll(image, SIZE[0] // 6, axis=1))
    feed.run(image, 5)
    feed.run(moved, 3)
    assert feed.started() == ["orientation_change"]
    feed.analyzer.recapture_reference()
    feed.run(moved, 10)
    assert feed.ended() == ["orientation_change"]
    assert feed.events[-1].attrs["reason"] == "reference_recaptured"
    assert feed.started() == ["orientation_change"]  # the new view is normal now


def test_a_global_brightness_or_grey_switch_raises_nothing(feed: Feed) -> None:
    image = scene()
    feed.run(image, 5)
    darker = (image * 0.35).astype(np.uint8)
    feed.run(darker, 5)
    grey = np.clip(60 + 0.55 * image.astype(np.float32), 0, 255).astype(np.uint8)
    feed.run(grey, 5)
    assert feed.events == []


def test_identical_frames_for_frozen_s_are_stream_loss() -> None:
    feed = Feed(TamperAnalyzer("cam", TamperSpec(frozen_s=3.0, end_s=1.0), fps=FPS))
    image = scene()
    feed.run(image, 3)
    feed.run(image, 5, noise=False)
    assert feed.started() == ["stream_loss"]
    loss = feed.events[0]
    assert loss.attrs["reason"] == "frozen"
    assert loss.attrs["frozen_s"] >= 3.0
    feed.run(image, 3)
    assert feed.ended() == ["stream_loss"]
    assert feed.events[-1].attrs["reason"] == "frozen"


def test_a_stream_whose_frame_rate_collapses_is_stream_loss() -> None:
    feed = Feed(TamperAnalyzer("cam", TamperSpec(low_fps_s=5.0), fps=FPS))
    image = scene()
    feed.run(image, 15)  # 25 fps stream: 5 decoded frames per analysed one
    feed.run(image, 15, stride=1)  # the camera now sends 5 fps... still enough for analysis
    assert feed.events == []
    feed.run(image, 20, stride=0)  # ...then under 1 fps (frames repeat the index)
    assert feed.started() == ["stream_loss"]
    assert feed.events[0].attrs["reason"] == "low_fps"


def test_a_source_that_stalls_is_stream_loss_until_frames_flow_again(feed: Feed) -> None:
    image = scene()
    feed.run(image, 3)
    analyzer = feed.analyzer

    def state(value: SourceState) -> list[RuleEvent]:
        return analyzer.on_source_state(
            SourceStateEvent(camera_id="cam", state=value, wall_time=0.0)
        )

    started = state(SourceState.STALLED)
    assert [(e.kind, e.phase, e.attrs["reason"]) for e in started] == [
        ("stream_loss", EventPhase.STARTED, "no_frames")
    ]
    assert state(SourceState.OFFLINE) == []  # still the same loss
    assert state(SourceState.ONLINE) == []
    feed.run(image, 5)
    assert feed.ended() == ["stream_loss"]
    assert state(SourceState.ENDED) == []  # a file reaching its end is not a loss


def test_disabled_conditions_raise_nothing_and_are_not_in_the_state() -> None:
    spec = TamperSpec(orientation=False, stream_loss=False)
    feed = Feed(TamperAnalyzer("cam", spec, fps=FPS))
    image = scene()
    feed.run(image, 5)
    feed.run(np.ascontiguousarray(np.roll(image, SIZE[0] // 6, axis=1)), 3)
    assert feed.events == []
    state = feed.analyzer.state()
    assert "orientation_change" not in state
    assert "stream_loss" not in state
    assert "obstruction" in state


def test_ignored_regions_cover_the_cells_they_touch() -> None:
    layout = Layout(640, 360)
    keep = layout.cell_mask([(0.0, 0.0, 0.3, 0.12)])
    assert keep.shape == (GRID_ROWS, GRID_COLS)
    assert not keep[:2, :5].any()
    assert keep[2:, :].all() and keep[:, 5:].all()


def test_a_burned_in_label_inside_an_ignored_region_changes_nothing() -> None:
    spec = TamperSpec(ignore_regions=[(0.0, 0.0, 0.5, 0.6)])
    feed = Feed(TamperAnalyzer("cam", spec, fps=FPS))
    image = scene()
    feed.run(image, 5)
    labelled = image.copy()
    labelled[: int(0.6 * SIZE[1]), : SIZE[0] // 2] = 255
    feed.run(labelled, 5)
    assert feed.events == []


def test_recapture_from_another_thread_while_frames_flow() -> None:
    feed = Feed(TamperAnalyzer("cam", TamperSpec(), fps=FPS))
    image = scene()
    stop = threading.Event()

    def press() -> None:
        while not stop.is_set():
            feed.analyzer.recapture_reference()
            feed.analyzer.state()

    presser = threading.Thread(target=press)
    presser.start()
    try:
        feed.run(image, 10)
    finally:
        stop.set()
        presser.join()
    assert feed.events == []


def test_the_latch_needs_persistence_to_start_and_hysteresis_to_end() -> None:
    latch = ConditionLatch(on=0.5, off=0.35, start_s=1.0, end_s=2.0)
    scores = [0.6, 0.6, 0.4, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3]
    phases = []
    for step, score in enumerate(scores):
        transition = latch.update(score, step * 0.2)
        if transition is not None:
            phases.append((step, transition.phase))
    # Starts 1 s after the last dip; 0.4 keeps it on (above 0.35); ends 2 s under 0.35.
    assert phases == [(8, EventPhase.STARTED)]
    for step in range(16, 30):
        transition = latch.update(0.3, step * 0.2)
        if transition is not None:
            phases.append((step, transition.phase))
    assert phases == [(8, EventPhase.STARTED), (21, EventPhase.ENDED)]


def test_tamper_spec_validates_regions_and_defaults_on_every_camera() -> None:
    camera = CameraSpec(id="cam", source="clip.mp4")
    assert camera.tamper.enabled and camera.tamper.sensitivity == "medium"
    with pytest.raises(ValueError, match="x1 < x2"):
        TamperSpec(ignore_regions=[(0.5, 0.0, 0.2, 0.1)])
    assert len(build_analyzers(camera)) == 1
    off = camera.model_copy(update={"tamper": TamperSpec(enabled=False)})
    assert build_analyzers(off) == []


def test_camera_side_reports_share_the_condition_state() -> None:
    board = TamperBoard()
    onvif = camera_report_event(
        camera_id="cam", report=CameraReport.TOO_DARK, active=True, source="onvif", at_s=1.0
    )
    assert onvif.kind == "obstruction" and onvif.attrs["source"] == "onvif"
    state = board.apply(onvif)
    assert state is not None and state.active and state.attributes()["source"] == ["onvif"]
    feed = Feed(TamperAnalyzer("cam", TamperSpec(), fps=FPS))
    image = scene()
    feed.run(image, 5)
    covered = image.copy()
    covered[:, : int(0.8 * SIZE[0])] = 30
    feed.run(covered, 3)
    for event in feed.events:
        state = board.apply(event)
    assert state is not None and sorted(state.sources) == ["onvif", "vigil"]
    tamper = camera_report_event(
        camera_id="cam", report=CameraReport.TAMPER, active=True, source="onvif", at_s=2.0
    )
    board.apply(tamper)
    board.apply(
        camera_report_event(
            camera_id="cam", report=CameraReport.TOO_DARK, active=False, source="onvif", at_s=3.0
        )
    )
    # The camera's tamper report still holds the condition for the camera's side.
    assert sorted(board.state(TamperCondition.OBSTRUCTION).sources) == ["onvif", "vigil"]
    assert board.apply(
        camera_report_event(
            camera_id="cam", report=CameraReport.SCENE_CHANGE, active=True, source="onvif", at_s=4.0
        )
    ) == board.state(TamperCondition.ORIENTATION)


@pytest.fixture
def pipeline_events() -> Iterator[tuple[CameraPipeline, list[VigilEvent]]]:
    camera = CameraSpec(id="cam", source=SourceSpec(url="rtsp://127.0.0.1:9/none"))
    events: list[VigilEvent] = []
    pipeline = CameraPipeline(
        camera,
        batcher=None,
        tracker_spec=TrackerSpec(),
        publish=events.append,
        analyzers=build_analyzers(camera),
        rules=[],
    )
    yield pipeline, events


def test_the_pipeline_passes_source_states_to_the_analysers(
    pipeline_events: tuple[CameraPipeline, list[VigilEvent]],
) -> None:
    pipeline, events = pipeline_events
    analyzer: FrameAnalyzer = pipeline.analyzers[0]
    assert isinstance(analyzer, SourceStateListener)

    def offline() -> None:
        event = SourceStateEvent(camera_id="cam", state=SourceState.OFFLINE, wall_time=0.0)
        pipeline._on_state(event)

    offline()  # never connected: the source's own state says it, no stream loss
    assert [type(e).__name__ for e in events] == ["SourceStateEvent"]
    analyzer.update(Frame("cam", 0, 0.0, 0.0, scene(), SIZE))  # as the analysis thread does
    offline()
    kinds = [(type(e).__name__, getattr(e, "kind", None)) for e in events[1:]]
    assert kinds == [("SourceStateEvent", None), ("RuleEvent", "stream_loss")]


def source_state(analyzer: TamperAnalyzer, state: SourceState) -> list[RuleEvent]:
    return analyzer.on_source_state(SourceStateEvent(camera_id="cam", state=state, wall_time=0.0))


@pytest.mark.parametrize("stream_loss", [True, False])
def test_a_cover_does_not_start_across_an_outage(stream_loss: bool) -> None:
    feed = Feed(TamperAnalyzer("cam", TamperSpec(stream_loss=stream_loss), fps=FPS))
    image = scene()
    covered = image.copy()
    covered[:, : int(0.8 * SIZE[0])] = 128  # grey, as a decoder shows before a keyframe
    feed.run(image, 5)
    feed.run(covered, 0.6)  # the picture breaks up as the stream goes
    events = source_state(feed.analyzer, SourceState.OFFLINE)
    feed.t_s += 40.0  # a 40 s outage
    events += source_state(feed.analyzer, SourceState.ONLINE)
    feed.run(covered, 1.6)  # grey until the next keyframe
    feed.run(image, 5)
    feed.events += events
    assert "obstruction" not in feed.started(), feed.events
    assert feed.analyzer.state()["rejoining"] is False


def test_a_gap_in_the_frames_counts_as_the_stream_away(feed: Feed) -> None:
    image = scene()
    covered = image.copy()
    covered[:, : int(0.8 * SIZE[0])] = 128
    feed.run(image, 5)
    feed.run(covered, 0.6)
    feed.t_s += 30.0  # no state change reported, but half a minute without frames
    feed.run(covered, 1.6)
    assert feed.analyzer.state()["rejoining"] is True
    feed.run(image, 5)
    assert feed.started() == []


def test_a_cover_that_lasts_after_an_outage_is_still_reported(feed: Feed) -> None:
    image = scene()
    covered = image.copy()
    covered[:, : int(0.8 * SIZE[0])] = 30
    feed.run(image, 5)
    source_state(feed.analyzer, SourceState.OFFLINE)
    feed.t_s += 20.0
    source_state(feed.analyzer, SourceState.ONLINE)
    feed.run(covered, 6)
    assert feed.started() == ["obstruction"]
    started = next(e for e in feed.events if e.kind == "obstruction")
    # Not judged before the first frames were let go (2 s), then the usual second of persistence.
    assert started.attrs["since_s"] >= feed.t_s - 6 + 2.0 - 1e-6
    assert started.at_s - started.attrs["since_s"] == pytest.approx(1.0, abs=0.21)
