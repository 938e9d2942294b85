"""Plate records on the server: review of watchlist matches, and the keepers' rights (issue 21).

A watchlist match is a suspicion (``pending``) until an administrator confirms or rejects it;
the confirmed event is the one automations act on. A plate's keeper may ask what Vigil keeps of
the plate (export), have it erased, or object to its processing (the objection list: the plate
is counted and nothing else, except by a watchlist entry answering a legal obligation).

Every action here is an administrator's, in person (an automation is refused), and the server
writes each one to its access log with the user's name and id, and the plate only as its keyed
hash. These actions register beside the access-log actions of services.py, in the same style.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType
import voluptuous as vol

import vigil_protocol as vp

from .access import async_require_admin
from .client import ServerError
from .const import CONF_REASON, DOMAIN
from .data import VigilConfigEntry
from .server_config import SUBENTRY_WATCHLIST, of_type, slug_id

SERVICE_CONFIRM_MATCH: Final = "confirm_match"
SERVICE_REJECT_MATCH: Final = "reject_match"
SERVICE_LIST_MATCHES: Final = "list_matches"
SERVICE_EXPORT_PLATE_RECORDS: Final = "export_plate_records"
SERVICE_ERASE_PLATE_RECORDS: Final = "erase_plate_records"
SERVICE_ADD_OBJECTION: Final = "add_objection"
SERVICE_REMOVE_OBJECTION: Final = "remove_objection"
SERVICE_LIST_OBJECTIONS: Final = "list_objections"
PLATE_SERVICES: Final = (
    SERVICE_CONFIRM_MATCH,
    SERVICE_REJECT_MATCH,
    SERVICE_LIST_MATCHES,
    SERVICE_EXPORT_PLATE_RECORDS,
    SERVICE_ERASE_PLATE_RECORDS,
    SERVICE_ADD_OBJECTION,
    SERVICE_REMOVE_OBJECTION,
    SERVICE_LIST_OBJECTIONS,
)

ATTR_MATCH_ID: Final = "match_id"
ATTR_STATUS: Final = "status"
ATTR_PLATE: Final = "plate"
ATTR_SINCE: Final = "since"
ATTR_UNTIL: Final = "until"
ATTR_CAMERA: Final = "camera"
ATTR_ERASE: Final = "erase"
ATTR_OBJECTION_ID: Final = "objection_id"
ATTR_SERVER: Final = "server"
STATUS_ALL: Final = "all"
MATCH_STATUSES: Final = ("pending", "confirmed", "rejected")

PLATE_REFUSALS: Final = frozenset(
    {
        "admin_required",
        "real_user_required",
        "reason_required",
        "invalid_plate",
        "plate_too_short",
        "plate_too_long",
        "pattern_too_loose",
        "unknown_camera",
        "unknown_match",
        "match_already_reviewed",
        "unknown_objection",
    }
)
"""The server's refusals of these actions that Home Assistant translates."""

_SERVER = vol.Optional(ATTR_SERVER)
_REASON = vol.All(str, vol.Strip, vol.Length(min=3))
REVIEW_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_MATCH_ID): vol.All(str, vol.Strip, vol.Length(min=1)),
        vol.Optional(CONF_REASON, default=""): vol.All(str, vol.Strip),
        _SERVER: str,
    }
)
LIST_MATCHES_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_STATUS, default="pending"): vol.In([*MATCH_STATUSES, STATUS_ALL]),
        _SERVER: str,
    }
)
RECORDS_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_PLATE): vol.All(str, vol.Strip, vol.Length(min=1)),
        vol.Required(CONF_REASON): _REASON,
        vol.Optional(ATTR_SINCE): cv.datetime,
        vol.Optional(ATTR_UNTIL): cv.datetime,
        vol.Optional(ATTR_CAMERA): cv.string,
        _SERVER: str,
    }
)
ADD_OBJECTION_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_PLATE): vol.All(str, vol.Strip, vol.Length(min=1)),
        vol.Required(CONF_REASON): _REASON,
        vol.Optional(ATTR_ERASE, default=True): cv.boolean,
        _SERVER: str,
    }
)
REMOVE_OBJECTION_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_OBJECTION_ID): vol.All(str, vol.Strip, vol.Length(min=1)),
        vol.Required(CONF_REASON): _REASON,
        _SERVER: str,
    }
)
LIST_OBJECTIONS_SCHEMA = vol.Schema({_SERVER: str})


def _refuse(key: str) -> ServiceValidationError:
    return ServiceValidationError(translation_domain=DOMAIN, translation_key=key)


async def _async_ask[T: vp.Response](
    entry: VigilConfigEntry, request: vp.Request, answer: type[T]
) -> T:
    """Send a request; turn the server's known refusals into translated validation errors."""
    try:
        return await entry.runtime_data.store.async_request(request, answer)
    except HomeAssistantError as err:
        cause = err.__cause__
        if isinstance(cause, ServerError) and cause.translation_key in PLATE_REFUSALS:
            raise _refuse(cause.translation_key) from err
        raise


async def _async_target(call: ServiceCall) -> tuple[VigilConfigEntry, vp.Actor]:
    """Return the server entry a call is for and its administrator (else refuse the call)."""
    from .services import target_entry  # noqa: PLC0415 - services.py registers these actions

    actor = await async_require_admin(call.hass, call.context)
    return target_entry(call.hass, call), actor


def _iso(wall_time: float | None) -> str | None:
    return None if wall_time is None else dt_util.utc_from_timestamp(wall_time).isoformat()


def _timestamp(value: datetime | None) -> float | None:
    return None if value is None else dt_util.as_utc(value).timestamp()


def _camera_id(entry: VigilConfigEntry, call: ServiceCall) -> str | None:
    camera = call.data.get(ATTR_CAMERA)
    if camera is None:
        return None
    camera_id = str(camera).lower()
    if camera_id not in entry.runtime_data.cameras:
        raise _refuse("unknown_camera")
    return camera_id


def _labels(entry: VigilConfigEntry) -> dict[str, str]:
    """Return the watchlist entries' titles by their server id."""
    return {slug_id(sub.subentry_id): sub.title for sub in of_type(entry, SUBENTRY_WATCHLIST)}


def _match(entry: VigilConfigEntry, match: vp.WatchlistMatch) -> dict[str, Any]:
    """Return a match as an action's answer: camera and entry named, never the plate."""
    camera = entry.runtime_data.cameras.get(match.camera_id)
    return {
        "match_id": match.match_id,
        "status": match.status,
        "entry_id": match.entry_id,
        "label": _labels(entry).get(match.entry_id, match.entry_id),
        "camera_id": match.camera_id,
        "camera": camera.name if camera is not None else match.camera_id,
        "time": _iso(match.wall_time),
        "distance": match.distance,
        "reviewed_at": _iso(match.reviewed_at),
        "reviewed_by": match.reviewed_by,
    }


def _erased(erased: vp.PlateRecordsErased) -> dict[str, JsonValueType]:
    return {
        "hashed": erased.hashed,
        "reads": erased.reads,
        "matches": erased.matches,
        "crops": erased.crops,
    }


# --- review of watchlist matches ------------------------------------------------------------


def _reviewer(
    decision: Literal["confirm", "reject"],
) -> Callable[[ServiceCall], Awaitable[ServiceResponse]]:
    async def _async_review(call: ServiceCall) -> ServiceResponse:
        """Confirm or reject a pending match; the server raises its event and logs it."""
        entry, actor = await _async_target(call)
        reviewed = await _async_ask(
            entry,
            vp.ReviewMatch(
                match_id=call.data[ATTR_MATCH_ID],
                decision=decision,
                actor=actor,
                reason=call.data[CONF_REASON],
            ),
            vp.MatchReviewed,
        )
        return {"match": _match(entry, reviewed.match)}

    return _async_review


async def _async_list_matches(call: ServiceCall) -> ServiceResponse:
    """List the latest matches (pending by default), newest first."""
    entry, actor = await _async_target(call)
    status = call.data[ATTR_STATUS]
    found = await _async_ask(
        entry,
        vp.ListMatches(actor=actor, status=None if status == STATUS_ALL else status),
        vp.WatchlistMatches,
    )
    return {"matches": [_match(entry, match) for match in found.matches]}


# --- rights: access, erasure, objection -----------------------------------------------------


def _window(entry: VigilConfigEntry, call: ServiceCall) -> dict[str, Any]:
    return {
        "plate": call.data[ATTR_PLATE],
        "reason": call.data[CONF_REASON],
        "since": _timestamp(call.data.get(ATTR_SINCE)),
        "until": _timestamp(call.data.get(ATTR_UNTIL)),
        "camera_id": _camera_id(entry, call),
    }


async def _async_export_records(call: ServiceCall) -> ServiceResponse:
    """Export what is kept of a plate; keep the document in config/vigil/exports."""
    from .services import output_dir  # noqa: PLC0415 - the exports' folder is services.py's

    hass = call.hass
    entry, actor = await _async_target(call)
    export = await _async_ask(
        entry,
        vp.ExportPlateRecords(actor=actor, **_window(entry, call)),
        vp.PlateRecordsExport,
    )
    path = output_dir(hass) / "exports" / Path(export.filename).name
    await hass.async_add_executor_job(_write_private, path, export.content.encode())
    # The document holds the plate and its crops: it stays in the file, not in the answer.
    return {"path": str(path), "filename": export.filename}


def _write_private(path: Path, body: bytes) -> None:
    """Write a file only Home Assistant's user can read (it holds a plate and its pictures)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(body)


async def _async_erase_records(call: ServiceCall) -> ServiceResponse:
    """Erase what is kept of a plate in a time window; answer how much went."""
    entry, actor = await _async_target(call)
    erased = await _async_ask(
        entry,
        vp.ErasePlateRecords(actor=actor, **_window(entry, call)),
        vp.PlateRecordsErased,
    )
    return _erased(erased)


async def _async_add_objection(call: ServiceCall) -> ServiceResponse:
    """Put a plate on the objection list (and erase what is kept of it, by default)."""
    entry, actor = await _async_target(call)
    added = await _async_ask(
        entry,
        vp.AddObjection(
            plate=call.data[ATTR_PLATE],
            actor=actor,
            reason=call.data[CONF_REASON],
            erase=call.data[ATTR_ERASE],
        ),
        vp.ObjectionAdded,
    )
    return {
        "objection_id": added.objection.objection_id,
        "added_at": _iso(added.objection.added_at),
        "created": added.created,
        "erased": _erased(added.erased) if added.erased is not None else None,
    }


async def _async_remove_objection(call: ServiceCall) -> ServiceResponse:
    """Take a plate off the objection list (its keeper withdrew the objection)."""
    entry, actor = await _async_target(call)
    objection_id = call.data[ATTR_OBJECTION_ID]
    await _async_ask(
        entry,
        vp.RemoveObjection(objection_id=objection_id, actor=actor, reason=call.data[CONF_REASON]),
        vp.Done,
    )
    return {"objection_id": objection_id, "removed": True}


async def _async_list_objections(call: ServiceCall) -> ServiceResponse:
    """List the objections: ids, dates and reasons (never a plate, not even a hash)."""
    entry, actor = await _async_target(call)
    found = await _async_ask(entry, vp.ListObjections(actor=actor), vp.Objections)
    return {
        "objections": [
            {"objection_id": o.objection_id, "added_at": _iso(o.added_at), "reason": o.reason}
            for o in found.objections
        ]
    }


@callback
def async_setup_plate_services(hass: HomeAssistant) -> None:
    """Register the plate actions (administrators only; each one logged by the server)."""
    actions: list[tuple[str, Any, vol.Schema]] = [
        (SERVICE_CONFIRM_MATCH, _reviewer("confirm"), REVIEW_SCHEMA),
        (SERVICE_REJECT_MATCH, _reviewer("reject"), REVIEW_SCHEMA),
        (SERVICE_LIST_MATCHES, _async_list_matches, LIST_MATCHES_SCHEMA),
        (SERVICE_EXPORT_PLATE_RECORDS, _async_export_records, RECORDS_SCHEMA),
        (SERVICE_ERASE_PLATE_RECORDS, _async_erase_records, RECORDS_SCHEMA),
        (SERVICE_ADD_OBJECTION, _async_add_objection, ADD_OBJECTION_SCHEMA),
        (SERVICE_REMOVE_OBJECTION, _async_remove_objection, REMOVE_OBJECTION_SCHEMA),
        (SERVICE_LIST_OBJECTIONS, _async_list_objections, LIST_OBJECTIONS_SCHEMA),
    ]
    for name, handler, schema in actions:
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=SupportsResponse.OPTIONAL
        )
