"""Plate reading in Home Assistant: entities fed by the server's plate states and events.

The server publishes a `PlateState` per plate-reading camera (today's passages, its last
watchlist match and its review status) and `watchlist_match` / `plate_route` events. A match is
``pending`` (a suspicion) until an administrator confirms or rejects it (`vigil.confirm_match`,
plate_services.py): the event entity then fires `watchlist_match_confirmed`, the event
automations should act on, or `watchlist_match_rejected`. It already decided what may
leave it: no plate text unless the camera keeps plates in full, a crop reference only where
the camera keeps crops and the deployment context allows images; the crop itself is served to
administrators only, each view logged by the server (picture_view.py), never as an entity.
`vigil.query_plate` asks the server, which checks the request and writes it to its access log
(who, why, the plate's hash).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
import logging
from typing import Any, Final

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.components.sensor import (
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util
import voluptuous as vol

import vigil_protocol as vp
from vigil_protocol.privacy import LegalBasis

from .access import SETTINGS_ACTOR, async_register_admin_action, async_require_admin
from .client import ServerError
from .const import CONF_REASON, DOMAIN
from .data import VigilConfigEntry
from .entity import ServerDeviceEntity, VigilEntity
from .privacy_flow import async_record
from .server_config import CONF_LABEL, SUBENTRY_WATCHLIST, CameraInfo, of_type
from .store import VigilStore

_LOGGER = logging.getLogger(__name__)

RULE_ID: Final = "anpr"
"""The rule id of the server's plate events."""
SERVICE_QUERY_PLATE: Final = "query_plate"
ATTR_PLATE: Final = "plate"
ATTR_CAMERA: Final = "camera"
ATTR_SINCE: Final = "since"
ATTR_UNTIL: Final = "until"
ATTR_SERVER: Final = "server"
ATTR_LEGAL_BASIS: Final = "legal_basis"

EVENT_WATCHLIST_MATCH: Final = "watchlist_match"
EVENT_MATCH_CONFIRMED: Final = "watchlist_match_confirmed"
EVENT_MATCH_REJECTED: Final = "watchlist_match_rejected"
MATCH_EVENTS: Final = (EVENT_WATCHLIST_MATCH, EVENT_MATCH_CONFIRMED, EVENT_MATCH_REJECTED)
EVENT_PLATE_ROUTE: Final = "plate_route"
_MATCH_ATTRS: Final = (
    "match_id",
    "status",
    "entry_id",
    "label",
    "reason",
    "distance",
    "exact",
    "direction",
)
_QUERY_REFUSALS: Final = frozenset(
    {
        "plate_queries_disabled",
        "invalid_plate",
        "plate_too_short",
        "plate_too_long",
        "pattern_too_loose",
        # Issue 21: a search is made by a person, with a reason and its legal basis.
        "real_user_required",
        "legal_basis_required",
        "reason_required",
    }
)
"""The server's refusals of a plate query that Home Assistant translates."""

MATCH_EVENT = EventEntityDescription(
    key="watchlist_match",
    translation_key="watchlist_match",
    event_types=list(MATCH_EVENTS),
)
ROUTE_EVENT = EventEntityDescription(
    key="plate_route", translation_key="plate_route", event_types=[EVENT_PLATE_ROUTE]
)
LAST_MATCH_SENSOR = SensorEntityDescription(
    key="last_watchlist_match", translation_key="last_watchlist_match"
)
MATCH_CROP_KEY: Final = "watchlist_match_crop"
"""The key of the crop image entity older versions made (removed: picture_view.py serves it)."""
PASSAGES_SENSOR = SensorEntityDescription(
    key="plate_passages",
    translation_key="plate_passages",
    state_class=SensorStateClass.TOTAL_INCREASING,
)


def plate_state(store: VigilStore, camera_id: str) -> vp.PlateState | None:
    """Return a plate-reading camera's state, None for a camera that reads no plates."""
    state = store.state(camera_id, None, vp.PlateState.KIND)
    return state if isinstance(state, vp.PlateState) else None


def reading_cameras(entry: VigilConfigEntry) -> list[CameraInfo]:
    """Return the cameras the server reads plates on (after the deployment context's gate)."""
    runtime = entry.runtime_data
    return [
        camera
        for camera in runtime.cameras.values()
        if plate_state(runtime.store, camera.camera_id) is not None
    ]


def _camera_name(entry: VigilConfigEntry, camera_id: str) -> str:
    camera = entry.runtime_data.cameras.get(camera_id)
    return camera.name if camera is not None else camera_id


def _iso(wall_time: float) -> str:
    return dt_util.utc_from_timestamp(wall_time).isoformat()


# --- per camera ----------------------------------------------------------------------------------


class WatchlistMatchEvent(VigilEntity, EventEntity):
    """A camera's watchlist matches, then their reviews: automations use the confirmed one.

    Each event carries the match id and status (pending, confirmed, rejected), the entry's
    label and reason, the distance, the direction of a new match (and its crop reference).
    """

    async def async_added_to_hass(self) -> None:
        """Follow the camera's plate events."""
        await super().async_added_to_hass()
        self.async_follow_events(RULE_ID, self._async_event)

    @callback
    def _async_event(self, event: vp.RuleEvent) -> None:
        if event.kind not in MATCH_EVENTS:
            return
        attrs = event.attrs
        data: dict[str, Any] = {key: attrs.get(key) for key in _MATCH_ATTRS}
        data["status"] = attrs.get("status") or "pending"
        # The server sends these only where they may be shown.
        for key in ("crop_id", ATTR_PLATE):
            if attrs.get(key):
                data[key] = attrs[key]
        self._trigger_event(event.kind, data)
        self.async_write_ha_state()


class PlatePassagesSensor(VigilEntity, SensorEntity):
    """Today's plate passages on a camera (counts only)."""

    @property
    def native_value(self) -> int | None:
        """Return today's count, as the server keeps it."""
        state = plate_state(self.store, self.camera.camera_id)
        return None if state is None else state.passages_today


# --- the server's own ----------------------------------------------------------------------------


class VigilServerEntity(ServerDeviceEntity):
    """An entity of the server's device, about all of its plate-reading cameras."""

    async def async_added_to_hass(self) -> None:
        """Follow the plate-reading cameras' states and the connection."""
        await super().async_added_to_hass()
        for camera in reading_cameras(self._entry):
            self.async_on_remove(
                self.store.async_subscribe(camera.camera_id, None, self._async_updated)
            )
        self.async_on_remove(self.store.async_subscribe(None, None, self._async_updated))

    @callback
    def _async_updated(self) -> None:
        self.async_write_ha_state()


class LastWatchlistMatchSensor(VigilServerEntity, SensorEntity):
    """The server's last watchlist match: the entry's label, with the camera and the time."""

    def _last(self) -> tuple[str, vp.PlateMatch] | None:
        matches = [
            (camera.camera_id, state.last_match)
            for camera in reading_cameras(self._entry)
            if (state := plate_state(self.store, camera.camera_id)) is not None
            and state.last_match is not None
        ]
        return max(matches, key=lambda found: found[1].wall_time, default=None)

    @property
    def native_value(self) -> str | None:
        """Return the matched entry's label (its id when it has none)."""
        last = self._last()
        return None if last is None else last[1].label or last[1].entry_id

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the camera, the time, the reason and the review status (plate: full mode)."""
        last = self._last()
        if last is None:
            return None
        camera_id, match = last
        attributes: dict[str, Any] = {
            "camera": _camera_name(self._entry, camera_id),
            "time": _iso(match.wall_time),
            "reason": match.reason,
            "status": match.status,
            "match_id": match.match_id,
        }
        if match.plate:
            attributes[ATTR_PLATE] = match.plate
        return attributes


class PlateRouteEvent(VigilServerEntity, EventEntity):
    """A watched plate seen on one camera, then on another within the route window."""

    async def async_added_to_hass(self) -> None:
        """Follow every camera's plate events."""
        await super().async_added_to_hass()
        self.async_on_remove(self.store.async_subscribe_events(None, None, self._async_event))

    @callback
    def _async_event(self, event: vp.RuleEvent) -> None:
        if event.rule_id != RULE_ID or event.kind != EVENT_PLATE_ROUTE:
            return
        attrs = event.attrs
        cameras = attrs.get("cameras")
        self._trigger_event(
            EVENT_PLATE_ROUTE,
            {
                "route_id": attrs.get("route_id"),
                "entry_id": attrs.get("entry_id"),
                "label": attrs.get("label"),
                "cameras": [_camera_name(self._entry, str(c)) for c in cameras]
                if isinstance(cameras, list)
                else [],
                "from_camera": _camera_name(self._entry, str(attrs.get("from_camera"))),
                "to_camera": _camera_name(self._entry, event.camera_id),
                "elapsed_s": attrs.get("elapsed_s"),
            },
        )
        self.async_write_ha_state()


# --- platform setup ------------------------------------------------------------------------------


@callback
def async_setup_anpr_events(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add a watchlist match event per reading camera, and the server's route event."""
    _async_add_reading(
        entry,
        async_add_entities,
        lambda store, camera: WatchlistMatchEvent(store, camera, MATCH_EVENT),
        lambda: PlateRouteEvent(entry, ROUTE_EVENT),
    )


@callback
def async_setup_anpr_sensors(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add a passage counter per reading camera, and the server's last watchlist match."""
    _async_add_reading(
        entry,
        async_add_entities,
        lambda store, camera: PlatePassagesSensor(store, camera, PASSAGES_SENSOR),
        lambda: LastWatchlistMatchSensor(entry, LAST_MATCH_SENSOR),
    )


@callback
def _async_add_reading(
    entry: VigilConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    per_camera: Callable[[VigilStore, CameraInfo], Entity],
    server_wide: Callable[[], Entity],
) -> None:
    """Add an entity per camera reading plates (in its subentry), and one for the server."""
    store = entry.runtime_data.store
    cameras = reading_cameras(entry)
    for camera in cameras:
        async_add_entities([per_camera(store, camera)], config_subentry_id=camera.subentry_id)
    if cameras:
        async_add_entities([server_wide()])


# --- query_plate ---------------------------------------------------------------------------------

QUERY_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_PLATE): vol.All(str, vol.Strip, vol.Length(min=1)),
        vol.Required(CONF_REASON): vol.All(str, vol.Strip, vol.Length(min=3)),
        vol.Required(ATTR_LEGAL_BASIS): vol.In([basis.value for basis in LegalBasis]),
        vol.Optional(ATTR_CAMERA): cv.string,
        vol.Optional(ATTR_SINCE): cv.datetime,
        vol.Optional(ATTR_UNTIL): cv.datetime,
        vol.Optional(ATTR_SERVER): str,
    }
)


def _refuse(key: str) -> ServiceValidationError:
    return ServiceValidationError(translation_domain=DOMAIN, translation_key=key)


def _timestamp(value: datetime | None) -> float | None:
    return None if value is None else dt_util.as_utc(value).timestamp()


async def _async_query_plate(call: ServiceCall) -> ServiceResponse:
    """Answer "did this plate pass?" for an administrator with a reason and a legal basis.

    The server checks both (and that a person asks), and writes the search to its access log.
    """
    from .services import target_entry  # noqa: PLC0415 - services.py registers this action

    hass = call.hass
    actor = await async_require_admin(hass, call.context)
    entry: VigilConfigEntry = target_entry(hass, call)
    runtime = entry.runtime_data
    camera_id = call.data.get(ATTR_CAMERA)
    if camera_id is not None:
        camera_id = str(camera_id).lower()
        if camera_id not in runtime.cameras:
            raise _refuse("unknown_camera")
    request = vp.QueryPlate(
        plate=call.data[ATTR_PLATE],
        actor=actor,
        reason=call.data[CONF_REASON],
        camera_id=camera_id,
        since=_timestamp(call.data.get(ATTR_SINCE)),
        until=_timestamp(call.data.get(ATTR_UNTIL)),
        legal_basis=call.data[ATTR_LEGAL_BASIS],
    )
    try:
        found = await runtime.store.async_request(request, vp.PlateQueryResult)
    except HomeAssistantError as err:
        cause = err.__cause__
        if isinstance(cause, ServerError) and cause.translation_key in _QUERY_REFUSALS:
            raise _refuse(cause.translation_key) from err
        raise
    sightings: list[Any] = []
    for passage in found.passages:
        row: dict[str, Any] = {
            "camera_id": passage.camera_id,
            "camera": _camera_name(entry, passage.camera_id),
            "seen_at": _iso(passage.wall_time),
            "direction": passage.direction,
        }
        if passage.plate is not None:
            row[ATTR_PLATE] = passage.plate
        sightings.append(row)
    return {"count": len(sightings), "sightings": sightings}


@callback
def async_setup_anpr_services(hass: HomeAssistant) -> None:
    """Register `vigil.query_plate` (administrators only, a response only)."""
    async_register_admin_action(
        hass, SERVICE_QUERY_PLATE, _async_query_plate, QUERY_SCHEMA, SupportsResponse.ONLY
    )


# --- watchlist entries removed (a removal runs no flow) -------------------------------------


@callback
def async_log_watchlist_removals(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Write each watchlist entry removed from the entry to the server's access log.

    Adding or changing an entry goes through its flow, which logs it; removing one runs no
    flow, so the entry's update listener compares the entries with those it knew. The log
    keeps the entry's id and label, never its plate.
    """
    known = {sub.subentry_id: _label(sub) for sub in of_type(entry, SUBENTRY_WATCHLIST)}

    async def _async_updated(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
        current = {sub.subentry_id: _label(sub) for sub in of_type(entry, SUBENTRY_WATCHLIST)}
        removed = {key: label for key, label in known.items() if key not in current}
        known.clear()
        known.update(current)
        for subentry_id, label in removed.items():
            await async_record(
                entry,
                vp.RecordAccess(
                    actor=SETTINGS_ACTOR,
                    action="watchlist_remove",
                    target=subentry_id,
                    details={"label": label},
                ),
            )

    entry.async_on_unload(entry.add_update_listener(_async_updated))


def _label(subentry: ConfigSubentry) -> str:
    return str(subentry.data.get(CONF_LABEL) or subentry.title)
