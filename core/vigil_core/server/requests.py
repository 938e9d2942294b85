"""Answer each request of the protocol: one function per request type.

A handler returns the request's typed response or raises a VigilError (a translation key and
a message), which the session turns into an `ErrorReply`. Blocking work (decoding, model and
file I/O) runs in threads; network work (ONVIF, Frigate) on the loop.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from vigil_core.anpr.store import MatchRecord, MatchStatus
from vigil_core.compliance.assessment import write_documents
from vigil_core.compliance.inventory import plate_queries_allowed
from vigil_core.compliance.summary import LogStatus, ProcessingSummary, Recipient, Texts
from vigil_core.config import EngineConfig, WatchlistSpec
from vigil_core.decode.av_decoder import first_frame
from vigil_core.decode.convert import fit_size, to_rgb
from vigil_core.errors import ConfigInvalid, VigilError
from vigil_core.events.model import SourceState
from vigil_core.feeds.frigate import FrigateCamera, fetch_frigate
from vigil_core.feeds.onvif import fetch_onvif_device, pick_analysis_profile
from vigil_core.feeds.ws_discovery import discover_onvif_cameras
from vigil_core.plates.watchlist import WILDCARDS, InvalidPlate, parse_pattern
from vigil_core.privacy.access_log import AccessAction, Actor
from vigil_core.privacy.context import (
    allowance,
    detector_key,
    keeps_images,
    needs_acknowledgement,
)
from vigil_core.privacy.purposes import Allowance
from vigil_core.redact import StreamAddress
from vigil_core.store.files import write_atomically
import vigil_protocol as vp
from vigil_protocol.privacy import DeploymentContext, DetectorKind, LegalBasis

from .errors import ConfigRejected, field_errors
from .tracks import REPLAYABLE, ReplaySpec, replay

if TYPE_CHECKING:
    from vigil_core.engine import Engine

    from .app import VigilServer
    from .session import Session

_LOGGER = logging.getLogger(__name__)

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https"})
PROBE_MAX_WIDTH = 1280
"""Probed frames are kept at most this wide (they are drawn on by the forms)."""


class NotRunning(VigilError):
    """No engine runs (no configuration yet, or its detector cannot load)."""

    translation_key = "not_running"


class UnknownCamera(VigilError):
    """The request names a camera the server does not run."""

    translation_key = "unknown_camera"


class AdminRequired(VigilError):
    """Only an administrator may do this."""

    translation_key = "admin_required"


class ReplayUnsupported(VigilError):
    """Only zones, line crossings and loitering replay recent tracks."""

    translation_key = "replay_unsupported"


class ReplayHeldBack(VigilError):
    """The deployment context holds this detector back until its legal basis is stated."""

    translation_key = "replay_held_back"


class BadUrl(VigilError):
    """A stream URL is not an absolute rtsp/http URL with a host."""

    translation_key = "invalid_url"


type Handler = Callable[[Any, VigilServer, Session], Awaitable[vp.Response]]
HANDLERS: dict[type[vp.Request], Handler] = {}


def handles[H: Handler](kind: type[vp.Request]) -> Callable[[H], H]:
    """Register the handler of a request type."""

    def register(handler: H) -> H:
        HANDLERS[kind] = handler
        return handler

    return register


def _engine(server: VigilServer) -> Engine:
    engine = server.engine
    if engine is None:
        raise NotRunning("no configuration runs on this server yet")
    return engine


def _actor(actor: vp.Actor) -> Actor:
    return Actor(user_id=actor.user_id, name=actor.name, is_admin=actor.is_admin)


def _require_admin(actor: vp.Actor) -> None:
    if not actor.is_admin or actor.origin != "user":
        raise AdminRequired(f"{actor.name or 'this caller'} is not an administrator")


class RealUserRequired(VigilError):
    """Only a person (a user with an id, not an automation or a script) may do this."""

    translation_key = "real_user_required"


class LegalBasisRequired(VigilError):
    """A plate search states its legal basis (GDPR article 6(1))."""

    translation_key = "legal_basis_required"


class ReasonRequired(VigilError):
    """An access to plate records states why, in a few words."""

    translation_key = "reason_required"


REASON_MIN_CHARS = 3


def _require_admin_user(actor: vp.Actor) -> None:
    """Refuse anyone but an administrator acting in person (with a user id)."""
    if actor.origin != "user" or not (actor.user_id or "").strip():
        raise RealUserRequired(
            "plate records are opened by a person with a user account, not by an automation"
        )
    _require_admin(actor)


def _legal_basis(value: str | None) -> LegalBasis:
    try:
        return LegalBasis(value or "")
    except ValueError:
        bases = ", ".join(basis.value for basis in LegalBasis)
        raise LegalBasisRequired(f"a plate search needs its legal basis, one of: {bases}") from None


def _reason(value: str) -> str:
    if len(value.strip()) < REASON_MIN_CHARS:
        raise ReasonRequired(f"state the reason in at least {REASON_MIN_CHARS} characters")
    return value.strip()


def _exact_plate(value: str) -> str:
    """Return a whole plate's canonical text (a pattern finds other people's plates)."""
    plate = parse_pattern(value)
    if any(char in WILDCARDS for char in plate):
        raise InvalidPlate("give the whole plate: a pattern would reach other plates")
    return plate


@handles(vp.ApplyConfig)
async def _apply(request: vp.ApplyConfig, server: VigilServer, _s: Session) -> vp.Response:
    return await server.apply(request.config, dry_run=request.dry_run)


@handles(vp.Subscribe)
async def _subscribe(_r: vp.Subscribe, _server: VigilServer, session: Session) -> vp.Response:
    return vp.Subscribed(states=session.subscribe())


def stream_url(url: str, username: str | None, password: str | None) -> str:
    """Return the URL to open: the credentials given apart joined to it (never logged).

    Parsed the way a camera's source is (`StreamAddress`), so a password holding ``#``, ``/`` or
    ``?`` given apart, or percent-encoded in the URL, opens the same stream as at run time.
    """
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise BadUrl("the URL's port is not a number from 1 to 65535") from None
    if parts.scheme.lower() not in STREAM_SCHEMES or not parts.hostname:
        raise BadUrl("a stream URL needs rtsp(s)://, rtmp:// or http(s):// and a host")
    try:
        address = StreamAddress.parse(
            url, username=username or None, password=password or None, strict=True
        )
    except ValueError as err:
        raise BadUrl(str(err)) from None
    return address.authenticated()


@handles(vp.ProbeStream)
async def _probe(request: vp.ProbeStream, server: VigilServer, _s: Session) -> vp.Response:
    url = stream_url(request.url, request.username, request.password)
    timeout_s = min(max(request.timeout_s, 1.0), 60.0)

    def grab() -> vp.StreamProbe:
        frame, decoder = first_frame(url, timeout_s=timeout_s, transport=request.transport)
        with decoder:
            image = to_rgb(frame, fit_size(frame.width, frame.height, PROBE_MAX_WIDTH))
            return vp.StreamProbe(
                width=frame.width,
                height=frame.height,
                codec=decoder.codec,
                fps=decoder.nominal_fps,
                frame_id=server.frames.put(image),
            )

    return await asyncio.to_thread(grab)


@handles(vp.DiscoverOnvif)
async def _discover(request: vp.DiscoverOnvif, server: VigilServer, _s: Session) -> vp.Response:
    found = await discover_onvif_cameras(
        timeout_s=min(max(request.timeout_s, 0.5), 10.0), **server.discovery_options
    )
    return vp.OnvifDiscovery(
        devices=tuple(
            vp.DiscoveredDevice(
                host=camera.host,
                port=camera.port,
                name=camera.name,
                hardware=camera.hardware,
                endpoint=camera.endpoint,
            )
            for camera in found
        )
    )


@handles(vp.FetchOnvifDevice)
async def _onvif(request: vp.FetchOnvifDevice, _server: VigilServer, _s: Session) -> vp.Response:
    device = await fetch_onvif_device(
        request.host, request.port, request.username, request.password, timeout_s=10.0
    )
    usable = [profile for profile in device.profiles if profile.stream_uri]
    best = pick_analysis_profile(usable)
    ordered = sorted(usable, key=lambda profile: profile is not best)
    info = device.info
    return vp.OnvifDevice(
        manufacturer=info.manufacturer,
        model=info.model,
        firmware=info.firmware,
        serial=info.serial,
        hardware_id=info.hardware_id,
        profiles=tuple(
            vp.OnvifProfile(
                token=p.token,
                name=p.name,
                encoding=p.encoding,
                width=p.width,
                height=p.height,
                fps=p.fps,
                stream_uri=p.stream_uri,
            )
            for p in ordered
        ),
    )


@handles(vp.FetchFrigate)
async def _frigate(request: vp.FetchFrigate, _server: VigilServer, _s: Session) -> vp.Response:
    async with aiohttp.ClientSession() as session:
        found = await fetch_frigate(
            request.url,
            username=request.username,
            password=request.password,
            session=session,
            timeout_s=10.0,
            verify_ssl=request.verify_ssl,
        )
    return vp.FrigateServer(
        version=found.version,
        topic_prefix=found.topic_prefix,
        cameras=tuple(_frigate_camera(camera) for camera in found.cameras),
    )


def _frigate_camera(camera: FrigateCamera) -> vp.FrigateCamera:
    return vp.FrigateCamera(
        name=camera.name,
        friendly_name=camera.friendly_name,
        width=camera.width,
        height=camera.height,
        fps=camera.fps,
        enabled=camera.enabled,
        restream_url=camera.restream_url,
        detect_restream_url=camera.detect_restream_url,
        objects=camera.objects,
        zones=tuple(
            vp.FrigateZone(
                id=zone_id,
                name=camera.zone_names.get(zone_id, zone_id),
                polygon=tuple((float(x), float(y)) for x, y in polygon),
                objects=tuple(camera.zone_objects.get(zone_id, ())),
            )
            for zone_id, polygon in camera.zones.items()
        ),
    )


@handles(vp.ResetCounter)
async def _reset(request: vp.ResetCounter, server: VigilServer, _s: Session) -> vp.Response:
    engine = _engine(server)
    await asyncio.to_thread(engine.reset_counter, request.camera_id, request.rule_id)
    return vp.Done()


@handles(vp.RecaptureReference)
async def _recapture(
    request: vp.RecaptureReference, server: VigilServer, _s: Session
) -> vp.Response:
    _engine(server).recapture_reference(request.camera_id)
    return vp.Done()


@handles(vp.SetWatchlist)
async def _watchlist(request: vp.SetWatchlist, server: VigilServer, _s: Session) -> vp.Response:
    """Swap the watchlist live: the engine applies it without restarting any camera."""
    _engine(server)
    try:
        WatchlistSpec.model_validate(request.watchlist)
    except ValidationError as err:
        fields = tuple(
            vp.FieldError(
                loc=f"anpr.watchlist.{f.loc}", message=f.message, translation_key=f.translation_key
            )
            for f in field_errors(err)
        )
        raise ConfigRejected(f"invalid watchlist at {fields[0].loc}", fields) from None
    raw = dict(server.raw_config or {})
    raw["anpr"] = {**dict(raw.get("anpr") or {}), "watchlist": request.watchlist}
    await server.apply(raw)
    log = server.access_log
    assert log is not None
    entries = request.watchlist.get("entries")
    count = len(entries) if isinstance(entries, list) else 0
    await asyncio.to_thread(
        lambda: log.append(
            _actor(request.actor),
            AccessAction.WATCHLIST_CHANGE,
            target="watchlist",
            details={"entries": count},
        )
    )
    return vp.Done()


class PlateQueriesDisabled(VigilError):
    """No camera keeps plates (hashed or in full), or the context holds plate searches back."""

    translation_key = "plate_queries_disabled"


def _check_query(request: vp.QueryPlate, engine: Engine) -> str:
    """Return the canonical plate a query searches for, or refuse the query."""
    reading = [camera for camera in engine.config.cameras if camera.anpr.enabled]
    if not any(camera.anpr.privacy != "watchlist" for camera in reading) or not (
        plate_queries_allowed(engine.privacy_violations)
    ):
        raise PlateQueriesDisabled("no camera keeps plates that a search could find")
    plate = parse_pattern(request.plate)
    if "*" in plate or "?" in plate:
        raise InvalidPlate("a plate search names one plate, without wildcards")
    if request.camera_id is not None and request.camera_id not in engine.camera_ids:
        raise UnknownCamera(f"no camera {request.camera_id}")
    return plate


def _who(actor: vp.Actor) -> str:
    """Return who asks, as the access log writes it: the name and the user's id."""
    return f"{actor.name} ({actor.user_id})" if actor.user_id else actor.name


@handles(vp.QueryPlate)
async def _query(request: vp.QueryPlate, server: VigilServer, _s: Session) -> vp.Response:
    """Search the kept passages of a plate: a real administrator, a reason and a legal basis."""
    _require_admin_user(request.actor)
    basis = _legal_basis(request.legal_basis)
    reason = _reason(request.reason)
    engine = _engine(server)
    plate = _check_query(request, engine)
    found = await asyncio.to_thread(
        lambda: engine.anpr.query(
            plate,
            who=_who(request.actor),
            reason=reason,
            since=_when(request.since),
            until=_when(request.until),
            camera_id=request.camera_id,
            details={"legal_basis": basis.value, "user_id": request.actor.user_id},
        )
    )
    return vp.PlateQueryResult(
        passages=tuple(
            vp.PlatePassage(
                camera_id=s.camera_id,
                wall_time=s.seen_at,
                plate=s.plate,
                direction=s.direction or None,
            )
            for s in found
        )
    )


def _when(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


@handles(vp.RecordAccess)
async def _record(request: vp.RecordAccess, server: VigilServer, _s: Session) -> vp.Response:
    log = server.access_log
    assert log is not None
    try:
        action = AccessAction(request.action)
    except ValueError:
        raise ConfigInvalid(f"unknown access action {request.action!r}") from None
    details = {str(k): v for k, v in request.details.items()}
    await asyncio.to_thread(
        lambda: log.append(
            _actor(request.actor),
            action,
            target=request.target,
            reason=request.reason,
            details=details,
        )
    )
    return vp.Done()


@handles(vp.VerifyAccessLog)
async def _verify(request: vp.VerifyAccessLog, server: VigilServer, _s: Session) -> vp.Response:
    _require_admin(request.actor)
    log = server.access_log
    assert log is not None
    check = await asyncio.to_thread(log.verify)
    await asyncio.to_thread(
        lambda: log.append(
            _actor(request.actor),
            AccessAction.LOG_VERIFY,
            target="access_log",
            reason=request.reason,
            details={"ok": check.ok, "entries": check.entries, "first_broken": check.first_broken},
        )
    )
    return vp.AccessLogCheck(
        ok=check.ok,
        entries=check.entries,
        first_broken=check.first_broken,
        line=check.line,
        reason=check.reason,
        head=check.head,
    )


@handles(vp.ExportAccessLog)
async def _export(request: vp.ExportAccessLog, server: VigilServer, _s: Session) -> vp.Response:
    _require_admin(request.actor)
    log = server.access_log
    assert log is not None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = server.data.documents_dir / f"access_log-{stamp}.json"

    def export() -> str:
        log.append(
            _actor(request.actor), AccessAction.LOG_EXPORT, target=path.name, reason=request.reason
        )
        log.export(path)
        return path.read_text(encoding="utf-8")

    return vp.AccessLogExport(filename=path.name, content=await asyncio.to_thread(export))


@handles(vp.GenerateDocuments)
async def _documents(
    request: vp.GenerateDocuments, server: VigilServer, _s: Session
) -> vp.Response:
    _require_admin(request.actor)
    log = server.access_log
    assert log is not None
    raw = server.raw_config or {}
    config = server.parse(raw)

    def generate() -> vp.Documents:
        log.append(
            _actor(request.actor),
            AccessAction.ASSESSMENT,
            target="documents",
            reason=request.reason,
        )
        check = log.verify()
        summary = ProcessingSummary.from_config(
            config,
            generated_at=datetime.now().astimezone(),
            version=server.settings.version,
            recipients=[Recipient(r.key, r.count) for r in request.recipients],
            access_log=LogStatus(entries=check.entries, ok=check.ok, head=check.head),
            admin_only_services=request.admin_only_services,
        )
        written = write_documents(summary, server.data.documents_dir)
        return vp.Documents(
            documents=tuple(
                vp.DocumentInfo(
                    kind=str(doc.kind),
                    language=str(doc.language),
                    filename=doc.path.name,
                    size=doc.path.stat().st_size,
                )
                for doc in written
            )
        )

    return await asyncio.to_thread(generate)


# ------------------------------------------------------------------ watchlist match review


@handles(vp.ReviewMatch)
async def _review(request: vp.ReviewMatch, server: VigilServer, _s: Session) -> vp.Response:
    """Confirm or reject a pending match; the review goes to the access log."""
    _require_admin_user(request.actor)
    engine = _engine(server)
    confirm = request.decision == "confirm"
    record = await engine.review_match(request.match_id, confirm=confirm, by=request.actor.name)
    await _log(
        server,
        request.actor,
        AccessAction.MATCH_CONFIRM if confirm else AccessAction.MATCH_REJECT,
        target=record.match_id,
        reason=request.reason,
        details={"entry_id": record.entry_id, "camera_id": record.camera_id},
    )
    return vp.MatchReviewed(match=_wire_match(engine, record))


@handles(vp.ListMatches)
async def _matches(request: vp.ListMatches, server: VigilServer, _s: Session) -> vp.Response:
    _require_admin_user(request.actor)
    engine = _engine(server)
    status = MatchStatus(request.status) if request.status else None
    limit = min(max(request.limit, 1), 1000)
    found = await asyncio.to_thread(engine.anpr.matches, status, limit)
    return vp.WatchlistMatches(matches=tuple(_wire_match(engine, m) for m in found))


def _wire_match(engine: Engine, record: MatchRecord) -> vp.WatchlistMatch:
    return vp.WatchlistMatch(
        match_id=record.match_id,
        entry_id=record.entry_id,
        camera_id=record.camera_id,
        wall_time=record.seen_at,
        status=record.status.value,
        distance=record.distance,
        crop_id=record.crop_id if _shows_crops(engine, record.camera_id) else None,
        reviewed_at=record.reviewed_at,
        reviewed_by=record.reviewed_by,
    )


def _shows_crops(engine: Engine, camera_id: str) -> bool:
    camera = next((c for c in engine.config.cameras if c.id == camera_id), None)
    context = engine.config.privacy.context
    return camera is not None and camera.anpr.crops and keeps_images(context, "anpr_watchlist")


# -------------------------------------------------------------- rights: access, erasure, objection


@handles(vp.ExportPlateRecords)
async def _export_plate(
    request: vp.ExportPlateRecords, server: VigilServer, _s: Session
) -> vp.Response:
    """Write what is kept of a plate in a window to a JSON document; logged first."""
    _require_admin_user(request.actor)
    reason = _reason(request.reason)
    plate = _exact_plate(request.plate)
    engine = _engine(server)
    anpr = engine.anpr
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = server.data.documents_dir / f"plate_records-{stamp}-{request.id}.json"

    def export() -> str:
        window = _window(request)
        _append(
            server,
            request.actor,
            AccessAction.PLATE_EXPORT,
            target=anpr.store().keyer.key(plate),
            reason=reason,
            details={**window, "file": path.name},
        )
        records, crops = anpr.plate_records(plate, **window)  # type: ignore[arg-type]
        document = {
            "plate": plate,
            "generated_at": datetime.now(UTC).isoformat(),
            "window": {k: _iso(v) for k, v in window.items() if k != "camera_id"}
            | {"camera_id": request.camera_id},
            "sightings": [
                {
                    "camera_id": s.camera_id,
                    "seen_at": _iso(s.seen_at),
                    "direction": s.direction,
                    "plate": s.plate,
                    "confidence": s.confidence,
                    "crop_id": s.crop_id,
                }
                for s in records.sightings
            ],
            "watchlist_matches": [
                {
                    "match_id": m.match_id,
                    "entry_id": m.entry_id,
                    "camera_id": m.camera_id,
                    "seen_at": _iso(m.seen_at),
                    "status": m.status.value,
                    "crop_id": m.crop_id,
                }
                for m in records.matches
            ],
            "crops": [
                {
                    "crop_id": crop_id,
                    "camera_id": crop.camera_id,
                    "created_at": _iso(crop.created_at),
                    "jpeg_base64": base64.b64encode(crop.jpeg).decode("ascii"),
                }
                for crop_id, crop in crops.items()
            ],
        }
        text = json.dumps(document, indent=1, sort_keys=True)
        write_atomically(path, text.encode("utf-8"))
        return text

    return vp.PlateRecordsExport(filename=path.name, content=await asyncio.to_thread(export))


@handles(vp.ErasePlateRecords)
async def _erase_plate(
    request: vp.ErasePlateRecords, server: VigilServer, _s: Session
) -> vp.Response:
    """Delete what is kept of a plate in a window (sightings, matches, crops); logged."""
    _require_admin_user(request.actor)
    reason = _reason(request.reason)
    plate = _exact_plate(request.plate)
    anpr = _engine(server).anpr

    def erase() -> dict[str, int]:
        window = _window(request)
        removed = anpr.erase_plate(plate, **window)  # type: ignore[arg-type]
        _append(
            server,
            request.actor,
            AccessAction.PLATE_ERASE,
            target=anpr.store().keyer.key(plate),
            reason=reason,
            details={**window, **removed},
        )
        return removed

    return _erased(await asyncio.to_thread(erase))


@handles(vp.AddObjection)
async def _object(request: vp.AddObjection, server: VigilServer, _s: Session) -> vp.Response:
    """Put a plate on the objection list (and erase what is kept of it); logged."""
    _require_admin_user(request.actor)
    reason = _reason(request.reason)
    plate = _exact_plate(request.plate)
    anpr = _engine(server).anpr

    def add() -> vp.ObjectionAdded:
        objection, created, removed = anpr.add_objection(plate, reason, erase=request.erase)
        _append(
            server,
            request.actor,
            AccessAction.OBJECTION_ADD,
            target=objection.objection_id,
            reason=reason,
            details={"created": created, **removed},
        )
        return vp.ObjectionAdded(
            objection=vp.ObjectionInfo(
                objection_id=objection.objection_id,
                added_at=objection.added_at,
                reason=objection.reason,
            ),
            created=created,
            erased=_erased(removed) if request.erase else None,
        )

    return await asyncio.to_thread(add)


@handles(vp.RemoveObjection)
async def _withdraw(request: vp.RemoveObjection, server: VigilServer, _s: Session) -> vp.Response:
    _require_admin_user(request.actor)
    reason = _reason(request.reason)
    anpr = _engine(server).anpr

    def remove() -> None:
        anpr.objections().remove(request.objection_id)
        _append(
            server,
            request.actor,
            AccessAction.OBJECTION_REMOVE,
            target=request.objection_id,
            reason=reason,
            details={},
        )

    await asyncio.to_thread(remove)
    return vp.Done()


@handles(vp.ListObjections)
async def _objections(request: vp.ListObjections, server: VigilServer, _s: Session) -> vp.Response:
    _require_admin_user(request.actor)
    anpr = _engine(server).anpr
    items = await asyncio.to_thread(lambda: anpr.objections().items())
    return vp.Objections(
        objections=tuple(
            vp.ObjectionInfo(objection_id=o.objection_id, added_at=o.added_at, reason=o.reason)
            for o in items
        )
    )


def _window(
    request: vp.ExportPlateRecords | vp.ErasePlateRecords,
) -> dict[str, float | str | None]:
    return {"since": request.since, "until": request.until, "camera_id": request.camera_id}


def _erased(removed: dict[str, int]) -> vp.PlateRecordsErased:
    return vp.PlateRecordsErased(
        hashed=removed.get("hashed", 0),
        reads=removed.get("reads", 0),
        matches=removed.get("matches", 0),
        crops=removed.get("crops", 0),
    )


def _iso(value: float | str | None) -> str | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat()
    return value


def _append(
    server: VigilServer,
    actor: vp.Actor,
    action: AccessAction,
    *,
    target: str,
    reason: str,
    details: dict[str, Any],
) -> None:
    """Write an entry to the access log (blocking)."""
    log = server.access_log
    assert log is not None
    log.append(_actor(actor), action, target=target, reason=reason, details=details)


async def _log(
    server: VigilServer,
    actor: vp.Actor,
    action: AccessAction,
    *,
    target: str,
    reason: str,
    details: dict[str, Any],
) -> None:
    await asyncio.to_thread(
        lambda: _append(server, actor, action, target=target, reason=reason, details=details)
    )


@handles(vp.CheckPrivacy)
async def _privacy(request: vp.CheckPrivacy, _server: VigilServer, _s: Session) -> vp.Response:
    """Say which detectors the context gates, and name them in the asked language."""
    try:
        context = DeploymentContext(request.context) if request.context else None
        kinds = [DetectorKind(kind) for kind in request.detectors]
    except ValueError as err:
        raise ConfigInvalid(str(err)) from None
    texts = Texts(request.language)
    await asyncio.to_thread(texts.keys)  # reads the wording once, off the loop (then cached)
    statistics = [
        kind for kind in kinds if context and allowance(context, kind) is Allowance.STATISTICS
    ]
    return vp.PrivacyVerdict(
        acknowledge=tuple(kind.value for kind in needs_acknowledgement(context, kinds)),
        statistics=tuple(kind.value for kind in statistics),
        names={kind.value: texts(f"detector.{kind.value}") for kind in kinds}
        | {"context": texts.context(context)},
    )


@handles(vp.GetDiagnostics)
async def _diagnostics(_r: vp.GetDiagnostics, server: VigilServer, _s: Session) -> vp.Response:
    engine = server.engine
    data: dict[str, vp.JsonValue] = {
        "server": {
            "version": server.settings.version,
            "protocol": vp.PROTOCOL_VERSION,
            "tls": server.settings.tls_cert is not None,
        },
        "running": engine is not None,
    }
    if engine is not None:
        data["cameras"] = {
            camera.id: _camera_diagnostics(engine, camera.id) for camera in engine.config.cameras
        }
        # The plate store counts its rows in its database: off the loop.
        anpr = await asyncio.to_thread(engine.anpr.diagnostics)
        data["anpr"] = json.loads(json.dumps(anpr, default=str))
        data["retention"] = json.loads(json.dumps(engine.retention.describe(), default=str))
        data["held_back"] = [v.key for v in sorted(engine.privacy_violations, key=lambda v: v.key)]
        data["inference"] = _inference_diagnostics(engine)
    if server.access_log is not None:
        check = await asyncio.to_thread(server.access_log.verify)
        data["access_log"] = {"entries": check.entries, "ok": check.ok}
    return vp.Diagnostics(data=data)


def _inference_diagnostics(engine: Engine) -> vp.JsonValue:
    """Where the detector runs and how many images ran where (no URL: diagnostics are shared)."""
    status = engine.inference_backend()
    return {
        "backend": status.backend,
        "state": status.state.value,
        "reason_key": status.translation_key,
        "model": status.model,
        "remote_images": status.remote_images,
        "fallback_images": status.fallback_images,
    }


def _camera_diagnostics(engine: Engine, camera_id: str) -> vp.JsonValue:
    try:
        status = engine.status(camera_id)
    except KeyError:
        return {"running": False}
    # The pipeline keeps its last error after the stream recovers: show it only while down.
    return {
        "running": True,
        "state": status.state.value,
        "error": None if status.state is SourceState.ONLINE else status.error,
        "analysed_fps": round(status.analysed_fps, 2),
        "inference_ms": round(status.inference_ms, 1),
        "frames_analysed": status.frames_analysed,
        "frames_inferred": status.frames_inferred,
        "events": status.events,
    }


REPLAY_ID = "replay-candidate"
"""The id a new zone or rule has while it is replayed."""


@handles(vp.ReplayRule)
async def _replay(request: vp.ReplayRule, server: VigilServer, _s: Session) -> vp.Response:
    """Replay the camera's recent tracks through a fresh instance of the zone or rule drawn."""
    _engine(server)
    config, spec = _candidate(server, request)
    camera = config.cameras[0]
    kind = DetectorKind(REPLAYABLE[type(spec)])
    context = config.privacy
    allowed = allowance(context.context, kind) if context.context else Allowance.ALLOWED
    if allowed is Allowance.ACKNOWLEDGE:
        ack = context.acknowledgements.get(detector_key(kind, spec.id))
        if ack is None or ack.detector is not kind:
            raise ReplayHeldBack(
                f"{kind.value} is held back in a {context.context} until its legal basis is stated"
            )
    memory = server.tracks.get(camera.id)
    steps = memory.steps() if memory is not None else []
    with_paths = allowed is not Allowance.STATISTICS
    return await asyncio.to_thread(replay, spec, camera, steps, with_paths=with_paths)


def _item_id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def _candidate(server: VigilServer, request: vp.ReplayRule) -> tuple[EngineConfig, ReplaySpec]:
    """Return the configuration of the camera alone, the candidate in place of `replaces`."""
    if (request.zone is None) == (request.rule is None):
        raise ConfigInvalid("give either a zone or a rule to replay")
    raw = dict(server.raw_config or {})
    cameras = [c for c in raw.get("cameras") or [] if isinstance(c, dict)]
    found = next((c for c in cameras if c.get("id") == request.camera_id), None)
    if found is None:
        raise UnknownCamera(f"camera {request.camera_id} is not configured")
    candidate_id = request.replaces or REPLAY_ID
    camera = dict(found)
    for section in ("zones", "rules"):
        items = camera.get(section) or []
        camera[section] = [i for i in items if _item_id(i) != candidate_id]
    section, item = ("zones", request.zone) if request.zone is not None else ("rules", request.rule)
    assert item is not None
    camera[section] = [*camera[section], {**item, "id": candidate_id}]
    config = server.parse({**raw, "cameras": [camera]})
    parsed = config.cameras[0]
    specs: list[Any] = [*parsed.zones, *parsed.rules]
    spec = next(s for s in specs if s.id == candidate_id)
    if type(spec) not in REPLAYABLE:
        raise ReplayUnsupported(f"{getattr(spec, 'type', 'this rule')} does not replay tracks")
    return config, spec
