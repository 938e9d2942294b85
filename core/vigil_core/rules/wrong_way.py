"""Wrong way: movement against the allowed direction of a zone or lane.

Each object's points inside the area are kept for a few seconds. When its net displacement
over that window is at least `min_distance` long and points within `tolerance_deg` of the
opposite of the allowed direction, it goes the wrong way (STARTED). That ends (ENDED) when it
leaves the area, is lost, or has since moved `min_distance` the allowed way. Net displacement
over seconds, not frame-to-frame steps, so box jitter and a step back never count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
import math
from typing import Annotated, ClassVar, Literal

from pydantic import (
    Field,
    field_validator,
)

from vigil_core.errors import ConfigInvalid
from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.geometry.line import validate_line
from vigil_core.geometry.polygon import Polygon
from vigil_core.rules.base import RegionRuleSpec
from vigil_core.specs import Point
from vigil_core.types import Track
from vigil_protocol import WrongWayState
from vigil_protocol.privacy import DetectorKind

from .base import RuleContext
from .common import ClassFilter, anchor_point, relative
from .continuity import Continuity
from .registry import RuleSetup, register_rule


class WrongWaySpec(RegionRuleSpec):
    """Movement against the allowed direction of a zone or lane."""

    detector_kind: ClassVar[DetectorKind] = DetectorKind.WRONG_WAY

    type: Literal["wrong_way"]
    direction: Annotated[
        list[Point],
        Field(
            description="2 points: the allowed direction of travel, from the first to the second."
        ),
    ]
    tolerance_deg: Annotated[
        float,
        Field(
            gt=0,
            lt=90,
            description="Movement within this angle of the opposite direction is wrong way.",
        ),
    ] = 45.0
    min_distance: Annotated[
        float,
        Field(
            gt=0,
            le=1,
            description="Distance (fraction of the frame's larger side) travelled the wrong way.",
        ),
    ] = 0.05
    classes: Annotated[
        list[str], Field(description="Classes watched; empty means every class.")
    ] = Field(default_factory=list)

    @field_validator("direction")
    @classmethod
    def _direction_ok(cls, value: list[Point]) -> list[Point]:
        try:
            validate_line(value)
        except ConfigInvalid as err:
            raise ValueError(err.message.replace("line", "direction")) from err
        return value


KIND = "wrong_way"

_WINDOW_S = 3.0
"""Seconds of an object's path judged at once."""


@dataclass(slots=True)
class _Path:
    label: str
    points: deque[tuple[float, float, float]] = field(default_factory=deque)
    wrong: bool = False


@register_rule(WrongWaySpec)
class WrongWayRule:
    """Report objects whose net motion inside the area opposes the allowed direction."""

    kind = KIND

    def __init__(self, spec: WrongWaySpec, setup: RuleSetup) -> None:
        """Resolve the area and the allowed direction."""
        self.rule_id = spec.id
        self._spec = spec
        region = setup.region(spec.zone, spec.polygon)
        assert region is not None  # the spec requires a zone or a polygon
        self._region: Polygon = region
        self._watched = ClassFilter(spec.classes)
        self._continuity = Continuity(1.5)
        self._paths: dict[int, _Path] = {}
        self._cos_tolerance = math.cos(math.radians(spec.tolerance_deg))

    def _allowed(self, width: int, height: int) -> tuple[float, float]:
        (x1, y1), (x2, y2) = self._spec.direction
        dx, dy = (x2 - x1) * width, (y2 - y1) * height
        norm = math.hypot(dx, dy)
        return dx / norm, dy / norm

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Follow each object's path inside the area; start and end wrong-way movements."""
        watched = [t for t in tracks if self._watched(t)]
        identities, ended = self._continuity.update(
            ctx.pts_s, watched, (ctx.frame.width, ctx.frame.height)
        )
        watched = [t for t in watched if t.track_id in identities]
        events: list[RuleEvent] = []
        for identity in ended:
            events += self._end(ctx, identity, "track_lost")
        if not ctx.fresh:
            return events
        for track in watched:
            if not track.matched:
                continue
            identity = identities[track.track_id]
            x, y = anchor_point(track, self._spec.anchor)
            if not self._region.contains(x, y, ctx.frame.width, ctx.frame.height):
                events += self._end(ctx, identity, "left_area")
                continue
            path = self._paths.setdefault(identity, _Path(track.label))
            path.label = track.label
            path.points.append((ctx.pts_s, x, y))
            while ctx.pts_s - path.points[0][0] > _WINDOW_S:
                path.points.popleft()
            events += self._judge(ctx, identity, path)
        return events

    def _judge(self, ctx: RuleContext, identity: int, path: _Path) -> list[RuleEvent]:
        _, x0, y0 = path.points[0]
        _, x1, y1 = path.points[-1]
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy)
        if length < self._spec.min_distance * max(ctx.frame.width, ctx.frame.height):
            return []
        ux, uy = self._allowed(ctx.frame.width, ctx.frame.height)
        cos_to_allowed = (dx * ux + dy * uy) / length
        if not path.wrong and -cos_to_allowed >= self._cos_tolerance:
            path.wrong = True
            return [self._event(ctx, identity, path, EventPhase.STARTED, "against_direction")]
        if path.wrong and cos_to_allowed >= self._cos_tolerance:
            path.wrong = False
            return [self._event(ctx, identity, path, EventPhase.ENDED, "turned_back")]
        return []

    def _end(self, ctx: RuleContext, identity: int, reason: str) -> list[RuleEvent]:
        path = self._paths.pop(identity, None)
        if path is None or not path.wrong:
            return []
        return [self._event(ctx, identity, path, EventPhase.ENDED, reason)]

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """End wrong-way movements still open when the stream ends."""
        events = []
        for identity in list(self._paths):
            events += self._end(ctx, identity, "stream_ended")
        self._continuity.finish()
        return events

    def state(self) -> WrongWayState:
        """Return whether anything goes the wrong way now, and how many."""
        wrong = sum(1 for p in self._paths.values() if p.wrong)
        return WrongWayState(active=bool(wrong), count=wrong)

    def _event(
        self, ctx: RuleContext, identity: int, path: _Path, phase: EventPhase, reason: str
    ) -> RuleEvent:
        _, x, y = path.points[-1] if path.points else (0.0, 0.0, 0.0)
        attrs: dict[str, AttrValue] = {
            "label": path.label,
            "position": relative(ctx.frame, x, y),
            "reason": reason,
        }
        return ctx.event(
            kind=KIND, rule_id=self.rule_id, phase=phase, track_id=identity, attrs=attrs
        )
