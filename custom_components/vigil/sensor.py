"""Sensors: objects in a zone by class, camera and server figures, rules, ONVIF counts, plates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

import vigil_protocol as vp

from .anpr_entities import async_setup_anpr_sensors
from .const import OBJECT_CLASSES
from .data import VigilConfigEntry
from .entity import VigilEntity
from .onvif_entities import async_setup_onvif_sensors
from .rule_entities import async_setup_rule_sensors, held_back_rules
from .server_config import ZoneInfo
from .server_entities import async_setup_server_sensors

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class VigilZoneSensorDescription(SensorEntityDescription):
    """Describe a sensor computed from a zone's state."""

    value_fn: Callable[[vp.ZoneState], int]


@dataclass(frozen=True, kw_only=True)
class VigilCameraSensorDescription(SensorEntityDescription):
    """Describe a sensor computed from a camera's figures."""

    value_fn: Callable[[vp.CameraState], float]


def _count_of(object_class: str) -> Callable[[vp.ZoneState], int]:
    return lambda zone: zone.counts.get(object_class, 0)


ZONE_COUNT_SENSORS: dict[str, VigilZoneSensorDescription] = {
    object_class: VigilZoneSensorDescription(
        key=f"count_{object_class}",
        translation_key=f"count_{object_class}",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_count_of(object_class),
    )
    for object_class in OBJECT_CLASSES
}

ZONE_TOTAL_SENSOR = VigilZoneSensorDescription(
    key="count",
    translation_key="count_all",
    state_class=SensorStateClass.MEASUREMENT,
    value_fn=lambda zone: zone.total,
)

CAMERA_SENSORS: tuple[VigilCameraSensorDescription, ...] = (
    VigilCameraSensorDescription(
        key="analysed_fps",
        translation_key="analysed_fps",
        native_unit_of_measurement="fps",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda camera: round(camera.analysed_fps, 2),
    ),
    VigilCameraSensorDescription(
        key="inference_latency",
        translation_key="inference_latency",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Changes on every refresh: keep it out of the recorder unless someone asks.
        entity_registry_enabled_default=False,
        value_fn=lambda camera: round(camera.inference_ms, 1),
    ),
)


def zone_sensor_descriptions(zone: ZoneInfo) -> list[VigilZoneSensorDescription]:
    """Return one count sensor per watched class, or a total when the zone watches all."""
    if not zone.classes:
        return [ZONE_TOTAL_SENSOR]
    return [ZONE_COUNT_SENSORS[c] for c in zone.classes if c in ZONE_COUNT_SENSORS]


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VigilConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the server's load, the sensors of every camera, zone and rule, ONVIF, plates."""
    runtime = entry.runtime_data
    store = runtime.store
    held = held_back_rules(store)
    async_setup_server_sensors(entry, async_add_entities)
    for camera in runtime.cameras.values():
        async_add_entities(
            (VigilCameraSensor(store, camera, desc) for desc in CAMERA_SENSORS),
            config_subentry_id=camera.subentry_id,
        )
    for zone in runtime.zones.values():
        if zone.rule_id in held:
            continue
        camera = runtime.cameras[zone.camera_id]
        async_add_entities(
            (
                VigilZoneSensor(store, camera, desc, zone.rule_id, {"zone": zone.name})
                for desc in zone_sensor_descriptions(zone)
            ),
            config_subentry_id=zone.subentry_id,
        )
    async_setup_rule_sensors(entry, async_add_entities)
    async_setup_onvif_sensors(entry, async_add_entities)
    async_setup_anpr_sensors(entry, async_add_entities)


class VigilZoneSensor(VigilEntity, SensorEntity):
    """How many objects of a class are inside a zone."""

    owns_camera_device = False  # added under its own subentry (entity.py)

    entity_description: VigilZoneSensorDescription

    @property
    def native_value(self) -> int | None:
        """Return the count, None until the zone's state arrived."""
        state = self.store.state(self.camera.camera_id, self.rule_id, vp.ZoneState.KIND)
        if not isinstance(state, vp.ZoneState):
            return None
        return self.entity_description.value_fn(state)


class VigilCameraSensor(VigilEntity, SensorEntity):
    """A figure of a camera's analysis, as the server measures it."""

    entity_description: VigilCameraSensorDescription

    @property
    def native_value(self) -> float | None:
        """Return the latest figure, or None before the first one."""
        camera = self.store.camera(self.camera.camera_id)
        return None if camera is None else self.entity_description.value_fn(camera)
