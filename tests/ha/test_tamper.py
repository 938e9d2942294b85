"""Tamper and health entities: mapping, camera-side reports, the re-capture button and action."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
import json
from pathlib import Path
import time
from typing import Any
from unittest.mock import MagicMock, patch

from homeassistant.components.button.const import SERVICE_PRESS
from homeassistant.const import (
    ATTR_ENTITY_ID,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
import yaml

from custom_components.vigil.const import DOMAIN
from custom_components.vigil.tamper import TamperTracker, camera_side_event
from custom_components.vigil.tamper_entities import (
    RECAPTURE_BUTTON,
    TAMPER_BINARY_SENSORS,
    TAMPER_EVENT,
)
from tests.ha.conftest import CAMERA_SLUG, ENTRY_ID, FakeEngine, setup_entry
from tests.ha.translations import load
from vigil_core.config import EngineConfig, TamperSpec
from vigil_core.errors import VigilError
from vigil_core.events.model import AttrValue, EventPhase, RuleEvent, SourceState
from vigil_core.health import TamperCondition

OBSTRUCTION = "binary_sensor.front_door_obstruction"
DEFOCUS = "binary_sensor.front_door_defocus"
ORIENTATION = "binary_sensor.front_door_orientation_change"
STREAM_LOSS = "binary_sensor.front_door_stream_loss"
TAMPER = "event.front_door_tamper"
RECAPTURE = "button.front_door_re_capture_reference_view"
INTEGRATION = Path(__file__).resolve().parents[2] / "custom_components" / "vigil"
KEYS = {*(d.key for d in TAMPER_BINARY_SENSORS.values()), TAMPER_EVENT.key, RECAPTURE_BUTTON.key}


@pytest.fixture(autouse=True)
def only_platforms() -> Iterator[None]:
    """Set up the platforms of the tamper entities only."""
    with patch(
        "custom_components.vigil.PLATFORMS",
        [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.EVENT],
    ):
        yield


@pytest.fixture
def recapture() -> Iterator[MagicMock]:
    """Record the engine's re-captures (the fake engine has no pipelines)."""
    with patch.object(FakeEngine, "recapture_reference", create=True) as mock:
        yield mock


@pytest.fixture
async def engine(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> FakeEngine:
    """Set the hub up with its camera online, and return its engine."""
    await setup_entry(hass, config_entry)
    engines[0].source_state(CAMERA_SLUG, SourceState.ONLINE)
    await hass.async_block_till_done()
    return engines[0]


def vigil_event(
    condition: TamperCondition, phase: EventPhase, score: float, **extra: AttrValue
) -> RuleEvent:
    """Return a health event as Vigil's TamperAnalyzer publishes it."""
    return RuleEvent(
        kind=condition.value,
        camera_id=CAMERA_SLUG,
        rule_id="tamper",
        track_id=None,
        phase=phase,
        at_s=12.0,
        frame_index=60,
        wall_time=time.time(),
        source="vigil",
        attrs={
            "condition": condition.value,
            "source": "vigil",
            "score": score,
            "peak_score": max(score, 0.86),
            "since_s": 11.0,
            **extra,
        },
    )


def _attributes(hass: HomeAssistant, entity_id: str) -> dict[str, Any]:
    state = hass.states.get(entity_id)
    assert state is not None
    return dict(state.attributes)


def _tracker(hass: HomeAssistant) -> TamperTracker:
    entry = hass.config_entries.async_get_entry(ENTRY_ID)
    assert entry is not None
    tracker: TamperTracker = entry.runtime_data.bridge.tamper
    return tracker


@pytest.mark.freeze_time("2025-06-01 12:00:00+00:00")
async def test_snapshots(
    hass: HomeAssistant,
    engine: FakeEngine,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Each camera has its tamper entities; registry entries and states match, off then on."""
    entries = sorted(
        (
            entry
            for entry in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
            if entry.unique_id.rpartition(f"{CAMERA_SLUG}_")[2] in KEYS
        ),
        key=lambda entry: entry.entity_id,
    )
    assert [entry.entity_id for entry in entries] == sorted(
        [OBSTRUCTION, DEFOCUS, ORIENTATION, STREAM_LOSS, TAMPER, RECAPTURE]
    )
    for entry in entries:
        assert entry == snapshot(name=f"{entry.entity_id}-entry")
        assert hass.states.get(entry.entity_id) == snapshot(name=f"{entry.entity_id}-state")

    engine.bus.publish(
        vigil_event(TamperCondition.OBSTRUCTION, EventPhase.STARTED, 0.86, threshold=0.5)
    )
    await hass.async_block_till_done()
    for entity_id in (OBSTRUCTION, TAMPER):
        assert hass.states.get(entity_id) == snapshot(name=f"{entity_id}-started")


async def test_vigil_condition_starts_and_ends(hass: HomeAssistant, engine: FakeEngine) -> None:
    """Vigil's events turn the condition on and off and fire the event with the score."""
    assert hass.states.get(OBSTRUCTION).state == STATE_OFF  # type: ignore[union-attr]
    assert hass.states.get(TAMPER).state == STATE_UNKNOWN  # type: ignore[union-attr]

    engine.bus.publish(
        vigil_event(TamperCondition.OBSTRUCTION, EventPhase.STARTED, 0.86, threshold=0.5)
    )
    await hass.async_block_till_done()
    assert hass.states.get(OBSTRUCTION).state == STATE_ON  # type: ignore[union-attr]
    attributes = _attributes(hass, OBSTRUCTION)
    assert attributes["source"] == ["vigil"]
    assert attributes["score"] == 0.86
    assert attributes["threshold"] == 0.5
    # The condition began when its score crossed the level, one second before the event.
    assert attributes["since"] is not None
    event = _attributes(hass, TAMPER)
    assert event["event_type"] == "obstruction_started"
    assert (event["condition"], event["source"], event["score"]) == ("obstruction", "vigil", 0.86)
    assert event["threshold"] == 0.5
    assert hass.states.get(DEFOCUS).state == STATE_OFF  # type: ignore[union-attr]

    engine.bus.publish(
        vigil_event(TamperCondition.OBSTRUCTION, EventPhase.ENDED, 0.1, duration_s=9.0)
    )
    await hass.async_block_till_done()
    assert hass.states.get(OBSTRUCTION).state == STATE_OFF  # type: ignore[union-attr]
    attributes = _attributes(hass, OBSTRUCTION)
    assert (attributes["source"], attributes["score"], attributes["since"]) == ([], None, None)
    event = _attributes(hass, TAMPER)
    assert event["event_type"] == "obstruction_ended"
    assert (event["score"], event["duration_s"]) == (0.1, 9.0)

    # Health events of unknown cameras, and other rules' events, change nothing.
    other = vigil_event(TamperCondition.DEFOCUS, EventPhase.STARTED, 0.7)
    engine.bus.publish(replace(other, camera_id="unknown"))
    engine.bus.publish(replace(other, rule_id="zone"))
    await hass.async_block_till_done()
    assert hass.states.get(DEFOCUS).state == STATE_OFF  # type: ignore[union-attr]


async def test_stream_loss_reported_while_the_stream_is_down(
    hass: HomeAssistant, engine: FakeEngine
) -> None:
    """A lost stream makes view conditions unavailable; stream loss and its event stay."""
    engine.source_state(CAMERA_SLUG, SourceState.OFFLINE, "connection refused")
    engine.bus.publish(
        vigil_event(TamperCondition.STREAM_LOSS, EventPhase.STARTED, 1.0, reason="no_frames")
    )
    await hass.async_block_till_done()
    for entity_id in (OBSTRUCTION, DEFOCUS, ORIENTATION, RECAPTURE):
        assert hass.states.get(entity_id).state == STATE_UNAVAILABLE, entity_id  # type: ignore[union-attr]
    assert hass.states.get(STREAM_LOSS).state == STATE_ON  # type: ignore[union-attr]
    assert _attributes(hass, STREAM_LOSS)["reason"] == "no_frames"
    assert _attributes(hass, STREAM_LOSS)["threshold"] is None
    assert _attributes(hass, TAMPER)["event_type"] == "stream_loss_started"

    # The reason changes while the stream stays lost: no new event.
    engine.bus.publish(
        vigil_event(TamperCondition.STREAM_LOSS, EventPhase.UPDATED, 1.0, reason="frozen")
    )
    await hass.async_block_till_done()
    assert _attributes(hass, STREAM_LOSS)["reason"] == "frozen"
    assert _attributes(hass, TAMPER)["event_type"] == "stream_loss_started"

    engine.source_state(CAMERA_SLUG, SourceState.ONLINE)
    engine.bus.publish(vigil_event(TamperCondition.STREAM_LOSS, EventPhase.ENDED, 0.0))
    await hass.async_block_till_done()
    assert hass.states.get(STREAM_LOSS).state == STATE_OFF  # type: ignore[union-attr]
    assert _attributes(hass, STREAM_LOSS)["reason"] is None
    assert _attributes(hass, TAMPER)["event_type"] == "stream_loss_ended"
    assert hass.states.get(OBSTRUCTION).state == STATE_OFF  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("report", "entity_id"),
    [
        ("tamper", OBSTRUCTION),
        ("too_dark", OBSTRUCTION),
        ("too_bright", OBSTRUCTION),
        ("too_blurry", DEFOCUS),
        ("scene_change", ORIENTATION),
        ("stream_loss", STREAM_LOSS),
    ],
)
async def test_camera_side_report_feeds_the_same_entity(
    hass: HomeAssistant, engine: FakeEngine, report: str, entity_id: str
) -> None:
    """A camera's own report turns Vigil's entity on, named as its source."""
    tracker = _tracker(hass)
    tracker.async_camera_side_report(CAMERA_SLUG, report, True, "onvif")
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_ON  # type: ignore[union-attr]
    assert _attributes(hass, entity_id)["source"] == ["onvif"]
    assert _attributes(hass, entity_id)["score"] == 1.0
    event = _attributes(hass, TAMPER)
    assert event["event_type"].endswith("_started")
    assert (event["source"], event["report"]) == ("onvif", report)

    tracker.async_camera_side_report(CAMERA_SLUG, report, False, "onvif")
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_OFF  # type: ignore[union-attr]
    assert _attributes(hass, TAMPER)["event_type"].endswith("_ended")


async def test_vigil_and_camera_reports_merge(hass: HomeAssistant, engine: FakeEngine) -> None:
    """A condition stays on while any source reports it; it starts and ends once."""
    tracker = _tracker(hass)
    fired: list[str] = []

    @callback
    def on_event(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.attributes.get("event_type"):
            fired.append(new.attributes["event_type"])

    unsubscribe = async_track_state_change_event(hass, TAMPER, on_event)
    tracker.async_camera_side_report(CAMERA_SLUG, "too_dark", True, "onvif", score=0.9)
    engine.bus.publish(vigil_event(TamperCondition.OBSTRUCTION, EventPhase.STARTED, 0.8))
    await hass.async_block_till_done()
    attributes = _attributes(hass, OBSTRUCTION)
    assert (attributes["source"], attributes["score"]) == (["onvif", "vigil"], 0.9)

    tracker.async_camera_side_report(CAMERA_SLUG, "too_dark", False, "onvif")
    await hass.async_block_till_done()
    assert hass.states.get(OBSTRUCTION).state == STATE_ON  # type: ignore[union-attr]
    assert _attributes(hass, OBSTRUCTION)["source"] == ["vigil"]
    assert _attributes(hass, OBSTRUCTION)["score"] == 0.8

    engine.bus.publish(vigil_event(TamperCondition.OBSTRUCTION, EventPhase.ENDED, 0.2))
    await hass.async_block_till_done()
    assert hass.states.get(OBSTRUCTION).state == STATE_OFF  # type: ignore[union-attr]
    assert fired == ["obstruction_started", "obstruction_ended"]
    assert _attributes(hass, TAMPER)["source"] == "vigil"
    unsubscribe()


def test_camera_side_event_refuses_unknown_reports() -> None:
    """Only the camera reports and the conditions Vigil knows are accepted."""
    event = camera_side_event("cam", "scene_change", active=True, source="onvif", score=0.42)
    assert (event.kind, event.rule_id, event.phase) == ("orientation_change", "tamper", "started")
    assert (event.attrs["report"], event.attrs["score"]) == ("scene_change", 0.42)
    with pytest.raises(ValueError):
        camera_side_event("cam", "motion", active=True, source="onvif")


async def test_button_recaptures_the_reference(
    hass: HomeAssistant, engine: FakeEngine, recapture: MagicMock
) -> None:
    """The button asks the engine to re-capture; an engine refusal is a translated error."""
    await hass.services.async_call(
        Platform.BUTTON, SERVICE_PRESS, {ATTR_ENTITY_ID: RECAPTURE}, blocking=True
    )
    recapture.assert_called_once_with(CAMERA_SLUG)

    recapture.side_effect = VigilError("camera has no camera-health checks running")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            Platform.BUTTON, SERVICE_PRESS, {ATTR_ENTITY_ID: RECAPTURE}, blocking=True
        )
    assert err.value.translation_key == "recapture_unavailable"
    assert err.value.translation_placeholders == {"camera": "Front door"}


async def test_action_targets_the_camera(
    hass: HomeAssistant,
    engine: FakeEngine,
    recapture: MagicMock,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The action takes the camera's device, any of its entities, or every camera."""
    camera = device_registry.async_get_device(identifiers={(DOMAIN, f"{ENTRY_ID}_{CAMERA_SLUG}")})
    hub = device_registry.async_get_device(identifiers={(DOMAIN, ENTRY_ID)})
    assert camera is not None
    assert hub is not None
    for target in (
        {"device_id": camera.id},
        {"entity_id": OBSTRUCTION},
        {"entity_id": [TAMPER, "light.unrelated"]},
        {"entity_id": "all"},
    ):
        recapture.reset_mock()
        await hass.services.async_call(DOMAIN, "recapture_reference", target=target, blocking=True)
        recapture.assert_called_once_with(CAMERA_SLUG)

    recapture.reset_mock()
    for target in ({"device_id": hub.id}, {"entity_id": "light.unrelated"}):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "recapture_reference", target=target, blocking=True
            )
        assert err.value.translation_key == "no_camera_targeted"
    recapture.assert_not_called()


async def test_action_without_a_loaded_hub(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> None:
    """The action is registered with the integration and refuses while the hub is unloaded."""
    await setup_entry(hass, config_entry)
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "recapture_reference", target={"entity_id": "all"}, blocking=True
        )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            TamperSpec(orientation=False, stream_loss=False),
            {OBSTRUCTION, DEFOCUS, TAMPER, RECAPTURE},
        ),
        (
            TamperSpec(obstruction=False, defocus=False, orientation=False),
            {STREAM_LOSS, TAMPER},
        ),
        (TamperSpec(enabled=False), set()),
    ],
)
async def test_entities_follow_the_checks(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    engines: list[FakeEngine],
    entity_registry: er.EntityRegistry,
    spec: TamperSpec,
    expected: set[str],
) -> None:
    """A camera gets entities for the checks it runs; the button needs a view check."""

    def with_checks(config: EngineConfig, **kwargs: Any) -> FakeEngine:
        cameras = [camera.model_copy(update={"tamper": spec}) for camera in config.cameras]
        engine = FakeEngine(config.model_copy(update={"cameras": cameras}), **kwargs)
        engines.append(engine)
        return engine

    with patch("custom_components.vigil.Engine", side_effect=with_checks):
        await setup_entry(hass, config_entry)
    found = {
        entry.entity_id
        for entry in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
        if entry.unique_id.rpartition(f"{CAMERA_SLUG}_")[2] in KEYS
    }
    assert found == expected
    if TAMPER in expected:
        state = hass.states.get(TAMPER)
        assert state is not None
        assert all(
            t.startswith(("obstruction", "defocus", "stream_loss"))
            for t in state.attributes["event_types"]
        )


def test_strings_and_icons() -> None:
    """Every tamper entity, state, event type, action and error has its strings and icon."""
    icons = json.loads((INTEGRATION / "icons.json").read_text(encoding="utf-8"))
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8"))
    for language in ("en", "fr"):
        strings = load(language)
        entity = strings["entity"]
        for description in TAMPER_BINARY_SENSORS.values():
            key = description.translation_key
            assert set(entity["binary_sensor"][key]["state"]) == {"on", "off"}, key
            assert key in icons["entity"]["binary_sensor"], key
        event_types = entity["event"]["tamper"]["state_attributes"]["event_type"]["state"]
        assert set(event_types) == set(TAMPER_EVENT.event_types or [])
        assert "recapture_reference" in entity["button"]
        assert {"recapture_unavailable", "no_camera_targeted"} <= set(strings["exceptions"])
        assert strings["services"]["recapture_reference"]["description"]
    assert "tamper" in icons["entity"]["event"]
    assert "recapture_reference" in icons["entity"]["button"]
    assert "recapture_reference" in icons["services"]
    assert set(services["recapture_reference"]["target"]) == {"device", "entity"}
