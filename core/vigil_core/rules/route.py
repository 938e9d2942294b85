"""Route: an object visiting the camera's zones in a given order, each step within a time limit.

"Came in by the gate and went to the parking area" is one event, not two zone entries. An
object is in a zone after two fresh observations inside (inertia against edge jitter). Entering
the route's first zone starts (or restarts) its progress; each next zone must be entered within
the step's limit after the previous one was last seen occupied, otherwise the progress is
dropped. Zones off the route and repeated visits to the current zone do not matter. Entering
the last zone raises one INSTANT event. Progress survives id changes (see `Continuity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
import itertools
from typing import Annotated, ClassVar, Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.geometry.polygon import Polygon
from vigil_core.rules.base import RuleSpecBase
from vigil_core.types import Track
from vigil_protocol import RouteState
from vigil_protocol.privacy import DetectorKind

from .base import RuleContext
from .common import ClassFilter, anchor_point
from .continuity import Continuity
from .registry import RuleSetup, register_rule


class RouteSpec(RuleSpecBase):
    """An ordered sequence of the camera's zones, each step within a time limit."""

    detector_kind: ClassVar[DetectorKind] = DetectorKind.ROUTE

    type: Literal["route"]
    zones: Annotated[
        list[str], Field(min_length=2, description="Zone ids in the order they must be visited.")
    ]
    max_step_s: Annotated[
        float,
        Field(gt=0, le=86400, description="Seconds allowed from one zone to the next."),
    ] = 30.0
    step_s: Annotated[
        list[float] | None,
        Field(description="Per-step limits overriding max_step_s (one fewer than zones)."),
    ] = None
    gap_s: Annotated[
        float,
        Field(
            ge=0,
            le=600,
            description="A lost track replaced by a new id within this time keeps its progress.",
        ),
    ] = 3.0

    @model_validator(mode="after")
    def _steps_ok(self) -> Self:
        for a, b in itertools.pairwise(self.zones):
            if a == b:
                raise ValueError(f"zone {a} follows itself: consecutive zones must differ")
        if self.step_s is not None:
            if len(self.step_s) != len(self.zones) - 1:
                raise ValueError(
                    f"step_s needs {len(self.zones) - 1} values (one per step), "
                    f"got {len(self.step_s)}"
                )
            if min(self.step_s) <= 0:
                raise ValueError("step_s values must be positive seconds")
        return self

    def zone_refs(self) -> list[str]:
        """Return the zones of the route, in order."""
        return list(self.zones)

    def limit_s(self, step: int) -> float:
        """Return the time allowed for step `step` (0: from the first zone to the second)."""
        return self.step_s[step] if self.step_s is not None else self.max_step_s


KIND = "route"

_INERTIA = 2


@dataclass(slots=True)
class _Progress:
    label: str
    inside: dict[int, bool] = field(default_factory=dict)
    """Zone index → inside (after inertia)."""
    streak: dict[int, int] = field(default_factory=dict)
    step: int = 0
    """Index of the next zone to reach; 0 until the first zone was entered."""
    started_s: float = 0.0
    last_in_previous_s: float = 0.0
    """When the object was last inside the zone it reached most recently."""
    times: list[float] = field(default_factory=list)


@register_rule(RouteSpec)
class RouteRule:
    """Report objects that go through the route's zones in order."""

    kind = KIND

    def __init__(self, spec: RouteSpec, setup: RuleSetup) -> None:
        """Resolve the zones of the route."""
        self.rule_id = spec.id
        self._spec = spec
        self._zones: list[Polygon] = [Polygon(setup.zone(z).polygon) for z in spec.zones]
        self._watched = ClassFilter(spec.classes)
        self._continuity = Continuity(spec.gap_s)
        self._progress: dict[int, _Progress] = {}
        self._completed = 0
        self._last: dict[str, AttrValue] | None = None

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Advance each object along the route; report completed routes."""
        watched = [t for t in tracks if self._watched(t)]
        identities, ended = self._continuity.update(
            ctx.pts_s, watched, (ctx.frame.width, ctx.frame.height)
        )
        watched = [t for t in watched if t.track_id in identities]
        for identity in ended:
            self._progress.pop(identity, None)
        if not ctx.fresh:
            return []
        events = []
        for track in watched:
            identity = identities[track.track_id]
            progress = self._progress.setdefault(identity, _Progress(track.label))
            progress.label = track.label
            x, y = anchor_point(track, "bottom_center")
            now_inside = [
                zone.contains(x, y, ctx.frame.width, ctx.frame.height) for zone in self._zones
            ]
            event = self._advance(ctx, identity, progress, now_inside)
            if event is not None:
                events.append(event)
        return events

    def _advance(
        self, ctx: RuleContext, identity: int, progress: _Progress, now_inside: list[bool]
    ) -> RuleEvent | None:
        entered = []
        for index, inside in enumerate(now_inside):
            if inside == progress.inside.get(index, False):
                progress.streak[index] = 0
                continue
            progress.streak[index] = progress.streak.get(index, 0) + 1
            if progress.streak[index] >= _INERTIA:
                progress.streak[index] = 0
                progress.inside[index] = inside
                if inside:
                    entered.append(index)
        now = ctx.pts_s
        if progress.step > 0:
            if progress.inside.get(progress.step - 1, False):
                progress.last_in_previous_s = now
            elif now - progress.last_in_previous_s > self._spec.limit_s(progress.step - 1):
                progress.step = 0
        if progress.step > 0 and progress.step in entered:
            progress.times.append(round(now - progress.last_in_previous_s, 1))
            progress.step += 1
            progress.last_in_previous_s = now
            if progress.step == len(self._zones):
                progress.step = 0
                return self._complete(ctx, identity, progress)
        elif 0 in entered:
            progress.step, progress.started_s, progress.last_in_previous_s = 1, now, now
            progress.times = []
        return None

    def _complete(self, ctx: RuleContext, identity: int, progress: _Progress) -> RuleEvent:
        self._completed += 1
        attrs: dict[str, AttrValue] = {
            "label": progress.label,
            "zones": list(self._spec.zones),
            "duration_s": round(ctx.pts_s - progress.started_s, 1),
            "step_gaps_s": list(progress.times),
        }
        self._last = {"label": progress.label, "at_s": round(ctx.pts_s, 3)}
        return ctx.event(
            kind=KIND,
            rule_id=self.rule_id,
            phase=EventPhase.INSTANT,
            track_id=identity,
            attrs=attrs,
        )

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """Drop unfinished progress: a route is reported only when completed."""
        del ctx
        self._progress.clear()
        self._continuity.finish()
        return []

    def state(self) -> RouteState:
        """Return how many routes were completed and how many are under way."""
        under_way = sum(1 for p in self._progress.values() if p.step > 0)
        return RouteState(completed=self._completed, in_progress=under_way)
