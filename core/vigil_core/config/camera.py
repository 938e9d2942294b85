"""One camera: its source, zones, rules, masks, calibration and detectors."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from vigil_core.config.anpr import AnprSpec
from vigil_core.config.health import TamperSpec
from vigil_core.config.inference import MotionSpec
from vigil_core.config.source import FrigateDetectionSpec, OnvifSpec, SourceSpec
from vigil_core.errors import ConfigInvalid
from vigil_core.geometry.calibration import Homography, rectangle_from_distances
from vigil_core.rules import RuleSpec
from vigil_core.rules.zone import ZoneSpec
from vigil_core.specs import (
    RESERVED_RULE_IDS,
    Point,
    Spec,
    checked_polygon,
    checked_slug,
    field_error,
)


class GroundCalibration(Spec):
    """Four image points and where they lie on the ground, for km/h and people per m².

    Give `ground_points` (metres, any origin and orientation), or Frigate-style `distances`
    (side lengths AB, BC, CD, DA of a rectangle on the ground).
    """

    image_points: Annotated[
        list[Point],
        Field(description="4 points (x, y) in 0–1 of the frame, on the ground, in turning order."),
    ]
    ground_points: Annotated[
        list[Point] | None,
        Field(description="The same 4 points on the ground, in metres."),
    ] = None
    distances: Annotated[
        list[float] | None,
        Field(
            description="Or side lengths AB, BC, CD, DA in metres, of a rectangle on the ground."
        ),
    ] = None

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if (self.ground_points is None) == (self.distances is None):
            raise ValueError("give either ground_points or distances (not both)")
        try:
            self.homography()
        except ConfigInvalid as err:
            raise field_error(err) from err
        return self

    def homography(self) -> Homography:
        """Return the image-to-ground homography."""
        ground = self.ground_points or rectangle_from_distances(self.distances or [])
        return Homography(self.image_points, ground)


def check_camera_rules(camera: CameraSpec) -> None:
    """Raise ValueError when a camera's rules refer to missing zones or a missing calibration."""
    zone_ids = {zone.id for zone in camera.zones}
    ids = [zone.id for zone in camera.zones] + [rule.id for rule in camera.rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"zone and rule ids must be unique, repeated: {', '.join(dupes)}")
    taken = sorted(set(ids) & RESERVED_RULE_IDS.keys())
    if taken:
        raise ValueError(f"the id '{taken[0]}' is reserved for {RESERVED_RULE_IDS[taken[0]]}")
    for rule in camera.rules:
        for ref in rule.zone_refs():
            if ref not in zone_ids:
                raise ValueError(f"rule {rule.id} refers to zone '{ref}', which is not defined")
        if rule.needs_calibration() and camera.calibration is None:
            raise ValueError(f"rule {rule.id} works in metres: the camera needs a calibration")


class CameraSpec(Spec):
    """One camera: its source, analysis settings and rules."""

    id: str
    name: str = ""
    source: SourceSpec
    fps: Annotated[
        float,
        Field(
            gt=0, le=60, description="Analysed frames per second, sampled from stream timestamps."
        ),
    ] = 5.0
    analysis_max_width: Annotated[
        int,
        Field(ge=160, le=3840, description="Frames wider than this are resized before analysis."),
    ] = 1280
    motion: MotionSpec = MotionSpec()
    zones: list[ZoneSpec] = Field(default_factory=list)
    rules: Annotated[
        list[RuleSpec], Field(description="Rules beyond zone presence, discriminated on `type`.")
    ] = Field(default_factory=list)
    privacy_masks: Annotated[
        list[list[Point]],
        Field(description="Polygons blanked before any analysis and in every stored image."),
    ] = Field(default_factory=list)
    calibration: GroundCalibration | None = None
    tamper: TamperSpec = TamperSpec()
    detections: Annotated[
        Literal["vigil", "frigate"],
        Field(description="Who finds the objects: Vigil's detector or Frigate's (`frigate`)."),
    ] = "vigil"
    frigate: FrigateDetectionSpec | None = None
    onvif: Annotated[
        OnvifSpec | None,
        Field(description="The camera's ONVIF device service, for its own analytics' events."),
    ] = None
    anpr: AnprSpec = AnprSpec()

    _slug = field_validator("id")(checked_slug)

    @model_validator(mode="after")
    def _frigate_detections(self) -> Self:
        if self.detections == "frigate" and self.frigate is None:
            raise ValueError("detections from Frigate need the frigate section")
        return self

    @model_validator(mode="before")
    @classmethod
    def _source_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("source"), str):
            data = {**data, "source": {"url": data["source"]}}
        return data

    @model_validator(mode="after")
    def _unique_zones(self) -> Self:
        ids = [zone.id for zone in self.zones]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"zone ids must be unique, repeated: {', '.join(dupes)}")
        check_camera_rules(self)
        return self

    @field_validator("privacy_masks")
    @classmethod
    def _masks_ok(cls, value: list[list[Point]]) -> list[list[Point]]:
        return [checked_polygon(polygon) for polygon in value]
