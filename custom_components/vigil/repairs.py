"""Fix flows of Vigil's repair issues: a camera, or a Frigate server, that refuses its login.

The entry-level reauthentication is the Vigil server's token; a camera's own credentials are a
subentry's, and Home Assistant has no reauth source for subentries. So a camera that refuses
its login raises a fixable repair issue whose data names the camera's subentry
(``{"subentry_id": ...}``, translation key ``camera_auth_failed``; issues.py raises it from the
camera's state), and Frigate refusing the saved API login raises ``frigate_auth_failed``
(frigate_setup.py). The fix flow asks for the credentials, has the server check them against
the camera (or the Frigate server) and saves them; the entry reloads and the issue is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any, Final

from homeassistant import data_entry_flow
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
import voluptuous as vol

import vigil_protocol as vp
from vigil_protocol.urls import split_credentials

from .client import CannotConnect, VigilClientError
from .const import CONF_SOURCE_TYPE, DOMAIN, PROBE_TIMEOUT_S, SOURCE_FRIGATE, SOURCE_ONVIF
from .flow_base import PASSWORD_FIELD, TEXT_FIELD, connected_store
from .frigate_flow import frigate_server_cameras
from .picture_flow import stream_credentials
from .server_config import frigate_info
from .validation import form_error

_LOGGER = logging.getLogger(__name__)

CONF_SUBENTRY_ID: Final = "subentry_id"
CAMERA_AUTH_ISSUE: Final = "camera_auth_failed"
"""Translation key of a camera refusing its login (raised by issues.py)."""
FRIGATE_AUTH_ISSUE: Final = "frigate_auth_failed"
"""Translation key of a Frigate server refusing the saved login (raised by frigate_setup.py)."""

FRIGATE_LOGIN_SCHEMA = vol.Schema(
    {vol.Required(CONF_USERNAME): TEXT_FIELD, vol.Required(CONF_PASSWORD): PASSWORD_FIELD}
)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Return the fix flow of a fixable issue: a login to ask again, or a confirmation."""
    subentry_id = (data or {}).get(CONF_SUBENTRY_ID)
    if isinstance(subentry_id, str) and subentry_id:
        return CameraLoginRepairFlow(subentry_id)
    return ConfirmRepairFlow()


def _find(hass: HomeAssistant, subentry_id: str) -> tuple[ConfigEntry, ConfigSubentry] | None:
    """Return the server entry holding a camera subentry, and the subentry."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if (subentry := entry.subentries.get(subentry_id)) is not None:
            return entry, subentry
    return None


def _where(data: Mapping[str, Any]) -> str:
    """Return where a camera is, for the form's text (never credentials)."""
    if data.get(CONF_SOURCE_TYPE) == SOURCE_ONVIF:
        return f"{data[CONF_HOST]}:{data[CONF_PORT]}"
    return split_credentials(stream_credentials(data)[0])[0]


class CameraLoginRepairFlow(RepairsFlow):
    """Ask again for the login of a camera (or of its Frigate server) and save it."""

    def __init__(self, subentry_id: str) -> None:
        """Remember the camera the issue names."""
        self._subentry_id = subentry_id

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Show the form for the camera's kind of login."""
        found = _find(self.hass, self._subentry_id)
        if found is None:
            return self.async_abort(reason="camera_removed")
        entry, camera = found
        if connected_store(entry) is None:
            return self.async_abort(
                reason="server_unavailable", description_placeholders={"server": entry.title}
            )
        if camera.data.get(CONF_SOURCE_TYPE) == SOURCE_FRIGATE:
            return await self.async_step_frigate_login()
        return await self.async_step_credentials()

    async def async_step_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Ask for the camera's username and password; check them with the camera first."""
        found = _find(self.hass, self._subentry_id)
        if found is None:
            return self.async_abort(reason="camera_removed")
        entry, camera = found
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                **camera.data,
                CONF_USERNAME: str(user_input.get(CONF_USERNAME) or ""),
                CONF_PASSWORD: str(user_input.get(CONF_PASSWORD) or ""),
            }
            if not (error := await self._async_check_camera(entry, data)):
                # The entry's update listener reloads it with the new credentials.
                self.hass.config_entries.async_update_subentry(entry, camera, data=data)
                return self.async_create_entry(data={})
            errors["base"] = error
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_USERNAME, default=str(camera.data.get(CONF_USERNAME) or "")
                ): TEXT_FIELD,
                vol.Optional(CONF_PASSWORD): PASSWORD_FIELD,
            }
        )
        return self.async_show_form(
            step_id="credentials",
            data_schema=schema,
            errors=errors,
            description_placeholders={"camera": camera.title, "host": _where(camera.data)},
        )

    async def async_step_frigate_login(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Ask for the Frigate login, check it, and save it into that server's cameras."""
        found = _find(self.hass, self._subentry_id)
        info = frigate_info(found[1].data) if found is not None else None
        if found is None or info is None:
            return self.async_abort(reason="camera_removed")
        entry, camera = found
        errors: dict[str, str] = {}
        if user_input is not None:
            username, password = str(user_input[CONF_USERNAME]), str(user_input[CONF_PASSWORD])
            request = vp.FetchFrigate(
                url=info.api_url, username=username, password=password, verify_ssl=info.verify_ssl
            )
            if not (error := await self._async_check(entry, request, vp.FrigateServer)):
                for other in frigate_server_cameras(entry, info.api_url):
                    # The entry's update listener reloads it with the new login.
                    self.hass.config_entries.async_update_subentry(
                        entry,
                        other,
                        data={**other.data, CONF_USERNAME: username, CONF_PASSWORD: password},
                    )
                return self.async_create_entry(data={})
            errors["base"] = error
        return self.async_show_form(
            step_id="frigate_login",
            data_schema=self.add_suggested_values_to_schema(
                FRIGATE_LOGIN_SCHEMA, {CONF_USERNAME: info.username or ""}
            ),
            errors=errors,
            description_placeholders={
                "camera": camera.title,
                "url": split_credentials(info.api_url)[0],
            },
        )

    async def _async_check_camera(self, entry: ConfigEntry, data: Mapping[str, Any]) -> str | None:
        """Return a form error when the camera still refuses, None when the login works."""
        if data.get(CONF_SOURCE_TYPE) == SOURCE_ONVIF:
            return await self._async_check(
                entry,
                vp.FetchOnvifDevice(
                    host=str(data[CONF_HOST]),
                    port=int(data[CONF_PORT]),
                    username=str(data[CONF_USERNAME]),
                    password=str(data[CONF_PASSWORD]),
                ),
                vp.OnvifDevice,
            )
        url, username, password = stream_credentials(data)
        return await self._async_check(
            entry,
            vp.ProbeStream(
                url=url, username=username, password=password, timeout_s=PROBE_TIMEOUT_S
            ),
            vp.StreamProbe,
        )

    async def _async_check(
        self, entry: ConfigEntry, request: vp.Request, answer: type[vp.Response]
    ) -> str | None:
        """Send a check to the entry's server; return a form error, or None when it passed."""
        store = connected_store(entry)
        try:
            if store is None:
                raise CannotConnect("the Vigil server is not connected")
            await store.client.call(request, answer)
        except VigilClientError as err:
            return form_error(err)
        return None
