"""The Engine: one pipeline per camera around one shared detector session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
import importlib
import logging
from pathlib import Path
import threading
import time
from typing import TYPE_CHECKING

from vigil_core.compliance.inventory import enforce_context
from vigil_core.feeds.event_source import EventSource
from vigil_core.feeds.frigate_mqtt import MqttTransport
from vigil_core.feeds.frigate_tracks import FrigateDetections, plates_from_frigate

from .anpr.runtime import AnprRuntime
from .anpr.store import AuditLog, MatchRecord
from .config import CameraSpec, EngineConfig, WatchlistSpec
from .costs import StageCost, merge
from .errors import VigilError
from .events.bus import EventBus
from .events.model import ChannelEvent, RuleEvent, SourceState, VigilEvent
from .health import TamperAnalyzer, build_analyzers
from .inference.batcher import InferenceBatcher
from .inference.detectors import build_detector
from .inference.kserve import LOCAL_STATUS, BackendState, BackendStatus, backend_status
from .inference.session import SessionCache
from .load import LatencyFigures
from .pipeline import AnalysedFrame, CameraPipeline, CameraStats
from .privacy.context import ControllerSpec, PaperworkSpec, gate_event
from .privacy.retention import RetentionRegistry
from .rules import build_rules
from .stages import TrackObserver, TrackStage

if TYPE_CHECKING:
    from vigil_core.feeds.onvif_events import EventChannelStatus, OnvifEventSource
from .store.counters import CounterStore
from .store.files import check_writable_folder

_LOGGER = logging.getLogger(__name__)


class RestartRequired(VigilError):
    """A new configuration changes what every camera shares: build a new engine for it."""

    translation_key = "restart_required"


@dataclass(frozen=True, slots=True)
class AppliedChanges:
    """Which cameras a new configuration started, restarted, kept or removed."""

    started: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def _shared_settings(config: EngineConfig) -> EngineConfig:
    """Return the configuration without what can change while cameras keep running.

    The context and its acknowledgements only change what each camera runs (compared per
    camera), the watchlist is swapped live, and the controller and the paperwork only feed
    the documents.
    """
    anpr = config.anpr.model_copy(update={"watchlist": WatchlistSpec()})
    privacy = config.privacy.model_copy(
        update={
            "context": None,
            "acknowledgements": {},
            "controller": ControllerSpec(),
            "paperwork": PaperworkSpec(),
        }
    )
    return config.model_copy(update={"cameras": [], "anpr": anpr, "privacy": privacy})


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A camera's state and figures at one moment."""

    camera_id: str
    state: SourceState
    error: str | None
    analysed_fps: float
    inference_ms: float
    frames_analysed: int
    frames_inferred: int
    events: int
    target_fps: float = 0.0
    """The analysis rate the camera is configured for."""
    dropped_fps: float = 0.0
    """Frames per second the stream delivered that analysis could not take (recent window)."""
    overloaded: bool = False
    """Analysis falls behind this camera's stream (see `Engine.load`)."""


@dataclass(frozen=True, slots=True)
class EngineLoad:
    """Whether the machine keeps up with every camera, and by how much it falls short."""

    analysed_fps: float
    """Frames per second analysed over every camera (recent window)."""
    target_fps: float
    """Frames per second every camera's configured rate adds up to."""
    overloaded_cameras: tuple[str, ...]
    """Cameras whose analysis falls behind their stream."""
    min_kept_share: float
    """The smallest share of its delivered frames any camera analysed (1.0 = all)."""

    @property
    def overloaded(self) -> bool:
        """Return whether any camera's analysis falls behind its stream."""
        return bool(self.overloaded_cameras)


class Engine:
    """Run every configured camera; publish events on `bus`.

    Decoding, inference and rules run in worker threads; every public coroutine is safe to
    await from an event loop (Home Assistant's or the CLI's) because blocking work goes to
    threads.
    """

    def __init__(
        self,
        config: EngineConfig,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        mqtt: MqttTransport | None = None,
        audit: AuditLog | None = None,
        observers: Callable[[CameraSpec], TrackObserver | None] | None = None,
    ) -> None:
        """Keep the configuration; nothing is loaded until `start`.

        `mqtt` carries Frigate's messages for cameras that take its detections (Home
        Assistant passes its MQTT integration); without it `config.frigate_mqtt` is used.
        `observers` gives each camera's pipeline the observer of its tracks, if any.
        """
        # What the deployment context holds back (unacknowledged) never reaches a pipeline.
        self.config, self.privacy_violations = enforce_context(config)
        self.retention = RetentionRegistry(config.privacy.retention)
        self.bus = EventBus(loop or asyncio.get_running_loop())
        self._sessions = SessionCache()
        # Plate queries go to the host's audit log (Home Assistant's hash-chained access log).
        self.anpr = AnprRuntime.from_config(
            self.config, self._sessions, self.retention, audit=audit
        )
        self._batcher: InferenceBatcher | None = None
        self._private_batchers: dict[str, InferenceBatcher] = {}
        self._pipelines: dict[str, CameraPipeline] = {}
        self.counters = CounterStore.in_dir(config.state_dir)
        self._frigate = FrigateDetections(config.frigate_mqtt, transport=mqtt)
        self._started = False
        self._event_sources: list[EventSource] = []
        self._onvif: dict[str, OnvifEventSource] = {}
        self._overloaded: set[str] = set()
        self._load_lock = threading.Lock()
        self._observers = observers

    def _observer(self, camera: CameraSpec) -> TrackObserver | None:
        return self._observers(camera) if self._observers is not None else None

    @property
    def camera_ids(self) -> list[str]:
        """Return the ids of the running cameras."""
        return list(self._pipelines)

    async def start(self) -> None:
        """Check the state folder, load every model (off the loop), then start every camera.

        Everything that can fail for the whole engine fails here, before any camera goes online.
        """
        cameras = self.config.cameras
        await asyncio.to_thread(self._prepare)
        # Cameras that take Frigate's detections need no detector: load it only for the others.
        if any(camera.detections == "vigil" for camera in cameras):
            self._batcher = await asyncio.to_thread(self._make_batcher, self._sessions)
        self._started = True
        for camera in self.config.cameras:
            await self.add_camera(camera)

    def _prepare(self) -> None:
        """Refuse an unwritable state folder; load every camera's plate models (blocking)."""
        if self.config.state_dir:
            check_writable_folder(Path(self.config.state_dir))
        self.anpr.load_models(
            camera for camera in self.config.cameras if not plates_from_frigate(camera)
        )

    def _make_batcher(self, sessions: SessionCache) -> InferenceBatcher:
        models_dir = Path(self.config.models_dir) if self.config.models_dir else None
        inference = self.config.inference
        detector = build_detector(self.config.detector, inference, sessions, models_dir)
        remote = self.config.detector.kserve if self.config.detector.backend == "kserve" else None
        if remote is not None:
            # Requests in flight and images per request: what a server's own batching wants.
            return InferenceBatcher(
                detector,
                workers=remote.requests,
                max_batch=remote.max_batch,
                max_wait_ms=remote.max_wait_ms,
            )
        return InferenceBatcher(
            detector,
            workers=inference.workers,
            max_batch=inference.max_batch,
            max_wait_ms=inference.max_wait_ms,
        )

    def inference_backend(self) -> BackendStatus:
        """Return where the shared detector runs: locally, on the server, or in its place."""
        if self._batcher is None:
            if self.config.detector.backend == "local":
                return LOCAL_STATUS
            return BackendStatus(
                backend=self.config.detector.backend,
                state=BackendState.LOCAL,
                reason="the detector is not loaded",
            )
        return backend_status(self._batcher.detector)

    async def add_camera(self, camera: CameraSpec) -> None:
        """Start analysing one more camera (and following its ONVIF events, if any)."""
        if not self._started:
            raise VigilError("engine is not started")
        if camera.id in self._pipelines:
            raise VigilError(f"camera {camera.id} is already running")
        await self._start_onvif(camera)
        if camera.detections == "frigate":
            await self._add_frigate_camera(camera)
            return
        if self._batcher is None:
            self._batcher = await asyncio.to_thread(self._make_batcher, self._sessions)
        batcher = self._batcher
        if not self.config.inference.share_session:
            # Comparison mode for the benchmark: a private session and workers per camera.
            batcher = await asyncio.to_thread(self._make_batcher, SessionCache())
            self._private_batchers[camera.id] = batcher
        track_stages = await asyncio.to_thread(self.anpr.stages_for, camera)
        pipeline = CameraPipeline(
            camera,
            batcher=batcher,
            tracker_spec=self.config.tracker,
            publish=self._publish,
            rules=build_rules(camera, counters=self.counters),
            analyzers=build_analyzers(camera),
            track_stages=track_stages,
            on_load=self._on_camera_load,
            observer=self._observer(camera),
        )
        self._pipelines[camera.id] = pipeline
        await asyncio.to_thread(pipeline.start)

    async def _add_frigate_camera(self, camera: CameraSpec) -> None:
        """Start a camera whose tracks come from Frigate's MQTT events (no detector)."""
        parts = await self._frigate.attach(camera, passages=self.anpr)
        track_stages: Sequence[TrackStage]
        if parts.track_stages is not None:
            track_stages = parts.track_stages
        else:
            track_stages = await asyncio.to_thread(self.anpr.stages_for, camera)
        pipeline = CameraPipeline(
            parts.camera,
            batcher=None,
            tracker_spec=self.config.tracker,
            publish=self._publish,
            rules=build_rules(camera, counters=self.counters),
            # Camera-health checks need real pixels: none on the frames of a pixel-free camera.
            analyzers=build_analyzers(parts.camera) if parts.source_factory is None else [],
            track_stages=track_stages,
            track_provider=parts.provider,
            source_factory=parts.source_factory,
            observer=self._observer(camera),
        )
        self._pipelines[camera.id] = pipeline
        await asyncio.to_thread(pipeline.start)

    async def _start_onvif(self, camera: CameraSpec) -> None:
        """Follow an ONVIF camera's own analytics; status and topics go onto the bus."""
        spec = camera.onvif
        if spec is None or not spec.events:
            return
        # onvif-zeep-async is heavy to import (and configures logging on import): only for
        # ONVIF cameras, and off the loop.
        module = await asyncio.to_thread(importlib.import_module, "vigil_core.feeds.onvif_events")
        source_class: type[OnvifEventSource] = module.OnvifEventSource

        def on_status(status: EventChannelStatus) -> None:
            self._publish(
                ChannelEvent(
                    camera_id=camera.id,
                    state=status.state.value,
                    reason=status.reason,
                    translation_key=status.translation_key,
                )
            )

        def on_topics(topics: tuple[str, ...]) -> None:
            status = source.status
            self._publish(
                ChannelEvent(
                    camera_id=camera.id,
                    state=status.state.value,
                    reason=status.reason,
                    translation_key=status.translation_key,
                    topics=topics,
                )
            )

        source = source_class(
            camera_id=camera.id,
            host=spec.host,
            port=spec.port,
            username=spec.username,
            password=spec.password,
            on_status=on_status,
            on_topics=on_topics,
        )
        self._onvif[camera.id] = source
        await source.start(self._publish)

    async def remove_camera(self, camera_id: str) -> None:
        """Stop one camera and forget it."""
        onvif = self._onvif.pop(camera_id, None)
        if onvif is not None:
            await onvif.stop()
        pipeline = self._pipelines.pop(camera_id, None)
        if pipeline is not None:
            await asyncio.to_thread(pipeline.stop)
        with self._load_lock:
            self._overloaded.discard(camera_id)
        await self._frigate.detach(camera_id)
        private = self._private_batchers.pop(camera_id, None)
        if private is not None:
            await asyncio.to_thread(private.close)

    async def add_event_source(self, source: EventSource) -> None:
        """Start a camera-side event source (ONVIF analytics) that publishes on `bus`.

        The engine owns it from here: `stop` stops it before the bus closes, so no task or
        timer of a source outlives the engine, whichever host (Home Assistant, CLI) runs it.
        """
        self._event_sources.append(source)
        await source.start(self._publish)

    async def apply(self, config: EngineConfig) -> AppliedChanges:
        """Run a new configuration, restarting only the cameras whose settings changed.

        Raises `RestartRequired` when a setting every camera shares changed (the detector,
        the tracker, inference, models, state, retention, the Frigate broker): the host then
        builds a new engine. The watchlist is swapped live.
        """
        gated, violations = enforce_context(config)
        if _shared_settings(gated) != _shared_settings(self.config):
            raise RestartRequired("settings shared by every camera changed")
        old = {camera.id: camera for camera in self.config.cameras}
        new = {camera.id: camera for camera in gated.cameras}
        if gated.anpr.watchlist != self.config.anpr.watchlist:
            await asyncio.to_thread(self.anpr.set_watchlist, gated.anpr.watchlist)
        self.config, self.privacy_violations = gated, violations
        changes = AppliedChanges(
            started=tuple(sorted(set(new) - set(old))),
            restarted=tuple(sorted(i for i in set(new) & set(old) if new[i] != old[i])),
            unchanged=tuple(sorted(i for i in set(new) & set(old) if new[i] == old[i])),
            removed=tuple(sorted(set(old) - set(new))),
        )
        if not self._started:
            return changes
        for camera_id in (*changes.removed, *changes.restarted):
            await self.remove_camera(camera_id)
        for camera_id in (*changes.restarted, *changes.started):
            await self.add_camera(new[camera_id])
        return changes

    async def stop(self) -> None:
        """Stop every camera, then the shared inference workers."""
        sources, self._event_sources = self._event_sources, []
        onvif, self._onvif = list(self._onvif.values()), {}
        await asyncio.gather(*(source.stop() for source in [*sources, *onvif]))
        pipelines = list(self._pipelines.values())
        self._pipelines.clear()
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in pipelines))
        await self._frigate.close()
        for private in self._private_batchers.values():
            await asyncio.to_thread(private.close)
        self._private_batchers.clear()
        if self._batcher is not None:
            await asyncio.to_thread(self._batcher.close)
            self._batcher = None
        await asyncio.to_thread(self.anpr.close)
        self.bus.close()

    async def wait_finished(self, camera_ids: Iterable[str] | None = None) -> None:
        """Wait until the given cameras (default: all) have ended, e.g. file sources."""
        ids = list(camera_ids) if camera_ids is not None else list(self._pipelines)
        for camera_id in ids:
            pipeline = self._pipelines.get(camera_id)
            if pipeline is not None:
                await asyncio.to_thread(pipeline.finished.wait)

    def pipeline(self, camera_id: str) -> CameraPipeline:
        """Return a camera's pipeline (rules, latest frame, stats)."""
        return self._pipelines[camera_id]

    def latest(self, camera_id: str) -> AnalysedFrame | None:
        """Return a camera's latest analysed frame with its tracks."""
        pipeline = self._pipelines.get(camera_id)
        return pipeline.latest if pipeline else None

    def status(self, camera_id: str) -> CameraStatus:
        """Return a camera's state and figures."""
        pipeline = self._pipelines[camera_id]
        stats: CameraStats = pipeline.stats
        meter = pipeline.load
        load = meter.figures
        return CameraStatus(
            camera_id=camera_id,
            state=pipeline.state,
            error=str(pipeline.error) if pipeline.error else None,
            # The frames' own rate until the meter spans some time; then the meter's, which
            # falls to zero when the frames stop (the frames' rate would keep their last one).
            analysed_fps=(
                meter.analysed_fps_at(time.monotonic()) if meter.measuring else stats.analysed_fps()
            ),
            inference_ms=stats.inference_ms(),
            frames_analysed=stats.frames_analysed,
            frames_inferred=stats.frames_inferred,
            events=stats.events,
            target_fps=pipeline.camera.fps,
            dropped_fps=load.dropped_fps,
            overloaded=load.overloaded,
        )

    def load(self) -> EngineLoad:
        """Return how the analysis keeps up with every camera's stream, summed."""
        pipelines = list(self._pipelines.values())
        figures = [p.load.figures for p in pipelines]
        with self._load_lock:
            overloaded = tuple(sorted(self._overloaded))
        return EngineLoad(
            analysed_fps=sum(f.analysed_fps for f in figures),
            target_fps=sum(p.camera.fps for p in pipelines),
            overloaded_cameras=overloaded,
            min_kept_share=min((f.kept_share for f in figures), default=1.0),
        )

    def latency(self) -> LatencyFigures:
        """Return how long the recent frames of every online camera took, pooled."""
        waits: list[float] = []
        frames: list[float] = []
        for pipeline in list(self._pipelines.values()):
            if pipeline.state is not SourceState.ONLINE:
                continue  # an offline camera's last figures are stale
            camera_waits, camera_frames = pipeline.stats.recent_latencies()
            waits += camera_waits
            frames += camera_frames
        return LatencyFigures.of(waits, frames)

    def _on_camera_load(self, camera_id: str, overloaded: bool) -> None:
        """Keep the set of cameras falling behind; log one line as the engine enters or leaves.

        Called on the cameras' analysis threads.
        """
        with self._load_lock:
            was = bool(self._overloaded)
            if overloaded:
                self._overloaded.add(camera_id)
            else:
                self._overloaded.discard(camera_id)
            now = bool(self._overloaded)
        if now == was:
            return
        load = self.load()
        figures = (
            f"analysing {load.analysed_fps:.1f} of {load.target_fps:.1f} frames/s over "
            f"{len(self._pipelines)} cameras; the camera kept least analysed "
            f"{100 * load.min_kept_share:.0f} % of its frames"
        )
        if now:
            _LOGGER.warning(
                "Overloaded: %s. Every camera keeps a share of its frames; lower the cameras' "
                "analysis fps, or their number, to analyse them all",
                figures,
            )
        else:
            _LOGGER.info("No longer overloaded: %s", figures)

    def stage_costs(self) -> dict[str, StageCost]:
        """Return the CPU time every running camera and the detector spent, per stage."""
        batchers = [self._batcher, *self._private_batchers.values()]
        return merge(
            [
                *(p.costs.snapshot() for p in self._pipelines.values()),
                *(p.source_costs.snapshot() for p in self._pipelines.values()),
                *(b.costs() for b in batchers if b is not None),
            ]
        )

    def recapture_reference(self, camera_id: str) -> None:
        """Take a camera's next frames as its reference view (after an intended move).

        Safe from any thread and never blocks: the camera's analysis thread applies it on its
        next frame, ending an active orientation change, obstruction or defocus.
        """
        pipeline = self._pipelines.get(camera_id)
        found = pipeline.analyzers if pipeline is not None else []
        analyzers = [a for a in found if isinstance(a, TamperAnalyzer)]
        if not analyzers:
            raise VigilError(f"camera {camera_id} has no camera-health checks running")
        for analyzer in analyzers:
            analyzer.recapture_reference()

    def reset_counter(self, camera_id: str, rule_id: str) -> None:
        """Set a line-crossing rule's persisted totals back to zero."""
        pipeline = self._pipelines.get(camera_id)
        if pipeline is None or rule_id not in {rule.rule_id for rule in pipeline.rules}:
            raise VigilError(f"camera {camera_id} has no rule {rule_id}")
        self.counters.reset(camera_id, rule_id)
        pipeline.republish_state(rule_id)

    async def review_match(self, match_id: str, *, confirm: bool, by: str) -> MatchRecord:
        """Confirm or reject a pending watchlist match and publish the review's event."""
        record, event = await asyncio.to_thread(self.anpr.review_match, match_id, confirm, by=by)
        self._publish(event)
        return record

    def _publish(self, event: VigilEvent) -> None:
        if isinstance(event, RuleEvent):
            gated = gate_event(self.config.privacy, event)
            if gated is None:
                return  # a camera-side analysis the context holds back, or one Vigil refuses
            event = gated
        self.bus.publish(event)
