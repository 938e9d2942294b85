"""End to end: an ONVIF camera found on the network, set up through the flows, on a real server.

The emulated camera answers WS-Discovery on 127.0.0.1 (the server, a `vigil-analytics serve`
subprocess, probes it there), checks WS-Security digests on a clock an hour ahead, hands out a
stream URI that points at GStreamer's RTSP server (a live test pattern), and raises camera-side
events over PullPoint. Home Assistant and the server are real.
"""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.const import (
    CONF_HOST,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
    STATE_OFF,
    STATE_ON,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.vigil.const import CONF_PROFILE, SOURCE_ONVIF
from tests.ha.conftest import ProcessFactory, wait_until
from tests.ha.flows import start_camera_flow
from tests.ha.test_end_to_end import add_server
from tests.integration.conftest import RtspServerFactory
from tests.support.onvif_emulator import SUB_TOKEN, OnvifEmulator
from tests.support.onvif_event_service import topic_of
from tests.support.ws_discovery import Answer, DiscoveryResponder

pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.slow]

USER = "e2e-operator"
PASSWORD = "E2e/p@ss"
MOTION = "binary_sensor.porch_camera_motion"
CROSSING = "event.porch_camera_line_crossing"
PROBLEM = "binary_sensor.porch_stream_problem"


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def test_onvif_camera_end_to_end(
    hass: HomeAssistant, serve: ProcessFactory, rtsp_server: RtspServerFactory
) -> None:
    """Discovered, logged in, streamed and analysed; its own motion and crossings arrive."""
    stream = rtsp_server(size=(320, 180), fps=5)
    camera = OnvifEmulator(
        username=USER,
        password=PASSWORD,
        clock_skew_s=3600,
        stream_uris={SUB_TOKEN: stream.url},
    )
    camera.events.announce(topic_of("hikvision_cell_motion"), topic_of("hikvision_line_detector"))
    camera.events.change("hikvision_cell_motion", state="false")
    async with (
        camera,
        DiscoveryResponder(Answer("Porch", "AV-IPC-4MP", camera.host, camera.port)) as responder,
    ):
        host, port = responder.target
        process = await serve("--discovery-target", f"{host}:{port}")
        entry = await add_server(hass, process, "private_home")
        with patch("custom_components.vigil.onvif_flow.DISCOVERY_TIMEOUT_S", 0.5):
            result = await start_camera_flow(hass, entry, SOURCE_ONVIF)
        assert result["step_id"] == "onvif_discovery"
        device, _manual = result["data_schema"].schema["device"].config["options"]
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {"device": device["value"]}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {CONF_NAME: "Porch", CONF_HOST: camera.host, CONF_PORT: camera.port,
             CONF_USERNAME: USER, CONF_PASSWORD: PASSWORD},
        )  # fmt: skip
        assert result["step_id"] == "onvif_profile"
        # The sub-stream is offered first; the server opens it for real before saving.
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_PROFILE: SUB_TOKEN}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()

        await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the stream online")
        await wait_until(hass, lambda: _state(hass, MOTION) == STATE_OFF, "the camera's events")
        camera.events.change("hikvision_cell_motion", state="true")
        camera.events.emit("hikvision_line_detector", object_id=9)
        await wait_until(hass, lambda: _state(hass, MOTION) == STATE_ON, "camera motion")
        await wait_until(
            hass, lambda: _state(hass, CROSSING) not in (None, STATE_UNKNOWN), "a crossing"
        )
        assert await hass.config_entries.async_unload(entry.entry_id)

        # Stopped cleanly, the server ends its subscription with the camera.
        await hass.async_add_executor_job(process.stop)

    assert camera.auth_failures == []
    assert camera.events.unsubscribed == 1
