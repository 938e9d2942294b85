"""The camera flow's ONVIF steps: cameras found by WS-Discovery, then the camera's profiles.

The server searches its own network (it is where the cameras are reached from, which may not
be Home Assistant's) and logs in to the camera; the flow only lists what it answers.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

import vigil_protocol as vp

from .client import VigilClientError
from .const import CONF_PROFILE, CONF_SOURCE_TYPE, CONF_STREAM_URL, SOURCE_ONVIF
from .flow_base import (
    PASSWORD_FIELD,
    TEXT_FIELD,
    VigilSubentryFlow,
    camera_subentries,
    kept_password,
    without_password,
)
from .validation import discovered_label, form_error, onvif_profile_label, onvif_unique_id

_LOGGER = logging.getLogger(__name__)

CONF_DEVICE: Final = "device"
MANUAL_ENTRY: Final = "manual"
DEFAULT_ONVIF_PORT: Final = 80
DISCOVERY_TIMEOUT_S = 2.0
"""How long the server listens for WS-Discovery answers."""

ONVIF_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_NAME): TEXT_FIELD,
        vol.Required(CONF_HOST): TEXT_FIELD,
        vol.Required(CONF_PORT, default=DEFAULT_ONVIF_PORT): NumberSelector(
            NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
        ),
        vol.Optional(CONF_USERNAME): TEXT_FIELD,
        vol.Optional(CONF_PASSWORD): PASSWORD_FIELD,
    }
)


class OnvifCameraFlow(VigilSubentryFlow):
    """Offer the cameras WS-Discovery finds, log in to one, and pick its stream."""

    _saved: dict[str, Any]
    _onvif: dict[str, Any]
    _profiles: dict[str, vp.OnvifProfile]
    _discovered: dict[str, vp.DiscoveredDevice]
    _suggested: dict[str, Any]
    _discovery_done: bool = False

    async def async_step_onvif(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Connect to an ONVIF camera and list its media profiles."""
        if user_input is None and (discovered := await self._async_offer_discovered()):
            return discovered
        errors: dict[str, str] = {}
        if user_input is not None:
            self._onvif = {
                CONF_NAME: str(user_input[CONF_NAME]).strip(),
                CONF_HOST: str(user_input[CONF_HOST]).strip(),
                CONF_PORT: int(user_input[CONF_PORT]),
                CONF_USERNAME: user_input.get(CONF_USERNAME) or "",
                CONF_PASSWORD: kept_password(self._saved, user_input) or "",
            }
            if self._name_taken(self._onvif[CONF_NAME]):
                errors[CONF_NAME] = "name_taken"
            else:
                try:
                    device = await self._async_call(
                        vp.FetchOnvifDevice(
                            host=self._onvif[CONF_HOST],
                            port=self._onvif[CONF_PORT],
                            username=self._onvif[CONF_USERNAME],
                            password=self._onvif[CONF_PASSWORD],
                        ),
                        vp.OnvifDevice,
                    )
                except VigilClientError as err:
                    errors["base"] = form_error(err)
                else:
                    if not device.profiles:
                        errors["base"] = "no_profiles"
                    else:
                        # The server lists the profile best for analysis first.
                        self._profiles = {profile.token: profile for profile in device.profiles}
                        return await self.async_step_onvif_profile()
        return self.async_show_form(
            step_id="onvif",
            data_schema=self.add_suggested_values_to_schema(
                ONVIF_SCHEMA, without_password(user_input or self._saved or self._suggested)
            ),
            errors=errors,
        )

    async def async_step_onvif_profile(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Pick the stream among the camera's profiles, check it plays, and save it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            profile = self._profiles[user_input[CONF_PROFILE]]
            host, port = self._onvif[CONF_HOST], self._onvif[CONF_PORT]
            data: dict[str, Any] = {
                CONF_SOURCE_TYPE: SOURCE_ONVIF,
                CONF_HOST: host,
                CONF_PORT: port,
                CONF_USERNAME: self._onvif[CONF_USERNAME],
                CONF_PASSWORD: self._onvif[CONF_PASSWORD],
                CONF_PROFILE: profile.token,
                CONF_STREAM_URL: profile.stream_uri,
            }
            unique_id = onvif_unique_id(host, port, profile.token)
            if self._is_duplicate_camera(unique_id):
                errors["base"] = "already_configured"
            elif error := await self._async_probe(
                str(profile.stream_uri), self._onvif[CONF_USERNAME], self._onvif[CONF_PASSWORD]
            ):
                errors["base"] = error
            else:
                return self._finish(self._onvif[CONF_NAME], data, unique_id)
        options = [
            SelectOptionDict(value=profile.token, label=onvif_profile_label(profile))
            for profile in self._profiles.values()
        ]
        default = self._saved.get(CONF_PROFILE)
        if default not in self._profiles:
            default = options[0]["value"]
        schema = vol.Schema(
            {
                vol.Required(CONF_PROFILE, default=default): SelectSelector(
                    SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST)
                )
            }
        )
        return self.async_show_form(step_id="onvif_profile", data_schema=schema, errors=errors)

    async def _async_offer_discovered(self) -> SubentryFlowResult | None:
        """Search once per flow; return the selection step when new cameras answered."""
        if self._discovery_done or self._reconfiguring:
            return None
        self._discovery_done = True
        self._suggested = {}
        known = {
            (str(sub.data.get(CONF_HOST, "")).lower(), sub.data.get(CONF_PORT))
            for sub in camera_subentries(self._get_entry())
            if sub.data.get(CONF_SOURCE_TYPE) == SOURCE_ONVIF
        }
        try:
            found = await self._async_call(
                vp.DiscoverOnvif(timeout_s=DISCOVERY_TIMEOUT_S), vp.OnvifDiscovery
            )
        except VigilClientError as err:
            _LOGGER.debug("WS-Discovery through the server failed: %s", err)
            return None
        self._discovered = {
            device.endpoint or f"{device.host}:{device.port}": device
            for device in found.devices
            if (device.host.lower(), device.port) not in known
        }
        if not self._discovered:
            return None
        return await self.async_step_onvif_discovery()

    async def async_step_onvif_discovery(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Let the user pick a discovered camera, or enter one by hand."""
        if user_input is not None:
            device = self._discovered.get(user_input[CONF_DEVICE])
            if device is not None:
                self._suggested = {
                    CONF_NAME: device.name or device.hardware,
                    CONF_HOST: device.host,
                    CONF_PORT: device.port,
                }
            return await self.async_step_onvif()
        options = [
            SelectOptionDict(value=key, label=discovered_label(device))
            for key, device in self._discovered.items()
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
