"""Event entities: zones, rules, camera health, the cameras' own analytics, plates."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

import vigil_protocol as vp

from .anpr_entities import async_setup_anpr_events
from .data import VigilConfigEntry
from .entity import VigilEntity
from .onvif_entities import async_setup_onvif_events
from .rule_entities import async_setup_rule_events, held_back_rules
from .tamper_entities import async_setup_tamper_events

PARALLEL_UPDATES = 0

EVENT_ENTERED = "entered"
EVENT_EXITED = "exited"
ATTR_OBJECT_CLASS = "object_class"
ATTR_TRACK_ID = "track_id"
ATTR_COUNT = "count"

_EVENT_TYPES = {vp.EventPhase.STARTED: EVENT_ENTERED, vp.EventPhase.ENDED: EVENT_EXITED}

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
    """Add one event entity per zone, and those of rules, health, ONVIF and plates."""
    runtime = entry.runtime_data
    held = held_back_rules(runtime.store)
    for zone in runtime.zones.values():
        if zone.rule_id in held:
            continue
        async_add_entities(
            [
                VigilZoneEvent(
                    runtime.store,
                    runtime.cameras[zone.camera_id],
                    ZONE_EVENT,
                    zone.rule_id,
                    {"zone": zone.name},
                )
            ],
            config_subentry_id=zone.subentry_id,
        )
    async_setup_rule_events(entry, async_add_entities)
    async_setup_tamper_events(entry, async_add_entities)
    async_setup_onvif_events(entry, async_add_entities)
    async_setup_anpr_events(entry, async_add_entities)


class VigilZoneEvent(VigilEntity, EventEntity):
    """Fire `entered` / `exited` with the object's class and track id."""

    owns_camera_device = False  # added under its own subentry (entity.py)

    async def async_added_to_hass(self) -> None:
        """Follow the zone's events too."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.store.async_subscribe_events(
                self.camera.camera_id, self.rule_id, self._async_zone_event
            )
        )

    @callback
    def _async_updated(self) -> None:
        """Write the state only on availability changes (events write their own)."""
        self.async_write_ha_state()

    @callback
    def _async_zone_event(self, event: vp.RuleEvent) -> None:
        event_type = _EVENT_TYPES.get(event.phase)
        if event.kind != "zone_presence" or event_type is None:
            return
        self._trigger_event(
            event_type,
            {
                ATTR_OBJECT_CLASS: str(event.attrs.get("label", "")),
                ATTR_TRACK_ID: event.track_id,
                ATTR_COUNT: event.attrs.get("count", 0),
            },
        )
        self.async_write_ha_state()
