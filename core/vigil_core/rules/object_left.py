"""Object left (dropped, abandoned) and object removed.

Two sources of candidate objects:
- a background model (`background.StaticChangeModel`) finds parts of the scene that changed
  and then stayed still for about `static_s`, whatever they are, so objects the detector has
  no class for still count;
- tracks of the detector's object classes (bags, suitcases, backpacks) that stay still for
  `static_s`.

A candidate is reported (STARTED) once no person has been near it for a second, "near" meaning
within `attended_distance` of the person's own height: the owner standing beside a bag is not
abandoning it. The event ends (ENDED) when the change is gone again.

Large static changes are not left objects: a train stopping at the far platform, a bus at its
stop, a car parking. A change (with the changed cells around its still parts) is too large when
it overlaps a tracked vehicle (or one seen standing there within the last minute), is taller
than a person there or wider than one and a half (the people seen so far give the scale at each
height of the picture), or spans a quarter of the view's width or height.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
import math
from typing import Annotated, ClassVar, Literal, Self

import numpy as np
from pydantic import (
    Field,
    model_validator,
)

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.geometry.polygon import Polygon
from vigil_core.geometry.raster import polygon_mask
from vigil_core.rules.base import BAG_CLASSES, RegionRuleSpec
from vigil_core.types import BBox, Track
from vigil_protocol import ObjectLeftState
from vigil_protocol.privacy import DetectorKind

from .background import BoolMap, StaticChangeModel
from .base import RuleContext
from .common import ClassFilter
from .registry import RuleSetup, register_rule


class ObjectLeftSpec(RegionRuleSpec):
    """Objects left behind (static, unattended) and parts of the scene removed."""

    detector_kind: ClassVar[DetectorKind] = DetectorKind.OBJECT_LEFT
    needs_pixels: ClassVar[bool] = True

    type: Literal["object_left"]
    detect: Annotated[
        list[Literal["left", "removed"]],
        Field(
            min_length=1,
            description="What a static change in the area means: an object left (unattended "
            "baggage), an object removed (watch valuables), or both (the rule then tells them "
            "apart from the image, best effort).",
        ),
    ] = Field(default_factory=lambda: list[Literal["left", "removed"]](["left"]))
    classes: Annotated[
        list[str], Field(description="Detector classes that are objects that can be left.")
    ] = Field(default_factory=lambda: list(BAG_CLASSES))
    person_classes: Annotated[
        list[str], Field(description="Classes whose presence near an object means it is attended.")
    ] = Field(default_factory=lambda: ["person"])
    static_s: Annotated[
        float,
        Field(
            ge=1, le=3600, description="Seconds an object must stay, unattended, before the event."
        ),
    ] = 10.0
    min_area: Annotated[
        float, Field(gt=0, lt=1, description="Smallest object, as a fraction of the frame area.")
    ] = 0.0008
    max_area: Annotated[
        float, Field(gt=0, le=1, description="Largest object, as a fraction of the frame area.")
    ] = 0.05
    sensitivity: Annotated[
        float, Field(gt=0, lt=1, description="Higher finds fainter changes (and more false ones).")
    ] = 0.5
    attended_distance: Annotated[
        float,
        Field(
            gt=0,
            le=20,
            description="A person within this many of their own heights attends the object.",
        ),
    ] = 1.5

    region_required: ClassVar[bool] = False

    @model_validator(mode="after")
    def _areas_ordered(self) -> Self:
        if self.max_area <= self.min_area:
            raise ValueError(f"max_area ({self.max_area}) must be above min_area ({self.min_area})")
        return self

    def detector_kinds(self) -> list[DetectorKind]:
        """Return object left, object removed or both, as `detect` asks."""
        return [
            DetectorKind.OBJECT_LEFT if change == "left" else DetectorKind.OBJECT_REMOVED
            for change in self.detect
        ]

    def restricted_to(self, kinds: Collection[DetectorKind]) -> Self | None:
        """Return the rule detecting only the changes whose detector may run, or None."""
        kept = [
            change
            for change, kind in zip(self.detect, self.detector_kinds(), strict=True)
            if kind in kinds
        ]
        if not kept:
            return None
        return self if kept == self.detect else self.model_copy(update={"detect": kept})


KIND = "object_left"
REMOVED_KIND = "object_removed"

_SCALE_SAMPLES = 400
_SCALE_MIN_SAMPLES = 8
_UNATTENDED_S = 1.0
"""Seconds without a person near before a static object counts as left."""
_STILL_HEIGHTS_S = 0.4
"""A person moving slower than this many of their heights per second is standing by."""
_FORGET_S = 2.0
"""A reported change missing this long has gone."""
_MATCH_OVERLAP = 0.5
"""Share of the smaller box two regions must have in common to be the same object."""
_SETTLE_S = 1.0
"""A region must be seen this long before it is reported, while its outline settles."""
_GONE_RATIO = 2.5
"""How many times more a region must have stood out in the background to count as gone."""
_VEHICLES = frozenset({"car", "truck", "bus", "train", "motorcycle", "bicycle", "boat", "airplane"})
_VEHICLE_S = 60.0
_STOPPED_WIDTHS_S = 0.2
"""A vehicle seen moving under this many of its widths per second within the last minute
still counts where it stood: a parked car the detector no longer reports is still a car."""
_VEHICLE_OVERLAP = 0.3
"""Share of a change a vehicle's box must cover for the change to be that vehicle."""
_VIEW_SHARE = 0.25
"""A change spanning this share of the view's width or height is no left object."""
_PERSON_HEIGHTS = (1.0, 1.5)
"""A change taller than a person there, or wider than 1.5 of their height, is no left object."""


@dataclass(slots=True)
class _Candidate:
    box: BBox
    """Pixels of the analysed frame."""
    seen_s: float
    """When the rule first saw it (it must stay a moment, while its outline settles)."""
    first_s: float
    last_s: float
    change: str | None = None
    """``left``, ``removed``, or None for a ghost: something only the background showed."""
    judged: bool = True
    """False while the region is hidden and its nature cannot be told on this frame."""
    label: str = "unknown"
    mask: BoolMap | None = None
    """Background cells of the region, when the background model found it."""
    attended_s: float = -math.inf
    reported: bool = False
    source: str = "background"
    track_id: int | None = None
    large: bool = False
    """Too large for a left object (a vehicle, a train): followed, never reported."""


class _PersonScale:
    """How tall a person looks at each height of the picture, from the people seen so far.

    One sample per person track per second: (feet row, box height), both relative to the frame.
    The height follows a line in the feet row (perspective on a flat ground), or is the median
    while the people seen span too little of the picture's height to fit one; above or below
    the rows people were seen at, it is their height at the nearest of those rows.
    """

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=_SCALE_SAMPLES)
        self._last: dict[int, float] = {}
        self._fit: tuple[float, float, float, float] | None = None
        self._fitted_at = 0

    def observe(self, people: Sequence[Track], pts_s: float, height: int) -> None:
        """Take one sample of each person track not sampled in the last second."""
        for track in people:
            if not track.matched or pts_s - self._last.get(track.track_id, -math.inf) < 1.0:
                continue
            self._last[track.track_id] = pts_s
            self._samples.append((track.bbox.y2 / height, track.bbox.height / height))
        if len(self._last) > 4 * _SCALE_SAMPLES:
            self._last.clear()

    def height_at(self, y: float) -> float | None:
        """Return a person's height (relative) with feet at relative row y, or None."""
        if len(self._samples) < _SCALE_MIN_SAMPLES:
            return None
        if self._fit is None or len(self._samples) - self._fitted_at >= 10:
            rows = np.asarray(self._samples, dtype=np.float64)
            ys, hs = rows[:, 0], rows[:, 1]
            slope, offset = (
                np.polyfit(ys, hs, 1) if float(ys.max() - ys.min()) >= 0.2 else (0.0, 0.0)
            )
            median = float(np.median(hs))
            if slope == 0.0:
                offset = median
            self._fit = (float(slope), float(offset), float(ys.min()), float(ys.max()))
            self._fitted_at = len(self._samples)
        slope, offset, top, bottom = self._fit
        # Beyond the rows people were seen at, their height there is the best guess.
        return offset + slope * min(max(y, top), bottom)


def _threshold(sensitivity: float) -> float:
    """Return the grey-level difference that counts as a change: 30 at 0, 10 at 1."""
    return 30.0 - 20.0 * sensitivity


@register_rule(ObjectLeftSpec)
class ObjectLeftRule:
    """Report objects left in, and removed from, the scene (or an area of it)."""

    kind = KIND

    def __init__(self, spec: ObjectLeftSpec, setup: RuleSetup) -> None:
        """Resolve the optional area and build the background model."""
        self.rule_id = spec.id
        self._spec = spec
        self._region: Polygon | None = setup.region(spec.zone, spec.polygon)
        self._objects = ClassFilter(spec.classes)
        self._people = frozenset(spec.person_classes)
        self._model = StaticChangeModel(_threshold(spec.sensitivity))
        self._area_mask: BoolMap | None = None
        self._candidates: list[_Candidate] = []
        self._still: dict[int, tuple[float, BBox]] = {}
        """Object tracks: since when they have been still, and where they were then."""
        self._scale = _PersonScale()
        self._vehicles: dict[int, tuple[float, BBox]] = {}
        """Vehicle tracks seen standing still: when, and where (the detector may lose them)."""

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Learn the frame, match static changes and still object tracks, report the unattended."""
        objects = [t for t in tracks if self._spec.classes and self._objects(t)]
        others = [t for t in tracks if not (self._spec.classes and self._objects(t))]
        covered = [(t.bbox.x1, t.bbox.y1, t.bbox.x2, t.bbox.y2) for t in others]
        if not self._model.update(ctx.frame.image, ctx.pts_s, covered, self._watched_cells()):
            self._candidates = [c for c in self._candidates if c.reported]
        people = [t for t in tracks if t.label in self._people]
        self._scale.observe(people, ctx.pts_s, ctx.frame.height)
        vehicles = self._stopped_vehicles(ctx.pts_s, tracks)
        seen = self._background_candidates(ctx, vehicles) + self._track_candidates(ctx, objects)
        events: list[RuleEvent] = []
        for candidate in self._candidates:
            if candidate.reported and ctx.pts_s - candidate.last_s > _FORGET_S:
                events.append(self._event(ctx, candidate, EventPhase.ENDED, "gone"))
        self._candidates = [c for c in self._candidates if ctx.pts_s - c.last_s <= _FORGET_S]
        for candidate in seen:
            if self._attended(candidate.box, people):
                candidate.attended_s = ctx.pts_s
            unattended_s = ctx.pts_s - candidate.attended_s
            settled = ctx.pts_s - candidate.seen_s >= _SETTLE_S - 1e-6
            waiting = not settled or not candidate.judged or unattended_s < _UNATTENDED_S - 1e-6
            if candidate.reported or candidate.large or waiting:
                continue
            if candidate.change is None and candidate.mask is not None:
                # Only the background showed something here: a ghost, not news for this rule.
                self._model.absorb(candidate.mask)
                self._candidates.remove(candidate)
            elif candidate.change in self._spec.detect and not self._duplicate(candidate):
                candidate.reported = True
                events.append(self._event(ctx, candidate, EventPhase.STARTED, "unattended"))
        return events

    def _watched_cells(self) -> BoolMap | None:
        """Return the model's cells inside the area (None: the whole frame)."""
        shape = self._model.shape
        if self._region is None or shape is None:
            return None
        if self._area_mask is None or self._area_mask.shape != shape:
            self._area_mask = polygon_mask([self._region.points], shape[1], shape[0])
        return self._area_mask

    def _background_candidates(self, ctx: RuleContext, vehicles: list[BBox]) -> list[_Candidate]:
        """Match this frame's static regions to the candidates; return those seen now."""
        shape = self._model.shape
        if shape is None:
            return []
        total = shape[0] * shape[1]
        scale = self._model.scale
        seen = []
        for mask, (r1, c1, r2, c2) in self._model.blobs(self._spec.static_s):
            cells = int(mask.sum())
            if not self._spec.min_area <= cells / total <= self._spec.max_area:
                continue
            box = BBox(c1 * scale, r1 * scale, c2 * scale, r2 * scale)
            judged, change = self._classify(mask)
            candidate = self._match(box, "background")
            if candidate is None:
                # The region has been a static change for about static_s already.
                candidate = _Candidate(box, ctx.pts_s, ctx.pts_s - self._spec.static_s, ctx.pts_s)
                self._candidates.append(candidate)
            candidate.box, candidate.last_s, candidate.mask = box, ctx.pts_s, mask
            if not candidate.reported and not candidate.large:
                candidate.large = self._too_large(ctx, mask, vehicles)
            if not candidate.reported:
                candidate.judged = judged
                if judged:
                    candidate.change = change
            seen.append(candidate)
        return seen

    def _stopped_vehicles(self, pts_s: float, tracks: Sequence[Track]) -> list[BBox]:
        """Return the boxes of vehicles tracked now, or seen standing still not long ago."""
        for track in tracks:
            if track.label not in _VEHICLES:
                continue
            if math.hypot(*track.velocity) <= _STOPPED_WIDTHS_S * max(track.bbox.width, 1.0):
                self._vehicles[track.track_id] = (pts_s, track.bbox)
        for key in [k for k, (seen, _) in self._vehicles.items() if pts_s - seen > _VEHICLE_S]:
            del self._vehicles[key]
        return [t.bbox for t in tracks if t.label in _VEHICLES] + [
            box for _, box in self._vehicles.values()
        ]

    def _too_large(self, ctx: RuleContext, mask: BoolMap, vehicles: list[BBox]) -> bool:
        """Return whether the change a static region belongs to is too large to be left there."""
        extent = self._model.changed_extent(mask)
        if extent is None:
            return False
        r1, c1, r2, c2 = extent
        scale = self._model.scale
        box = BBox(c1 * scale, r1 * scale, c2 * scale, r2 * scale)
        width, height = ctx.frame.width, ctx.frame.height
        if box.width >= _VIEW_SHARE * width or box.height >= _VIEW_SHARE * height:
            return True
        if any(_overlap_of(box, vehicle) >= _VEHICLE_OVERLAP for vehicle in vehicles):
            return True
        person = self._scale.height_at(box.y2 / height)
        if person is None:
            return False
        tall, wide = _PERSON_HEIGHTS
        return box.height > tall * person * height or box.width > wide * person * height

    def _classify(self, mask: BoolMap) -> tuple[bool, str | None]:
        """Return whether the region can be judged now, and what its static change means here.

        The meaning is ``left``, ``removed``, or None to ignore the region. A region whose
        background stood out far more than the scene does now held something that went: an
        object removed, or the ghost of a person the background learnt while the detector
        missed them. A rule watching for left objects only ignores such regions. A region
        hidden behind someone cannot be judged on this frame.
        """
        contrast = self._model.contrast(mask)
        if contrast is None:
            return False, None
        now, before = contrast
        gone = before >= _GONE_RATIO * max(now, 1.0)
        if set(self._spec.detect) == {"removed"}:
            return True, "removed"
        if set(self._spec.detect) == {"left"}:
            return True, None if gone else "left"
        return True, "removed" if gone else "left"

    def _track_candidates(self, ctx: RuleContext, objects: list[Track]) -> list[_Candidate]:
        """Return object tracks (bags, suitcases) that have stayed still for `static_s`."""
        seen = []
        present = {t.track_id for t in objects}
        for track_id in [t for t in self._still if t not in present]:
            del self._still[track_id]
        for track in objects:
            since, anchor = self._still.get(track.track_id, (ctx.pts_s, track.bbox))
            moved = math.dist(anchor.center, track.bbox.center) > 0.5 * max(
                track.bbox.height, track.bbox.width, 1.0
            )
            if moved:
                since, anchor = ctx.pts_s, track.bbox
            self._still[track.track_id] = (since, anchor)
            if ctx.pts_s - since < self._spec.static_s:
                continue
            candidate = self._match(track.bbox, "track")
            if candidate is None:
                candidate = _Candidate(
                    track.bbox, ctx.pts_s, since, ctx.pts_s, change="left", source="track"
                )
                self._candidates.append(candidate)
            candidate.box, candidate.last_s = track.bbox, ctx.pts_s
            candidate.label, candidate.track_id = track.label, track.track_id
            seen.append(candidate)
        return seen

    def _match(self, box: BBox, source: str) -> _Candidate | None:
        """Return the candidate this region continues (it may have grown or shrunk a little)."""
        best = max(
            (c for c in self._candidates if c.source == source),
            key=lambda c: c.box.overlap(box),
            default=None,
        )
        return best if best is not None and best.box.overlap(box) >= _MATCH_OVERLAP else None

    def _duplicate(self, candidate: _Candidate) -> bool:
        """Return whether another candidate already reported this object."""
        return any(
            other is not candidate
            and other.reported
            and other.box.overlap(candidate.box) >= _MATCH_OVERLAP
            for other in self._candidates
        )

    def _attended(self, box: BBox, people: list[Track]) -> bool:
        """Return whether someone stays by the object: near it and (almost) still.

        Passers-by are near for a moment while walking; an owner stands by the bag.
        """
        cx, cy = box.center
        for person in people:
            height = max(person.bbox.height, 1.0)
            px, py = person.bbox.bottom_center
            near = math.hypot(px - cx, py - cy) <= self._spec.attended_distance * height
            still = math.hypot(*person.velocity) <= _STILL_HEIGHTS_S * height
            if near and still:
                return True
        return False

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """Nothing is closed at the end of a stream: a left object is still there."""
        del ctx
        return []

    def state(self) -> ObjectLeftState:
        """Return how many left and removed objects are currently reported."""
        reported = [c for c in self._candidates if c.reported]
        left = sum(1 for c in reported if c.change == "left")
        return ObjectLeftState(
            active=bool(reported),
            left=left,
            removed=len(reported) - left,
            pending=sum(1 for c in self._candidates if not c.reported),
        )

    def _event(
        self, ctx: RuleContext, candidate: _Candidate, phase: EventPhase, reason: str
    ) -> RuleEvent:
        width, height = ctx.frame.width, ctx.frame.height
        box = candidate.box
        cx, cy = box.center
        attrs: dict[str, AttrValue] = {
            "change": candidate.change,
            "label": candidate.label,
            "source": candidate.source,
            "position": (round(cx / width, 4), round(cy / height, 4)),
            "box": (
                round(box.x1 / width, 4),
                round(box.y1 / height, 4),
                round(box.x2 / width, 4),
                round(box.y2 / height, 4),
            ),
            "static_s": round(ctx.pts_s - candidate.first_s, 1),
            "reason": reason,
        }
        kind = KIND if candidate.change == "left" else REMOVED_KIND
        return ctx.event(
            kind=kind, rule_id=self.rule_id, phase=phase, track_id=candidate.track_id, attrs=attrs
        )


def _overlap_of(a: BBox, b: BBox) -> float:
    """Return the share of box a that box b covers."""
    return a.intersection(b) / max(1e-9, a.area)
