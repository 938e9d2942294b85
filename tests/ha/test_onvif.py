"""ONVIF cameras in Home Assistant: discovery, setup, camera-side events as entities, reauth.

The camera is the ONVIF emulator on 127.0.0.1 (WS-Security digest checked, PullPoint events from
the recorded samples); WS-Discovery answers come from a responder on 127.0.0.1. The engine is the
FakeEngine (no detector), whose bus carries the camera-side events exactly as the real one does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
import time
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.vigil.const import (
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    CONF_PROFILE,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    DOMAIN,
    SOURCE_ONVIF,
    SUBENTRY_CAMERA,
)
from custom_components.vigil.onvif_entities import (
    BINARY_SENSORS,
    COUNT_SENSOR,
    LINE_CROSSING_EVENT,
    TOPIC_EVENT,
)
from tests.ha.conftest import FakeEngine, setup_entry
from tests.ha.translations import load
from tests.support.onvif_emulator import SUB_TOKEN, OnvifEmulator
from tests.support.onvif_event_service import topic_of
from vigil_core.events.model import RuleEvent
from vigil_core.sources.onvif_events import OnvifEventSettings
from vigil_core.sources.onvif_messages import normalize_topic

pytestmark = pytest.mark.usefixtures("socket_enabled")

USER = "ha-viewer"
PASSWORD = "Ha/p@ss:1"
ONVIF_ID = "01JVIGIL0000000000000ONVIF"
ONVIF_SLUG = ONVIF_ID.lower()
HUB_DATA = {CONF_DOWNLOAD_MODELS: False, CONF_DEPLOYMENT_CONTEXT: "private_home"}
FAST = OnvifEventSettings(
    pull_timeout_s=1.0, request_timeout_s=3.0, retry_min_s=0.2, retry_max_s=0.5, pulse_hold_s=0.3
)
SAMPLES = [
    "hikvision_cell_motion",
    "hikvision_field_detector",
    "hikvision_line_detector",
    "hikvision_count_aggregation",
    "hikvision_tamper",
    "hikvision_scene_change",
    "onvif_too_blurry",
    "hikvision_too_dark",
    "onvif_too_bright",
    "hikvision_alarm_in",
    "onvif_detected_sound",
    "reolink_people",
    "reolink_vehicle",
    "reolink_dog_cat",
    "reolink_face",
    "reolink_package",
    "reolink_visitor",
    "avigilon_object_crosses",
]
# Entities the samples' topics call for, and the sample (with values) that turns each on.
BINARY = {
    "binary_sensor.gate_camera_motion": ("hikvision_cell_motion", {}),
    "binary_sensor.gate_camera_intrusion_zone": ("hikvision_field_detector", {"object_id": 3}),
    "binary_sensor.gate_camera_alarm_input": ("hikvision_alarm_in", {}),
    "binary_sensor.gate_camera_sound_detection": ("onvif_detected_sound", {}),
    "binary_sensor.gate_camera_person_detection": ("reolink_people", {}),
    "binary_sensor.gate_camera_vehicle_detection": ("reolink_vehicle", {}),
    "binary_sensor.gate_camera_animal_detection": ("reolink_dog_cat", {}),
    "binary_sensor.gate_camera_face_detection": ("reolink_face", {}),
    "binary_sensor.gate_camera_package_detection": ("reolink_package", {}),
    "binary_sensor.gate_camera_visitor": ("reolink_visitor", {}),
}
# Camera-health topics feed Vigil's tamper conditions on the bus, not entities of their own.
HEALTH = {
    "hikvision_tamper": ("obstruction", "tamper"),
    "hikvision_scene_change": ("orientation_change", "scene_change"),
    "onvif_too_blurry": ("defocus", "too_blurry"),
    "hikvision_too_dark": ("obstruction", "too_dark"),
    "onvif_too_bright": ("obstruction", "too_bright"),
}
LINE = "event.gate_camera_line_crossing"
COUNT = "sensor.gate_camera_count"
TOPIC = "event.gate_camera_event_objectcrosses"


@pytest.fixture(autouse=True)
def fast_events() -> Iterator[None]:
    """Pull, renew and retry in fractions of a second."""
    with patch("custom_components.vigil.onvif_runtime.EVENT_SETTINGS", FAST):
        yield


def _emulator(**kwargs: Any) -> OnvifEmulator:
    camera = OnvifEmulator(username=USER, password=PASSWORD, clock_skew_s=3600, **kwargs)
    camera.events.announce(*(normalize_topic(topic_of(name)) for name in SAMPLES))
    for name in SAMPLES:
        if name not in ("hikvision_line_detector", "avigilon_object_crosses"):
            camera.events.properties[normalize_topic(topic_of(name))] = (name, _values(name, False))
    return camera


def _values(name: str, on: bool) -> dict[str, object]:
    values: dict[str, object] = {"state": "true" if on else "false", "object_id": 3}
    if name == "hikvision_count_aggregation":
        values = {"count": 5 if on else 0}
    return values


@pytest.fixture
async def camera() -> AsyncIterator[OnvifEmulator]:
    async with _emulator() as emulator:
        yield emulator


def _onvif_subentry(camera: OnvifEmulator, password: str = PASSWORD) -> ConfigSubentryData:
    return ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_ONVIF,
            CONF_HOST: camera.host,
            CONF_PORT: camera.port,
            CONF_USERNAME: USER,
            CONF_PASSWORD: password,
            CONF_PROFILE: SUB_TOKEN,
            CONF_STREAM_URL: camera.stream_uri(SUB_TOKEN),
        },
        subentry_id=ONVIF_ID,
        subentry_type=SUBENTRY_CAMERA,
        title="Gate",
        unique_id=f"onvif://127.0.0.1:{camera.port}/{SUB_TOKEN}",
    )


def _entry(camera: OnvifEmulator, password: str = PASSWORD) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        data=HUB_DATA,
        subentries_data=[_onvif_subentry(camera, password)],
    )


async def wait_for(hass: HomeAssistant, condition: Callable[[], bool], what: str) -> None:
    """Let the loop run until `condition` holds (8 s at most)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > 8:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    await hass.async_block_till_done()


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def _loaded(hass: HomeAssistant, camera: OnvifEmulator) -> MockConfigEntry:
    entry = _entry(camera)
    await setup_entry(hass, entry)
    await wait_for(hass, lambda: _state(hass, BINARY_KEYS[0]) == STATE_OFF, "the entities")
    return entry


BINARY_KEYS = list(BINARY)


async def test_every_mapped_topic_reaches_its_entity(
    hass: HomeAssistant, engines: list[FakeEngine], camera: OnvifEmulator
) -> None:
    """Each announced topic has its entity; each sample turns it on and off again."""
    health: list[RuleEvent] = []
    await _loaded(hass, camera)
    engines[0].bus.subscribe(
        lambda event: (
            health.append(event)
            if isinstance(event, RuleEvent) and event.rule_id == "tamper"
            else None
        )
    )
    registry = er.async_get(hass)
    onvif_entities = sorted(
        entry.entity_id for entry in registry.entities.values() if "_onvif_" in entry.unique_id
    )
    assert onvif_entities == sorted([*BINARY, LINE, COUNT, TOPIC])

    for entity_id, (name, extra) in BINARY.items():
        camera.events.change(name, **(_values(name, True) | extra))
        await wait_for(hass, lambda e=entity_id: _state(hass, e) == STATE_ON, entity_id)
        attributes = hass.states.get(entity_id).attributes  # type: ignore[union-attr]
        assert attributes["source"] == "onvif"
        assert attributes["rules"]
        camera.events.change(name, **_values(name, False))
        await wait_for(hass, lambda e=entity_id: _state(hass, e) == STATE_OFF, f"{entity_id} off")

    camera.events.emit("hikvision_line_detector", object_id=15)
    await wait_for(hass, lambda: _state(hass, LINE) not in (STATE_UNKNOWN, None), "the crossing")
    crossing = hass.states.get(LINE)
    assert crossing is not None
    assert crossing.attributes["event_type"] == "crossed"
    assert (crossing.attributes["rule"], crossing.attributes["object_id"]) == (
        "MyLineDetector1",
        15,
    )
    assert crossing.attributes["source"] == "onvif"

    camera.events.change("hikvision_count_aggregation", count=5)
    await wait_for(hass, lambda: _state(hass, COUNT) == "5", "the count")
    assert hass.states.get(COUNT).attributes["counts"] == {"MyCountAggregation1": 5}  # type: ignore[union-attr]

    for name, (condition, report) in HEALTH.items():
        camera.events.change(name, state="true")
        camera.events.change(name, state="false")
        expected = [(condition, "started"), (condition, "ended")]
        await wait_for(hass, lambda r=report, x=expected: _reports(health, r) == x, condition)
    assert {e.source for e in health} == {"onvif"}


async def test_unknown_topic_reaches_a_generic_event_entity(
    hass: HomeAssistant, engines: list[FakeEngine], camera: OnvifEmulator
) -> None:
    """An announced unknown topic has an event entity; an unannounced one gets one on arrival."""
    await _loaded(hass, camera)
    camera.events.emit("avigilon_object_crosses", event_id=12439)
    await wait_for(hass, lambda: _state(hass, TOPIC) not in (STATE_UNKNOWN, None), "the event")
    state = hass.states.get(TOPIC)
    assert state is not None
    assert state.attributes["event_type"] == "event"
    assert state.attributes["topic"] == "tns1:RuleEngine/tnsavg:ObjectCrosses"
    assert state.attributes["key_items"] == {"EventId": "12439"}
    assert state.attributes["data"] == {"ChannelId": "0", "ObjectType": "1"}
    assert state.attributes["source"] == "onvif"

    camera.events.change("hikvision_last_reboot", status="2024-05-25T23:59:38Z")
    reboot = "event.gate_camera_event_lastreboot"
    await wait_for(hass, lambda: _state(hass, reboot) not in (STATE_UNKNOWN, None), "new entity")
    entry = er.async_get(hass).async_get(reboot)
    assert entry is not None and entry.entity_category == "diagnostic"


async def test_diagnostics_show_the_event_channel_without_secrets(
    hass: HomeAssistant,
    engines: list[FakeEngine],
    camera: OnvifEmulator,
    hass_client: ClientSessionGenerator,
) -> None:
    entry = await _loaded(hass, camera)
    camera.events.change("hikvision_cell_motion", state="true")
    await wait_for(hass, lambda: _state(hass, "binary_sensor.gate_camera_motion") == STATE_ON, "on")

    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    events = result["cameras"][ONVIF_SLUG]["camera_events"]
    assert events["state"] == "pullpoint"
    assert "tns1:RuleEngine/CellMotionDetector/Motion" in events["topics"]
    assert events["active"] == {"motion": ["MyMotionDetectorRule"]}
    for secret in (PASSWORD, USER, f"127.0.0.1:{camera.port}"):
        assert secret not in str(result)


async def test_entities_survive_a_restart_with_the_camera_offline(
    hass: HomeAssistant, engines: list[FakeEngine], camera: OnvifEmulator
) -> None:
    """The announced topics are stored: the entities come back, unavailable, while offline."""
    entry = await _loaded(hass, camera)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    camera.down_until = asyncio.get_running_loop().time() + 60
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(
        hass, lambda: engines[-1].event_sources[0].status.state.value == "offline", "offline"
    )

    assert _state(hass, "binary_sensor.gate_camera_motion") == STATE_UNAVAILABLE
    assert _state(hass, TOPIC) == STATE_UNAVAILABLE

    camera.down_until = 0.0
    await wait_for(
        hass, lambda: _state(hass, "binary_sensor.gate_camera_motion") == STATE_OFF, "back"
    )


async def test_reboot_makes_entities_unavailable_then_recovers(
    hass: HomeAssistant, engines: list[FakeEngine], camera: OnvifEmulator
) -> None:
    """While the camera reboots its entities are unavailable; they come back on their own."""
    await _loaded(hass, camera)
    motion = "binary_sensor.gate_camera_motion"
    camera.events.reboot(downtime_s=1.0)
    await wait_for(hass, lambda: _state(hass, motion) == STATE_UNAVAILABLE, "unavailable")
    await wait_for(hass, lambda: _state(hass, motion) == STATE_OFF, "available again")
    camera.events.change("hikvision_cell_motion", state="true")
    await wait_for(hass, lambda: _state(hass, motion) == STATE_ON, "motion after the reboot")
    assert camera.events.created == 2


async def test_camera_without_events_has_no_event_entities(
    hass: HomeAssistant, engines: list[FakeEngine]
) -> None:
    async with _emulator(events="none") as camera:
        entry = _entry(camera)
        await setup_entry(hass, entry)
        source = engines[0].event_sources[0]
        await wait_for(hass, lambda: source.status.state.value == "unsupported", "unsupported")

    assert not [e for e in er.async_get(hass).entities.values() if "_onvif_" in e.unique_id]


def test_entity_strings_and_icons() -> None:
    """Every ONVIF entity description has a name and an icon; event types are translated."""
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    en = load("en")["entity"]
    icons_path = Path(__file__).resolve().parents[2] / "custom_components/vigil/icons.json"
    icons = json.loads(icons_path.read_text())["entity"]
    descriptions = [
        *(("binary_sensor", d) for d in BINARY_SENSORS.values()),
        ("sensor", COUNT_SENSOR),
        ("event", LINE_CROSSING_EVENT),
        ("event", TOPIC_EVENT),
    ]
    for platform, description in descriptions:
        assert description.translation_key in en[platform], description.key
        assert description.translation_key in icons[platform], description.key
    for description in (LINE_CROSSING_EVENT, TOPIC_EVENT):
        states = en["event"][description.translation_key]["state_attributes"]["event_type"]
        assert set(description.event_types or []) <= set(states["state"])


def _reports(events: list[RuleEvent], report: str) -> list[tuple[str, str]]:
    return [(e.kind, e.phase.value) for e in events if e.attrs["report"] == report]
