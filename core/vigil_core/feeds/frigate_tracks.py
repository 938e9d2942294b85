"""Turn Frigate's tracked objects into Vigil tracks, so Vigil's rules run on Frigate's detections.

A camera whose detections come from Frigate runs no detector and no tracker: its pipeline asks
a `FrigateTrackFeed` for the tracks at each analysed frame (`TrackProvider`). The feed keeps
what the MQTT messages said about each object — box, class, score, path — and replays it in
Frigate's time order, one step per moment Frigate saw something, so a line crossed between two
analysed frames is still crossed once, in the right direction.

What the messages give, and what they do not:

- Frigate publishes an object when it changes significantly, not on every frame (see
  frigate_mqtt.py). Between messages the object keeps its last box and is reported unmatched
  (as a tracker reports a coasting prediction). From 0.15 the messages carry the object's path
  (a point every 5 % of the frame's diagonal), which fills in the movement between them.
- Boxes are pixels of Frigate's detect resolution; the feed keeps them relative (0–1) and
  scales them to each frame it is asked about (the restream may be another size).
- Ids are Frigate event ids (``1607123955.475377-mxklsc``); a track id is a stable 31-bit hash
  of it, the same in every process.
- Times: Frigate's frame times are moved onto the local clock by the smallest delay seen
  between a frame and its message (so Frigate's clock may differ from ours). A message often
  reports moments older than what the rules already saw (its path, or a message that waited
  for a better snapshot): those moments are replayed in their order just after the newest one
  seen, a millisecond apart, while the tracks' history and velocity keep their true times.
- When Frigate goes offline its objects are forgotten (its tracker state is gone too); an
  object not mentioned for `stale_s` is dropped (Frigate mentions a live one every minute).

Plates Frigate recognised (0.16+) go to a `PlateSink`, never into events or logs: with the
camera's plate reading on, a `FrigatePlateStage` hands each vehicle's best read to Vigil's plate
sink (anpr/) as a passage, so the watchlist and the privacy mode decide what becomes of it, as
for Vigil's own reads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
import hashlib
import logging
import math
import threading
import time
from typing import Final

import numpy as np

from vigil_core.anpr.stage import Passage, PassageSink, direction_of
from vigil_core.anpr.vote import VotedPlate
from vigil_core.config import (
    AnprSpec,
    CameraSpec,
    FrigateDetectionSpec,
    FrigateMqttSpec,
)
from vigil_core.errors import VigilError
from vigil_core.events.model import RuleEvent, SourceState, SourceStateEvent
from vigil_core.feeds.frigate_mqtt import (
    FrigateAvailability,
    FrigateEventType,
    FrigateMessage,
    FrigateObjectUpdate,
    FrigatePlateText,
    FrigatePlateUpdate,
    FrigateRouter,
    MqttTransport,
    PahoTransport,
)
from vigil_core.plates.normalize import canonical, find_format, formats_for
from vigil_core.privacy.masks import PrivacyMasks
from vigil_core.sources.base import FrameCallback, SourceStats, StateCallback
from vigil_core.stages import TrackStage, TrackStep
from vigil_core.types import BBox, Frame, RGBImage, Track, TrackState

_LOGGER = logging.getLogger(__name__)

_EPSILON_S: Final = 0.001
"""Spacing of moments replayed after newer ones: the rules' time never stands still."""
MAX_PENDING: Final = 5000
"""Messages kept while no frame is analysed (restream down); the oldest go first."""
_OFFSET_WINDOW: Final = 50
_HISTORY_LEN: Final = 50

type SourceFactory = Callable[[FrameCallback, StateCallback], "TickSource"]


def track_id(event_id: str) -> int:
    """Return the stable track id of a Frigate event id (a positive 31-bit integer)."""
    digest = hashlib.blake2b(event_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True, slots=True, kw_only=True)
class FrigatePlate:
    """A plate Frigate read on one of a camera's tracks: what `PlateSink`s receive."""

    camera_id: str
    track_id: int
    text: str
    score: float | None
    at_s: float
    """Frigate time of the read (the step it came with)."""
    source: str = "frigate"


type PlateSink = Callable[[FrigatePlate], None]
"""Takes each plate read (on the camera's analysis thread); `FrigatePlateStage.receive` is one."""


@dataclass(frozen=True, slots=True)
class _Reset:
    """Frigate went offline: every object it tracked is gone."""


@dataclass(frozen=True, slots=True)
class _Observation:
    """One moment of one object: a box from a message, or a path point between messages."""

    pts_s: float
    """When Frigate saw it, on the local clock."""
    event_id: str
    label: str
    score: float
    box: tuple[float, float, float, float]
    """Relative (0–1) x1, y1, x2, y2."""
    stationary: bool
    ends: bool = False
    plate: FrigatePlateText | None = None


@dataclass(frozen=True, slots=True)
class _PlateObservation:
    """A plate update, replayed in time order with the observations around it."""

    pts_s: float
    message: FrigatePlateUpdate


@dataclass(slots=True)
class _Moment:
    """The observations of one moment, or a reset (Frigate went offline)."""

    pts_s: float
    observations: list[_Observation | _PlateObservation] = field(default_factory=list)
    reset: bool = False


@dataclass(slots=True)
class _Object:
    """What the feed knows about one Frigate object."""

    track_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]
    first_seen_s: float
    last_seen_s: float
    """On the rules' timeline (moments replayed late are a millisecond apart)."""
    observed_s: float
    """When Frigate last saw it (local clock): history and velocity use these times."""
    hits: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)
    """Relative units per second."""
    history: deque[tuple[float, float, float]] = field(
        default_factory=lambda: deque(maxlen=_HISTORY_LEN)
    )
    plate: FrigatePlateText | None = None


class FrigateTrackFeed:
    """Keep one Frigate camera's objects and give them to the pipeline as tracks.

    `receive` runs on the MQTT side (paho's thread or Home Assistant's loop): it only appends
    to a deque, which never blocks. Everything else runs on the camera's analysis thread.
    """

    def __init__(
        self,
        camera_id: str,
        spec: FrigateDetectionSpec,
        *,
        plate_sink: PlateSink | None = None,
        masks: PrivacyMasks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Start empty; Frigate counts as online until it says otherwise.

        `masks` are the camera's privacy masks: a plate Frigate read on a vehicle standing
        inside one is dropped (the pipeline drops such tracks too).
        """
        self.camera_id = camera_id
        self.spec = spec
        self._plate_sink = plate_sink
        self._masks = masks or PrivacyMasks(())
        self._clock = clock
        self._width, self._height = spec.detect_size
        self._pending: deque[FrigateObjectUpdate | FrigatePlateUpdate | _Reset] = deque(
            maxlen=MAX_PENDING
        )
        self._offsets: deque[float] = deque(maxlen=_OFFSET_WINDOW)
        self._offset = 0.0
        self._objects: dict[str, _Object] = {}
        self._seen_until: dict[str, float] = {}
        """Newest frame time each live object's messages reached (late ones are skipped)."""
        self._ended: deque[str] = deque(maxlen=256)
        self._last_pts = -math.inf
        self.available = True
        self.messages = 0

    # MQTT side -------------------------------------------------------------------------------

    def receive(self, message: FrigateMessage) -> None:
        """Queue one message of this camera; never blocks."""
        self.messages += 1
        if isinstance(message, FrigateAvailability):
            self.available = message.online
            if not message.online:
                self._pending.append(_Reset())
            return
        if isinstance(message, FrigateObjectUpdate):
            self._offsets.append(self._clock() - message.frame_time)
            self._offset = min(self._offsets)
        elif isinstance(message, FrigatePlateUpdate) and not self._offsets:
            return  # no object was seen yet: the plate belongs to none of ours
        self._pending.append(message)

    # Analysis side ---------------------------------------------------------------------------

    def now(self) -> float:
        """Return the current time (local clock)."""
        return self._clock()

    def _next_pts(self, at: float) -> float:
        """Return the rules' time of a moment seen at `at`: never before the last one."""
        self._last_pts = max(at, self._last_pts + _EPSILON_S)
        return self._last_pts

    def steps(self, frame: Frame) -> list[TrackStep]:
        """Return the tracks at each moment since the last call, scaled to `frame`."""
        size = (frame.width, frame.height)
        steps = []
        for moment in self._moments(self._drain()):
            self._expire(moment.pts_s)
            if moment.reset:
                self._forget_all()
            else:
                steps.append(self._step(moment, size))
        if not steps:
            pts = self._next_pts(self.now())
            self._expire(pts)
            steps.append(self._step(_Moment(pts), size))
        return steps

    def _drain(self) -> list[_Observation | _PlateObservation | _Reset]:
        """Take every queued message; turn object updates into timed observations."""
        items: list[_Observation | _PlateObservation | _Reset] = []
        while True:
            try:
                message = self._pending.popleft()
            except IndexError:
                return items
            if isinstance(message, _Reset):
                items.append(message)
                self._seen_until.clear()
            elif isinstance(message, FrigatePlateUpdate):
                at = (
                    message.timestamp + self._offset
                    if message.timestamp is not None
                    else self.now()
                )
                items.append(_PlateObservation(at, message))
            else:
                items += self._observations(message)

    def _moments(self, items: list[_Observation | _PlateObservation | _Reset]) -> list[_Moment]:
        """Group observations by time, oldest first; a reset closes what came before it."""
        moments: list[_Moment] = []
        segment: list[_Observation | _PlateObservation] = []

        def flush() -> None:
            segment.sort(key=lambda obs: obs.pts_s)
            seen_at = math.nan
            for obs in segment:
                if obs.pts_s != seen_at:
                    seen_at = obs.pts_s
                    moments.append(_Moment(self._next_pts(seen_at)))
                moments[-1].observations.append(obs)
            segment.clear()

        for item in items:
            if isinstance(item, _Reset):
                flush()
                moments.append(_Moment(self._next_pts(self.now()), reset=True))
            else:
                segment.append(item)
        flush()
        return moments

    def _observations(self, message: FrigateObjectUpdate) -> list[_Observation]:
        """Return the moments one message tells about: its new path points, then its box."""
        event_id = message.event_id
        if event_id in self._ended:
            return []  # a late message for an object that already ended
        until = self._seen_until.get(event_id, -math.inf)
        if message.frame_time < until and message.type is not FrigateEventType.END:
            return []  # an older message arriving late
        box = self._relative(message.box)
        offset = self._offset
        observations = [
            _Observation(
                pts_s=at + offset,
                event_id=event_id,
                label=message.label,
                score=message.score,
                box=_moved_to(box, x, y),
                stationary=False,
            )
            for at, x, y in message.path
            if until < at < message.frame_time
        ]
        observations.append(
            _Observation(
                pts_s=message.frame_time + offset,
                event_id=event_id,
                label=message.label,
                score=message.score,
                box=box,
                stationary=message.stationary,
                ends=message.type is FrigateEventType.END,
                plate=message.plate,
            )
        )
        if message.type is FrigateEventType.END:
            self._seen_until.pop(event_id, None)
            self._ended.append(event_id)
        else:
            self._seen_until[event_id] = max(until, message.frame_time)
        return observations

    def _relative(
        self, box: tuple[float, float, float, float]
    ) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = box
        w, h = self._width, self._height
        return (
            min(x1 / w, 1.0),
            min(y1 / h, 1.0),
            min(x2 / w, 1.0),
            min(y2 / h, 1.0),
        )

    def _step(self, moment: _Moment, size: tuple[int, int]) -> TrackStep:
        """Apply one moment's observations; return every live object (ended ones a last time)."""
        seen = set()
        ended = []
        for obs in moment.observations:
            if isinstance(obs, _PlateObservation):
                self._plate_update(obs.message, moment.pts_s)
                continue
            seen.add(obs.event_id)
            obj = self._apply(moment.pts_s, obs)
            if obs.ends:
                ended.append(obs.event_id)
            if obs.plate is not None:
                self._plate(obj, obs.plate, moment.pts_s)
        tracks = tuple(
            _track(obj, event_id in seen, size) for event_id, obj in self._objects.items()
        )
        for event_id in ended:
            self._objects.pop(event_id, None)
        return TrackStep(pts_s=moment.pts_s, tracks=tracks)

    def _apply(self, pts: float, obs: _Observation) -> _Object:
        obj = self._objects.get(obs.event_id)
        if obj is None:
            obj = _Object(
                track_id=track_id(obs.event_id),
                label=obs.label,
                score=obs.score,
                box=obs.box,
                first_seen_s=pts,
                last_seen_s=pts,
                observed_s=obs.pts_s,
            )
            self._objects[obs.event_id] = obj
        x, y = _bottom_center(obs.box)
        if obj.history and obs.pts_s > obj.observed_s:
            px, py = _bottom_center(obj.box)
            dt = obs.pts_s - obj.observed_s
            obj.velocity = (0.0, 0.0) if obs.stationary else ((x - px) / dt, (y - py) / dt)
        obj.box, obj.label, obj.score = obs.box, obs.label, obs.score
        obj.last_seen_s = pts
        obj.observed_s = max(obj.observed_s, obs.pts_s)
        obj.hits += 1
        if not obj.history or obs.pts_s > obj.history[-1][0]:
            obj.history.append((obs.pts_s, x, y))
        return obj

    def _expire(self, pts: float) -> None:
        stale = [
            event_id
            for event_id, obj in self._objects.items()
            if pts - obj.last_seen_s > self.spec.stale_s
        ]
        for event_id in stale:
            del self._objects[event_id]
            self._seen_until.pop(event_id, None)

    def _forget_all(self) -> None:
        self._objects.clear()
        self._seen_until.clear()

    def _plate_update(self, message: FrigatePlateUpdate, pts: float) -> None:
        obj = self._objects.get(message.event_id)
        if obj is not None:
            self._plate(obj, message.plate, pts)

    def _plate(self, obj: _Object, plate: FrigatePlateText, pts: float) -> None:
        """Hand a plate to the sink when it is new for the object or read with more confidence."""
        if self._masks.hides(BBox(*obj.box), 1, 1):
            return  # read on a vehicle inside a privacy mask: Vigil never looks there
        best = obj.plate
        if best is not None and best.text == plate.text:
            return
        if best is not None and (plate.score or 0.0) < (best.score or 0.0):
            return
        obj.plate = plate
        if self._plate_sink is not None:
            self._plate_sink(
                FrigatePlate(
                    camera_id=self.camera_id,
                    track_id=obj.track_id,
                    text=plate.text,
                    score=plate.score,
                    at_s=pts,
                )
            )


def _bottom_center(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2.0, box[3])


def _moved_to(
    box: tuple[float, float, float, float], x: float, y: float
) -> tuple[float, float, float, float]:
    """Return `box` moved so that its bottom centre is at (x, y)."""
    half = (box[2] - box[0]) / 2.0
    height = box[3] - box[1]
    return (x - half, y - height, x + half, y)


def _track(obj: _Object, matched: bool, size: tuple[int, int]) -> Track:
    width, height = size
    x1, y1, x2, y2 = obj.box
    return Track(
        track_id=obj.track_id,
        bbox=BBox(x1 * width, y1 * height, x2 * width, y2 * height),
        label=obj.label,
        score=obj.score,
        state=TrackState.CONFIRMED,
        velocity=(obj.velocity[0] * width, obj.velocity[1] * height),
        first_seen_s=obj.first_seen_s,
        last_seen_s=obj.last_seen_s,
        hits=obj.hits,
        matched=matched,
        history=tuple((t, x * width, y * height) for t, x, y in obj.history),
    )


# Plates ------------------------------------------------------------------------------------------

_TRAIL_LEN: Final = 20


class FrigatePlateStage:
    """Hand each vehicle's plate, as Frigate read it, to Vigil's plate sink (a `TrackStage`).

    Frigate refines a moving vehicle's plate while it is tracked; the best read (the highest
    score) becomes one passage when the vehicle's track ends, with the direction its boxes went,
    exactly like a passage Vigil read itself. Reads under the camera's `min_confidence` are
    dropped. No crop is kept: Vigil never had the pixels Frigate read.
    """

    name = "frigate_plates"

    def __init__(self, camera_id: str, spec: AnprSpec, sink: PassageSink) -> None:
        """Keep the camera's plate settings and the sink."""
        self.camera_id = camera_id
        self.spec = spec
        self.sink = sink
        self._formats = formats_for(spec.countries) if spec.countries else ()
        self._best: dict[int, FrigatePlate] = {}
        self._trails: dict[int, deque[BBox]] = {}
        self._last_frame: Frame | None = None

    def receive(self, plate: FrigatePlate) -> None:
        """Keep a read for its vehicle if it is the best so far (the feed calls this)."""
        score = plate.score if plate.score is not None else 1.0
        if score < self.spec.min_confidence:
            return
        best = self._best.get(plate.track_id)
        if best is None or score >= (best.score if best.score is not None else 1.0):
            self._best[plate.track_id] = plate

    def process(self, frame: Frame, tracks: Sequence[Track], *, fresh: bool) -> list[RuleEvent]:
        """Follow the vehicles with a plate; decide the passages of those that left."""
        del fresh
        self._last_frame = frame
        live = {track.track_id: track for track in tracks}
        for track_id in self._best:
            track = live.get(track_id)
            if track is not None:
                self._trails.setdefault(track_id, deque(maxlen=_TRAIL_LEN)).append(track.bbox)
        gone = [track_id for track_id in self._best if track_id not in live]
        return [event for track_id in gone for event in self._decide(track_id, frame)]

    def finish(self) -> list[RuleEvent]:
        """Decide every passage still open: the stream ended."""
        frame = self._last_frame
        if frame is None:
            return []
        return [event for track_id in list(self._best) for event in self._decide(track_id, frame)]

    def _decide(self, track_id: int, frame: Frame) -> list[RuleEvent]:
        plate = self._best.pop(track_id)
        trail = self._trails.pop(track_id, ())
        text = canonical(plate.text)
        if not text:
            return []
        voted = VotedPlate(
            text=text,
            confidence=plate.score if plate.score is not None else 1.0,
            reads=1,
            format=find_format(text, self._formats) if self._formats else None,
        )
        passage = Passage(
            camera_id=self.camera_id,
            track_id=track_id,
            plate=voted,
            direction=direction_of(list(trail)),
            crop=None,
        )
        return self.sink.passage(passage, self.spec, frame)


# Frames for cameras that need no pixels -------------------------------------------------------

_BLANK: dict[tuple[int, int], RGBImage] = {}


def blank_image(size: tuple[int, int]) -> RGBImage:
    """Return a shared, read-only black image of `size` (width, height)."""
    image = _BLANK.get(size)
    if image is None:
        image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        image.flags.writeable = False
        _BLANK[size] = image
    return image


class TickSource:
    """Frames without pixels at a steady rate, for a Frigate camera whose rules need none.

    Each frame only carries Frigate's detect resolution and the time; the pipeline asks the
    track feed for the tracks at each one. The source is online while `health` returns None,
    else offline for the reason it returns (a translation key): no broker, Frigate stopped.
    """

    def __init__(
        self,
        camera_id: str,
        size: tuple[int, int],
        *,
        fps: float,
        on_frame: FrameCallback,
        on_state: StateCallback,
        health: Callable[[], str | None],
    ) -> None:
        """Keep the settings; nothing runs until `start`."""
        self._camera_id = camera_id
        self._size = size
        self._period = 1.0 / fps
        self._on_frame = on_frame
        self._on_state = on_state
        self._health = health
        self._state = SourceState.OFFLINE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._delivered = 0
        self._last_frame_at: float | None = None

    @property
    def camera_id(self) -> str:
        """Return the camera this source feeds."""
        return self._camera_id

    @property
    def state(self) -> SourceState:
        """Return the current state."""
        return self._state

    @property
    def stats(self) -> SourceStats:
        """Return the counters."""
        return SourceStats(
            frames_decoded=self._delivered,
            frames_delivered=self._delivered,
            last_frame_at=self._last_frame_at,
            input_fps=1.0 / self._period,
        )

    def start(self) -> None:
        """Start ticking on a thread; return at once."""
        self._stop.clear()
        self._set_state(SourceState.CONNECTING, "connecting")
        self._thread = threading.Thread(
            target=self._run, name=f"vigil-frigate-{self._camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop ticking; return whether the thread ended within `timeout`."""
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at = max(next_at + self._period, time.monotonic())
            problem = self._health()
            if problem is not None:
                self._set_state(SourceState.OFFLINE, problem)
                continue
            self._set_state(SourceState.ONLINE, "online")
            now = time.monotonic()
            self._on_frame(
                Frame(
                    camera_id=self._camera_id,
                    index=self._delivered,
                    pts_s=time.time(),
                    received_at=now,
                    image=blank_image(self._size),
                    source_size=self._size,
                )
            )
            self._delivered += 1
            self._last_frame_at = now

    def _set_state(self, state: SourceState, key: str) -> None:
        if state is self._state:
            return
        self._state = state
        self._on_state(
            SourceStateEvent(
                camera_id=self._camera_id,
                state=state,
                wall_time=time.time(),
                reason=_REASONS.get(key, key),
                translation_key=key,
            )
        )


_REASONS: Final = {
    "connecting": "waiting for Frigate",
    "online": "Frigate's detections flow",
    "mqtt_disconnected": "the MQTT broker is unreachable",
    "frigate_offline": "Frigate is offline",
}


# Wiring for the engine ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrigatePipelineParts:
    """What a camera's pipeline needs to take its tracks from Frigate."""

    camera: CameraSpec
    """The camera, at the rate its frames are analysed (the restream's low rate with pixels)."""
    provider: FrigateTrackFeed
    source_factory: SourceFactory | None
    """Pixel-free frames; None when the restream (the camera's source) is decoded."""
    track_stages: list[TrackStage] | None = None
    """Frigate's plate reads, when they replace Vigil's; None: the camera's own stages."""


def needs_pixels(camera: CameraSpec) -> bool:
    """Return whether a Frigate camera's analysis needs the restream's pixels."""
    spec = camera.frigate
    if spec is None or spec.pixels == "always":
        return True
    if spec.pixels == "never":
        return False
    reads_plates = camera.anpr.enabled and spec.plates == "vigil"
    return reads_plates or camera.tamper.enabled or any(rule.needs_pixels for rule in camera.rules)


def plates_from_frigate(camera: CameraSpec) -> bool:
    """Return whether a Frigate camera's plates are Frigate's reads (not Vigil's own)."""
    spec = camera.frigate
    return spec is not None and camera.anpr.enabled and spec.plates == "frigate"


class FrigateDetections:
    """Connect the cameras that take Frigate's detections to its MQTT topics.

    One router per topic prefix (one per Frigate server) over one transport: Home Assistant's
    MQTT integration when given, else a paho-mqtt client to `mqtt`.
    """

    def __init__(
        self,
        mqtt: FrigateMqttSpec | None = None,
        *,
        transport: MqttTransport | None = None,
    ) -> None:
        """Keep the settings; nothing connects until a camera is attached."""
        self._mqtt = mqtt
        self._transport = transport
        self._owned: PahoTransport | None = None
        self._routers: dict[str, FrigateRouter] = {}
        self._feeds: dict[str, tuple[FrigateRouter, str]] = {}

    async def attach(
        self, camera: CameraSpec, *, passages: PassageSink | None = None
    ) -> FrigatePipelineParts:
        """Subscribe for one camera; return its track feed and where its frames come from.

        `passages` is Vigil's plate sink (the ANPR service): Frigate's plate reads go there
        when the camera reads plates and takes them from Frigate.
        """
        spec = camera.frigate
        if spec is None:
            raise VigilError(f"camera {camera.id} has no Frigate section")
        router = await self._router(spec.topic_prefix)
        if spec.camera in router.receivers:
            raise VigilError(f"Frigate camera {spec.camera} is already taken by another camera")
        stages: list[TrackStage] | None = None
        sink: PlateSink | None = None
        if plates_from_frigate(camera) and passages is not None:
            plate_stage = FrigatePlateStage(camera.id, camera.anpr, passages)
            stages, sink = [plate_stage], plate_stage.receive
        feed = FrigateTrackFeed(
            camera.id, spec, plate_sink=sink, masks=PrivacyMasks(camera.privacy_masks)
        )
        router.receivers[spec.camera] = feed
        self._feeds[camera.id] = (router, spec.camera)
        if needs_pixels(camera):
            return FrigatePipelineParts(
                camera=camera.model_copy(update={"fps": spec.pixel_fps}),
                provider=feed,
                source_factory=None,
                track_stages=stages,
            )

        transport = router.transport

        def health() -> str | None:
            if not transport.connected:
                return "mqtt_disconnected"
            return None if feed.available else "frigate_offline"

        def source(on_frame: FrameCallback, on_state: StateCallback) -> TickSource:
            return TickSource(
                camera.id,
                spec.detect_size,
                fps=camera.fps,
                on_frame=on_frame,
                on_state=on_state,
                health=health,
            )

        return FrigatePipelineParts(
            camera=camera, provider=feed, source_factory=source, track_stages=stages
        )

    async def detach(self, camera_id: str) -> None:
        """Stop routing a camera's messages."""
        entry = self._feeds.pop(camera_id, None)
        if entry is not None:
            router, name = entry
            router.receivers.pop(name, None)

    async def close(self) -> None:
        """Unsubscribe everything; close the transport (Vigil's own broker connection)."""
        self._feeds.clear()
        for router in self._routers.values():
            router.stop()
        self._routers.clear()
        if self._transport is not None:
            await self._transport.close()
        self._transport = self._owned = None

    async def _router(self, prefix: str) -> FrigateRouter:
        router = self._routers.get(prefix)
        if router is None:
            router = FrigateRouter(await self._transport_or_own(), prefix)
            await router.start()
            self._routers[prefix] = router
        return router

    async def _transport_or_own(self) -> MqttTransport:
        if self._transport is not None:
            return self._transport
        if self._mqtt is None:
            raise VigilError(
                "a camera takes Frigate's detections but no MQTT broker is configured "
                "(frigate_mqtt)"
            )
        self._owned = PahoTransport(self._mqtt)
        await self._owned.start()
        self._transport = self._owned
        return self._owned
