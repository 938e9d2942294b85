"""Actions on a server's access log and documents (administrators only, every call logged).

The access log and the documents live on the Vigil server; these actions ask it, with the
caller's name for the log, and keep a copy of what it returns in Home Assistant's `vigil/`
folder (the controller takes exports and documents away from there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util.json import JsonValueType
import voluptuous as vol

import vigil_protocol as vp

from .access import async_register_admin_action, async_require_admin
from .anpr_entities import async_setup_anpr_services
from .const import CONF_REASON, DOMAIN
from .data import VigilConfigEntry
from .plate_services import async_setup_plate_services
from .rule_entities import async_setup_rule_services
from .tamper import async_setup_tamper_services

SERVICE_VERIFY_ACCESS_LOG = "verify_access_log"
SERVICE_EXPORT_ACCESS_LOG = "export_access_log"
SERVICE_GENERATE_IMPACT_ASSESSMENT = "generate_impact_assessment"
ATTR_SERVER = "server"
"""The config entry of the server an action is for (needed when there are several)."""

_SERVER = vol.Optional(ATTR_SERVER)
REASON_SCHEMA = vol.Schema(
    {vol.Required(CONF_REASON): vol.All(str, vol.Strip, vol.Length(min=3)), _SERVER: str}
)
OPTIONAL_REASON_SCHEMA = vol.Schema(
    {vol.Optional(CONF_REASON, default=""): vol.All(str, vol.Strip), _SERVER: str}
)


def output_dir(hass: HomeAssistant) -> Path:
    """Return where exports and documents are kept for the controller (config/vigil)."""
    return Path(hass.config.path(DOMAIN))


def target_entry(hass: HomeAssistant, call: ServiceCall) -> VigilConfigEntry:
    """Return the loaded server entry a call is for: the one named, or the only one."""
    loaded = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]
    wanted = call.data.get(ATTR_SERVER)
    if wanted:
        loaded = [entry for entry in loaded if entry.entry_id == wanted]
    if not loaded:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    if len(loaded) > 1:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="choose_server")
    return loaded[0]


async def _async_verify(call: ServiceCall) -> ServiceResponse:
    """Check the access log's chain on the server (the check is logged)."""
    actor = await async_require_admin(call.hass, call.context)
    entry = target_entry(call.hass, call)
    check = await entry.runtime_data.store.async_request(
        vp.VerifyAccessLog(actor=actor, reason=call.data[CONF_REASON]), vp.AccessLogCheck
    )
    return {
        "ok": check.ok,
        "entries": check.entries,
        "first_broken": check.first_broken,
        "line": check.line,
        "reason": check.reason,
        "head": check.head,
    }


async def _async_export(call: ServiceCall) -> ServiceResponse:
    """Export the access log with its check; keep a copy in config/vigil/exports."""
    hass = call.hass
    actor = await async_require_admin(hass, call.context)
    entry = target_entry(hass, call)
    export = await entry.runtime_data.store.async_request(
        vp.ExportAccessLog(actor=actor, reason=call.data[CONF_REASON]), vp.AccessLogExport
    )
    path = output_dir(hass) / "exports" / Path(export.filename).name
    await hass.async_add_executor_job(_write, path, export.content.encode())
    return {"path": str(path), "filename": export.filename}


async def _async_generate(call: ServiceCall) -> ServiceResponse:
    """Write the impact assessment, the record of processing and the signs from the server."""
    hass = call.hass
    actor = await async_require_admin(hass, call.context)
    entry = target_entry(hass, call)
    store = entry.runtime_data.store
    users = [u for u in await hass.auth.async_get_users() if not u.system_generated and u.is_active]
    admins = sum(1 for user in users if user.is_admin)
    documents = await store.async_request(
        vp.GenerateDocuments(
            actor=actor,
            reason=call.data[CONF_REASON],
            recipients=(
                vp.Recipient(key="ha_administrators", count=admins),
                vp.Recipient(key="ha_users", count=len(users) - admins),
            ),
        ),
        vp.Documents,
    )
    folder = output_dir(hass) / "documents"
    files: list[JsonValueType] = []
    for document in documents.documents:
        body = await store.client.fetch(f"/api/documents/{document.filename}")
        path = folder / Path(document.filename).name
        await hass.async_add_executor_job(_write, path, body)
        files.append(str(path))
    return {"folder": str(folder), "files": files}


def _write(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register Vigil's actions (once, in async_setup)."""
    actions: list[tuple[str, Any, vol.Schema]] = [
        (SERVICE_VERIFY_ACCESS_LOG, _async_verify, OPTIONAL_REASON_SCHEMA),
        (SERVICE_EXPORT_ACCESS_LOG, _async_export, REASON_SCHEMA),
        (SERVICE_GENERATE_IMPACT_ASSESSMENT, _async_generate, OPTIONAL_REASON_SCHEMA),
    ]
    for name, handler, schema in actions:
        async_register_admin_action(hass, name, handler, schema, SupportsResponse.OPTIONAL)
    # The families' actions: line counters, camera health, plate searches.
    async_setup_rule_services(hass)
    async_setup_tamper_services(hass)
    async_setup_anpr_services(hass)
    # Plate records (issue 21): review of watchlist matches, export, erasure, objections.
    async_setup_plate_services(hass)
