"""The server's load as diagnostic entities on its device, as the server measures it.

Analysed frame rate and its share of what the cameras ask for, the share of its cores the
server process used, the detector's wait and the frames' latency (median and 95th
percentile), and the cameras it cannot keep up with. A server older than protocol 1.2 does
not send the share, the cores or the latencies: those entities stay unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

import vigil_protocol as vp

from .data import VigilConfigEntry
from .entity import ServerDeviceEntity
from .server_load import cpu_share


@dataclass(frozen=True, kw_only=True)
class VigilServerSensorDescription(SensorEntityDescription):
    """Describe a sensor computed from the server's state."""

    value_fn: Callable[[vp.ServerState], float | int | None]


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 1)


def _duration(
    key: str, value_fn: Callable[[vp.ServerState], float | None], *, enabled: bool = True
) -> VigilServerSensorDescription:
    return VigilServerSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=enabled,
        value_fn=value_fn,
    )


SERVER_SENSORS: tuple[VigilServerSensorDescription, ...] = (
    VigilServerSensorDescription(
        key="server_analysed_fps",
        translation_key="server_analysed_fps",
        native_unit_of_measurement="fps",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda server: server.analysed_fps,
    ),
    VigilServerSensorDescription(
        key="server_analysed_share",
        translation_key="server_analysed_share",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda server: _percent(server.analysed_share),
    ),
    VigilServerSensorDescription(
        key="server_cpu",
        translation_key="server_cpu",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda server: _percent(cpu_share(server)),
    ),
    # The medians change on every refresh and say less than the 95th percentiles about
    # whether a server keeps up: off until someone asks, to spare the recorder.
    _duration("server_inference_p50", lambda s: s.inference_p50_ms, enabled=False),
    _duration("server_inference_p95", lambda s: s.inference_p95_ms),
    _duration("server_latency_p50", lambda s: s.latency_p50_ms, enabled=False),
    _duration("server_latency_p95", lambda s: s.latency_p95_ms),
    VigilServerSensorDescription(
        key="server_overloaded_cameras",
        translation_key="server_overloaded_cameras",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda server: len(server.overloaded_cameras),
    ),
)

SERVER_OVERLOADED = BinarySensorEntityDescription(
    key="server_overloaded",
    translation_key="server_overloaded",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
)


@callback
def async_setup_server_sensors(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the server's load sensors to its device."""
    async_add_entities(VigilServerSensor(entry, description) for description in SERVER_SENSORS)


@callback
def async_setup_server_binary_sensors(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the server's overload problem sensor to its device."""
    async_add_entities([VigilServerOverloaded(entry, SERVER_OVERLOADED)])


class VigilServerLoadEntity(ServerDeviceEntity):
    """An entity of the server's device reading the server's own state."""

    @property
    def server(self) -> vp.ServerState | None:
        """Return the server's latest state (None before the first)."""
        return self.store.server()

    @property
    def available(self) -> bool:
        """Return whether the server is reachable and has said how it is."""
        return self.store.connected and self.server is not None

    async def async_added_to_hass(self) -> None:
        """Follow the server's state and the connection."""
        await super().async_added_to_hass()
        self.async_on_remove(self.store.async_subscribe(None, None, self.async_write_ha_state))

    def overloaded_camera_names(self, server: vp.ServerState) -> list[str]:
        """Return the names of the cameras the server cannot keep up with."""
        cameras = self._entry.runtime_data.cameras
        return [
            camera.name if (camera := cameras.get(camera_id)) is not None else camera_id
            for camera_id in server.overloaded_cameras
        ]


class VigilServerSensor(VigilServerLoadEntity, SensorEntity):
    """A figure of the server's load."""

    entity_description: VigilServerSensorDescription

    @property
    def native_value(self) -> float | int | None:
        """Return the figure (None when the server does not measure it)."""
        server = self.server
        return None if server is None else self.entity_description.value_fn(server)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return what a figure is measured against: the fps asked for, cores, camera names."""
        server = self.server
        key = self.entity_description.key
        if server is None:
            return None
        if key in ("server_analysed_fps", "server_analysed_share"):
            return {"target_fps": server.target_fps, "cameras_online": server.cameras_online}
        if key == "server_cpu":
            return {"cores": server.cpu_count}
        if key == "server_overloaded_cameras":
            return {"cameras": self.overloaded_camera_names(server)}
        return None


class VigilServerOverloaded(VigilServerLoadEntity, BinarySensorEntity):
    """On while the server cannot analyse some camera at its rate (it drops frames evenly)."""

    @property
    def is_on(self) -> bool | None:
        """Return whether any camera's analysis falls behind its stream."""
        server = self.server
        return None if server is None else server.overloaded

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the cameras that fall behind, by name."""
        server = self.server
        return None if server is None else {"cameras": self.overloaded_camera_names(server)}
