"""Event entities: an object entered or left a zone."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from vigil_core.events.model import EventPhase, RuleEvent

from .anpr_entities import async_setup_anpr_events
from .data import VigilConfigEntry
from .entity import VigilZoneEntity
from .onvif_entities import async_setup_onvif_events
from .rule_entities import async_setup_rule_events
from .tamper_entities import async_setup_tamper_events

PARALLEL_UPDATES = 0

EVENT_ENTERED = "entered"
EVENT_EXITED = "exited"
ATTR_OBJECT_CLASS = "object_class"
ATTR_TRACK_ID = "track_id"
ATTR_COUNT = "count"

_EVENT_TYPES = {EventPhase.STARTED: EVENT_ENTERED, EventPhase.ENDED: EVENT_EXITED}

ZONE_EVENT = EventEntityDescription(
    key="presence",
    translation_key="zone_presence",
    event_types=[EVENT_ENTERED, EVENT_EXITED],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VigilConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one event entity per zone."""
    runtime = entry.runtime_data
    for zone in runtime.zones.values():
        async_add_entities(
            [VigilZoneEvent(runtime.bridge, runtime.cameras[zone.camera_id], zone, ZONE_EVENT)],
            config_subentry_id=zone.subentry_id,
        )
    async_setup_onvif_events(entry, async_add_entities)
    async_setup_rule_events(entry, async_add_entities)
    async_setup_tamper_events(entry, async_add_entities)
    async_setup_anpr_events(entry, async_add_entities)


class VigilZoneEvent(VigilZoneEntity, EventEntity):
    """Fire `entered` / `exited` with the object's class and track id."""

    @callback
    def _async_zone_event(self, event: RuleEvent) -> None:
        # The bridge only forwards the phases in _EVENT_TYPES.
        self._trigger_event(
            _EVENT_TYPES[event.phase],
            {
                ATTR_OBJECT_CLASS: str(event.attrs.get("label", "")),
                ATTR_TRACK_ID: event.track_id,
                ATTR_COUNT: event.attrs.get("count", 0),
            },
        )
        self.async_write_ha_state()
