"""The seam between frame sources and the pipeline: a protocol, its callbacks and its stats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vigil_core.events.model import SourceState, SourceStateEvent
from vigil_core.types import Frame

type FrameCallback = Callable[[Frame], None]
"""Receives each sampled frame on the source's thread (must not block for live sources)."""

type StateCallback = Callable[[SourceStateEvent], None]
"""Receives each state change once, on the source's thread."""


@dataclass(frozen=True, slots=True)
class SourceStats:
    """Counters of one source since start()."""

    frames_decoded: int = 0
    frames_delivered: int = 0
    """Frames sampled at the analysis rate and passed to on_frame."""
    decode_errors: int = 0
    """Packets that failed to decode and were skipped."""
    frames_skipped: int = 0
    """Frames FFmpeg flagged corrupt, and those predicted from them, that were not delivered."""
    reconnects: int = 0
    last_frame_at: float | None = None
    """`time.monotonic()` of the last decoded frame."""
    input_fps: float | None = None
    """Frame rate of the input measured on its timestamps over the last 50 frames."""


class FrameSource(Protocol):
    """Something that produces frames on its own thread until stopped."""

    @property
    def camera_id(self) -> str:
        """Return the camera this source feeds."""
        ...

    @property
    def state(self) -> SourceState:
        """Return the current connection state."""
        ...

    @property
    def stats(self) -> SourceStats:
        """Return a snapshot of the counters."""
        ...

    def start(self) -> None:
        """Start producing frames; return at once."""
        ...

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop and release the input; return whether the worker finished within timeout."""
        ...
