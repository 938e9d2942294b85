"""The privacy words a server and its clients share: contexts, detectors, legal bases, retention.

The rules that use them (what each context lets each detector do, the gating, the documents)
live in the engine (`vigil_core.privacy`); a client needs only the names, to build its forms,
and asks the server (a dry-run configuration) what a context holds back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class DeploymentContext(StrEnum):
    """Where the cameras are."""

    PRIVATE_HOME = "private_home"
    PRIVATE_PREMISES = "private_premises"
    PUBLIC_SPACE = "public_space"


class LegalBasis(StrEnum):
    """The lawful bases of GDPR article 6(1)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


JUSTIFICATION_MIN_CHARS = 20


class DetectorKind(StrEnum):
    """Every analysis Vigil can run (the event kinds where they have one)."""

    ZONE_PRESENCE = "zone_presence"
    """Intrusion into a zone and exit from it."""
    LOITERING = "loitering"
    LINE_CROSSING = "line_crossing"
    CROWD = "crowd"
    """Count or density levels in an area."""
    CROWD_MOVEMENT = "crowd_movement"
    FAST_MOVE = "fast_move"
    WRONG_WAY = "wrong_way"
    OBJECT_LEFT = "object_left"
    OBJECT_REMOVED = "object_removed"
    ROUTE = "route"
    """An object passing through a camera's zones in order."""
    TAMPER = "tamper"
    """Camera obstructed, defocused, turned or its stream lost."""
    ANPR_WATCHLIST = "anpr_watchlist"
    """Plates read, matched against a watchlist, forgotten unless they match."""
    ANPR_HASHED = "anpr_hashed"
    """Every plate kept as a keyed hash (journey times, repeat visits) but never as text."""
    ANPR_FULL = "anpr_full"
    """Every plate kept as text."""
    PLATE_QUERY = "plate_query"
    """Searching the stored plates."""
    VEHICLE_ROUTE = "vehicle_route"
    """A vehicle followed across cameras by its plate."""


class Paperwork(StrEnum):
    """A piece of paperwork a deployment context requires and the configuration lacks.

    A server reports what is missing (`ServerState.paperwork_missing`, `ConfigApplied`) so a
    client can raise a repair issue; the values are the privacy configuration's field names.
    """

    SIGNS = "signs_posted"
    """No sign informing people is recorded as posted."""
    ASSESSMENT = "assessment_reference"
    """No reference of the data protection impact assessment."""
    AUTHORISATION = "authorisation_reference"
    """No reference of the authorisation to film a public space."""


class Artefact(StrEnum):
    """A kind of data Vigil keeps; each has its own retention."""

    EVENTS = "events"
    """The history of events (Home Assistant's recorder keeps it for the integration)."""
    SNAPSHOTS = "snapshots"
    CROPS = "crops"
    PLATE_READS = "plate_reads"
    PLATE_HASHES = "plate_hashes"
    COUNTERS = "counters"
    ACCESS_LOG = "access_log"
    EXPORTS = "exports"
    """Access-log exports and generated documents written for the controller to take away."""


@dataclass(frozen=True, slots=True)
class RetentionBounds:
    """The default retention of an artefact in days, and the range a user may choose."""

    default_days: int
    min_days: int
    max_days: int


RETENTION: Mapping[Artefact, RetentionBounds] = {
    # Images identify people: a few days, never more than the month CNIL allows for video.
    Artefact.SNAPSHOTS: RetentionBounds(7, 1, 30),
    Artefact.CROPS: RetentionBounds(7, 1, 30),
    Artefact.EVENTS: RetentionBounds(30, 1, 365),
    Artefact.PLATE_READS: RetentionBounds(7, 1, 30),
    # A keyed hash finds a plate as surely as its text does: never kept longer than the text.
    Artefact.PLATE_HASHES: RetentionBounds(7, 1, 30),
    # Counts per class and interval describe no one.
    Artefact.COUNTERS: RetentionBounds(365, 1, 1825),
    # The traces of who looked at what must outlive what they looked at (CNIL: 6 months-1 year).
    Artefact.ACCESS_LOG: RetentionBounds(365, 180, 1095),
    Artefact.EXPORTS: RetentionBounds(30, 1, 365),
}


ACTOR_HEADER = "X-Vigil-Actor"
"""HTTP header naming who looks at a sensitive picture: the JSON of a `messages.Actor`."""


def picture_is_sensitive(artefact: Artefact, context: DeploymentContext | None) -> bool:
    """Return whether a picture is shown only to an administrator, and each view logged.

    Crops (plates read against a watchlist, objects) always are: a plate links to a person.
    The analysed frame (`SNAPSHOTS`: the camera's latest analysed picture) shows whoever stands
    in front of the camera, so it is everywhere but in a private home, where the household
    sees its own camera; without a declared context it is too (the stricter reading).
    """
    if artefact is Artefact.CROPS:
        return True
    if artefact is Artefact.SNAPSHOTS:
        return context is not DeploymentContext.PRIVATE_HOME
    return False
