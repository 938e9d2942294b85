"""Setting up, reloading and unloading a server entry: what the server runs, devices, issues."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_URL,
    CONF_USERNAME,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    DOMAIN,
    SOURCE_FRIGATE,
    SOURCE_ONVIF,
    SUBENTRY_CAMERA,
)
from custom_components.vigil.issues import stream_issue_id
from custom_components.vigil.plate_services import PLATE_SERVICES
from custom_components.vigil.server_entities import SERVER_SENSORS
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    CLOSED_URL,
    ENTRY_ID,
    ZONE_SLUG,
    camera_subentry,
    camera_uid,
    server_data,
    setup_entry,
    wait_until,
    zone_subentry,
)
from vigil_core.server import VigilServer

FAMILY_ACTIONS = ("reset_counter", "recapture_reference", "query_plate", *PLATE_SERVICES)


def _entry(server: VigilServer, *subentries: ConfigSubentryData) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        unique_id=server.server_id,
        data=server_data(server),
        subentries_data=list(subentries),
    )


async def test_setup_sends_the_cameras_and_zones(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Cameras and zones run on the server with slug ids derived from the subentry ids."""
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    assert vigil_server.engine is not None
    [camera] = vigil_server.engine.config.cameras
    assert (camera.id, camera.name) == (CAMERA_SLUG, "Front door")
    assert [(zone.id, zone.classes) for zone in camera.zones] == [(ZONE_SLUG, ["person", "car"])]
    assert config_entry.runtime_data.store.connected
    for action in FAMILY_ACTIONS:
        assert hass.services.has_service(DOMAIN, action), action


async def test_unloading_leaves_the_server_analysing(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Unloading closes the connection; the server keeps running its cameras for next time."""
    await setup_entry(hass, config_entry)
    store = config_entry.runtime_data.store
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.NOT_LOADED
    assert not store.client.connected
    assert vigil_server.engine is not None
    assert vigil_server.engine.camera_ids == [CAMERA_SLUG]
    state = hass.states.get("binary_sensor.front_door_driveway_occupied")
    assert state is not None and state.state == STATE_UNAVAILABLE


async def test_sources_of_each_type(hass: HomeAssistant, vigil_server: VigilServer) -> None:
    """ONVIF streams get the camera's login; Frigate restreams never get the API's."""
    onvif = ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_ONVIF,
            CONF_HOST: "127.0.0.1",
            CONF_PORT: 9,
            CONF_USERNAME: "admin",
            CONF_PASSWORD: "p w",
            CONF_STREAM_URL: "rtsp://127.0.0.1:9/sub",
        },
        subentry_id="01JVIGIL0000000000000ONVIF",
        subentry_type=SUBENTRY_CAMERA,
        title="Gate",
        unique_id="onvif://127.0.0.1:9/Profile_2",
    )
    frigate = ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_FRIGATE,
            CONF_URL: "http://127.0.0.1:9",
            CONF_USERNAME: "admin",
            CONF_PASSWORD: "frigate",
            CONF_STREAM_URL: "rtsp://127.0.0.1:9/garage",
        },
        subentry_id="01JVIGIL000000000000FRIGATE",
        subentry_type=SUBENTRY_CAMERA,
        title="Garage",
        unique_id="frigate+http://127.0.0.1:9/garage",
    )
    await setup_entry(hass, _entry(vigil_server, onvif, frigate))
    # What the server was sent (and runs).
    assert vigil_server.raw_config is not None
    cameras = {camera["name"]: camera for camera in vigil_server.raw_config["cameras"]}
    gate, garage = cameras["Gate"], cameras["Garage"]
    # Credentials go apart from the URL: no character of a password can end it early.
    assert gate["source"] == {
        "url": "rtsp://127.0.0.1:9/sub",
        "username": "admin",
        "password": "p w",
    }
    assert (gate["onvif"]["username"], gate["onvif"]["password"]) == ("admin", "p w")
    assert garage["source"] == {"url": "rtsp://127.0.0.1:9/garage"}
    assert "onvif" not in garage
    assert vigil_server.engine is not None
    assert sorted(c.name for c in vigil_server.engine.config.cameras) == ["Garage", "Gate"]
    (running,) = (c for c in vigil_server.engine.config.cameras if c.name == "Gate")
    assert running.source.address.authenticated() == "rtsp://admin:p%20w@127.0.0.1:9/sub"


async def test_a_zone_on_a_removed_camera_is_left_out(
    hass: HomeAssistant, vigil_server: VigilServer
) -> None:
    """A zone whose camera is gone is not sent and has no entity."""
    entry = _entry(vigil_server, zone_subentry(camera="01JVIGIL0000000000000GONE1"))
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.cameras == []
    assert entry.runtime_data.zones == {}


async def test_devices_and_subentry_removal(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The camera's device hangs under the server's; removing the camera removes it."""
    await setup_entry(hass, config_entry)
    server = device_registry.async_get_device(identifiers={(DOMAIN, ENTRY_ID)})
    camera_identifier = (DOMAIN, camera_uid(config_entry))
    camera = device_registry.async_get_device(identifiers={camera_identifier})
    assert server is not None
    assert camera is not None
    assert camera.via_device_id == server.id
    assert server.sw_version == "dev"
    assert camera.name == "Front door"
    assert er.async_entries_for_device(entity_registry, camera.id)

    zone_id = next(s for s in config_entry.subentries.values() if s.title == "Driveway").subentry_id
    hass.config_entries.async_remove_subentry(config_entry, zone_id)
    await hass.async_block_till_done()
    remaining = {e.unique_id for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)}
    assert not any(ZONE_SLUG in unique_id for unique_id in remaining)

    hass.config_entries.async_remove_subentry(config_entry, CAMERA_ID)
    await hass.async_block_till_done()
    assert device_registry.async_get_device(identifiers={camera_identifier}) is None
    # Only the server's own entities (the impact assessment button, its load) remain.
    server_keys = ["impact_assessment", "server_overloaded", *(d.key for d in SERVER_SENSORS)]
    assert sorted(
        e.unique_id for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    ) == sorted(f"{ENTRY_ID}_{key}" for key in server_keys)


async def test_removing_a_camera_clears_its_issues(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A camera removed while its stream had an issue takes the issue with it."""
    entry = _entry(
        vigil_server,
        camera_subentry(pattern_stream),
        camera_subentry(CLOSED_URL, "01JVIGIL00000000000CAMERA2", "Back door"),
    )
    await setup_entry(hass, entry)
    issue_id = stream_issue_id(ENTRY_ID, "01jvigil00000000000camera2")
    ir.async_create_issue(
        hass, DOMAIN, issue_id, is_fixable=False, severity=ir.IssueSeverity.WARNING,
        translation_key="stream_unreachable",
        translation_placeholders={"camera": "Back door", "reason": "-"},
    )  # fmt: skip
    hass.config_entries.async_remove_subentry(entry, "01JVIGIL00000000000CAMERA2")
    await hass.async_block_till_done()
    await wait_until(hass, lambda: entry.state is ConfigEntryState.LOADED, "the reload")
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None, "the issue gone"
    )


async def test_remove_entry_clears_its_issues(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Deleting the server entry deletes its repair issues, and only those."""
    await setup_entry(hass, config_entry)
    ir.async_create_issue(
        hass, DOMAIN, stream_issue_id(ENTRY_ID, CAMERA_SLUG), is_fixable=False,
        severity=ir.IssueSeverity.WARNING, translation_key="stream_unreachable",
    )  # fmt: skip
    ir.async_create_issue(
        hass, "other", "keep", is_fixable=False, severity=ir.IssueSeverity.WARNING,
        translation_key="x",
    )  # fmt: skip
    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, stream_issue_id(ENTRY_ID, CAMERA_SLUG)) is None
    assert issue_registry.async_get_issue("other", "keep") is not None


async def test_second_camera_gets_own_device(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Each camera is its own device, under the server's."""
    entry = _entry(
        vigil_server,
        camera_subentry(pattern_stream),
        camera_subentry(CLOSED_URL, "01JVIGIL00000000000CAMERA2", "Back door"),
    )
    await setup_entry(hass, entry)
    devices = dr.async_entries_for_config_entry(device_registry, ENTRY_ID)
    assert sorted(d.name or "" for d in devices) == ["Back door", "Front door", "Vigil test server"]
