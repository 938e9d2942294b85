"""Config flow for the Vigil hub and its options; cameras and zones are subentries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)
import voluptuous as vol

from .anpr_config import SUBENTRY_PLATE_READING, SUBENTRY_WATCHLIST
from .camera_flow import CameraSubentryFlow
from .const import (
    CONF_ANALYSIS_FPS,
    CONF_CONFIDENCE,
    CONF_DOWNLOAD_MODELS,
    CONF_MODELS_DIR,
    CONF_MOTION_GATING,
    DEFAULT_ANALYSIS_FPS,
    DEFAULT_CONFIDENCE,
    DEFAULT_MOTION_GATING,
    DOMAIN,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from .flow_base import TEXT_FIELD
from .frigate_flow import FrigateReauthFlow
from .privacy import (
    CONTEXT_SCHEMA,
    OPTIONS_SECTIONS,
    RECONFIGURE_FIELDS,
    async_log_context_chosen,
    async_log_reconfigure,
    async_privacy_options,
    context_change_errors,
    hub_context_data,
    options_suggestions,
)
from .rule_config import SUBENTRY_CAMERA_SETTING, SUBENTRY_RULE
from .rule_flow import CameraSettingSubentryFlow, RuleSubentryFlow
from .validation import check_models
from .watchlist_flow import PlateReadingSubentryFlow, WatchlistSubentryFlow
from .zone_flow import ZoneSubentryFlow

DEFAULT_TITLE = "Vigil"

HUB_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_MODELS_DIR): TEXT_FIELD,
        vol.Required(CONF_DOWNLOAD_MODELS, default=True): BooleanSelector(),
    }
)

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
        **OPTIONS_SECTIONS,
    }
)


RECONFIGURE_SCHEMA = HUB_SCHEMA.extend(RECONFIGURE_FIELDS)


class VigilConfigFlow(FrigateReauthFlow, domain=DOMAIN):
    """Add the Vigil hub: where the detector model comes from; reauthenticate its cameras."""

    VERSION = 1
    MINOR_VERSION = 1

    _hub: dict[str, Any]

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where models are and whether they may be downloaded."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await _async_check_hub(self.hass, user_input)
            if not errors:
                self._hub = _hub_data(user_input)
                return await self.async_step_context()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(HUB_SCHEMA, user_input or {}),
            errors=errors,
        )

    async def async_step_context(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the cameras are: the deployment context decides what may run."""
        if user_input is not None:
            data = self._hub | hub_context_data(user_input)
            await async_log_context_chosen(self.hass, user_input)
            return self.async_create_entry(title=DEFAULT_TITLE, data=data)
        return self.async_show_form(step_id="context", data_schema=CONTEXT_SCHEMA)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change where models are, and the deployment context (with a reason)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await _async_check_hub(self.hass, user_input)
            errors |= context_change_errors(entry, user_input)
            if not errors:
                await async_log_reconfigure(self.hass, entry, user_input)
                # The update listener reloads the entry when the data changed.
                data = _hub_data(user_input) | hub_context_data(user_input)
                self.hass.config_entries.async_update_entry(entry, data=data)
                return self.async_abort(reason="reconfigure_successful")
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, user_input or dict(entry.data)
            ),
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
        """Return the subentry flows: cameras and zones."""
        return {
            SUBENTRY_CAMERA: CameraSubentryFlow,
            SUBENTRY_ZONE: ZoneSubentryFlow,
            SUBENTRY_RULE: RuleSubentryFlow,
            SUBENTRY_CAMERA_SETTING: CameraSettingSubentryFlow,
            SUBENTRY_WATCHLIST: WatchlistSubentryFlow,
            SUBENTRY_PLATE_READING: PlateReadingSubentryFlow,
        }


def _hub_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {CONF_DOWNLOAD_MODELS: bool(user_input.get(CONF_DOWNLOAD_MODELS))}
    if models_dir := str(user_input.get(CONF_MODELS_DIR) or "").strip():
        data[CONF_MODELS_DIR] = models_dir
    return data


async def _async_check_hub(hass: HomeAssistant, user_input: Mapping[str, Any]) -> dict[str, str]:
    data = _hub_data(user_input)
    error = await hass.async_add_executor_job(
        check_models, data.get(CONF_MODELS_DIR), data[CONF_DOWNLOAD_MODELS]
    )
    if error is None:
        return {}
    field = CONF_MODELS_DIR if error == "models_dir_not_found" else "base"
    return {field: error}


class VigilOptionsFlow(OptionsFlow):
    """Tune the analysis: rate, detector confidence and motion gating."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options."""
        if user_input is not None:
            options = await async_privacy_options(self.hass, self.config_entry.options, user_input)
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
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, current),
        )
