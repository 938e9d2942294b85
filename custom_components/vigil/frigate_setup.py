"""Frigate once Vigil is set up: check each Frigate server's login and detect resolution.

At run time the Vigil server needs only Frigate's restream and its MQTT messages, not its API,
so the API is checked in the background through the server (`FetchFrigate`), never holding up
the setup: a Frigate server that refuses the saved login raises a fixable repair issue (the
fix flow, in repairs.py, asks for a working login); one whose detect resolution changed
(Frigate's boxes are measured in it) gets its cameras updated, which reloads the entry; one
that cannot be reached is logged, and its cameras run on what was saved.
"""

from __future__ import annotations

import logging

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

import vigil_protocol as vp
from vigil_protocol.urls import split_credentials

from .client import ServerError, VigilClientError
from .const import CONF_DETECT_HEIGHT, CONF_DETECT_WIDTH, DOMAIN
from .flow_base import connected_store
from .repairs import CONF_SUBENTRY_ID, FRIGATE_AUTH_ISSUE
from .server_config import CameraInfo, cameras_of, slug_id

_LOGGER = logging.getLogger(__name__)


def frigate_issue_id(entry: ConfigEntry, cameras: list[CameraInfo]) -> str:
    """Return the repair issue id of a Frigate server (named by its first camera)."""
    return f"{FRIGATE_AUTH_ISSUE}_{entry.entry_id}_{min(slug_id(c.subentry_id) for c in cameras)}"


@callback
def async_check_frigate(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Check the Frigate servers of the entry's cameras in the background."""
    servers: dict[str, list[CameraInfo]] = {}
    for camera in cameras_of(entry).values():
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
    where = split_credentials(info.api_url)[0]
    store = connected_store(entry)
    if store is None:
        return
    request = vp.FetchFrigate(
        url=info.api_url,
        username=info.username,
        password=info.password,
        verify_ssl=info.verify_ssl,
    )
    issue_id = frigate_issue_id(entry, cameras)
    try:
        server = await store.client.call(request, vp.FrigateServer)
    except VigilClientError as err:
        if isinstance(err, ServerError) and err.translation_key == "invalid_auth":
            _LOGGER.warning("Frigate at %s refuses Vigil's login; asking for it again", where)
            ir.async_create_issue(
                hass,
                DOMAIN,
                issue_id,
                is_fixable=True,
                severity=ir.IssueSeverity.WARNING,
                translation_key=FRIGATE_AUTH_ISSUE,
                translation_placeholders={"camera": cameras[0].name, "url": where},
                data={CONF_SUBENTRY_ID: cameras[0].subentry_id},
            )
        else:
            _LOGGER.warning("Frigate at %s cannot be checked: %s", where, err.message)
        return
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    for camera in cameras:
        _async_update_detect_size(hass, entry, camera, server)


@callback
def _async_update_detect_size(
    hass: HomeAssistant, entry: ConfigEntry, camera: CameraInfo, server: vp.FrigateServer
) -> None:
    """Save the detect resolution Frigate uses now, when it changed (Vigil then reloads)."""
    info = camera.frigate
    subentry = entry.subentries.get(camera.subentry_id)
    match = next((c for c in server.cameras if info and c.name == info.camera), None)
    size = (match.width, match.height) if match and match.width and match.height else None
    if info is None or subentry is None or size is None or info.detect_size in (None, size):
        return
    _LOGGER.info("Frigate camera %s now detects at %dx%d", info.camera, *size)
    hass.config_entries.async_update_subentry(
        entry,
        subentry,
        data={**subentry.data, CONF_DETECT_WIDTH: size[0], CONF_DETECT_HEIGHT: size[1]},
    )
