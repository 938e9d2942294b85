"""Entities of the rules: typed states from the server, happenings from its events.

Each rule family publishes one typed state (`LineState`, `CrowdState`…) that the server sends
again whenever it changes; the store keeps the latest and tells the rule's entities. Line
totals are persisted by the server, so they exist before the first frame and survive restarts
of either side. Events (a crossing, a fast move) come through the store's event subscription.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
import logging
from typing import Any, Final

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfSpeed
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

import vigil_protocol as vp

from .const import DOMAIN
from .data import VigilConfigEntry
from .entity import VigilEntity
from .entity_actions import async_register_entity_action, explicitly_targeted
from .server_config import (
    CONF_DETECT,
    CONF_DIRECTION,
    CONF_MOVEMENT,
    CONF_SPEED_UNIT,
    KIND_CROWD,
    KIND_FAST_MOVE,
    KIND_LINE,
    KIND_LOITERING,
    KIND_OBJECT_LEFT,
    KIND_ROUTE,
    KIND_WRONG_WAY,
    SPEED_KMH,
    CameraInfo,
    RuleInfo,
)
from .store import VigilStore

_LOGGER = logging.getLogger(__name__)

SERVICE_RESET_COUNTER: Final = "reset_counter"
ATTR_ESTIMATE: Final = "estimate"
ATTR_OBJECT_CLASS: Final = "object_class"

# Event details passed on to Home Assistant as they are: the server already cut every event
# to its allow-list (classes, counts, speeds, dwell and times; never anything about a person).
_EVENT_ATTRS: Final = (
    "direction",
    "count",
    "counts",
    "dwell_s",
    "threshold_s",
    "reason",
    "speed_kmh",
    "speed_px_s",
    "max_speed",
    "unit",
    "people",
    "mean_speed_kmh",
    "level",
    "density_m2",
    "duration_s",
    "step_gaps_s",
    "static_s",
)

type Reader[T] = Callable[[vp.StateValue | None], T | None]
type Exists = Callable[[RuleInfo], bool]


def read[S: vp.StateValue, T](state_type: type[S], fn: Callable[[S], T]) -> Reader[T]:
    """Return a reader applying `fn` to a state of `state_type` (None for anything else)."""

    def reader(state: vp.StateValue | None) -> T | None:
        return fn(state) if isinstance(state, state_type) else None

    return reader


def held_back_rules(store: VigilStore) -> set[str]:
    """Return the rules (and zones) the deployment context holds back on the server."""
    applied = store.applied
    if applied is None:
        return set()
    return {held.rule_id for held in applied.held_back if held.rule_id}


def _always(_info: RuleInfo) -> bool:
    return True


# --- line crossings ------------------------------------------------------------------------------


def _line_direction(direction: str) -> Exists:
    def exists(info: RuleInfo) -> bool:
        return info.data.get(CONF_DIRECTION, "both") in (direction, "both")

    return exists


def _crossing(crossing: vp.LineCrossing | None) -> dict[str, Any] | None:
    if crossing is None:
        return None
    return {
        "direction": crossing.direction,
        ATTR_OBJECT_CLASS: crossing.label,
        "time": dt_util.utc_from_timestamp(crossing.wall_time).isoformat(),
    }


def _line_attrs(direction: str) -> Reader[dict[str, Any]]:
    """Return a direction's counts per class and its own last crossing."""

    def attrs(line: vp.LineState) -> dict[str, Any]:
        last = line.last_a_to_b if direction == "a_to_b" else line.last_b_to_a
        return {
            "counts": {
                label: counts.a_to_b if direction == "a_to_b" else counts.b_to_a
                for label, counts in line.by_class.items()
            },
            "last": _crossing(last),
        }

    return read(vp.LineState, attrs)


# --- crowds and speeds ---------------------------------------------------------------------------


def _has_density(info: RuleInfo) -> bool:
    return info.calibrated


def _has_movement(info: RuleInfo) -> bool:
    return bool(info.data.get(CONF_MOVEMENT))


def speed_unit(info: RuleInfo) -> str:
    """Return the unit a fast-move rule measures in: km/h with a threshold in km/h."""
    if info.data.get(CONF_SPEED_UNIT) == SPEED_KMH:
        return UnitOfSpeed.KILOMETERS_PER_HOUR
    return "px/s"


def _speed_attrs(fast: vp.FastMoveState) -> dict[str, Any]:
    return {ATTR_ESTIMATE: True, ATTR_OBJECT_CLASS: fast.last_label, "moving_fast": fast.count}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --- descriptions --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class VigilRuleSensorDescription(SensorEntityDescription):
    """Describe a sensor read from a rule's state."""

    kind: str
    value_fn: Reader[StateType]
    attrs_fn: Reader[dict[str, Any]] = lambda _state: None
    exists_fn: Exists = _always
    unit_fn: Callable[[RuleInfo], str | None] | None = None


@dataclass(frozen=True, kw_only=True)
class VigilRuleBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a binary sensor read from a rule's state."""

    kind: str
    value_fn: Reader[bool]
    attrs_fn: Reader[dict[str, Any]] = lambda _state: None
    exists_fn: Exists = _always


@dataclass(frozen=True, kw_only=True)
class VigilRuleEventDescription(EventEntityDescription):
    """Describe an event entity fed by a rule's events."""

    kind: str
    types_fn: Callable[[RuleInfo], list[str]]
    map_fn: Callable[[vp.RuleEvent], str | None]
    exists_fn: Exists = _always


RULE_SENSORS: tuple[VigilRuleSensorDescription, ...] = (
    VigilRuleSensorDescription(
        key="a_to_b",
        translation_key="line_a_to_b",
        kind=KIND_LINE,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=read(vp.LineState, lambda line: line.a_to_b),
        attrs_fn=_line_attrs("a_to_b"),
        exists_fn=_line_direction("a_to_b"),
    ),
    VigilRuleSensorDescription(
        key="b_to_a",
        translation_key="line_b_to_a",
        kind=KIND_LINE,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=read(vp.LineState, lambda line: line.b_to_a),
        attrs_fn=_line_attrs("b_to_a"),
        exists_fn=_line_direction("b_to_a"),
    ),
    VigilRuleSensorDescription(
        key="crowd_count",
        translation_key="crowd_count",
        kind=KIND_CROWD,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=read(vp.CrowdState, lambda crowd: crowd.count),
    ),
    VigilRuleSensorDescription(
        key="crowd_density",
        translation_key="crowd_density",
        kind=KIND_CROWD,
        native_unit_of_measurement="people/m²",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=read(vp.CrowdState, lambda crowd: _round(crowd.density_m2, 3)),
        attrs_fn=read(vp.CrowdState, lambda crowd: {"area_m2": crowd.area_m2, ATTR_ESTIMATE: True}),
        exists_fn=_has_density,
    ),
    VigilRuleSensorDescription(
        key="crowd_level",
        translation_key="crowd_level",
        kind=KIND_CROWD,
        device_class=SensorDeviceClass.ENUM,
        options=["normal", "high", "critical"],
        value_fn=read(vp.CrowdState, lambda crowd: crowd.level),
    ),
    VigilRuleSensorDescription(
        key="speed",
        translation_key="last_speed",
        kind=KIND_FAST_MOVE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=read(vp.FastMoveState, lambda fast: _round(fast.last_speed, 2)),
        attrs_fn=read(vp.FastMoveState, _speed_attrs),
        unit_fn=speed_unit,
    ),
)

RULE_BINARY_SENSORS: tuple[VigilRuleBinarySensorDescription, ...] = (
    VigilRuleBinarySensorDescription(
        key="loitering",
        translation_key="loitering",
        kind=KIND_LOITERING,
        value_fn=read(vp.LoiteringState, lambda state: state.loitering),
        attrs_fn=read(
            vp.LoiteringState,
            lambda state: {"count": state.count, "max_dwell_s": round(state.max_dwell_s, 1)},
        ),
    ),
    VigilRuleBinarySensorDescription(
        key="over_threshold",
        translation_key="crowd_over_threshold",
        kind=KIND_CROWD,
        value_fn=read(vp.CrowdState, lambda crowd: crowd.over_threshold),
        attrs_fn=read(vp.CrowdState, lambda crowd: {"level": crowd.level}),
    ),
    VigilRuleBinarySensorDescription(
        key="object_present",
        translation_key="object_present",
        kind=KIND_OBJECT_LEFT,
        value_fn=read(vp.ObjectLeftState, lambda state: state.active),
        attrs_fn=read(
            vp.ObjectLeftState, lambda state: {"left": state.left, "removed": state.removed}
        ),
    ),
)


def _on_kind(kind: str, name: str, phase: vp.EventPhase) -> Callable[[vp.RuleEvent], str | None]:
    return lambda event: name if event.kind == kind and event.phase is phase else None


def _loitering_type(event: vp.RuleEvent) -> str | None:
    if event.kind != KIND_LOITERING:
        return None
    return {vp.EventPhase.STARTED: "started", vp.EventPhase.ENDED: "ended"}.get(event.phase)


def _movement_type(event: vp.RuleEvent) -> str | None:
    movement = event.attrs.get("movement")
    return str(movement) if event.kind == "crowd_movement" and movement else None


def _object_type(event: vp.RuleEvent) -> str | None:
    if event.phase is not vp.EventPhase.STARTED:
        return None
    return {"object_left": "left", "object_removed": "removed"}.get(event.kind)


def _object_types(info: RuleInfo) -> list[str]:
    return [str(kind) for kind in info.data.get(CONF_DETECT) or ["left"]]


RULE_EVENTS: tuple[VigilRuleEventDescription, ...] = (
    VigilRuleEventDescription(
        key="crossed",
        translation_key="line_crossed",
        kind=KIND_LINE,
        types_fn=lambda _info: ["crossed"],
        map_fn=_on_kind(KIND_LINE, "crossed", vp.EventPhase.INSTANT),
    ),
    VigilRuleEventDescription(
        key="loitering_event",
        translation_key="loitering_event",
        kind=KIND_LOITERING,
        types_fn=lambda _info: ["started", "ended"],
        map_fn=_loitering_type,
    ),
    VigilRuleEventDescription(
        key="movement",
        translation_key="crowd_movement",
        kind=KIND_CROWD,
        types_fn=lambda _info: ["speed_up", "dispersal"],
        map_fn=_movement_type,
        exists_fn=_has_movement,
    ),
    VigilRuleEventDescription(
        key="fast_move",
        translation_key="fast_move",
        kind=KIND_FAST_MOVE,
        types_fn=lambda _info: ["fast_move"],
        map_fn=_on_kind(KIND_FAST_MOVE, "fast_move", vp.EventPhase.STARTED),
    ),
    VigilRuleEventDescription(
        key="wrong_way",
        translation_key="wrong_way",
        kind=KIND_WRONG_WAY,
        types_fn=lambda _info: ["wrong_way"],
        map_fn=_on_kind(KIND_WRONG_WAY, "wrong_way", vp.EventPhase.STARTED),
    ),
    VigilRuleEventDescription(
        key="object_event",
        translation_key="object_event",
        kind=KIND_OBJECT_LEFT,
        types_fn=_object_types,
        map_fn=_object_type,
    ),
    VigilRuleEventDescription(
        key="completed",
        translation_key="route_completed",
        kind=KIND_ROUTE,
        types_fn=lambda _info: ["completed"],
        map_fn=_on_kind(KIND_ROUTE, "completed", vp.EventPhase.INSTANT),
    ),
)


# --- entities ------------------------------------------------------------------------------------


class VigilRuleEntity(VigilEntity):
    """An entity of one rule, on its camera's device; the rule's name goes into its name."""

    owns_camera_device = False  # added under its own subentry (entity.py)

    def __init__(
        self, store: VigilStore, rule: RuleInfo, camera: CameraInfo, description: Any
    ) -> None:
        """Attach the entity to its rule (unique id `{entry}_{camera}_{rule}_{key}`)."""
        super().__init__(store, camera, description, rule.rule_id, {"rule": rule.name})
        self.rule = rule

    @property
    def rule_state(self) -> vp.StateValue | None:
        """Return the rule's latest state (None before the server sent one)."""
        state_type = vp.RULE_STATES.get(self.rule.kind)
        if state_type is None:
            return None
        return self.store.state(self.camera.camera_id, self.rule.rule_id, state_type.KIND)


class VigilRuleSensor(VigilRuleEntity, SensorEntity):
    """A count, a density, a level or a speed of a rule."""

    entity_description: VigilRuleSensorDescription

    def __init__(
        self,
        store: VigilStore,
        rule: RuleInfo,
        camera: CameraInfo,
        description: VigilRuleSensorDescription,
    ) -> None:
        """Set the unit the rule works in."""
        super().__init__(store, rule, camera, description)
        if description.unit_fn is not None:
            self._attr_native_unit_of_measurement = description.unit_fn(rule)

    @property
    def native_value(self) -> StateType:
        """Return the figure through the description."""
        return self.entity_description.value_fn(self.rule_state)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the figure's details."""
        return self.entity_description.attrs_fn(self.rule_state)

    async def async_reset_counter(self) -> None:
        """Set the line's totals (both directions, every class) back to zero on the server."""
        try:
            await self.store.async_request(
                vp.ResetCounter(camera_id=self.camera.camera_id, rule_id=self.rule.rule_id),
                vp.Done,
            )
        except HomeAssistantError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="reset_failed",
                translation_placeholders={"rule": self.rule.name, "error": str(err)},
            ) from err


class VigilRuleBinarySensor(VigilRuleEntity, BinarySensorEntity):
    """A rule's ongoing condition: loitering, a crowd over its threshold, an object left."""

    entity_description: VigilRuleBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """Return the condition through the description."""
        return self.entity_description.value_fn(self.rule_state)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the condition's details."""
        return self.entity_description.attrs_fn(self.rule_state)


class VigilRuleEvent(VigilRuleEntity, EventEntity):
    """Fire a rule's happenings with the object's class and the rule's figures."""

    entity_description: VigilRuleEventDescription

    def __init__(
        self,
        store: VigilStore,
        rule: RuleInfo,
        camera: CameraInfo,
        description: VigilRuleEventDescription,
    ) -> None:
        """Set the event types this rule can fire."""
        super().__init__(store, rule, camera, description)
        self._attr_event_types = description.types_fn(rule)

    async def async_added_to_hass(self) -> None:
        """Follow the rule's events too."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.store.async_subscribe_events(
                self.camera.camera_id, self.rule.rule_id, self._async_rule_event
            )
        )

    @callback
    def _async_rule_event(self, event: vp.RuleEvent) -> None:
        event_type = self.entity_description.map_fn(event)
        if event_type is None or event_type not in self.event_types:
            return
        attrs: dict[str, Any] = {ATTR_OBJECT_CLASS: event.attrs.get("label")}
        if event.track_id is not None:
            attrs["track_id"] = event.track_id
        attrs |= {key: event.attrs[key] for key in _EVENT_ATTRS if key in event.attrs}
        if "speed_is_estimate" in event.attrs:
            attrs[ATTR_ESTIMATE] = True
        self._trigger_event(event_type, attrs)
        self.async_write_ha_state()


# --- platform setup ------------------------------------------------------------------------------


def _add(
    entry: VigilConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: Iterable[Any],
    entity_class: Callable[..., Entity],
) -> None:
    """Add each running rule's entities (a rule the context holds back gets none)."""
    runtime = entry.runtime_data
    held = held_back_rules(runtime.store)
    for rule in runtime.rules.values():
        camera = runtime.cameras.get(rule.camera_id)
        if camera is None or rule.rule_id in held:
            continue
        entities = [
            entity_class(runtime.store, rule, camera, description)
            for description in descriptions
            if description.kind == rule.kind and description.exists_fn(rule)
        ]
        if entities:
            async_add_entities(entities, config_subentry_id=rule.subentry_id)


@callback
def async_setup_rule_sensors(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the counts, densities, levels and speeds of every rule."""
    _add(entry, async_add_entities, RULE_SENSORS, VigilRuleSensor)


@callback
def async_setup_rule_binary_sensors(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the loitering, crowd and object-left conditions of every rule."""
    _add(entry, async_add_entities, RULE_BINARY_SENSORS, VigilRuleBinarySensor)


@callback
def async_setup_rule_events(
    entry: VigilConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the event entities of every rule."""
    _add(entry, async_add_entities, RULE_EVENTS, VigilRuleEvent)


# --- the reset_counter action --------------------------------------------------------------------


async def _async_reset_counter(entity: Entity, call: ServiceCall) -> None:
    """Reset the line a targeted counter sensor belongs to.

    Targets resolve to every Vigil sensor of the named devices, areas or labels: those that
    are not line counters are skipped, unless the call names them itself. Not restricted to
    administrators: the totals are anonymous statistics (no track, no picture), like a
    utility meter's, and resetting one reveals nothing about anyone.
    """
    if isinstance(entity, VigilRuleSensor) and entity.rule.kind == KIND_LINE:
        await entity.async_reset_counter()
        return
    if explicitly_targeted(entity, call):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_counter",
            translation_placeholders={"entity_id": entity.entity_id},
        )


@callback
def async_setup_rule_services(hass: HomeAssistant) -> None:
    """Register the reset_counter action (once, in async_setup)."""
    async_register_entity_action(hass, SERVICE_RESET_COUNTER, "sensor", _async_reset_counter)
