"""Entities of a camera's tamper and health conditions, on the camera's device.

One binary sensor per condition the camera checks (a security signal, so not a diagnostic),
one event entity that fires when a condition starts or ends with the score that decided it,
and a button that re-captures the reference view after an intended move. Vigil's checks and
the camera's own reports drive the same entities; `source` says who reports a condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

import vigil_protocol as vp

from .entity import VigilEntity
from .server_config import CameraInfo
from .store import VigilStore
from .tamper import PHASES, RULE_ID, async_recapture, event_type, tamper_state

if TYPE_CHECKING:
    from .data import VigilConfigEntry

ATTR_SOURCE: Final = "source"
ATTR_SCORE: Final = "score"
ATTR_SINCE: Final = "since"
ATTR_THRESHOLD: Final = "threshold"
ATTR_REASON: Final = "reason"
ATTR_CONDITION: Final = "condition"
# What the event entity passes on from a health event, when the event carries it.
EVENT_ATTRIBUTES: Final = ("score", "peak_score", "threshold", "duration_s", "reason", "report")


@dataclass(frozen=True, kw_only=True)
class VigilTamperBinarySensorDescription(BinarySensorEntityDescription):
    """Describe the binary sensor of one health condition."""

    condition: vp.TamperCondition


def _binary(
    condition: vp.TamperCondition, device_class: BinarySensorDeviceClass
) -> VigilTamperBinarySensorDescription:
    return VigilTamperBinarySensorDescription(
        key=condition.value,
        translation_key=condition.value,
        device_class=device_class,
        condition=condition,
    )


# A cover or a turned camera is someone's act (tamper); blur and a lost stream are as often a
# fault (condensation, focus drift, network) as an attack (problem).
TAMPER_BINARY_SENSORS: Final[dict[vp.TamperCondition, VigilTamperBinarySensorDescription]] = {
    vp.TamperCondition.OBSTRUCTION: _binary(
        vp.TamperCondition.OBSTRUCTION, BinarySensorDeviceClass.TAMPER
    ),
    vp.TamperCondition.DEFOCUS: _binary(
        vp.TamperCondition.DEFOCUS, BinarySensorDeviceClass.PROBLEM
    ),
    vp.TamperCondition.ORIENTATION: _binary(
        vp.TamperCondition.ORIENTATION, BinarySensorDeviceClass.TAMPER
    ),
    vp.TamperCondition.STREAM_LOSS: _binary(
        vp.TamperCondition.STREAM_LOSS, BinarySensorDeviceClass.PROBLEM
    ),
}
TAMPER_EVENT: Final = EventEntityDescription(
    key="tamper",
    translation_key="tamper",
    event_types=[
        event_type(condition, phase) for condition in vp.TamperCondition for phase in PHASES
    ],
)
RECAPTURE_BUTTON: Final = ButtonEntityDescription(
    key="recapture_reference",
    translation_key="recapture_reference",
    entity_category=EntityCategory.CONFIG,
)


def _cameras(entry: VigilConfigEntry) -> list[tuple[CameraInfo, vp.TamperState]]:
    """Return the cameras that run health checks, with their conditions."""
    runtime = entry.runtime_data
    found = []
    for camera in runtime.cameras.values():
        state = tamper_state(runtime.store, camera.camera_id)
        if state is not None and state.conditions:
            found.append((camera, state))
    return found


@callback
def async_setup_tamper_binary_sensors(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add a binary sensor per camera and checked condition."""
    store = entry.runtime_data.store
    for camera, state in _cameras(entry):
        async_add_entities(
            (
                VigilTamperBinarySensor(store, camera, TAMPER_BINARY_SENSORS[c.condition])
                for c in state.conditions
            ),
            config_subentry_id=camera.subentry_id,
        )


@callback
def async_setup_tamper_events(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add an event entity per camera with health checks."""
    store = entry.runtime_data.store
    for camera, state in _cameras(entry):
        async_add_entities(
            [VigilTamperEvent(store, camera, state)], config_subentry_id=camera.subentry_id
        )


@callback
def async_setup_tamper_buttons(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the re-capture button of every camera with view checks."""
    store = entry.runtime_data.store
    for camera, state in _cameras(entry):
        if state.can_recapture:
            async_add_entities(
                [VigilRecaptureButton(store, camera, RECAPTURE_BUTTON)],
                config_subentry_id=camera.subentry_id,
            )


class VigilTamperBinarySensor(VigilEntity, BinarySensorEntity):
    """On while Vigil or the camera reports the condition."""

    entity_description: VigilTamperBinarySensorDescription

    @property
    def _condition(self) -> vp.ConditionState | None:
        state = tamper_state(self.store, self.camera.camera_id)
        return None if state is None else state.condition(self.entity_description.condition)

    @property
    def available(self) -> bool:
        """Return whether the condition can be judged; a stream loss is judged while down."""
        if self.entity_description.condition is vp.TamperCondition.STREAM_LOSS:
            return self.store.connected and self._condition is not None
        return super().available

    @property
    def is_on(self) -> bool | None:
        """Return whether any source reports the condition."""
        condition = self._condition
        return None if condition is None else condition.active

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return who reports the condition, its score, since when and Vigil's threshold."""
        condition = self._condition or vp.ConditionState(
            condition=self.entity_description.condition
        )
        attributes: dict[str, Any] = {
            ATTR_SOURCE: list(condition.sources),
            ATTR_SCORE: condition.score,
            ATTR_SINCE: (
                dt_util.utc_from_timestamp(condition.since).isoformat()
                if condition.since is not None
                else None
            ),
            ATTR_THRESHOLD: condition.threshold,
        }
        if self.entity_description.condition is vp.TamperCondition.STREAM_LOSS:
            attributes[ATTR_REASON] = condition.reason
        return attributes


class VigilTamperEvent(VigilEntity, EventEntity):
    """Fire ``<condition>_started`` / ``<condition>_ended`` with the deciding score."""

    def __init__(self, store: VigilStore, camera: CameraInfo, state: vp.TamperState) -> None:
        """Offer the event types of the conditions this camera checks."""
        super().__init__(store, camera, TAMPER_EVENT)
        self._attr_event_types = [
            event_type(c.condition, phase) for c in state.conditions for phase in PHASES
        ]

    @property
    def available(self) -> bool:
        """Return whether the server is reachable: a stream loss starts when the stream is down."""
        return self.store.connected

    async def async_added_to_hass(self) -> None:
        """Follow the camera's health events (sent only when a condition turns on or off)."""
        await super().async_added_to_hass()
        self.async_follow_events(RULE_ID, self._async_event)

    @callback
    def _async_event(self, event: vp.RuleEvent) -> None:
        try:
            condition = vp.TamperCondition(str(event.attrs.get(ATTR_CONDITION, event.kind)))
        except ValueError:
            return
        if event.phase not in PHASES:
            return
        name = event_type(condition, event.phase)
        if name not in self.event_types:
            return
        attributes: dict[str, Any] = {ATTR_CONDITION: condition.value, ATTR_SOURCE: event.source}
        attributes |= {key: event.attrs[key] for key in EVENT_ATTRIBUTES if key in event.attrs}
        self._trigger_event(name, attributes)
        self.async_write_ha_state()


class VigilRecaptureButton(VigilEntity, ButtonEntity):
    """Take the camera's next frames as its reference view, after an intended move."""

    async def async_press(self) -> None:
        """Ask the server to re-capture the reference view."""
        await async_recapture(self.store, self.camera)
