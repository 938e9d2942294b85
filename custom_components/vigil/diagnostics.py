"""Diagnostics: the entry, its server's own diagnostics and every state the store holds.

Nothing that identifies a camera, a server or a person leaves: credentials, tokens, addresses,
stream URLs and plates are redacted by key, and every string is scrubbed of URLs and of the
hosts and logins configured in the entry (a reason such as "timeout from 192.0.2.10" too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
from enum import Enum
import re
from typing import Any
from urllib.parse import urlsplit

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_URL,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant

import vigil_protocol as vp

from .client import VigilClientError
from .const import CONF_CAMERA_KEY, CONF_SERVER_ID, CONF_STREAM_URL, CONF_TOKEN
from .data import VigilConfigEntry
from .server_config import CONF_MQTT_HOST, CONF_PLATE, SUBENTRY_WATCHLIST

TO_REDACT = {
    CONF_HOST,
    CONF_PORT,
    CONF_PASSWORD,
    CONF_STREAM_URL,
    CONF_TOKEN,
    CONF_URL,
    CONF_USERNAME,
    CONF_SERVER_ID,
    CONF_MQTT_HOST,
    CONF_PLATE,
    "plates",
    # A camera subentry's unique id is its stream address (without credentials), and its
    # key a digest of it (a guessable one: an address in the home's network).
    "unique_id",
    CONF_CAMERA_KEY,
}
_STATE_NAMES = {vp.PlateState.KIND: "plate_reading"}
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def _secrets(entry: VigilConfigEntry) -> set[str]:
    """Return the hosts, logins and passwords configured in the entry and its subentries."""
    found: set[str] = set()
    for data in (entry.data, *(sub.data for sub in entry.subentries.values())):
        for key in (CONF_HOST, CONF_USERNAME, CONF_PASSWORD, CONF_TOKEN):
            if value := data.get(key):
                found.add(str(value))
        for key in (CONF_URL, CONF_STREAM_URL):
            if value := data.get(key):
                parts = urlsplit(str(value))
                found |= {p for p in (parts.hostname, parts.username, parts.password) if p}
    return {secret for secret in found if len(secret) >= 3}


def _scrub(value: Any, secrets: Iterable[str]) -> Any:
    """Return `value` with every URL and configured secret replaced, at any depth."""
    if isinstance(value, str):
        text = _URL.sub(REDACTED, value)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text
    if isinstance(value, Mapping):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, secrets) for item in value]
    return value


def _plain(value: Any) -> Any:
    """Return a state value as plain JSON (dataclasses and enums included)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        kind = getattr(value, "KIND", None)
        return {"kind": kind, **fields} if kind else fields
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _states(entry: VigilConfigEntry) -> dict[str, Any]:
    """Return every state the store holds, per camera (and rule), the server's own apart."""
    runtime = entry.runtime_data
    store = runtime.store
    cameras: dict[str, Any] = {}
    for camera_id, camera in runtime.cameras.items():
        kinds = (
            vp.CameraState.KIND,
            vp.TamperState.KIND,
            vp.OnvifState.KIND,
            vp.PlateState.KIND,
        )
        # "plates" is a redacted key: the plate reading's state goes under another name.
        found = {
            _STATE_NAMES.get(kind, kind): _plain(state)
            for kind in kinds
            if (state := store.state(camera_id, None, kind)) is not None
        }
        rules = {
            rule_id: _plain(state)
            for rule_id, kind in _rules_of(entry, camera_id)
            if (state := store.state(camera_id, rule_id, kind)) is not None
        }
        cameras[camera_id] = {"source_type": camera.source_type, **found, "rules": rules}
    return {"server": _plain(store.server()), "cameras": cameras}


def _rules_of(entry: VigilConfigEntry, camera_id: str) -> list[tuple[str, str]]:
    runtime = entry.runtime_data
    found = [
        (z.rule_id, vp.ZoneState.KIND) for z in runtime.zones.values() if z.camera_id == camera_id
    ]
    for rule in runtime.rules.values():
        state_type = vp.RULE_STATES.get(rule.kind)
        if rule.camera_id == camera_id and state_type is not None:
            found.append((rule.rule_id, state_type.KIND))
    return found


def _entry(entry: VigilConfigEntry) -> dict[str, Any]:
    """Return the entry and its subentries, a watchlist entry's title too (it may be a plate)."""
    found = dict(entry.as_dict())
    found["subentries"] = [
        {**sub, "title": REDACTED} if sub.get("subentry_type") == SUBENTRY_WATCHLIST else sub
        for sub in found.get("subentries", [])
    ]
    return async_redact_data(found, TO_REDACT)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: VigilConfigEntry
) -> dict[str, Any]:
    """Return the entry, the connection, the server's diagnostics and every state."""
    runtime = entry.runtime_data
    store = runtime.store
    server: dict[str, Any] | str
    try:
        server = dict((await store.client.call(vp.GetDiagnostics(), vp.Diagnostics)).data)
    except VigilClientError as err:
        server = f"unavailable: {err.translation_key}"
    applied = store.applied
    hello = store.client.hello
    data = {
        "entry": _entry(entry),
        "connection": {
            "connected": store.connected,
            "tls": store.client.tls,
            "server_version": hello.server_version if hello else None,
            "protocol_version": hello.protocol_version if hello else None,
            "capabilities": list(hello.capabilities) if hello else [],
        },
        "applied": _plain(applied) if applied is not None else None,
        "server": server,
        "states": _states(entry),
    }
    return async_redact_data(_scrub(data, _secrets(entry)), TO_REDACT)
