"""Entities of the rules: states from each rule's `state()`, happenings from its events.

A rule's `state()` is read on Home Assistant's loop after each of its events and every few
seconds (a crowd's count changes without events). The analysis thread may be changing the
rule's dicts at that moment, so a read that trips over it is retried and, failing that, the
previous state is kept: figures are at most one refresh old, never wrong. Line totals come
from the engine's lock-protected counter store, so they are exact and exist before the first
frame (restored from `state_dir`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import logging
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import UnitOfSpeed
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.service import async_extract_entity_ids
from homeassistant.helpers.typing import StateType

from vigil_core.config import (
    CrowdSpec,
    EngineConfig,
    FastMoveSpec,
    LineCrossingSpec,
    ObjectLeftSpec,
    RuleSpec,
)
from vigil_core.engine import Engine
from vigil_core.errors import VigilError
from vigil_core.events.model import EventPhase, RuleEvent, VigilEvent

from .bridge import VigilBridge
from .const import DOMAIN, REFRESH_INTERVAL
from .data import VigilConfigEntry
from .engine_config import CameraInfo
from .entity import VigilEntity
from .rule_config import (
    KIND_CROWD,
    KIND_FAST_MOVE,
    KIND_LINE,
    KIND_LOITERING,
    KIND_OBJECT_LEFT,
    KIND_ROUTE,
    KIND_WRONG_WAY,
    SUBENTRY_RULE,
    subentry_slug,
)

_LOGGER = logging.getLogger(__name__)

SERVICE_RESET_COUNTER = "reset_counter"
ATTR_ESTIMATE = "estimate"
_STATE_READ_TRIES = 3

# Event attributes passed on to Home Assistant as they are (all in EVENT_ATTRIBUTES: classes,
# counts, speeds, dwell and times; never anything about a person).
_EVENT_ATTRS = (
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


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleInfo:
    """A rule the engine runs, with the subentry it came from."""

    subentry_id: str
    rule_id: str
    camera_id: str
    name: str
    kind: str
    spec: RuleSpec
    calibrated: bool


@dataclass(slots=True)
class RuleData:
    """What entities read about one rule: its latest state and its latest event."""

    info: RuleInfo
    state: dict[str, Any] = field(default_factory=dict)
    last_event: RuleEvent | None = None


def rule_signal(entry_id: str, rule_id: str) -> str:
    """Return the dispatcher signal of a rule's state changes and events."""
    return f"{DOMAIN}_{entry_id}_rule_{rule_id}"


def running_rules(entry: VigilConfigEntry, config: EngineConfig) -> dict[str, RuleInfo]:
    """Return the rules the engine runs (after the context's gate), by rule id."""
    subentries = {
        subentry_slug(sub.subentry_id): sub
        for sub in entry.subentries.values()
        if sub.subentry_type == SUBENTRY_RULE
    }
    found: dict[str, RuleInfo] = {}
    for camera in config.cameras:
        for spec in camera.rules:
            sub = subentries.get(spec.id)
            if sub is None:
                continue
            found[spec.id] = RuleInfo(
                subentry_id=sub.subentry_id,
                rule_id=spec.id,
                camera_id=camera.id,
                name=sub.title,
                kind=spec.type,
                spec=spec,
                calibrated=camera.calibration is not None,
            )
    return found


def read_state(engine: Engine, camera_id: str, rule_id: str) -> dict[str, Any] | None:
    """Return a rule's current state, or None when its camera or the rule is not running."""
    try:
        rules = engine.pipeline(camera_id).rules
    except KeyError:
        return None
    for rule in rules:
        if rule.rule_id != rule_id:
            continue
        for _ in range(_STATE_READ_TRIES):
            try:
                return dict(rule.state())
            except RuntimeError:
                # The analysis thread resized a dict the state was iterating; read again.
                continue
    return None


class RuleRuntime:
    """Follow the engine's rule events and states; dispatch per rule."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, engine: Engine, rules: Mapping[str, RuleInfo]
    ) -> None:
        """Start with each rule's line totals (restored) and no state yet."""
        self.hass = hass
        self.entry_id = entry_id
        self.engine = engine
        self.rules = {rule_id: RuleData(info) for rule_id, info in rules.items()}
        self._unsubscribe: list[Callable[[], None]] = []
        for data in self.rules.values():
            self._read(data)

    def by_subentry(self, subentry_id: str | None) -> RuleData | None:
        """Return the rule of a subentry."""
        return next((d for d in self.rules.values() if d.info.subentry_id == subentry_id), None)

    @callback
    def async_start(self) -> None:
        """Listen to the engine and refresh the states periodically."""
        self._unsubscribe.append(self.engine.bus.subscribe(self._async_on_event))
        self._unsubscribe.append(
            async_track_time_interval(
                self.hass,
                self._async_refresh,
                REFRESH_INTERVAL,
                name=f"{DOMAIN} rule refresh",
                cancel_on_shutdown=True,
            )
        )

    @callback
    def async_stop(self) -> None:
        """Stop listening."""
        while self._unsubscribe:
            self._unsubscribe.pop()()

    async def async_reset_counter(self, data: RuleData) -> None:
        """Set a line's totals back to zero (the store writes its file: in the executor)."""
        try:
            await self.hass.async_add_executor_job(
                self.engine.reset_counter, data.info.camera_id, data.info.rule_id
            )
        except VigilError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="reset_failed",
                translation_placeholders={"rule": data.info.name, "error": str(err)},
            ) from err
        self._read(data)
        async_dispatcher_send(self.hass, rule_signal(self.entry_id, data.info.rule_id), None)

    def _read(self, data: RuleData) -> bool:
        """Refresh a rule's state; return whether it changed."""
        state = read_state(self.engine, data.info.camera_id, data.info.rule_id)
        if state is None and isinstance(data.info.spec, LineCrossingSpec):
            state = _line_state(self.engine, data.info)
        if state is None or state == data.state:
            return False
        data.state = state
        return True

    @callback
    def _async_on_event(self, event: VigilEvent) -> None:
        if not isinstance(event, RuleEvent) or (data := self.rules.get(event.rule_id)) is None:
            return
        data.last_event = event
        self._read(data)
        async_dispatcher_send(self.hass, rule_signal(self.entry_id, event.rule_id), event)

    @callback
    def _async_refresh(self, _now: datetime | None = None) -> None:
        for rule_id, data in self.rules.items():
            if self._read(data):
                async_dispatcher_send(self.hass, rule_signal(self.entry_id, rule_id), None)


def _line_state(engine: Engine, info: RuleInfo) -> dict[str, Any]:
    """Return a line's persisted totals when its pipeline is not running (yet)."""
    totals = engine.counters.totals(info.camera_id, info.rule_id)
    return {
        "a_to_b": sum(d.get("a_to_b", 0) for d in totals.values()),
        "b_to_a": sum(d.get("b_to_a", 0) for d in totals.values()),
        "counts": totals,
        "last": None,
    }


@callback
def async_start_rules(hass: HomeAssistant, entry: VigilConfigEntry, engine: Engine) -> RuleRuntime:
    """Create and start the rule runtime of a loaded entry; stop it on unload."""
    runtime = RuleRuntime(hass, entry.entry_id, engine, running_rules(entry, engine.config))
    runtime.async_start()
    entry.async_on_unload(runtime.async_stop)
    return runtime


# --- descriptions --------------------------------------------------------------------------------


type Exists = Callable[[RuleInfo], bool]


def _always(_info: RuleInfo) -> bool:
    return True


def _line_direction(direction: str) -> Exists:
    def exists(info: RuleInfo) -> bool:
        spec = info.spec
        return isinstance(spec, LineCrossingSpec) and spec.direction in (direction, "both")

    return exists


def _by_class(direction: str) -> Callable[[RuleData], dict[str, Any]]:
    def attrs(data: RuleData) -> dict[str, Any]:
        counts = data.state.get("counts") or {}
        return {
            "counts": {label: d.get(direction, 0) for label, d in counts.items()},
            "last": data.state.get("last"),
        }

    return attrs


def _speed_unit(info: RuleInfo) -> str:
    spec = info.spec
    if isinstance(spec, FastMoveSpec) and spec.speed_kmh is not None:
        return UnitOfSpeed.KILOMETERS_PER_HOUR
    return "px/s"


def _last_speed(data: RuleData) -> float | None:
    event = data.last_event
    if event is None or event.kind != KIND_FAST_MOVE:
        return None
    key = "speed_kmh" if _speed_unit(data.info) == UnitOfSpeed.KILOMETERS_PER_HOUR else "speed_px_s"
    value = event.attrs.get(key)
    return float(value) if isinstance(value, int | float) else None


def _speed_attrs(data: RuleData) -> dict[str, Any]:
    event = data.last_event
    return {
        ATTR_ESTIMATE: True,
        "object_class": event.attrs.get("label") if event is not None else None,
        "moving_fast": data.state.get("count", 0),
    }


def _has_density(info: RuleInfo) -> bool:
    return info.calibrated and isinstance(info.spec, CrowdSpec)


def _has_movement(info: RuleInfo) -> bool:
    return isinstance(info.spec, CrowdSpec) and info.spec.movement is not None


@dataclass(frozen=True, kw_only=True)
class VigilRuleSensorDescription(SensorEntityDescription):
    """Describe a sensor read from a rule's state."""

    kind: str
    value_fn: Callable[[RuleData], StateType]
    attrs_fn: Callable[[RuleData], dict[str, Any]] = lambda _data: {}
    exists_fn: Exists = _always
    unit_fn: Callable[[RuleInfo], str | None] | None = None


@dataclass(frozen=True, kw_only=True)
class VigilRuleBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a binary sensor read from a rule's state."""

    kind: str
    value_fn: Callable[[RuleData], bool]
    attrs_fn: Callable[[RuleData], dict[str, Any]] = lambda _data: {}


@dataclass(frozen=True, kw_only=True)
class VigilRuleEventDescription(EventEntityDescription):
    """Describe an event entity fed by a rule's events."""

    kind: str
    types_fn: Callable[[RuleInfo], list[str]]
    map_fn: Callable[[RuleEvent], str | None]
    exists_fn: Exists = _always


RULE_SENSORS: tuple[VigilRuleSensorDescription, ...] = (
    VigilRuleSensorDescription(
        key="a_to_b",
        translation_key="line_a_to_b",
        kind=KIND_LINE,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda data: int(data.state.get("a_to_b", 0)),
        attrs_fn=_by_class("a_to_b"),
        exists_fn=_line_direction("a_to_b"),
    ),
    VigilRuleSensorDescription(
        key="b_to_a",
        translation_key="line_b_to_a",
        kind=KIND_LINE,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda data: int(data.state.get("b_to_a", 0)),
        attrs_fn=_by_class("b_to_a"),
        exists_fn=_line_direction("b_to_a"),
    ),
    VigilRuleSensorDescription(
        key="crowd_count",
        translation_key="crowd_count",
        kind=KIND_CROWD,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda data: data.state.get("count"),
    ),
    VigilRuleSensorDescription(
        key="crowd_density",
        translation_key="crowd_density",
        kind=KIND_CROWD,
        native_unit_of_measurement="people/m²",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=lambda data: data.state.get("density_m2"),
        attrs_fn=lambda data: {"area_m2": data.state.get("area_m2"), ATTR_ESTIMATE: True},
        exists_fn=_has_density,
    ),
    VigilRuleSensorDescription(
        key="crowd_level",
        translation_key="crowd_level",
        kind=KIND_CROWD,
        device_class=SensorDeviceClass.ENUM,
        options=["normal", "high", "critical"],
        value_fn=lambda data: data.state.get("level"),
    ),
    VigilRuleSensorDescription(
        key="speed",
        translation_key="last_speed",
        kind=KIND_FAST_MOVE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=_last_speed,
        attrs_fn=_speed_attrs,
        unit_fn=_speed_unit,
    ),
)

RULE_BINARY_SENSORS: tuple[VigilRuleBinarySensorDescription, ...] = (
    VigilRuleBinarySensorDescription(
        key="loitering",
        translation_key="loitering",
        kind=KIND_LOITERING,
        value_fn=lambda data: bool(data.state.get("loitering")),
        attrs_fn=lambda data: {
            "count": data.state.get("count", 0),
            "max_dwell_s": data.state.get("max_dwell_s", 0),
        },
    ),
    VigilRuleBinarySensorDescription(
        key="over_threshold",
        translation_key="crowd_over_threshold",
        kind=KIND_CROWD,
        value_fn=lambda data: bool(data.state.get("over_threshold")),
        attrs_fn=lambda data: {"level": data.state.get("level")},
    ),
    VigilRuleBinarySensorDescription(
        key="object_present",
        translation_key="object_present",
        kind=KIND_OBJECT_LEFT,
        value_fn=lambda data: bool(data.state.get("active")),
        attrs_fn=lambda data: {
            "left": data.state.get("left", 0),
            "removed": data.state.get("removed", 0),
        },
    ),
)


def _on_kind(kind: str, name: str, phase: EventPhase) -> Callable[[RuleEvent], str | None]:
    return lambda event: name if event.kind == kind and event.phase is phase else None


def _loitering_type(event: RuleEvent) -> str | None:
    if event.kind != KIND_LOITERING:
        return None
    return {EventPhase.STARTED: "started", EventPhase.ENDED: "ended"}.get(event.phase)


def _movement_type(event: RuleEvent) -> str | None:
    movement = event.attrs.get("movement")
    return str(movement) if event.kind == "crowd_movement" and movement else None


def _object_type(event: RuleEvent) -> str | None:
    if event.phase is not EventPhase.STARTED:
        return None
    return {"object_left": "left", "object_removed": "removed"}.get(event.kind)


def _object_types(info: RuleInfo) -> list[str]:
    spec = info.spec
    return list(spec.detect) if isinstance(spec, ObjectLeftSpec) else ["left"]


RULE_EVENTS: tuple[VigilRuleEventDescription, ...] = (
    VigilRuleEventDescription(
        key="crossed",
        translation_key="line_crossed",
        kind=KIND_LINE,
        types_fn=lambda _info: ["crossed"],
        map_fn=_on_kind(KIND_LINE, "crossed", EventPhase.INSTANT),
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
        map_fn=_on_kind(KIND_FAST_MOVE, "fast_move", EventPhase.STARTED),
    ),
    VigilRuleEventDescription(
        key="wrong_way",
        translation_key="wrong_way",
        kind=KIND_WRONG_WAY,
        types_fn=lambda _info: ["wrong_way"],
        map_fn=_on_kind(KIND_WRONG_WAY, "wrong_way", EventPhase.STARTED),
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
        map_fn=_on_kind(KIND_ROUTE, "completed", EventPhase.INSTANT),
    ),
)


# --- entities --------------------------------------------------------------------------------


class VigilRuleEntity(VigilEntity):
    """An entity of one rule, on its camera's device; the rule name goes into its name."""

    def __init__(
        self,
        bridge: VigilBridge,
        camera: CameraInfo,
        runtime: RuleRuntime,
        data: RuleData,
        description: Any,
    ) -> None:
        """Attach the entity to its rule."""
        super().__init__(bridge, camera, description)
        self.runtime = runtime
        self.data = data
        self._attr_unique_id = (
            f"{bridge.entry_id}_{camera.camera_id}_{data.info.rule_id}_{description.key}"
        )
        self._attr_translation_placeholders = {"rule": data.info.name}

    async def async_added_to_hass(self) -> None:
        """Follow the rule's states and events too."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                rule_signal(self.bridge.entry_id, self.data.info.rule_id),
                self._async_rule_update,
            )
        )

    @callback
    def _async_rule_update(self, event: RuleEvent | None) -> None:
        self.async_write_ha_state()


class VigilRuleSensor(VigilRuleEntity, SensorEntity):
    """A count, a density, a level or a speed of a rule."""

    entity_description: VigilRuleSensorDescription

    def __init__(
        self,
        bridge: VigilBridge,
        camera: CameraInfo,
        runtime: RuleRuntime,
        data: RuleData,
        description: VigilRuleSensorDescription,
    ) -> None:
        """Set the unit the rule works in."""
        super().__init__(bridge, camera, runtime, data, description)
        if description.unit_fn is not None:
            self._attr_native_unit_of_measurement = description.unit_fn(data.info)

    @property
    def native_value(self) -> StateType:
        """Return the figure through the description."""
        return self.entity_description.value_fn(self.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the figure's details."""
        return self.entity_description.attrs_fn(self.data)


class VigilRuleBinarySensor(VigilRuleEntity, BinarySensorEntity):
    """A rule's ongoing condition: loitering, a crowd over its threshold, an object left."""

    entity_description: VigilRuleBinarySensorDescription

    @property
    def is_on(self) -> bool:
        """Return the condition through the description."""
        return self.entity_description.value_fn(self.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the condition's details."""
        return self.entity_description.attrs_fn(self.data)


class VigilRuleEvent(VigilRuleEntity, EventEntity):
    """Fire a rule's happenings with the object's class and the rule's figures."""

    entity_description: VigilRuleEventDescription

    def __init__(
        self,
        bridge: VigilBridge,
        camera: CameraInfo,
        runtime: RuleRuntime,
        data: RuleData,
        description: VigilRuleEventDescription,
    ) -> None:
        """Set the event types this rule can fire."""
        super().__init__(bridge, camera, runtime, data, description)
        self._attr_event_types = description.types_fn(data.info)

    @callback
    def _async_rule_update(self, event: RuleEvent | None) -> None:
        if event is None:
            return
        event_type = self.entity_description.map_fn(event)
        if event_type is None or event_type not in self.event_types:
            return
        attrs: dict[str, Any] = {"object_class": event.attrs.get("label")}
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
    descriptions: tuple[Any, ...],
    entity_class: Callable[..., VigilRuleEntity],
) -> None:
    runtime = entry.runtime_data
    rules = runtime.rules
    if rules is None:
        return
    for data in rules.rules.values():
        camera = runtime.cameras.get(data.info.camera_id)
        if camera is None:
            continue
        entities = [
            entity_class(runtime.bridge, camera, rules, data, description)
            for description in descriptions
            if description.kind == data.info.kind
            and getattr(description, "exists_fn", _always)(data.info)
        ]
        if entities:
            async_add_entities(entities, config_subentry_id=data.info.subentry_id)


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


# --- the reset_counter action ------------------------------------------------------------------

RESET_COUNTER_SCHEMA = cv.make_entity_service_schema({})


async def _async_reset_counter(call: ServiceCall) -> None:
    """Set the totals of the lines the targeted counter sensors belong to back to zero.

    Not restricted to administrators: the totals are anonymous statistics (no track, no
    picture), like a utility meter's, and resetting one reveals nothing about anyone.
    """
    hass = call.hass
    registry = er.async_get(hass)
    targets: dict[str, tuple[RuleRuntime, RuleData]] = {}
    for entity_id in sorted(await async_extract_entity_ids(hass, call)):
        entity = registry.async_get(entity_id)
        if entity is None or entity.platform != DOMAIN:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_counter",
                translation_placeholders={"entity_id": entity_id},
            )
        entry = hass.config_entries.async_get_entry(entity.config_entry_id or "")
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
        runtime: RuleRuntime | None = entry.runtime_data.rules
        data = runtime.by_subentry(entity.config_subentry_id) if runtime else None
        if runtime is None or data is None or data.info.kind != KIND_LINE:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_counter",
                translation_placeholders={"entity_id": entity_id},
            )
        targets[data.info.rule_id] = (runtime, data)
    for runtime, data in targets.values():
        await runtime.async_reset_counter(data)


@callback
def async_setup_rule_services(hass: HomeAssistant) -> None:
    """Register the reset_counter action."""
    hass.services.async_register(
        DOMAIN, SERVICE_RESET_COUNTER, _async_reset_counter, schema=RESET_COUNTER_SCHEMA
    )
