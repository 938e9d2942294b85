"""Devices: one owner each, linked to their server, and stale ones removable.

A camera's device belongs to the camera's subentry; zone and rule entities (in their own
subentries) only link to it, so removing a zone never removes its camera's device. From
Home Assistant 2026.8 a device belongs to exactly one subentry; on the releases the tests run
(2025.4) a zone entity's device info still adds its subentry to the device (the only way to
link there), and the camera's subentry keeps owning it.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.vigil.const import DOMAIN
from custom_components.vigil.entity import LINKS_BY_DEVICE_ENTRY
from tests.ha.conftest import CAMERA_ID, CAMERA_SLUG, ENTRY_ID, ZONE_ID, setup_entry

OCCUPIED = "binary_sensor.front_door_driveway_occupied"
PROBLEM = "binary_sensor.front_door_stream_problem"
CAMERA = (DOMAIN, f"{ENTRY_ID}_{CAMERA_SLUG}")
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
    server = _device(device_registry, SERVER)
    camera = _device(device_registry, CAMERA)
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
    kept = device_registry.async_get_device(identifiers={CAMERA})
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
    assert device_registry.async_get_device(identifiers={CAMERA}) is None
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
    stale = device_registry.async_get_or_create(
        config_entry_id=ENTRY_ID, identifiers={(DOMAIN, f"{ENTRY_ID}_removed_camera")}
    )
    client = await hass_ws_client(hass)
    for identifier, removable in ((CAMERA, False), (SERVER, False), (None, True)):
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
