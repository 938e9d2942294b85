"""What the camera and zone subentry flows share: selectors, helpers and a base class."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType

from .const import SUBENTRY_CAMERA

TEXT_FIELD = TextSelector()
URL_FIELD = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
PASSWORD_FIELD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def camera_subentries(entry: ConfigEntry) -> list[ConfigSubentry]:
    """Return the entry's camera subentries."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CAMERA]


def without_password(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return form values without the password, which is never shown back."""
    return {k: v for k, v in data.items() if k != CONF_PASSWORD}


def kept_password(old: Mapping[str, Any], user_input: Mapping[str, Any]) -> str | None:
    """Return the password to save: the typed one, or the saved one when left blank."""
    if user_input.get(CONF_PASSWORD):
        return str(user_input[CONF_PASSWORD])
    if old.get(CONF_USERNAME) and old.get(CONF_USERNAME) == user_input.get(CONF_USERNAME):
        return old.get(CONF_PASSWORD)
    return None


class VigilSubentryFlow(ConfigSubentryFlow):
    """Shared helpers of the camera and zone flows."""

    @property
    def _reconfiguring(self) -> bool:
        return self.source == SOURCE_RECONFIGURE

    def _finish(
        self, title: str, data: dict[str, Any], unique_id: str | None = None
    ) -> SubentryFlowResult:
        if self._reconfiguring:
            return self.async_update_and_abort(
                self._get_entry(),
                self._get_reconfigure_subentry(),
                title=title,
                data=data,
                unique_id=unique_id,
            )
        return self.async_create_entry(title=title, data=data, unique_id=unique_id)

    def _is_duplicate_camera(self, unique_id: str) -> bool:
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        return any(
            sub.unique_id == unique_id and sub.subentry_id != current
            for sub in camera_subentries(self._get_entry())
        )
