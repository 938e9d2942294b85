"""Line crossing: count tracks crossing a directed line, per class and direction.

Each tracked object remembers the side of the line it was last seen on clearly, that is at
least `margin` away from the line. A crossing counts when it is next seen clearly on the
other side and the path between those two points meets the segment itself (not the line's
extension). Someone walking along the line or standing on it, jittering from side to side,
never leaves the margin band and so never counts. Only matched boxes are used: a coasting
prediction of a hidden object must not cross a line for it.

When people cross while passing each other, the tracker may hand one's id to the other and
start a new id for the first just past the line. So an object first seen close to the line
(within half its height) that walks straight away from it is taken to have crossed when its
motion, extrapolated back by one second, meets the segment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import time
from typing import Annotated, ClassVar, Literal

from pydantic import (
    Field,
    field_validator,
)

from vigil_core.errors import ConfigInvalid
from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.geometry.line import DirectedLine, Direction, PixelLine, Side, validate_line
from vigil_core.rules.base import RuleSpecBase
from vigil_core.specs import Anchor, Point, field_error
from vigil_core.types import Track
from vigil_protocol import LineCounts, LineCrossing, LineState
from vigil_protocol.privacy import DetectorKind

from .base import RuleContext
from .common import ClassFilter, anchor_point, relative
from .continuity import Continuity
from .registry import RuleSetup, register_rule


class LineCrossingSpec(RuleSpecBase):
    """Count objects crossing a directed line, per class and direction."""

    detector_kind: ClassVar[DetectorKind] = DetectorKind.LINE_CROSSING

    type: Literal["line_crossing"]
    line: Annotated[
        list[Point],
        Field(description="2 points A, B in 0–1. Side A is on your left looking from A to B."),
    ]
    direction: Annotated[
        Literal["a_to_b", "b_to_a", "both"],
        Field(description="Crossings that count and raise events."),
    ] = "both"
    anchor: Anchor = "bottom_center"
    margin: Annotated[
        float,
        Field(
            ge=0,
            le=0.2,
            description="How far (fraction of the frame's larger side) past the line a point must "
            "go on each side before a crossing counts: walking along or jittering on it never "
            "does.",
        ),
    ] = 0.015
    gap_s: Annotated[
        float,
        Field(
            ge=0,
            le=60,
            description="A lost track replaced by a new id within this time keeps its side.",
        ),
    ] = 1.5

    @field_validator("line")
    @classmethod
    def _line_ok(cls, value: list[Point]) -> list[Point]:
        try:
            validate_line(value)
        except ConfigInvalid as err:
            raise field_error(err) from err
        return value


KIND = "line_crossing"

_SEGMENT_SLACK = 0.02
"""Crossings this close beyond an end of the segment (fraction of its length) still count."""
_BIRTH_REACH = 0.5
"""A new object this close to the line (in its own heights) may have crossed unseen."""
_BIRTH_JUDGE_S = (0.6, 2.0)
"""Its motion is judged once, between these times after it appeared."""
_BACK_S = 1.0
"""How far back its motion is extrapolated."""


@dataclass(frozen=True, slots=True)
class _Birth:
    at_s: float
    x: float
    y: float
    height: float


@dataclass(slots=True)
class _Side:
    side: Side
    x: float
    y: float


@register_rule(LineCrossingSpec)
class LineCrossingRule:
    """Count crossings of a directed line; totals persist in the camera's counter store."""

    kind = KIND

    def __init__(self, spec: LineCrossingSpec, setup: RuleSetup) -> None:
        """Build the line and restore the totals saved for this rule."""
        self.rule_id = spec.id
        self._spec = spec
        self._camera_id = setup.camera.id
        self._line = DirectedLine(spec.line)
        self._watched = ClassFilter(spec.classes)
        self._counters = setup.counters
        self._continuity = Continuity(spec.gap_s)
        self._sides: dict[int, _Side] = {}
        self._births: dict[int, _Birth] = {}
        self._seen: set[int] = set()
        self._counted = (
            {Direction.A_TO_B, Direction.B_TO_A}
            if spec.direction == "both"
            else {Direction(spec.direction)}
        )
        self._last: dict[Direction, LineCrossing] = {}

    @property
    def line(self) -> DirectedLine:
        """Return the line."""
        return self._line

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Follow each track's side of the line; count and report crossings."""
        watched = [t for t in tracks if self._watched(t)]
        identities, ended = self._continuity.update(
            ctx.pts_s, watched, (ctx.frame.width, ctx.frame.height)
        )
        watched = [t for t in watched if t.track_id in identities]
        for identity in ended:
            self._sides.pop(identity, None)
            self._births.pop(identity, None)
            self._seen.discard(identity)
        if not ctx.fresh:
            return []
        line = self._line.in_pixels(ctx.frame.width, ctx.frame.height)
        margin = self._spec.margin * max(ctx.frame.width, ctx.frame.height)
        events = []
        for track in watched:
            if not track.matched:
                continue
            identity = identities[track.track_id]
            direction = self._observe(identity, track, line, margin)
            if direction is None:
                direction = self._judge_birth(ctx.pts_s, identity, track, line, margin)
            if direction is not None and direction in self._counted:
                events.append(self._count(ctx, identities[track.track_id], track, direction))
        return events

    def _observe(
        self, identity: int, track: Track, line: PixelLine, margin: float
    ) -> Direction | None:
        """Update one object's side; return the direction of a crossing it just completed."""
        x, y = anchor_point(track, self._spec.anchor)
        distance = line.signed_distance(x, y)
        if abs(distance) < max(margin, 1e-9):
            return None
        side = Side.LEFT if distance < 0 else Side.RIGHT
        before = self._sides.get(identity)
        self._sides[identity] = _Side(side, x, y)
        if before is None or before.side is side:
            return None
        along = line.crossing_along((before.x, before.y), (x, y))
        if along is None or not -_SEGMENT_SLACK <= along <= 1.0 + _SEGMENT_SLACK:
            return None
        return Direction.A_TO_B if side is Side.RIGHT else Direction.B_TO_A

    def _judge_birth(
        self, pts_s: float, identity: int, track: Track, line: PixelLine, margin: float
    ) -> Direction | None:
        """Return the crossing a newly appeared object made unseen, judged once, if any."""
        x, y = anchor_point(track, self._spec.anchor)
        if identity not in self._seen:
            self._seen.add(identity)
            # A continued identity keeps its side; only a genuinely new one may have crossed unseen.
            if identity == track.track_id:
                self._births[identity] = _Birth(pts_s, x, y, track.bbox.height)
            return None
        birth = self._births.get(identity)
        if birth is None or pts_s - birth.at_s < _BIRTH_JUDGE_S[0]:
            return None
        del self._births[identity]
        if pts_s - birth.at_s > _BIRTH_JUDGE_S[1] or len(self._sides_seen(identity)) > 1:
            return None
        d0 = line.signed_distance(birth.x, birth.y)
        d1 = line.signed_distance(x, y)
        if (
            abs(d0) > _BIRTH_REACH * birth.height
            or (d0 < 0) != (d1 < 0)
            or abs(d1) < abs(d0) + margin
        ):
            return None
        elapsed = pts_s - birth.at_s
        back = (
            birth.x - (x - birth.x) / elapsed * _BACK_S,
            birth.y - (y - birth.y) / elapsed * _BACK_S,
        )
        if (line.signed_distance(*back) < 0) == (d0 < 0):
            return None
        along = line.crossing_along(back, (birth.x, birth.y))
        if along is None or not -_SEGMENT_SLACK <= along <= 1.0 + _SEGMENT_SLACK:
            return None
        return Direction.A_TO_B if d1 > 0 else Direction.B_TO_A

    def _sides_seen(self, identity: int) -> set[Side]:
        side = self._sides.get(identity)
        return {side.side} if side is not None else set()

    def _count(
        self, ctx: RuleContext, identity: int, track: Track, direction: Direction
    ) -> RuleEvent:
        total = self._counters.add(self._camera_id, self.rule_id, track.label, direction.value)
        attrs: dict[str, AttrValue] = {
            "line": self._spec.name or self._spec.id,
            "direction": direction.value,
            "label": track.label,
            "count": total,
            "position": relative(ctx.frame, *anchor_point(track, self._spec.anchor)),
        }
        self._last[direction] = LineCrossing(
            direction=direction.value, label=track.label, wall_time=time.time()
        )
        return ctx.event(
            kind=KIND,
            rule_id=self.rule_id,
            phase=EventPhase.INSTANT,
            track_id=identity,
            attrs=attrs,
        )

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """Forget the sides: a crossing is instantaneous, nothing stays open."""
        del ctx
        self._sides.clear()
        self._continuity.finish()
        return []

    def totals(self) -> dict[str, dict[str, int]]:
        """Return the persisted counts by class, then direction."""
        return self._counters.totals(self._camera_id, self.rule_id)

    def state(self) -> LineState:
        """Return totals per direction and per class, and the last crossing each way."""
        return line_state(self.totals(), self._last)


def line_state(
    totals: Mapping[str, Mapping[str, int]], last: Mapping[Direction, LineCrossing]
) -> LineState:
    """Return a line's state from its persisted totals (class → direction → count).

    A reset empties the totals and forgets the last crossings with them.
    """
    by_class = {
        label: LineCounts(
            a_to_b=counts.get(Direction.A_TO_B.value, 0),
            b_to_a=counts.get(Direction.B_TO_A.value, 0),
        )
        for label, counts in totals.items()
    }
    empty = not by_class
    return LineState(
        a_to_b=sum(c.a_to_b for c in by_class.values()),
        b_to_a=sum(c.b_to_a for c in by_class.values()),
        by_class=by_class,
        last_a_to_b=None if empty else last.get(Direction.A_TO_B),
        last_b_to_a=None if empty else last.get(Direction.B_TO_A),
    )
