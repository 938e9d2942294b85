"""The Vigil integration: video analytics on the cameras you already have, run by a Vigil server.

Each config entry is one Vigil server (`vigil-analytics serve`, its container or add-on). The
entry and its subentries (cameras, zones, rules, the watchlist) are the configuration; the
server runs it and publishes typed states and events, which the entities show. Nothing heavy
runs in Home Assistant: no decoding, no model, only the protocol over one WebSocket.
"""

from __future__ import annotations

import json
import logging

from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_VERIFY_SSL,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.typing import ConfigType

import vigil_protocol as vp

from .access import SETTINGS_ACTOR
from .anpr_entities import async_log_watchlist_removals
from .client import AuthRefused, IncompatibleServer, ServerError, VigilClientError
from .const import (
    CONF_CAMERA_KEY,
    CONF_SERVER_ID,
    CONF_TOKEN,
    DEFAULT_PORT,
    DOMAIN,
    MANUFACTURER,
    SUBENTRY_CAMERA,
)
from .data import VigilConfigEntry, VigilRuntime
from .editor import async_register_editor
from .entity import async_migrate_camera_ids, async_register_devices, camera_identifier
from .frigate_setup import async_check_frigate
from .issues import async_setup_issues
from .mqtt_broker import async_frigate_broker
from .panel import async_setup_panel
from .picture_view import async_register_picture_views
from .privacy import async_setup_privacy
from .saturation import async_setup_saturation
from .server_config import (
    SUBENTRY_WATCHLIST,
    cameras_of,
    of_type,
    rules_of,
    server_config,
    watchlist_config,
    zones_of,
)
from .services import async_setup_services
from .store import VigilStore, new_client
from .validation import free_camera_key

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.SENSOR,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

SERVER_DOCS = "https://github.com/vigil-project/vigil/blob/main/docs/server.md"


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register Vigil's actions, which work on the loaded servers, and its panel."""
    async_setup_services(hass)
    await async_setup_panel(hass)
    async_register_editor(hass)
    async_register_picture_views(hass)
    return True


_V1_ONLY_KEYS = ("models_dir", "download_models")
"""What a version 1 entry (the engine inside Home Assistant) kept and a server entry does not."""


async def async_migrate_entry(hass: HomeAssistant, entry: VigilConfigEntry) -> bool:
    """Turn a version 1 entry (engine in Home Assistant) into a server entry; keep its subentries.

    The cameras, zones, rules, watchlist, deployment context and options stay as they are: a
    server runs the same configuration. Where the server runs is not known, so the entry points
    at this machine with no token, and a repair issue says what to do (start the server, then
    reconfigure the entry with its address and token).
    """
    if entry.version > 2:
        return False  # made by a newer Vigil: refuse rather than lose what it holds
    if entry.version == 1:
        data = {key: value for key, value in entry.data.items() if key not in _V1_ONLY_KEYS}
        data |= {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: DEFAULT_PORT,
            CONF_TOKEN: "",
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        }
        hass.config_entries.async_update_entry(entry, data=data, version=2, minor_version=1)
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"moved_to_server_{entry.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="moved_to_server",
            translation_placeholders={"entry": entry.title},
            learn_more_url=SERVER_DOCS,
        )
        _LOGGER.warning(
            "Vigil's analysis now runs in a Vigil server: start one and reconfigure %s with its "
            "address and token",
            entry.title,
        )
    if entry.minor_version < 2:
        _add_camera_keys(hass, entry)
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


def _add_camera_keys(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Give each camera the key its ids are made of (version 2.2), from what identifies it.

    A camera's subentry unique id is its stream, ONVIF profile or Frigate camera: the key the
    flows give the same camera when it is added again. The devices and entities keyed on the
    subentry id are re-keyed at setup (`async_migrate_camera_ids`), once the server id is known.
    """
    cameras = of_type(entry, SUBENTRY_CAMERA)
    taken = {str(sub.data[CONF_CAMERA_KEY]) for sub in cameras if sub.data.get(CONF_CAMERA_KEY)}
    for sub in cameras:
        if not sub.data.get(CONF_CAMERA_KEY):
            key = free_camera_key(sub.unique_id or sub.subentry_id, taken)
            taken.add(key)
            hass.config_entries.async_update_subentry(
                entry, sub, data={**sub.data, CONF_CAMERA_KEY: key}
            )


async def async_setup_entry(hass: HomeAssistant, entry: VigilConfigEntry) -> bool:
    """Connect to the server, send it the configuration, follow its states."""
    broker = await async_frigate_broker(hass, entry)
    store = VigilStore(
        hass, entry, new_client(hass, entry.data), lambda: server_config(entry, broker)
    )
    try:
        hello = await store.async_start()
    except AuthRefused as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="invalid_auth"
        ) from err
    except IncompatibleServer as err:
        store._async_version_issue(err)
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="protocol_version",
            translation_placeholders={
                "server": entry.title,
                "server_version": err.placeholders.get("server", "?"),
                "client_version": err.placeholders.get("client", "?"),
            },
        ) from err
    except ServerError as err:
        await store.async_stop()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="config_refused",
            translation_placeholders={"error": err.message},
        ) from err
    except VigilClientError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"server": entry.title, "error": err.message},
        ) from err
    ir.async_delete_issue(hass, DOMAIN, f"protocol_version_{entry.entry_id}")
    ir.async_delete_issue(hass, DOMAIN, f"moved_to_server_{entry.entry_id}")
    if entry.unique_id is None:  # a migrated entry learns which server it is on
        hass.config_entries.async_update_entry(
            entry,
            unique_id=hello.server_id,
            data={**entry.data, CONF_SERVER_ID: hello.server_id},
        )
    entry.runtime_data = VigilRuntime(
        store=store,
        cameras=cameras_of(entry),
        zones=zones_of(entry),
        rules=rules_of(entry),
        settings_key=_settings_key(entry),
    )
    entry.async_on_unload(store.async_stop)
    async_migrate_camera_ids(hass, entry.entry_id, entry.runtime_data.cameras)
    entry.runtime_data.devices = async_register_devices(
        hass,
        entry.entry_id,
        entry.runtime_data.cameras,
        dr.DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer=MANUFACTURER,
            model="Vigil server",
            sw_version=hello.server_version,
            entry_type=dr.DeviceEntryType.SERVICE,
        ),
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    async_setup_issues(hass, entry)
    async_setup_saturation(hass, entry)
    async_setup_privacy(hass, entry)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    async_log_watchlist_removals(hass, entry)
    async_check_frigate(hass, entry)
    return True


async def _async_update_listener(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Send a watchlist change live; reload for any other change of options or subentries.

    A reload is cheap for the server: it restarts only the cameras whose settings changed.
    A watchlist change needs no new entity, so it is sent without a reload (and without
    dropping the passages being voted on).
    """
    runtime = entry.runtime_data
    if runtime.settings_key and runtime.settings_key == _settings_key(entry):
        await runtime.store.async_request(
            vp.SetWatchlist(watchlist=watchlist_config(entry), actor=SETTINGS_ACTOR), vp.Done
        )
        return
    await hass.config_entries.async_reload(entry.entry_id)


def _settings_key(entry: VigilConfigEntry) -> str:
    """Return everything the server's configuration is built from but the watchlist."""
    subentries = sorted(
        (
            sub.subentry_id,
            sub.subentry_type,
            json.dumps(dict(sub.data), sort_keys=True, default=str),
            sub.title,
        )
        for sub in entry.subentries.values()
        if sub.subentry_type != SUBENTRY_WATCHLIST
    )
    return json.dumps(
        [dict(entry.data), dict(entry.options), subentries], sort_keys=True, default=str
    )


async def async_unload_entry(hass: HomeAssistant, entry: VigilConfigEntry) -> bool:
    """Unload the entities; the store's connection closes with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: VigilConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a camera's device once the camera is no longer configured.

    The server's device and a configured camera's device stay: a camera is removed by deleting
    its subentry, which removes its device with it.
    """
    kept = {(DOMAIN, entry.entry_id)} | {
        camera_identifier(camera) for camera in cameras_of(entry).values()
    }
    return not device.identifiers & kept


async def async_remove_entry(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Remove the repair issues the entry raised."""
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and entry.entry_id in issue_id:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
