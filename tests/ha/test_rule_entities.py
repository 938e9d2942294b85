"""Rule entities: states and events mapped from the engine, line totals persisted and reset."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
import json
from pathlib import Path
import time
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.vigil.const import (
    CONF_CAMERA,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    DOMAIN,
)
from custom_components.vigil.rule_config import CONF_KIND, SUBENTRY_CAMERA_SETTING, SUBENTRY_RULE
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ENTRY_ID,
    ZONE_ID,
    FakeEngine,
    camera_subentry,
    setup_entry,
    zone_subentry,
)
from vigil_core.config import EngineConfig
from vigil_core.errors import VigilError
from vigil_core.events.model import EventPhase, RuleEvent
from vigil_core.store.counters import CounterStore

ZONE2_ID = "01JVIGIL000000000000ZONE02"
RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "01JVIGIL0000000000000LINE1": (
        "line_crossing",
        {"line": [[0.5, 0.3], [0.5, 0.7]], "direction": "both"},
    ),
    "01JVIGIL0000000000000LOIT1": ("loitering", {"zone": ZONE_ID, "dwell_s": 20.0}),
    "01JVIGIL000000000000CROWD1": (
        "crowd",
        {"zone": ZONE_ID, "metric": "density", "high": 1.0, "critical": 2.0, "movement": True},
    ),
    "01JVIGIL0000000000000FAST1": (
        "fast_move",
        {"speed_unit": "kmh", "speed": 12.0, "min_duration_s": 1.0},
    ),
    "01JVIGIL0000000000000WRONG": (
        "wrong_way",
        {"zone": ZONE_ID, "allowed_direction": [[0.1, 0.5], [0.9, 0.5]]},
    ),
    "01JVIGIL00000000000OBJECT1": ("object_left", {"detect": ["left", "removed"]}),
    "01JVIGIL0000000000000ROUTE": ("route", {"zones": [ZONE_ID, ZONE2_ID]}),
}
NAMES = {
    "line_crossing": "Gate",
    "loitering": "Porch",
    "crowd": "Square",
    "fast_move": "Runner",
    "wrong_way": "Lane",
    "object_left": "Hall",
    "route": "Arrival",
}
LINE_SLUG = "01jvigil0000000000000line1"


@dataclass
class FakeRule:
    """A rule whose state the test sets."""

    rule_id: str
    current: dict[str, Any] = field(default_factory=dict)

    def state(self) -> Mapping[str, Any]:
        """Return the state the test set."""
        return self.current


@dataclass
class FakePipeline:
    """A camera pipeline holding fake rules."""

    rules: list[Any]


class RuleEngine(FakeEngine):
    """A fake engine with a real counter store in its state_dir and fake rules."""

    def __init__(self, config: EngineConfig, **kwargs: Any) -> None:
        """Load the persisted totals as the engine does."""
        super().__init__(config, **kwargs)
        self.counters = CounterStore.in_dir(config.state_dir)
        self.fake_rules = {
            rule.id: FakeRule(rule.id) for camera in config.cameras for rule in camera.rules
        }

    def pipeline(self, camera_id: str) -> FakePipeline:
        """Return the camera's fake pipeline; line rules read the counter store."""
        if camera_id not in self.camera_ids:
            raise KeyError(camera_id)
        rules: list[Any] = [r for r in self.fake_rules.values() if r.rule_id != LINE_SLUG]
        return FakePipeline(rules)

    def reset_counter(self, camera_id: str, rule_id: str) -> None:
        """Reset the persisted totals as the engine does."""
        if rule_id not in self.fake_rules:
            raise VigilError(f"camera {camera_id} has no rule {rule_id}")
        self.counters.reset(camera_id, rule_id)

    def rule_event(self, kind: str, rule_id: str, phase: EventPhase, **attrs: Any) -> None:
        """Publish a rule event."""
        self.bus.publish(
            RuleEvent(
                kind=kind,
                camera_id=CAMERA_SLUG,
                rule_id=rule_id,
                track_id=3,
                phase=phase,
                at_s=2.0,
                frame_index=10,
                wall_time=time.time(),
                attrs=attrs,
            )
        )


@pytest.fixture
def rule_engines(hass: HomeAssistant, tmp_path: Path) -> Generator[list[RuleEngine]]:
    """Replace the engine with RuleEngine; keep Home Assistant's config in tmp_path.

    A plain function, not a Mock: the test harness runs Mocks given to the executor inline on
    the loop, and the engine must really be built in the executor (it reads its totals).
    """
    hass.config.config_dir = str(tmp_path)
    built: list[RuleEngine] = []

    def build(config: EngineConfig, **kwargs: Any) -> RuleEngine:
        engine = RuleEngine(config, loop=kwargs["loop"])
        built.append(engine)
        return engine

    with (
        patch("custom_components.vigil.Engine", new=build),
        patch(
            "custom_components.vigil._resolve_detector",
            return_value=Path("/models/yolox_nano.onnx"),
        ),
    ):
        yield built


def _entry() -> MockConfigEntry:
    rules = [
        ConfigSubentryData(
            data={CONF_CAMERA: CAMERA_ID, CONF_KIND: kind, **data},
            subentry_id=subentry_id,
            subentry_type=SUBENTRY_RULE,
            title=NAMES[kind],
            unique_id=None,
        )
        for subentry_id, (kind, data) in RULES.items()
    ]
    calibration = ConfigSubentryData(
        data={
            CONF_CAMERA: CAMERA_ID,
            CONF_KIND: "calibration",
            "image_points": [[0.05, 0.38], [0.95, 0.28], [0.95, 0.85], [0.05, 0.85]],
            "distances": [20.0, 10.0, 20.0, 10.0],
        },
        subentry_type=SUBENTRY_CAMERA_SETTING,
        title="Ground",
        unique_id=None,
    )
    mask = ConfigSubentryData(
        data={
            CONF_CAMERA: CAMERA_ID,
            CONF_KIND: "privacy_mask",
            "polygon": [[0, 0], [0.2, 0], [0.2, 0.2]],
        },
        subentry_type=SUBENTRY_CAMERA_SETTING,
        title="Window",
        unique_id=None,
    )
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        entry_id=ENTRY_ID,
        data={CONF_DOWNLOAD_MODELS: False, CONF_DEPLOYMENT_CONTEXT: "private_home"},
        subentries_data=[
            camera_subentry(),
            zone_subentry(),
            zone_subentry(subentry_id=ZONE2_ID, title="Path"),
            calibration,
            mask,
            *rules,
        ],
    )


async def _online(hass: HomeAssistant, engine: RuleEngine) -> None:
    from vigil_core.events.model import SourceState  # noqa: PLC0415

    engine.source_state(CAMERA_SLUG, SourceState.ONLINE)
    await hass.async_block_till_done()


async def test_engine_config_has_rules_masks_calibration(
    hass: HomeAssistant, rule_engines: list[RuleEngine]
) -> None:
    """Every rule kind reaches the engine with the camera's mask, calibration and state_dir."""
    entry = _entry()
    await setup_entry(hass, entry)
    config = rule_engines[0].config
    camera = config.cameras[0]
    assert sorted(rule.type for rule in camera.rules) == sorted(NAMES)
    assert camera.privacy_masks == [[(0, 0), (0.2, 0), (0.2, 0.2)]]
    assert camera.calibration is not None
    assert config.state_dir == hass.config.path(".storage", DOMAIN, ENTRY_ID)


async def test_entities_map_states_and_events(
    hass: HomeAssistant, rule_engines: list[RuleEngine], snapshot: SnapshotAssertion
) -> None:
    """States come from each rule's state(), happenings from its events."""
    entry = _entry()
    await setup_entry(hass, entry)
    engine = rule_engines[0]
    await _online(hass, engine)
    slug = {kind: sid.lower() for sid, (kind, _) in RULES.items()}
    engine.fake_rules[slug["loitering"]].current = {
        "loitering": True,
        "count": 1,
        "max_dwell_s": 24.5,
    }
    engine.fake_rules[slug["crowd"]].current = {
        "count": 7,
        "density_m2": 1.4,
        "area_m2": 5.0,
        "level": "high",
        "over_threshold": True,
    }
    engine.fake_rules[slug["object_left"]].current = {"left": 1, "removed": 0, "active": True}
    await hass.async_add_executor_job(
        engine.counters.add, CAMERA_SLUG, LINE_SLUG, "person", "a_to_b"
    )
    engine.rule_event(
        "line_crossing", LINE_SLUG, EventPhase.INSTANT, label="person", direction="a_to_b", count=1
    )
    engine.rule_event(
        "loitering", slug["loitering"], EventPhase.STARTED, label="person", dwell_s=20.0
    )
    engine.rule_event(
        "crowd_movement", slug["crowd"], EventPhase.INSTANT, movement="dispersal", people=5
    )
    engine.rule_event(
        "fast_move",
        slug["fast_move"],
        EventPhase.STARTED,
        label="person",
        speed_kmh=14.2,
        speed_px_s=180.0,
        unit="km/h",
        speed_is_estimate=True,
    )
    engine.rule_event("wrong_way", slug["wrong_way"], EventPhase.STARTED, label="car")
    engine.rule_event("object_left", slug["object_left"], EventPhase.STARTED, label="backpack")
    engine.rule_event("route", slug["route"], EventPhase.INSTANT, label="person", duration_s=12.5)
    await hass.async_block_till_done()
    states = {
        state.entity_id: (state.state, dict(state.attributes))
        for state in hass.states.async_all()
        if any(name.lower() in state.entity_id for name in NAMES.values())
    }
    for entity_id, (value, attributes) in states.items():
        if entity_id.startswith("event."):
            states[entity_id] = ("<fired>" if value != "unknown" else value, attributes)
    assert states == snapshot
    assert hass.states.get("sensor.front_door_gate_a_to_b").state == "1"
    speed = hass.states.get("sensor.front_door_runner_last_speed")
    assert speed.state == "14.2" and speed.attributes["estimate"] is True
    assert speed.attributes["unit_of_measurement"] == "km/h"
    assert hass.states.get("binary_sensor.front_door_porch_loitering").state == "on"
    assert hass.states.get("sensor.front_door_square_level").state == "high"
    assert hass.states.get("event.front_door_hall_object").attributes["event_type"] == "left"


async def test_line_totals_restored_after_reload_and_reset(
    hass: HomeAssistant, rule_engines: list[RuleEngine]
) -> None:
    """Totals live in state_dir: a reload shows them, reset_counter clears them on disk."""
    entry = _entry()
    await setup_entry(hass, entry)
    engine = rule_engines[0]
    await hass.async_add_executor_job(
        engine.counters.add, CAMERA_SLUG, LINE_SLUG, "person", "a_to_b", 5
    )
    await hass.async_add_executor_job(
        engine.counters.add, CAMERA_SLUG, LINE_SLUG, "car", "b_to_a", 2
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await _online(hass, rule_engines[1])
    a_to_b = hass.states.get("sensor.front_door_gate_a_to_b")
    assert a_to_b.state == "5" and a_to_b.attributes["counts"] == {"person": 5, "car": 0}
    assert hass.states.get("sensor.front_door_gate_b_to_a").state == "2"

    await hass.services.async_call(
        DOMAIN,
        "reset_counter",
        {"entity_id": "sensor.front_door_gate_a_to_b"},
        blocking=True,
    )
    assert hass.states.get("sensor.front_door_gate_a_to_b").state == "0"
    assert hass.states.get("sensor.front_door_gate_b_to_a").state == "0"
    path = Path(hass.config.path(".storage", DOMAIN, ENTRY_ID, "counters.json"))
    saved = json.loads(await hass.async_add_executor_job(path.read_text))
    assert saved["counters"] == {}

    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "reset_counter",
            {"entity_id": "sensor.front_door_square_people"},
            blocking=True,
        )
    await asyncio.sleep(0)
