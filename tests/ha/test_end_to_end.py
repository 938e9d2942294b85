"""End to end: a real Home Assistant, set up through its flows, on a real RTSP camera.

GStreamer's RTSP server on 127.0.0.1 streams PETS2009 `vtest.avi` in real time; the real engine
runs the real YOLOX-nano model from ../shared/models. People cross the zone within seconds of
the clip's start, so every wait below is a poll against a generous deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import time

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME, CONF_URL, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.event import async_track_state_change_event
import pytest

from custom_components.vigil.const import (
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    CONF_INERTIA,
    CONF_MODELS_DIR,
    CONF_POLYGON,
    DOMAIN,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from tests.integration.conftest import (  # noqa: F401 - fixtures used by name
    RtspServerFactory,
    rtsp_media_dir,
    rtsp_server,
)
from tests.support.shared import media

# The crossroads of the PETS2009 view, where people walk from the first second of the clip.
CROSSROADS = "0.42,0.36 0.90,0.20 0.97,0.50 0.70,0.62 0.45,0.52"
OCCUPIED = "binary_sensor.pets2009_crossroads_occupied"
PEOPLE = "sensor.pets2009_crossroads_people"
ACTIVITY = "event.pets2009_crossroads_activity"
PROBLEM = "binary_sensor.pets2009_stream_problem"
FRAME = "image.pets2009_analysed_frame"


async def wait_for(
    hass: HomeAssistant, condition: Callable[[], bool], what: str, timeout_s: float
) -> float:
    """Poll `condition` on the loop until it holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            states = {e: _state(hass, e) for e in (OCCUPIED, PEOPLE, ACTIVITY, PROBLEM)}
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}; states {states}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state else None


async def test_rtsp_camera_zone_end_to_end(
    hass: HomeAssistant,
    rtsp_server: RtspServerFactory,  # noqa: F811 - the imported fixture
    models_dir: Path,
) -> None:
    """Set up through the flows; people enter the zone; the stream drops and comes back."""
    server = rtsp_server(media("vtest.avi"))

    # The hub, pointed at the shared models, downloads off, on private premises.
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODELS_DIR: str(models_dir), CONF_DOWNLOAD_MODELS: False}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "private_premises"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED

    # The camera, by its RTSP URL: the flow opens the real stream before saving.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "stream"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "PETS2009", CONF_URL: server.url}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    camera_id = next(iter(entry.subentries))
    await wait_for(hass, lambda: _state(hass, PROBLEM) == "off", "the stream online", 30)

    # The zone, checked on the running camera's picture, then saved.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ZONE), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Crossroads", CONF_CAMERA: camera_id}
    )
    assert result["step_id"] == "zone"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_POLYGON: CROSSROADS, CONF_CLASSES: ["person"], CONF_INERTIA: 2}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "save"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY

    fired: list[State] = []

    def on_activity(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.attributes.get("event_type"):
            fired.append(new)

    unsubscribe = async_track_state_change_event(hass, ACTIVITY, on_activity)
    await hass.async_block_till_done()

    # People walk into the crossroads: occupancy, the count and the event entity follow.
    await wait_for(hass, lambda: _state(hass, OCCUPIED) == STATE_ON, "the zone occupied", 60)
    await wait_for(hass, lambda: int(_state(hass, PEOPLE) or 0) >= 2, "two people in the zone", 60)
    await wait_for(hass, lambda: bool(fired), "an entered event", 10)
    entered = fired[0].attributes
    assert entered["event_type"] == "entered"
    assert entered["object_class"] == "person"
    assert isinstance(entered["track_id"], int)
    await wait_for(hass, lambda: _state(hass, FRAME) not in (None, "unknown"), "a frame", 30)

    # The camera goes away: its entities go unavailable; the problem sensor says why.
    await hass.async_add_executor_job(server.stop)
    await wait_for(
        hass, lambda: _state(hass, OCCUPIED) == STATE_UNAVAILABLE, "entities unavailable", 30
    )
    assert _state(hass, PEOPLE) == STATE_UNAVAILABLE
    assert _state(hass, PROBLEM) == STATE_ON

    # It comes back on the same address: everything recovers by itself.
    await hass.async_add_executor_job(server.start)
    await wait_for(
        hass, lambda: _state(hass, OCCUPIED) not in (None, STATE_UNAVAILABLE), "recovery", 60
    )
    assert _state(hass, PROBLEM) == "off"
    assert _state(hass, PEOPLE) != STATE_UNAVAILABLE

    unsubscribe()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
