"""End to end: an ONVIF camera found on the network, set up through the flows, on the real engine.

The emulated camera answers WS-Discovery on 127.0.0.1, checks WS-Security digests on a clock an
hour ahead, hands out a stream URI that points at GStreamer's RTSP server (a live test pattern),
and raises camera-side events over PullPoint. Home Assistant and the engine are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import time
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import (
    CONF_HOST,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.vigil.const import (
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    CONF_MODELS_DIR,
    CONF_PROFILE,
    DOMAIN,
    SOURCE_ONVIF,
    SUBENTRY_CAMERA,
)
from tests.integration.conftest import (  # noqa: F401 - fixtures used by name
    RtspServerFactory,
    rtsp_media_dir,
    rtsp_server,
)
from tests.support.onvif_emulator import SUB_TOKEN, OnvifEmulator
from tests.support.onvif_event_service import topic_of
from tests.support.ws_discovery import Answer, DiscoveryResponder
from vigil_core.sources.onvif_events import OnvifEventSettings

USER = "e2e-operator"
PASSWORD = "E2e/p@ss"
MOTION = "binary_sensor.porch_camera_motion"
CROSSING = "event.porch_camera_line_crossing"
PROBLEM = "binary_sensor.porch_stream_problem"


async def wait_for(hass: HomeAssistant, condition: Callable[[], bool], what: str) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > 30:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def test_onvif_camera_end_to_end(
    hass: HomeAssistant,
    rtsp_server: RtspServerFactory,  # noqa: F811 - the imported fixture
    models_dir: Path,
) -> None:
    server = rtsp_server()
    camera = OnvifEmulator(
        username=USER,
        password=PASSWORD,
        clock_skew_s=3600,
        stream_uris={SUB_TOKEN: server.url},
    )
    camera.events.announce(topic_of("hikvision_cell_motion"), topic_of("hikvision_line_detector"))
    camera.events.change("hikvision_cell_motion", state="false")
    fast = OnvifEventSettings(pull_timeout_s=1.0, retry_min_s=0.2, retry_max_s=1.0)
    async with (
        camera,
        DiscoveryResponder(Answer("Porch", "AV-IPC-4MP", camera.host, camera.port)) as responder,
    ):
        with (
            patch("custom_components.vigil.onvif_flow.DISCOVERY_TARGETS", [responder.target]),
            patch("custom_components.vigil.onvif_flow.DISCOVERY_TIMEOUT_S", 0.2),
            patch("custom_components.vigil.onvif_runtime.EVENT_SETTINGS", fast),
        ):
            result = await hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_USER}
            )
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_MODELS_DIR: str(models_dir), CONF_DOWNLOAD_MODELS: False}
            )
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "private_home"}
            )
            assert result["type"] is FlowResultType.CREATE_ENTRY
            await hass.async_block_till_done()
            entry = hass.config_entries.async_entries(DOMAIN)[0]

            result = await hass.config_entries.subentries.async_init(
                (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
            )
            result = await hass.config_entries.subentries.async_configure(
                result["flow_id"], {"next_step_id": SOURCE_ONVIF}
            )
            assert result["step_id"] == "onvif_discovery"
            (device, _manual) = result["data_schema"].schema["device"].config["options"]
            result = await hass.config_entries.subentries.async_configure(
                result["flow_id"], {"device": device["value"]}
            )
            result = await hass.config_entries.subentries.async_configure(
                result["flow_id"],
                {CONF_NAME: "Porch", CONF_HOST: camera.host, CONF_PORT: camera.port,
                 CONF_USERNAME: USER, CONF_PASSWORD: PASSWORD},
            )  # fmt: skip
            assert result["step_id"] == "onvif_profile"
            # The sub-stream is offered first; the flow opens it for real before saving.
            result = await hass.config_entries.subentries.async_configure(
                result["flow_id"], {CONF_PROFILE: SUB_TOKEN}
            )
            assert result["type"] is FlowResultType.CREATE_ENTRY
            await hass.async_block_till_done()

            await wait_for(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the stream online")
            await wait_for(hass, lambda: _state(hass, MOTION) == STATE_OFF, "the camera's events")
            camera.events.change("hikvision_cell_motion", state="true")
            camera.events.emit("hikvision_line_detector", object_id=9)
            await wait_for(hass, lambda: _state(hass, MOTION) == STATE_ON, "camera motion")
            await wait_for(
                hass, lambda: _state(hass, CROSSING) not in (None, "unknown"), "crossing"
            )

            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()

    assert camera.auth_failures == []
    assert camera.events.unsubscribed == 1
