"""Actions: verify and export the access log, write the impact assessment (administrators only)."""

from __future__ import annotations

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.util import dt as dt_util
import voluptuous as vol

from vigil_core.privacy.access_log import AccessAction

from .anpr_entities import async_setup_anpr_services
from .const import CONF_REASON, DOMAIN
from .privacy import (
    async_access_log,
    async_generate_documents,
    async_log,
    async_require_admin,
    loaded_entry,
    output_dir,
)
from .rule_entities import async_setup_rule_services
from .tamper import async_setup_tamper_services

SERVICE_VERIFY_ACCESS_LOG = "verify_access_log"
SERVICE_EXPORT_ACCESS_LOG = "export_access_log"
SERVICE_GENERATE_IMPACT_ASSESSMENT = "generate_impact_assessment"

REASON_SCHEMA = vol.Schema({vol.Required(CONF_REASON): vol.All(str, vol.Strip, vol.Length(min=3))})
OPTIONAL_REASON_SCHEMA = vol.Schema(
    {vol.Optional(CONF_REASON, default=""): vol.All(str, vol.Strip)}
)


async def _async_verify(call: ServiceCall) -> ServiceResponse:
    """Check the access log's chain; return the result and log the check."""
    hass = call.hass
    actor = await async_require_admin(hass, call.context)
    loaded_entry(hass)
    log = await async_access_log(hass)
    check = await hass.async_add_executor_job(log.verify)
    await async_log(
        hass,
        actor,
        AccessAction.LOG_VERIFY,
        target="access_log",
        reason=call.data[CONF_REASON],
        details={"ok": check.ok, "entries": check.entries, "first_broken": check.first_broken},
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
    """Export the access log with its verification to a file; log the export first."""
    hass = call.hass
    actor = await async_require_admin(hass, call.context)
    loaded_entry(hass)
    log = await async_access_log(hass)
    stamp = dt_util.utcnow().strftime("%Y%m%dT%H%M%SZ")
    path = output_dir(hass) / "exports" / f"access_log-{stamp}.json"
    await async_log(
        hass,
        actor,
        AccessAction.LOG_EXPORT,
        target=path.name,
        reason=call.data[CONF_REASON],
    )
    result = await hass.async_add_executor_job(log.export, path)
    return {
        "path": str(result.path),
        "entries": result.entries,
        "ok": result.verification.ok,
        "first_broken": result.verification.first_broken,
    }


async def _async_generate(call: ServiceCall) -> ServiceResponse:
    """Write the impact assessment, the record of processing and the signs."""
    hass = call.hass
    actor = await async_require_admin(hass, call.context)
    entry = loaded_entry(hass)
    written = await async_generate_documents(hass, entry, actor, call.data[CONF_REASON])
    return {
        "folder": str(output_dir(hass) / "documents"),
        "files": [str(document.path) for document in written],
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register Vigil's actions (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_VERIFY_ACCESS_LOG,
        _async_verify,
        schema=OPTIONAL_REASON_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT_ACCESS_LOG,
        _async_export,
        schema=REASON_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    async_setup_rule_services(hass)
    async_setup_tamper_services(hass)
    async_setup_anpr_services(hass)
    hass.services.async_register(
        DOMAIN,
        SERVICE_GENERATE_IMPACT_ASSESSMENT,
        _async_generate,
        schema=OPTIONAL_REASON_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
