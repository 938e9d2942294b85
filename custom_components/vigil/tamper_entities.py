"""Entities of a camera's tamper and health conditions, on the camera's device.

One binary sensor per condition (a security signal, so not a diagnostic), one event entity that
fires when a condition starts or ends with the score that decided it, and a button that
re-captures the reference view after an intended move. Vigil's checks and the camera's own
reports drive the same entities; `source` says who reports a condition.
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
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from vigil_core.events.model import EventPhase
from vigil_core.health import TamperCondition

from .bridge import VigilBridge
from .engine_config import CameraInfo
from .entity import VigilEntity
from .tamper import CameraTamper, TamperUpdate, tamper_signal

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
_PHASES: Final = {EventPhase.STARTED: "started", EventPhase.ENDED: "ended"}


@dataclass(frozen=True, kw_only=True)
class VigilTamperBinarySensorDescription(BinarySensorEntityDescription):
    """Describe the binary sensor of one health condition."""

    condition: TamperCondition


def _binary(
    condition: TamperCondition, device_class: BinarySensorDeviceClass
) -> VigilTamperBinarySensorDescription:
    return VigilTamperBinarySensorDescription(
        key=condition.value,
        translation_key=condition.value,
        device_class=device_class,
        condition=condition,
    )


# A cover or a turned camera is someone's act (tamper); blur and a lost stream are as often a
# fault (condensation, focus drift, network) as an attack (problem).
TAMPER_BINARY_SENSORS: Final[dict[TamperCondition, VigilTamperBinarySensorDescription]] = {
    TamperCondition.OBSTRUCTION: _binary(
        TamperCondition.OBSTRUCTION, BinarySensorDeviceClass.TAMPER
    ),
    TamperCondition.DEFOCUS: _binary(TamperCondition.DEFOCUS, BinarySensorDeviceClass.PROBLEM),
    TamperCondition.ORIENTATION: _binary(
        TamperCondition.ORIENTATION, BinarySensorDeviceClass.TAMPER
    ),
    TamperCondition.STREAM_LOSS: _binary(
        TamperCondition.STREAM_LOSS, BinarySensorDeviceClass.PROBLEM
    ),
}


def event_type(condition: TamperCondition, phase: EventPhase) -> str:
    """Return the event type of a condition starting or ending (``obstruction_started``)."""
    return f"{condition.value}_{_PHASES[phase]}"


TAMPER_EVENT: Final = EventEntityDescription(
    key="tamper",
    translation_key="tamper",
    event_types=[
        event_type(condition, phase) for condition in TamperCondition for phase in _PHASES
    ],
)
RECAPTURE_BUTTON: Final = ButtonEntityDescription(
    key="recapture_reference",
    translation_key="recapture_reference",
    entity_category=EntityCategory.CONFIG,
)


def _cameras(entry: VigilConfigEntry) -> list[tuple[CameraInfo, CameraTamper]]:
    """Return the cameras with health checks, with their conditions."""
    tamper = entry.runtime_data.bridge.tamper
    return [
        (camera, tamper.cameras[camera.camera_id])
        for camera in entry.runtime_data.cameras.values()
        if tamper.cameras[camera.camera_id].conditions
    ]


@callback
def async_setup_tamper_binary_sensors(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add a binary sensor per camera and checked condition."""
    bridge = entry.runtime_data.bridge
    for camera, tamper in _cameras(entry):
        async_add_entities(
            (
                VigilTamperBinarySensor(bridge, camera, TAMPER_BINARY_SENSORS[condition])
                for condition in tamper.conditions
            ),
            config_subentry_id=camera.subentry_id,
        )


@callback
def async_setup_tamper_events(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add an event entity per camera with health checks."""
    bridge = entry.runtime_data.bridge
    for camera, _tamper in _cameras(entry):
        async_add_entities(
            [VigilTamperEvent(bridge, camera, TAMPER_EVENT)],
            config_subentry_id=camera.subentry_id,
        )


@callback
def async_setup_tamper_buttons(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the re-capture button of every camera with view checks."""
    bridge = entry.runtime_data.bridge
    for camera, tamper in _cameras(entry):
        if tamper.can_recapture:
            async_add_entities(
                [VigilRecaptureButton(bridge, camera, RECAPTURE_BUTTON)],
                config_subentry_id=camera.subentry_id,
            )


class VigilTamperEntity(VigilEntity):
    """An entity of a camera's health conditions, pushed by the bridge's tamper tracker."""

    def __init__(
        self, bridge: VigilBridge, camera: CameraInfo, description: EntityDescription
    ) -> None:
        """Attach the entity to its camera and its conditions."""
        super().__init__(bridge, camera, description)
        self.tamper = bridge.tamper.cameras[camera.camera_id]

    async def async_added_to_hass(self) -> None:
        """Follow the camera's health conditions too."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                tamper_signal(self.bridge.entry_id, self.camera.camera_id),
                self._async_tamper_update,
            )
        )

    @callback
    def _async_tamper_update(self, update: TamperUpdate) -> None:
        """Handle a health event of the camera."""


class VigilTamperBinarySensor(VigilTamperEntity, BinarySensorEntity):
    """On while Vigil or the camera reports the condition."""

    entity_description: VigilTamperBinarySensorDescription

    @property
    def available(self) -> bool:
        """Return whether the condition can be judged; a stream loss is reported while down."""
        if self.entity_description.condition is TamperCondition.STREAM_LOSS:
            return True
        return super().available

    @property
    def is_on(self) -> bool:
        """Return whether any source reports the condition."""
        return self.tamper.status[self.entity_description.condition].active

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return who reports the condition, its score, since when and Vigil's threshold."""
        condition = self.entity_description.condition
        status = self.tamper.status[condition]
        attributes: dict[str, Any] = {
            ATTR_SOURCE: list(status.sources),
            ATTR_SCORE: status.score,
            ATTR_SINCE: status.since.isoformat() if status.since else None,
            ATTR_THRESHOLD: self.tamper.threshold(condition),
        }
        if condition is TamperCondition.STREAM_LOSS:
            attributes[ATTR_REASON] = status.reason
        return attributes

    @callback
    def _async_tamper_update(self, update: TamperUpdate) -> None:
        if update.condition is self.entity_description.condition:
            self.async_write_ha_state()


class VigilTamperEvent(VigilTamperEntity, EventEntity):
    """Fire ``<condition>_started`` / ``<condition>_ended`` with the deciding score."""

    def __init__(
        self, bridge: VigilBridge, camera: CameraInfo, description: EventEntityDescription
    ) -> None:
        """Offer the event types of the conditions this camera checks."""
        super().__init__(bridge, camera, description)
        self._attr_event_types = [
            event_type(condition, phase)
            for condition in self.tamper.conditions
            for phase in _PHASES
        ]

    @property
    def available(self) -> bool:
        """Return True: a stream loss starts exactly when the stream is down."""
        return True

    @callback
    def _async_tamper_update(self, update: TamperUpdate) -> None:
        if update.transition is None:
            return
        event = update.event
        attributes: dict[str, Any] = {
            ATTR_CONDITION: update.condition.value,
            ATTR_SOURCE: event.source,
        }
        attributes |= {key: event.attrs[key] for key in EVENT_ATTRIBUTES if key in event.attrs}
        self._trigger_event(event_type(update.condition, update.transition), attributes)
        self.async_write_ha_state()


class VigilRecaptureButton(VigilEntity, ButtonEntity):
    """Take the camera's next frames as its reference view, after an intended move."""

    async def async_press(self) -> None:
        """Ask the engine to re-capture the reference view."""
        self.bridge.tamper.recapture_reference(self.camera.camera_id, self.camera.name)
