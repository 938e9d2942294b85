"""Config flow: add a Vigil server (discovered, or by address and token); options; reauth.

Each config entry is one Vigil server. Its cameras, zones, rules and watchlist are subentries
(their flows are in the *_flow.py modules); the server runs what they describe.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_SSL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import voluptuous as vol

import vigil_protocol as vp
from vigil_protocol.privacy import DeploymentContext

from .access import SETTINGS_ACTOR
from .camera_flow import CameraSubentryFlow
from .client import AuthRefused, IncompatibleServer, VigilClientError
from .const import (
    CONF_ANALYSIS_FPS,
    CONF_CHANGE_REASON,
    CONF_CONFIDENCE,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_MOTION_GATING,
    CONF_SERVER_ID,
    CONF_TOKEN,
    DEFAULT_ANALYSIS_FPS,
    DEFAULT_CONFIDENCE,
    DEFAULT_MOTION_GATING,
    DEFAULT_PORT,
    DOMAIN,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from .privacy_flow import (
    OPTIONS_SECTIONS,
    async_privacy_options,
    options_errors,
    options_suggestions,
)
from .rule_flow import CameraSettingSubentryFlow, RuleSubentryFlow
from .server_config import (
    CONF_MQTT_HOST,
    SUBENTRY_CAMERA_SETTING,
    SUBENTRY_PLATE_READING,
    SUBENTRY_RULE,
    SUBENTRY_WATCHLIST,
)
from .store import new_client
from .watchlist_flow import PlateReadingSubentryFlow, WatchlistSubentryFlow
from .zone_flow import ZoneSubentryFlow

_LOGGER = logging.getLogger(__name__)

TEXT = TextSelector()
TOKEN_FIELD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
PORT_FIELD = NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX))

CONTEXT_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[context.value for context in DeploymentContext],
        mode=SelectSelectorMode.LIST,
        translation_key=CONF_DEPLOYMENT_CONTEXT,
    )
)
CONTEXT_SCHEMA = vol.Schema({vol.Required(CONF_DEPLOYMENT_CONTEXT): CONTEXT_SELECTOR})
"""The context step: no default, the person chooses."""


def server_schema(with_address: bool = True) -> vol.Schema:
    """Return the form asking where a server is and its token."""
    fields: dict[vol.Marker, Any] = {}
    if with_address:
        fields[vol.Required(CONF_HOST)] = TEXT
        fields[vol.Required(CONF_PORT, default=DEFAULT_PORT)] = PORT_FIELD
    fields[vol.Required(CONF_TOKEN)] = TOKEN_FIELD
    fields[vol.Required(CONF_SSL, default=False)] = BooleanSelector()
    fields[vol.Required(CONF_VERIFY_SSL, default=True)] = BooleanSelector()
    return vol.Schema(fields)


OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_ANALYSIS_FPS): NumberSelector(
            NumberSelectorConfig(
                min=0.5, max=15, step=0.5, mode=NumberSelectorMode.BOX, unit_of_measurement="fps"
            )
        ),
        vol.Required(CONF_CONFIDENCE): NumberSelector(
            NumberSelectorConfig(min=0.05, max=0.95, step=0.05, mode=NumberSelectorMode.SLIDER)
        ),
        vol.Required(CONF_MOTION_GATING): BooleanSelector(),
        vol.Optional(CONF_MQTT_HOST): TEXT,
        **OPTIONS_SECTIONS,
    }
)


def _server_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    return {
        CONF_HOST: str(user_input[CONF_HOST]).strip(),
        CONF_PORT: int(user_input[CONF_PORT]),
        CONF_TOKEN: str(user_input[CONF_TOKEN]).strip(),
        CONF_SSL: bool(user_input.get(CONF_SSL, False)),
        CONF_VERIFY_SSL: bool(user_input.get(CONF_VERIFY_SSL, True)),
    }


async def async_check_server(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[vp.Hello | None, dict[str, str]]:
    """Connect and authenticate; return the server's Hello, or the form errors."""
    client = new_client(hass, data, "home-assistant (setup)")
    try:
        hello = await client.connect()
    except AuthRefused:
        return None, {CONF_TOKEN: "invalid_auth"}
    except IncompatibleServer:
        return None, {"base": "protocol_version"}
    except VigilClientError as err:
        _LOGGER.debug("Vigil server at %s:%s: %s", data[CONF_HOST], data[CONF_PORT], err)
        return None, {"base": "cannot_connect"}
    finally:
        await client.close()
    return hello, {}


class VigilConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a Vigil server; reauthenticate when its token changes."""

    VERSION = 2
    MINOR_VERSION = 2
    """2.2: each camera subentry holds the key its device and entities are keyed on."""

    def __init__(self) -> None:
        """Start with nothing known about the server."""
        self._server: dict[str, Any] = {}
        self._hello: vp.Hello | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where the server is and its token (`vigil-analytics token` prints it)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _server_data(user_input)
            hello, errors = await async_check_server(self.hass, data)
            if hello is not None:
                return await self._async_found(data, hello)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(server_schema(), user_input or {}),
            errors=errors,
        )

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """Offer a server announced on the network; ask only its token."""
        server_id = str(discovery_info.properties.get("id") or "")
        if not server_id:
            return self.async_abort(reason="not_vigil")
        await self.async_set_unique_id(server_id)
        host = str(discovery_info.host)
        self._abort_if_unique_id_configured(
            updates={CONF_HOST: host, CONF_PORT: discovery_info.port}
        )
        self._server = {
            CONF_HOST: host,
            CONF_PORT: int(discovery_info.port or DEFAULT_PORT),
            CONF_SSL: discovery_info.properties.get("tls") == "1",
        }
        name = discovery_info.name.removesuffix(f".{discovery_info.type}")
        self.context["title_placeholders"] = {"name": name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the discovered server's token."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _server_data({**self._server, **user_input})
            hello, errors = await async_check_server(self.hass, data)
            if hello is not None:
                return await self._async_found(data, hello)
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=self.add_suggested_values_to_schema(
                server_schema(with_address=False), user_input or self._server
            ),
            errors=errors,
            description_placeholders={
                "address": f"{self._server[CONF_HOST]}:{self._server[CONF_PORT]}"
            },
        )

    async def async_step_hassio(self, discovery_info: HassioServiceInfo) -> ConfigFlowResult:
        """Offer the Vigil app (add-on): the Supervisor passes its address and token."""
        config = discovery_info.config
        server_id = str(config.get("server_id") or "")
        token = str(config.get("token") or "")
        if not server_id or not token or not config.get("host"):
            return self.async_abort(reason="not_vigil")
        await self.async_set_unique_id(server_id)
        data = _server_data(
            {
                CONF_HOST: str(config["host"]),
                CONF_PORT: int(config.get("port") or DEFAULT_PORT),
                CONF_TOKEN: token,
            }
        )
        self._abort_if_unique_id_configured(updates=data)
        self._server = data
        self.context["title_placeholders"] = {"name": discovery_info.name}
        return await self.async_step_hassio_confirm()

    async def async_step_hassio_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm adding the app's server; nothing to type, the Supervisor gave the token."""
        errors: dict[str, str] = {}
        if user_input is not None:
            hello, errors = await async_check_server(self.hass, self._server)
            if hello is not None:
                return await self._async_found(self._server, hello)
            # The form has no token field: a refused token is the whole form's error.
            errors = {"base": errors.get(CONF_TOKEN) or errors.get("base", "cannot_connect")}
        return self.async_show_form(
            step_id="hassio_confirm",
            errors=errors,
            description_placeholders={
                "address": f"{self._server[CONF_HOST]}:{self._server[CONF_PORT]}"
            },
        )

    async def _async_found(self, data: dict[str, Any], hello: vp.Hello) -> ConfigFlowResult:
        """Keep one entry per server id, then ask the deployment context."""
        await self.async_set_unique_id(hello.server_id, raise_on_progress=False)
        self._abort_if_unique_id_configured(updates=data)
        self._server = data | {CONF_SERVER_ID: hello.server_id}
        self._hello = hello
        return await self.async_step_context()

    async def async_step_context(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the cameras are: the deployment context decides what may run."""
        if user_input is not None:
            context = DeploymentContext(user_input[CONF_DEPLOYMENT_CONTEXT])
            await _async_record_context(self.hass, self._server, None, context, "server added")
            assert self._hello is not None
            return self.async_create_entry(
                title=self._hello.server_name,
                data=self._server | {CONF_DEPLOYMENT_CONTEXT: context.value},
            )
        return self.async_show_form(step_id="context", data_schema=CONTEXT_SCHEMA)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Ask for the current token: the server refused the one saved."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the server's token (`vigil-analytics token` prints it)."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _server_data({**entry.data, CONF_TOKEN: user_input[CONF_TOKEN]})
            hello, errors = await async_check_server(self.hass, data)
            if hello is not None:
                if hello.server_id != entry.data.get(CONF_SERVER_ID, hello.server_id):
                    return self.async_abort(reason="wrong_server")
                return self.async_update_reload_and_abort(entry, data_updates=data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_TOKEN): TOKEN_FIELD}),
            errors=errors,
            description_placeholders={"server": entry.title},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change where the server is, its token, and the deployment context (with a reason)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _server_data(user_input)
            context = DeploymentContext(user_input[CONF_DEPLOYMENT_CONTEXT])
            old = _context_of(entry)
            reason = str(user_input.get(CONF_CHANGE_REASON) or "").strip()
            if context != old and not reason:
                errors[CONF_CHANGE_REASON] = "reason_required"
            hello = None
            if not errors:
                hello, errors = await async_check_server(self.hass, data)
            # A migrated version 1 entry knows no server yet: the first one it is given is its.
            known = entry.data.get(CONF_SERVER_ID)
            if hello is not None and known and hello.server_id != known:
                errors["base"] = "wrong_server"
            if hello is not None and not errors:
                if context != old:
                    await _async_record_context(self.hass, data, old, context, reason)
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=hello.server_id,
                    data_updates=data
                    | {CONF_DEPLOYMENT_CONTEXT: context.value, CONF_SERVER_ID: hello.server_id},
                )
        schema = server_schema().extend(
            {
                vol.Required(CONF_DEPLOYMENT_CONTEXT): CONTEXT_SELECTOR,
                vol.Optional(CONF_CHANGE_REASON): TEXT,
            }
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or dict(entry.data)),
            errors=errors,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> VigilOptionsFlow:
        """Return the options flow."""
        return VigilOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Return the subentry flows: cameras, zones, rules, settings, watchlist, plates."""
        return {
            SUBENTRY_CAMERA: CameraSubentryFlow,
            SUBENTRY_ZONE: ZoneSubentryFlow,
            SUBENTRY_RULE: RuleSubentryFlow,
            SUBENTRY_CAMERA_SETTING: CameraSettingSubentryFlow,
            SUBENTRY_WATCHLIST: WatchlistSubentryFlow,
            SUBENTRY_PLATE_READING: PlateReadingSubentryFlow,
        }


def _context_of(entry: ConfigEntry) -> DeploymentContext | None:
    try:
        return DeploymentContext(str(entry.data.get(CONF_DEPLOYMENT_CONTEXT)))
    except ValueError:
        return None


async def _async_record_context(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    old: DeploymentContext | None,
    new: DeploymentContext,
    reason: str,
) -> None:
    """Write the context chosen (or changed) to the server's access log."""
    client = new_client(hass, data, "home-assistant (settings)")
    try:
        await client.connect()
        await client.call(
            vp.RecordAccess(
                actor=SETTINGS_ACTOR,
                action="context_change",
                target=new.value,
                reason=reason,
                details={"from": old.value if old else None, "to": new.value},
            ),
            vp.Done,
        )
    except VigilClientError as err:
        _LOGGER.warning("The context change could not be written to the access log: %s", err)
    finally:
        await client.close()


class VigilOptionsFlow(OptionsFlow):
    """Tune the analysis (rate, confidence, motion gating), privacy and the Frigate broker."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = options_errors(user_input)
            if not errors:
                options = await async_privacy_options(self.hass, self.config_entry, user_input)
                return self.async_create_entry(data=options)
        current = (
            {
                CONF_ANALYSIS_FPS: DEFAULT_ANALYSIS_FPS,
                CONF_CONFIDENCE: DEFAULT_CONFIDENCE,
                CONF_MOTION_GATING: DEFAULT_MOTION_GATING,
            }
            | dict(self.config_entry.options)
            | options_suggestions(self.config_entry.options)
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, user_input or current),
            errors=errors,
        )


__all__ = ["SOURCE_RECONFIGURE", "VigilConfigFlow", "VigilOptionsFlow"]
