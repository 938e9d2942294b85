"""Camera subentry flow: an RTSP/HTTP stream, an ONVIF camera or a Frigate camera.

The Vigil server does every check (it is where the cameras are reached from): it opens the
stream and decodes a frame (`ProbeStream`), searches for and logs in to ONVIF cameras, and
reads Frigate's API. Credentials go to the server in the request, never inside a URL that could
be logged, and are saved in the subentry's own fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_URL, CONF_USERNAME
import voluptuous as vol

import vigil_protocol as vp
from vigil_protocol.urls import split_credentials

from .const import CONF_SOURCE_TYPE, SOURCE_FRIGATE, SOURCE_ONVIF, SOURCE_STREAM
from .flow_base import PASSWORD_FIELD, TEXT_FIELD, URL_FIELD, kept_password, without_password
from .frigate_flow import FrigateCameraFlow
from .onvif_flow import OnvifCameraFlow
from .validation import stream_unique_id, stream_url_error

STREAM_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_NAME): TEXT_FIELD,
        vol.Required(CONF_URL): URL_FIELD,
        vol.Optional(CONF_USERNAME): TEXT_FIELD,
        vol.Optional(CONF_PASSWORD): PASSWORD_FIELD,
    }
)


class CameraSubentryFlow(OnvifCameraFlow, FrigateCameraFlow):
    """Add or change a camera: a stream URL, an ONVIF camera or a Frigate camera."""

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._saved: dict[str, Any] = {}
        self._suggested: dict[str, Any] = {}
        self._onvif: dict[str, Any] = {}
        self._profiles: dict[str, vp.OnvifProfile] = {}
        self._discovered: dict[str, vp.DiscoveredDevice] = {}
        self._frigate: dict[str, Any] = {}
        self._frigate_server: vp.FrigateServer | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Ask which kind of source the camera is."""
        if missing := self._server_missing():
            return missing
        return self.async_show_menu(
            step_id="user", menu_options=[SOURCE_STREAM, SOURCE_ONVIF, SOURCE_FRIGATE]
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a camera, starting from the form of its source type."""
        if missing := self._server_missing():
            return missing
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
            if url_error := stream_url_error(str(user_input[CONF_URL])):
                errors[CONF_URL] = url_error
            else:
                data = self._stream_data(user_input)
                unique_id = stream_unique_id(data[CONF_URL])
                if self._is_duplicate_camera(unique_id):
                    errors["base"] = "already_configured"
                elif self._name_taken(str(user_input[CONF_NAME])):
                    errors[CONF_NAME] = "name_taken"
                elif error := await self._async_probe(
                    data[CONF_URL], data.get(CONF_USERNAME), data.get(CONF_PASSWORD)
                ):
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
