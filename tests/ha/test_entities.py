"""Camera and zone entities on a real server: snapshots, push updates, availability, pictures.

The camera streams the session's live test pattern to a real in-process Vigil server; zone
states and events are published on the server's bus, as its pipeline publishes them, and go
through the board, the protocol and the store. The analysed frame is the server's own picture.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from http import HTTPStatus
import time
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from tests.ha.conftest import (
    ENTRY_ID,
    QUIET_HEALTH,
    ZONE_SLUG,
    ServerFactory,
    camera_settings,
    camera_subentry,
    camera_uid,
    rule_event,
    rule_state,
    server_data,
    setup_entry,
    stable_ids,
    stream_state,
    wait_until,
    zone_subentry,
)
from vigil_core.events.model import EventPhase, SourceState
from vigil_core.server import VigilServer
import vigil_protocol as vp

OCCUPIED = "binary_sensor.front_door_driveway_occupied"
PROBLEM = "binary_sensor.front_door_stream_problem"
PEOPLE = "sensor.front_door_driveway_people"
CARS = "sensor.front_door_driveway_cars"
FPS = "sensor.front_door_analysed_frame_rate"
LATENCY = "sensor.front_door_inference_latency"
EVENT = "event.front_door_driveway_activity"
IMAGE = "image.front_door_analysed_frame"


@pytest.fixture
def platforms() -> list[Platform]:
    """Load every platform unless a test narrows it."""
    return [Platform.BINARY_SENSOR, Platform.EVENT, Platform.IMAGE, Platform.SENSOR]


@pytest.fixture(autouse=True)
def only_platforms(platforms: list[Platform]) -> Iterator[None]:
    """Set up only the platforms under test."""
    with patch("custom_components.vigil.PLATFORMS", platforms):
        yield


@pytest.fixture(autouse=True)
def fixed_image_token() -> Iterator[None]:
    """Make the image entity's access token stable for snapshots."""
    with patch("homeassistant.components.image._RND.getrandbits", return_value=0xC0FFEE):
        yield


class Clock:
    """The image entity's monotonic clock, moved by the test (the pictures' pacing)."""

    def __init__(self) -> None:
        """Start at an arbitrary moment."""
        self.now = 1000.0

    def monotonic(self) -> float:
        """Return the clock's time."""
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    """Drive the image entity's pacing by hand."""
    clock = Clock()
    with patch("custom_components.vigil.image.time", clock):
        yield clock


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def _loaded(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    with camera_settings(**QUIET_HEALTH):
        await setup_entry(hass, entry)
    await wait_until(
        hass, lambda: _state(hass, FPS) not in (None, STATE_UNAVAILABLE), "the stream online"
    )
    return entry


@pytest.fixture
async def still_server(start_server: ServerFactory) -> AsyncIterator[VigilServer]:
    """Return a server that does not refresh its figures (the snapshots stay still)."""
    with patch("vigil_core.server.app.REFRESH_S", 3600.0):
        yield await start_server()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    "platforms",
    [[Platform.BINARY_SENSOR], [Platform.SENSOR], [Platform.EVENT], [Platform.IMAGE]],
)
async def test_snapshots(
    hass: HomeAssistant,
    still_server: VigilServer,
    pattern_stream: str,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every entity's registry entry and state match the snapshot (a picture's time apart)."""
    entry = MockConfigEntry(
        domain="vigil",
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        unique_id=still_server.server_id,
        data=server_data(still_server),
        subentries_data=[camera_subentry(pattern_stream), zone_subentry()],
    )
    with camera_settings(**QUIET_HEALTH):
        await setup_entry(hass, entry)
    await wait_until(
        hass,
        lambda: all(
            _state(hass, e.entity_id) not in (None, STATE_UNAVAILABLE)
            for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
            if e.domain != "button"
        ),
        "every entity available",
    )
    entries = sorted(
        er.async_entries_for_config_entry(entity_registry, ENTRY_ID), key=lambda e: e.entity_id
    )
    assert entries
    for registry_entry in entries:
        # The server's id and the stream's port change with each run: the camera's part goes.
        name = f"{registry_entry.entity_id}-entry"
        assert stable_ids(entry, registry_entry) == snapshot(name=name)
        state = hass.states.get(registry_entry.entity_id)
        assert state is not None
        found: Any = state
        if state.domain == "image":
            found = ("<time>", dict(state.attributes))
        assert found == snapshot(name=f"{registry_entry.entity_id}-state")


async def test_zone_entities_follow_states_and_events(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Zone states set occupancy and counts per class; events fire the event entity."""
    await _loaded(hass, config_entry)
    assert _state(hass, OCCUPIED) == STATE_OFF
    assert _state(hass, PEOPLE) == "0"
    assert _state(hass, EVENT) == STATE_UNKNOWN

    rule_state(vigil_server, vp.ZoneState(counts={"person": 1}))
    rule_event(
        vigil_server, "zone_presence", EventPhase.STARTED, track_id=3, label="person", count=1
    )
    await wait_until(hass, lambda: _state(hass, EVENT) != STATE_UNKNOWN, "the entry")
    assert _state(hass, OCCUPIED) == STATE_ON
    assert _state(hass, PEOPLE) == "1"
    event = hass.states.get(EVENT)
    assert event is not None
    assert event.attributes["event_type"] == "entered"
    assert (event.attributes["object_class"], event.attributes["track_id"]) == ("person", 3)
    assert event.attributes["count"] == 1

    rule_state(vigil_server, vp.ZoneState(counts={"person": 1, "car": 1}))
    rule_event(vigil_server, "zone_presence", EventPhase.STARTED, track_id=4, label="car", count=2)
    await wait_until(hass, lambda: _state(hass, CARS) == "1", "the car")
    await wait_until(
        hass, lambda: hass.states.get(EVENT).attributes["object_class"] == "car", "its event"
    )

    # Updates fire nothing; an exit fires `exited`.
    rule_event(vigil_server, "zone_presence", EventPhase.UPDATED, track_id=4, label="car")
    rule_state(vigil_server, vp.ZoneState(counts={"car": 1}))
    rule_event(vigil_server, "zone_presence", EventPhase.ENDED, track_id=3, label="person")
    await wait_until(
        hass, lambda: hass.states.get(EVENT).attributes["event_type"] == "exited", "the exit"
    )
    assert _state(hass, PEOPLE) == "0"
    assert _state(hass, OCCUPIED) == STATE_ON

    rule_state(vigil_server, vp.ZoneState(counts={}))
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_OFF, "the zone empty")
    assert _state(hass, CARS) == "0"

    # Events and states of a rule this entry does not have are ignored.
    rule_state(vigil_server, vp.ZoneState(counts={"person": 5}), rule_id="other")
    rule_event(vigil_server, "zone_presence", EventPhase.STARTED, rule_id="other", label="dog")
    rule_state(vigil_server, vp.ZoneState(counts={"person": 2}))
    await wait_until(hass, lambda: _state(hass, PEOPLE) == "2", "the zone's own state")
    assert hass.states.get(EVENT).attributes["object_class"] == "person"  # type: ignore[union-attr]


async def test_offline_camera(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """A failing stream makes the camera's entities unavailable; it recovers by itself."""
    await _loaded(hass, config_entry)
    # What a source reports while it retries: offline, connecting, offline, ...
    for attempt in range(3):
        stream_state(vigil_server, SourceState.OFFLINE, reason=f"connection refused {attempt}")
        stream_state(vigil_server, SourceState.CONNECTING)
        await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_UNAVAILABLE, "down")
        for entity_id in (OCCUPIED, PEOPLE, EVENT, IMAGE, FPS):
            assert _state(hass, entity_id) == STATE_UNAVAILABLE, entity_id
        assert _state(hass, PROBLEM) == STATE_ON

    stream_state(vigil_server, SourceState.ONLINE)
    await wait_until(hass, lambda: _state(hass, OCCUPIED) == STATE_OFF, "back online")
    assert _state(hass, PROBLEM) == STATE_OFF

    # A stall counts as a failure too; state changes of unknown cameras are ignored.
    stream_state(vigil_server, SourceState.OFFLINE, camera_id="unknown")
    stream_state(vigil_server, SourceState.STALLED, reason="no frame for 3 s")
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_ON, "the stall")


async def test_camera_figures_refresh(
    hass: HomeAssistant,
    start_server: ServerFactory,
    pattern_stream: str,
    entity_registry: er.EntityRegistry,
) -> None:
    """The analysed rate comes from the server's figures; latency is disabled by default."""
    with patch("vigil_core.server.app.REFRESH_S", 0.5):
        server = await start_server()
    entry = MockConfigEntry(
        domain="vigil",
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(server),
        subentries_data=[camera_subentry(pattern_stream)],
    )
    await _loaded(hass, entry)
    await wait_until(hass, lambda: float(_state(hass, FPS) or 0) > 0, "an analysed rate")
    assert hass.states.get(LATENCY) is None
    latency = entity_registry.async_get(LATENCY)
    assert latency is not None
    assert latency.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_image_shows_the_analysed_frame(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    vigil_server: VigilServer,
    hass_client: ClientSessionGenerator,
    clock: Clock,
) -> None:
    """The image is the server's annotated frame; it changes on zone events, not in bursts."""
    await _loaded(hass, config_entry)
    await wait_until(hass, lambda: _state(hass, IMAGE) not in (None, STATE_UNKNOWN), "a picture")
    client = await hass_client()
    # The stream is online as soon as it opens; the picture exists once a frame is analysed.
    deadline = time.monotonic() + 60
    while (response := await client.get(f"/api/image_proxy/{IMAGE}")).status != HTTPStatus.OK:
        assert time.monotonic() < deadline, "no analysed frame after 60 s"
        await asyncio.sleep(0.05)
    assert response.content_type == "image/jpeg"
    assert (await response.read())[:2] == b"\xff\xd8"
    first = _state(hass, IMAGE)

    clock.now += 2
    rule_event(vigil_server, "zone_presence", EventPhase.STARTED, label="person", count=1)
    await wait_until(hass, lambda: _state(hass, IMAGE) != first, "a new picture")

    # A burst of events within two seconds does not announce another picture.
    second = _state(hass, IMAGE)
    clock.now += 1
    rule_event(vigil_server, "zone_presence", EventPhase.ENDED, label="person", count=0)
    await wait_until(hass, lambda: _state(hass, EVENT) not in (None, STATE_UNKNOWN), "the exit")
    await hass.async_block_till_done()
    assert _state(hass, IMAGE) == second


async def test_image_of_an_unreachable_camera(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    hass_client: ClientSessionGenerator,
) -> None:
    """A camera whose stream never opened has no picture to serve."""
    entry = MockConfigEntry(
        domain="vigil",
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(vigil_server),
        subentries_data=[camera_subentry("rtsp://127.0.0.1:9/nothing")],
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_ON, "the stream failing")
    assert _state(hass, IMAGE) == STATE_UNAVAILABLE
    client = await hass_client()
    response = await client.get(f"/api/image_proxy/{IMAGE}")
    assert response.status != HTTPStatus.OK


async def test_unique_ids_survive_renames(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Renaming the camera and the zone keeps every unique id and entity id."""
    await _loaded(hass, config_entry)
    before = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    }
    assert f"{camera_uid(config_entry)}_{ZONE_SLUG}_occupied" in before
    for subentry in list(config_entry.subentries.values()):
        hass.config_entries.async_update_subentry(
            config_entry, subentry, title=f"{subentry.title} renamed"
        )
    await hass.async_block_till_done()
    after = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    }
    assert after == before


async def test_zone_watching_every_class(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A zone with no class filter gets one total count sensor."""
    entry = MockConfigEntry(
        domain="vigil",
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(vigil_server),
        subentries_data=[camera_subentry(pattern_stream), zone_subentry(classes=[])],
    )
    await _loaded(hass, entry)
    rule_state(vigil_server, vp.ZoneState(counts={"dog": 1, "person": 2}))
    total = "sensor.front_door_driveway_objects"
    await wait_until(hass, lambda: _state(hass, total) == "3", "the total")
    assert hass.states.get(PEOPLE) is None
