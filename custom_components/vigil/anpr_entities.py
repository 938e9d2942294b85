"""Plate reading in Home Assistant: entities fed by the engine's ANPR events, `query_plate`.

Entities subscribe to the engine's bus and keep only the `anpr` rule's events. No plate text
reaches a state or an attribute unless the camera keeps plates in full (`full` mode); a crop
reference is given only where the camera keeps crops and the deployment context allows it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
import logging
from typing import Any, Final

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.components.image import ImageEntity, ImageEntityDescription
from homeassistant.components.sensor import (
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util
import voluptuous as vol

from vigil_core.anpr.runtime import PLATE_ATTRS
from vigil_core.anpr.stage import RULE_ID
from vigil_core.anpr.watchlist import InvalidPlate, parse_pattern
from vigil_core.config import AnprSpec, EngineConfig
from vigil_core.events.model import RuleEvent, VigilEvent
from vigil_core.privacy.access_log import AccessAction
from vigil_core.privacy.context import keeps_images
from vigil_core.privacy.inventory import plate_queries_allowed

from .anpr_config import SUBENTRY_WATCHLIST, watchlist_subentries
from .const import CONF_REASON, DOMAIN
from .data import VigilConfigEntry
from .engine_config import CameraInfo
from .entity import camera_device_info
from .privacy import SETTINGS_ACTOR, async_log, async_require_admin, loaded_entry

_LOGGER = logging.getLogger(__name__)

SERVICE_QUERY_PLATE: Final = "query_plate"
ATTR_PLATE: Final = "plate"
ATTR_CAMERA: Final = "camera"
ATTR_SINCE: Final = "since"
ATTR_UNTIL: Final = "until"

EVENT_WATCHLIST_MATCH: Final = "watchlist_match"
EVENT_PLATE_ROUTE: Final = "plate_route"

MATCH_EVENT = EventEntityDescription(
    key="watchlist_match",
    translation_key="watchlist_match",
    event_types=[EVENT_WATCHLIST_MATCH],
)
ROUTE_EVENT = EventEntityDescription(
    key="plate_route", translation_key="plate_route", event_types=[EVENT_PLATE_ROUTE]
)
LAST_MATCH_SENSOR = SensorEntityDescription(
    key="last_watchlist_match", translation_key="last_watchlist_match"
)
MATCH_CROP_IMAGE = ImageEntityDescription(
    key="watchlist_match_crop", translation_key="watchlist_match_crop"
)
PASSAGES_SENSOR = SensorEntityDescription(
    key="plate_passages",
    translation_key="plate_passages",
    state_class=SensorStateClass.TOTAL_INCREASING,
)


def reading_cameras(config: EngineConfig) -> dict[str, AnprSpec]:
    """Return the plate settings of the cameras that read plates (as the engine runs them)."""
    return {camera.id: camera.anpr for camera in config.cameras if camera.anpr.enabled}


def crop_allowed(config: EngineConfig, spec: AnprSpec) -> bool:
    """Return whether a crop reference may be shown for this camera's plate events."""
    return spec.crops and keeps_images(config.privacy.context, "anpr_watchlist")


def hub_device_info(entry_id: str) -> DeviceInfo:
    """Return the hub's device."""
    return DeviceInfo(identifiers={(DOMAIN, entry_id)})


class _AnprEntity(Entity):
    """An entity fed by the engine's plate events."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        entry: VigilConfigEntry,
        description: EventEntityDescription | SensorEntityDescription | ImageEntityDescription,
        camera: CameraInfo | None = None,
    ) -> None:
        """Attach to the camera's device, or to the hub's."""
        self.entity_description = description
        self._runtime = entry.runtime_data
        self._entry_id = entry.entry_id
        self.camera = camera
        if camera is None:
            self._attr_unique_id = f"{entry.entry_id}_{description.key}"
            self._attr_device_info = hub_device_info(entry.entry_id)
        else:
            self._attr_unique_id = f"{entry.entry_id}_{camera.camera_id}_{description.key}"
            self._attr_device_info = camera_device_info(entry.entry_id, camera)

    async def async_added_to_hass(self) -> None:
        """Listen to the engine's bus."""
        await super().async_added_to_hass()
        self.async_on_remove(self._runtime.engine.bus.subscribe(self._async_on_event))

    @callback
    def _async_on_event(self, event: VigilEvent) -> None:
        if not isinstance(event, RuleEvent) or event.rule_id != RULE_ID:
            return
        if self.camera is not None and event.camera_id != self.camera.camera_id:
            return
        self._async_plate_event(event)

    @callback
    def _async_plate_event(self, event: RuleEvent) -> None:
        raise NotImplementedError

    def _spec(self, camera_id: str) -> AnprSpec | None:
        return reading_cameras(self._runtime.engine.config).get(camera_id)

    def _camera_name(self, camera_id: str) -> str:
        camera = self._runtime.cameras.get(camera_id)
        return camera.name if camera is not None else camera_id


class WatchlistMatchEvent(_AnprEntity, EventEntity):
    """A camera's watchlist matches: entry label, reason, distance, direction (and crop)."""

    @callback
    def _async_plate_event(self, event: RuleEvent) -> None:
        if event.kind != EVENT_WATCHLIST_MATCH:
            return
        attrs = event.attrs
        spec = self._spec(event.camera_id) or AnprSpec()
        data: dict[str, Any] = {
            "entry_id": attrs.get("entry_id"),
            "label": attrs.get("label"),
            "reason": attrs.get("reason"),
            "distance": attrs.get("distance"),
            "exact": attrs.get("exact"),
            "direction": attrs.get("direction"),
        }
        if attrs.get("crop_id") and crop_allowed(self._runtime.engine.config, spec):
            data["crop_id"] = attrs.get("crop_id")
        if spec.privacy == "full":
            data[ATTR_PLATE] = attrs.get("plate")
        self._trigger_event(EVENT_WATCHLIST_MATCH, data)
        self.async_write_ha_state()


class PlateRouteEvent(_AnprEntity, EventEntity):
    """A watched plate seen on one camera, then on another within the route window."""

    @callback
    def _async_plate_event(self, event: RuleEvent) -> None:
        if event.kind != EVENT_PLATE_ROUTE:
            return
        attrs = event.attrs
        cameras = attrs.get("cameras")
        self._trigger_event(
            EVENT_PLATE_ROUTE,
            {
                "route_id": attrs.get("route_id"),
                "entry_id": attrs.get("entry_id"),
                "label": attrs.get("label"),
                "cameras": [self._camera_name(str(c)) for c in cameras]
                if isinstance(cameras, list)
                else [],
                "from_camera": self._camera_name(str(attrs.get("from_camera"))),
                "to_camera": self._camera_name(event.camera_id),
                "elapsed_s": attrs.get("elapsed_s"),
            },
        )
        self.async_write_ha_state()


class LastWatchlistMatchSensor(_AnprEntity, SensorEntity):
    """The hub's last watchlist match: the entry's label, with the camera and the time."""

    _attr_native_value: str | None = None

    @callback
    def _async_plate_event(self, event: RuleEvent) -> None:
        if event.kind != EVENT_WATCHLIST_MATCH:
            return
        spec = self._spec(event.camera_id) or AnprSpec()
        self._attr_native_value = str(event.attrs.get("label") or event.attrs.get("entry_id"))
        attributes: dict[str, Any] = {
            "camera": self._camera_name(event.camera_id),
            "time": datetime.fromtimestamp(event.wall_time, UTC).isoformat(),
            "reason": event.attrs.get("reason"),
        }
        if spec.privacy == "full":
            attributes[ATTR_PLATE] = event.attrs.get("plate")
        self._attr_extra_state_attributes = attributes
        self.async_write_ha_state()


class PlatePassagesSensor(_AnprEntity, SensorEntity):
    """Today's plate passages on a camera (counts only)."""

    _attr_native_value: int | None = None

    async def async_added_to_hass(self) -> None:
        """Start from the engine's count of today, read in the executor."""
        await super().async_added_to_hass()
        assert self.camera is not None
        anpr = getattr(self._runtime.engine, "anpr", None)
        if anpr is not None:
            try:
                self._attr_native_value = await self.hass.async_add_executor_job(
                    anpr.passages, self.camera.camera_id
                )
            except Exception:
                _LOGGER.debug("No plate passage count for %s", self.camera.name)

    @callback
    def _async_plate_event(self, event: RuleEvent) -> None:
        if event.kind != "plate_passage":
            return
        count = event.attrs.get("passages_today")
        if isinstance(count, int):
            self._attr_native_value = count
            self.async_write_ha_state()


class WatchlistMatchCropImage(_AnprEntity, ImageEntity):
    """The plate crop of a camera's last watchlist match, while the crop store keeps it.

    Only created where the camera keeps crops and the deployment context allows images; the
    picture goes when the crop's retention ends (the store purges it) or Vigil restarts (crops
    are kept in memory only). Never a crop of a read that matched nothing.
    """

    _attr_content_type = "image/jpeg"

    def __init__(
        self,
        hass: HomeAssistant,
        entry: VigilConfigEntry,
        description: ImageEntityDescription,
        camera: CameraInfo,
    ) -> None:
        """Start with no picture."""
        _AnprEntity.__init__(self, entry, description, camera)
        ImageEntity.__init__(self, hass)
        self._crop_id: str | None = None

    @callback
    def _async_plate_event(self, event: RuleEvent) -> None:
        if event.kind != EVENT_WATCHLIST_MATCH:
            return
        crop_id = event.attrs.get("crop_id")
        if not isinstance(crop_id, str):
            return
        self._crop_id = crop_id
        self._attr_image_last_updated = dt_util.utcnow()
        self.async_write_ha_state()

    async def async_image(self) -> bytes | None:
        """Return the JPEG crop, or None once it is purged."""
        anpr = getattr(self._runtime.engine, "anpr", None)
        if self._crop_id is None or anpr is None:
            return None
        crop = anpr.crops.get(self._crop_id)
        return crop.jpeg if crop is not None else None


def _cameras(entry: VigilConfigEntry) -> list[CameraInfo]:
    runtime = entry.runtime_data
    reading = reading_cameras(runtime.engine.config)
    return [camera for camera_id, camera in runtime.cameras.items() if camera_id in reading]


@callback
def async_setup_anpr_events(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add a watchlist match event per reading camera, and the hub's route event."""
    cameras = _cameras(entry)
    for camera in cameras:
        async_add_entities(
            [WatchlistMatchEvent(entry, MATCH_EVENT, camera)],
            config_subentry_id=camera.subentry_id,
        )
    if cameras:
        async_add_entities([PlateRouteEvent(entry, ROUTE_EVENT)])


@callback
def async_setup_anpr_images(
    hass: HomeAssistant, entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add a last-match crop image per reading camera that may keep crops."""
    config = entry.runtime_data.engine.config
    reading = reading_cameras(config)
    for camera in _cameras(entry):
        if crop_allowed(config, reading[camera.camera_id]):
            async_add_entities(
                [WatchlistMatchCropImage(hass, entry, MATCH_CROP_IMAGE, camera)],
                config_subentry_id=camera.subentry_id,
            )


@callback
def async_setup_anpr_sensors(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add a passage counter per reading camera, and the hub's last watchlist match."""
    cameras = _cameras(entry)
    for camera in cameras:
        async_add_entities(
            [PlatePassagesSensor(entry, PASSAGES_SENSOR, camera)],
            config_subentry_id=camera.subentry_id,
        )
    if cameras:
        async_add_entities([LastWatchlistMatchSensor(entry, LAST_MATCH_SENSOR)])


# --- watchlist changes outside the flows, and the engine's watchlist -----------------------------


@callback
def async_start_anpr(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Log watchlist entries removed from the entry (a removal runs no flow)."""
    known = {sub.subentry_id: sub.title for sub in watchlist_subentries(entry)}

    async def _async_updated(hass: HomeAssistant, entry: ConfigEntry) -> None:
        current = {sub.subentry_id for sub in watchlist_subentries(entry)}
        for subentry_id, title in known.items():
            if subentry_id not in current:
                await async_log(
                    hass,
                    SETTINGS_ACTOR,
                    AccessAction.WATCHLIST_REMOVE,
                    target=subentry_id,
                    details={"label": title},
                )
        known.clear()
        known.update(
            {
                sub.subentry_id: sub.title
                for sub in entry.subentries.values()
                if sub.subentry_type == SUBENTRY_WATCHLIST
            }
        )

    entry.async_on_unload(entry.add_update_listener(_async_updated))


# --- query_plate ---------------------------------------------------------------------------------

QUERY_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_PLATE): vol.All(str, vol.Strip, vol.Length(min=1)),
        vol.Required(CONF_REASON): vol.All(str, vol.Strip, vol.Length(min=3)),
        vol.Optional(ATTR_CAMERA): cv.string,
        vol.Optional(ATTR_SINCE): cv.datetime,
        vol.Optional(ATTR_UNTIL): cv.datetime,
    }
)


def _refuse(key: str) -> ServiceValidationError:
    return ServiceValidationError(translation_domain=DOMAIN, translation_key=key)


async def _async_query_plate(call: ServiceCall) -> ServiceResponse:
    """Answer "did this plate pass?" for an administrator with a reason; audited by the engine."""
    hass = call.hass
    actor = await async_require_admin(hass, call.context)
    entry = loaded_entry(hass)
    runtime = entry.runtime_data
    config = runtime.engine.config
    modes = {cid: spec.privacy for cid, spec in reading_cameras(config).items()}
    violations = runtime.privacy.violations if runtime.privacy is not None else []
    if not any(mode != "watchlist" for mode in modes.values()) or not plate_queries_allowed(
        violations
    ):
        raise _refuse("plate_queries_disabled")
    try:
        plate = parse_pattern(call.data[ATTR_PLATE])
    except InvalidPlate as err:
        raise _refuse(err.translation_key) from err
    if "*" in plate or "?" in plate:
        raise _refuse("invalid_plate")
    camera_id = call.data.get(ATTR_CAMERA)
    if camera_id is not None:
        camera_id = camera_id.lower()
        if camera_id not in runtime.cameras:
            raise _refuse("unknown_camera")
    since: datetime | None = call.data.get(ATTR_SINCE)
    until: datetime | None = call.data.get(ATTR_UNTIL)
    # The engine writes the query (who, why, the plate's hash) to the access log first.
    sightings = await hass.async_add_executor_job(
        partial(
            runtime.engine.anpr.query,
            plate,
            who=actor.name if actor.user_id is None else f"{actor.name} ({actor.user_id})",
            reason=call.data[CONF_REASON],
            since=since,
            until=until,
            camera_id=camera_id,
        )
    )
    results: list[Any] = []
    for sighting in sightings:
        row: dict[str, Any] = {
            "camera_id": sighting.camera_id,
            "camera": runtime.cameras[sighting.camera_id].name
            if sighting.camera_id in runtime.cameras
            else sighting.camera_id,
            "seen_at": datetime.fromtimestamp(sighting.seen_at, UTC).isoformat(),
            "direction": sighting.direction,
        }
        if sighting.plate is not None and modes.get(sighting.camera_id) == "full":
            row[ATTR_PLATE] = sighting.plate
        results.append(row)
    return {"count": len(results), "sightings": results}


@callback
def async_setup_anpr_services(hass: HomeAssistant) -> None:
    """Register `vigil.query_plate` (administrators only, a response only)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_QUERY_PLATE,
        _async_query_plate,
        schema=QUERY_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )


async def async_anpr_diagnostics(hass: HomeAssistant, entry: VigilConfigEntry) -> dict[str, Any]:
    """Return plate reading figures: modes and counts, never a plate (PLATE_ATTRS redacted)."""
    runtime = entry.runtime_data
    anpr = getattr(runtime.engine, "anpr", None)
    # The store's counts are read from its database: off the event loop.
    engine = await hass.async_add_executor_job(anpr.diagnostics) if anpr is not None else None
    return {
        "modes": {
            cid: spec.privacy for cid, spec in reading_cameras(runtime.engine.config).items()
        },
        "watchlist_entries": len(watchlist_subentries(entry)),
        "engine": engine,
        "redacted_attributes": list(PLATE_ATTRS),
    }
