"""Devices: one owner each, linked to their server, and stale ones removable.

A camera's device belongs to the camera's subentry; zone and rule entities (in their own
subentries) only link to it, so removing a zone never removes its camera's device. From
Home Assistant 2026.8 a device belongs to exactly one subentry; on the releases the tests run
(2025.4) a zone entity's device info still adds its subentry to the device (the only way to
link there), and the camera's subentry keeps owning it.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_NAME, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.vigil.const import CONF_CAMERA_KEY, DOMAIN, SOURCE_STREAM
from custom_components.vigil.entity import LINKS_BY_DEVICE_ENTRY
from custom_components.vigil.validation import camera_key
from tests.ha.conftest import CAMERA_ID, ENTRY_ID, ZONE_ID, camera_uid, setup_entry
from tests.ha.flows import loaded, reloaded, start_camera_flow
from tests.integration.conftest import RtspServerFactory

OCCUPIED = "binary_sensor.front_door_driveway_occupied"
PROBLEM = "binary_sensor.front_door_stream_problem"
SERVER = (DOMAIN, ENTRY_ID)


def _device(registry: dr.DeviceRegistry, identifier: tuple[str, str]) -> dr.DeviceEntry:
    device = registry.async_get_device(identifiers={identifier})
    assert device is not None, identifier
    return device


async def test_camera_device_has_one_owner(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The camera's subentry owns its device; removing a zone keeps the device and its entities."""
    await setup_entry(hass, config_entry)
    camera_identifier = (DOMAIN, camera_uid(config_entry))
    server = _device(device_registry, SERVER)
    camera = _device(device_registry, camera_identifier)
    assert camera.via_device_id == server.id
    assert server.config_entries_subentries == {ENTRY_ID: {None}}
    owners = camera.config_entries_subentries[ENTRY_ID]
    assert CAMERA_ID in owners
    if LINKS_BY_DEVICE_ENTRY:  # 2025.8+: the zone's entities link without registering it
        assert owners == {CAMERA_ID}
    zone_entity = entity_registry.async_get(OCCUPIED)
    assert zone_entity is not None
    assert zone_entity.config_subentry_id == ZONE_ID
    assert zone_entity.device_id == camera.id

    assert hass.config_entries.async_remove_subentry(config_entry, ZONE_ID)
    await hass.async_block_till_done()

    assert entity_registry.async_get(OCCUPIED) is None
    kept = device_registry.async_get_device(identifiers={camera_identifier})
    assert kept is not None
    assert kept.id == camera.id
    assert kept.config_entries_subentries == {ENTRY_ID: {CAMERA_ID}}
    problem = entity_registry.async_get(PROBLEM)
    assert problem is not None
    assert problem.device_id == camera.id
    assert hass.states.get(PROBLEM) is not None

    # Deleting the camera's subentry removes its device.
    assert hass.config_entries.async_remove_subentry(config_entry, CAMERA_ID)
    await hass.async_block_till_done()
    assert device_registry.async_get_device(identifiers={camera_identifier}) is None
    assert device_registry.async_get_device(identifiers={SERVER}) is not None


async def test_only_stale_devices_can_be_deleted(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A configured camera's device and the server's stay; a camera no longer configured goes."""
    assert await async_setup_component(hass, "config", {})
    await setup_entry(hass, config_entry)
    camera_identifier = (DOMAIN, camera_uid(config_entry))
    stale = device_registry.async_get_or_create(
        config_entry_id=ENTRY_ID, identifiers={(DOMAIN, f"{ENTRY_ID}_removed_camera")}
    )
    client = await hass_ws_client(hass)
    for identifier, removable in ((camera_identifier, False), (SERVER, False), (None, True)):
        device = stale if identifier is None else _device(device_registry, identifier)
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": ENTRY_ID,
                "device_id": device.id,
            }
        )
        response = await client.receive_json()
        assert response["success"] is removable, identifier
        assert (device_registry.async_get(device.id) is None) is removable


def _camera_ids(
    device_registry: dr.DeviceRegistry, entity_registry: er.EntityRegistry, identifier: str
) -> tuple[str, dict[str, tuple[str, str]]]:
    """Return a camera's device id and its entities' (entity id, registry id) by unique id."""
    device = _device(device_registry, (DOMAIN, identifier))
    entities = er.async_entries_for_device(entity_registry, device.id)
    assert entities
    return device.id, {e.unique_id: (e.entity_id, e.id) for e in entities}


async def test_a_camera_added_again_gets_its_ids_back(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    rtsp_server: RtspServerFactory,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Deleting a camera and adding the same stream again keeps its device and entity ids.

    The ids are keyed on the server and the camera's stream, not on the subentry (a new one
    each time it is added), so automations, dashboards and history that name them still work.
    """
    await loaded(hass, config_entry)
    url = rtsp_server(size=(320, 180), fps=5).url

    async def add_hall() -> str:
        result = await start_camera_flow(hass, config_entry, SOURCE_STREAM)
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_NAME: "Hall", CONF_URL: url}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await reloaded(hass, config_entry)
        return next(s.subentry_id for s in config_entry.subentries.values() if s.title == "Hall")

    first = await add_hall()
    hall = camera_uid(config_entry, first)
    device_id, entities = _camera_ids(device_registry, entity_registry, hall)
    assert all(unique_id.startswith(f"{hall}_") for unique_id in entities)
    assert "binary_sensor.hall_stream_problem" in {entity_id for entity_id, _ in entities.values()}

    assert hass.config_entries.async_remove_subentry(config_entry, first)
    await reloaded(hass, config_entry)
    assert device_registry.async_get(device_id) is None
    assert not any(entity_registry.async_get(entity_id) for entity_id, _ in entities.values())

    second = await add_hall()
    assert second != first
    assert camera_uid(config_entry, second) == hall
    assert _camera_ids(device_registry, entity_registry, hall) == (device_id, entities)


async def test_ids_keyed_on_the_subentry_are_moved_to_the_camera(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """An entry made before 2.2 keeps its device, entity ids and registry ids, re-keyed."""
    config_entry.add_to_hass(hass)
    old = f"{ENTRY_ID}_{CAMERA_ID.lower()}"
    # The camera's device, which the zone's entity also registered (as on 2025.4 to 2025.7).
    for subentry_id in (CAMERA_ID, ZONE_ID):
        device = device_registry.async_get_or_create(
            config_entry_id=ENTRY_ID, config_subentry_id=subentry_id, identifiers={(DOMAIN, old)}
        )
    renamed = entity_registry.async_get_or_create(
        "binary_sensor",
        DOMAIN,
        f"{old}_stream_problem",
        config_entry=config_entry,
        config_subentry_id=CAMERA_ID,
        device_id=device.id,
        suggested_object_id="porch_camera_fault",
    )
    zone = entity_registry.async_get_or_create(
        "binary_sensor",
        DOMAIN,
        f"{old}_{ZONE_ID.lower()}_occupied",
        config_entry=config_entry,
        config_subentry_id=ZONE_ID,
        device_id=device.id,
    )
    assert config_entry.minor_version == 1

    assert await hass.config_entries.async_setup(ENTRY_ID)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    assert config_entry.minor_version == 2
    camera = config_entry.subentries[CAMERA_ID]
    assert camera.data[CONF_CAMERA_KEY] == camera_key(str(camera.unique_id))
    uid = camera_uid(config_entry)
    moved = device_registry.async_get_device(identifiers={(DOMAIN, uid)})
    assert moved is not None
    assert moved.id == device.id
    assert device_registry.async_get_device(identifiers={(DOMAIN, old)}) is None
    for before, unique_id in (
        (renamed, f"{uid}_stream_problem"),
        (zone, f"{uid}_{ZONE_ID.lower()}_occupied"),
    ):
        after = entity_registry.async_get(before.entity_id)
        assert after is not None
        assert (after.unique_id, after.id, after.device_id) == (unique_id, before.id, device.id)
    assert hass.states.get("binary_sensor.porch_camera_fault") is not None
    assert hass.states.get("binary_sensor.front_door_stream_problem") is None
