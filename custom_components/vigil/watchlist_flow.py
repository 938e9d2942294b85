"""Subentry flows of plate reading: watchlist entries, and each camera's reading settings.

Home Assistant opens subentry flows to administrators only, and a flow's context carries no
user: a watchlist change is therefore logged as made by an administrator in the settings. When
a flow does carry a user (a caller starting it with one), a non-administrator is refused.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from homeassistant.config_entries import ConfigSubentry, SubentryFlowResult
from homeassistant.core import Context
from homeassistant.exceptions import Unauthorized
from homeassistant.helpers.selector import (
    BooleanSelector,
    DateSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.util import dt as dt_util
import voluptuous as vol

from vigil_core.privacy.access_log import AccessAction, Actor
from vigil_core.privacy.context import needs_acknowledgement
from vigil_core.privacy.inventory import plate_kind

from .anpr_config import (
    ANPR_MODES,
    CONF_ANPR,
    CONF_COUNTRIES,
    CONF_ENABLED,
    CONF_EXPIRES,
    CONF_FULL_ACKNOWLEDGED,
    CONF_LABEL,
    CONF_MAX_DISTANCE,
    CONF_MODE,
    CONF_PLATE,
    CONF_PRIVACY,
    CONF_REASON,
    COUNTRIES,
    PRIVACY_MODES,
    camera_anpr,
    watchlist_errors,
)
from .const import CONF_ACKNOWLEDGEMENTS, CONF_CAMERA
from .flow_base import TEXT_FIELD, VigilSubentryFlow, camera_subentries
from .privacy import SETTINGS_ACTOR, PrivacyGate, async_actor, async_log, deployment_context

WATCHLIST_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_PLATE): TEXT_FIELD,
        vol.Required(CONF_LABEL): TEXT_FIELD,
        vol.Optional(CONF_REASON): TEXT_FIELD,
        vol.Optional(CONF_EXPIRES): DateSelector(),
        vol.Optional(CONF_MAX_DISTANCE): NumberSelector(
            NumberSelectorConfig(min=0, max=3, step=0.1, mode=NumberSelectorMode.BOX)
        ),
    }
)


async def _async_flow_actor(flow: VigilSubentryFlow) -> Actor:
    """Return who changes the watchlist: the flow's user when it has one, else the settings."""
    user_id = flow.context.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        return SETTINGS_ACTOR
    actor = await async_actor(flow.hass, Context(user_id=user_id))
    if not actor.is_admin:
        raise Unauthorized(context=Context(user_id=user_id), permission="admin")
    return actor


def _entry_data(user_input: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        CONF_PLATE: str(user_input[CONF_PLATE]).strip(),
        CONF_LABEL: str(user_input[CONF_LABEL]).strip(),
        CONF_REASON: str(user_input.get(CONF_REASON) or "").strip(),
    }
    if expires := user_input.get(CONF_EXPIRES):
        data[CONF_EXPIRES] = str(expires)
    if user_input.get(CONF_MAX_DISTANCE) is not None:
        data[CONF_MAX_DISTANCE] = float(user_input[CONF_MAX_DISTANCE])
    return data


def _log_details(data: dict[str, Any]) -> dict[str, str | float | None]:
    """Return what the log keeps of an entry: never its plate."""
    return {
        "label": data.get(CONF_LABEL),
        "expires": data.get(CONF_EXPIRES),
        "max_distance": data.get(CONF_MAX_DISTANCE),
    }


class WatchlistSubentryFlow(VigilSubentryFlow):
    """Add or change a watched plate or pattern; every change goes to the access log."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Type the plate (or pattern), its label, the reason and an expiry date."""
        return await self._async_form("user", user_input, {})

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change an entry, starting from what was saved."""
        return await self._async_form(
            "reconfigure", user_input, dict(self._get_reconfigure_subentry().data)
        )

    async def _async_form(
        self, step_id: str, user_input: dict[str, Any] | None, suggested: dict[str, Any]
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            suggested = dict(user_input)
            data = _entry_data(user_input)
            errors = watchlist_errors(data)
            if not errors and not data[CONF_LABEL]:
                errors[CONF_LABEL] = "label_required"
            expires = data.get(CONF_EXPIRES)
            if not errors and expires and date.fromisoformat(expires) < dt_util.now().date():
                errors[CONF_EXPIRES] = "expires_in_past"
            if not errors:
                try:
                    actor = await _async_flow_actor(self)
                except Unauthorized:
                    return self.async_abort(reason="admin_required")
                action = (
                    AccessAction.WATCHLIST_CHANGE
                    if self._reconfiguring
                    else AccessAction.WATCHLIST_ADD
                )
                target = self._get_reconfigure_subentry().subentry_id if self._reconfiguring else ""
                await async_log(
                    self.hass,
                    actor,
                    action,
                    target=target or data[CONF_LABEL],
                    reason=data[CONF_REASON],
                    details=_log_details(data),
                )
                return self._finish(data[CONF_LABEL], data)
        # The plate is shown back only while the form is open, never logged.
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(WATCHLIST_SCHEMA, suggested),
            errors=errors,
        )


def _reading_schema(cameras: list[ConfigSubentry]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_CAMERA, default=cameras[0].subentry_id): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=camera.subentry_id, label=camera.title)
                        for camera in cameras
                    ],
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
        }
    )


SETTINGS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_ENABLED, default=True): BooleanSelector(),
        vol.Required(CONF_MODE, default="vehicle_crops"): SelectSelector(
            SelectSelectorConfig(
                options=list(ANPR_MODES), mode=SelectSelectorMode.LIST, translation_key="anpr_mode"
            )
        ),
        vol.Optional(CONF_COUNTRIES): SelectSelector(
            SelectSelectorConfig(
                options=list(COUNTRIES),
                multiple=True,
                mode=SelectSelectorMode.DROPDOWN,
                translation_key="anpr_country",
            )
        ),
        vol.Required(CONF_PRIVACY, default="watchlist"): SelectSelector(
            SelectSelectorConfig(
                options=list(PRIVACY_MODES),
                mode=SelectSelectorMode.LIST,
                translation_key="anpr_privacy",
            )
        ),
    }
)

FULL_SCHEMA = vol.Schema({vol.Required(CONF_FULL_ACKNOWLEDGED, default=False): BooleanSelector()})


class PlateReadingSubentryFlow(PrivacyGate, VigilSubentryFlow):
    """Set a camera's plate reading; hashed and full modes pass the privacy gate.

    The settings are saved in the camera's own subentry (so its acknowledgements are scoped to
    the camera); this flow then ends without a subentry of its own.
    """

    def __init__(self) -> None:
        """Start with no camera chosen."""
        self._camera: ConfigSubentry | None = None
        self._settings: dict[str, Any] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Pick the camera."""
        cameras = camera_subentries(self._get_entry())
        if not cameras:
            return self.async_abort(reason="no_cameras")
        if user_input is not None:
            self._camera = self._get_entry().subentries[user_input[CONF_CAMERA]]
            return await self.async_step_settings()
        return self.async_show_form(step_id="user", data_schema=_reading_schema(cameras))

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Turn reading on or off; choose where plates are looked for, countries and privacy."""
        assert self._camera is not None
        if user_input is not None:
            self._settings = {CONF_COUNTRIES: []} | user_input
            if self._settings[CONF_ENABLED] and self._settings[CONF_PRIVACY] == "full":
                return await self.async_step_full()
            return await self._async_save()
        current = camera_anpr(self._camera.data).model_dump(
            include={CONF_ENABLED, CONF_MODE, CONF_COUNTRIES, CONF_PRIVACY}
        )
        if not self._camera.data.get(CONF_ANPR):
            current[CONF_ENABLED] = True
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(SETTINGS_SCHEMA, current),
            description_placeholders={"camera": self._camera.title},
        )

    async def async_step_full(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Confirm explicitly that keeping every plate read in full is needed and lawful."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input.get(CONF_FULL_ACKNOWLEDGED):
                self._settings[CONF_FULL_ACKNOWLEDGED] = True
                return await self._async_save()
            errors[CONF_FULL_ACKNOWLEDGED] = "full_ack_required"
        return self.async_show_form(step_id="full", data_schema=FULL_SCHEMA, errors=errors)

    async def _async_save(self) -> SubentryFlowResult:
        camera = self._camera
        assert camera is not None
        settings = {
            CONF_ENABLED: bool(self._settings[CONF_ENABLED]),
            CONF_MODE: self._settings[CONF_MODE],
            CONF_COUNTRIES: list(self._settings.get(CONF_COUNTRIES) or []),
            CONF_PRIVACY: self._settings[CONF_PRIVACY],
            CONF_FULL_ACKNOWLEDGED: bool(self._settings.get(CONF_FULL_ACKNOWLEDGED)),
        }
        stored = dict(camera.data.get(CONF_ACKNOWLEDGEMENTS) or {})
        kind = plate_kind(camera_anpr({CONF_ANPR: settings}))

        async def finish(acks: dict[str, Any]) -> SubentryFlowResult:
            data = dict(camera.data) | {CONF_ANPR: settings}
            if merged := stored | acks:
                data[CONF_ACKNOWLEDGEMENTS] = merged
            self.hass.config_entries.async_update_subentry(self._get_entry(), camera, data=data)
            return self.async_abort(reason="plate_reading_saved")

        gated = needs_acknowledgement(deployment_context(self._get_entry()), [kind])
        if not settings[CONF_ENABLED] or all(k.value in stored for k in gated):
            return await finish({})
        return await self.async_gate([kind], finish)
