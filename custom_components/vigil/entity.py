"""Base entities: one device per camera under its server; states pushed by the store.

An entity reads typed states from its server's store (never engine objects) and writes its
state when its camera's or rule's state changes, or the connection does. It is unavailable
while the server is unreachable or its camera's frames do not flow.

Devices have one owner each. The server's device belongs to the entry itself; a camera's
device belongs to the camera's subentry, and is registered here, before the platforms add
entities, by `async_register_devices`. Zone and rule entities belong to their own subentries
(removing a zone removes its entities) and only link to their camera's device: from Home
Assistant 2026.8 a device belongs to exactly one subentry, and registering it from a zone's
subentry would move it there, so removing the zone would remove the camera's device.
"""

from __future__ import annotations

from collections.abc import Callable
import inspect
from typing import Any, ClassVar, Final

from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

import vigil_protocol as vp

from .const import DOMAIN, MANUFACTURER, SOURCE_FRIGATE, SOURCE_ONVIF
from .data import VigilConfigEntry
from .panel import panel_url
from .server_config import CameraInfo
from .store import VigilStore

_MODELS = {SOURCE_ONVIF: "ONVIF camera", SOURCE_FRIGATE: "Frigate camera"}

LINKS_BY_DEVICE_ENTRY: Final = (MAJOR_VERSION, MINOR_VERSION) >= (2025, 8)
"""Whether an entity without device info is linked to the `device_entry` it sets itself.

Feature detection by version: Home Assistant 2025.8 added this to `EntityPlatform.
_async_add_entity` (`device = entity.device_entry`, read in 2025.8.0 and 2026.2.3; absent in
2025.7.4) for helpers linking to another integration's device. Before it, the only link is
device info, which also adds the entity's subentry to the device (a device could then belong
to several subentries, and removing one of them kept the device).
"""

_VIA_DEVICE_ID_ON_CREATE: Final = (
    "via_device_id" in inspect.signature(dr.DeviceRegistry.async_get_or_create).parameters
)
"""Whether `async_get_or_create` takes `via_device_id` (2026.8, with `via_device` deprecated
until 2027.8); older releases (2025.4 to 2026.7) set it with `async_update_device`."""


def camera_identifier(camera: CameraInfo) -> tuple[str, str]:
    """Return the identifier of a camera's device: the same when the camera is added again."""
    return (DOMAIN, camera.unique_id)


def camera_device_info(camera: CameraInfo) -> DeviceInfo:
    """Return the device of a camera (its server is set by `async_register_devices`)."""
    return DeviceInfo(
        identifiers={camera_identifier(camera)},
        name=camera.name,
        manufacturer=MANUFACTURER,
        model=_MODELS.get(camera.source_type, "Video stream"),
        # The Vigil panel, with this camera chosen: draw its zones, lines and masks.
        configuration_url=f"homeassistant:/{panel_url(camera.subentry_id)}",
    )


def server_device_info(entry_id: str) -> DeviceInfo:
    """Return the server's device."""
    return DeviceInfo(identifiers={(DOMAIN, entry_id)})


@callback
def async_migrate_camera_ids(
    hass: HomeAssistant, entry_id: str, cameras: dict[str, CameraInfo]
) -> None:
    """Re-key the devices and entities of cameras from their subentry to their stable id.

    Before, a camera's device and entities were keyed on the entry and the camera's subentry
    id, which a camera deleted and added again does not keep. Their entity ids, registry ids
    (and so their history and the automations using them) stay; only the keys change. Run
    before the devices are registered, at every setup: it finds nothing once done.
    """
    devices = dr.async_get(hass)
    prefixes: dict[str, str] = {}
    for camera in cameras.values():
        old = f"{entry_id}_{camera.camera_id}"
        prefixes[f"{old}_"] = f"{camera.unique_id}_"
        device = devices.async_get_device(identifiers={(DOMAIN, old)})
        if device is not None and not devices.async_get_device({camera_identifier(camera)}):
            devices.async_update_device(device.id, new_identifiers={camera_identifier(camera)})
    entities = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(entities, entry_id):
        for old, new in prefixes.items():
            unique_id = new + entity.unique_id.removeprefix(old)
            if entity.unique_id.startswith(old) and not entities.async_get_entity_id(
                entity.domain, DOMAIN, unique_id
            ):
                entities.async_update_entity(entity.entity_id, new_unique_id=unique_id)


@callback
def async_register_devices(
    hass: HomeAssistant,
    entry_id: str,
    cameras: dict[str, CameraInfo],
    server: DeviceInfo,
) -> dict[str, str]:
    """Register the server's device (the entry's) and each camera's (its subentry's).

    Returns the device id of each camera, by camera id.
    """
    registry = dr.async_get(hass)
    server_id = registry.async_get_or_create(config_entry_id=entry_id, **server).id
    devices: dict[str, str] = {}
    for camera in cameras.values():
        create: dict[str, Any] = {
            "config_entry_id": entry_id,
            "config_subentry_id": camera.subentry_id,
            **camera_device_info(camera),
        }
        if _VIA_DEVICE_ID_ON_CREATE:
            create["via_device_id"] = server_id
        device = registry.async_get_or_create(**create)
        if device.via_device_id != server_id:
            device = registry.async_update_device(device.id, via_device_id=server_id) or device
        devices[camera.camera_id] = device.id
    return devices


class ServerDeviceEntity(Entity):
    """An entity of a server's own device (not a camera's), available while it is reachable."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: VigilConfigEntry, description: EntityDescription) -> None:
        """Attach the entity to the server's device."""
        self.entity_description = description
        self._entry = entry
        self.store = entry.runtime_data.store
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = server_device_info(entry.entry_id)

    @property
    def available(self) -> bool:
        """Return whether the server is reachable."""
        return self.store.connected


class VigilEntity(Entity):
    """An entity of one camera (and one of its rules, when `rule_id` is set)."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    owns_camera_device: ClassVar[bool] = True
    """False for entities added under another subentry than the camera's (zones, rules):
    they link to the camera's device without registering it from their subentry."""

    def __init__(
        self,
        store: VigilStore,
        camera: CameraInfo,
        description: EntityDescription,
        rule_id: str | None = None,
        placeholders: dict[str, str] | None = None,
    ) -> None:
        """Attach the entity to its camera's device (and its rule, named in `placeholders`)."""
        self.store = store
        self.camera = camera
        self.rule_id = rule_id
        self.entity_description = description
        parts = [camera.unique_id, *([rule_id] if rule_id else []), description.key]
        self._attr_unique_id = "_".join(parts)
        if self.owns_camera_device or not LINKS_BY_DEVICE_ENTRY:
            self._attr_device_info = camera_device_info(camera)
        else:
            device_id = store.entry.runtime_data.devices.get(camera.camera_id)
            if device_id is not None:
                self.device_entry = dr.async_get(store.hass).async_get(device_id)
        if placeholders:
            self._attr_translation_placeholders = placeholders

    @property
    def available(self) -> bool:
        """Return whether the server is reachable and the camera's frames flow."""
        return self.store.camera_online(self.camera.camera_id)

    async def async_added_to_hass(self) -> None:
        """Follow the camera's states (and the rule's)."""
        await super().async_added_to_hass()
        store, camera_id = self.store, self.camera.camera_id
        self.async_on_remove(store.async_subscribe(camera_id, None, self._async_updated))
        if self.rule_id is not None:
            self.async_on_remove(
                store.async_subscribe(camera_id, self.rule_id, self._async_updated)
            )

    @callback
    def async_follow_events(
        self, rule_id: str | None, handler: Callable[[vp.RuleEvent], None]
    ) -> None:
        """Call `handler` with the camera's events of `rule_id` (None: of every rule)."""
        self.async_on_remove(
            self.store.async_subscribe_events(self.camera.camera_id, rule_id, handler)
        )

    @callback
    def _async_updated(self) -> None:
        self.async_write_ha_state()
