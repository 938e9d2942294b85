"""End to end: a real Home Assistant and a real `vigil-analytics serve`, on real RTSP cameras.

The server runs as its own process, as a user, the container or the add-on runs it; Home
Assistant is set up through its flows against it. GStreamer's RTSP server on 127.0.0.1 streams
PETS2009 `vtest.avi` in real time and the server runs the real YOLOX-nano model from
../shared/models. People cross the zone within seconds of the clip's start, so every wait
below polls against a generous deadline, never a fixed sleep.

Faults: the server killed (SIGKILL) and started again during a run, Home Assistant unloaded
and loaded again while the server keeps analysing, two servers with the cameras split and
one of them stopped.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentry,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_NAME,
    CONF_PORT,
    CONF_SSL,
    CONF_URL,
    CONF_VERIFY_SSL,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.event import async_track_state_change_event
import pytest

from custom_components.vigil.const import (
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_INERTIA,
    CONF_POLYGON,
    CONF_TOKEN,
    DOMAIN,
    SOURCE_STREAM,
    SUBENTRY_ZONE,
)
from custom_components.vigil.server_config import CONF_KIND, SUBENTRY_RULE
from tests.ha.conftest import ProcessFactory, wait_until
from tests.ha.flows import start_camera_flow
from tests.integration.conftest import RtspServerFactory
from tests.support.server_process import ServerProcess
from tests.support.shared import media

pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.slow]

# The crossroads of the PETS2009 view, where people walk from the first second of the clip.
CROSSROADS = "0.42,0.36 0.90,0.20 0.97,0.50 0.70,0.62 0.45,0.52"
# A line down the middle of the square, which people walking across it cross both ways.
MIDDLE = [[0.5, 0.1], [0.5, 0.9]]
OCCUPIED = "binary_sensor.pets2009_crossroads_occupied"
PEOPLE = "sensor.pets2009_crossroads_people"
ACTIVITY = "event.pets2009_crossroads_activity"
PROBLEM = "binary_sensor.pets2009_stream_problem"
FRAME = "image.pets2009_analysed_frame"
RATE = "sensor.pets2009_analysed_frame_rate"
EAST = "sensor.pets2009_middle_a_to_b"
WEST = "sensor.pets2009_middle_b_to_a"


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state else None


def _count(hass: HomeAssistant, entity_id: str) -> int:
    value = _state(hass, entity_id)
    return int(value) if value is not None and value.isdigit() else -1


async def add_server(
    hass: HomeAssistant, process: ServerProcess, context: str = "private_premises"
) -> ConfigEntry:
    """Add a server through the config flow (address and token), in a deployment context."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: process.port,
            CONF_TOKEN: process.token,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        },
    )
    assert result["step_id"] == "context"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: context}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def add_camera(hass: HomeAssistant, entry: ConfigEntry, name: str, url: str) -> str:
    """Add a stream camera through its flow (the server opens the stream first)."""
    before = set(entry.subentries)
    result = await start_camera_flow(hass, entry, SOURCE_STREAM)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: name, CONF_URL: url}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await _reloaded(hass, entry)
    [subentry_id] = set(entry.subentries) - before
    return subentry_id


async def _reloaded(hass: HomeAssistant, entry: ConfigEntry) -> None:
    await hass.async_block_till_done()
    await wait_until(hass, lambda: entry.state is ConfigEntryState.LOADED, "the entry reloaded")


async def test_rtsp_camera_zone_end_to_end(
    hass: HomeAssistant, serve: ProcessFactory, rtsp_server: RtspServerFactory
) -> None:
    """Set up through the flows; people enter the zone; the stream drops and comes back."""
    stream = rtsp_server(media("vtest.avi"))
    # A home: the analysed frame is an image entity there (elsewhere only administrators see
    # it, through the logged view: tests/ha/test_picture_access.py).
    entry = await add_server(hass, await serve(), "private_home")
    camera_id = await add_camera(hass, entry, "PETS2009", stream.url)
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the stream online")

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
    await _reloaded(hass, entry)

    # People walk into the crossroads: occupancy, the count and the event entity follow.
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_ON, "the zone occupied", 120)
    await wait_until(hass, lambda: _count(hass, PEOPLE) >= 2, "two people in the zone", 120)
    await wait_until(hass, lambda: bool(fired), "an entered event")
    entered = fired[0].attributes
    assert entered["event_type"] == "entered"
    assert entered["object_class"] == "person"
    assert isinstance(entered["track_id"], int)
    await wait_until(hass, lambda: _state(hass, FRAME) not in (None, STATE_UNKNOWN), "a frame")

    # The camera goes away: its entities go unavailable; the problem sensor says why.
    await hass.async_add_executor_job(stream.stop)
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_UNAVAILABLE, "unavailable")
    assert _state(hass, PEOPLE) == STATE_UNAVAILABLE
    assert _state(hass, PROBLEM) == STATE_ON

    # It comes back on the same address: everything recovers by itself.
    await hass.async_add_executor_job(stream.start)
    await wait_until(
        hass, lambda: _state(hass, OCCUPIED) not in (None, STATE_UNAVAILABLE), "recovery", 120
    )
    assert _state(hass, PROBLEM) == STATE_OFF
    unsubscribe()
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_killed_server_comes_back_and_home_assistant_reloads_freely(
    hass: HomeAssistant, serve: ProcessFactory, rtsp_server: RtspServerFactory
) -> None:
    """Line totals survive the server's crash; the server analyses on while HA reloads."""
    stream = rtsp_server(media("vtest.avi"), loops=3)
    process = await serve()
    entry = await add_server(hass, process)
    camera_id = await add_camera(hass, entry, "PETS2009", stream.url)
    line = ConfigSubentry(
        data=MappingProxyType(
            {
                CONF_CAMERA: camera_id,
                CONF_KIND: "line_crossing",
                "line": MIDDLE,
                "direction": "both",
            }
        ),
        subentry_type=SUBENTRY_RULE,
        title="Middle",
        unique_id=None,
    )
    hass.config_entries.async_add_subentry(entry, line)
    await _reloaded(hass, entry)

    def crossed() -> int:
        return max(_count(hass, EAST), 0) + max(_count(hass, WEST), 0)

    await wait_until(hass, lambda: crossed() >= 2, "people crossing the line", 180)
    before = crossed()

    # The server is killed (SIGKILL, no clean shutdown): every entity goes unavailable.
    await hass.async_add_executor_job(process.kill)
    await wait_until(
        hass,
        lambda: all(_state(hass, e) == STATE_UNAVAILABLE for e in (EAST, WEST, PROBLEM, RATE)),
        "the entities unavailable",
    )
    assert entry.state is ConfigEntryState.LOADED

    # It starts again on its data folder and port: Home Assistant reconnects by itself, and
    # the totals are those persisted before the crash (then counting on).
    await hass.async_add_executor_job(process.start)
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the server back", 180)
    # The line's totals arrive with its own state, which may come after the camera's (and
    # after a default one): they are back within seconds, far sooner than new crossings.
    await wait_until(hass, lambda: crossed() >= before, "the persisted totals back", 20)
    assert entry.runtime_data.store.connected

    # Home Assistant unloads the entry; the server keeps analysing without it.
    during = crossed()
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert _state(hass, EAST) == STATE_UNAVAILABLE
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    store = entry.runtime_data.store
    # The same configuration again: the camera was left running, not restarted.
    assert store.applied is not None
    assert camera_id.lower() in store.applied.unchanged
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the camera's entities")
    assert crossed() >= during
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_two_servers_one_stopped_the_other_unaffected(
    hass: HomeAssistant, serve: ProcessFactory, pattern_stream: str
) -> None:
    """Cameras split over two servers: one server stops, the other's entities go on."""
    north = await add_server(hass, await serve(name="North"))
    south_process = await serve(name="South")
    south = await add_server(hass, south_process)
    await add_camera(hass, north, "North gate", pattern_stream)
    await add_camera(hass, south, "South gate", pattern_stream)
    north_rate, south_rate = (
        "sensor.north_gate_analysed_frame_rate",
        "sensor.south_gate_analysed_frame_rate",
    )
    await wait_until(
        hass,
        lambda: all(
            _state(hass, e) not in (None, STATE_UNAVAILABLE) for e in (north_rate, south_rate)
        ),
        "both cameras online",
    )

    await hass.async_add_executor_job(south_process.stop)
    await wait_until(hass, lambda: _state(hass, south_rate) == STATE_UNAVAILABLE, "South gone")
    assert _state(hass, "binary_sensor.south_gate_stream_problem") == STATE_UNAVAILABLE
    # North's entities are untouched and still follow their server's figures.
    assert north.runtime_data.store.connected
    assert _state(hass, "binary_sensor.north_gate_stream_problem") == STATE_OFF
    updated = _updated(hass, north_rate)
    await wait_until(hass, lambda: _updated(hass, north_rate) != updated, "North's next figures")
    assert _state(hass, north_rate) not in (None, STATE_UNAVAILABLE)

    for entry in (north, south):
        assert await hass.config_entries.async_unload(entry.entry_id)


def _updated(hass: HomeAssistant, entity_id: str) -> Any:
    state = hass.states.get(entity_id)
    return None if state is None else state.last_reported
