"""End to end: Home Assistant and `vigil-analytics serve` on Frigate's detections.

Real peers on 127.0.0.1: mosquitto (Home Assistant's own MQTT integration holds its settings,
and the Vigil server, a subprocess, subscribes to it itself), Frigate 0.16's API behind its
login, and GStreamer's RTSP server as go2rtc's restream. The test publishes what Frigate
publishes; the server's rules run on Frigate's tracked objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
import time
from unittest.mock import patch

from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_DETECTIONS,
    CONF_FRIGATE_CAMERAS,
    CONF_IMPORT_ZONES,
    DETECTIONS_FRIGATE,
    SOURCE_FRIGATE,
    SUBENTRY_CAMERA,
)
from tests.ha.conftest import ProcessFactory
from tests.ha.flows import frigate_config
from tests.ha.test_end_to_end import add_server
from tests.integration.conftest import RtspServerFactory
from tests.support.frigate_api import FrigateApi
from tests.support.frigate_payloads import T0, person
from tests.support.mosquitto import Mosquitto, mosquitto, publish  # noqa: F401

USER, PASSWORD = "admin", "frigate-pass"
pytestmark = pytest.mark.slow

OCCUPIED = "binary_sensor.front_door_porch_occupied"
PEOPLE = "sensor.front_door_porch_people"
PROBLEM = "binary_sensor.front_door_stream_problem"
COOLDOWNS = ("DISCOVERY_COOLDOWN", "INITIAL_SUBSCRIBE_COOLDOWN", "SUBSCRIBE_COOLDOWN")


async def wait_for(
    hass: HomeAssistant, condition: Callable[[], bool], what: str, timeout_s: float = 15
) -> None:
    """Poll `condition` on the loop until it holds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            states = {e: _state(hass, e) for e in (OCCUPIED, PEOPLE, PROBLEM)}
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}; states {states}")
        await asyncio.sleep(0.05)


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state else None


@pytest.fixture
def fast_mqtt() -> Iterator[None]:
    """Let Home Assistant's MQTT client subscribe (and reconnect) at once, not after seconds."""
    with (
        patch(f"homeassistant.components.mqtt.client.{COOLDOWNS[0]}", 0.01),
        patch(f"homeassistant.components.mqtt.client.{COOLDOWNS[1]}", 0.01),
        patch(f"homeassistant.components.mqtt.client.{COOLDOWNS[2]}", 0.01),
        patch("homeassistant.components.mqtt.client.RECONNECT_INTERVAL_SECONDS", 0.5),
    ):
        yield


@pytest.fixture
async def ha_mqtt(
    hass: HomeAssistant,
    mosquitto: Mosquitto,  # noqa: F811 - the imported fixture
    mock_hass_config: None,
    fast_mqtt: None,
) -> AsyncIterator[MockConfigEntry]:
    """Set up Home Assistant's MQTT integration on the test broker."""
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={mqtt.CONF_BROKER: "127.0.0.1", "port": mosquitto.port},
        options={mqtt.CONF_BIRTH_MESSAGE: {}, "discovery": False},
        version=1,
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(hass, lambda: mqtt.is_connected(hass), "Home Assistant's MQTT connected")
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _publish(broker: Mosquitto, messages: list[tuple[str, object]]) -> None:
    await asyncio.to_thread(publish, broker.port, messages)


async def _walk_in(broker: Mosquitto, event_id: str, start: float) -> object:
    """Publish a person walking into the porch; return them to end the walk later."""
    walker = person("0.16", event_id, start)
    walker.zones = walker.entered = ["porch"]
    await _publish(
        broker,
        [
            walker.message("new", walker.state(start, 0.88, 0.92)),
            walker.message("update", walker.state(start + 2, 0.3, 0.92)),
        ],
    )
    return walker


async def _walk_out(broker: Mosquitto, walker: object, at: float) -> None:
    assert hasattr(walker, "message")
    await _publish(broker, [walker.message("end", walker.state(at, 0.3, 0.92, end=True))])


async def test_frigate_detections_end_to_end(
    hass: HomeAssistant,
    ha_mqtt: MockConfigEntry,
    mosquitto: Mosquitto,  # noqa: F811 - the imported fixture
    rtsp_server: RtspServerFactory,
    serve: ProcessFactory,
) -> None:
    """Add Frigate's camera and zones through the flow; Frigate's person fills the porch.

    Then the broker restarts, then Frigate restarts (its API too): each time Vigil recovers
    by itself and the next person counts.
    """
    restream = rtsp_server(size=(320, 180), fps=10, mount="/front_door")
    config = frigate_config("0.16", restream.url)
    api = FrigateApi("0.16", username=USER, password=PASSWORD, config=config)
    await api.__aenter__()
    try:
        entry = await add_server(hass, await serve(), "private_home")
        # The flow: Frigate's server, its camera on Frigate's detections, its zones imported.
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {"next_step_id": SOURCE_FRIGATE}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {
                CONF_URL: api.url,
                CONF_USERNAME: USER,
                CONF_PASSWORD: PASSWORD,
                CONF_VERIFY_SSL: True,
            },
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {
                CONF_FRIGATE_CAMERAS: ["front_door"],
                CONF_DETECTIONS: DETECTIONS_FRIGATE,
                CONF_IMPORT_ZONES: True,
            },
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["description_placeholders"] == {"cameras": "1", "zones": "2"}
        await hass.async_block_till_done()
        await wait_for(hass, lambda: entry.state is ConfigEntryState.LOADED, "the entry reloaded")
        await wait_for(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the camera online", 60)

        # The server subscribes to Frigate's topics as it starts the camera: walk in until seen.
        walker = await _walk_in_until_seen(hass, mosquitto, "1718987129.308396-aaaaaa", T0)
        assert _state(hass, PEOPLE) == "1"
        await _walk_out(mosquitto, walker, T0 + 4)
        await wait_for(hass, lambda: _state(hass, OCCUPIED) == STATE_OFF, "the porch empty", 60)

        # The broker restarts: the server's MQTT client connects and subscribes again.
        await asyncio.to_thread(mosquitto.restart)
        await _walk_in_until_seen(hass, mosquitto, "1718987140.000000-bbbbbb", T0 + 11)

        # Frigate restarts: offline (its objects go), its API comes back on the same port.
        await _publish(mosquitto, [("frigate/available", "offline")])
        await wait_for(hass, lambda: _state(hass, OCCUPIED) != STATE_ON, "Frigate's objects gone")
        port = api.port
        await api.__aexit__(None, None, None)
        api = FrigateApi("0.16", username=USER, password=PASSWORD, config=config, port=port)
        await api.__aenter__()
        await _publish(mosquitto, [("frigate/available", "online")])
        # Vigil reloads (e.g. after a change): the camera runs on, the next person counts.
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        await wait_for(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "online again", 60)
        await _walk_in_until_seen(hass, mosquitto, "1718987160.000000-cccccc", T0 + 31)
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    finally:
        await api.__aexit__(None, None, None)


async def _walk_in_until_seen(
    hass: HomeAssistant, broker: Mosquitto, event_id: str, start: float
) -> object:
    """Walk a person in, again while the server is still (re)subscribing, until it counts.

    A message published before the server's MQTT client has subscribed (again) is lost, as
    with any MQTT subscriber; Frigate itself sends an update of each tracked object every
    second, which this repeats.
    """
    deadline = time.monotonic() + 120
    walker: object = None
    while _state(hass, OCCUPIED) != STATE_ON:
        if time.monotonic() > deadline:
            pytest.fail(f"the person {event_id} never counted")
        walker = await _walk_in(broker, event_id, start)
        seen_by = time.monotonic() + 2
        while _state(hass, OCCUPIED) != STATE_ON and time.monotonic() < seen_by:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polls Home Assistant's state, as wait_until does
    await hass.async_block_till_done()
    return walker
