"""CameraPipeline: the only place the stages are chained, for one camera.

source → frames → motion gate → shared detector → tracker → rules → events
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
import logging
import queue
import threading
import time

from vigil_protocol import StateValue

from .config import CameraSpec, TrackerSpec
from .costs import StageCosts
from .errors import VigilError
from .events.model import RuleEvent, RuleStateEvent, SourceState, SourceStateEvent, VigilEvent
from .inference.batcher import InferenceBatcher
from .inference.kserve import RemoteInferenceError
from .load import LoadMeter, copied
from .motion import MotionGate
from .privacy.masks import PrivacyMasks
from .rules import Rule, RuleContext, build_rules
from .sources.av_source import AvSource
from .sources.base import FrameCallback, FrameSource, StateCallback
from .stages import (
    CoarsePictureSource,
    FrameAnalyzer,
    SourceStateListener,
    TrackObserver,
    TrackProvider,
    TrackStage,
)
from .tracking.tracker import ByteTracker
from .types import Frame, Track

_LOGGER = logging.getLogger(__name__)

_STATS_WINDOW = 50


@dataclass(frozen=True, slots=True)
class AnalysedFrame:
    """The latest analysed frame of a camera with what was found on it."""

    frame: Frame
    tracks: tuple[Track, ...]
    inferred: bool


@dataclass(slots=True)
class CameraStats:
    """Running figures for one camera, read by entities and the benchmark."""

    frames_analysed: int = 0
    frames_inferred: int = 0
    events: int = 0
    processing_s: deque[float] = field(default_factory=lambda: deque(maxlen=_STATS_WINDOW))
    inference_s: deque[float] = field(default_factory=lambda: deque(maxlen=_STATS_WINDOW))
    analysed_at: deque[float] = field(default_factory=lambda: deque(maxlen=_STATS_WINDOW))
    latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    """Seconds from decode to the end of analysis, per frame (the benchmark drains it)."""

    def analysed_fps(self) -> float:
        """Return analysed frames per second over the recent window (wall clock)."""
        if len(self.analysed_at) < 2:
            return 0.0
        span = self.analysed_at[-1] - self.analysed_at[0]
        return (len(self.analysed_at) - 1) / span if span > 0 else 0.0

    def inference_ms(self) -> float:
        """Return the mean inference wait of recent inferred frames in ms."""
        return 1000.0 * sum(self.inference_s) / len(self.inference_s) if self.inference_s else 0.0

    def recent_latencies(self) -> tuple[list[float], list[float]]:
        """Return the recent inference waits and decode-to-analysed times, in s (any thread).

        The frame times are the last `_STATS_WINDOW` of `latency_s`, which the benchmark drains.
        """
        recent = copied(lambda: (list(self.inference_s), list(self.latency_s)[-_STATS_WINDOW:]))
        return recent or ([], [])


class _FrameChannel:
    """Hand frames from the decode thread to the analysis thread.

    Live sources must never wait on analysis (the camera keeps sending), so only the newest
    frame is kept; files wait instead, so a whole clip is analysed frame by frame.
    """

    def __init__(self, *, lossless: bool) -> None:
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=2 if lossless else 1)
        self._lossless = lossless
        self._stop = threading.Event()
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        if self._lossless:
            while not self._stop.is_set():
                try:
                    self._queue.put(frame, timeout=0.2)
                except queue.Full:
                    continue
                return
            return
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            try:
                self._queue.get_nowait()
                self.dropped += 1
            except queue.Empty:
                pass
            try:
                self._queue.put_nowait(frame)
            except queue.Full:
                self.dropped += 1

    def close(self) -> None:
        """Signal the end of frames: the reader drains what is queued, then stops."""
        while True:
            try:
                self._queue.put(None, timeout=0.2)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    def abort(self) -> None:
        """Stop waiting writers at once."""
        self._stop.set()

    def get(self, timeout: float) -> Frame | bool | None:
        """Return a frame, None at the end, or False when nothing came within `timeout`."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return False


class CameraPipeline:
    """Run one camera: a decode thread feeding an analysis thread that publishes events."""

    def __init__(
        self,
        camera: CameraSpec,
        *,
        batcher: InferenceBatcher | None,
        tracker_spec: TrackerSpec,
        publish: Callable[[VigilEvent], None],
        analyzers: Sequence[FrameAnalyzer] = (),
        track_stages: Sequence[TrackStage] = (),
        rules: Sequence[Rule] | None = None,
        track_provider: TrackProvider | None = None,
        source_factory: Callable[[FrameCallback, StateCallback], FrameSource] | None = None,
        on_load: Callable[[str, bool], None] | None = None,
        observer: TrackObserver | None = None,
    ) -> None:
        """Build the stages; nothing starts until `start`.

        With a `track_provider` (a Frigate camera), tracks come from it instead of the
        detector and tracker; `source_factory` then may replace the stream by other frames.
        `on_load(camera_id, overloaded)` is called on the analysis thread when analysis starts
        or stops falling behind the stream (see load.py).
        An `observer` sees every step's tracks exactly as the rules do.
        """
        self.camera = camera
        self.costs = StageCosts()
        """CPU time of each analysis stage, charged on the analysis thread."""
        self.source_costs = StageCosts()
        """CPU time of decoding and conversion, charged on the source's thread."""
        self._batcher = batcher
        self._publish = publish
        self.analyzers = list(analyzers)
        # The camera-health checks already downscale each frame: the motion gate reuses it.
        self._coarse = next((a for a in self.analyzers if isinstance(a, CoarsePictureSource)), None)
        self.track_stages = list(track_stages)
        self._gate = MotionGate(camera.motion)
        self._privacy = PrivacyMasks(camera.privacy_masks)
        self._tracker = ByteTracker(tracker_spec)
        self.rules: list[Rule] = list(rules) if rules is not None else build_rules(camera)
        # A paced (realtime) file behaves like a live camera: analysis must keep up or drop.
        self._channel = _FrameChannel(lossless=camera.source.is_file and not camera.source.realtime)
        self._track_provider = track_provider
        self.load = LoadMeter()
        self._on_load = on_load
        self._observer = observer
        self._source: FrameSource = (
            source_factory(self._channel.put, self._on_state)
            if source_factory is not None
            else self._stream_source()
        )
        self._thread = threading.Thread(
            target=self._run, name=f"vigil-analyse-{camera.id}", daemon=True
        )
        self._stopping = threading.Event()
        self.finished = threading.Event()
        self.stats = CameraStats()
        self.state = SourceState.CONNECTING
        self.error: VigilError | None = None
        self._latest: AnalysedFrame | None = None
        self._tracks: tuple[Track, ...] = ()
        self._last_frame: Frame | None = None
        self._published: dict[str, StateValue] = {}

    def _stream_source(self) -> AvSource:
        camera = self.camera
        return AvSource(
            camera.id,
            camera.source,
            fps=camera.fps,
            max_width=camera.analysis_max_width,
            on_frame=self._channel.put,
            on_state=self._on_state,
            costs=self.source_costs,
        )

    @property
    def latest(self) -> AnalysedFrame | None:
        """Return the latest analysed frame with its tracks."""
        return self._latest

    def start(self) -> None:
        """Publish every rule's state (line totals are restored), then decode and analyse."""
        self._publish_states()
        self._thread.start()
        self._source.start()

    def _publish_states(self) -> None:
        """Publish the state of each rule whose state changed since it was last published.

        Runs on the analysis thread after each frame, where the rules live, so reading a
        state never races its update.
        """
        for rule in self.rules:
            state = rule.state()
            if self._published.get(rule.rule_id) != state:
                self._published[rule.rule_id] = state
                self._publish(
                    RuleStateEvent(camera_id=self.camera.id, rule_id=rule.rule_id, state=state)
                )

    def republish_state(self, rule_id: str) -> None:
        """Publish a rule's state now (after a counter reset, when frames may not flow)."""
        for rule in self.rules:
            if rule.rule_id == rule_id:
                state = rule.state()
                self._published[rule.rule_id] = state
                self._publish(
                    RuleStateEvent(camera_id=self.camera.id, rule_id=rule_id, state=state)
                )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both threads and close the stream; return when they have ended."""
        self._stopping.set()
        self._channel.abort()
        self._source.stop(timeout)
        self._channel.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _on_state(self, event: SourceStateEvent) -> None:
        self.state = event.state
        if event.state is SourceState.OFFLINE and self.camera.source.is_file:
            # A file that cannot be opened will not appear by retrying: end this camera only.
            self.error = VigilError(
                f"camera {self.camera.id} ({self.camera.source.display_url}): {event.reason}"
            )
            self._source.stop(0)
            self._channel.close()
        elif event.state is SourceState.ENDED:
            self._channel.close()
        self._publish(event)
        for analyzer in self.analyzers:
            if isinstance(analyzer, SourceStateListener):
                self._emit(analyzer.on_source_state(event))

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                item = self._channel.get(timeout=0.5)
                if item is False:
                    # No frame: the camera's rates fall to zero and its overload clears with them.
                    # Not before its first frame: the frames a stream sends at once when it
                    # opens (what the probe buffered) are no sign of overload.
                    if self.stats.frames_analysed:
                        self._follow_load()
                    continue
                if item is None:
                    break
                assert isinstance(item, Frame)
                self.process(item)
                self._follow_load()
            if self._last_frame is not None and not self._stopping.is_set():
                self._emit(self._finish_rules(self._last_frame))
                self._publish_states()
        except Exception:
            _LOGGER.exception("Camera %s: analysis stopped on an unexpected error", self.camera.id)
        finally:
            self.finished.set()

    @property
    def frames_dropped(self) -> int:
        """Return how many delivered frames were replaced before analysis could take them."""
        return self._channel.dropped

    def _follow_load(self) -> None:
        changed = self.load.update(
            time.monotonic(), self.stats.frames_analysed, self._channel.dropped
        )
        if changed is not None and self._on_load is not None:
            self._on_load(self.camera.id, changed)

    def process(self, frame: Frame) -> list[RuleEvent]:
        """Analyse one frame: gate, detect, track, apply rules; publish and return the events."""
        started = time.monotonic()
        laps = self.costs.laps()
        frame = self._privacy.apply(frame)  # before anything looks at (or stores) the pixels
        laps("privacy")
        events: list[RuleEvent] = []
        for analyzer in self.analyzers:
            events += analyzer.update(frame)
            laps(analyzer.name)
        if self._track_provider is not None:
            return self._process_provided(frame, self._track_provider, started, events)
        coarse = self._coarse.coarse_of(frame) if self._coarse is not None else None
        inferred = self._gate.should_infer(frame.image, frame.pts_s, coarse)
        laps("motion")
        if inferred:
            assert self._batcher is not None, "a camera without a track provider needs a detector"
            waited = time.monotonic()
            try:
                detections = self._batcher.submit(frame.image).result()
            except RemoteInferenceError:
                # The inference server is away and no local fallback is configured (the
                # engine's inference status says so): this frame goes on without detections.
                detections = None
            self.stats.inference_s.append(time.monotonic() - waited)
            laps("handoff")
            if detections is None:
                inferred = False
            else:
                self._tracks = tuple(
                    self._tracker.update(detections, frame.pts_s, (frame.width, frame.height))
                )
                self.stats.frames_inferred += 1
            laps("tracker")
        for stage in self.track_stages:
            events += stage.process(frame, self._tracks, fresh=inferred)
        laps("track_stages")
        ctx = RuleContext(frame=frame, fresh=inferred, stage_events=tuple(events))
        if self._observer is not None:
            self._observer.observe(frame, self._tracks, fresh=inferred)
        events += [event for rule in self.rules for event in rule.update(ctx, self._tracks)]
        laps("rules")
        # The frame an event came from is the latest before anyone hears of the event.
        self._latest = AnalysedFrame(frame=frame, tracks=self._tracks, inferred=inferred)
        self._last_frame = frame
        self._emit(events)
        self._publish_states()
        laps("publish")
        self.stats.frames_analysed += 1
        now = time.monotonic()
        self.stats.processing_s.append(now - started)
        self.stats.analysed_at.append(now)
        self.stats.latency_s.append(now - frame.received_at)
        laps("handoff")
        return events

    def _process_provided(
        self, frame: Frame, provider: TrackProvider, started: float, events: list[RuleEvent]
    ) -> list[RuleEvent]:
        """Apply the rules to each step of tracks the provider gives (no detector, no tracker).

        Track stages see the frame's pixels once, with its last step; the rules see every step,
        at the step's time, so a crossing between two frames still counts.
        """
        steps = provider.steps(frame)
        for index, step in enumerate(steps):
            at = replace(frame, pts_s=step.pts_s)
            # Masks blank pixels; provided tracks never passed them: drop those inside a mask.
            self._tracks = self._privacy.visible(step.tracks, frame.width, frame.height)
            stage_events: list[RuleEvent] = []
            if index == len(steps) - 1:
                for stage in self.track_stages:
                    stage_events += stage.process(at, self._tracks, fresh=True)
            ctx = RuleContext(frame=at, fresh=True, stage_events=tuple(stage_events))
            if self._observer is not None:
                self._observer.observe(at, self._tracks, fresh=True)
            events += stage_events
            events += [event for rule in self.rules for event in rule.update(ctx, self._tracks)]
            frame = at
        self._latest = AnalysedFrame(frame=frame, tracks=self._tracks, inferred=True)
        self._last_frame = frame
        self._emit(events)
        self._publish_states()
        self.stats.frames_analysed += 1
        self.stats.frames_inferred += 1
        now = time.monotonic()
        self.stats.processing_s.append(now - started)
        self.stats.analysed_at.append(now)
        self.stats.latency_s.append(now - frame.received_at)
        return events

    def _finish_rules(self, frame: Frame) -> list[RuleEvent]:
        events = [event for stage in self.track_stages for event in stage.finish()]
        ctx = RuleContext(frame=frame, fresh=False, stage_events=tuple(events))
        return events + [event for rule in self.rules for event in rule.finish(ctx)]

    def _emit(self, events: Sequence[RuleEvent]) -> None:
        for event in events:
            self.stats.events += 1
            self._publish(event)
