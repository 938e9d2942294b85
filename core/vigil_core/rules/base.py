"""What every rule family builds on: its spec's base and the Rule protocol it implements."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
import time
from typing import Annotated, ClassVar, Protocol, Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.specs import Anchor, Point, Spec, checked_polygon, checked_slug
from vigil_core.types import Frame, Track
from vigil_protocol import StateValue
from vigil_protocol.privacy import DetectorKind

BAG_CLASSES = ("backpack", "handbag", "suitcase")


class RuleSpecBase(Spec):
    """The fields every rule's spec has: its id, name and the object classes it watches."""

    id: Annotated[str, Field(description="Stable slug, unique among the camera's zones and rules.")]
    name: str = ""
    classes: Annotated[
        list[str], Field(description="Object classes the rule watches; empty means every class.")
    ] = Field(default_factory=lambda: ["person"])

    _slug = field_validator("id")(checked_slug)

    detector_kind: ClassVar[DetectorKind]
    """The detector (privacy/purposes.py's table) the family runs: gated by the context."""
    needs_pixels: ClassVar[bool] = False
    """The rule looks at the frames themselves, not only at the tracks (detections from Frigate
    then still need the camera's pixels)."""

    def detector_kinds(self) -> list[DetectorKind]:
        """Return every detector this rule runs (a family may run more than one)."""
        return [self.detector_kind]

    def restricted_to(self, kinds: Collection[DetectorKind]) -> Self | None:
        """Return the rule running only the detectors in `kinds`, or None if none of it may run."""
        return self if self.detector_kind in kinds else None

    def zone_refs(self) -> list[str]:
        """Return the ids of the camera's zones this rule refers to."""
        return []

    def needs_calibration(self) -> bool:
        """Return whether the rule works in metres (the camera needs a ground calibration)."""
        return False


class RegionRuleSpec(RuleSpecBase):
    """A rule watching an area: a zone of the camera (by id) or its own polygon."""

    zone: Annotated[str | None, Field(description="Id of one of the camera's zones.")] = None
    polygon: Annotated[
        list[Point] | None, Field(description="Or an own polygon (relative points).")
    ] = None
    anchor: Annotated[
        Anchor,
        Field(description="Point of the box tested against the area: the feet or the centre."),
    ] = "bottom_center"

    region_required: ClassVar[bool] = True

    @field_validator("polygon")
    @classmethod
    def _polygon_ok(cls, value: list[Point] | None) -> list[Point] | None:
        return None if value is None else checked_polygon(value)

    @model_validator(mode="after")
    def _one_region(self) -> Self:
        if self.zone is not None and self.polygon is not None:
            raise ValueError("give either zone or polygon, not both")
        if self.region_required and self.zone is None and self.polygon is None:
            raise ValueError("needs a zone (id) or a polygon")
        return self

    def zone_refs(self) -> list[str]:
        """Return the zone the rule watches, if it watches one of the camera's zones."""
        return [] if self.zone is None else [self.zone]


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule knows about the current analysed frame."""

    frame: Frame
    fresh: bool
    """True when the detector ran on this frame; False when tracks were carried over."""
    stage_events: tuple[RuleEvent, ...] = ()
    """Events the stages before the rules produced on this frame (e.g. plate reads)."""

    @property
    def camera_id(self) -> str:
        """Return the camera id."""
        return self.frame.camera_id

    @property
    def pts_s(self) -> float:
        """Return the stream time in seconds."""
        return self.frame.pts_s

    def event(
        self,
        *,
        kind: str,
        rule_id: str,
        phase: EventPhase,
        track_id: int | None = None,
        attrs: Mapping[str, AttrValue] | None = None,
    ) -> RuleEvent:
        """Build an event stamped with this frame's camera, time, index and latency."""
        return RuleEvent(
            kind=kind,
            camera_id=self.frame.camera_id,
            rule_id=rule_id,
            track_id=track_id,
            phase=phase,
            at_s=self.frame.pts_s,
            frame_index=self.frame.index,
            wall_time=time.time(),
            latency_s=max(0.0, time.monotonic() - self.frame.received_at),
            attrs=attrs or {},
        )


class Rule(Protocol):
    """A rule turns tracks on successive frames into events. It keeps its own state."""

    rule_id: str
    kind: str

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Consume the tracks of one analysed frame; return the events it causes."""
        ...

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """Close whatever is open because the stream ended; return the closing events."""
        ...

    def state(self) -> StateValue:
        """Return the rule's current state: its family's typed value (`vigil_protocol`).

        Called on the camera's analysis thread after each frame (the pipeline publishes the
        value when it changed), so a rule never needs a lock for it.
        """
        ...
