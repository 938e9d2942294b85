"""Plate reading: a camera's settings, the watchlist and the plate models."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vigil_core.errors import ConfigInvalid
from vigil_core.plates.normalize import COUNTRIES
from vigil_core.plates.watchlist import parse_pattern
from vigil_core.specs import Point, Spec, checked_slug, field_error, format_validation_error

WATCH_REASON_MIN_CHARS = 10
"""A watchlist entry's reason is a sentence (``stolen van``), not a word."""


PUBLIC_WATCH_MAX_DAYS = 30
"""In public space a watchlist entry expires at most this many days ahead."""


class AnprSpec(Spec):
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


EXPIRES_FORMAT = "must be a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM)"


class WatchlistEntry(Spec):
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

    _slug = field_validator("id")(checked_slug)

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


class WatchlistSpec(Spec):
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


class AnprSettings(Spec):
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


def expires_within(expires: datetime | date, days: int, now: datetime | None = None) -> bool:
    """Return whether an expiry is at most `days` ahead (a date: that day at most `days` ahead)."""
    now = now or datetime.now().astimezone()
    if isinstance(expires, datetime):
        moment = expires if expires.tzinfo else expires.astimezone()
        return moment <= now + timedelta(days=days)
    return expires <= now.date() + timedelta(days=days)
