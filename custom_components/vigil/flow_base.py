"""What the subentry flows share: selectors, password handling, and the way to their server.

Every check a flow makes (a stream that plays, an ONVIF login, a Frigate server, a rule that
fits, a picture to draw on) is a request to the entry's Vigil server: the flows need the entry
loaded and its server connected, and say so when it is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import logging
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType

import vigil_protocol as vp

from .client import CannotConnect, ServerError, VigilClient, VigilClientError
from .const import CONF_CAMERA_KEY, PROBE_TIMEOUT_S, SUBENTRY_CAMERA
from .store import VigilStore
from .validation import field_errors, form_error, free_camera_key

_LOGGER = logging.getLogger(__name__)

TEXT_FIELD = TextSelector()
URL_FIELD = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
PASSWORD_FIELD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

SERVER_UNAVAILABLE = "server_unavailable"
"""The abort reason of a flow whose server entry is not loaded or not connected."""


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


def connected_store(entry: ConfigEntry[Any]) -> VigilStore | None:
    """Return the store of a loaded server entry whose server is connected, else None."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    store: VigilStore | None = getattr(getattr(entry, "runtime_data", None), "store", None)
    return store if store is not None and store.connected else None


class VigilSubentryFlow(ConfigSubentryFlow):
    """Shared helpers of the subentry flows: saving, duplicates, and requests to the server."""

    @property
    def _reconfiguring(self) -> bool:
        return self.source == SOURCE_RECONFIGURE

    def _finish(
        self, title: str, data: dict[str, Any], unique_id: str | None = None
    ) -> SubentryFlowResult:
        if self.handler[1] == SUBENTRY_CAMERA:
            data = self._with_camera_key(data, unique_id)
        if self._reconfiguring:
            return self.async_update_and_abort(
                self._get_entry(),
                self._get_reconfigure_subentry(),
                title=title,
                data=data,
                unique_id=unique_id,
            )
        return self.async_create_entry(title=title, data=data, unique_id=unique_id)

    def _with_camera_key(self, data: dict[str, Any], identity: str | None) -> dict[str, Any]:
        """Return a camera's data with its key (`_camera_key`)."""
        return {**data, CONF_CAMERA_KEY: self._camera_key(str(identity))}

    def _camera_key(self, identity: str) -> str:
        """Return the key of the camera being saved: kept when reconfigured, else a new one.

        A reconfigured camera (another address, profile or Frigate camera) keeps its device
        and entities; one deleted and added again gets its key, and so its ids, back.
        """
        reconfigured = self._get_reconfigure_subentry() if self._reconfiguring else None
        if reconfigured is not None and (kept := reconfigured.data.get(CONF_CAMERA_KEY)):
            return str(kept)
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        taken = {
            str(sub.data.get(CONF_CAMERA_KEY))
            for sub in camera_subentries(self._get_entry())
            if sub.subentry_id != current
        }
        return free_camera_key(identity, taken)

    def _is_duplicate_camera(self, unique_id: str) -> bool:
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        return any(
            sub.unique_id == unique_id and sub.subentry_id != current
            for sub in camera_subentries(self._get_entry())
        )

    def _name_taken(self, name: str) -> bool:
        """Return whether another camera of this server has the name (case and spaces aside).

        Two cameras with one name would have devices and entity ids telling them apart only by
        a `_2` suffix, so the name is refused in the form where it is typed.
        """
        current = self._reconfigure_subentry_id if self._reconfiguring else None
        wanted = name.strip().casefold()
        return any(
            sub.title.strip().casefold() == wanted and sub.subentry_id != current
            for sub in camera_subentries(self._get_entry())
        )

    # --- the server -----------------------------------------------------------------------

    def _server_missing(self) -> SubentryFlowResult | None:
        """Return the abort of a flow that cannot reach its server, None when it can."""
        entry = self._get_entry()
        if connected_store(entry) is not None:
            return None
        return self.async_abort(
            reason=SERVER_UNAVAILABLE, description_placeholders={"server": entry.title}
        )

    @property
    def _client(self) -> VigilClient:
        """Return the connection to the entry's server (raises CannotConnect when it is gone).

        Read afresh for each request: saving a subentry reloads the entry, which replaces it.
        """
        store = connected_store(self._get_entry())
        if store is None:
            raise CannotConnect("the Vigil server is not connected")
        return store.client

    async def _async_call[R: vp.Response](self, request: vp.Request, answer: type[R]) -> R:
        """Send a request to the server (raises the client's errors, ServerError among them)."""
        return await self._client.call(request, answer)

    async def _async_probe_stream(
        self, url: str, username: str | None = None, password: str | None = None
    ) -> vp.StreamProbe:
        """Have the server open a stream and decode a frame, which it keeps for drawings."""
        return await self._async_call(
            vp.ProbeStream(
                url=url,
                username=username or None,
                password=password or None,
                timeout_s=PROBE_TIMEOUT_S,
            ),
            vp.StreamProbe,
        )

    async def _async_probe(
        self, url: str, username: str | None = None, password: str | None = None
    ) -> str | None:
        """Check that a stream plays; return a form error key, or None."""
        try:
            await self._async_probe_stream(url, username, password)
        except VigilClientError as err:
            return form_error(err)
        return None

    async def _async_dry_run_config(
        self,
        config: dict[str, Any],
        prefix: str,
        form_fields: Mapping[str, str],
        known: Iterable[str],
        *,
        default: str = "base",
        fallback_base: str = "invalid_settings",
    ) -> dict[str, str]:
        """Ask the server whether `config` is valid; return the form errors of what it refuses.

        Only the field errors under `prefix` (the item the form edits) land on the form (see
        `validation.field_errors`); a refusal elsewhere is `fallback_base` on the form's base.
        """
        try:
            await self._async_call(vp.ApplyConfig(config=config, dry_run=True), vp.ConfigApplied)
        except ServerError as err:
            _LOGGER.debug("The server refuses %s: %s", prefix, err.message)
            errors = field_errors(
                err.fields, prefix, form_fields, known, default=default, fallback_base=fallback_base
            )
            return errors or {"base": fallback_base}
        except VigilClientError as err:
            return {"base": form_error(err)}
        return {}
