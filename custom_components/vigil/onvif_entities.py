"""Entities for camera-side ONVIF analytics: one per kind of topic a camera announces.

Stateful topics (motion, the camera's own zones, object detectors, inputs, sound) are binary
sensors, on while any of the camera's rules of that kind is on; counts are a sensor; line
crossings an event entity; and every topic Vigil has no parser for gets an event entity of its
own that fires with the rule and video source the message names (the server passes no other
item). Face detection and recognition topics never reach Home Assistant: the server drops them.
All of them carry ``source: onvif`` and are available while the camera's event channel is up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.components.sensor import (
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import callback
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

import vigil_protocol as vp

from .const import SOURCE_ONVIF as SOURCE_TYPE_ONVIF
from .entity import VigilEntity
from .onvif_runtime import (
    KIND_GENERIC,
    SOURCE_ONVIF,
    TopicEntities,
    TopicKey,
    find_topic,
    onvif_state,
    topic_key,
    topic_name,
)
from .server_config import CameraInfo
from .store import VigilStore

if TYPE_CHECKING:
    from .data import VigilConfigEntry

ATTR_SOURCE: Final = "source"
ATTR_RULES: Final = "rules"
ATTR_TOPIC: Final = "topic"
EVENT_CROSSED: Final = "crossed"
EVENT_MESSAGE: Final = "event"
KIND_COUNT: Final = "object_count"
KIND_LINE_CROSSING: Final = "line_crossing"
_MOTION = BinarySensorDeviceClass.MOTION
_OCCUPANCY = BinarySensorDeviceClass.OCCUPANCY


def _binary(
    key: str, device_class: BinarySensorDeviceClass | None
) -> BinarySensorEntityDescription:
    return BinarySensorEntityDescription(
        key=f"onvif_{key}", translation_key=f"onvif_{key}", device_class=device_class
    )


BINARY_SENSORS: Final[dict[str, BinarySensorEntityDescription]] = {
    "motion": _binary("motion", _MOTION),
    "zone_presence": _binary("zone", _OCCUPANCY),
    "person": _binary("person", _MOTION),
    "vehicle": _binary("vehicle", _MOTION),
    "animal": _binary("animal", _MOTION),
    "package": _binary("package", _OCCUPANCY),
    "visitor": _binary("visitor", _OCCUPANCY),
    "digital_input": _binary("digital_input", None),
    "relay": _binary("relay", None),
    "sound": _binary("sound", BinarySensorDeviceClass.SOUND),
}
"""The binary sensor of each stateful kind (keys are the server's topic kinds)."""
COUNT_SENSOR: Final = SensorEntityDescription(
    key="onvif_count", translation_key="onvif_count", state_class=SensorStateClass.MEASUREMENT
)
LINE_CROSSING_EVENT: Final = EventEntityDescription(
    key="onvif_line_crossing", translation_key="onvif_line_crossing", event_types=[EVENT_CROSSED]
)
TOPIC_EVENT: Final = EventEntityDescription(
    key="onvif_event", translation_key="onvif_event", event_types=[EVENT_MESSAGE]
)


class VigilOnvifEntity(VigilEntity):
    """An entity of one ONVIF camera's own analytics; available while its events flow."""

    def __init__(
        self,
        store: VigilStore,
        camera: CameraInfo,
        description: EntityDescription,
        key: TopicKey,
    ) -> None:
        """Attach the entity to its camera's device and to one kind (or topic)."""
        super().__init__(store, camera, description)
        self.key = key

    @property
    def onvif(self) -> vp.OnvifState | None:
        """Return the camera's channel and topics."""
        return onvif_state(self.store, self.camera.camera_id)

    @property
    def available(self) -> bool:
        """Return whether the server is reachable and the camera's event channel is up."""
        state = self.onvif
        return self.store.connected and state is not None and state.available


class VigilOnvifBinarySensor(VigilOnvifEntity, BinarySensorEntity):
    """On while any of the camera's rules of one kind reports something."""

    @property
    def _active(self) -> tuple[str, ...]:
        topic = find_topic(self.onvif, self.key)
        return topic.active if topic is not None else ()

    @property
    def is_on(self) -> bool:
        """Return whether a rule of this kind is on."""
        return bool(self._active)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the source and the camera's rules that are on."""
        return {ATTR_SOURCE: SOURCE_ONVIF, ATTR_RULES: sorted(self._active)}


class VigilOnvifCountSensor(VigilOnvifEntity, SensorEntity):
    """What the camera's count aggregation rules count, summed over its rules."""

    @property
    def native_value(self) -> int | None:
        """Return the total of the latest counts, None before the first."""
        state = self.onvif
        return sum(state.counts.values()) if state is not None and state.counts else None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the source and the count of each rule."""
        state = self.onvif
        return {ATTR_SOURCE: SOURCE_ONVIF, "counts": dict(state.counts) if state else {}}


class VigilOnvifEvent(VigilOnvifEntity, EventEntity):
    """An event entity fed by the camera's own events of one kind."""

    async def async_added_to_hass(self) -> None:
        """Follow the camera's events too."""
        await super().async_added_to_hass()
        self.async_follow_events(None, self._async_event)

    @callback
    def _async_event(self, event: vp.RuleEvent) -> None:
        if event.source != SOURCE_ONVIF or event.kind != self.key[0]:
            return
        if self._async_fire(event):
            self.async_write_ha_state()

    @callback
    def _async_fire(self, event: vp.RuleEvent) -> bool:
        """Fire the event for this entity; return whether it did."""
        raise NotImplementedError


class VigilOnvifLineCrossing(VigilOnvifEvent):
    """Fire ``crossed`` when one of the camera's line rules is crossed."""

    @callback
    def _async_fire(self, event: vp.RuleEvent) -> bool:
        attrs = event.attrs
        self._trigger_event(
            EVENT_CROSSED,
            {
                ATTR_SOURCE: SOURCE_ONVIF,
                "rule": attrs.get("rule"),
                "object_id": attrs.get("object_id"),
                "object_class": attrs.get("object_class"),
                ATTR_TOPIC: attrs.get("topic"),
            },
        )
        return True


class VigilOnvifTopicEvent(VigilOnvifEvent):
    """Fire ``event`` for every message on a topic Vigil has no parser for (allow-listed items)."""

    def __init__(self, store: VigilStore, camera: CameraInfo, topic: str) -> None:
        """Follow one topic; its readable tail goes into the entity name."""
        super().__init__(store, camera, TOPIC_EVENT, (KIND_GENERIC, topic))
        self.topic = topic
        self._attr_unique_id = f"{self._attr_unique_id}_{topic}"
        self._attr_translation_placeholders = {"topic": topic_name(topic)}
        if topic.partition(":")[2].startswith("Monitoring/"):
            self._attr_entity_category = EntityCategory.DIAGNOSTIC

    @callback
    def _async_fire(self, event: vp.RuleEvent) -> bool:
        attrs = event.attrs
        if attrs.get(ATTR_TOPIC) != self.topic:
            return False
        self._trigger_event(
            EVENT_MESSAGE,
            {
                ATTR_SOURCE: SOURCE_ONVIF,
                ATTR_TOPIC: self.topic,
                "operation": attrs.get("operation"),
                "source_items": attrs.get("source_items"),
                "key_items": attrs.get("key_items"),
                "data": attrs.get("data"),
            },
        )
        return True


def _build_binary_sensor(
    store: VigilStore, camera: CameraInfo, topic: vp.OnvifTopic
) -> Entity | None:
    description = BINARY_SENSORS.get(topic.kind)
    if description is None:
        return None
    return VigilOnvifBinarySensor(store, camera, description, topic_key(topic))


def _build_sensor(store: VigilStore, camera: CameraInfo, topic: vp.OnvifTopic) -> Entity | None:
    if topic.kind != KIND_COUNT:
        return None
    return VigilOnvifCountSensor(store, camera, COUNT_SENSOR, topic_key(topic))


def _build_event(store: VigilStore, camera: CameraInfo, topic: vp.OnvifTopic) -> Entity | None:
    if topic.kind == KIND_LINE_CROSSING:
        return VigilOnvifLineCrossing(store, camera, LINE_CROSSING_EVENT, topic_key(topic))
    if topic.kind == KIND_GENERIC and topic.topic is not None:
        return VigilOnvifTopicEvent(store, camera, topic.topic)
    return None


def _onvif_cameras(entry: VigilConfigEntry) -> list[CameraInfo]:
    return [
        camera
        for camera in entry.runtime_data.cameras.values()
        if camera.source_type == SOURCE_TYPE_ONVIF
    ]


@callback
def async_setup_onvif_binary_sensors(
    entry: VigilConfigEntry, add: AddConfigEntryEntitiesCallback
) -> None:
    """Add the binary sensors of the ONVIF cameras' stateful topics, now and as they come."""
    TopicEntities(entry, add, _build_binary_sensor).async_start(_onvif_cameras(entry))


@callback
def async_setup_onvif_sensors(entry: VigilConfigEntry, add: AddConfigEntryEntitiesCallback) -> None:
    """Add the count sensors of the ONVIF cameras' counting rules, now and as they come."""
    TopicEntities(entry, add, _build_sensor).async_start(_onvif_cameras(entry))


@callback
def async_setup_onvif_events(entry: VigilConfigEntry, add: AddConfigEntryEntitiesCallback) -> None:
    """Add the line-crossing and per-topic event entities of the ONVIF cameras."""
    TopicEntities(entry, add, _build_event).async_start(_onvif_cameras(entry))
