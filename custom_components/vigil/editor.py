"""The Vigil panel's WebSocket commands: cameras and shapes, pictures, replays, saving.

Administrators only. The browser never talks to a Vigil server: pictures come through these
commands (the server's token stays in Home Assistant), and saving goes through the checks the
flows make: the shape rules, the server's dry run of the camera's configuration, and the
deployment context's privacy gate (a save that needs a stated legal basis is sent to the form,
which asks for it).
"""

from __future__ import annotations

import base64
import logging
from types import MappingProxyType
from typing import Any, Final

from homeassistant.components import websocket_api
from homeassistant.config_entries import ConfigEntry, ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
import voluptuous as vol

import vigil_protocol as vp

from .client import CannotConnect, ServerError, VigilClientError
from .const import DOMAIN, PROBE_TIMEOUT_S, SNAPSHOT_MAX_WIDTH, SUBENTRY_CAMERA
from .editor_shapes import (
    DIRECTIONS,
    SERVER_ERRORS,
    SHAPE_TYPES,
    Draft,
    camera_shapes,
    detector_kinds,
    draft_data,
    duplicate_name,
    geometry_error,
    kept_acknowledgements,
    matches,
    server_item,
    subentry_type,
)
from .flow_base import camera_subentries, connected_store
from .picture_flow import camera_masks, dry_run_config, stream_credentials
from .privacy_flow import deployment_context
from .server_config import slug_id
from .store import VigilStore
from .validation import field_errors

_LOGGER = logging.getLogger(__name__)

SERVER_UNREACHABLE: Final = "server_unreachable"
SHAPE_SCHEMA: Final = vol.Schema(
    {
        vol.Required("type"): vol.In(SHAPE_TYPES),
        vol.Required("name"): str,
        vol.Required("points"): vol.All(
            [vol.All([vol.Coerce(float)], vol.Length(min=2, max=2))], vol.Length(max=100)
        ),
        vol.Optional("id"): str,
        vol.Optional("direction"): vol.In(DIRECTIONS),
    }
)
CAMERA_FIELDS: Final[dict[str | vol.Marker, Any]] = {
    vol.Required("entry_id"): str,
    vol.Required("camera"): str,
}
FORM_FIELDS: Final = {"polygon": "points", "line": "points"}
"""The server's fields a shape's points are."""


@callback
def async_register_editor(hass: HomeAssistant) -> None:
    """Register the panel's commands."""
    for command in (ws_cameras, ws_picture, ws_replay, ws_save):
        websocket_api.async_register_command(hass, command)


class EditorError(Exception):
    """A command cannot be carried out; `code` is a translation key the panel knows."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the code and an English message."""
        super().__init__(message)
        self.code = code


def _entry(hass: HomeAssistant, entry_id: str) -> ConfigEntry:
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise EditorError("not_found", "no such Vigil server")
    return entry


def _camera(entry: ConfigEntry, camera: str) -> ConfigSubentry:
    found = entry.subentries.get(camera)
    if found is None or found.subentry_type != SUBENTRY_CAMERA:
        raise EditorError("not_found", "no such camera")
    return found


def _store(entry: ConfigEntry) -> VigilStore:
    store = connected_store(entry)
    if store is None:
        raise EditorError(SERVER_UNREACHABLE, f"the Vigil server {entry.title} is not connected")
    return store


def _send_error(connection: websocket_api.ActiveConnection, msg_id: int, err: Exception) -> None:
    if isinstance(err, vol.Invalid):
        # The one use of voluptuous beyond the names Home Assistant's shim keeps (Schema,
        # Required, Optional, All, In, Length, Coerce, Strip, Marker, Invalid): the error's
        # text. Since 2026.9 `import voluptuous` is probatio's shim (homeassistant/__init__.py
        # calls `install_as_voluptuous()`), whose `str(error)` reads otherwise ("expected
        # float at 'points[0][0]'", no "@ data[...]"). The panel shows it as it comes and
        # decides on the code alone, so no test or caller may match the text.
        connection.send_error(msg_id, websocket_api.ERR_INVALID_FORMAT, str(err))
    elif isinstance(err, EditorError):
        connection.send_error(msg_id, err.code, str(err))
    elif isinstance(err, ServerError):
        connection.send_error(msg_id, err.translation_key, err.message)
    else:
        _LOGGER.debug("The Vigil server did not answer: %s", err)
        connection.send_error(msg_id, SERVER_UNREACHABLE, str(err))


# --- cameras and their shapes -------------------------------------------------------------------


@websocket_api.websocket_command({vol.Required("type"): "vigil/editor/cameras"})
@websocket_api.require_admin
@callback
def ws_cameras(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """List every Vigil server, its cameras and the shapes drawn on each."""
    servers = []
    for entry in hass.config_entries.async_entries(DOMAIN):
        store = connected_store(entry)
        hello = store.client.hello if store is not None else None
        servers.append(
            {
                "entry_id": entry.entry_id,
                "title": entry.title,
                "connected": store is not None,
                "loaded": entry.state is ConfigEntryState.LOADED,
                "replay": hello is not None and "replay" in hello.capabilities,
                "cameras": [
                    {
                        "id": camera.subentry_id,
                        "name": camera.title,
                        "online": store is not None
                        and store.camera_online(slug_id(camera.subentry_id)),
                        "shapes": camera_shapes(entry, camera.subentry_id),
                    }
                    for camera in camera_subentries(entry)
                ],
            }
        )
    connection.send_result(msg["id"], {"servers": servers})


# --- the picture --------------------------------------------------------------------------------


@websocket_api.websocket_command({vol.Required("type"): "vigil/editor/picture", **CAMERA_FIELDS})
@websocket_api.require_admin
@websocket_api.async_response
async def ws_picture(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Return the camera's current picture (privacy masks blanked) as a JPEG data URL."""
    try:
        entry = _entry(hass, msg["entry_id"])
        camera = _camera(entry, msg["camera"])
        jpeg, live = await _async_picture(entry, _store(entry), camera)
    except (EditorError, VigilClientError) as err:
        _send_error(connection, msg["id"], err)
        return
    data = base64.b64encode(jpeg).decode("ascii")
    connection.send_result(msg["id"], {"image": f"data:image/jpeg;base64,{data}", "live": live})


async def _async_picture(
    entry: ConfigEntry, store: VigilStore, camera: ConfigSubentry
) -> tuple[bytes, bool]:
    """Return the camera's latest analysed frame, or a frame of its stream when it has none.

    The server blanks the saved masks on either (the analysed frame already has them burnt in).
    """
    drawing = {
        "masks": camera_masks(entry, camera.subentry_id),
        "max_width": SNAPSHOT_MAX_WIDTH,
    }
    try:
        live = await store.client.render({"camera_id": slug_id(camera.subentry_id), **drawing})
    except ServerError as err:
        if err.translation_key != "no_picture":
            raise
    else:
        return live, True
    url, username, password = stream_credentials(camera.data)
    probe = await store.client.call(
        vp.ProbeStream(url=url, username=username, password=password, timeout_s=PROBE_TIMEOUT_S),
        vp.StreamProbe,
    )
    return await store.client.render({"frame_id": str(probe.frame_id), **drawing}), False


# --- what a rule would have caught ---------------------------------------------------------------


@websocket_api.websocket_command(
    {vol.Required("type"): "vigil/editor/replay", **CAMERA_FIELDS, vol.Required("shape"): dict}
)
@websocket_api.require_admin
@websocket_api.async_response
async def ws_replay(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Replay the camera's recent tracks through the shape being drawn (a zone, line, area)."""
    try:
        draft = Draft.of(SHAPE_SCHEMA(msg["shape"]))
        entry = _entry(hass, msg["entry_id"])
        camera = _camera(entry, msg["camera"])
        existing = _existing(entry, camera.subentry_id, draft)
        if draft.type == "mask":
            raise EditorError("replay_unsupported", "a privacy mask produces no events")
        if error := geometry_error(draft):
            raise EditorError(error, "the shape is not valid")
        data = draft_data(camera.subentry_id, draft, existing)
        section, item = server_item(draft, data)
        request = vp.ReplayRule(
            camera_id=slug_id(camera.subentry_id),
            zone=item if section == "zones" else None,
            rule=item if section == "rules" else None,
            replaces=slug_id(existing.subentry_id) if existing is not None else None,
        )
        replayed = await _store(entry).client.call(request, vp.RuleReplay)
    except (vol.Invalid, EditorError, VigilClientError) as err:
        _send_error(connection, msg["id"], err)
        return
    connection.send_result(msg["id"], vp.encode(replayed))


# --- saving ---------------------------------------------------------------------------------------


@websocket_api.websocket_command(
    {vol.Required("type"): "vigil/editor/save", **CAMERA_FIELDS, vol.Required("shape"): dict}
)
@websocket_api.require_admin
@websocket_api.async_response
async def ws_save(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Check a shape as the flows do and save it as a new or changed subentry.

    Answers ``{"status": "saved", "id"}``, ``{"status": "invalid", "errors"}`` (translation
    keys of the flows, on ``name``, ``points`` or ``base``), or ``{"status": "acknowledge"}``
    when the deployment context wants a legal basis first (stated in the form).
    """
    try:
        draft = Draft.of(SHAPE_SCHEMA(msg["shape"]))
        entry = _entry(hass, msg["entry_id"])
        camera = _camera(entry, msg["camera"])
        result = await _async_save(hass, entry, camera, draft)
    except (vol.Invalid, EditorError, VigilClientError) as err:
        _send_error(connection, msg["id"], err)
        return
    connection.send_result(msg["id"], result)


def _existing(entry: ConfigEntry, camera: str, draft: Draft) -> ConfigSubentry | None:
    if draft.id is None:
        return None
    existing = entry.subentries.get(draft.id)
    if existing is None or not matches(existing, camera, draft):
        raise EditorError("not_found", "no such shape on this camera")
    return existing


async def _async_save(
    hass: HomeAssistant, entry: ConfigEntry, camera: ConfigSubentry, draft: Draft
) -> dict[str, Any]:
    existing = _existing(entry, camera.subentry_id, draft)
    errors: dict[str, str] = {}
    if not draft.name:
        errors["name"] = "name_required"
    elif duplicate := duplicate_name(entry, camera.subentry_id, draft):
        errors["name"] = duplicate
    if error := geometry_error(draft):
        errors["points"] = error
    if errors:
        return {"status": "invalid", "errors": errors}
    store = _store(entry)
    data = draft_data(camera.subentry_id, draft, existing)
    section, item = server_item(draft, data)
    current = existing.subentry_id if existing is not None else None
    config, prefix = dry_run_config(entry, camera, section, item, current)
    try:
        await store.client.call(vp.ApplyConfig(config=config, dry_run=True), vp.ConfigApplied)
    except ServerError as err:
        found = field_errors(err.fields, prefix, FORM_FIELDS, SERVER_ERRORS, default="points")
        return {"status": "invalid", "errors": found or {"base": "invalid_settings"}}
    missing = await _async_gate(hass, entry, store, data, detector_kinds(draft, data))
    if missing is not None:
        return missing
    title = draft.name
    if existing is None:
        subentry = ConfigSubentry(
            data=MappingProxyType(data),
            subentry_type=subentry_type(draft.type),
            title=title,
            unique_id=None,
        )
        hass.config_entries.async_add_subentry(entry, subentry)
        return {"status": "saved", "id": subentry.subentry_id}
    hass.config_entries.async_update_subentry(entry, existing, data=data, title=title)
    return {"status": "saved", "id": existing.subentry_id}


async def _async_gate(
    hass: HomeAssistant,
    entry: ConfigEntry,
    store: VigilStore,
    data: dict[str, Any],
    kinds: list[str],
) -> dict[str, Any] | None:
    """Return the answer that sends the save to the form when a legal basis is missing."""
    if not kinds:
        return None
    context = deployment_context(entry)
    try:
        verdict = await store.client.call(
            vp.CheckPrivacy(
                context=context.value if context else None,
                detectors=tuple(dict.fromkeys(kinds)),
                language="fr" if hass.config.language.lower().startswith("fr") else "en",
            ),
            vp.PrivacyVerdict,
        )
    except CannotConnect as err:
        raise EditorError(SERVER_UNREACHABLE, str(err)) from err
    missing = kept_acknowledgements(data, list(verdict.acknowledge))
    if not missing:
        return None
    return {
        "status": "acknowledge",
        "detectors": ", ".join(verdict.names.get(kind, kind) for kind in missing),
        "context": verdict.names.get("context", context.value if context else ""),
    }
