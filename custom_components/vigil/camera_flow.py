"""Camera subentry flow: an RTSP/HTTP stream, an ONVIF camera or a Frigate camera."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import (
    CONF_HOST,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_URL,
    CONF_USERNAME,
)
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

from vigil_core.errors import VigilError
from vigil_core.sources.frigate import FrigateServer
from vigil_core.sources.onvif import OnvifProfile

from .const import (
    CONF_PROFILE,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    SOURCE_FRIGATE,
    SOURCE_ONVIF,
    SOURCE_STREAM,
)
from .engine_config import source_url
from .flow_base import (
    PASSWORD_FIELD,
    TEXT_FIELD,
    URL_FIELD,
    kept_password,
    without_password,
)
from .frigate_flow import FrigateCameraFlow
from .onvif_flow import OnvifDiscoveryFlow
from .validation import (
    async_onvif_profiles,
    async_probe_stream,
    form_error,
    onvif_profile_label,
    onvif_unique_id,
    split_credentials,
    stream_unique_id,
    valid_stream_url,
)

DEFAULT_ONVIF_PORT = 80

STREAM_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_NAME): TEXT_FIELD,
        vol.Required(CONF_URL): URL_FIELD,
        vol.Optional(CONF_USERNAME): TEXT_FIELD,
        vol.Optional(CONF_PASSWORD): PASSWORD_FIELD,
    }
)

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


class CameraSubentryFlow(OnvifDiscoveryFlow, FrigateCameraFlow):
    """Add or change a camera: a stream URL, an ONVIF camera or a Frigate camera."""

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._saved: dict[str, Any] = {}
        self._suggested: dict[str, Any] = {}
        self._onvif: dict[str, Any] = {}
        self._profiles: dict[str, OnvifProfile] = {}
        self._frigate: dict[str, Any] = {}
        self._frigate_server: FrigateServer | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Ask which kind of source the camera is."""
        return self.async_show_menu(
            step_id="user", menu_options=[SOURCE_STREAM, SOURCE_ONVIF, SOURCE_FRIGATE]
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a camera, starting from the form of its source type."""
        subentry = self._get_reconfigure_subentry()
        self._saved = dict(subentry.data) | {CONF_NAME: subentry.title}
        source_type = subentry.data[CONF_SOURCE_TYPE]
        if source_type == SOURCE_ONVIF:
            return await self.async_step_onvif()
        if source_type == SOURCE_FRIGATE:
            return await self.async_step_frigate()
        return await self.async_step_stream()

    async def async_step_stream(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Take an RTSP/HTTP URL (any NVR), check it plays, and save it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if not valid_stream_url(str(user_input[CONF_URL])):
                errors[CONF_URL] = "invalid_url"
            else:
                data = self._stream_data(user_input)
                unique_id = stream_unique_id(data[CONF_URL])
                if self._is_duplicate_camera(unique_id):
                    errors["base"] = "already_configured"
                elif error := await async_probe_stream(self.hass, source_url(data)):
                    errors["base"] = error
                else:
                    return self._finish(str(user_input[CONF_NAME]).strip(), data, unique_id)
        return self.async_show_form(
            step_id="stream",
            data_schema=self.add_suggested_values_to_schema(
                STREAM_SCHEMA, without_password(user_input or self._saved)
            ),
            errors=errors,
        )

    def _stream_data(self, user_input: Mapping[str, Any]) -> dict[str, Any]:
        """Return a stream camera's data; credentials typed into the URL move to their fields."""
        url, url_user, url_password = split_credentials(str(user_input[CONF_URL]))
        data: dict[str, Any] = {CONF_SOURCE_TYPE: SOURCE_STREAM, CONF_URL: url}
        username = user_input.get(CONF_USERNAME) or url_user
        if username:
            data[CONF_USERNAME] = username
            password = url_password or kept_password(
                self._saved, {**user_input, CONF_USERNAME: username}
            )
            if password:
                data[CONF_PASSWORD] = password
        return data

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
            try:
                profiles = await async_onvif_profiles(
                    self._onvif[CONF_HOST],
                    self._onvif[CONF_PORT],
                    self._onvif[CONF_USERNAME],
                    self._onvif[CONF_PASSWORD],
                )
            except VigilError as err:
                errors["base"] = form_error(err)
            else:
                if not profiles:
                    errors["base"] = "no_profiles"
                else:
                    self._profiles = {profile.token: profile for profile in profiles}
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
            elif error := await async_probe_stream(self.hass, source_url(data)):
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
