"""Base entities: one device per camera under its server; states pushed by the store.

An entity reads typed states from its server's store (never engine objects) and writes its
state when its camera's or rule's state changes, or the connection does. It is unavailable
while the server is unreachable or its camera's frames do not flow.
"""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN, MANUFACTURER, SOURCE_FRIGATE, SOURCE_ONVIF
from .panel import panel_url
from .server_config import CameraInfo
from .store import VigilStore

_MODELS = {SOURCE_ONVIF: "ONVIF camera", SOURCE_FRIGATE: "Frigate camera"}


def camera_device_info(entry_id: str, camera: CameraInfo) -> DeviceInfo:
    """Return the device of a camera, attached to its server's device."""
    return DeviceInfo(
        identifiers={(DOMAIN, f"{entry_id}_{camera.camera_id}")},
        name=camera.name,
        manufacturer=MANUFACTURER,
        model=_MODELS.get(camera.source_type, "Video stream"),
        via_device=(DOMAIN, entry_id),
        # The Vigil panel, with this camera chosen: draw its zones, lines and masks.
        configuration_url=f"homeassistant:/{panel_url(camera.subentry_id)}",
    )


def server_device_info(entry_id: str) -> DeviceInfo:
    """Return the server's device."""
    return DeviceInfo(identifiers={(DOMAIN, entry_id)})


class VigilEntity(Entity):
    """An entity of one camera (and one of its rules, when `rule_id` is set)."""

    _attr_has_entity_name = True
    _attr_should_poll = False

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
        entry_id = store.entry.entry_id
        parts = [entry_id, camera.camera_id, *([rule_id] if rule_id else []), description.key]
        self._attr_unique_id = "_".join(parts)
        self._attr_device_info = camera_device_info(entry_id, camera)
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
    def _async_updated(self) -> None:
        self.async_write_ha_state()
