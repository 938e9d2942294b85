"""Zone presence (intrusion and exit): tracks entering and leaving a polygon, with inertia."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
)

from vigil_core.errors import InvalidPolygon
from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.geometry.polygon import Polygon, validate_polygon
from vigil_core.specs import Point, Spec, checked_slug, field_error
from vigil_core.types import Track
from vigil_protocol import ZoneState

from .base import RuleContext
from .common import ClassFilter, anchor_point, relative
from .continuity import Continuity


class ZoneSpec(Spec):
    """A polygon in relative coordinates (0–1) with the presence rule that watches it."""

    id: Annotated[str, Field(description="Stable slug; never changes when the name does.")]
    name: str = ""
    polygon: Annotated[
        list[Point],
        Field(
            description="At least 3 points (x, y), each in 0–1 of the frame; not self-intersecting."
        ),
    ]
    classes: Annotated[
        list[str], Field(description="Object classes that count; empty means every class.")
    ] = Field(default_factory=lambda: ["person"])
    inertia: Annotated[
        int,
        Field(
            ge=1,
            le=100,
            description="Analysed frames a track must be inside (or outside) before it counts "
            "as entered (or left).",
        ),
    ] = 3
    anchor: Annotated[
        Literal["bottom_center", "center"],
        Field(
            description="Point of the box tested against the polygon: the feet (default) or the "
            "centre."
        ),
    ] = "bottom_center"
    min_dwell_s: Annotated[
        float,
        Field(ge=0, le=3600, description="Seconds inside before the intrusion fires (0: at once)."),
    ] = 0.0
    gap_s: Annotated[
        float,
        Field(
            ge=0,
            le=60,
            description="A track lost inside and replaced by a new id nearby within this time "
            "continues the stay.",
        ),
    ] = 0.0

    _slug = field_validator("id")(checked_slug)

    @field_validator("polygon")
    @classmethod
    def _polygon_ok(cls, value: list[Point]) -> list[Point]:
        try:
            validate_polygon(value)
        except InvalidPolygon as err:
            raise field_error(err) from err
        return value


KIND = "zone_presence"


@dataclass(slots=True)
class _Presence:
    inside: bool = False
    """Inside according to the inertia filter (whether or not the entry was reported yet)."""
    reported: bool = False
    """An entry (STARTED) was published and its exit (ENDED) is owed."""
    streak: int = 0
    label: str = ""
    entered_s: float = 0.0
    position: tuple[float, float] | None = None


class ZonePresenceRule:
    """Emit STARTED when a tracked object of a watched class enters the zone, ENDED when it leaves.

    A change counts only after `inertia` consecutive fresh observations agree, so a box
    jittering on the edge does not flap. With `min_dwell_s`, the entry (the intrusion) is
    reported only once the object has been inside that long; leaving earlier raises nothing.
    A track that disappears while inside ends its stay, unless a new track continues it
    within `gap_s` (see `Continuity`): then the stay goes on under the first id.
    """

    kind = KIND

    def __init__(self, spec: ZoneSpec) -> None:
        """Build the polygon and the class filter."""
        self.rule_id = spec.id
        self._spec = spec
        self._polygon = Polygon(spec.polygon)
        self._watched = ClassFilter(spec.classes)
        self._continuity = Continuity(spec.gap_s)
        self._stays: dict[int, _Presence] = {}

    @property
    def polygon(self) -> Polygon:
        """Return the zone polygon."""
        return self._polygon

    def _is_inside(self, ctx: RuleContext, track: Track) -> bool:
        x, y = anchor_point(track, self._spec.anchor)
        return self._polygon.contains(x, y, ctx.frame.width, ctx.frame.height)

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Advance each track's presence and report entries and exits."""
        watched = [t for t in tracks if self._watched(t)]
        identities, ended = self._continuity.update(
            ctx.pts_s, watched, (ctx.frame.width, ctx.frame.height)
        )
        watched = [t for t in watched if t.track_id in identities]
        events: list[RuleEvent] = []
        for track in watched:
            identity = identities[track.track_id]
            presence = self._stays.setdefault(identity, _Presence(label=track.label))
            presence.label = track.label
            if ctx.fresh:
                presence.position = relative(ctx.frame, *track.bbox.bottom_center)
                events += self._observe(ctx, identity, presence, self._is_inside(ctx, track))
            inside_s = ctx.pts_s - presence.entered_s
            if (
                presence.inside
                and not presence.reported
                and inside_s >= self._spec.min_dwell_s - 1e-6
            ):
                presence.reported = True
                events.append(self._event(ctx, identity, presence, reason="moved"))
        for identity in ended:
            gone = self._stays.pop(identity, None)
            if gone is not None and gone.reported:
                gone.inside = gone.reported = False
                gone.position = None
                events.append(self._event(ctx, identity, gone, reason="track_lost"))
        return events

    def _observe(
        self, ctx: RuleContext, identity: int, presence: _Presence, inside: bool
    ) -> list[RuleEvent]:
        """Apply inertia to one fresh inside/outside observation; return an exit event if due."""
        if inside == presence.inside:
            presence.streak = 0
            return []
        presence.streak += 1
        if presence.streak < self._spec.inertia:
            return []
        presence.streak = 0
        presence.inside = inside
        if inside:
            presence.entered_s = ctx.pts_s
            return []
        if not presence.reported:
            return []
        presence.reported = False
        return [self._event(ctx, identity, presence, reason="moved")]

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """End every stay still open when the stream ends."""
        events = []
        for identity, presence in list(self._stays.items()):
            if presence.reported:
                presence.inside = presence.reported = False
                presence.position = None
                events.append(self._event(ctx, identity, presence, reason="stream_ended"))
        self._stays.clear()
        self._continuity.finish()
        return events

    def counts(self) -> dict[str, int]:
        """Return how many objects of each class are inside now (entries reported)."""
        return dict(Counter(p.label for p in self._stays.values() if p.reported))

    def state(self) -> ZoneState:
        """Return the objects inside, by class."""
        return ZoneState(counts=self.counts())

    def inside(self) -> list[int]:
        """Return the ids of the tracks reported inside."""
        return sorted(t for t, p in self._stays.items() if p.reported)

    def _event(
        self, ctx: RuleContext, identity: int, presence: _Presence, *, reason: str
    ) -> RuleEvent:
        counts = self.counts()
        attrs: dict[str, AttrValue] = {
            "zone": self._spec.name or self._spec.id,
            "label": presence.label,
            "count": sum(counts.values()),
            "counts": counts,
            "reason": reason,
        }
        if presence.position is not None:
            attrs["position"] = presence.position
        if not presence.reported:
            attrs["dwell_s"] = round(ctx.pts_s - presence.entered_s, 2)
        phase = EventPhase.STARTED if presence.reported else EventPhase.ENDED
        return ctx.event(
            kind=KIND, rule_id=self.rule_id, phase=phase, track_id=identity, attrs=attrs
        )
