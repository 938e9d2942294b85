"""End to end: Home Assistant on Frigate's detections over a real broker and restream.

Real peers on 127.0.0.1: mosquitto (Home Assistant's own MQTT integration connects to it),
Frigate 0.16's API behind its login, and GStreamer's RTSP server as go2rtc's restream. The
test publishes what Frigate publishes; the real engine runs with no detector model at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
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
    CONF_DOWNLOAD_MODELS,
    CONF_FRIGATE_CAMERAS,
    CONF_IMPORT_ZONES,
    DETECTIONS_FRIGATE,
    DOMAIN,
    SOURCE_FRIGATE,
    SUBENTRY_CAMERA,
)
from tests.integration.conftest import (  # noqa: F401 - fixtures used by name
    RtspServerFactory,
    rtsp_media_dir,
    rtsp_server,
)
from tests.support.frigate_api import FrigateApi, load_config
from tests.support.frigate_payloads import T0, person
from tests.support.mosquitto import Mosquitto, mosquitto, publish  # noqa: F401
from vigil_core.sources.frigate_tracks import needs_pixels

USER, PASSWORD = "admin", "frigate-pass"
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
    rtsp_server: RtspServerFactory,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    """Add Frigate's camera and zones through the flow; Frigate's person fills the porch.

    Then the broker restarts, then Frigate restarts (its API too): each time Vigil recovers
    by itself and the next person counts.
    """
    # Setting up Vigil resolves the detector model in the executor first, which parses the
    # model registry once for the process; that step is patched out below, so parse it here.
    from vigil_core.inference.registry import default_registry  # noqa: PLC0415

    await hass.async_add_executor_job(default_registry)
    restream = rtsp_server(size=(320, 180), fps=10, mount="/front_door")
    config = load_config("0.16")
    config["go2rtc"]["rtsp"] = {"listen": f":{restream.port}"}
    api = FrigateApi("0.16", username=USER, password=PASSWORD, config=config)
    await api.__aenter__()
    hub = MockConfigEntry(domain=DOMAIN, title="Vigil", data={CONF_DOWNLOAD_MODELS: False})
    hub.add_to_hass(hass)
    try:
        # The flow: Frigate's server, its camera on Frigate's detections, its zones imported.
        result = await hass.config_entries.subentries.async_init(
            (hub.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
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

        # Vigil starts: no detector model is needed, none is loaded.
        with patch("custom_components.vigil._resolve_detector", return_value=tmp_path / "none"):
            assert await hass.config_entries.async_setup(hub.entry_id)
            await hass.async_block_till_done()
            assert hub.state is ConfigEntryState.LOADED
            engine = hub.runtime_data.engine
            [camera_id] = engine.camera_ids
            camera = engine.pipeline(camera_id).camera
            # Tamper checks (when the privacy context allows them) read the restream at a low
            # rate; without them no frame is decoded at all.
            assert camera.fps == (2.0 if needs_pixels(camera) else 5.0)
            await wait_for(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the camera online")
            await asyncio.sleep(0.3)  # Home Assistant sends its subscriptions (cooldown 0.01 s)

            walker = await _walk_in(mosquitto, "1718987129.308396-aaaaaa", T0)
            await wait_for(hass, lambda: _state(hass, OCCUPIED) == STATE_ON, "the porch occupied")
            assert _state(hass, PEOPLE) == "1"
            await _walk_out(mosquitto, walker, T0 + 4)
            await wait_for(hass, lambda: _state(hass, OCCUPIED) == STATE_OFF, "the porch empty")

            # The broker restarts: Home Assistant reconnects and subscribes again.
            await asyncio.to_thread(mosquitto.restart)
            await wait_for(hass, lambda: not mqtt.is_connected(hass), "the broker gone", 10)
            await wait_for(hass, lambda: mqtt.is_connected(hass), "the broker back", 20)
            await asyncio.sleep(0.3)
            walker = await _walk_in(mosquitto, "1718987140.000000-bbbbbb", T0 + 11)
            await wait_for(hass, lambda: _state(hass, OCCUPIED) == STATE_ON, "occupied again")

            # Frigate restarts: offline (its objects go), its API comes back on the same port.
            await _publish(mosquitto, [("frigate/available", "offline")])
            await wait_for(
                hass, lambda: _state(hass, OCCUPIED) != STATE_ON, "Frigate's objects gone"
            )
            port = api.port
            await api.__aexit__(None, None, None)
            api = FrigateApi("0.16", username=USER, password=PASSWORD, config=config, port=port)
            await api.__aenter__()
            await _publish(mosquitto, [("frigate/available", "online")])
            # Vigil reloads (e.g. after a change): the restarted API is checked and accepted.
            assert await hass.config_entries.async_reload(hub.entry_id)
            await hass.async_block_till_done(wait_background_tasks=True)
            assert not list(hub.async_get_active_flows(hass, {"reauth"}))
            assert api.logins >= 1
            await wait_for(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "online again")
            await asyncio.sleep(0.3)
            await _walk_in(mosquitto, "1718987160.000000-cccccc", T0 + 31)
            await wait_for(hass, lambda: _state(hass, OCCUPIED) == STATE_ON, "after the restart")
            assert await hass.config_entries.async_unload(hub.entry_id)
            await hass.async_block_till_done()
    finally:
        await api.__aexit__(None, None, None)
