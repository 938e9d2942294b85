"""Loitering: an object staying inside an area longer than its class's dwell time.

A stay starts at the first fresh observation inside the area and lasts while the object keeps
coming back inside within `gap_s`: stepping out for a moment, a short occlusion or an id the
tracker changed (see `Continuity`) do not restart the clock. Loitering starts (STARTED) when
the time from the stay's start to the latest observation inside reaches the dwell time, and
ends (ENDED) when the object has been outside, or gone, for `gap_s`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import (
    Field,
    field_validator,
)

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.geometry.polygon import Polygon
from vigil_core.rules.base import RegionRuleSpec
from vigil_core.types import Track
from vigil_protocol import LoiteringState
from vigil_protocol.privacy import DetectorKind

from .base import RuleContext
from .common import ClassFilter, anchor_point, relative
from .continuity import Continuity
from .registry import RuleSetup, register_rule


class LoiteringSpec(RegionRuleSpec):
    """A track staying inside an area longer than a dwell time."""

    detector_kind: ClassVar[DetectorKind] = DetectorKind.LOITERING

    type: Literal["loitering"]
    dwell_s: Annotated[
        float, Field(gt=0, le=86400, description="Seconds inside before loitering starts.")
    ] = 20.0
    class_dwell_s: Annotated[
        dict[str, float],
        Field(description="Dwell time per class, overriding dwell_s (e.g. {car: 300})."),
    ] = Field(default_factory=dict)
    gap_s: Annotated[
        float,
        Field(
            ge=0,
            le=600,
            description="Seconds an object may vanish (occlusion, id change) or step out and "
            "still be the same stay.",
        ),
    ] = 3.0

    @field_validator("class_dwell_s")
    @classmethod
    def _dwell_ok(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [label for label, seconds in value.items() if not 0 < seconds <= 86400]
        if bad:
            raise ValueError(f"dwell time of {', '.join(bad)} must be in (0, 86400] seconds")
        return value


KIND = "loitering"


@dataclass(slots=True)
class _Stay:
    label: str
    started_s: float
    last_inside_s: float
    position: tuple[float, float]
    loitering: bool = False


@register_rule(LoiteringSpec)
class LoiteringRule:
    """Report objects that stay in the area longer than the dwell time."""

    kind = KIND

    def __init__(self, spec: LoiteringSpec, setup: RuleSetup) -> None:
        """Resolve the area and the class filter."""
        self.rule_id = spec.id
        self._spec = spec
        region = setup.region(spec.zone, spec.polygon)
        assert region is not None  # the spec requires a zone or a polygon
        self._region: Polygon = region
        self._watched = ClassFilter(spec.classes)
        self._continuity = Continuity(spec.gap_s)
        self._stays: dict[int, _Stay] = {}

    def dwell_s(self, label: str) -> float:
        """Return the dwell time that applies to a class."""
        return self._spec.class_dwell_s.get(label, self._spec.dwell_s)

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Extend the stays of objects seen inside; start and end loitering."""
        watched = [t for t in tracks if self._watched(t)]
        identities, ended = self._continuity.update(
            ctx.pts_s, watched, (ctx.frame.width, ctx.frame.height)
        )
        watched = [t for t in watched if t.track_id in identities]
        events: list[RuleEvent] = []
        if ctx.fresh:
            for track in watched:
                x, y = anchor_point(track, self._spec.anchor)
                if self._region.contains(x, y, ctx.frame.width, ctx.frame.height):
                    self._seen_inside(ctx, identities[track.track_id], track, (x, y))
        for identity in ended:
            events += self._end(ctx, identity, reason="track_lost")
        for identity, stay in list(self._stays.items()):
            if ctx.pts_s - stay.last_inside_s > self._spec.gap_s:
                events += self._end(ctx, identity, reason="left")
            elif (
                not stay.loitering
                and stay.last_inside_s - stay.started_s >= self.dwell_s(stay.label) - 1e-6
            ):
                stay.loitering = True
                events.append(self._event(ctx, identity, stay, EventPhase.STARTED, reason="dwell"))
        return events

    def _seen_inside(
        self, ctx: RuleContext, identity: int, track: Track, point: tuple[float, float]
    ) -> None:
        position = relative(ctx.frame, *point)
        stay = self._stays.get(identity)
        if stay is None:
            self._stays[identity] = _Stay(track.label, ctx.pts_s, ctx.pts_s, position)
            return
        stay.last_inside_s = ctx.pts_s
        stay.label = track.label
        stay.position = position

    def _end(self, ctx: RuleContext, identity: int, *, reason: str) -> list[RuleEvent]:
        stay = self._stays.pop(identity, None)
        if stay is None or not stay.loitering:
            return []
        return [self._event(ctx, identity, stay, EventPhase.ENDED, reason=reason)]

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """End every loitering still open when the stream ends."""
        events = []
        for identity in list(self._stays):
            events += self._end(ctx, identity, reason="stream_ended")
        self._continuity.finish()
        return events

    def state(self) -> LoiteringState:
        """Return whether anyone loiters, how many per class, and the longest dwell so far."""
        loitering = {i: s for i, s in self._stays.items() if s.loitering}
        counts = dict(Counter(s.label for s in loitering.values()))
        longest = max((s.last_inside_s - s.started_s for s in loitering.values()), default=0.0)
        return LoiteringState(
            loitering=bool(loitering),
            count=len(loitering),
            counts=counts,
            max_dwell_s=round(longest, 1),
        )

    def _event(
        self, ctx: RuleContext, identity: int, stay: _Stay, phase: EventPhase, *, reason: str
    ) -> RuleEvent:
        attrs: dict[str, AttrValue] = {
            "label": stay.label,
            "dwell_s": round(stay.last_inside_s - stay.started_s, 1),
            "threshold_s": self.dwell_s(stay.label),
            "position": stay.position,
            "reason": reason,
        }
        return ctx.event(
            kind=KIND, rule_id=self.rule_id, phase=phase, track_id=identity, attrs=attrs
        )
