"""The values a Vigil server publishes: camera and rule states, events, shared enums.

A state value describes one thing now (a camera's stream, a zone's occupancy, a line's totals):
the server sends the whole value again whenever any of its fields changed, so a client keeps
only the latest one per key (camera id, rule id). An event describes one happening. Both are
frozen; their JSON form is `codec.encode`'s, and `schema.py` derives their JSON Schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Literal

from .codec import JsonValue, Tagged

# ----------------------------------------------------------------------------- shared enums


class StreamState(StrEnum):
    """Where a camera's video stream stands."""

    CONNECTING = "connecting"
    ONLINE = "online"
    STALLED = "stalled"
    OFFLINE = "offline"
    ENDED = "ended"
    """A file source reached its end."""


class InferenceBackend(StrEnum):
    """Where the server's detector runs."""

    LOCAL = "local"
    """On the server's own CPU, as configured."""
    REMOTE = "remote"
    """On the configured inference server (KServe v2 / Triton)."""
    FALLBACK = "fallback"
    """The inference server is away: on the server's own CPU until it is back."""
    UNAVAILABLE = "unavailable"
    """The inference server is away and no fallback is configured: frames get no detections."""


class EventPhase(StrEnum):
    """Where a happening is in its life."""

    STARTED = "started"
    UPDATED = "updated"
    ENDED = "ended"
    INSTANT = "instant"
    """A happening without duration, such as a line crossing."""


class TamperCondition(StrEnum):
    """A camera-health condition."""

    OBSTRUCTION = "obstruction"
    DEFOCUS = "defocus"
    ORIENTATION = "orientation_change"
    STREAM_LOSS = "stream_loss"


class OnvifChannel(StrEnum):
    """Where an ONVIF camera's event channel stands."""

    CONNECTING = "connecting"
    PULLPOINT = "pullpoint"
    POLLING = "polling"
    UNSUPPORTED = "unsupported"
    OFFLINE = "offline"
    AUTH_FAILED = "auth_failed"
    STOPPED = "stopped"


# ----------------------------------------------------------------------------- camera state


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraState(Tagged):
    """A camera's stream and analysis figures."""

    KIND: ClassVar[str] = "camera"
    stream: StreamState = StreamState.CONNECTING
    failing: bool = False
    """Set when the stream fails; cleared only when frames flow again, not by each retry."""
    reason: str = ""
    """Why the stream fails, redacted (never a URL with credentials); empty while it works."""
    translation_key: str | None = None
    """The failure's translation key (``timeout``, ``invalid_auth``…), None while it works."""
    failing_since: float | None = None
    """Unix time the current outage began, None while frames flow."""
    analysed_fps: float = 0.0
    target_fps: float = 0.0
    inference_ms: float = 0.0
    frames_analysed: int = 0
    frames_inferred: int = 0
    events: int = 0
    overloaded: bool = False
    """The server cannot analyse this camera at its target rate (it degrades evenly)."""

    @property
    def online(self) -> bool:
        """Return whether frames are flowing."""
        return self.stream is StreamState.ONLINE


# ------------------------------------------------------------------------------- rule states


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneState(Tagged):
    """Objects inside a zone now, by class."""

    KIND: ClassVar[str] = "zone"
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Return how many objects of any class are inside."""
        return sum(self.counts.values())

    @property
    def occupied(self) -> bool:
        """Return whether anything is inside."""
        return self.total > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LineCounts:
    """Crossings of a line in each direction."""

    a_to_b: int = 0
    b_to_a: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LineCrossing:
    """One crossing of a line."""

    direction: Literal["a_to_b", "b_to_a"]
    label: str
    wall_time: float
    """Unix time of the crossing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LineState(Tagged):
    """A line's persisted totals per direction and class, and its last crossing each way."""

    KIND: ClassVar[str] = "line"
    a_to_b: int = 0
    b_to_a: int = 0
    by_class: dict[str, LineCounts] = field(default_factory=dict)
    last_a_to_b: LineCrossing | None = None
    last_b_to_a: LineCrossing | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoiteringState(Tagged):
    """Whether anyone loiters in an area, how many per class, and the longest dwell."""

    KIND: ClassVar[str] = "loitering"
    loitering: bool = False
    count: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    max_dwell_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CrowdState(Tagged):
    """People in an area: count, density (with a calibration) and level."""

    KIND: ClassVar[str] = "crowd"
    count: int = 0
    density_m2: float | None = None
    """People per m² (an estimate), None without a ground calibration."""
    area_m2: float | None = None
    metric: Literal["count", "density"] = "count"
    level: Literal["normal", "high", "critical"] = "normal"
    over_threshold: bool = False
    last_movement: str | None = None
    """The last collective movement seen: ``speed_up`` or ``dispersal``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FastMoveState(Tagged):
    """Tracks moving faster than a threshold now, and the last fast move's speed."""

    KIND: ClassVar[str] = "fast_move"
    active: bool = False
    count: int = 0
    unit: Literal["km/h", "px/s"] = "px/s"
    threshold: float = 0.0
    max_speed: float | None = None
    """Top speed among the tracks followed now, in `unit` (an estimate)."""
    last_speed: float | None = None
    """Speed of the last fast move, in `unit` (an estimate)."""
    last_label: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WrongWayState(Tagged):
    """Whether anything goes against the allowed direction now."""

    KIND: ClassVar[str] = "wrong_way"
    active: bool = False
    count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectLeftState(Tagged):
    """Objects left in (or removed from) an area, as currently reported."""

    KIND: ClassVar[str] = "object_left"
    active: bool = False
    left: int = 0
    removed: int = 0
    pending: int = 0
    """Candidates still waiting for their static time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteState(Tagged):
    """Routes across zones completed, and those under way."""

    KIND: ClassVar[str] = "route"
    completed: int = 0
    in_progress: int = 0


# ------------------------------------------------------------------ camera-level state values


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionState:
    """One camera-health condition, merged over everyone who reports it."""

    condition: TamperCondition
    active: bool = False
    sources: tuple[str, ...] = ()
    """Who reports it now: ``vigil`` (Vigil's own checks), ``onvif``…"""
    score: float | None = None
    since: float | None = None
    """Unix time it began."""
    reason: str | None = None
    """Why a stream counts as lost (``no_frames``, ``frozen``, ``low_fps``)."""
    threshold: float | None = None
    """Score at which Vigil raises this view condition (None for stream loss)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TamperState(Tagged):
    """A camera's health conditions (only those its configuration checks)."""

    KIND: ClassVar[str] = "tamper"
    conditions: tuple[ConditionState, ...] = ()
    can_recapture: bool = False
    """Whether the camera runs view checks whose reference view can be re-captured."""

    def condition(self, condition: TamperCondition) -> ConditionState | None:
        """Return one condition's state, or None when the camera does not check it."""
        return next((c for c in self.conditions if c.condition is condition), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnvifTopic:
    """One entity a camera's own analytics call for: a kind, or one unparsed topic."""

    kind: str
    """``motion``, ``zone_presence``, ``person``…, ``object_count``, ``line_crossing``, or
    ``onvif_event`` for a topic Vigil has no parser for (then `topic` names it)."""
    topic: str | None = None
    active: tuple[str, ...] = ()
    """The camera's rules of this kind that are on now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OnvifState(Tagged):
    """An ONVIF camera's event channel and what its own analytics say."""

    KIND: ClassVar[str] = "onvif"
    channel: OnvifChannel = OnvifChannel.CONNECTING
    reason: str = ""
    translation_key: str | None = None
    topics: tuple[OnvifTopic, ...] = ()
    """Every entity-worthy kind the camera announced or sent, kept across restarts."""
    counts: dict[str, int] = field(default_factory=dict)
    """Latest count per counting rule (by the camera's rule name)."""
    health_reports: tuple[str, ...] = ()
    """Camera-health reports it announces (``tamper``, ``too_dark``…): they feed TamperState."""

    @property
    def available(self) -> bool:
        """Return whether the camera's events are flowing."""
        return self.channel in (OnvifChannel.PULLPOINT, OnvifChannel.POLLING)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateMatch:
    """A watchlist match (no plate text unless the camera keeps plates in full)."""

    entry_id: str
    label: str = ""
    reason: str = ""
    wall_time: float
    distance: float | None = None
    exact: bool = False
    direction: str | None = None
    crop_id: str | None = None
    """Reference of the kept crop (`GET /api/crops/{crop_id}.jpg`), only where crops are kept."""
    plate: str | None = None
    """The plate text, only in the camera's `full` privacy mode."""
    match_id: str | None = None
    """The match to confirm or reject (`ReviewMatch`)."""
    status: Literal["pending", "confirmed", "rejected"] = "pending"
    """A match is a suspicion until an administrator confirms it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateState(Tagged):
    """A plate-reading camera: today's passages (counts only) and its last watchlist match."""

    KIND: ClassVar[str] = "plates"
    passages_today: int = 0
    last_match: PlateMatch | None = None
    crops: bool = False
    """Whether this camera's watchlist matches carry a crop (the camera keeps crops and the
    deployment context allows images): a client shows a crop picture only then."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldBack:
    """A detector the deployment context holds back until someone acknowledges it."""

    camera_id: str
    rule_id: str | None
    detector: str
    """The detector kind (``loitering``, ``anpr_watchlist``…)."""
    reason: str
    translation_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerState(Tagged):
    """The server as a whole: its load and what keeps it from analysing."""

    KIND: ClassVar[str] = "server"
    cameras: int = 0
    cameras_online: int = 0
    analysed_fps: float = 0.0
    target_fps: float = 0.0
    cpu_percent: float | None = None
    """Share of one core the server used over the last refresh (100 = one full core)."""
    overloaded: bool = False
    model_error: str | None = None
    """Why the detector cannot run (missing or corrupt model), None when it can."""
    model_error_key: str | None = None
    held_back: tuple[HeldBack, ...] = ()
    inference: InferenceBackend = InferenceBackend.LOCAL
    """Where the detector runs now."""
    inference_reason: str | None = None
    """Why the configured inference server is not used, None while it is (or with none)."""
    inference_reason_key: str | None = None
    paperwork_missing: tuple[str, ...] = ()
    """What the deployment context requires and the configuration lacks (`privacy.Paperwork`
    values: ``signs_posted``, ``assessment_reference``, ``authorisation_reference``)."""
    analysed_share: float | None = None
    """Analysed frames per second over what the online cameras ask for (1.0 = all of it),
    None while no camera is online. It also falls when a stream sends fewer frames than its
    camera asks for, which costs no CPU: `overloaded` is the server falling behind."""
    cpu_count: int | None = None
    """CPU cores the server may use: `cpu_percent` can reach 100 times this."""
    inference_p50_ms: float | None = None
    """Median wait for the detector per inferred frame (queue included), over the recent
    frames of every camera; None before any."""
    inference_p95_ms: float | None = None
    """95th percentile of the same wait."""
    latency_p50_ms: float | None = None
    """Median time from a frame's decoding to the end of its analysis, over the recent frames
    of every camera; None before any."""
    latency_p95_ms: float | None = None
    """95th percentile of the same time."""
    overloaded_cameras: tuple[str, ...] = ()
    """The cameras whose analysis falls behind their stream now (sorted ids)."""


type StateValue = (
    CameraState
    | ZoneState
    | LineState
    | LoiteringState
    | CrowdState
    | FastMoveState
    | WrongWayState
    | ObjectLeftState
    | RouteState
    | TamperState
    | OnvifState
    | PlateState
    | ServerState
)
"""Every state value, discriminated by ``kind``."""

RULE_STATES: dict[str, type[StateValue]] = {
    "zone_presence": ZoneState,
    "line_crossing": LineState,
    "loitering": LoiteringState,
    "crowd": CrowdState,
    "fast_move": FastMoveState,
    "wrong_way": WrongWayState,
    "object_left": ObjectLeftState,
    "route": RouteState,
}
"""The state value of each rule family (by the rule's type in the configuration)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StateUpdate:
    """A state value and what it belongs to: a camera, and a rule of it (None: the camera)."""

    camera_id: str | None
    """None for the server's own state."""
    rule_id: str | None
    state: StateValue

    @property
    def key(self) -> tuple[str | None, str | None, str]:
        """Return what identifies this state: camera, rule and the value's kind."""
        return (self.camera_id, self.rule_id, self.state.KIND)


# ------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleEvent:
    """Something a rule, a camera-health check or a camera's own analytics observed.

    `attrs` holds the event's details as plain JSON, only from the server's allow-list (classes,
    counts, speeds, times, directions: never anything describing a person, and plate text only
    where the camera keeps plates in full).
    """

    kind: str
    """The family's event kind (``zone_presence``, ``line_crossing``, ``watchlist_match``…)."""
    camera_id: str
    rule_id: str
    phase: EventPhase
    track_id: int | None = None
    at_s: float = 0.0
    """Stream time in seconds."""
    wall_time: float
    """Unix time the event was produced."""
    latency_ms: float = 0.0
    source: str = "vigil"
    """``vigil`` for Vigil's own analysis, ``onvif``, ``frigate``… for a camera-side origin."""
    attrs: dict[str, JsonValue] = field(default_factory=dict)
