"""Image entities: each camera's latest analysed frame, with its tracks and zones drawn.

The server draws the picture (privacy masks already blanked); the entity fetches it when the
frontend asks. The picture's time changes on zone events and otherwise every IMAGE_INTERVAL
while frames flow, so the recorder is not flooded with a state per analysed frame.

Only in a private home: Home Assistant serves an image entity to every user and never says
who looked, so where the analysed frame is sensitive (picture_view.py) there is no entity
(one left from before is removed) and administrators open the frame through Vigil's own view,
which the server logs. Plate crops never have an entity, for the same reason.
"""

from __future__ import annotations

import time

from homeassistant.components.image import ImageEntity, ImageEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

import vigil_protocol as vp

from .anpr_entities import MATCH_CROP_KEY
from .client import VigilClientError
from .const import DOMAIN, IMAGE_INTERVAL
from .data import VigilConfigEntry
from .entity import VigilEntity
from .picture_view import FRAME_PARAMS, frames_sensitive
from .server_config import CameraInfo
from .store import VigilStore

PARALLEL_UPDATES = 0

# Zone events come in bursts when a group walks in: a picture every 2 s is plenty.
_EVENT_MIN_INTERVAL_S = 2.0

ANALYSED_FRAME = ImageEntityDescription(key="analysed_frame", translation_key="analysed_frame")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VigilConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one analysed-frame image per camera where the frame is not sensitive."""
    runtime = entry.runtime_data
    sensitive = frames_sensitive(entry)
    registry = er.async_get(hass)
    for camera in runtime.cameras.values():
        # Entities of pictures now served only to administrators (an older version made them).
        gone = [MATCH_CROP_KEY, *([ANALYSED_FRAME.key] if sensitive else [])]
        for key in gone:
            unique_id = f"{camera.unique_id}_{key}"
            if entity_id := registry.async_get_entity_id("image", DOMAIN, unique_id):
                registry.async_remove(entity_id)
        if not sensitive:
            async_add_entities(
                [VigilFrameImage(hass, runtime.store, camera)],
                config_subentry_id=camera.subentry_id,
            )


class VigilFrameImage(VigilEntity, ImageEntity):
    """The latest analysed frame of a camera, annotated by the server."""

    _attr_content_type = "image/jpeg"

    def __init__(self, hass: HomeAssistant, store: VigilStore, camera: CameraInfo) -> None:
        """Attach the image to its camera."""
        VigilEntity.__init__(self, store, camera, ANALYSED_FRAME)
        ImageEntity.__init__(self, hass)
        self._shown_at = 0.0

    async def async_added_to_hass(self) -> None:
        """Also follow the camera's events (zone entries and exits refresh the picture)."""
        await super().async_added_to_hass()
        self.async_follow_events(None, self._async_event)

    @callback
    def _async_updated(self) -> None:
        if self.available and time.monotonic() - self._shown_at >= IMAGE_INTERVAL.total_seconds():
            self._async_new_picture()
        self.async_write_ha_state()

    @callback
    def _async_event(self, event: vp.RuleEvent) -> None:
        if event.kind != "zone_presence":
            return
        if time.monotonic() - self._shown_at >= _EVENT_MIN_INTERVAL_S:
            self._async_new_picture()
            self.async_write_ha_state()

    @callback
    def _async_new_picture(self) -> None:
        self._shown_at = time.monotonic()
        self._attr_image_last_updated = dt_util.utcnow()

    async def async_image(self) -> bytes | None:
        """Return the camera's latest analysed frame as JPEG, drawn by the server."""
        try:
            return await self.store.client.fetch(
                f"/api/cameras/{self.camera.camera_id}/picture.jpg", FRAME_PARAMS
            )
        except VigilClientError:
            return None
