"""Image entity: each camera's latest analysed frame with its boxes and zones drawn on it."""

from __future__ import annotations

from collections.abc import Sequence
import time

from homeassistant.components.image import ImageEntity, ImageEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from vigil_core.annotate import annotate, to_jpeg
from vigil_core.events.model import RuleEvent
from vigil_core.geometry.polygon import Polygon
from vigil_core.pipeline import AnalysedFrame

from .anpr_entities import async_setup_anpr_images
from .bridge import VigilBridge, zone_signal
from .const import IMAGE_INTERVAL
from .data import VigilConfigEntry
from .engine_config import CameraInfo, ZoneInfo
from .entity import VigilEntity

PARALLEL_UPDATES = 0

# Zone events come in bursts when a group walks in: a picture every 2 s is plenty.
_EVENT_MIN_INTERVAL_S = 2.0

type ZoneOverlay = tuple[str, Polygon, bool]

ANALYSED_FRAME = ImageEntityDescription(key="analysed_frame", translation_key="analysed_frame")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VigilConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one image entity per camera, and a watchlist match crop where crops are kept."""
    runtime = entry.runtime_data
    for camera in runtime.cameras.values():
        zones = [z for z in runtime.zones.values() if z.camera_id == camera.camera_id]
        async_add_entities(
            [VigilFrameImage(hass, runtime.bridge, camera, zones)],
            config_subentry_id=camera.subentry_id,
        )
    async_setup_anpr_images(hass, entry, async_add_entities)


def render_jpeg(analysed: AnalysedFrame, zones: Sequence[ZoneOverlay]) -> bytes:
    """Draw tracks and zones on a frame and encode it (blocking: run in the executor)."""
    return to_jpeg(annotate(analysed.frame.image, analysed.tracks, zones))


class VigilFrameImage(VigilEntity, ImageEntity):
    """The latest analysed frame of a camera, annotated.

    The picture changes when zone events happen and otherwise every IMAGE_INTERVAL while
    frames flow, so the recorder is not flooded with a state per analysed frame.
    """

    _attr_content_type = "image/jpeg"

    def __init__(
        self,
        hass: HomeAssistant,
        bridge: VigilBridge,
        camera: CameraInfo,
        zones: Sequence[ZoneInfo],
    ) -> None:
        """Prepare the zone outlines drawn on every frame."""
        VigilEntity.__init__(self, bridge, camera, ANALYSED_FRAME)
        ImageEntity.__init__(self, hass)
        self._zones = list(zones)
        self._polygons = {zone.rule_id: Polygon(zone.polygon) for zone in zones}
        self._shown: AnalysedFrame | None = None
        self._shown_at = 0.0
        self._rendered: tuple[AnalysedFrame, bytes] | None = None

    async def async_added_to_hass(self) -> None:
        """Also follow the events of the camera's zones."""
        await super().async_added_to_hass()
        for zone in self._zones:
            self.async_on_remove(
                async_dispatcher_connect(
                    self.hass,
                    zone_signal(self.bridge.entry_id, zone.rule_id),
                    self._async_zone_event,
                )
            )

    @callback
    def _async_camera_updated(self) -> None:
        if time.monotonic() - self._shown_at >= IMAGE_INTERVAL.total_seconds():
            self._async_show_latest()
        self.async_write_ha_state()

    @callback
    def _async_zone_event(self, event: RuleEvent) -> None:
        if time.monotonic() - self._shown_at >= _EVENT_MIN_INTERVAL_S:
            self._async_show_latest()
            self.async_write_ha_state()

    @callback
    def _async_show_latest(self) -> None:
        latest = self.bridge.engine.latest(self.camera.camera_id)
        if latest is None or latest is self._shown:
            return
        self._shown = latest
        self._shown_at = time.monotonic()
        self._attr_image_last_updated = dt_util.utcnow()

    def _overlays(self) -> list[ZoneOverlay]:
        states = self.bridge.zone_states
        return [
            (zone.name, self._polygons[zone.rule_id], states[zone.rule_id].total > 0)
            for zone in self._zones
        ]

    async def async_image(self) -> bytes | None:
        """Return the shown frame as JPEG, drawn in the executor."""
        analysed = self._shown
        if analysed is None:
            return None
        if self._rendered is not None and self._rendered[0] is analysed:
            return self._rendered[1]
        jpeg = await self.hass.async_add_executor_job(render_jpeg, analysed, self._overlays())
        self._rendered = (analysed, jpeg)
        return jpeg
