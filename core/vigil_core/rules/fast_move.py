"""Fast move (abnormal speed): objects moving faster than a threshold.

Speeds are estimated from the track's recent ground-contact points (`geometry.speed`): in
pixels per second on the image, and in km/h when the camera has a ground calibration. They
are estimates (box edges move with posture and occlusion; the calibration is a plane), so
every event and the state say so with ``speed_is_estimate``. A fast move starts once the
speed has stayed over the threshold for `min_duration_s` and ends when it falls below 80 %
of it, or when the track is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.geometry.calibration import Homography
from vigil_core.geometry.polygon import Polygon
from vigil_core.geometry.speed import SpeedEstimate, estimate_speed
from vigil_core.rules.base import RegionRuleSpec
from vigil_core.types import Track
from vigil_protocol import FastMoveState
from vigil_protocol.privacy import DetectorKind

from .base import RuleContext
from .common import ClassFilter, anchor_point, relative
from .registry import RuleSetup, register_rule


class FastMoveSpec(RegionRuleSpec):
    """Objects moving faster than a threshold (px/s on the image, or km/h with a calibration)."""

    detector_kind: ClassVar[DetectorKind] = DetectorKind.FAST_MOVE

    type: Literal["fast_move"]
    speed_kmh: Annotated[
        float | None, Field(gt=0, le=400, description="Threshold in km/h (needs a calibration).")
    ] = None
    speed_px_s: Annotated[
        float | None, Field(gt=0, le=100000, description="Threshold in image pixels per second.")
    ] = None
    min_duration_s: Annotated[
        float, Field(ge=0, le=60, description="Seconds the speed must stay over the threshold.")
    ] = 1.0
    window_s: Annotated[
        float, Field(gt=0, le=10, description="Seconds of track history each speed estimate uses.")
    ] = 1.5

    region_required: ClassVar[bool] = False

    @model_validator(mode="after")
    def _one_threshold(self) -> Self:
        if (self.speed_kmh is None) == (self.speed_px_s is None):
            raise ValueError("give one threshold: speed_kmh or speed_px_s")
        return self

    def needs_calibration(self) -> bool:
        """Return whether the threshold is in km/h."""
        return self.speed_kmh is not None


KIND = "fast_move"

_RELEASE = 0.8
"""A fast move ends below this fraction of the threshold, so it does not flap at the limit."""


@dataclass(slots=True)
class _Run:
    label: str
    over_since_s: float | None = None
    active: bool = False
    max_speed: float = 0.0
    speed: SpeedEstimate | None = None
    position: tuple[float, float] = (0.0, 0.0)


@register_rule(FastMoveSpec)
class FastMoveRule:
    """Report tracks whose estimated speed stays over the threshold."""

    kind = KIND

    def __init__(self, spec: FastMoveSpec, setup: RuleSetup) -> None:
        """Resolve the optional area and the calibration the km/h threshold needs."""
        self.rule_id = spec.id
        self._spec = spec
        self._region: Polygon | None = setup.region(spec.zone, spec.polygon)
        self._calibration: Homography | None = setup.calibration
        self._watched = ClassFilter(spec.classes)
        self._runs: dict[int, _Run] = {}
        self._unit = "kmh" if spec.speed_kmh is not None else "px_s"
        self._last_speed: float | None = None
        self._last_label: str | None = None
        self._threshold = spec.speed_kmh if spec.speed_kmh is not None else spec.speed_px_s or 0.0

    def speed_of(self, ctx: RuleContext, track: Track) -> SpeedEstimate | None:
        """Return a track's current speed estimate."""
        return estimate_speed(
            track.history,
            (ctx.frame.width, ctx.frame.height),
            window_s=self._spec.window_s,
            calibration=self._calibration,
        )

    def _value(self, speed: SpeedEstimate) -> float:
        return (speed.kmh or 0.0) if self._unit == "kmh" else speed.px_s

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Estimate each watched track's speed on fresh frames; start and end fast moves."""
        events: list[RuleEvent] = []
        present: set[int] = set()
        for track in tracks:
            if not self._watched(track):
                continue
            present.add(track.track_id)
            if ctx.fresh and track.matched:
                events += self._observe(ctx, track)
        for track_id in [t for t in self._runs if t not in present]:
            run = self._runs.pop(track_id)
            if run.active:
                events.append(self._event(ctx, track_id, run, EventPhase.ENDED, "track_lost"))
        return events

    def _observe(self, ctx: RuleContext, track: Track) -> list[RuleEvent]:
        run = self._runs.setdefault(track.track_id, _Run(track.label))
        x, y = anchor_point(track, self._spec.anchor)
        inside = self._region is None or self._region.contains(
            x, y, ctx.frame.width, ctx.frame.height
        )
        speed = self.speed_of(ctx, track) if inside else None
        value = self._value(speed) if speed is not None else 0.0
        run.label, run.speed, run.position = track.label, speed, relative(ctx.frame, x, y)
        if run.active:
            run.max_speed = max(run.max_speed, value)
            if value < _RELEASE * self._threshold:
                run.active, run.over_since_s = False, None
                return [self._event(ctx, track.track_id, run, EventPhase.ENDED, "slowed")]
            return []
        if value < self._threshold:
            run.over_since_s = None
            return []
        if run.over_since_s is None:
            run.over_since_s = ctx.pts_s
        if ctx.pts_s - run.over_since_s < self._spec.min_duration_s:
            return []
        run.active, run.max_speed = True, value
        self._last_speed, self._last_label = round(value, 1), run.label
        return [self._event(ctx, track.track_id, run, EventPhase.STARTED, "over_threshold")]

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """End the fast moves still open when the stream ends."""
        events = [
            self._event(ctx, track_id, run, EventPhase.ENDED, "stream_ended")
            for track_id, run in self._runs.items()
            if run.active
        ]
        self._runs.clear()
        return events

    def state(self) -> FastMoveState:
        """Return the tracks moving fast now, the top speed and the last fast move (estimates)."""
        active = [r for r in self._runs.values() if r.active]
        speeds = [self._value(r.speed) for r in self._runs.values() if r.speed is not None]
        return FastMoveState(
            active=bool(active),
            count=len(active),
            unit="km/h" if self._unit == "kmh" else "px/s",
            threshold=self._threshold,
            max_speed=round(max(speeds), 1) if speeds else None,
            last_speed=self._last_speed,
            last_label=self._last_label,
        )

    def _event(
        self, ctx: RuleContext, track_id: int, run: _Run, phase: EventPhase, reason: str
    ) -> RuleEvent:
        attrs: dict[str, AttrValue] = {
            "label": run.label,
            "position": run.position,
            "threshold": self._threshold,
            "unit": self._unit,
            "max_speed": round(run.max_speed, 1),
            "speed_is_estimate": True,
            "reason": reason,
        }
        if run.speed is not None:
            attrs["speed_px_s"] = round(run.speed.px_s, 1)
            if run.speed.kmh is not None:
                attrs["speed_kmh"] = round(run.speed.kmh, 1)
        return ctx.event(
            kind=KIND, rule_id=self.rule_id, phase=phase, track_id=track_id, attrs=attrs
        )
