"""Frigate when Vigil starts: check each server's login, and give the engine Home Assistant's MQTT.

At run time Vigil needs only Frigate's restream and its MQTT messages, not its API, so the API
is checked in the background, never holding up the setup: a server that refuses the saved login
starts the hub's reauth flow (analysis goes on meanwhile); one whose detect resolution changed
(Frigate's event boxes are measured in it) gets its cameras updated, which reloads Vigil; one
that cannot be reached is logged, and its cameras run on what was saved.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady

from vigil_core.errors import AuthFailed, VigilError
from vigil_core.sources.frigate import FrigateServer
from vigil_core.sources.redact import redact_url

from .const import CONF_DETECT_HEIGHT, CONF_DETECT_WIDTH, DOMAIN
from .engine_config import CameraInfo
from .frigate_data import FrigateInfo
from .frigate_flow import async_frigate_server
from .frigate_mqtt import HomeAssistantMqtt
from .onvif_runtime import CONF_REAUTH_SUBENTRY

_LOGGER = logging.getLogger(__name__)


@callback
def async_check_frigate(
    hass: HomeAssistant, entry: ConfigEntry, cameras: Mapping[str, CameraInfo]
) -> None:
    """Check the Frigate servers of the entry's cameras in the background."""
    servers: dict[str, list[CameraInfo]] = {}
    for camera in cameras.values():
        info = camera.frigate
        if info is not None and (info.username or info.takes_frigate_detections):
            servers.setdefault(info.api_url, []).append(camera)
    for group in servers.values():
        entry.async_create_background_task(
            hass, _async_check_server(hass, entry, group), f"{DOMAIN} check Frigate server"
        )


async def _async_check_server(
    hass: HomeAssistant, entry: ConfigEntry, cameras: list[CameraInfo]
) -> None:
    info = cameras[0].frigate
    assert info is not None
    where = redact_url(info.api_url)
    try:
        server = await async_frigate_server(
            hass, info.api_url, info.username, info.password, info.verify_ssl
        )
    except AuthFailed:
        _LOGGER.warning("Frigate at %s refuses Vigil's login; asking for it again", where)
        _async_start_reauth(hass, entry, cameras[0].subentry_id)
        return
    except VigilError as err:
        _LOGGER.warning("Frigate at %s cannot be checked: %s", where, err)
        return
    except Exception:  # a check in the background must never break Vigil
        _LOGGER.debug("Frigate at %s cannot be checked", where, exc_info=True)
        return
    for camera in cameras:
        _async_update_detect_size(hass, entry, camera, server)


@callback
def _async_update_detect_size(
    hass: HomeAssistant, entry: ConfigEntry, camera: CameraInfo, server: FrigateServer
) -> None:
    """Save the detect resolution Frigate uses now, when it changed (Vigil then reloads)."""
    info: FrigateInfo | None = camera.frigate
    subentry = entry.subentries.get(camera.subentry_id)
    match = next((c for c in server.cameras if info and c.name == info.camera), None)
    if info is None or subentry is None or match is None or not match.width or not match.height:
        return
    size = (match.width, match.height)
    if info.detect_size is None or size == info.detect_size:
        return
    _LOGGER.info("Frigate camera %s now detects at %dx%d", info.camera, *size)
    hass.config_entries.async_update_subentry(
        entry,
        subentry,
        data={**subentry.data, CONF_DETECT_WIDTH: size[0], CONF_DETECT_HEIGHT: size[1]},
    )


@callback
def _async_start_reauth(hass: HomeAssistant, entry: ConfigEntry, subentry_id: str) -> None:
    """Ask for the server's login (one reauth flow at a time per entry)."""
    if any(entry.async_get_active_flows(hass, {SOURCE_REAUTH})):
        return
    entry.async_start_reauth(hass, data={CONF_REAUTH_SUBENTRY: subentry_id})


async def async_frigate_engine_options(
    hass: HomeAssistant, cameras: Mapping[str, CameraInfo]
) -> dict[str, Any]:
    """Return the engine's MQTT transport when a camera takes Frigate's detections."""
    if not any(c.frigate and c.frigate.takes_frigate_detections for c in cameras.values()):
        return {}
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_unavailable")
    return {"mqtt": HomeAssistantMqtt(hass)}
