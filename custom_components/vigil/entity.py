"""Base entities: one device per camera under the hub, pushed by the bridge."""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription

from vigil_core.events.model import RuleEvent

from .bridge import VigilBridge, camera_signal, zone_signal
from .const import DOMAIN, MANUFACTURER, SOURCE_FRIGATE, SOURCE_ONVIF
from .engine_config import CameraInfo, ZoneInfo

_MODELS = {SOURCE_ONVIF: "ONVIF camera", SOURCE_FRIGATE: "Frigate camera"}


def camera_device_info(entry_id: str, camera: CameraInfo) -> DeviceInfo:
    """Return the device of a camera, attached to the hub."""
    return DeviceInfo(
        identifiers={(DOMAIN, f"{entry_id}_{camera.camera_id}")},
        name=camera.name,
        manufacturer=MANUFACTURER,
        model=_MODELS.get(camera.source_type, "Video stream"),
        via_device=(DOMAIN, entry_id),
    )


class VigilEntity(Entity):
    """An entity of one camera; unavailable while the camera's stream is down."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, bridge: VigilBridge, camera: CameraInfo, description: EntityDescription
    ) -> None:
        """Attach the entity to its camera's device."""
        self.bridge = bridge
        self.camera = camera
        self.entity_description = description
        self._attr_unique_id = f"{bridge.entry_id}_{camera.camera_id}_{description.key}"
        self._attr_device_info = camera_device_info(bridge.entry_id, camera)

    @property
    def available(self) -> bool:
        """Return whether the camera's stream is delivering frames."""
        return self.bridge.available(self.camera.camera_id)

    async def async_added_to_hass(self) -> None:
        """Follow the camera's state and figures."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                camera_signal(self.bridge.entry_id, self.camera.camera_id),
                self._async_camera_updated,
            )
        )

    @callback
    def _async_camera_updated(self) -> None:
        self.async_write_ha_state()


class VigilZoneEntity(VigilEntity):
    """An entity of one zone rule, on its camera's device."""

    def __init__(
        self,
        bridge: VigilBridge,
        camera: CameraInfo,
        zone: ZoneInfo,
        description: EntityDescription,
    ) -> None:
        """Attach the entity to its zone; the zone name goes into the translated name."""
        super().__init__(bridge, camera, description)
        self.zone = zone
        self._attr_unique_id = (
            f"{bridge.entry_id}_{camera.camera_id}_{zone.rule_id}_{description.key}"
        )
        self._attr_translation_placeholders = {"zone": zone.name}

    async def async_added_to_hass(self) -> None:
        """Follow the zone's events too."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                zone_signal(self.bridge.entry_id, self.zone.rule_id),
                self._async_zone_event,
            )
        )

    @callback
    def _async_zone_event(self, event: RuleEvent) -> None:
        self.async_write_ha_state()
