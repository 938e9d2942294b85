"""Flow steps for ONVIF cameras: cameras found by WS-Discovery, and reauthentication.

Reauthentication is the hub entry's flow because Home Assistant 2025.4 has no reauth source for
config subentries (their flows start from ``user`` or ``reconfigure`` only). The runtime starts it
with ``entry.async_start_reauth(data={camera_subentry_id: …})`` when a camera refuses Vigil's
login; the flow asks for that camera's username and password, checks them against the camera and
updates its subentry, which reloads the entry. One reauth flow runs per entry at a time; another
camera that refuses its login asks again once that one is done.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    SubentryFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

from vigil_core.errors import VigilError
from vigil_core.sources.onvif import fetch_onvif_device
from vigil_core.sources.ws_discovery import (
    MULTICAST_TARGET,
    DiscoveredCamera,
    discover_onvif_cameras,
)

from .const import CONF_SOURCE_TYPE, PROBE_TIMEOUT_S, SOURCE_ONVIF
from .engine_config import source_url
from .flow_base import PASSWORD_FIELD, TEXT_FIELD, VigilSubentryFlow, camera_subentries
from .onvif_runtime import CONF_REAUTH_SUBENTRY, REAUTH_SOURCE_TYPES
from .validation import async_probe_stream, form_error

_LOGGER = logging.getLogger(__name__)

CONF_DEVICE: Final = "device"
MANUAL_ENTRY: Final = "manual"
DISCOVERY_TIMEOUT_S: Final = 2.0
# Where the probe goes; tests point it at a responder on 127.0.0.1.
DISCOVERY_TARGETS: list[tuple[str, int]] = [MULTICAST_TARGET]


async def async_discover_cameras(hass: HomeAssistant) -> list[DiscoveredCamera]:
    """Return the ONVIF cameras that answer a WS-Discovery probe (none on any error)."""
    if not DISCOVERY_TARGETS:
        return []
    try:
        return await discover_onvif_cameras(
            timeout_s=DISCOVERY_TIMEOUT_S, targets=list(DISCOVERY_TARGETS)
        )
    except Exception:
        _LOGGER.debug("WS-Discovery failed", exc_info=True)
        return []


class OnvifDiscoveryFlow(VigilSubentryFlow):
    """Offer the cameras WS-Discovery finds before the manual ONVIF form."""

    _discovered: dict[str, DiscoveredCamera]
    _discovery_done: bool = False
    _suggested: dict[str, Any]

    async def async_step_onvif(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Show the ONVIF form (the camera flow implements it)."""
        raise NotImplementedError

    async def _async_offer_discovered(self) -> SubentryFlowResult | None:
        """Probe once per new camera; return the selection step when new cameras answered."""
        if self._discovery_done or self._reconfiguring:
            return None
        self._discovery_done = True
        self._suggested = {}
        known = {
            (str(sub.data.get(CONF_HOST, "")).lower(), sub.data.get(CONF_PORT))
            for sub in camera_subentries(self._get_entry())
            if sub.data.get(CONF_SOURCE_TYPE) == SOURCE_ONVIF
        }
        self._discovered = {
            camera.endpoint: camera
            for camera in await async_discover_cameras(self.hass)
            if (camera.host.lower(), camera.port) not in known
        }
        if not self._discovered:
            return None
        return await self.async_step_onvif_discovery()

    async def async_step_onvif_discovery(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Let the user pick a discovered camera, or enter one by hand."""
        if user_input is not None:
            camera = self._discovered.get(user_input[CONF_DEVICE])
            if camera is not None:
                self._suggested = {
                    CONF_NAME: camera.name or camera.hardware,
                    CONF_HOST: camera.host,
                    CONF_PORT: camera.port,
                }
            return await self.async_step_onvif()
        options = [
            SelectOptionDict(value=endpoint, label=camera.label)
            for endpoint, camera in self._discovered.items()
        ]
        options.append(SelectOptionDict(value=MANUAL_ENTRY, label=MANUAL_ENTRY))
        schema = vol.Schema(
            {
                vol.Required(CONF_DEVICE, default=options[0]["value"]): SelectSelector(
                    SelectSelectorConfig(
                        options=options,
                        mode=SelectSelectorMode.LIST,
                        translation_key="onvif_device",
                    )
                )
            }
        )
        return self.async_show_form(step_id="onvif_discovery", data_schema=schema)


class CameraReauthFlow(ConfigFlow):
    """Ask again for the credentials of a camera that refuses Vigil's login."""

    _reauth_subentry_id: str | None = None

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start from the camera the runtime named."""
        self._reauth_subentry_id = entry_data.get(CONF_REAUTH_SUBENTRY)
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the camera's login form; check the new credentials before saving them."""
        entry = self._get_reauth_entry()
        subentry = entry.subentries.get(self._reauth_subentry_id or "")
        if subentry is None or subentry.data.get(CONF_SOURCE_TYPE) not in REAUTH_SOURCE_TYPES:
            return self.async_abort(reason="reauth_camera_removed")
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                **subentry.data,
                CONF_USERNAME: str(user_input.get(CONF_USERNAME) or ""),
                CONF_PASSWORD: str(user_input.get(CONF_PASSWORD) or ""),
            }
            if error := await _async_check_login(self.hass, data):
                errors["base"] = error
            else:
                # The update listener reloads the entry with the new credentials.
                self.hass.config_entries.async_update_subentry(entry, subentry, data=data)
                return self.async_abort(reason="reauth_successful")
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_USERNAME, default=str(subentry.data.get(CONF_USERNAME) or "")
                ): TEXT_FIELD,
                vol.Optional(CONF_PASSWORD): PASSWORD_FIELD,
            }
        )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={"camera": subentry.title, "host": _where(subentry)},
        )


async def _async_check_login(hass: HomeAssistant, data: Mapping[str, Any]) -> str | None:
    """Return a form error when the camera still refuses, None when the login works."""
    if data.get(CONF_SOURCE_TYPE) != SOURCE_ONVIF:
        return await async_probe_stream(hass, source_url(data))
    try:
        await fetch_onvif_device(
            str(data[CONF_HOST]),
            int(data[CONF_PORT]),
            str(data[CONF_USERNAME]),
            str(data[CONF_PASSWORD]),
            timeout_s=PROBE_TIMEOUT_S,
        )
    except VigilError as err:
        return form_error(err)
    return None


def _where(subentry: ConfigSubentry) -> str:
    """Return where the camera is, for the form's text (never credentials)."""
    if CONF_HOST in subentry.data:
        return f"{subentry.data[CONF_HOST]}:{subentry.data.get(CONF_PORT, '')}"
    return subentry.title
