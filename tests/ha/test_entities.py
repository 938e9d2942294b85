"""Entities of each platform: snapshots, push updates, availability and naming."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from http import HTTPStatus
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from tests.ha.conftest import (
    CAMERA_SLUG,
    ENTRY_ID,
    ZONE_SLUG,
    FakeEngine,
    camera_subentry,
    fake_frame,
    setup_entry,
    zone_subentry,
)
from vigil_core.events.model import EventPhase, SourceState

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


@pytest.fixture
async def engine(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> FakeEngine:
    """Set the hub up with the camera online, and return its engine."""
    await setup_entry(hass, config_entry)
    engines[0].frames[CAMERA_SLUG] = fake_frame()
    engines[0].source_state(CAMERA_SLUG, SourceState.ONLINE)
    await hass.async_block_till_done()
    return engines[0]


@pytest.mark.freeze_time("2025-06-01 12:00:00+00:00")
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    "platforms",
    [[Platform.BINARY_SENSOR], [Platform.SENSOR], [Platform.EVENT], [Platform.IMAGE]],
)
async def test_snapshots(
    hass: HomeAssistant,
    engine: FakeEngine,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Every entity's registry entry and state match the snapshot."""
    freezer.tick(timedelta(seconds=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, ENTRY_ID)


async def test_zone_entities_follow_events(hass: HomeAssistant, engine: FakeEngine) -> None:
    """Entering and leaving update occupancy, counts per class and the event entity."""
    assert hass.states.get(OCCUPIED).state == STATE_OFF
    assert hass.states.get(PEOPLE).state == "0"
    assert hass.states.get(EVENT).state == STATE_UNKNOWN

    engine.zone_event(EventPhase.STARTED, track_id=3, counts={"person": 1})
    await hass.async_block_till_done()
    assert hass.states.get(OCCUPIED).state == STATE_ON
    assert hass.states.get(PEOPLE).state == "1"
    event = hass.states.get(EVENT)
    assert event.attributes["event_type"] == "entered"
    assert event.attributes["object_class"] == "person"
    assert event.attributes["track_id"] == 3
    assert event.attributes["count"] == 1

    engine.zone_event(EventPhase.STARTED, track_id=4, label="car", counts={"person": 1, "car": 1})
    await hass.async_block_till_done()
    assert hass.states.get(CARS).state == "1"
    assert hass.states.get(EVENT).attributes["object_class"] == "car"

    engine.zone_event(EventPhase.UPDATED, track_id=4, label="car", counts={})
    engine.zone_event(EventPhase.ENDED, track_id=3, counts={"car": 1})
    await hass.async_block_till_done()
    assert hass.states.get(PEOPLE).state == "0"
    assert hass.states.get(OCCUPIED).state == STATE_ON
    assert hass.states.get(EVENT).attributes["event_type"] == "exited"

    engine.zone_event(EventPhase.ENDED, track_id=4, label="car", counts={})
    await hass.async_block_till_done()
    assert hass.states.get(OCCUPIED).state == STATE_OFF
    assert hass.states.get(CARS).state == "0"

    # Events of unknown rules are ignored.
    engine.zone_event(EventPhase.STARTED, rule_id="other", counts={"person": 5})
    await hass.async_block_till_done()
    assert hass.states.get(PEOPLE).state == "0"


async def test_offline_camera(
    hass: HomeAssistant, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing stream makes the camera's entities unavailable and logs once; then recovers."""
    caplog.set_level("INFO", "custom_components.vigil")
    assert hass.states.get(PROBLEM).state == STATE_OFF
    # What a source reports while it retries: offline, connecting, offline, ...
    for attempt in range(3):
        engine.source_state(CAMERA_SLUG, SourceState.OFFLINE, f"connection refused {attempt}")
        engine.source_state(CAMERA_SLUG, SourceState.CONNECTING, "connecting")
        await hass.async_block_till_done()
        for entity_id in (OCCUPIED, PEOPLE, EVENT, IMAGE, FPS):
            assert hass.states.get(entity_id).state == STATE_UNAVAILABLE, entity_id
        assert hass.states.get(PROBLEM).state == STATE_ON
    assert caplog.text.count("Camera Front door is unavailable") == 1

    engine.source_state(CAMERA_SLUG, SourceState.ONLINE)
    await hass.async_block_till_done()
    assert hass.states.get(OCCUPIED).state == STATE_OFF
    assert hass.states.get(PROBLEM).state == STATE_OFF
    assert caplog.text.count("Camera Front door is back online") == 1

    # A stall counts as a failure too; state changes of unknown cameras are ignored.
    engine.source_state(CAMERA_SLUG, SourceState.STALLED, "no frame for 3 s")
    engine.source_state("unknown", SourceState.OFFLINE)
    await hass.async_block_till_done()
    assert hass.states.get(PROBLEM).state == STATE_ON
    assert caplog.text.count("Camera Front door is unavailable") == 2


async def test_camera_figures_refresh(
    hass: HomeAssistant,
    engine: FakeEngine,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Fps is read from the engine every few seconds; latency is disabled by default."""
    assert hass.states.get(FPS).state == STATE_UNKNOWN
    freezer.tick(timedelta(seconds=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(FPS).state == "4.87"
    assert hass.states.get(LATENCY) is None

    # A camera the engine no longer runs keeps its last figures.
    with patch.object(engine, "status", side_effect=KeyError(CAMERA_SLUG)):
        freezer.tick(timedelta(seconds=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    assert hass.states.get(FPS).state == "4.87"
    assert entity_registry.async_get(LATENCY).disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_image_shows_latest_frame(
    hass: HomeAssistant,
    engine: FakeEngine,
    hass_client: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The image is the annotated latest frame; it changes on zone events and periodically."""
    client = await hass_client()
    first = hass.states.get(IMAGE).state
    response = await client.get(f"/api/image_proxy/{IMAGE}")
    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/jpeg"
    body = await response.read()
    assert body[:2] == b"\xff\xd8"
    # The same frame is not drawn twice.
    with patch("custom_components.vigil.image.render_jpeg") as render:
        assert await (await client.get(f"/api/image_proxy/{IMAGE}")).read() == body
        render.assert_not_called()

    engine.frames[CAMERA_SLUG] = fake_frame()
    freezer.tick(timedelta(seconds=2))
    engine.zone_event(EventPhase.STARTED)
    await hass.async_block_till_done()
    assert hass.states.get(IMAGE).state != first
    assert await (await client.get(f"/api/image_proxy/{IMAGE}")).read() != b""

    # A burst of events within a second does not redraw.
    second = hass.states.get(IMAGE).state
    engine.frames[CAMERA_SLUG] = fake_frame()
    engine.zone_event(EventPhase.ENDED, counts={})
    await hass.async_block_till_done()
    assert hass.states.get(IMAGE).state == second


async def test_image_before_any_frame(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    engines: list[FakeEngine],
    hass_client: ClientSessionGenerator,
) -> None:
    """Before the first analysed frame the image has no content."""
    await setup_entry(hass, config_entry)
    engines[0].source_state(CAMERA_SLUG, SourceState.ONLINE)
    await hass.async_block_till_done()
    assert hass.states.get(IMAGE).state == STATE_UNKNOWN
    client = await hass_client()
    response = await client.get(f"/api/image_proxy/{IMAGE}")
    assert response.status == HTTPStatus.INTERNAL_SERVER_ERROR


async def test_unique_ids_survive_renames(
    hass: HomeAssistant,
    engine: FakeEngine,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Renaming the camera and the zone keeps every unique id and entity id."""
    before = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    }
    assert f"{ENTRY_ID}_{CAMERA_SLUG}_{ZONE_SLUG}_occupied" in before
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


async def test_zone_watching_every_class(hass: HomeAssistant, engines: list[FakeEngine]) -> None:
    """A zone with no class filter gets one total count sensor."""
    entry = MockConfigEntry(
        domain="vigil",
        entry_id=ENTRY_ID,
        data={"download_models": False},
        subentries_data=[camera_subentry(), zone_subentry(classes=[])],
    )
    await setup_entry(hass, entry)
    engines[0].source_state(CAMERA_SLUG, SourceState.ONLINE)
    engines[0].zone_event(EventPhase.STARTED, label="dog", counts={"dog": 1, "person": 2})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.front_door_driveway_objects").state == "3"
    assert hass.states.get(PEOPLE) is None
