"""Entities for camera-side ONVIF analytics: one per kind of topic a camera announces.

Stateful topics (motion, the camera's own zones, object detectors, inputs, sound) are binary
sensors, on while any of the camera's rules of that kind is on; counts are a sensor; line
crossings an event entity; and every topic Vigil has no parser for gets an event entity of its
own that fires with the message's items. All of them carry ``source: onvif``.
"""

from __future__ import annotations

from collections.abc import Callable
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
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from vigil_core.events.model import RuleEvent
from vigil_core.sources.onvif_states import SOURCE_ONVIF
from vigil_core.sources.onvif_topics import OnvifKind

from .entity import camera_device_info
from .onvif_runtime import (
    OnvifCameraEvents,
    OnvifRuntime,
    TopicEntity,
    new_entities_signal,
    onvif_signal,
)

if TYPE_CHECKING:
    from .data import VigilConfigEntry

ATTR_SOURCE: Final = "source"
ATTR_RULES: Final = "rules"
ATTR_TOPIC: Final = "topic"
EVENT_CROSSED: Final = "crossed"
EVENT_MESSAGE: Final = "event"
_MOTION = BinarySensorDeviceClass.MOTION
_OCCUPANCY = BinarySensorDeviceClass.OCCUPANCY


def _binary(
    key: str, device_class: BinarySensorDeviceClass | None
) -> BinarySensorEntityDescription:
    return BinarySensorEntityDescription(
        key=f"onvif_{key}", translation_key=f"onvif_{key}", device_class=device_class
    )


BINARY_SENSORS: Final[dict[str, BinarySensorEntityDescription]] = {
    OnvifKind.MOTION: _binary("motion", _MOTION),
    OnvifKind.ZONE: _binary("zone", _OCCUPANCY),
    OnvifKind.PERSON: _binary("person", _MOTION),
    OnvifKind.VEHICLE: _binary("vehicle", _MOTION),
    OnvifKind.ANIMAL: _binary("animal", _MOTION),
    OnvifKind.FACE: _binary("face", _MOTION),
    OnvifKind.PACKAGE: _binary("package", _OCCUPANCY),
    OnvifKind.VISITOR: _binary("visitor", _OCCUPANCY),
    OnvifKind.DIGITAL_INPUT: _binary("digital_input", None),
    OnvifKind.RELAY: _binary("relay", None),
    OnvifKind.SOUND: _binary("sound", BinarySensorDeviceClass.SOUND),
}
COUNT_SENSOR: Final = SensorEntityDescription(
    key="onvif_count", translation_key="onvif_count", state_class=SensorStateClass.MEASUREMENT
)
LINE_CROSSING_EVENT: Final = EventEntityDescription(
    key="onvif_line_crossing", translation_key="onvif_line_crossing", event_types=[EVENT_CROSSED]
)
TOPIC_EVENT: Final = EventEntityDescription(
    key="onvif_event", translation_key="onvif_event", event_types=[EVENT_MESSAGE]
)


class VigilOnvifEntity(Entity):
    """An entity of one ONVIF camera's own analytics; available while its events flow."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _kind: str = ""

    def __init__(
        self, runtime: OnvifRuntime, state: OnvifCameraEvents, description: EntityDescription
    ) -> None:
        """Attach the entity to its camera's device."""
        self.runtime = runtime
        self.channel = state
        self.entity_description = description
        entry_id = runtime.entry.entry_id
        self._attr_unique_id = f"{entry_id}_{state.camera.camera_id}_{description.key}"
        self._attr_device_info = camera_device_info(entry_id, state.camera)

    @property
    def available(self) -> bool:
        """Return whether the camera's event channel is up."""
        return self.channel.available

    async def async_added_to_hass(self) -> None:
        """Follow the camera's events and channel status."""
        await super().async_added_to_hass()
        signal = onvif_signal(self.runtime.entry.entry_id, self.channel.camera.camera_id)
        self.async_on_remove(async_dispatcher_connect(self.hass, signal, self._async_on_event))

    @callback
    def _async_on_event(self, event: RuleEvent | None) -> None:
        """Write the state on a status change (None) or an event of this entity's kind."""
        if event is None or self._concerns(event):
            self._async_handle(event)
            self.async_write_ha_state()

    def _concerns(self, event: RuleEvent) -> bool:
        return event.kind == self._kind

    @callback
    def _async_handle(self, event: RuleEvent | None) -> None:
        """React to an event before the state is written (event entities fire here)."""


class VigilOnvifBinarySensor(VigilOnvifEntity, BinarySensorEntity):
    """On while any of the camera's rules of one kind reports something."""

    def __init__(
        self,
        runtime: OnvifRuntime,
        state: OnvifCameraEvents,
        kind: str,
        description: BinarySensorEntityDescription,
    ) -> None:
        """Show one kind of the camera's analytics."""
        super().__init__(runtime, state, description)
        self._kind = kind

    @property
    def is_on(self) -> bool:
        """Return whether a rule of this kind is on."""
        return self.channel.is_on(self._kind)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the source and the camera rules that are on."""
        active = self.channel.active.get(self._kind, {})
        attrs: dict[str, Any] = {
            ATTR_SOURCE: SOURCE_ONVIF,
            ATTR_RULES: sorted(str(a.get("rule", key)) for key, a in active.items()),
        }
        classes = sorted({str(a["object_class"]) for a in active.values() if "object_class" in a})
        if classes:
            attrs["object_class"] = classes
        return attrs


class VigilOnvifCountSensor(VigilOnvifEntity, SensorEntity):
    """What the camera's count aggregation rules count, summed over its rules."""

    _kind = OnvifKind.COUNT.value

    @property
    def native_value(self) -> int | None:
        """Return the total of the latest counts, None before the first."""
        return sum(self.channel.counts.values()) if self.channel.counts else None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the source and the count of each rule."""
        return {ATTR_SOURCE: SOURCE_ONVIF, "counts": dict(self.channel.counts)}


class VigilOnvifLineCrossing(VigilOnvifEntity, EventEntity):
    """Fire ``crossed`` when one of the camera's line rules is crossed."""

    _kind = OnvifKind.LINE_CROSSING.value

    @callback
    def _async_handle(self, event: RuleEvent | None) -> None:
        if event is None:
            return
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


class VigilOnvifTopicEvent(VigilOnvifEntity, EventEntity):
    """Fire ``event`` with the items of every message on a topic Vigil has no parser for."""

    _kind = OnvifKind.GENERIC.value

    def __init__(self, runtime: OnvifRuntime, state: OnvifCameraEvents, topic: str) -> None:
        """Follow one topic; its readable tail goes into the entity name."""
        super().__init__(runtime, state, TOPIC_EVENT)
        self.topic = topic
        self._attr_unique_id = f"{self._attr_unique_id}_{topic}"
        self._attr_translation_placeholders = {"topic": topic_name(topic)}
        if topic.partition(":")[2].startswith("Monitoring/"):
            self._attr_entity_category = EntityCategory.DIAGNOSTIC

    def _concerns(self, event: RuleEvent) -> bool:
        return event.kind == self._kind and event.attrs.get("topic") == self.topic

    @callback
    def _async_handle(self, event: RuleEvent | None) -> None:
        if event is None:
            return
        attrs = event.attrs
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


def topic_name(topic: str) -> str:
    """Return the readable part of a topic: its last segment without a namespace prefix."""
    return topic.rpartition("/")[2].rpartition(":")[2] or topic


type Builder = Callable[[OnvifRuntime, OnvifCameraEvents, TopicEntity], Entity | None]


def _build_binary_sensor(
    runtime: OnvifRuntime, state: OnvifCameraEvents, wanted: TopicEntity
) -> Entity | None:
    description = BINARY_SENSORS.get(wanted.kind)
    if description is None:
        return None
    return VigilOnvifBinarySensor(runtime, state, wanted.kind, description)


def _build_sensor(
    runtime: OnvifRuntime, state: OnvifCameraEvents, wanted: TopicEntity
) -> Entity | None:
    if wanted.kind != OnvifKind.COUNT:
        return None
    return VigilOnvifCountSensor(runtime, state, COUNT_SENSOR)


def _build_event(
    runtime: OnvifRuntime, state: OnvifCameraEvents, wanted: TopicEntity
) -> Entity | None:
    if wanted.kind == OnvifKind.LINE_CROSSING:
        return VigilOnvifLineCrossing(runtime, state, LINE_CROSSING_EVENT)
    if wanted.kind == OnvifKind.GENERIC and wanted.topic is not None:
        return VigilOnvifTopicEvent(runtime, state, wanted.topic)
    return None


def _async_setup(
    entry: VigilConfigEntry, add: AddConfigEntryEntitiesCallback, build: Builder
) -> None:
    """Add this platform's entities for the known topics, and for new ones as they come."""
    runtime = entry.runtime_data.onvif
    if runtime is None:
        return

    @callback
    def add_for(camera_id: str, wanted: set[TopicEntity]) -> None:
        state = runtime.cameras[camera_id]
        entities = [
            entity
            for item in sorted(wanted, key=lambda e: (e.kind, e.topic or ""))
            if (entity := build(runtime, state, item)) is not None
        ]
        if entities:
            add(entities, config_subentry_id=state.camera.subentry_id)

    for camera_id, state in runtime.cameras.items():
        add_for(camera_id, state.entities)
    entry.async_on_unload(
        async_dispatcher_connect(runtime.hass, new_entities_signal(entry.entry_id), add_for)
    )


@callback
def async_setup_onvif_binary_sensors(
    entry: VigilConfigEntry, add: AddConfigEntryEntitiesCallback
) -> None:
    """Add the binary sensors of the ONVIF cameras' stateful topics."""
    _async_setup(entry, add, _build_binary_sensor)


@callback
def async_setup_onvif_sensors(entry: VigilConfigEntry, add: AddConfigEntryEntitiesCallback) -> None:
    """Add the count sensors of the ONVIF cameras' counting rules."""
    _async_setup(entry, add, _build_sensor)


@callback
def async_setup_onvif_events(entry: VigilConfigEntry, add: AddConfigEntryEntitiesCallback) -> None:
    """Add the line-crossing and per-topic event entities of the ONVIF cameras."""
    _async_setup(entry, add, _build_event)
