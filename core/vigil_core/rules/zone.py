"""Zone presence (intrusion): tracks entering and leaving a polygon, with inertia."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..config import ZoneSpec
from ..events.model import AttrValue, EventPhase, RuleEvent
from ..geometry.polygon import Polygon
from ..types import Track
from .base import RuleContext

KIND = "zone_presence"


@dataclass(slots=True)
class _Presence:
    inside: bool = False
    streak: int = 0
    label: str = ""
    entered_s: float = 0.0


class ZonePresenceRule:
    """Emit STARTED when a tracked object of a watched class enters the zone, ENDED when it leaves.

    A change counts only after `inertia` consecutive fresh observations agree, so a box
    jittering on the edge does not flap. A track that disappears while inside ends its stay.
    """

    kind = KIND

    def __init__(self, spec: ZoneSpec) -> None:
        """Build the polygon and the class filter."""
        self.rule_id = spec.id
        self._spec = spec
        self._polygon = Polygon(spec.polygon)
        self._classes = frozenset(spec.classes)
        self._tracks: dict[int, _Presence] = {}

    @property
    def polygon(self) -> Polygon:
        """Return the zone polygon."""
        return self._polygon

    def _watched(self, track: Track) -> bool:
        return not self._classes or track.label in self._classes

    def _is_inside(self, ctx: RuleContext, track: Track) -> bool:
        x, y = track.bbox.bottom_center if self._spec.anchor == "bottom_center" else track.bbox.center
        return self._polygon.contains(x, y, ctx.frame.width, ctx.frame.height)

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Advance each track's presence and report entries and exits."""
        events: list[RuleEvent] = []
        seen: set[int] = set()
        for track in tracks:
            if not self._watched(track):
                continue
            seen.add(track.track_id)
            presence = self._tracks.setdefault(track.track_id, _Presence(label=track.label))
            presence.label = track.label
            if not ctx.fresh:
                continue
            if self._is_inside(ctx, track) == presence.inside:
                presence.streak = 0
                continue
            presence.streak += 1
            if presence.streak >= self._spec.inertia:
                presence.streak = 0
                presence.inside = not presence.inside
                if presence.inside:
                    presence.entered_s = ctx.pts_s
                events.append(self._event(ctx, track.track_id, presence, track, reason="moved"))
        for track_id in [tid for tid in self._tracks if tid not in seen]:
            presence = self._tracks.pop(track_id)
            if presence.inside:
                presence.inside = False
                events.append(self._event(ctx, track_id, presence, None, reason="track_lost"))
        return events

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """End every stay still open when the stream ends."""
        events = []
        for track_id, presence in list(self._tracks.items()):
            if presence.inside:
                presence.inside = False
                events.append(self._event(ctx, track_id, presence, None, reason="stream_ended"))
        self._tracks.clear()
        return events

    def counts(self) -> dict[str, int]:
        """Return how many objects of each class are inside now."""
        return dict(Counter(p.label for p in self._tracks.values() if p.inside))

    def state(self) -> Mapping[str, AttrValue]:
        """Return occupancy, total and per-class counts, and the ids inside."""
        counts = self.counts()
        return {
            "occupied": bool(counts),
            "count": sum(counts.values()),
            "counts": counts,
            "track_ids": sorted(t for t, p in self._tracks.items() if p.inside),
        }

    def _event(
        self,
        ctx: RuleContext,
        track_id: int,
        presence: _Presence,
        track: Track | None,
        *,
        reason: str,
    ) -> RuleEvent:
        counts = self.counts()
        attrs: dict[str, AttrValue] = {
            "zone": self._spec.name or self._spec.id,
            "label": presence.label,
            "count": sum(counts.values()),
            "counts": counts,
            "reason": reason,
        }
        if track is not None:
            x, y = track.bbox.bottom_center
            attrs["position"] = (round(x / ctx.frame.width, 4), round(y / ctx.frame.height, 4))
        if not presence.inside:
            attrs["dwell_s"] = round(ctx.pts_s - presence.entered_s, 2)
        phase = EventPhase.STARTED if presence.inside else EventPhase.ENDED
        return ctx.event(kind=KIND, rule_id=self.rule_id, phase=phase, track_id=track_id, attrs=attrs)
