"""What every detector is for, what it produces and where it may run: one declarative table.

Each detector kind declares its purpose (a key of the privacy texts), how much it says about
people, what it may do in each deployment context, and which artefacts it produces. The flows
gate on it, the repair issue checks it, the assessment and the signage are written from it.
Nothing biometric is a detector kind: there is no row to enable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from vigil_protocol.privacy import Artefact, DetectorKind


class Allowance(StrEnum):
    """What a deployment context lets a detector do."""

    ALLOWED = "allowed"
    ACKNOWLEDGE = "acknowledge"
    """Starts disabled: runs only once someone states its legal basis in the flow."""
    STATISTICS = "statistics"
    """Runs as anonymous statistics only: counts per interval, no track ids, no images."""


class DataLevel(StrEnum):
    """How much a detector's output says about people."""

    NONE = "none"
    """Nothing about anyone (the camera's own health)."""
    ANONYMOUS = "anonymous"
    """Counts and levels: no one can be singled out."""
    PSEUDONYMOUS = "pseudonymous"
    """A moving object singled out by a short-lived track id, or a keyed hash of a plate."""
    IDENTIFYING = "identifying"
    """Plate text: links to a registered keeper."""


@dataclass(frozen=True, slots=True)
class Gate:
    """The allowance of a detector in each deployment context (fields named like the contexts)."""

    private_home: Allowance
    private_premises: Allowance
    public_space: Allowance


@dataclass(frozen=True, slots=True, kw_only=True)
class Purpose:
    """One row of the table: a detector kind's purpose, data level, gate and artefacts."""

    kind: DetectorKind
    purpose: str
    """Key of the purpose text in the privacy texts (`purpose.<key>`)."""
    level: DataLevel
    gate: Gate
    produces: tuple[Artefact, ...]
    about_people: bool = True
    """False when the detector looks at objects or the camera only."""


_A, _ACK, _STATS = Allowance.ALLOWED, Allowance.ACKNOWLEDGE, Allowance.STATISTICS
_EVENTS, _SNAPS = Artefact.EVENTS, Artefact.SNAPSHOTS


def _row(
    kind: DetectorKind,
    level: DataLevel,
    gate: tuple[Allowance, Allowance, Allowance],
    produces: tuple[Artefact, ...],
    *,
    about_people: bool = True,
) -> Purpose:
    return Purpose(
        kind=kind,
        purpose=kind.value,
        level=level,
        gate=Gate(*gate),
        produces=produces,
        about_people=about_people,
    )


_K, _L = DetectorKind, DataLevel

PURPOSES: Mapping[DetectorKind, Purpose] = {
    row.kind: row
    for row in (
        #    kind                   data level         home   premises public  artefacts
        _row(_K.ZONE_PRESENCE, _L.PSEUDONYMOUS, (_A, _A, _A), (_EVENTS, _SNAPS)),
        _row(_K.LOITERING, _L.PSEUDONYMOUS, (_A, _A, _ACK), (_EVENTS, _SNAPS)),
        _row(_K.LINE_CROSSING, _L.ANONYMOUS, (_A, _A, _STATS), (Artefact.COUNTERS, _EVENTS)),
        _row(_K.CROWD, _L.ANONYMOUS, (_A, _A, _STATS), (Artefact.COUNTERS, _EVENTS)),
        _row(_K.CROWD_MOVEMENT, _L.ANONYMOUS, (_A, _A, _STATS), (_EVENTS,)),
        _row(_K.FAST_MOVE, _L.PSEUDONYMOUS, (_A, _A, _A), (_EVENTS, _SNAPS)),
        _row(_K.WRONG_WAY, _L.PSEUDONYMOUS, (_A, _A, _A), (_EVENTS, _SNAPS)),
        _row(_K.OBJECT_LEFT, _L.PSEUDONYMOUS, (_A, _A, _A), (_EVENTS, _SNAPS, Artefact.CROPS)),
        _row(_K.OBJECT_REMOVED, _L.PSEUDONYMOUS, (_A, _A, _ACK), (_EVENTS, _SNAPS)),
        _row(_K.ROUTE, _L.PSEUDONYMOUS, (_A, _A, _ACK), (_EVENTS,)),
        _row(_K.TAMPER, _L.NONE, (_A, _A, _A), (_EVENTS,), about_people=False),
        # In public space even a watchlist reads every passing plate: a stated basis first.
        _row(
            _K.ANPR_WATCHLIST,
            _L.IDENTIFYING,
            (_A, _A, _ACK),
            (_EVENTS, Artefact.PLATE_READS, Artefact.CROPS),
        ),
        _row(_K.ANPR_HASHED, _L.PSEUDONYMOUS, (_ACK, _A, _ACK), (Artefact.PLATE_HASHES,)),
        _row(
            _K.ANPR_FULL,
            _L.IDENTIFYING,
            (_ACK, _ACK, _ACK),
            (Artefact.PLATE_READS, Artefact.CROPS),
        ),
        _row(_K.PLATE_QUERY, _L.IDENTIFYING, (_ACK, _A, _ACK), (Artefact.ACCESS_LOG,)),
        _row(
            _K.VEHICLE_ROUTE,
            _L.IDENTIFYING,
            (_ACK, _A, _ACK),
            (Artefact.PLATE_HASHES, _EVENTS),
        ),
    )
}


def purpose(kind: DetectorKind | str) -> Purpose:
    """Return the table row of a detector kind."""
    return PURPOSES[DetectorKind(kind)]


# --- camera-side analytics -----------------------------------------------------------------------

VIGIL_SOURCE = "vigil"
"""The `source` of the events of Vigil's own analysis; any other source is camera-side."""

CAMERA_SIDE_KINDS: Mapping[str, DetectorKind | None] = {
    # What a camera's own analytics report, as the detector of this table that says as much.
    "motion": _K.ZONE_PRESENCE,
    "zone_presence": _K.ZONE_PRESENCE,
    "person": _K.ZONE_PRESENCE,
    "vehicle": _K.ZONE_PRESENCE,
    "animal": _K.ZONE_PRESENCE,
    "package": _K.ZONE_PRESENCE,
    "visitor": _K.ZONE_PRESENCE,
    # A topic Vigil cannot read: that it fired, no item of it (the least a camera rule says).
    "onvif_event": _K.ZONE_PRESENCE,
    "line_crossing": _K.LINE_CROSSING,
    "object_count": _K.CROWD,
    # The camera's health, whoever reports it.
    "obstruction": _K.TAMPER,
    "defocus": _K.TAMPER,
    "orientation_change": _K.TAMPER,
    "stream_loss": _K.TAMPER,
    # Wires and a sound level: they describe no one.
    "digital_input": None,
    "relay": None,
    "sound": None,
}
"""Each camera-side event kind and the detector kind it is gated as (None: describes no one).

A camera-side kind missing from this table (a face detector, say) never leaves the engine.
"""


# --- the biometrics guarantee ------------------------------------------------------------------

EVENT_ATTRIBUTES: frozenset[str] = frozenset(
    {
        # class
        "label",
        "labels",
        "classes",
        # position (relative 0-1 of the frame) and geometry of the rule
        "position",
        "box",
        "line",
        "direction",
        "zones",
        "zone",
        "side",
        # speed
        "speed_px_s",
        "speed_kmh",
        "max_speed",
        "mean_speed_kmh",
        "speed_is_estimate",
        "threshold",
        "unit",
        # dwell and durations
        "dwell_s",
        "max_dwell_s",
        "threshold_s",
        "static_s",
        "duration_s",
        "step_gaps_s",
        "at_s",
        # counts, levels and states of the rule
        "count",
        "counts",
        "people",
        "left",
        "removed",
        "pending",
        "completed",
        "in_progress",
        "active",
        "loitering",
        "level",
        "previous_level",
        "rising",
        "metric",
        "density",
        "over_threshold",
        "movement",
        "last_movement",
        "change",
        "source",
        "reason",
        "last",
        # ids, times and scores
        "track_ids",
        "rule",
        "camera",
        "score",
        "scores",
        "peak_score",
        "since_s",
        # the camera's own health (tamper)
        "condition",
        "report",
        "sources",
        "value",
        "baseline",
        "ratio",
    }
)
"""Every attribute key an event may carry: class, position, speed, dwell, counts, ids, scores.

A test runs the real pipeline and fails on any other key, so a new attribute needs a review
here; `BIOMETRIC_TERMS` lists what such a review must refuse.
"""

BIOMETRIC_TERMS: tuple[str, ...] = (
    "face",
    "age",
    "gender",
    "sex",
    "clothing",
    "clothes",
    "colour",
    "color",
    "hair",
    "beard",
    "ethnic",
    "skin",
    "emotion",
    "expression",
    "gait",
    "embedding",
    "reid",
    "re_id",
    "appearance",
    "identity",
    "biometric",
    "height_cm",
    "attribute",
)
"""Words that would describe a person beyond class, position, speed and dwell."""


def describes_person(key: str) -> bool:
    """Return whether an attribute key names something biometric or a person's attribute."""
    words = key.lower().replace("-", "_").split("_")
    joined = key.lower()
    return any(term in words or (len(term) > 4 and term in joined) for term in BIOMETRIC_TERMS)
