"""Tamper and health entities on a real server: conditions, camera-side reports, re-capture.

The camera streams the session's live test pattern to a real in-process Vigil server, whose
health checks run on it. The checks' view conditions are set to need ten minutes to start,
so the pattern itself never raises one during a test; the conditions the tests look at are
published on the server's bus as its checks and the cameras' reports publish them, and go
through the server's merge (`TamperState`), the protocol and the store.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import floor_registry as fr
from homeassistant.helpers import label_registry as lr
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
import yaml

from custom_components.vigil.const import DOMAIN
from custom_components.vigil.tamper_entities import (
    RECAPTURE_BUTTON,
    TAMPER_BINARY_SENSORS,
    TAMPER_EVENT,
)
from tests.ha.conftest import (
    CAMERA_SLUG,
    ENTRY_ID,
    camera_settings,
    camera_uid_of,
    publish,
    setup_entry,
    stable_ids,
    stream_state,
    wait_until,
)
from tests.ha.translations import load
from vigil_core.errors import VigilError
from vigil_core.events.model import AttrValue, EventPhase, RuleEvent, SourceState
from vigil_core.health import CameraReport, camera_report_event
from vigil_core.server import VigilServer

OBSTRUCTION = "binary_sensor.front_door_obstruction"
DEFOCUS = "binary_sensor.front_door_defocus"
ORIENTATION = "binary_sensor.front_door_orientation_change"
STREAM_LOSS = "binary_sensor.front_door_stream_loss"
TAMPER = "event.front_door_tamper"
RECAPTURE = "button.front_door_re_capture_reference_view"
ASSESSMENT = "button.vigil_test_server_write_the_impact_assessment"
INTEGRATION = Path(__file__).resolve().parents[2] / "custom_components" / "vigil"
KEYS = {*(d.key for d in TAMPER_BINARY_SENSORS.values()), TAMPER_EVENT.key, RECAPTURE_BUTTON.key}
QUIET = {"start_s": 600.0}
"""The pattern's black background would read as an obstruction after a few seconds."""


@pytest.fixture(autouse=True)
def only_platforms() -> Iterator[None]:
    """Set up the platforms of the tamper entities only."""
    with patch(
        "custom_components.vigil.PLATFORMS",
        [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.EVENT],
    ):
        yield


@pytest.fixture
async def loaded(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """Set the server entry up with its camera online and its health checks quiet."""
    with camera_settings(tamper=QUIET):
        await setup_entry(hass, config_entry)
        await wait_until(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the camera online")
    return config_entry


def health(
    server: VigilServer,
    condition: str,
    phase: EventPhase,
    score: float,
    **extra: AttrValue,
) -> None:
    """Publish a health event as Vigil's TamperAnalyzer does."""
    publish(
        server,
        RuleEvent(
            kind=condition,
            camera_id=CAMERA_SLUG,
            rule_id="tamper",
            track_id=None,
            phase=phase,
            at_s=12.0,
            frame_index=60,
            wall_time=time.time(),
            source="vigil",
            attrs={
                "condition": condition,
                "source": "vigil",
                "score": score,
                "peak_score": max(score, 0.86),
                "since_s": 11.0,
                **extra,
            },
        ),
    )


def report(server: VigilServer, name: str, active: bool, score: float | None = None) -> None:
    """Publish a camera's own report (an ONVIF tamper alarm, too dark…) as its source does."""
    attrs: dict[str, AttrValue] = {} if score is None else {"score": score}
    publish(
        server,
        camera_report_event(
            camera_id=CAMERA_SLUG,
            report=CameraReport(name),
            active=active,
            source="onvif",
            at_s=time.time(),
            attrs=attrs,
        ),
    )


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


def _attributes(hass: HomeAssistant, entity_id: str) -> dict[str, Any]:
    state = hass.states.get(entity_id)
    assert state is not None
    return dict(state.attributes)


def _event_type(hass: HomeAssistant) -> Any:
    return _attributes(hass, TAMPER).get("event_type")


async def test_snapshots(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    vigil_server: VigilServer,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Each camera has its tamper entities; registry entries and states match, off then on."""
    entries = sorted(
        (
            entry
            for entry in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
            if entry.unique_id.rpartition(f"{camera_uid_of(hass)}_")[2] in KEYS
        ),
        key=lambda entry: entry.entity_id,
    )
    assert [entry.entity_id for entry in entries] == sorted(
        [OBSTRUCTION, DEFOCUS, ORIENTATION, STREAM_LOSS, TAMPER, RECAPTURE]
    )
    for entry in entries:
        assert stable_ids(loaded, entry) == snapshot(name=f"{entry.entity_id}-entry")
        assert hass.states.get(entry.entity_id) == snapshot(name=f"{entry.entity_id}-state")

    health(vigil_server, "obstruction", EventPhase.STARTED, 0.86, threshold=0.5)
    await wait_until(hass, lambda: _state(hass, OBSTRUCTION) == STATE_ON, "the obstruction")
    for entity_id in (OBSTRUCTION, TAMPER):
        state = hass.states.get(entity_id)
        assert state is not None
        attributes = dict(state.attributes)
        attributes.pop("since", None)  # a time: checked in the next test
        assert (state.state if entity_id == OBSTRUCTION else "<fired>", attributes) == snapshot(
            name=f"{entity_id}-started"
        )


async def test_vigil_condition_starts_and_ends(
    hass: HomeAssistant, loaded: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Vigil's events turn the condition on and off and fire the event with the score."""
    assert _state(hass, TAMPER) == STATE_UNKNOWN
    health(vigil_server, "obstruction", EventPhase.STARTED, 0.86, threshold=0.5)
    await wait_until(hass, lambda: _state(hass, OBSTRUCTION) == STATE_ON, "the obstruction")
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
    assert _state(hass, DEFOCUS) == STATE_OFF

    health(vigil_server, "obstruction", EventPhase.ENDED, 0.1, duration_s=9.0)
    await wait_until(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the end")
    attributes = _attributes(hass, OBSTRUCTION)
    assert (attributes["source"], attributes["score"], attributes["since"]) == ([], None, None)
    event = _attributes(hass, TAMPER)
    assert event["event_type"] == "obstruction_ended"
    assert (event["score"], event["duration_s"]) == (0.1, 9.0)


async def test_stream_loss_reported_while_the_stream_is_down(
    hass: HomeAssistant, loaded: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """A lost stream makes view conditions unavailable; stream loss and its event stay."""
    stream_state(vigil_server, SourceState.OFFLINE, reason="connection refused")
    health(vigil_server, "stream_loss", EventPhase.STARTED, 1.0, reason="no_frames")
    await wait_until(hass, lambda: _state(hass, STREAM_LOSS) == STATE_ON, "the stream loss")
    for entity_id in (OBSTRUCTION, DEFOCUS, ORIENTATION, RECAPTURE):
        assert _state(hass, entity_id) == STATE_UNAVAILABLE, entity_id
    assert _attributes(hass, STREAM_LOSS)["reason"] == "no_frames"
    assert _attributes(hass, STREAM_LOSS)["threshold"] is None
    assert _event_type(hass) == "stream_loss_started"

    # The reason changes while the stream stays lost: the state follows, no new event.
    fired: list[str] = []

    @callback
    def on_event(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.attributes.get("event_type"):
            fired.append(new.attributes["event_type"])

    unsubscribe = async_track_state_change_event(hass, TAMPER, on_event)
    health(vigil_server, "stream_loss", EventPhase.UPDATED, 1.0, reason="frozen")
    await wait_until(hass, lambda: _attributes(hass, STREAM_LOSS)["reason"] == "frozen", "reason")

    stream_state(vigil_server, SourceState.ONLINE)
    health(vigil_server, "stream_loss", EventPhase.ENDED, 0.0)
    await wait_until(hass, lambda: _state(hass, STREAM_LOSS) == STATE_OFF, "the stream back")
    assert _attributes(hass, STREAM_LOSS)["reason"] is None
    assert fired == ["stream_loss_ended"]
    assert _state(hass, OBSTRUCTION) == STATE_OFF
    unsubscribe()


@pytest.mark.parametrize(
    ("name", "entity_id"),
    [
        ("tamper", OBSTRUCTION),
        ("too_dark", OBSTRUCTION),
        ("too_bright", OBSTRUCTION),
        ("too_blurry", DEFOCUS),
        ("scene_change", ORIENTATION),
    ],
)
async def test_camera_side_report_feeds_the_same_entity(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    vigil_server: VigilServer,
    name: str,
    entity_id: str,
) -> None:
    """A camera's own report turns Vigil's entity on, named as its source."""
    report(vigil_server, name, True)
    await wait_until(hass, lambda: _state(hass, entity_id) == STATE_ON, f"{name} on")
    assert _attributes(hass, entity_id)["source"] == ["onvif"]
    assert _attributes(hass, entity_id)["score"] == 1.0
    event = _attributes(hass, TAMPER)
    assert event["event_type"].endswith("_started")
    assert (event["source"], event["report"]) == ("onvif", name)

    report(vigil_server, name, False)
    await wait_until(hass, lambda: _state(hass, entity_id) == STATE_OFF, f"{name} off")
    assert _event_type(hass).endswith("_ended")


async def test_vigil_and_camera_reports_merge(
    hass: HomeAssistant, loaded: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """A condition stays on while any source reports it; it starts and ends once."""
    fired: list[str] = []

    @callback
    def on_event(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.attributes.get("event_type"):
            fired.append(new.attributes["event_type"])

    unsubscribe = async_track_state_change_event(hass, TAMPER, on_event)
    report(vigil_server, "too_dark", True, score=0.9)
    health(vigil_server, "obstruction", EventPhase.STARTED, 0.8)
    await wait_until(
        hass, lambda: _attributes(hass, OBSTRUCTION)["source"] == ["onvif", "vigil"], "both"
    )
    assert _attributes(hass, OBSTRUCTION)["score"] == 0.9

    report(vigil_server, "too_dark", False)
    await wait_until(hass, lambda: _attributes(hass, OBSTRUCTION)["source"] == ["vigil"], "vigil")
    assert _state(hass, OBSTRUCTION) == STATE_ON
    assert _attributes(hass, OBSTRUCTION)["score"] == 0.8

    health(vigil_server, "obstruction", EventPhase.ENDED, 0.2)
    await wait_until(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the end")
    assert fired == ["obstruction_started", "obstruction_ended"]
    assert _attributes(hass, TAMPER)["source"] == "vigil"
    unsubscribe()


@pytest.fixture
def recapture(vigil_server: VigilServer) -> Iterator[MagicMock]:
    """Record the re-captures the real server's engine carries out."""
    engine = vigil_server.engine
    assert engine is not None
    with patch.object(engine, "recapture_reference", wraps=engine.recapture_reference) as spy:
        yield spy


async def test_button_recaptures_the_reference(
    hass: HomeAssistant, loaded: MockConfigEntry, recapture: MagicMock
) -> None:
    """The button asks the server to re-capture; the server's refusal is a translated error."""
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
    loaded: MockConfigEntry,
    recapture: MagicMock,
    device_registry: dr.DeviceRegistry,
    area_registry: ar.AreaRegistry,
    label_registry: lr.LabelRegistry,
    floor_registry: fr.FloorRegistry,
) -> None:
    """The action takes the camera's device, any of its entities, an area, floor, label, or all."""
    camera = device_registry.async_get_device(identifiers={(DOMAIN, camera_uid_of(hass))})
    server = device_registry.async_get_device(identifiers={(DOMAIN, ENTRY_ID)})
    assert camera is not None
    assert server is not None
    ground = floor_registry.async_create("Ground floor")
    porch = area_registry.async_create("Porch", floor_id=ground.floor_id)
    outdoor = label_registry.async_create("Outdoor")
    device_registry.async_update_device(camera.id, area_id=porch.id, labels={outdoor.label_id})
    for target in (
        {"device_id": camera.id},
        {"entity_id": RECAPTURE},
        {"entity_id": [OBSTRUCTION, "light.unrelated"]},
        {"area_id": porch.id},
        {"floor_id": ground.floor_id},
        {"label_id": outdoor.label_id},
        {"entity_id": "all"},
    ):
        recapture.reset_mock()
        await hass.services.async_call(DOMAIN, "recapture_reference", target=target, blocking=True)
        recapture.assert_called_once_with(CAMERA_SLUG)

    # Neither the server's device nor its button is a camera: refused, nothing re-captured.
    recapture.reset_mock()
    for target in ({"device_id": server.id}, {"entity_id": ASSESSMENT}):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "recapture_reference", target=target, blocking=True
            )
        assert err.value.translation_key == "no_camera_targeted"
    recapture.assert_not_called()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"orientation": False, "stream_loss": False},
            {OBSTRUCTION, DEFOCUS, TAMPER, RECAPTURE},
        ),
        ({"obstruction": False, "defocus": False, "orientation": False}, {STREAM_LOSS, TAMPER}),
        ({"enabled": False}, set()),
    ],
)
async def test_entities_follow_the_checks(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    settings: dict[str, Any],
    expected: set[str],
) -> None:
    """A camera gets entities for the checks the server runs; the button needs a view check."""
    with camera_settings(tamper=QUIET | settings):
        await setup_entry(hass, config_entry)
    found = {
        entry.entity_id
        for entry in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
        if entry.unique_id.rpartition(f"{camera_uid_of(hass)}_")[2] in KEYS
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
