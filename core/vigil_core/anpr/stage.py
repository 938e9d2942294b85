"""AnprStage: read the plates of each vehicle passage after tracking, one vote per passage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
import time
from typing import TYPE_CHECKING, Protocol

from vigil_core.anpr.reader import PlateObservation, PlateReader
from vigil_core.anpr.vote import PlateVote, VotedPlate
from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.types import BBox, Frame, RGBImage, Track, TrackState

if TYPE_CHECKING:
    from vigil_core.config import AnprSpec

RULE_ID = "anpr"
MAX_VEHICLES_PER_FRAME = 3
"""Vehicles read per analysed frame (those with the fewest reads first): bounds the frame's cost."""
MAX_ATTEMPTS = 12
"""Frames a vehicle is tried on before its passage stops being read."""
PLATE_GAP_S = 2.0
"""A full-frame plate passage ends when no plate was seen nearby for this long."""


@dataclass(frozen=True, slots=True)
class Passage:
    """One vehicle (or plate) passage, decided: what the privacy sink receives."""

    camera_id: str
    track_id: int | None
    plate: VotedPlate
    direction: str
    crop: RGBImage | None = field(repr=False)


class PassageSink(Protocol):
    """Turn a decided passage into events, keeping only what the privacy mode allows."""

    def passage(self, passage: Passage, spec: AnprSpec, frame: Frame) -> list[RuleEvent]:
        """Match, store or forget the plate; return the events to publish."""
        ...


@dataclass(slots=True)
class _Open:
    key: int
    vote: PlateVote
    trail: list[BBox] = field(default_factory=list)
    last_pts: float = 0.0
    attempts: int = 0
    plate_box: BBox | None = None
    crop: RGBImage | None = field(default=None, repr=False)
    crop_score: float = -1.0
    done: bool = False
    plate_trail: bool = False
    """The trail holds plate boxes (a plate-only passage, or one its vehicle took over)."""

    def add(self, obs: PlateObservation, keep_crop: bool) -> None:
        self.vote.add(obs.read)
        self.plate_box = obs.box.bbox
        if keep_crop and obs.score > self.crop_score:
            self.crop, self.crop_score = obs.crop, obs.score


class AnprStage:
    """Plate reading for one camera (a `TrackStage`).

    Vehicle mode reads confirmed vehicle tracks on fresh frames until their vote settles;
    full-frame mode reads plates over the frame (or region) and groups them into passages by
    position. A passage is decided when its vote settles or its vehicle leaves; the decision goes
    to the sink, and the stage forgets the reads and the crop right after.
    """

    name = "anpr"

    def __init__(
        self, camera_id: str, spec: AnprSpec, reader: PlateReader, sink: PassageSink
    ) -> None:
        """Wire the camera's settings to the shared reader and sink."""
        self.camera_id = camera_id
        self.spec = spec
        self.reader = reader
        self.sink = sink
        self._vehicles = frozenset(spec.vehicle_classes)
        self._open: dict[int, _Open] = {}
        self._next_plate_key = -1
        self._last_frame: Frame | None = None

    def process(self, frame: Frame, tracks: Sequence[Track], *, fresh: bool) -> list[RuleEvent]:
        """Read plates on this frame's vehicles (or over it); return decided passages' events."""
        self._last_frame = frame
        live = {t.track_id: t for t in tracks if t.state is not TrackState.REMOVED}
        events = self._close_gone(frame, live)
        if not fresh:
            return events
        for key, passage in self._open.items():
            # Every sighting of an open passage's vehicle, read or not, shows where it goes.
            if key >= 0 and key in live and not passage.done and not passage.plate_trail:
                passage.trail.append(live[key].bbox)
                passage.last_pts = frame.pts_s
        candidates = self._candidates(live.values()) if self.spec.mode != "full_frame" else []
        full = self.spec.mode != "vehicle_crops"
        if not candidates and not full:
            return events
        for track in candidates:
            passage = self._vehicle_passage(track)
            passage.attempts += 1
            if not passage.trail:
                passage.trail.append(track.bbox)
            passage.last_pts = frame.pts_s
        observations = self.reader.read(
            frame.image,
            [(t.track_id, t.bbox) for t in candidates],
            full_frame=full,
            region=self._region(frame),
        )
        touched: set[int] = set()
        for obs in observations:
            owner = self._assign(obs, live, frame.pts_s, touched)
            if owner is None or owner.done:
                continue
            owner.add(obs, keep_crop=self.spec.crops)
            if owner.plate_trail:
                owner.trail.append(obs.box.bbox)
            touched.add(owner.key)
        for key in touched:
            if self._open[key].vote.settled(self.spec.votes):
                events += self._decide(self._open[key], frame)
        return events

    def finish(self) -> list[RuleEvent]:
        """Decide every open passage: the stream ended."""
        frame = self._last_frame
        if frame is None:
            return []
        events: list[RuleEvent] = []
        for key in list(self._open):
            events += self._decide(self._open.pop(key), frame)
        return events

    # Passages ---------------------------------------------------------------------------------

    def _candidates(self, tracks: Iterable[Track]) -> list[Track]:
        eligible = []
        for track in tracks:
            if (
                track.label in self._vehicles
                and track.state is TrackState.CONFIRMED
                and track.matched
            ):
                passage = self._open.get(track.track_id)
                if passage is None or (not passage.done and passage.attempts < MAX_ATTEMPTS):
                    eligible.append(track)
        eligible.sort(
            key=lambda t: (
                len(self._open[t.track_id].vote) if t.track_id in self._open else 0,
                -t.bbox.area,
            )
        )
        return eligible[:MAX_VEHICLES_PER_FRAME]

    def _passage(self, key: int) -> _Open:
        passage = self._open.get(key)
        if passage is None:
            passage = _Open(key, PlateVote(self.reader.formats))
            self._open[key] = passage
        return passage

    def _assign(
        self, obs: PlateObservation, live: dict[int, Track], pts: float, touched: set[int]
    ) -> _Open | None:
        """Return the passage a plate belongs to: its vehicle's, or a plate-only one nearby."""
        if obs.box.vehicle is not None:
            return self._passage(obs.box.vehicle)
        centre = obs.box.bbox.center
        for track in live.values():
            box = track.bbox
            if track.label in self._vehicles and box.contains(centre):
                passage = self._vehicle_passage(track)
                passage.last_pts = pts
                return passage
        return self._plate_passage(obs.box.bbox, pts, touched)

    def _vehicle_passage(self, track: Track) -> _Open:
        """Return a vehicle's passage; a new one takes over its plate's plate-only passage.

        Over the frame, a plate is read before its vehicle's track is confirmed: without this,
        one vehicle made two passages (two matches, two counts). The passage taken over keeps
        its trail of plate boxes, and its direction comes from them.
        """
        if track.track_id not in self._open:
            box = track.bbox
            for orphan in list(self._open.values()):
                last = orphan.plate_box
                if orphan.key >= 0 or last is None:
                    continue
                if box.contains(last.center):
                    del self._open[orphan.key]
                    orphan.key = track.track_id
                    self._open[track.track_id] = orphan
                    break
        return self._passage(track.track_id)

    def _nearby_plate_passage(self, box: BBox, touched: set[int]) -> _Open | None:
        """Return the open plate-only passage whose last plate was near this box, if any."""
        for passage in self._open.values():
            if passage.key >= 0 or passage.key in touched or passage.plate_box is None:
                continue
            last = passage.plate_box
            reach = 2.0 * max(last.width, box.width)
            dx, dy = box.center[0] - last.center[0], box.center[1] - last.center[1]
            if dx * dx + dy * dy <= reach * reach:
                return passage
        return None

    def _plate_passage(self, box: BBox, pts: float, touched: set[int]) -> _Open:
        passage = self._nearby_plate_passage(box, touched)
        if passage is None:
            passage = self._passage(self._next_plate_key)
            passage.plate_trail = True
            self._next_plate_key -= 1
        passage.last_pts = pts
        return passage

    def _close_gone(self, frame: Frame, live: dict[int, Track]) -> list[RuleEvent]:
        events: list[RuleEvent] = []
        for key in list(self._open):
            passage = self._open[key]
            gone = key not in live if key >= 0 else frame.pts_s - passage.last_pts > PLATE_GAP_S
            if gone:
                events += self._decide(self._open.pop(key), frame)
        return events

    def _decide(self, passage: _Open, frame: Frame) -> list[RuleEvent]:
        """Send a passage's vote to the sink once; forget its reads and crop either way."""
        if passage.done:
            return []
        passage.done = True
        voted = passage.vote.result()
        crop, passage.crop = passage.crop, None
        passage.vote = PlateVote(self.reader.formats)
        if voted is None or voted.confidence < self.spec.min_confidence:
            return []
        decided = Passage(
            camera_id=self.camera_id,
            track_id=passage.key if passage.key >= 0 else None,
            plate=voted,
            direction=direction_of(passage.trail),
            crop=crop,
        )
        return self.sink.passage(decided, self.spec, frame)

    def _region(self, frame: Frame) -> BBox | None:
        if self.spec.region is None:
            return None
        (x1, y1), (x2, y2) = self.spec.region
        return BBox(x1 * frame.width, y1 * frame.height, x2 * frame.width, y2 * frame.height)


def direction_of(trail: Sequence[BBox]) -> str:
    """Return which way a passage went, from its first and last boxes.

    ``approaching`` or ``receding`` when the box grew or shrank (or moved down or up the frame),
    ``left_to_right`` or ``right_to_left`` when it mostly moved sideways, ``stationary`` when it
    barely moved, ``unknown`` from a single sighting.
    """
    if len(trail) < 2:
        return "unknown"
    first, last = trail[0], trail[-1]
    scale = max(first.height, last.height, 1.0)
    # A vehicle close to the camera is cut by the frame edge: its other side still grows.
    ratios = (last.width / max(first.width, 1.0), last.height / max(first.height, 1.0))
    dx = last.center[0] - first.center[0]
    dy = last.y2 - first.y2
    vertical = abs(dy) >= abs(dx)
    if max(ratios) > 1.08 or (dy > 0.25 * scale and min(ratios) >= 0.95 and vertical):
        return "approaching"
    if min(ratios) < 0.93 or (dy < -0.25 * scale and max(ratios) <= 1.05 and vertical):
        return "receding"
    if dx > 0.5 * scale:
        return "left_to_right"
    if dx < -0.5 * scale:
        return "right_to_left"
    return "stationary"


def make_event(
    kind: str, frame: Frame, track_id: int | None, attrs: dict[str, AttrValue]
) -> RuleEvent:
    """Build an instant ANPR event stamped with the frame's camera, time and latency."""
    return RuleEvent(
        kind=kind,
        camera_id=frame.camera_id,
        rule_id=RULE_ID,
        track_id=track_id,
        phase=EventPhase.INSTANT,
        at_s=frame.pts_s,
        frame_index=frame.index,
        wall_time=time.time(),
        latency_s=max(0.0, time.monotonic() - frame.received_at),
        attrs=attrs,
    )
