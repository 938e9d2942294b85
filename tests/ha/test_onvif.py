"""ONVIF cameras' own analytics in Home Assistant, through a real server and a real camera.

The camera is the ONVIF emulator on 127.0.0.1 (WS-Security digest checked, PullPoint events
from the recorded samples) and streams the session's live test pattern; a real in-process
Vigil server runs its event channel and publishes the channel, the topics and the camera's
events. The forms that add such a camera are tested in test_onvif_flow.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import json
from pathlib import Path
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
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.vigil.const import (
    CONF_PROFILE,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    DOMAIN,
    SOURCE_ONVIF,
    SUBENTRY_CAMERA,
)
from custom_components.vigil.issues import camera_auth_issue_id
from custom_components.vigil.onvif_entities import (
    BINARY_SENSORS,
    COUNT_SENSOR,
    LINE_CROSSING_EVENT,
    TOPIC_EVENT,
)
from tests.ha.conftest import (
    ENTRY_ID,
    QUIET_HEALTH,
    ServerFactory,
    camera_settings,
    server_data,
    setup_entry,
    wait_until,
)
from tests.ha.translations import load
from tests.support.onvif_emulator import SUB_TOKEN, OnvifEmulator
from tests.support.onvif_event_service import topic_of
from vigil_core.feeds.onvif_events import OnvifEventSettings
from vigil_core.feeds.onvif_messages import normalize_topic
from vigil_core.server import VigilServer

pytestmark = pytest.mark.usefixtures("socket_enabled")

USER = "ha-viewer"
PASSWORD = "Ha/p@ss:1"
ONVIF_ID = "01JVIGIL0000000000000ONVIF"
ONVIF_SLUG = ONVIF_ID.lower()
INTEGRATION = Path(__file__).resolve().parents[2] / "custom_components" / "vigil"
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
    "binary_sensor.gate_camera_package_detection": ("reolink_package", {}),
    "binary_sensor.gate_camera_visitor": ("reolink_visitor", {}),
}
# Camera-health topics feed Vigil's tamper conditions, not entities of their own.
HEALTH = {
    "hikvision_tamper": "binary_sensor.gate_obstruction",
    "hikvision_scene_change": "binary_sensor.gate_orientation_change",
    "onvif_too_blurry": "binary_sensor.gate_defocus",
    "hikvision_too_dark": "binary_sensor.gate_obstruction",
    "onvif_too_bright": "binary_sensor.gate_obstruction",
}
MOTION = "binary_sensor.gate_camera_motion"
LINE = "event.gate_camera_line_crossing"
COUNT = "sensor.gate_camera_count"
TOPIC = "event.gate_camera_event_objectcrosses"


@pytest.fixture(autouse=True)
def fast_events() -> Iterator[None]:
    """Pull, renew and retry in fractions of a second (the server's channel settings)."""
    with patch("vigil_core.feeds.onvif_events.OnvifEventSettings", lambda: FAST):
        yield


def _emulator(stream: str, **kwargs: Any) -> OnvifEmulator:
    camera = OnvifEmulator(
        username=USER,
        password=PASSWORD,
        clock_skew_s=3600,
        stream_uris={SUB_TOKEN: stream},
        **kwargs,
    )
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
async def camera(pattern_stream: str) -> AsyncIterator[OnvifEmulator]:
    """Return the emulated camera, streaming the live test pattern."""
    async with _emulator(pattern_stream) as emulator:
        yield emulator


def _entry(server: VigilServer, camera: OnvifEmulator, password: str = PASSWORD) -> MockConfigEntry:
    subentry = ConfigSubentryData(
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
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(server),
        subentries_data=[subentry],
    )


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


def _attributes(hass: HomeAssistant, entity_id: str) -> dict[str, Any]:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return dict(state.attributes)


async def _loaded(
    hass: HomeAssistant, server: VigilServer, camera: OnvifEmulator
) -> MockConfigEntry:
    entry = _entry(server, camera)
    with camera_settings(**QUIET_HEALTH):
        await setup_entry(hass, entry)
    await wait_until(hass, lambda: _state(hass, MOTION) == STATE_OFF, "the camera's events")
    return entry


def _onvif_entities(hass: HomeAssistant) -> list[str]:
    return sorted(
        entry.entity_id
        for entry in er.async_get(hass).entities.values()
        if "_onvif_" in entry.unique_id
    )


async def test_every_mapped_topic_reaches_its_entity(
    hass: HomeAssistant, vigil_server: VigilServer, camera: OnvifEmulator
) -> None:
    """Each announced topic has its entity; each sample turns it on and off again."""
    await _loaded(hass, vigil_server, camera)
    assert _onvif_entities(hass) == sorted([*BINARY, LINE, COUNT, TOPIC])

    for entity_id, (name, extra) in BINARY.items():
        camera.events.change(name, **(_values(name, True) | extra))
        await wait_until(hass, lambda e=entity_id: _state(hass, e) == STATE_ON, entity_id)
        attributes = _attributes(hass, entity_id)
        assert attributes["source"] == "onvif"
        assert attributes["rules"]
        camera.events.change(name, **_values(name, False))
        await wait_until(hass, lambda e=entity_id: _state(hass, e) == STATE_OFF, f"{entity_id} off")

    camera.events.emit("hikvision_line_detector", object_id=15)
    await wait_until(hass, lambda: _state(hass, LINE) not in (STATE_UNKNOWN, None), "a crossing")
    crossing = _attributes(hass, LINE)
    assert crossing["event_type"] == "crossed"
    assert (crossing["rule"], crossing["object_id"]) == ("MyLineDetector1", 15)
    assert crossing["source"] == "onvif"

    camera.events.change("hikvision_count_aggregation", count=5)
    await wait_until(hass, lambda: _state(hass, COUNT) == "5", "the count")
    assert _attributes(hass, COUNT)["counts"] == {"MyCountAggregation1": 5}

    # The camera's health reports turn Vigil's own condition on, with the camera as source.
    for name, entity_id in HEALTH.items():
        camera.events.change(name, state="true")
        await wait_until(hass, lambda e=entity_id: _state(hass, e) == STATE_ON, f"{name} on")
        assert _attributes(hass, entity_id)["source"] == ["onvif"]
        camera.events.change(name, state="false")
        await wait_until(hass, lambda e=entity_id: _state(hass, e) == STATE_OFF, f"{name} off")


async def test_unknown_topic_reaches_a_generic_event_entity(
    hass: HomeAssistant, vigil_server: VigilServer, camera: OnvifEmulator
) -> None:
    """An announced unknown topic has an event entity; an unannounced one gets one on arrival."""
    await _loaded(hass, vigil_server, camera)
    camera.events.emit("avigilon_object_crosses", event_id=12439)
    await wait_until(hass, lambda: _state(hass, TOPIC) not in (STATE_UNKNOWN, None), "the event")
    attributes = _attributes(hass, TOPIC)
    assert attributes["event_type"] == "event"
    assert attributes["topic"] == "tns1:RuleEngine/tnsavg:ObjectCrosses"
    # That the topic fired, its rule and video source: never the camera's other items.
    assert attributes["source_items"] == {
        "VideoSourceConfigurationToken": "camCfg0",
        "Rule": "Port Wrong",
    }
    assert attributes["key_items"] == {}
    assert attributes["data"] == {}
    assert attributes["source"] == "onvif"

    camera.events.change("hikvision_last_reboot", status="2024-05-25T23:59:38Z")
    reboot = "event.gate_camera_event_lastreboot"
    await wait_until(hass, lambda: _state(hass, reboot) is not None, "the new topic's entity")
    entry = er.async_get(hass).async_get(reboot)
    assert entry is not None
    assert entry.entity_category == "diagnostic"


async def test_diagnostics_show_the_event_channel_without_secrets(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    camera: OnvifEmulator,
    hass_client: ClientSessionGenerator,
) -> None:
    """The channel, its topics and the rules that are on; no login, password or address."""
    entry = await _loaded(hass, vigil_server, camera)
    camera.events.change("hikvision_cell_motion", state="true")
    await wait_until(hass, lambda: _state(hass, MOTION) == STATE_ON, "motion")

    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    onvif = result["states"]["cameras"][ONVIF_SLUG]["onvif"]
    assert onvif["channel"] == "pullpoint"
    motion = next(topic for topic in onvif["topics"] if topic["kind"] == "motion")
    assert motion["active"]
    assert "tamper" in onvif["health_reports"]
    for secret in (PASSWORD, USER, f"127.0.0.1:{camera.port}"):
        assert secret not in str(result)


async def test_entities_survive_a_server_restart_with_the_camera_offline(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    start_server: ServerFactory,
    camera: OnvifEmulator,
) -> None:
    """The server keeps the topics: after its restart the entities are there, unavailable."""
    entry = await _loaded(hass, vigil_server, camera)
    port, data = vigil_server.port, vigil_server.data.root
    await vigil_server.stop()
    await wait_until(hass, lambda: _state(hass, MOTION) == STATE_UNAVAILABLE, "the server gone")
    assert await hass.config_entries.async_unload(entry.entry_id)
    # The camera reboots for a long while; the server comes back on its own data.
    camera.down_until = hass.loop.time() + 600
    await start_server(data=data, port=port)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert _onvif_entities(hass) == sorted([*BINARY, LINE, COUNT, TOPIC])
    assert _state(hass, MOTION) == STATE_UNAVAILABLE
    assert _state(hass, TOPIC) == STATE_UNAVAILABLE

    camera.down_until = 0.0
    await wait_until(hass, lambda: _state(hass, MOTION) == STATE_OFF, "the camera back")


async def test_reboot_makes_entities_unavailable_then_recovers(
    hass: HomeAssistant, vigil_server: VigilServer, camera: OnvifEmulator
) -> None:
    """While the camera reboots its entities are unavailable; they come back on their own."""
    await _loaded(hass, vigil_server, camera)
    camera.events.reboot(downtime_s=1.0)
    await wait_until(hass, lambda: _state(hass, MOTION) == STATE_UNAVAILABLE, "unavailable")
    await wait_until(hass, lambda: _state(hass, MOTION) == STATE_OFF, "available again")
    camera.events.change("hikvision_cell_motion", state="true")
    await wait_until(hass, lambda: _state(hass, MOTION) == STATE_ON, "motion after the reboot")
    assert camera.events.created == 2


async def test_camera_without_events_has_no_event_entities(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A camera that offers no event service gets no camera-side entity."""
    async with _emulator(pattern_stream, events="none") as camera:
        entry = _entry(vigil_server, camera)
        with camera_settings(**QUIET_HEALTH):
            await setup_entry(hass, entry)
        store = entry.runtime_data.store
        await wait_until(
            hass,
            lambda: (
                getattr(store.state(ONVIF_SLUG, None, "onvif"), "channel", None) == "unsupported"
            ),
            "the channel unsupported",
        )
    assert _onvif_entities(hass) == []


async def test_refused_login_raises_a_fixable_issue(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    camera: OnvifEmulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Wrong credentials raise a repair issue at once, which points at the camera to fix."""
    entry = _entry(vigil_server, camera, password="Old-Pass")
    with camera_settings(**QUIET_HEALTH):
        await setup_entry(hass, entry)
    issue_id = camera_auth_issue_id(ENTRY_ID, ONVIF_SLUG)
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is not None, "the issue"
    )
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "camera_auth_failed"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["camera"] == "Gate"
    assert issue.data == {"subentry_id": ONVIF_ID}  # what repairs.py's fix flow reads
    assert camera.auth_failures
    assert _state(hass, MOTION) is None

    # The right password (what the repair flow stores) clears it once the camera accepts it.
    subentry = entry.subentries[ONVIF_ID]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_PASSWORD: PASSWORD}
    )
    await hass.async_block_till_done()
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None, "the issue gone"
    )


def test_entity_strings_and_icons() -> None:
    """Every ONVIF entity description has a name and an icon; event types are translated."""
    en = load("en")["entity"]
    icons = json.loads((INTEGRATION / "icons.json").read_text())["entity"]
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
