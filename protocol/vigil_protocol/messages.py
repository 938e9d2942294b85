"""The messages of Vigil's WebSocket protocol, client to server and back.

One WebSocket text frame carries one message: a JSON object whose ``kind`` names its type.
The server speaks first (`Hello`); the client authenticates (`Auth`); the server answers
`AuthOk` or `Refused` (then closes). After that the client sends requests, each with an ``id``
of its choosing, and the server answers each with a `Result` (holding the request's typed
response) or an `ErrorReply` with the same ``id``; after a `Subscribe` it also pushes `StatePush`
and `EventPush` messages. Pictures and documents travel over HTTP beside the WebSocket (see
docs/protocol.md), with the same token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, cast

from .codec import JsonValue, Tagged, loads
from .values import HeldBack, RuleEvent, StateUpdate

PROTOCOL_VERSION = "1.2"
"""``major.minor``: peers of different majors refuse each other; a minor only adds optional
fields and message kinds, which older peers ignore or answer with `unknown_request`."""

WS_PATH = "/api/ws"
DEFAULT_PORT = 8765

CAPABILITIES: tuple[str, ...] = (
    "config",
    "subscribe",
    "probe",
    "pictures",
    "onvif",
    "frigate",
    "counters",
    "tamper",
    "watchlist",
    "plate_query",
    "access_log",
    "assessment",
    "diagnostics",
    "privacy",
    "replay",
    "match_review",
    "plate_rights",
)
"""What a server of this protocol version can do, announced in `Hello`."""


def major(version: str) -> int:
    """Return the major number of a ``major.minor`` version (-1 when it is not one)."""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else -1


def compatible(version: str) -> bool:
    """Return whether a peer speaking `version` can talk to this one."""
    return major(version) == major(PROTOCOL_VERSION)


# ------------------------------------------------------------------------------- handshake


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Tagged):
    """The server introduces itself (its first message on every connection)."""

    KIND: ClassVar[str] = "hello"
    server_id: str
    """Stable id of this server's data folder: it identifies the server across restarts."""
    server_name: str
    server_version: str
    protocol_version: str
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth(Tagged):
    """The client authenticates with the server's token and says which protocol it speaks."""

    KIND: ClassVar[str] = "auth"
    token: str = field(repr=False)
    client: str
    """Who connects (``home-assistant 2026.11.0``), for the server's log."""
    protocol_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthOk(Tagged):
    """The server accepted the client."""

    KIND: ClassVar[str] = "auth_ok"
    server_id: str
    protocol_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused(Tagged):
    """The server refuses the connection (and closes it): bad token or protocol version."""

    KIND: ClassVar[str] = "refused"
    translation_key: Literal["invalid_auth", "protocol_version", "auth_timeout"]
    message: str
    placeholders: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- shared values


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asks for something the access log must record (a person, or an automation)."""

    name: str
    user_id: str | None = None
    is_admin: bool = False
    origin: Literal["user", "automation", "server"] = "user"


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldError:
    """What is wrong with one field of a configuration."""

    loc: str
    """Dotted path of the field (``cameras.0.zones.1.polygon``)."""
    message: str
    translation_key: str
    """``polygon_self_intersecting``, ``out_of_range``, ``invalid_plate``… (docs/protocol.md)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """Why a request failed: a translation key with placeholders, and per-field errors."""

    translation_key: str
    message: str
    placeholders: dict[str, str] = field(default_factory=dict)
    fields: tuple[FieldError, ...] = ()


# -------------------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True, kw_only=True)
class Done(Tagged):
    """A request without a result succeeded."""

    KIND: ClassVar[str] = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigApplied(Tagged):
    """A configuration was valid (and, unless a dry run, is now what the server runs)."""

    KIND: ClassVar[str] = "config_applied"
    started: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    held_back: tuple[HeldBack, ...] = ()
    """What the deployment context holds back: neither analysed nor published."""
    paperwork_missing: tuple[str, ...] = ()
    """What the deployment context requires and the configuration lacks (`privacy.Paperwork`
    values): a client raises a repair issue while it is not empty."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribed(Tagged):
    """Every current state; changes and events follow as pushes."""

    KIND: ClassVar[str] = "subscribed"
    states: tuple[StateUpdate, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamProbe(Tagged):
    """A stream opened and decoded a frame."""

    KIND: ClassVar[str] = "stream_probe"
    width: int
    height: int
    codec: str
    fps: float | None = None
    frame_id: str | None = None
    """The decoded frame, kept a few minutes: `GET /api/frames/{frame_id}.jpg`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveredDevice:
    """An ONVIF device that answered WS-Discovery."""

    host: str
    port: int
    name: str = ""
    hardware: str = ""
    endpoint: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OnvifDiscovery(Tagged):
    """The ONVIF devices found on the server's network."""

    KIND: ClassVar[str] = "onvif_discovery"
    devices: tuple[DiscoveredDevice, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OnvifProfile:
    """A media profile of an ONVIF camera (its stream URI never carries credentials)."""

    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: float | None = None
    stream_uri: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OnvifDevice(Tagged):
    """An ONVIF camera's identity and its profiles that have a stream, best for analysis first."""

    KIND: ClassVar[str] = "onvif_device"
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware_id: str = ""
    mac: str | None = None
    profiles: tuple[OnvifProfile, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FrigateZone:
    """A zone of a Frigate camera, in relative coordinates."""

    id: str
    name: str
    polygon: tuple[tuple[float, float], ...]
    objects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FrigateCamera:
    """A camera of a Frigate server."""

    name: str
    friendly_name: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    enabled: bool = True
    restream_url: str | None = None
    detect_restream_url: str | None = None
    objects: tuple[str, ...] = ()
    zones: tuple[FrigateZone, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FrigateServer(Tagged):
    """A Frigate server's version, MQTT topic prefix and cameras."""

    KIND: ClassVar[str] = "frigate_server"
    version: str
    topic_prefix: str = "frigate"
    cameras: tuple[FrigateCamera, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatePassage:
    """One stored plate passage an authorised query returns."""

    camera_id: str
    wall_time: float
    plate: str | None = None
    """The text, where the camera keeps plates in full; None where only a hash is kept."""
    direction: str | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateQueryResult(Tagged):
    """The passages of a plate (the query itself is in the access log)."""

    KIND: ClassVar[str] = "plate_query"
    passages: tuple[PlatePassage, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessLogCheck(Tagged):
    """The access log's chain checked end to end."""

    KIND: ClassVar[str] = "access_log_check"
    ok: bool
    entries: int
    first_broken: int | None = None
    line: int | None = None
    reason: str = ""
    head: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessLogExport(Tagged):
    """The access log and its check, as a JSON document."""

    KIND: ClassVar[str] = "access_log_export"
    filename: str
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentInfo:
    """One generated document: `GET /api/documents/{filename}`."""

    kind: str
    """``impact_assessment``, ``record``, ``signage``."""
    language: str
    filename: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Documents(Tagged):
    """The impact assessment, the record of processing and the signs, generated now."""

    KIND: ClassVar[str] = "documents"
    documents: tuple[DocumentInfo, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostics(Tagged):
    """The server's diagnostics, redacted (no credential, URL, host or plate)."""

    KIND: ClassVar[str] = "diagnostics"
    data: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyVerdict(Tagged):
    """What a deployment context lets detectors do, and their names for people."""

    KIND: ClassVar[str] = "privacy_verdict"
    acknowledge: tuple[str, ...] = ()
    """Detectors that start disabled until someone states their legal basis."""
    statistics: tuple[str, ...] = ()
    """Detectors that run as anonymous statistics only."""
    names: dict[str, str] = field(default_factory=dict)
    """Each asked detector's name and the context's, in the asked language (key ``context``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackPath:
    """Where one recent track went: its class and its ground points, oldest first.

    Anonymous: no track id, no time, no picture; relative 0–1 coordinates.
    """

    label: str
    points: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleReplay(Tagged):
    """What a zone or rule would have produced on the camera's recent tracks.

    The figures its family has: crossings each way (a line), entries and the longest stay (a
    zone), loitering starts and the longest dwell (loitering). `paths` is empty where the
    deployment context keeps that detector to anonymous statistics.
    """

    KIND: ClassVar[str] = "rule_replay"
    rule_kind: str
    """``zone_presence``, ``line_crossing`` or ``loitering``."""
    span_s: float
    """Seconds of recent tracks the memory held (0: none yet)."""
    tracks: int
    """Tracks of the rule's classes seen in that time."""
    a_to_b: int = 0
    b_to_a: int = 0
    entries: int = 0
    loitering: int = 0
    longest_dwell_s: float = 0.0
    paths: tuple[TrackPath, ...] = ()


MatchStatus = Literal["pending", "confirmed", "rejected"]
"""A watchlist match is a suspicion (``pending``) until an administrator reviews it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchlistMatch:
    """A kept watchlist match: never the plate, a crop reference only where crops are shown."""

    match_id: str
    entry_id: str
    camera_id: str
    wall_time: float
    status: MatchStatus
    distance: float | None = None
    crop_id: str | None = None
    reviewed_at: float | None = None
    reviewed_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchReviewed(Tagged):
    """A match confirmed or rejected (the review is in the access log)."""

    KIND: ClassVar[str] = "match_reviewed"
    match: WatchlistMatch


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchlistMatches(Tagged):
    """The latest watchlist matches, newest first."""

    KIND: ClassVar[str] = "watchlist_matches"
    matches: tuple[WatchlistMatch, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateRecordsExport(Tagged):
    """Everything kept of a plate in a window, as a JSON document (the export is logged)."""

    KIND: ClassVar[str] = "plate_records_export"
    filename: str
    """Also written to the server's documents folder (`GET /api/documents/{filename}`)."""
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateRecordsErased(Tagged):
    """How many records of a plate an erasure (or an objection) deleted."""

    KIND: ClassVar[str] = "plate_records_erased"
    hashed: int = 0
    reads: int = 0
    matches: int = 0
    crops: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectionInfo:
    """One objection: its id, when and why (the plate is never shown, even as a hash)."""

    objection_id: str
    added_at: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectionAdded(Tagged):
    """A plate is on the objection list (`created` false when it already was)."""

    KIND: ClassVar[str] = "objection_added"
    objection: ObjectionInfo
    created: bool = True
    erased: PlateRecordsErased | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Objections(Tagged):
    """The objection list."""

    KIND: ClassVar[str] = "objections"
    objections: tuple[ObjectionInfo, ...] = ()


type Response = (
    Done
    | ConfigApplied
    | Subscribed
    | StreamProbe
    | OnvifDiscovery
    | OnvifDevice
    | FrigateServer
    | PlateQueryResult
    | AccessLogCheck
    | AccessLogExport
    | Documents
    | Diagnostics
    | PrivacyVerdict
    | RuleReplay
    | MatchReviewed
    | WatchlistMatches
    | PlateRecordsExport
    | PlateRecordsErased
    | ObjectionAdded
    | Objections
)


# --------------------------------------------------------------------------------- requests


class Request(Tagged):
    """A message the client sends and the server answers; `Reply` is its result's type."""

    __slots__ = ()
    Reply: ClassVar[type[Response]]
    id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyConfig(Request):
    """Validate a whole configuration and, unless `dry_run`, run it.

    Cameras whose settings did not change keep running untouched; the server keeps the
    configuration in its data folder, so it resumes after a restart without the client.
    """

    KIND: ClassVar[str] = "apply_config"
    Reply: ClassVar[type[Response]] = ConfigApplied
    id: int = 0
    config: dict[str, JsonValue]
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe(Request):
    """Receive every state now, then each change and each event."""

    KIND: ClassVar[str] = "subscribe"
    Reply: ClassVar[type[Response]] = Subscribed
    id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeStream(Request):
    """Open a stream, decode one frame and describe it (the camera flow's check)."""

    KIND: ClassVar[str] = "probe_stream"
    Reply: ClassVar[type[Response]] = StreamProbe
    id: int = 0
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    transport: Literal["tcp", "udp"] = "tcp"
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoverOnvif(Request):
    """Look for ONVIF devices on the server's network (WS-Discovery)."""

    KIND: ClassVar[str] = "discover_onvif"
    Reply: ClassVar[type[Response]] = OnvifDiscovery
    id: int = 0
    timeout_s: float = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchOnvifDevice(Request):
    """Log in to an ONVIF camera and list its identity and stream profiles."""

    KIND: ClassVar[str] = "fetch_onvif_device"
    Reply: ClassVar[type[Response]] = OnvifDevice
    id: int = 0
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchFrigate(Request):
    """Read a Frigate server's configuration: version, topic prefix, cameras and zones."""

    KIND: ClassVar[str] = "fetch_frigate"
    Reply: ClassVar[type[Response]] = FrigateServer
    id: int = 0
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify_ssl: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetCounter(Request):
    """Set a line's persisted totals back to zero."""

    KIND: ClassVar[str] = "reset_counter"
    Reply: ClassVar[type[Response]] = Done
    id: int = 0
    camera_id: str
    rule_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecaptureReference(Request):
    """Take a camera's next frames as its reference view (after an intended move)."""

    KIND: ClassVar[str] = "recapture_reference"
    Reply: ClassVar[type[Response]] = Done
    id: int = 0
    camera_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetWatchlist(Request):
    """Replace the plate watchlist live (no camera restarts)."""

    KIND: ClassVar[str] = "set_watchlist"
    Reply: ClassVar[type[Response]] = Done
    id: int = 0
    watchlist: dict[str, JsonValue]
    actor: Actor


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryPlate(Request):
    """Look a plate up in the stored passages; written to the access log with who and why."""

    KIND: ClassVar[str] = "query_plate"
    Reply: ClassVar[type[Response]] = PlateQueryResult
    id: int = 0
    plate: str
    actor: Actor
    reason: str
    camera_id: str | None = None
    since: float | None = None
    until: float | None = None
    legal_basis: str | None = None
    """The GDPR article 6(1) basis of this search (`vigil_protocol.privacy.LegalBasis`);
    required by the server (``legal_basis_required``), optional here only for compatibility."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordAccess(Request):
    """Write an access the client carried out (a setting changed, a picture viewed) to the log."""

    KIND: ClassVar[str] = "record_access"
    Reply: ClassVar[type[Response]] = Done
    id: int = 0
    actor: Actor
    action: str
    target: str
    reason: str = ""
    details: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyAccessLog(Request):
    """Check the access log's chain (the check is logged)."""

    KIND: ClassVar[str] = "verify_access_log"
    Reply: ClassVar[type[Response]] = AccessLogCheck
    id: int = 0
    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportAccessLog(Request):
    """Export the access log with its check (the export is logged first)."""

    KIND: ClassVar[str] = "export_access_log"
    Reply: ClassVar[type[Response]] = AccessLogExport
    id: int = 0
    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """A group of people who can see what Vigil produces, for the record of processing."""

    key: str
    """``ha_administrators``, ``ha_users``…"""
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateDocuments(Request):
    """Write the impact assessment, record and signs from the live configuration (logged)."""

    KIND: ClassVar[str] = "generate_documents"
    Reply: ClassVar[type[Response]] = Documents
    id: int = 0
    actor: Actor
    reason: str = ""
    recipients: tuple[Recipient, ...] = ()
    admin_only_services: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckPrivacy(Request):
    """Ask what a deployment context lets these detectors do (the forms' privacy gate)."""

    KIND: ClassVar[str] = "check_privacy"
    Reply: ClassVar[type[Response]] = PrivacyVerdict
    id: int = 0
    context: str | None
    detectors: tuple[str, ...]
    language: Literal["en", "fr"] = "en"


@dataclass(frozen=True, slots=True, kw_only=True)
class GetDiagnostics(Request):
    """Return the server's diagnostics."""

    KIND: ClassVar[str] = "get_diagnostics"
    Reply: ClassVar[type[Response]] = Diagnostics
    id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayRule(Request):
    """Replay a camera's recent tracks through a fresh zone or rule (one of `zone`, `rule`).

    `zone` and `rule` are written as in the configuration (without `id`); `replaces` names
    the zone or rule being changed: the candidate stands in for it, and its acknowledgement
    applies. Only zones, line crossings and loitering replay (the others read pixels).
    """

    KIND: ClassVar[str] = "replay_rule"
    Reply: ClassVar[type[Response]] = RuleReplay
    id: int = 0
    camera_id: str
    zone: dict[str, JsonValue] | None = None
    rule: dict[str, JsonValue] | None = None
    replaces: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewMatch(Request):
    """Confirm or reject a pending watchlist match (an administrator; logged).

    A confirmed match raises the event ``watchlist_match_confirmed``, the one automations act
    on; a rejected one ``watchlist_match_rejected`` and loses its crop and plate hash.
    """

    KIND: ClassVar[str] = "review_match"
    Reply: ClassVar[type[Response]] = MatchReviewed
    id: int = 0
    match_id: str
    decision: Literal["confirm", "reject"]
    actor: Actor
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListMatches(Request):
    """List the latest watchlist matches (pending by default; None: every status)."""

    KIND: ClassVar[str] = "list_matches"
    Reply: ClassVar[type[Response]] = WatchlistMatches
    id: int = 0
    actor: Actor
    status: MatchStatus | None = "pending"
    limit: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportPlateRecords(Request):
    """Export what is kept of a plate in a time window (right of access; admin; logged)."""

    KIND: ClassVar[str] = "export_plate_records"
    Reply: ClassVar[type[Response]] = PlateRecordsExport
    id: int = 0
    plate: str
    actor: Actor
    reason: str
    since: float | None = None
    until: float | None = None
    camera_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErasePlateRecords(Request):
    """Erase what is kept of a plate in a time window (right to erasure; admin; logged)."""

    KIND: ClassVar[str] = "erase_plate_records"
    Reply: ClassVar[type[Response]] = PlateRecordsErased
    id: int = 0
    plate: str
    actor: Actor
    reason: str
    since: float | None = None
    until: float | None = None
    camera_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AddObjection(Request):
    """Put a plate on the objection list (right to object; admin; logged).

    From then on the plate is counted and nothing else: never hashed, stored or matched,
    except by a watchlist entry marked ``legal_obligation``. `erase` also deletes what is
    already kept of it.
    """

    KIND: ClassVar[str] = "add_objection"
    Reply: ClassVar[type[Response]] = ObjectionAdded
    id: int = 0
    plate: str
    actor: Actor
    reason: str
    erase: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveObjection(Request):
    """Take a plate off the objection list (the keeper withdrew it; admin; logged)."""

    KIND: ClassVar[str] = "remove_objection"
    Reply: ClassVar[type[Response]] = Done
    id: int = 0
    objection_id: str
    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListObjections(Request):
    """List the objection list (ids, dates and reasons only; admin)."""

    KIND: ClassVar[str] = "list_objections"
    Reply: ClassVar[type[Response]] = Objections
    id: int = 0
    actor: Actor


type ClientMessage = (
    Auth
    | ApplyConfig
    | Subscribe
    | ProbeStream
    | DiscoverOnvif
    | FetchOnvifDevice
    | FetchFrigate
    | ResetCounter
    | RecaptureReference
    | SetWatchlist
    | QueryPlate
    | RecordAccess
    | VerifyAccessLog
    | ExportAccessLog
    | GenerateDocuments
    | CheckPrivacy
    | GetDiagnostics
    | ReplayRule
    | ReviewMatch
    | ListMatches
    | ExportPlateRecords
    | ErasePlateRecords
    | AddObjection
    | RemoveObjection
    | ListObjections
)
"""Everything a client may send."""


# ------------------------------------------------------------------ replies and pushes


@dataclass(frozen=True, slots=True, kw_only=True)
class Result(Tagged):
    """The answer to request `id`."""

    KIND: ClassVar[str] = "result"
    id: int
    value: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorReply(Tagged):
    """Request `id` failed (or could not be read: then `id` is -1 when it was unknown)."""

    KIND: ClassVar[str] = "error"
    id: int
    error: ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class StatePush(Tagged):
    """A state changed."""

    KIND: ClassVar[str] = "state"
    update: StateUpdate


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPush(Tagged):
    """Something happened."""

    KIND: ClassVar[str] = "event"
    event: RuleEvent


type ServerMessage = Hello | AuthOk | Refused | Result | ErrorReply | StatePush | EventPush
"""Everything a server may send."""


def load_client_message(text: str | bytes) -> ClientMessage:
    """Parse a message a client sent (ProtocolError when it is none)."""
    return cast("ClientMessage", loads(cast("type[Any]", ClientMessage), text))


def load_server_message(text: str | bytes) -> ServerMessage:
    """Parse a message a server sent (ProtocolError when it is none)."""
    return cast("ServerMessage", loads(cast("type[Any]", ServerMessage), text))
