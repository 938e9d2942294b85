"""The Engine: one pipeline per camera around one shared detector session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
import logging
from pathlib import Path

from .config import CameraSpec, EngineConfig
from .errors import VigilError
from .events.bus import EventBus
from .events.model import SourceState, VigilEvent
from .inference.batcher import InferenceBatcher
from .inference.detectors import build_detector
from .inference.session import SessionCache
from .pipeline import AnalysedFrame, CameraPipeline, CameraStats

_LOGGER = logging.getLogger(__name__)


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


class Engine:
    """Run every configured camera; publish events on `bus`.

    Decoding, inference and rules run in worker threads; every public coroutine is safe to
    await from an event loop (Home Assistant's or the CLI's) because blocking work goes to
    threads.
    """

    def __init__(self, config: EngineConfig, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Keep the configuration; nothing is loaded until `start`."""
        self.config = config
        self.bus = EventBus(loop or asyncio.get_running_loop())
        self._sessions = SessionCache()
        self._batcher: InferenceBatcher | None = None
        self._private_batchers: dict[str, InferenceBatcher] = {}
        self._pipelines: dict[str, CameraPipeline] = {}

    @property
    def camera_ids(self) -> list[str]:
        """Return the ids of the running cameras."""
        return list(self._pipelines)

    async def start(self) -> None:
        """Load the detector (off the loop) and start every camera."""
        self._batcher = await asyncio.to_thread(self._make_batcher, self._sessions)
        for camera in self.config.cameras:
            await self.add_camera(camera)

    def _make_batcher(self, sessions: SessionCache) -> InferenceBatcher:
        models_dir = Path(self.config.models_dir) if self.config.models_dir else None
        inference = self.config.inference
        detector = build_detector(self.config.detector, inference, sessions, models_dir)
        return InferenceBatcher(
            detector,
            workers=inference.workers,
            max_batch=inference.max_batch,
            max_wait_ms=inference.max_wait_ms,
        )

    async def add_camera(self, camera: CameraSpec) -> None:
        """Start analysing one more camera."""
        if self._batcher is None:
            raise VigilError("engine is not started")
        if camera.id in self._pipelines:
            raise VigilError(f"camera {camera.id} is already running")
        batcher = self._batcher
        if not self.config.inference.share_session:
            # Comparison mode for the benchmark: a private session and workers per camera.
            batcher = await asyncio.to_thread(self._make_batcher, SessionCache())
            self._private_batchers[camera.id] = batcher
        pipeline = CameraPipeline(
            camera, batcher=batcher, tracker_spec=self.config.tracker, publish=self._publish
        )
        self._pipelines[camera.id] = pipeline
        await asyncio.to_thread(pipeline.start)

    async def remove_camera(self, camera_id: str) -> None:
        """Stop one camera and forget it."""
        pipeline = self._pipelines.pop(camera_id, None)
        if pipeline is not None:
            await asyncio.to_thread(pipeline.stop)
        private = self._private_batchers.pop(camera_id, None)
        if private is not None:
            await asyncio.to_thread(private.close)

    async def stop(self) -> None:
        """Stop every camera, then the shared inference workers."""
        pipelines = list(self._pipelines.values())
        self._pipelines.clear()
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in pipelines))
        for private in self._private_batchers.values():
            await asyncio.to_thread(private.close)
        self._private_batchers.clear()
        if self._batcher is not None:
            await asyncio.to_thread(self._batcher.close)
            self._batcher = None
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
        return CameraStatus(
            camera_id=camera_id,
            state=pipeline.state,
            error=str(pipeline.error) if pipeline.error else None,
            analysed_fps=stats.analysed_fps(),
            inference_ms=stats.inference_ms(),
            frames_analysed=stats.frames_analysed,
            frames_inferred=stats.frames_inferred,
            events=stats.events,
        )

    def _publish(self, event: VigilEvent) -> None:
        self.bus.publish(event)
