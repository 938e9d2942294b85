"""Helpers for the rule tests: hand-built tracks and frames (no test lives here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
import time

import numpy as np

from vigil_core.config import CameraSpec, EngineConfig
from vigil_core.events.model import RuleEvent
from vigil_core.rules import Rule, RuleContext, RuleSetup, build_rule
from vigil_core.store.counters import CounterStore
from vigil_core.types import BBox, Frame, RGBImage, Track, TrackState

W, H = 400, 300
FPS = 5.0
BLANK = np.zeros((H, W, 3), np.uint8)


def frame(index: int, image: RGBImage | None = None, fps: float = FPS) -> Frame:
    """Return analysed frame `index` at `fps`."""
    img = BLANK if image is None else image
    return Frame("cam", index, index / fps, time.monotonic(), img, (img.shape[1], img.shape[0]))


def person(
    track_id: int,
    x: float,
    y: float,
    *,
    height: float = 60.0,
    label: str = "person",
    matched: bool = True,
    velocity: tuple[float, float] = (0.0, 0.0),
    history: Sequence[tuple[float, float, float]] = (),
) -> Track:
    """Return a track whose feet (bottom-centre) are at pixel (x, y)."""
    return Track(
        track_id=track_id,
        bbox=BBox(x - height / 6, y - height, x + height / 6, y),
        label=label,
        score=0.9,
        state=TrackState.CONFIRMED,
        velocity=velocity,
        first_seen_s=0.0,
        last_seen_s=0.0,
        hits=10,
        matched=matched,
        history=tuple(history),
    )


def camera(**fields: object) -> CameraSpec:
    """Return a validated camera with these fields (zones, rules, calibration...)."""
    return EngineConfig.parse({"cameras": [{"id": "cam", "source": "clip.mp4", **fields}]}).cameras[
        0
    ]


def make_rule(
    rule: dict[str, object], counters: CounterStore | None = None, **fields: object
) -> Rule:
    """Build one rule from its raw spec on a camera with the given other fields."""
    cam = camera(rules=[rule], **fields)
    return build_rule(cam.rules[0], RuleSetup.for_camera(cam, counters))


@dataclass
class Feed:
    """Feed a rule frame after frame; keep the events with their frame index."""

    rule: Rule
    fps: float = FPS
    index: int = 0
    events: list[RuleEvent] = field(default_factory=list)

    def step(
        self, tracks: Iterable[Track], *, image: RGBImage | None = None, fresh: bool = True
    ) -> list[RuleEvent]:
        """Advance one analysed frame."""
        ctx = RuleContext(frame=frame(self.index, image, self.fps), fresh=fresh)
        new = self.rule.update(ctx, list(tracks))
        self.events += new
        self.index += 1
        return new

    def run(self, frames: Iterable[Iterable[Track]]) -> list[RuleEvent]:
        """Advance over several frames; return their events."""
        out: list[RuleEvent] = []
        for tracks in frames:
            out += self.step(tracks)
        return out

    def finish(self) -> list[RuleEvent]:
        """End the stream."""
        new = self.rule.finish(RuleContext(frame=frame(self.index, None, self.fps), fresh=False))
        self.events += new
        return new

    def phases(self) -> list[tuple[int, str, str]]:
        """Return (frame, kind, phase) of every event so far."""
        return [(e.frame_index, e.kind, e.phase.value) for e in self.events]


def walk(
    track_id: int,
    start: tuple[float, float],
    end: tuple[float, float],
    steps: int,
    **kwargs: object,
) -> list[Track]:
    """Return one track per frame moving in a straight line from start to end."""
    out = []
    for i in range(steps):
        t = i / max(1, steps - 1)
        out.append(
            person(
                track_id,
                start[0] + t * (end[0] - start[0]),
                start[1] + t * (end[1] - start[1]),
                **kwargs,
            )
        )  # type: ignore[arg-type]
    return out


ALLOWED_ATTRS = {
    "label", "position", "count", "counts", "reason", "dwell_s", "threshold_s", "zone", "line",
    "direction", "level", "previous_level", "rising", "density_m2", "movement", "people",
    "mean_speed_kmh", "speed_is_estimate", "threshold", "unit", "max_speed", "speed_px_s",
    "speed_kmh", "change", "source", "box", "static_s", "zones", "duration_s", "step_gaps_s",
}  # fmt: skip
"""Everything an event may say: class, position, speed, dwell and counts, never a description."""
