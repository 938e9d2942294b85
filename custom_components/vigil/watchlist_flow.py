"""Subentry flows of plate reading: watchlist entries, and each camera's reading settings.

Home Assistant opens subentry flows to administrators only, and a flow's context carries no
user: a watchlist change is therefore logged as made by an administrator in the settings. When
a flow does carry a user (a caller starting it with one), a non-administrator is refused.

The server validates both (a dry run of the configuration): a plate pattern (4 fixed characters
at least when it has a wildcard), a label's length, a reason (10 characters at least), a
tolerance, a country; its field errors carry translation keys the forms show on their fields.
Every entry has an expiry; in public space at most 30 days ahead (checked here, on the field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

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

import vigil_protocol as vp
from vigil_protocol.privacy import DeploymentContext, DetectorKind

from .access import SETTINGS_ACTOR, async_actor, details
from .const import CONF_ACKNOWLEDGEMENTS, CONF_CAMERA
from .flow_base import TEXT_FIELD, VigilSubentryFlow, camera_subentries
from .privacy_flow import PrivacyGate, async_record, deployment_context
from .server_config import (
    CONF_ANPR,
    CONF_EXPIRES,
    CONF_LABEL,
    CONF_LEGAL_OBLIGATION,
    CONF_MAX_DISTANCE,
    CONF_PLATE,
    CONF_WATCH_REASON,
    camera_config,
    privacy_config,
    public_watch_last_day,
    watch_today,
    watchlist_entry_config,
)

CONF_ENABLED: Final = "enabled"
CONF_MODE: Final = "mode"
CONF_COUNTRIES: Final = "countries"
CONF_PRIVACY: Final = "privacy"
CONF_FULL_ACKNOWLEDGED: Final = "full_acknowledged"

ANPR_MODES: Final = ("vehicle_crops", "full_frame", "both")
PRIVACY_MODES: Final = ("watchlist", "hashed", "full")
# The countries whose plate formats the server knows (vigil_core.plates.normalize.COUNTRIES; a
# test keeps them equal).
COUNTRIES: Final = (
    *("ar", "at", "be", "bg", "bo", "br", "ch", "cy", "cz", "de", "dk", "ee", "es", "fi", "fr"),
    *("gr", "hr", "hu", "ie", "it", "lt", "lu", "lv", "mt", "nl", "no", "pl", "pt", "py", "ro"),
    *("se", "si", "sk", "uk", "us", "uy"),
)
PLATE_DETECTORS: Final = {
    "watchlist": DetectorKind.ANPR_WATCHLIST,
    "hashed": DetectorKind.ANPR_HASHED,
    "full": DetectorKind.ANPR_FULL,
}
"""The detector each privacy mode runs (the privacy gate asks about it)."""

WATCHLIST_FIELDS: Final = {
    "plate": CONF_PLATE,
    "label": CONF_LABEL,
    "reason": CONF_WATCH_REASON,
    "expires": CONF_EXPIRES,
    "max_distance": CONF_MAX_DISTANCE,
    "legal_obligation": CONF_LEGAL_OBLIGATION,
}
WATCHLIST_ERRORS: Final = frozenset(
    {
        "invalid_plate",
        "plate_too_short",
        "plate_too_long",
        "pattern_too_loose",
        "too_long",
        "too_short",
        "required",
        "out_of_range",
    }
)
"""The server's field errors the watchlist form translates (others: invalid_value)."""
READING_FIELDS: Final = {
    CONF_ENABLED: CONF_ENABLED,
    CONF_MODE: CONF_MODE,
    CONF_COUNTRIES: CONF_COUNTRIES,
    CONF_PRIVACY: CONF_PRIVACY,
}

WATCHLIST_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_PLATE): TEXT_FIELD,
        vol.Required(CONF_LABEL): TEXT_FIELD,
        vol.Required(CONF_WATCH_REASON): TEXT_FIELD,
        vol.Required(CONF_EXPIRES): DateSelector(),
        vol.Required(CONF_LEGAL_OBLIGATION, default=False): BooleanSelector(),
        vol.Optional(CONF_MAX_DISTANCE): NumberSelector(
            NumberSelectorConfig(min=0, max=3, step=0.1, mode=NumberSelectorMode.BOX)
        ),
    }
)
"""Reason and expiry are required (the server refuses an entry without them); the tolerance
defaults to the server's 0.6 (two confusable characters such as O/0, nothing else)."""


async def _async_flow_actor(flow: VigilSubentryFlow) -> vp.Actor:
    """Return who changes the watchlist: the flow's user when it has one, else the settings."""
    user_id = flow.context.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        return SETTINGS_ACTOR
    actor = await async_actor(flow.hass, Context(user_id=user_id))
    if not actor.is_admin:
        raise Unauthorized(context=Context(user_id=user_id), permission="admin")
    return actor


def _entry_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        CONF_PLATE: str(user_input[CONF_PLATE]).strip(),
        CONF_LABEL: str(user_input[CONF_LABEL]).strip(),
        CONF_WATCH_REASON: str(user_input.get(CONF_WATCH_REASON) or "").strip(),
    }
    if user_input.get(CONF_LEGAL_OBLIGATION):
        data[CONF_LEGAL_OBLIGATION] = True
    if expires := user_input.get(CONF_EXPIRES):
        # Read as the date field reads it ("2027-1-5" too), kept in ISO form.
        day = dt_util.parse_date(str(expires).strip())
        data[CONF_EXPIRES] = day.isoformat() if day else str(expires).strip()
    if user_input.get(CONF_MAX_DISTANCE) is not None:
        data[CONF_MAX_DISTANCE] = float(user_input[CONF_MAX_DISTANCE])
    return data


def _expiry_error(expires: str | None, public_space: bool = False) -> str | None:
    """Return the form error of an expiry date: missing, not a date, past, or too far.

    In public space an entry expires at most 30 days ahead (the server's
    ``watchlist_expiry_too_long``).
    """
    if expires is None:
        return "required"
    day = dt_util.parse_date(expires)
    if day is None:
        return "invalid_date"
    if day < dt_util.now().date():
        return "expires_in_past"
    if public_space and day > public_watch_last_day(watch_today()):
        return "watchlist_expiry_too_long"
    return None


def _log_details(data: Mapping[str, Any]) -> dict[str, vp.JsonValue]:
    """Return what the log keeps of an entry: never its plate."""
    return details(
        label=data.get(CONF_LABEL),
        expires=data.get(CONF_EXPIRES),
        max_distance=data.get(CONF_MAX_DISTANCE),
        legal_obligation=data.get(CONF_LEGAL_OBLIGATION),
    )


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
        if user_input is None and (missing := self._server_missing()):
            return missing
        errors: dict[str, str] = {}
        if user_input is not None:
            suggested = dict(user_input)
            data = _entry_data(user_input)
            if not data[CONF_LABEL]:
                errors[CONF_LABEL] = "label_required"
            elif error := _expiry_error(data.get(CONF_EXPIRES), self._public_space()):
                errors[CONF_EXPIRES] = error
            else:
                errors = await self._async_check(data)
            if not errors:
                try:
                    actor = await _async_flow_actor(self)
                except Unauthorized:
                    return self.async_abort(reason="admin_required")
                await self._async_log(actor, data)
                return self._finish(data[CONF_LABEL], data)
        # The plate is shown back only while the form is open, never logged.
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(WATCHLIST_SCHEMA, suggested),
            errors=errors,
        )

    def _public_space(self) -> bool:
        return deployment_context(self._get_entry()) is DeploymentContext.PUBLIC_SPACE

    async def _async_check(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Return the server's errors for this entry (a dry run of a watchlist holding it)."""
        entry = self._get_entry()
        config = {
            "privacy": privacy_config(entry),
            "anpr": {"watchlist": {"entries": [watchlist_entry_config("candidate", data)]}},
        }
        return await self._async_dry_run_config(
            config,
            "anpr.watchlist.entries.0",
            WATCHLIST_FIELDS,
            WATCHLIST_ERRORS,
            fallback_base="invalid_entry",
        )

    async def _async_log(self, actor: vp.Actor, data: Mapping[str, Any]) -> None:
        """Write the change to the server's access log, without the plate."""
        target = data[CONF_LABEL]
        action = "watchlist_add"
        if self._reconfiguring:
            target, action = self._get_reconfigure_subentry().subentry_id, "watchlist_change"
        await async_record(
            self._get_entry(),
            vp.RecordAccess(
                actor=actor,
                action=action,
                target=target,
                reason=data[CONF_WATCH_REASON],
                details=_log_details(data),
            ),
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


def reading_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a camera subentry's plate reading settings as the form shows them."""
    stored = dict(data.get(CONF_ANPR) or {})
    return {
        # A camera that never had reading set up is offered it switched on.
        CONF_ENABLED: bool(stored.get(CONF_ENABLED, True)),
        CONF_MODE: stored.get(CONF_MODE, "vehicle_crops"),
        CONF_COUNTRIES: list(stored.get(CONF_COUNTRIES) or []),
        CONF_PRIVACY: stored.get(CONF_PRIVACY, "watchlist"),
    }


class PlateReadingSubentryFlow(PrivacyGate, VigilSubentryFlow):
    """Set a camera's plate reading; every mode passes the privacy gate.

    The server says which modes the context gates: hashed and full reading, and in public space
    the watchlist too (issue 21). The acknowledgement is kept in the camera's subentry, so the
    server finds it under `<camera>:anpr_watchlist` (or `anpr_hashed`, `anpr_full`).

    The settings are saved in the camera's own subentry (so its acknowledgements are scoped to
    the camera); this flow then ends without a subentry of its own.
    """

    def __init__(self) -> None:
        """Start with no camera chosen."""
        self._camera: ConfigSubentry | None = None
        self._settings: dict[str, Any] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Pick the camera."""
        if missing := self._server_missing():
            return missing
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
        camera = self._camera
        assert camera is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            self._settings = {CONF_COUNTRIES: []} | user_input
            # Checked as it will be saved: a full mode after the confirmation it asks next.
            errors = await self._async_check(self._anpr(confirmed=True))
            if not errors and self._settings[CONF_PRIVACY] == "full":
                return await self.async_step_full()
            if not errors:
                return await self._async_save()
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(
                SETTINGS_SCHEMA, user_input or reading_settings(camera.data)
            ),
            errors=errors,
            description_placeholders={"camera": camera.title},
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

    def _anpr(self, *, confirmed: bool | None = None) -> dict[str, Any]:
        """Return the plate reading settings the form holds.

        `confirmed` stands for the full mode's confirmation (default: whether it was given).
        """
        if confirmed is None:
            confirmed = bool(self._settings.get(CONF_FULL_ACKNOWLEDGED))
        privacy = self._settings[CONF_PRIVACY]
        return {
            CONF_ENABLED: bool(self._settings[CONF_ENABLED]),
            CONF_MODE: self._settings[CONF_MODE],
            CONF_COUNTRIES: list(self._settings.get(CONF_COUNTRIES) or []),
            CONF_PRIVACY: privacy,
            CONF_FULL_ACKNOWLEDGED: privacy == "full" and confirmed,
        }

    async def _async_check(self, anpr: dict[str, Any]) -> dict[str, str]:
        """Return the server's errors for the camera with these settings (a dry run)."""
        camera = self._camera
        assert camera is not None
        entry = self._get_entry()
        candidate = camera_config(entry, camera) | {CONF_ANPR: anpr}
        config = {"cameras": [candidate], "privacy": privacy_config(entry)}
        return await self._async_dry_run_config(config, "cameras.0.anpr", READING_FIELDS, ())

    async def _async_save(self) -> SubentryFlowResult:
        camera = self._camera
        assert camera is not None
        settings = self._anpr()
        stored = dict(camera.data.get(CONF_ACKNOWLEDGEMENTS) or {})
        kind = PLATE_DETECTORS[settings[CONF_PRIVACY]]

        async def finish(acks: dict[str, Any]) -> SubentryFlowResult:
            data = dict(camera.data) | {CONF_ANPR: settings}
            if merged := stored | acks:
                data[CONF_ACKNOWLEDGEMENTS] = merged
            self.hass.config_entries.async_update_subentry(self._get_entry(), camera, data=data)
            return self.async_abort(reason="plate_reading_saved")

        if not settings[CONF_ENABLED] or kind in stored:
            return await finish({})
        return await self.async_gate([kind], finish)
