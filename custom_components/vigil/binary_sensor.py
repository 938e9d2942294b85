"""Binary sensors: a zone is occupied; a camera's stream has a problem."""

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

from .bridge import CameraState, ZoneState
from .data import VigilConfigEntry
from .entity import VigilEntity, VigilZoneEntity
from .onvif_entities import async_setup_onvif_binary_sensors
from .rule_entities import async_setup_rule_binary_sensors
from .tamper_entities import async_setup_tamper_binary_sensors

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class VigilZoneBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a binary sensor computed from a zone's state."""

    value_fn: Callable[[ZoneState], bool]


@dataclass(frozen=True, kw_only=True)
class VigilCameraBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a binary sensor computed from a camera's stream state."""

    value_fn: Callable[[CameraState], bool]


ZONE_BINARY_SENSORS: tuple[VigilZoneBinarySensorDescription, ...] = (
    VigilZoneBinarySensorDescription(
        key="occupied",
        translation_key="zone_occupied",
        device_class=BinarySensorDeviceClass.OCCUPANCY,
        value_fn=lambda zone: zone.total > 0,
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
    """Add the binary sensors of every camera and zone."""
    runtime = entry.runtime_data
    bridge = runtime.bridge
    for camera in runtime.cameras.values():
        async_add_entities(
            (VigilCameraBinarySensor(bridge, camera, desc) for desc in CAMERA_BINARY_SENSORS),
            config_subentry_id=camera.subentry_id,
        )
    for zone in runtime.zones.values():
        camera = runtime.cameras[zone.camera_id]
        async_add_entities(
            (VigilZoneBinarySensor(bridge, camera, zone, desc) for desc in ZONE_BINARY_SENSORS),
            config_subentry_id=zone.subentry_id,
        )
    async_setup_onvif_binary_sensors(entry, async_add_entities)
    async_setup_rule_binary_sensors(entry, async_add_entities)
    async_setup_tamper_binary_sensors(entry, async_add_entities)


class VigilZoneBinarySensor(VigilZoneEntity, BinarySensorEntity):
    """A zone's binary state, such as occupancy."""

    entity_description: VigilZoneBinarySensorDescription

    @property
    def is_on(self) -> bool:
        """Return the zone's state through the description."""
        return self.entity_description.value_fn(self.bridge.zone_states[self.zone.rule_id])


class VigilCameraBinarySensor(VigilEntity, BinarySensorEntity):
    """A camera's stream health; stays available so it can report the outage itself."""

    entity_description: VigilCameraBinarySensorDescription

    @property
    def available(self) -> bool:
        """Return True: the problem sensor is how an outage is reported."""
        return True

    @property
    def is_on(self) -> bool:
        """Return the camera's state through the description."""
        return self.entity_description.value_fn(self.bridge.camera_states[self.camera.camera_id])
