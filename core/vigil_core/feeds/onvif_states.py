"""Turn ONVIF readings into RuleEvents: phases from state changes, one health report per kind.

Cameras repeat a property's state (every ``Initialized`` burst, some firmwares every few seconds),
so only changes become STARTED/ENDED events. Camera-health readings are merged over the camera's
rules before they reach ``vigil_core.health``, which keeps one state per (source, report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from typing import Final

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.feeds.onvif_messages import OnvifMessage
from vigil_core.feeds.onvif_topics import (
    DATA_ITEMS,
    HEALTH_KINDS,
    SOURCE_ITEMS,
    OnvifKind,
    Reading,
    ReadingShape,
    allowed_items,
)
from vigil_core.health.reports import CameraReport, camera_report_event

SOURCE_ONVIF: Final = "onvif"
"""The ``source`` of every event a camera's own analytics raised over ONVIF."""


def rule_id(key: str) -> str:
    """Return the rule id of a camera rule, input or topic (``onvif:`` + its key)."""
    return f"{SOURCE_ONVIF}:{key}"


@dataclass(slots=True)
class PulseEnd:
    """A pulse reading that should end after ``hold_s`` unless it repeats."""

    kind: str
    key: str
    hold_s: float


@dataclass(slots=True)
class TopicStates:
    """What each camera rule currently reports; builds the events its changes mean."""

    camera_id: str
    _active: dict[tuple[str, str], OnvifMessage] = field(default_factory=dict)
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)
    _properties: dict[str, dict[str, str]] = field(default_factory=dict)

    def apply(self, message: OnvifMessage, reading: Reading) -> list[RuleEvent]:
        """Fold one reading in; return the events it causes (often none)."""
        if reading.shape is ReadingShape.INSTANT:
            if message.operation is not None and not self._property_changed(message):
                return []
            return [self._event(message, reading, EventPhase.INSTANT)]
        if reading.shape is ReadingShape.COUNT:
            slot = (reading.kind, reading.key)
            if self._counts.get(slot) == reading.count:
                return []
            self._counts[slot] = reading.count if reading.count is not None else 0
            return [self._event(message, reading, EventPhase.UPDATED)]
        active = reading.active and (message.operation or "").lower() != "deleted"
        return self._set(message, reading, active)

    def end(self, kind: str, key: str) -> list[RuleEvent]:
        """End a pulse (or any active state) that no message ended; return its events."""
        message = self._active.get((kind, key))
        if message is None:
            return []
        reading = Reading(kind=kind, key=key, label=key, shape=ReadingShape.PULSE, active=False)
        return self._set(message, reading, False)

    def _property_changed(self, message: OnvifMessage) -> bool:
        """Return whether a property topic's items differ from what it last said.

        Every new subscription (and SetSynchronizationPoint) replays each property as
        Initialized; only a new value is news for a topic Vigil has no parser for.
        """
        slot = f"{message.topic} {sorted(message.source.items())}"
        items = {**message.key, **message.data}
        if self._properties.get(slot) == items:
            return False
        self._properties[slot] = items
        return True

    def is_active(self, kind: str) -> bool:
        """Return whether any rule of this kind is on."""
        return any(slot_kind == kind for slot_kind, _ in self._active)

    def _set(self, message: OnvifMessage, reading: Reading, active: bool) -> list[RuleEvent]:
        """Record a rule's new state; return the events of a change."""
        slot = (reading.kind, reading.key)
        was_active = slot in self._active
        kind_was_active = self.is_active(reading.kind)
        if active:
            self._active[slot] = message
        else:
            self._active.pop(slot, None)
        if active == was_active:
            return []
        if reading.kind in HEALTH_KINDS:
            # vigil_core.health keeps one state per report: start and end it for the whole camera.
            if self.is_active(reading.kind) == kind_was_active:
                return []
            return [self._health_event(message, reading, active)]
        phase = EventPhase.STARTED if active else EventPhase.ENDED
        return [self._event(message, reading, phase)]

    def _event(self, message: OnvifMessage, reading: Reading, phase: EventPhase) -> RuleEvent:
        """Build the event of a reading."""
        return RuleEvent(
            kind=reading.kind,
            camera_id=self.camera_id,
            rule_id=rule_id(reading.key),
            track_id=reading.object_id,
            phase=phase,
            at_s=_at_s(message),
            frame_index=0,
            wall_time=time.time(),
            source=SOURCE_ONVIF,
            attrs=_attrs(message, reading, phase),
        )

    def _health_event(self, message: OnvifMessage, reading: Reading, active: bool) -> RuleEvent:
        """Build the camera-health report event of a tamper or image-quality reading."""
        return camera_report_event(
            camera_id=self.camera_id,
            report=CameraReport(reading.kind),
            active=active,
            source=SOURCE_ONVIF,
            at_s=_at_s(message),
            attrs={"topic": message.topic, "rule": reading.label},
        )


_KEY_ITEMS: Final = frozenset({"objectid"})


def _attrs(message: OnvifMessage, reading: Reading, phase: EventPhase) -> dict[str, AttrValue]:
    """Return an event's attributes: where it came from, what it says, and allowed items.

    Only allow-listed items pass (`DATA_ITEMS`, `SOURCE_ITEMS`), and no data item at all for a
    topic Vigil has no parser for: whatever else a camera sends never leaves the engine.
    """
    known = reading.kind != OnvifKind.GENERIC
    attrs: dict[str, AttrValue] = {
        "source": SOURCE_ONVIF,
        "topic": message.topic,
        "rule": reading.label,
        "instance": reading.key,
        "operation": message.operation,
        "utc_time": message.utc_time.isoformat() if message.utc_time else None,
        "source_items": allowed_items(message.source, SOURCE_ITEMS),
        "key_items": allowed_items(message.key, _KEY_ITEMS),
        "data": allowed_items(message.data, DATA_ITEMS) if known else {},
    }
    if reading.shape in (ReadingShape.STATE, ReadingShape.PULSE):
        attrs["active"] = phase is not EventPhase.ENDED
    if reading.count is not None:
        attrs["count"] = reading.count
    if reading.object_id is not None:
        attrs["object_id"] = reading.object_id
    if reading.object_class:
        attrs["object_class"] = reading.object_class
    return attrs


def _at_s(message: OnvifMessage) -> float:
    """Return the camera's time of the message in Unix seconds (ours when it gave none)."""
    return message.utc_time.timestamp() if message.utc_time else time.time()
