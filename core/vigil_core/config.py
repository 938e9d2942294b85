"""Validated configuration of the engine: cameras, zones, detector and inference settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigInvalid, InvalidPolygon
from .geometry.polygon import validate_polygon

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

type Point = tuple[float, float]

COCO_VEHICLES = ("car", "truck", "bus", "motorcycle", "bicycle")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(
            "must be a slug: lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


class ZoneSpec(_Model):
    """A polygon in relative coordinates (0–1) with the presence rule that watches it."""

    id: Annotated[str, Field(description="Stable slug; never changes when the name does.")]
    name: str = ""
    polygon: Annotated[
        list[Point],
        Field(description="At least 3 points (x, y), each in 0–1 of the frame; not self-intersecting."),
    ]
    classes: Annotated[
        list[str], Field(description="Object classes that count; empty means every class.")
    ] = Field(default_factory=lambda: ["person"])
    inertia: Annotated[
        int, Field(ge=1, le=100, description="Analysed frames a track must be inside (or outside) before it counts as entered (or left).")
    ] = 3
    anchor: Annotated[
        Literal["bottom_center", "center"],
        Field(description="Point of the box tested against the polygon: the feet (default) or the centre."),
    ] = "bottom_center"

    _slug = field_validator("id")(_check_slug)

    @field_validator("polygon")
    @classmethod
    def _polygon_ok(cls, value: list[Point]) -> list[Point]:
        try:
            validate_polygon(value)
        except InvalidPolygon as err:
            raise ValueError(err.message) from err
        return value


class MotionSpec(_Model):
    """Cheap frame-difference gate that skips inference on static frames."""

    enabled: bool = True
    threshold: Annotated[
        float, Field(gt=0, le=255, description="Mean absolute grey-level change of a cell that counts as motion.")
    ] = 12.0
    min_area: Annotated[
        float, Field(ge=0, le=1, description="Fraction of the downscaled frame that must move.")
    ] = 0.0005
    refresh_s: Annotated[
        float, Field(gt=0, le=600, description="Run inference at least this often, so stopped objects stay tracked.")
    ] = 2.0


class DetectorSpec(_Model):
    """Which object detector runs and how its output is filtered."""

    model: str = "yolox_nano"
    confidence: Annotated[
        float, Field(gt=0, lt=1, description="Lowest detection score kept; the tracker uses low scores to keep tracks alive.")
    ] = 0.1
    nms_iou: Annotated[float, Field(gt=0, lt=1)] = 0.45
    classes: Annotated[
        list[str], Field(description="Classes kept from the detector; empty means all.")
    ] = Field(default_factory=lambda: ["person", *COCO_VEHICLES])


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
    """Where frames come from: a local file or an RTSP / HTTP(S) URL."""

    url: Annotated[str, Field(description="A file path, file:// URL, rtsp(s):// or http(s):// URL.")]
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    stall_s: Annotated[float, Field(gt=0, le=120, description="No frame for this long marks a live source stalled.")] = 3.0
    backoff_initial_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    realtime: Annotated[
        bool, Field(description="Pace file sources at their native speed (live sources always are).")
    ] = False
    decode_threads: Annotated[
        int,
        Field(
            ge=0,
            le=16,
            description="Decoder threads; 0 picks 2 for files (throughput), 1 for live (latency).",
        ),
    ] = 0

    @field_validator("url")
    @classmethod
    def _url_ok(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("is empty")
        scheme = value.split("://", 1)[0].lower() if "://" in value else "file"
        if scheme not in {"file", "rtsp", "rtsps", "rtmp", "http", "https"}:
            raise ValueError(f"scheme '{scheme}' is not supported (file, rtsp, rtsps, rtmp, http, https)")
        return value

    @property
    def is_file(self) -> bool:
        """Return whether the source is a local file."""
        return "://" not in self.url or self.url.lower().startswith("file://")

    @property
    def path(self) -> Path:
        """Return the local path of a file source."""
        return Path(self.url[7:] if self.url.lower().startswith("file://") else self.url)


class CameraSpec(_Model):
    """One camera: its source, analysis settings and rules."""

    id: str
    name: str = ""
    source: SourceSpec
    fps: Annotated[float, Field(gt=0, le=60, description="Analysed frames per second, sampled from stream timestamps.")] = 5.0
    analysis_max_width: Annotated[
        int, Field(ge=160, le=3840, description="Frames wider than this are resized before analysis.")
    ] = 1280
    motion: MotionSpec = MotionSpec()
    zones: list[ZoneSpec] = Field(default_factory=list)

    _slug = field_validator("id")(_check_slug)

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
        return self


class InferenceSpec(_Model):
    """How the shared onnxruntime sessions run."""

    intra_op_threads: Annotated[int, Field(ge=1, le=64)] = 1
    workers: Annotated[
        int, Field(ge=1, le=16, description="Threads running the shared session concurrently.")
    ] = 2
    max_batch: Annotated[int, Field(ge=1, le=64)] = 8
    max_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 10.0
    spinning: bool = False
    share_session: Annotated[
        bool,
        Field(description="One session for every camera (default); false gives each camera its own, for comparison."),
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

    @model_validator(mode="after")
    def _unique_cameras(self) -> Self:
        ids = [cam.id for cam in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique, repeated: {', '.join(dupes)}")
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


def format_validation_error(err: ValidationError) -> str:
    """Turn a pydantic error into one line: 'cameras.0.zones.1.polygon: must have ... (and 2 more)'."""
    errors = err.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"]) or "config"
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid config at {loc}: {msg}{more}"
