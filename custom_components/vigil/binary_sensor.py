"""Binary sensors: server overload, zones, stream problems, rules, camera health, ONVIF."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

import vigil_protocol as vp

from .data import VigilConfigEntry
from .entity import VigilEntity
from .onvif_entities import async_setup_onvif_binary_sensors
from .rule_entities import async_setup_rule_binary_sensors, held_back_rules
from .server_entities import async_setup_server_binary_sensors
from .tamper_entities import async_setup_tamper_binary_sensors

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class VigilZoneBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a binary sensor computed from a zone's state."""

    value_fn: Callable[[vp.ZoneState], bool]


@dataclass(frozen=True, kw_only=True)
class VigilCameraBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a binary sensor computed from a camera's stream state."""

    value_fn: Callable[[vp.CameraState], bool]


ZONE_BINARY_SENSORS: tuple[VigilZoneBinarySensorDescription, ...] = (
    VigilZoneBinarySensorDescription(
        key="occupied",
        translation_key="zone_occupied",
        device_class=BinarySensorDeviceClass.OCCUPANCY,
        value_fn=lambda zone: zone.occupied,
    ),
)

CAMERA_BINARY_SENSORS: tuple[VigilCameraBinarySensorDescription, ...] = (
    VigilCameraBinarySensorDescription(
        key="stream_problem",
        translation_key="stream_problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda camera: camera.failing,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VigilConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the server's overload, every camera's, zone's and rule's, health and ONVIF's."""
    runtime = entry.runtime_data
    store = runtime.store
    held = held_back_rules(store)
    async_setup_server_binary_sensors(entry, async_add_entities)
    for camera in runtime.cameras.values():
        async_add_entities(
            (VigilCameraBinarySensor(store, camera, desc) for desc in CAMERA_BINARY_SENSORS),
            config_subentry_id=camera.subentry_id,
        )
    for zone in runtime.zones.values():
        if zone.rule_id in held:
            continue
        camera = runtime.cameras[zone.camera_id]
        async_add_entities(
            (
                VigilZoneBinarySensor(store, camera, desc, zone.rule_id, {"zone": zone.name})
                for desc in ZONE_BINARY_SENSORS
            ),
            config_subentry_id=zone.subentry_id,
        )
    async_setup_rule_binary_sensors(entry, async_add_entities)
    async_setup_tamper_binary_sensors(entry, async_add_entities)
    async_setup_onvif_binary_sensors(entry, async_add_entities)


class VigilZoneBinarySensor(VigilEntity, BinarySensorEntity):
    """A zone's binary state, such as occupancy."""

    owns_camera_device = False  # added under its own subentry (entity.py)

    entity_description: VigilZoneBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """Return the zone's state through the description (None before it arrived)."""
        state = self.store.state(self.camera.camera_id, self.rule_id, vp.ZoneState.KIND)
        if not isinstance(state, vp.ZoneState):
            return None
        return self.entity_description.value_fn(state)


class VigilCameraBinarySensor(VigilEntity, BinarySensorEntity):
    """A camera's stream health; available while the server is, to report an outage itself."""

    entity_description: VigilCameraBinarySensorDescription

    @property
    def available(self) -> bool:
        """Return whether the server is reachable: the problem sensor reports outages."""
        return self.store.connected and self.store.camera(self.camera.camera_id) is not None

    @property
    def is_on(self) -> bool | None:
        """Return the camera's state through the description."""
        camera = self.store.camera(self.camera.camera_id)
        return None if camera is None else self.entity_description.value_fn(camera)
