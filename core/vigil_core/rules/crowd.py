"""Crowd density and crowd movement in an area.

Density: the people inside the area, as a count and, with a ground calibration, per m² of
the area's ground surface. The level (normal / high / critical) follows the median count of
the last `hold_s`, rises at its threshold, falls only below (1 − hysteresis) × that threshold,
and a new level must hold for `hold_s` before it is reported.

Movement: a sudden collective speed-up (people breaking into a run) or dispersal (a group
scattering). Both compare the same people now and `window_s` ago: their mean speed, and their
spread around their centroid. Both must also be fast: the mean speed, or the speed at which
the spread grows, must reach `min_speed_kmh`, so people strolling apart are no dispersal.
Without a calibration, distances are measured in body heights (taken as 1.7 m), so the same
settings suit near and far people.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
import math
import statistics
from typing import Annotated, ClassVar, Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.geometry.calibration import Homography
from vigil_core.geometry.polygon import Polygon
from vigil_core.geometry.speed import estimate_speed
from vigil_core.rules.base import RegionRuleSpec
from vigil_core.specs import Spec
from vigil_core.types import Track
from vigil_protocol import CrowdState
from vigil_protocol.privacy import DetectorKind

from .base import RuleContext
from .common import ClassFilter, anchor_point
from .registry import RuleSetup, register_rule


class CrowdMovementSpec(Spec):
    """Detect a sudden collective speed-up or dispersal of the people in the area."""

    speedup_factor: Annotated[
        float,
        Field(
            gt=1, le=20, description="Mean speed this many times its recent level is a speed-up."
        ),
    ] = 2.5
    dispersal_factor: Annotated[
        float,
        Field(
            gt=1, le=20, description="Spread of the group growing this many times is a dispersal."
        ),
    ] = 1.8
    window_s: Annotated[
        float, Field(gt=0, le=60, description="Seconds over which the change must happen.")
    ] = 3.0
    min_people: Annotated[
        int, Field(ge=2, le=1000, description="Fewest people for a collective movement.")
    ] = 4
    min_speed_kmh: Annotated[
        float,
        Field(
            ge=0,
            le=100,
            description="The mean speed (speed-up) or the growth of the spread (dispersal) "
            "must reach this.",
        ),
    ] = 8.0


class CrowdSpec(RegionRuleSpec):
    """People in an area: a count or, with a ground calibration, a density, in three levels."""

    detector_kind: ClassVar[DetectorKind] = DetectorKind.CROWD

    type: Literal["crowd"]
    metric: Annotated[
        Literal["count", "density"],
        Field(description="Compare the count, or people per m² (needs the camera's calibration)."),
    ] = "count"
    high: Annotated[float, Field(gt=0, le=10000, description="Level 'high' from this value.")] = 5.0
    critical: Annotated[
        float, Field(gt=0, le=10000, description="Level 'critical' from this value.")
    ] = 10.0
    hysteresis: Annotated[
        float,
        Field(ge=0, lt=1, description="A level ends only below (1 − hysteresis) × its threshold."),
    ] = 0.2
    hold_s: Annotated[
        float,
        Field(ge=0, le=600, description="Seconds a new level must hold before it is reported."),
    ] = 2.0
    movement: CrowdMovementSpec | None = None

    @model_validator(mode="after")
    def _levels_ordered(self) -> Self:
        if self.critical <= self.high:
            raise ValueError(f"critical ({self.critical}) must be above high ({self.high})")
        return self

    def detector_kinds(self) -> list[DetectorKind]:
        """Return the crowd levels, and the collective movements when watched."""
        if self.movement is None:
            return [DetectorKind.CROWD]
        return [DetectorKind.CROWD, DetectorKind.CROWD_MOVEMENT]

    def restricted_to(self, kinds: Collection[DetectorKind]) -> Self | None:
        """Return the rule without movements if those may not run; None without the levels."""
        if DetectorKind.CROWD not in kinds:
            return None
        if self.movement is not None and DetectorKind.CROWD_MOVEMENT not in kinds:
            return self.model_copy(update={"movement": None})
        return self

    def needs_calibration(self) -> bool:
        """Return whether the levels are densities (people per m²)."""
        return self.metric == "density"


KIND = "crowd"
MOVEMENT_KIND = "crowd_movement"

_RATE_S = 1.0
"""Seconds over which the growth of a group's spread is measured."""
_HEIGHT_M = 1.7
"""A person's height, to turn body heights per second into km/h when there is no calibration."""


class CrowdLevel(StrEnum):
    """How crowded the area is."""

    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


_RANK = {CrowdLevel.NORMAL: 0, CrowdLevel.HIGH: 1, CrowdLevel.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The people inside at one fresh frame: positions and speeds by track id."""

    at_s: float
    points: Mapping[int, tuple[float, float]]
    """Ground points in metres with a calibration, else pixels."""
    metres_per_unit: float
    """1 with a calibration, else 1.7 m over the people's mean box height in pixels."""
    speeds: Mapping[int, float]
    """km/h with a calibration, else body heights per second × 1.7 m as km/h."""


@register_rule(CrowdSpec)
class CrowdRule:
    """Count the people in an area, grade the level with hysteresis, watch collective movement."""

    kind = KIND

    def __init__(self, spec: CrowdSpec, setup: RuleSetup) -> None:
        """Resolve the area and its ground surface."""
        self.rule_id = spec.id
        self._spec = spec
        region = setup.region(spec.zone, spec.polygon)
        assert region is not None  # the spec requires a zone or a polygon
        self._region: Polygon = region
        self._calibration: Homography | None = setup.calibration
        self.area_m2 = (
            setup.calibration.polygon_area_m2(region.points) if setup.calibration else None
        )
        self._watched = ClassFilter(spec.classes)
        self._count = 0
        self._recent: deque[tuple[float, int]] = deque()
        self._level = CrowdLevel.NORMAL
        self._candidate: tuple[CrowdLevel, float] | None = None
        self._history: deque[_Snapshot] = deque()
        self._movement_until_s = -math.inf
        self._last_movement: str | None = None

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Count the people inside on fresh frames; report level changes and movements."""
        if not ctx.fresh:
            return []
        inside = [t for t in tracks if self._watched(t) and self._inside(ctx, t)]
        self._count = len(inside)
        self._recent.append((ctx.pts_s, self._count))
        while self._recent and ctx.pts_s - self._recent[0][0] > self._spec.hold_s:
            self._recent.popleft()
        events = self._grade(ctx)
        if self._spec.movement is not None:
            events += self._movement(ctx, inside, self._spec.movement)
        return events

    def _inside(self, ctx: RuleContext, track: Track) -> bool:
        x, y = anchor_point(track, self._spec.anchor)
        return self._region.contains(x, y, ctx.frame.width, ctx.frame.height)

    def value(self, count: float) -> float:
        """Return what the thresholds compare: the count, or people per m²."""
        if self._spec.metric == "density" and self.area_m2:
            return count / self.area_m2
        return count

    def _target(self, value: float) -> CrowdLevel:
        """Return the level a value calls for, given the current level (hysteresis)."""
        keep = 1.0 - self._spec.hysteresis
        if value >= self._spec.critical or (
            self._level is CrowdLevel.CRITICAL and value >= keep * self._spec.critical
        ):
            return CrowdLevel.CRITICAL
        if value >= self._spec.high or (
            self._level is not CrowdLevel.NORMAL and value >= keep * self._spec.high
        ):
            return CrowdLevel.HIGH
        return CrowdLevel.NORMAL

    def _grade(self, ctx: RuleContext) -> list[RuleEvent]:
        smoothed = statistics.median(c for _, c in self._recent)
        target = self._target(self.value(smoothed))
        if target is self._level:
            self._candidate = None
            return []
        if self._candidate is None or self._candidate[0] is not target:
            self._candidate = (target, ctx.pts_s)
        if ctx.pts_s - self._candidate[1] < self._spec.hold_s:
            return []
        previous, self._level, self._candidate = self._level, target, None
        if previous is CrowdLevel.NORMAL:
            phase = EventPhase.STARTED
        elif target is CrowdLevel.NORMAL:
            phase = EventPhase.ENDED
        else:
            phase = EventPhase.UPDATED
        attrs: dict[str, AttrValue] = {
            "level": target.value,
            "previous_level": previous.value,
            "rising": _RANK[target] > _RANK[previous],
            **self._figures(),
        }
        return [ctx.event(kind=KIND, rule_id=self.rule_id, phase=phase, attrs=attrs)]

    def _movement(
        self, ctx: RuleContext, inside: list[Track], spec: CrowdMovementSpec
    ) -> list[RuleEvent]:
        now = self._snapshot(ctx, inside)
        self._history.append(now)
        while self._history and now.at_s - self._history[0].at_s > spec.window_s:
            self._history.popleft()
        then = self._history[0]
        common = sorted(set(now.points) & set(then.points))
        if (
            now.at_s < self._movement_until_s
            or now.at_s - then.at_s < 0.8 * spec.window_s
            or len(common) < spec.min_people
        ):
            return []
        recent = min(self._history, key=lambda snap: abs(now.at_s - _RATE_S - snap.at_s))
        kind = self._movement_kind(now, then, recent, common, spec)
        if kind is None:
            return []
        self._movement_until_s = now.at_s + 2 * spec.window_s
        self._last_movement = kind
        attrs: dict[str, AttrValue] = {"movement": kind, "people": len(common), **self._figures()}
        speeds = [now.speeds[i] for i in common if i in now.speeds]
        if speeds:
            attrs["mean_speed_kmh"] = round(statistics.fmean(speeds), 1)
            attrs["speed_is_estimate"] = True
        return [
            ctx.event(
                kind=MOVEMENT_KIND, rule_id=self.rule_id, phase=EventPhase.INSTANT, attrs=attrs
            )
        ]

    @staticmethod
    def _movement_kind(
        now: _Snapshot,
        then: _Snapshot,
        recent: _Snapshot,
        common: list[int],
        spec: CrowdMovementSpec,
    ) -> str | None:
        """Return ``dispersal`` (checked first: it is the more specific), ``speed_up`` or None.

        The spread must have grown `dispersal_factor` times since `window_s` ago, and be
        growing at `min_speed_kmh` over the last second (`recent`).
        """
        spread_now = _spread([now.points[i] for i in common]) * now.metres_per_unit
        spread_then = _spread([then.points[i] for i in common]) * then.metres_per_unit
        shared = [i for i in common if i in recent.points]
        growth_kmh = 0.0
        if len(shared) == len(common) and now.at_s > recent.at_s:
            spread_recent = _spread([recent.points[i] for i in common]) * recent.metres_per_unit
            growth_kmh = (spread_now - spread_recent) / (now.at_s - recent.at_s) * 3.6
        if (
            spread_then > 0
            and spread_now >= spec.dispersal_factor * spread_then
            and growth_kmh >= spec.min_speed_kmh
        ):
            return "dispersal"
        speeds_now = [now.speeds[i] for i in common if i in now.speeds]
        speeds_then = [then.speeds[i] for i in common if i in then.speeds]
        if len(speeds_now) >= spec.min_people and len(speeds_then) >= spec.min_people:
            fast, slow = statistics.fmean(speeds_now), statistics.fmean(speeds_then)
            # A floor of 1 km/h: people standing still who start walking are not a stampede.
            if fast >= spec.min_speed_kmh and fast >= spec.speedup_factor * max(slow, 1.0):
                return "speed_up"
        return None

    def _snapshot(self, ctx: RuleContext, inside: list[Track]) -> _Snapshot:
        points: dict[int, tuple[float, float]] = {}
        speeds: dict[int, float] = {}
        heights: list[float] = []
        size = (ctx.frame.width, ctx.frame.height)
        for track in inside:
            if not track.matched:
                continue
            x, y = track.bbox.bottom_center
            estimate = estimate_speed(track.history, size, calibration=self._calibration)
            if self._calibration is not None:
                points[track.track_id] = self._calibration.to_ground(x / size[0], y / size[1])
                if estimate is not None and estimate.kmh is not None:
                    speeds[track.track_id] = estimate.kmh
            else:
                points[track.track_id] = (x, y)
                height = max(track.bbox.height, 1.0)
                heights.append(height)
                if estimate is not None:
                    speeds[track.track_id] = estimate.px_s / height * _HEIGHT_M * 3.6
        scale = (
            1.0
            if self._calibration is not None or not heights
            else _HEIGHT_M / statistics.fmean(heights)
        )
        return _Snapshot(ctx.pts_s, points, scale, speeds)

    def _figures(self) -> dict[str, AttrValue]:
        figures: dict[str, AttrValue] = {"count": self._count}
        if self.area_m2:
            figures["density_m2"] = round(self._count / self.area_m2, 3)
        return figures

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """Nothing to close: the level stays what it was when the stream ended."""
        del ctx
        return []

    def state(self) -> CrowdState:
        """Return the count, density, level and whether it is over the high threshold."""
        return CrowdState(
            count=self._count,
            density_m2=round(self._count / self.area_m2, 3) if self.area_m2 else None,
            area_m2=round(self.area_m2, 1) if self.area_m2 else None,
            metric=self._spec.metric,
            level=self._level.value,
            over_threshold=self._level is not CrowdLevel.NORMAL,
            last_movement=self._last_movement,
        )


def _spread(points: list[tuple[float, float]]) -> float:
    """Return the mean distance of points to their centroid."""
    if len(points) < 2:
        return 0.0
    cx = statistics.fmean(p[0] for p in points)
    cy = statistics.fmean(p[1] for p in points)
    return statistics.fmean(math.hypot(x - cx, y - cy) for x, y in points)
