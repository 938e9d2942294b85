"""Validated configuration of the engine: cameras, zones, detector and inference settings."""

from __future__ import annotations

from datetime import date, datetime, timedelta
import itertools
from pathlib import Path
import re
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vigil_core.redact import StreamAddress

from .errors import ConfigInvalid, InvalidPolygon, VigilError
from .geometry.calibration import Homography, rectangle_from_distances
from .geometry.line import validate_line
from .geometry.polygon import validate_polygon
from .plates.normalize import COUNTRIES
from .plates.watchlist import parse_pattern
from .privacy.context import PrivacySpec

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

type Point = tuple[float, float]

COCO_VEHICLES = ("car", "truck", "bus", "motorcycle", "bicycle")

WATCH_REASON_MIN_CHARS = 10
"""A watchlist entry's reason is a sentence (``stolen van``), not a word."""
PUBLIC_WATCH_MAX_DAYS = 30
"""In public space a watchlist entry expires at most this many days ahead."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def field_error(err: VigilError) -> PydanticCustomError:
    """Return a validation error that keeps the engine error's translation key as its type.

    Clients (Home Assistant's forms) show the error translated by that key; the message is
    the English fallback.
    """
    return PydanticCustomError(err.translation_key, "{message}", {"message": err.message})


def _check_slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(
            "must be a slug: lower-case letters, digits, '-' or '_', starting with a letter or "
            "digit"
        )
    return value


class ZoneSpec(_Model):
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

    _slug = field_validator("id")(_check_slug)

    @field_validator("polygon")
    @classmethod
    def _polygon_ok(cls, value: list[Point]) -> list[Point]:
        try:
            validate_polygon(value)
        except InvalidPolygon as err:
            raise field_error(err) from err
        return value


class MotionSpec(_Model):
    """Cheap frame-difference gate that skips inference on static frames."""

    enabled: bool = True
    threshold: Annotated[
        float,
        Field(
            gt=0,
            le=255,
            description="Mean absolute grey-level change of a cell that counts as motion.",
        ),
    ] = 12.0
    min_area: Annotated[
        float, Field(ge=0, le=1, description="Fraction of the downscaled frame that must move.")
    ] = 0.0005
    refresh_s: Annotated[
        float,
        Field(
            gt=0,
            le=600,
            description="Run inference at least this often, so stopped objects stay tracked.",
        ),
    ] = 2.0


class KServeSpec(_Model):
    """A KServe v2 (Open Inference Protocol) server that runs the detector's model.

    Triton, KServe and Seldon MLServer speak this protocol over REST. The server hosts the same
    model file; pre- and post-processing stay here, so the detections match the local session's.
    """

    url: Annotated[
        str,
        Field(
            pattern=r"^https?://[^/\s]+(/[^\s]*)?$",
            description="Base URL of the server (http://host:8000 for Triton); the protocol's "
            "paths (/v2/...) are added to it.",
        ),
    ]
    model: Annotated[
        str | None,
        Field(
            min_length=1,
            description="Name the server hosts the model under (default: the detector's model).",
        ),
    ] = None
    timeout_s: Annotated[
        float, Field(gt=0, le=60, description="Longest wait for one request's answer.")
    ] = 2.0
    retries: Annotated[
        int,
        Field(ge=0, le=5, description="Further attempts of a failed request before giving up."),
    ] = 1
    retry_after_s: Annotated[
        float,
        Field(
            gt=0,
            le=600,
            description="While the server is away, try it again after this long (one request).",
        ),
    ] = 5.0
    fallback: Annotated[
        Literal["local", "none"],
        Field(
            description="local: run the local onnxruntime session while the server is away; "
            "none: detect nothing until it is back (tracks wait, camera-health checks go on)."
        ),
    ] = "local"
    max_batch: Annotated[
        int,
        Field(
            ge=1,
            le=64,
            description="Most images sent in one request (frames of several cameras gathered "
            "by the shared batcher).",
        ),
    ] = 4
    max_wait_ms: Annotated[
        float, Field(ge=0, le=1000, description="Longest wait for a request's batch to fill.")
    ] = 5.0
    requests: Annotated[
        int, Field(ge=1, le=16, description="Requests in flight at once (batcher workers).")
    ] = 2


class DetectorSpec(_Model):
    """Which object detector runs and how its output is filtered."""

    model: str = "yolox_nano"
    backend: Annotated[
        Literal["local", "kserve"],
        Field(
            description="local: the shared onnxruntime session; kserve: a KServe v2 / Triton "
            "server (settings in `kserve`)."
        ),
    ] = "local"
    kserve: Annotated[
        KServeSpec | None,
        Field(description="The inference server, when backend is kserve."),
    ] = None
    confidence: Annotated[
        float,
        Field(
            gt=0,
            lt=1,
            description="Lowest detection score kept; the tracker uses low scores to keep "
            "tracks alive.",
        ),
    ] = 0.1
    nms_iou: Annotated[float, Field(gt=0, lt=1)] = 0.45
    classes: Annotated[
        list[str], Field(description="Classes kept from the detector; empty means all.")
    ] = Field(default_factory=lambda: ["person", *COCO_VEHICLES])
    input_fit: Annotated[
        Literal["aspect", "square"],
        Field(
            description="aspect: run each frame at its own aspect when the model allows it "
            "(416x256 for 16:9, about 0.6 of the square's cost, same scale); square: letterbox "
            "into the model's square input."
        ),
    ] = "aspect"

    @model_validator(mode="after")
    def _backend_settings(self) -> Self:
        if self.backend == "kserve" and self.kserve is None:
            raise ValueError("backend kserve needs the server's settings in detector.kserve")
        return self


class TrackerSpec(_Model):
    """ByteTrack-style association settings (defaults measured on PETS2009 with yolox_nano)."""

    high_score: Annotated[
        float,
        Field(gt=0, lt=1, description="Confident detections: matched first, keep tracks alive."),
    ] = 0.6
    low_score: Annotated[
        float,
        Field(gt=0, lt=1, description="Weaker ones down to this only continue tracks."),
    ] = 0.1
    new_track_score: Annotated[
        float,
        Field(gt=0, lt=1, description="A detection must score this to start a track."),
    ] = 0.6
    confirm_score: Annotated[
        float,
        Field(ge=0, lt=1, description="Median detection score a new track needs to confirm."),
    ] = 0.65
    match_iou: Annotated[
        float,
        Field(gt=0, lt=1, description="IoU with the predicted box a confident match needs."),
    ] = 0.1
    low_match_iou: Annotated[
        float,
        Field(gt=0, lt=1, description="IoU with the predicted box a weak match needs."),
    ] = 0.5
    lost_s: Annotated[
        float,
        Field(gt=0, le=60, description="Seconds a track survives without a confident detection."),
    ] = 3.0
    coast_s: Annotated[
        float,
        Field(ge=0, le=60, description="Seconds a missed track is still reported (matched=False)."),
    ] = 1.0
    min_hits: Annotated[
        int,
        Field(ge=1, le=30, description="Matched frames before a track is confirmed."),
    ] = 2
    history_len: Annotated[
        int,
        Field(ge=1, le=1000, description="Bottom-centre points kept per track."),
    ] = 50
    class_groups: Annotated[
        list[list[str]],
        Field(description="Labels that may swap within one track; others match only themselves."),
    ] = Field(default_factory=lambda: [["car", "truck", "bus"]])


class SourceSpec(_Model):
    """Where frames come from: a local file or an RTSP / HTTP(S) URL, and its credentials.

    Credentials never stay inside `url`: a URL given with ``user:password@`` (or with secret
    parameters such as Dahua's ``/user=…_password=…``, ``;pwd=…``, ``?u=…&p=…``) is split when
    parsed, into `username`, `password` and `url_secrets`, and `url` keeps ``***`` where a secret
    parameter's value was. The decoder composes the full URL only to open the stream
    (`address`); logs, errors and events show `url`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: Annotated[
        str,
        Field(
            description="A file path, file:// URL, rtsp(s):// or http(s):// URL; credentials in "
            "it are split out into the fields below."
        ),
    ]
    username: Annotated[
        str | None, Field(description="User name the stream asks for (or in the url's user@).")
    ] = None
    password: Annotated[
        SecretStr | None,
        Field(description="Its password; never logged, shown or put in an event."),
    ] = None
    url_secrets: Annotated[
        tuple[SecretStr, ...],
        Field(
            description="Values of the url's secret parameters, one per *** in it, in order "
            "(filled in when a url holding them is parsed)."
        ),
    ] = ()
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    stall_s: Annotated[
        float,
        Field(gt=0, le=120, description="No frame for this long marks a live source stalled."),
    ] = 3.0
    backoff_initial_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    realtime: Annotated[
        bool,
        Field(description="Pace file sources at their native speed (live sources always are)."),
    ] = False
    decode_threads: Annotated[
        int,
        Field(
            ge=0,
            le=16,
            description="Decoder threads; 0 picks 1 (two frame threads cost each frame more "
            "CPU, and every camera decodes on its own thread already).",
        ),
    ] = 0

    @model_validator(mode="before")
    @classmethod
    def _split_credentials(cls, data: Any) -> Any:
        """Split the credentials out of a url that holds them (user:password@, parameters)."""
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        if data.get("url_secrets"):
            return data  # a url split before (a copy of a validated spec): keep it as it is
        address = StreamAddress.parse(
            data["url"],
            username=data.get("username"),
            password=_secret_text(data.get("password")),
            strict=True,
        )
        return {
            **data,
            "url": address.url,
            "username": address.username,
            "password": address.password,
            "url_secrets": address.url_secrets,
        }

    @field_validator("url")
    @classmethod
    def _url_ok(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("is empty")
        scheme = value.split("://", 1)[0].lower() if "://" in value else "file"
        if scheme not in {"file", "rtsp", "rtsps", "rtmp", "http", "https"}:
            raise ValueError(
                f"scheme '{scheme}' is not supported (file, rtsp, rtsps, rtmp, http, https)"
            )
        return value

    @model_validator(mode="after")
    def _secrets_match_the_url(self) -> Self:
        self.address  # noqa: B018 - raises ValueError when the masks and the values disagree
        return self

    @property
    def address(self) -> StreamAddress:
        """Return the url and its credentials apart, for the decoder to compose when opening."""
        password = self.password.get_secret_value() if self.password is not None else None
        secrets = tuple(secret.get_secret_value() for secret in self.url_secrets)
        return StreamAddress.of(self.url, self.username, password, secrets)

    @property
    def display_url(self) -> str:
        """Return the url for logs, errors and events (no secret; ***@ for credentials)."""
        return self.address.display

    @property
    def is_file(self) -> bool:
        """Return whether the source is a local file."""
        return "://" not in self.url or self.url.lower().startswith("file://")

    @property
    def path(self) -> Path:
        """Return the local path of a file source."""
        return Path(self.url[7:] if self.url.lower().startswith("file://") else self.url)


def _secret_text(value: Any) -> Any:
    """Return the text of a password given as SecretStr (a copy of a spec) or as is."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


# ================================================================ rule specs (rules/*.py)
# Everything below up to the matching end marker belongs to the rule families: the ground
# calibration, the privacy masks and one spec per rule type, discriminated on `type`.

BAG_CLASSES = ("backpack", "handbag", "suitcase")

type Anchor = Literal["bottom_center", "center"]


def _check_polygon(value: list[Point]) -> list[Point]:
    try:
        validate_polygon(value)
    except InvalidPolygon as err:
        raise field_error(err) from err
    return value


class GroundCalibration(_Model):
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


class _RuleBase(_Model):
    id: Annotated[str, Field(description="Stable slug, unique among the camera's zones and rules.")]
    name: str = ""
    classes: Annotated[
        list[str], Field(description="Object classes the rule watches; empty means every class.")
    ] = Field(default_factory=lambda: ["person"])

    _slug = field_validator("id")(_check_slug)


class _RegionRule(_RuleBase):
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
        return None if value is None else _check_polygon(value)

    @model_validator(mode="after")
    def _one_region(self) -> Self:
        if self.zone is not None and self.polygon is not None:
            raise ValueError("give either zone or polygon, not both")
        if self.region_required and self.zone is None and self.polygon is None:
            raise ValueError("needs a zone (id) or a polygon")
        return self


class LineCrossingSpec(_RuleBase):
    """Count objects crossing a directed line, per class and direction."""

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


class LoiteringSpec(_RegionRule):
    """A track staying inside an area longer than a dwell time."""

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


class CrowdMovementSpec(_Model):
    """Detect a sudden collective speed-up or dispersal of the people in the area."""

    speedup_factor: Annotated[
        float,
        Field(
            gt=1, le=20, description="Mean speed this many times its recent level is a speed-up."
        ),
    ] = 2.5
    dispersal_factor: Annotated[
        float,
        Field(
            gt=1, le=20, description="Spread of the group growing this many times is a dispersal."
        ),
    ] = 1.8
    window_s: Annotated[
        float, Field(gt=0, le=60, description="Seconds over which the change must happen.")
    ] = 3.0
    min_people: Annotated[
        int, Field(ge=2, le=1000, description="Fewest people for a collective movement.")
    ] = 4
    min_speed_kmh: Annotated[
        float,
        Field(
            ge=0,
            le=100,
            description="The mean speed (speed-up) or the growth of the spread (dispersal) "
            "must reach this.",
        ),
    ] = 8.0


class CrowdSpec(_RegionRule):
    """People in an area: a count or, with a ground calibration, a density, in three levels."""

    type: Literal["crowd"]
    metric: Annotated[
        Literal["count", "density"],
        Field(description="Compare the count, or people per m² (needs the camera's calibration)."),
    ] = "count"
    high: Annotated[float, Field(gt=0, le=10000, description="Level 'high' from this value.")] = 5.0
    critical: Annotated[
        float, Field(gt=0, le=10000, description="Level 'critical' from this value.")
    ] = 10.0
    hysteresis: Annotated[
        float,
        Field(ge=0, lt=1, description="A level ends only below (1 − hysteresis) × its threshold."),
    ] = 0.2
    hold_s: Annotated[
        float,
        Field(ge=0, le=600, description="Seconds a new level must hold before it is reported."),
    ] = 2.0
    movement: CrowdMovementSpec | None = None

    @model_validator(mode="after")
    def _levels_ordered(self) -> Self:
        if self.critical <= self.high:
            raise ValueError(f"critical ({self.critical}) must be above high ({self.high})")
        return self


class FastMoveSpec(_RegionRule):
    """Objects moving faster than a threshold (px/s on the image, or km/h with a calibration)."""

    type: Literal["fast_move"]
    speed_kmh: Annotated[
        float | None, Field(gt=0, le=400, description="Threshold in km/h (needs a calibration).")
    ] = None
    speed_px_s: Annotated[
        float | None, Field(gt=0, le=100000, description="Threshold in image pixels per second.")
    ] = None
    min_duration_s: Annotated[
        float, Field(ge=0, le=60, description="Seconds the speed must stay over the threshold.")
    ] = 1.0
    window_s: Annotated[
        float, Field(gt=0, le=10, description="Seconds of track history each speed estimate uses.")
    ] = 1.5

    region_required: ClassVar[bool] = False

    @model_validator(mode="after")
    def _one_threshold(self) -> Self:
        if (self.speed_kmh is None) == (self.speed_px_s is None):
            raise ValueError("give one threshold: speed_kmh or speed_px_s")
        return self


class WrongWaySpec(_RegionRule):
    """Movement against the allowed direction of a zone or lane."""

    type: Literal["wrong_way"]
    direction: Annotated[
        list[Point],
        Field(
            description="2 points: the allowed direction of travel, from the first to the second."
        ),
    ]
    tolerance_deg: Annotated[
        float,
        Field(
            gt=0,
            lt=90,
            description="Movement within this angle of the opposite direction is wrong way.",
        ),
    ] = 45.0
    min_distance: Annotated[
        float,
        Field(
            gt=0,
            le=1,
            description="Distance (fraction of the frame's larger side) travelled the wrong way.",
        ),
    ] = 0.05
    classes: Annotated[
        list[str], Field(description="Classes watched; empty means every class.")
    ] = Field(default_factory=list)

    @field_validator("direction")
    @classmethod
    def _direction_ok(cls, value: list[Point]) -> list[Point]:
        try:
            validate_line(value)
        except ConfigInvalid as err:
            raise ValueError(err.message.replace("line", "direction")) from err
        return value


class ObjectLeftSpec(_RegionRule):
    """Objects left behind (static, unattended) and parts of the scene removed."""

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


class RouteSpec(_RuleBase):
    """An ordered sequence of the camera's zones, each step within a time limit."""

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

    def limit_s(self, step: int) -> float:
        """Return the time allowed for step `step` (0: from the first zone to the second)."""
        return self.step_s[step] if self.step_s is not None else self.max_step_s


type RuleSpec = Annotated[
    LineCrossingSpec
    | LoiteringSpec
    | CrowdSpec
    | FastMoveSpec
    | WrongWaySpec
    | ObjectLeftSpec
    | RouteSpec,
    Field(discriminator="type"),
]


def check_camera_rules(camera: CameraSpec) -> None:
    """Raise ValueError when a camera's rules refer to missing zones or a missing calibration."""
    zone_ids = {zone.id for zone in camera.zones}
    ids = [zone.id for zone in camera.zones] + [rule.id for rule in camera.rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"zone and rule ids must be unique, repeated: {', '.join(dupes)}")
    for rule in camera.rules:
        refs = rule.zones if isinstance(rule, RouteSpec) else [getattr(rule, "zone", None)]
        for ref in refs:
            if ref is not None and ref not in zone_ids:
                raise ValueError(f"rule {rule.id} refers to zone '{ref}', which is not defined")
        needs_calibration = (isinstance(rule, CrowdSpec) and rule.metric == "density") or (
            isinstance(rule, FastMoveSpec) and rule.speed_kmh is not None
        )
        if needs_calibration and camera.calibration is None:
            raise ValueError(f"rule {rule.id} works in metres: the camera needs a calibration")


# ================================================================ end of rule specs


class TamperSpec(_Model):
    """Camera-health checks that need no object model (health/): each one a binary condition."""

    enabled: Annotated[bool, Field(description="Run the camera-health checks on this camera.")] = (
        True
    )
    obstruction: Annotated[
        bool,
        Field(description="Watch for a large part of the view covered, darkened or made uniform."),
    ] = True
    defocus: Annotated[
        bool, Field(description="Watch for sharpness falling well below the learned baseline.")
    ] = True
    orientation: Annotated[
        bool,
        Field(description="Watch for the view no longer matching the reference (turned, zoomed)."),
    ] = True
    stream_loss: Annotated[
        bool, Field(description="Watch for no frames, frozen frames or a collapsing frame rate.")
    ] = True
    sensitivity: Annotated[
        Literal["low", "medium", "high"],
        Field(description="Scales every threshold: high fires on smaller changes."),
    ] = "medium"
    start_s: Annotated[
        float, Field(gt=0, le=600, description="Seconds a view condition must hold to start.")
    ] = 1.0
    end_s: Annotated[
        float, Field(gt=0, le=600, description="Seconds a condition must stay clear to end.")
    ] = 3.0
    frozen_s: Annotated[
        float, Field(gt=0, le=3600, description="Identical frames this long are a stream loss.")
    ] = 10.0
    low_fps_s: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="A frame rate under half the expected one this long is a stream loss.",
        ),
    ] = 10.0
    adapt_s: Annotated[
        float,
        Field(
            ge=10,
            le=86400,
            description="Time constant of the slowly adapting baselines (dusk, dawn, seasons).",
        ),
    ] = 300.0
    ignore_regions: Annotated[
        list[tuple[float, float, float, float]],
        Field(
            description="Rectangles (x1, y1, x2, y2) in 0-1 of the frame left out, e.g. burned-in "
            "clocks or labels."
        ),
    ] = Field(default_factory=list)

    @field_validator("ignore_regions")
    @classmethod
    def _regions_ok(
        cls, value: list[tuple[float, float, float, float]]
    ) -> list[tuple[float, float, float, float]]:
        for x1, y1, x2, y2 in value:
            if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                raise ValueError("each region needs 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1")
        return value


class AnprSpec(_Model):
    """Plate reading on one camera (off unless enabled); see docs/anpr.md."""

    enabled: bool = False
    mode: Annotated[
        Literal["vehicle_crops", "full_frame", "both"],
        Field(
            description="Plates on tracked vehicles, over the whole frame (dedicated plate "
            "camera), or both."
        ),
    ] = "vehicle_crops"
    region: Annotated[
        tuple[Point, Point] | None,
        Field(
            description="Top-left and bottom-right corners (0-1) of the full-frame pass; none "
            "is the whole frame."
        ),
    ] = None
    countries: Annotated[
        list[str],
        Field(
            description="Expected plate countries (fr, de, es, uk, us, ...); their formats "
            "resolve O/0, B/8, ..."
        ),
    ] = Field(default_factory=list)
    ocr: Annotated[
        Literal["cct", "rapidocr", "cct+rapidocr"],
        Field(
            description="Recogniser: fast-plate-ocr CCT, rapidocr (optional extra), or CCT with "
            "rapidocr as second opinion."
        ),
    ] = "cct"
    min_confidence: Annotated[
        float,
        Field(
            gt=0,
            lt=1,
            description="Reads (and passage votes) below this are not plates and are dropped.",
        ),
    ] = 0.6
    votes: Annotated[
        int,
        Field(
            ge=1, le=20, description="Reads of one vehicle passage before its vote closes early."
        ),
    ] = 3
    privacy: Annotated[
        Literal["watchlist", "hashed", "full"],
        Field(
            description="watchlist: reads not on the list are forgotten; hashed: kept as keyed "
            "hashes; full: kept as text."
        ),
    ] = "watchlist"
    full_acknowledged: Annotated[
        bool,
        Field(
            description="Required for `full`: the keeper confirmed the premises are private and "
            "the purpose needs it."
        ),
    ] = False
    crops: Annotated[
        bool,
        Field(
            description="Keep a plate crop with watchlist matches (and with reads in `full` mode)."
        ),
    ] = True
    vehicle_classes: list[str] = Field(
        default_factory=lambda: ["car", "truck", "bus", "motorcycle"]
    )
    refine: Annotated[
        bool,
        Field(
            description="Re-detect an uncertain plate on a zoomed crop before reading it again "
            "(more accurate, slower)."
        ),
    ] = True
    learn_formats: Annotated[
        bool,
        Field(
            description="Learn which formats this camera sees from its confident reads (counts "
            "only) and prefer them."
        ),
    ] = True

    @field_validator("countries")
    @classmethod
    def _countries_known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(COUNTRIES))
        if unknown:
            raise ValueError(
                f"unknown country code(s) {', '.join(unknown)}; known: {', '.join(COUNTRIES)}"
            )
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.privacy == "full" and not self.full_acknowledged:
            raise ValueError("privacy 'full' keeps plate text and needs full_acknowledged: true")
        if self.region is not None:
            (x1, y1), (x2, y2) = self.region
            if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                raise ValueError("region must be two corners (x1, y1) < (x2, y2) within 0-1")
        return self


class FrigateDetectionSpec(_Model):
    """A camera whose objects Frigate detects: its tracks come from Frigate's MQTT messages."""

    camera: Annotated[str, Field(min_length=1, description="The camera's name in Frigate.")]
    detect_size: Annotated[
        tuple[int, int],
        Field(description="Frigate's detect resolution (width, height): its boxes are in it."),
    ]
    topic_prefix: Annotated[
        str, Field(min_length=1, description="MQTT topic prefix of the Frigate server.")
    ] = "frigate"
    stale_s: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="An object not mentioned this long is dropped (Frigate mentions a live "
            "one every minute).",
        ),
    ] = 90.0
    pixels: Annotated[
        Literal["auto", "always", "never"],
        Field(
            description="Decode the camera's stream too: when a check needs pixels (tamper, "
            "object left, Vigil's plate reading), always, or never."
        ),
    ] = "auto"
    pixel_fps: Annotated[
        float,
        Field(gt=0, le=60, description="Frames per second decoded from the stream: a low rate."),
    ] = 2.0
    plates: Annotated[
        Literal["frigate", "vigil"],
        Field(description="With plate reading on: Frigate's own reads (0.16+) or Vigil's."),
    ] = "frigate"

    @field_validator("detect_size")
    @classmethod
    def _size_ok(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] <= 0 or value[1] <= 0:
            raise ValueError("width and height must be positive")
        return value


class FrigateMqttSpec(_Model):
    """The broker Frigate publishes on, for the standalone engine (Home Assistant uses its own)."""

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 60


class OnvifSpec(_Model):
    """An ONVIF camera's device service: its own analytics become events (PullPoint or polling)."""

    host: Annotated[str, Field(min_length=1, description="The camera's address.")]
    port: Annotated[int, Field(ge=1, le=65535, description="The ONVIF device service's port.")] = 80
    username: str = ""
    password: Annotated[str, Field(repr=False)] = ""
    events: Annotated[
        bool, Field(description="Follow the camera's own analytics (motion, tamper, lines...).")
    ] = True


class CameraSpec(_Model):
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

    _slug = field_validator("id")(_check_slug)

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
        return [_check_polygon(polygon) for polygon in value]


EXPIRES_FORMAT = "must be a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM)"


class WatchlistEntry(_Model):
    """One watched plate or pattern (``*`` any run, ``?`` one character); never logged.

    Every entry says why the plate is watched and until when: a watchlist is a list of
    suspicions, each with its own end (in public space at most `PUBLIC_WATCH_MAX_DAYS` ahead).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    id: Annotated[str, Field(description="Stable slug.")]
    plate: Annotated[
        str, Field(repr=False, description="Plate or pattern, e.g. AB-123-CD or AB-*-CD.")
    ]
    label: Annotated[str, Field(max_length=64)] = ""
    reason: Annotated[
        str,
        Field(
            min_length=WATCH_REASON_MIN_CHARS,
            max_length=200,
            description="Why this plate is watched (written in the assessment and the events).",
        ),
    ]
    expires: Annotated[
        datetime | date,
        Field(
            description="Stops matching after this moment (a date: at the end of that local "
            "day); in public space at most 30 days ahead."
        ),
    ]
    max_distance: Annotated[
        float | None,
        Field(ge=0, le=3, description="Overrides the watchlist's OCR-error tolerance."),
    ] = None
    legal_obligation: Annotated[
        bool,
        Field(
            description="The entry answers a legal obligation (a court order, a police "
            "request): it still matches a plate on the objection list."
        ),
    ] = False

    @field_validator("reason")
    @classmethod
    def _reason_written(cls, value: str) -> str:
        if len(value.strip()) < WATCH_REASON_MIN_CHARS:
            raise PydanticCustomError(
                "too_short",
                "the reason needs at least {min} characters",
                {"min": WATCH_REASON_MIN_CHARS},
            )
        return value.strip()

    _slug = field_validator("id")(_check_slug)

    @field_validator("expires", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        if value is None or isinstance(value, date):  # a datetime is a date too
            return value
        if not isinstance(value, str):
            # pydantic would read a number as a Unix time: 12345 is not what anyone means.
            raise ValueError(EXPIRES_FORMAT)
        text = value.strip()
        try:
            # "2026-01-31" is a date (valid through that day), not midnight at its start.
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(EXPIRES_FORMAT) from None

    @classmethod
    def parse(cls, data: Any) -> WatchlistEntry:
        """Validate one entry (a form's input); raise ConfigInvalid naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            message = format_validation_error(err).removeprefix("invalid config at ")
            raise ConfigInvalid(f"invalid watchlist entry at {message}") from None

    @field_validator("plate")
    @classmethod
    def _plate_ok(cls, value: str) -> str:
        try:
            return parse_pattern(value)
        except ConfigInvalid as err:
            raise field_error(err) from err


class WatchlistSpec(_Model):
    """Watched plates, matched with a tolerance for OCR errors, and routes across cameras."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    entries: list[WatchlistEntry] = Field(default_factory=list)
    max_distance: Annotated[
        float,
        Field(
            ge=0,
            le=3,
            description="Largest edit distance that still matches; a confusable pair such as "
            "O/0 costs 0.3, any other difference 1.0, so the default 0.6 allows two confusable "
            "pairs and nothing else.",
        ),
    ] = 0.6
    route_window_s: Annotated[
        float,
        Field(
            ge=0,
            le=86400,
            description="A watched plate seen on two cameras within this many seconds is one "
            "route event; 0 disables.",
        ),
    ] = 900.0

    @model_validator(mode="after")
    def _unique_entries(self) -> Self:
        ids = [entry.id for entry in self.entries]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"watchlist entry ids must be unique, repeated: {', '.join(dupes)}")
        return self


class AnprSettings(_Model):
    """Engine-wide plate reading: the models, their threads and the watchlist."""

    detector: Annotated[
        str,
        Field(
            description="Plate finder in the model registry: ppocr_v6_det_small (Apache-2.0, "
            "in the rapidocr wheel) or safelicensing_yolov8n_plate_384 (AGPL-3.0: choosing it "
            "puts the installation under the AGPL)."
        ),
    ] = "ppocr_v6_det_small"
    ocr_model: Annotated[str, Field(description="CCT plate OCR in the model registry.")] = (
        "cct_xs_v1_global"
    )
    threads: Annotated[
        int, Field(ge=1, le=16, description="Intra-op threads of the plate models.")
    ] = 2
    watchlist: WatchlistSpec = WatchlistSpec()


class InferenceSpec(_Model):
    """How the shared onnxruntime sessions run."""

    intra_op_threads: Annotated[int, Field(ge=1, le=64)] = 1
    workers: Annotated[
        int, Field(ge=1, le=16, description="Threads running the shared session concurrently.")
    ] = 2
    max_batch: Annotated[
        int,
        Field(
            ge=1,
            le=64,
            description="Images per detector call for dynamic-batch models; 1 (no batching) "
            "because batches cost the same per image on a CPU and waiting adds latency.",
        ),
    ] = 1
    max_wait_ms: Annotated[
        float, Field(ge=0, le=1000, description="Longest wait for a batch to fill (max_batch > 1).")
    ] = 10.0
    spinning: bool = False
    share_session: Annotated[
        bool,
        Field(
            description="One session for every camera (default); false gives each camera its "
            "own, for comparison."
        ),
    ] = True


class EngineConfig(_Model):
    """Everything the engine needs to run."""

    models_dir: Annotated[
        str | None, Field(description="Folder holding model files (also VIGIL_MODEL_DIR).")
    ] = None
    detector: DetectorSpec = DetectorSpec()
    tracker: TrackerSpec = TrackerSpec()
    inference: InferenceSpec = InferenceSpec()
    cameras: list[CameraSpec] = Field(default_factory=list)
    state_dir: Annotated[
        str | None,
        Field(
            description="Folder for persisted state (line-crossing totals); none keeps it in "
            "memory."
        ),
    ] = None
    frigate_mqtt: Annotated[
        FrigateMqttSpec | None,
        Field(description="Broker of the cameras on Frigate's detections (standalone engine)."),
    ] = None
    privacy: Annotated[
        PrivacySpec,
        Field(
            description="Deployment context, acknowledgements, retention and controller (privacy/)."
        ),
    ] = PrivacySpec()
    anpr: Annotated[
        AnprSettings,
        Field(
            description="Plate models and the watchlist (cameras enable reading in their `anpr`)."
        ),
    ] = AnprSettings()

    @model_validator(mode="after")
    def _unique_cameras(self) -> Self:
        ids = [cam.id for cam in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique, repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _public_watch_short(self) -> Self:
        """Refuse a public-space watchlist entry that lasts more than 30 days from now."""
        if self.privacy.context != "public_space":
            return self
        for entry in self.anpr.watchlist.entries:
            if not expires_within(entry.expires, PUBLIC_WATCH_MAX_DAYS):
                raise PydanticCustomError(
                    "watchlist_expiry_too_long",
                    "watchlist entry {entry} expires more than {days} days ahead; in public "
                    "space an entry lasts at most {days} days",
                    {"entry": entry.id, "days": PUBLIC_WATCH_MAX_DAYS},
                )
        return self

    @classmethod
    def parse(cls, data: Any) -> EngineConfig:
        """Validate raw data; raise ConfigInvalid with a one-line message naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ConfigInvalid(format_validation_error(err)) from None

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """Return the JSON Schema of the configuration file."""
        return cls.model_json_schema()


def expires_within(expires: datetime | date, days: int, now: datetime | None = None) -> bool:
    """Return whether an expiry is at most `days` ahead (a date: that day at most `days` ahead)."""
    now = now or datetime.now().astimezone()
    if isinstance(expires, datetime):
        moment = expires if expires.tzinfo else expires.astimezone()
        return moment <= now + timedelta(days=days)
    return expires <= now.date() + timedelta(days=days)


def format_validation_error(err: ValidationError) -> str:
    """Turn a pydantic error into one line.

    For example 'cameras.0.zones.1.polygon: must have ... (and 2 more)'.
    """
    errors = err.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"]) or "config"
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid config at {loc}: {msg}{more}"
