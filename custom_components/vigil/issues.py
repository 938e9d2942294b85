"""Repair issues from the server's states: streams, camera logins, the model, privacy.

One `IssueWatcher` per server entry follows the store and keeps these issues current:

- a camera whose stream has been failing for `STREAM_ISSUE_AFTER` (its entities went
  unavailable at once; the issue says it lasts);
- a camera refusing Vigil's login (its stream, or its ONVIF event channel): raised at once,
  since wrong credentials do not fix themselves, and fixable: the issue is repairs.py's
  ``camera_auth_failed`` with data ``{"subentry_id": ...}``, whose fix flow asks the camera's
  credentials again. A Frigate camera's stream is Frigate's restream, which the saved login
  (Frigate's API's) does not open: its refusal is an outage like any other. The Frigate API
  refusing that login is ``frigate_auth_failed``, raised by frigate_setup.py; this watcher
  removes such an issue once none of the entry's cameras is the one it names;
- the server's detector model missing or damaged (`ServerState.model_error`);
- each detector the deployment context holds back until someone states its legal basis, and
  a server entry that declares no context at all (the server then gates as a private home
  does, so plate stores, plate searches and vehicle routes are held back: their issues say the
  context is what to declare first);
- the paperwork a public space requires and the options lack (signs, impact assessment,
  authorisation): the server decides what is missing (`ServerState.paperwork_missing`).
- watchlist entries the server would refuse (saved before a reason and an expiry were
  required, or too long for public space): server_config leaves them out of what it sends,
  and one issue names them until each is completed or removed.

Issue ids carry the entry's id, so removing the entry removes them (`async_remove_entry`).
An issue goes away by itself once its cause is gone; while the server is unreachable the
states are stale, so nothing changes until it is back (the store raises its own issue).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import logging
import time
from typing import Final, Literal

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.translation import async_get_translations

import vigil_protocol as vp

from .const import CONF_DEPLOYMENT_CONTEXT, DOMAIN, STREAM_ISSUE_AFTER
from .data import VigilConfigEntry
from .onvif_runtime import onvif_state
from .repairs import CAMERA_AUTH_ISSUE, CONF_SUBENTRY_ID, FRIGATE_AUTH_ISSUE
from .server_config import CameraInfo, unsendable_watchlist_entries

_LOGGER = logging.getLogger(__name__)

STREAM_PREFIX: Final = "stream_"
CAMERA_AUTH_PREFIX: Final = "camera_auth_"
MODEL_PREFIX: Final = "model_"
PRIVACY_PREFIX: Final = "privacy_"
CONTEXT_PREFIX: Final = "privacy_context_missing_"
PAPERWORK_PREFIX: Final = "paperwork_missing_"
WATCHLIST_PREFIX: Final = "watchlist_incomplete_"
_MODEL_KEYS: Final = frozenset({"model_missing", "model_checksum"})
_PAPERWORK_LABEL: Final = "component.{domain}.options.step.init.sections.paperwork.data.{item}"
"""Where the options form names each piece of paperwork (the issue names them alike)."""


def stream_issue_id(entry_id: str, camera_id: str) -> str:
    """Return the issue id of a camera's lasting stream outage."""
    return f"{STREAM_PREFIX}{entry_id}_{camera_id}"


def camera_auth_issue_id(entry_id: str, camera_id: str) -> str:
    """Return the issue id of a camera refusing Vigil's login."""
    return f"{CAMERA_AUTH_PREFIX}{entry_id}_{camera_id}"


def model_issue_id(entry_id: str) -> str:
    """Return the issue id of a server whose detector model cannot be used."""
    return f"{MODEL_PREFIX}{entry_id}"


def held_back_issue_id(entry_id: str, held: vp.HeldBack) -> str:
    """Return the issue id of a detector the deployment context holds back."""
    scope = held.rule_id or held.camera_id or "server"
    return f"{PRIVACY_PREFIX}{entry_id}_{scope}_{held.detector}"


def context_issue_id(entry_id: str) -> str:
    """Return the issue id of a server entry that declares no deployment context."""
    return f"{CONTEXT_PREFIX}{entry_id}"


def paperwork_issue_id(entry_id: str) -> str:
    """Return the issue id of a public space whose paperwork is incomplete."""
    return f"{PAPERWORK_PREFIX}{entry_id}"


class IssueWatcher:
    """Keep one server entry's repair issues in step with its store's states."""

    def __init__(self, hass: HomeAssistant, entry: VigilConfigEntry) -> None:
        """Follow nothing until `async_start`."""
        self.hass = hass
        self.entry = entry
        self._recheck: Callable[[], None] | None = None
        self._applied: vp.ConfigApplied | None = None
        self._paperwork: tuple[str, ...] | None = None

    @callback
    def async_start(self) -> None:
        """Check now, then on every change of a camera's or the server's state."""
        store = self.entry.runtime_data.store
        for camera_id in self.entry.runtime_data.cameras:
            self.entry.async_on_unload(store.async_subscribe(camera_id, None, self.async_check))
        self.entry.async_on_unload(store.async_subscribe(None, None, self.async_check))
        self.entry.async_on_unload(self._async_cancel_recheck)
        self.entry.async_on_unload(self.entry.add_update_listener(self._async_entry_updated))
        async_check_watchlist(self.hass, self.entry)
        self.async_check()

    async def _async_entry_updated(self, hass: HomeAssistant, entry: VigilConfigEntry) -> None:
        """Re-check the watchlist (a watchlist change is sent live, without a reload)."""
        async_check_watchlist(hass, entry)

    @callback
    def _async_cancel_recheck(self) -> None:
        if self._recheck is not None:
            self._recheck()
            self._recheck = None

    @callback
    def async_check(self) -> None:
        """Raise or clear every issue from the states (nothing while the server is away)."""
        store = self.entry.runtime_data.store
        if not store.connected:
            return
        self._async_cancel_recheck()
        cameras = self.entry.runtime_data.cameras.values()
        self._async_cameras(cameras)
        self._async_model(store.server())
        self._async_context()
        missing = _paperwork_missing(store.server(), store.applied)
        if missing != self._paperwork:
            self._paperwork = missing
            self.entry.async_create_background_task(
                self.hass, self._async_paperwork(missing), f"{DOMAIN} paperwork issue"
            )
        if store.applied is not self._applied:
            self._applied = store.applied
            self.entry.async_create_background_task(
                self.hass, self._async_held_back(), f"{DOMAIN} privacy issues"
            )

    # --------------------------------------------------------------------------------- cameras

    @callback
    def _async_cameras(self, cameras: Iterable[CameraInfo]) -> None:
        cameras = list(cameras)
        store = self.entry.runtime_data.store
        entry_id = self.entry.entry_id
        wanted: set[str] = set()
        next_check: float | None = None
        now = time.time()
        for camera in cameras:
            state = store.camera(camera.camera_id)
            onvif = onvif_state(store, camera.camera_id)
            refused = _refusal(state, onvif) if camera.frigate is None else None
            if refused is not None:
                wanted.add(self._async_auth_issue(camera, refused))
                continue
            if state is None or not state.failing or state.failing_since is None:
                continue
            due = state.failing_since + STREAM_ISSUE_AFTER.total_seconds()
            if now >= due:
                issue_id = stream_issue_id(entry_id, camera.camera_id)
                _async_report(
                    self.hass,
                    issue_id,
                    "stream_unreachable",
                    {
                        "camera": camera.name,
                        "reason": state.reason or "-",
                    },
                )
                wanted.add(issue_id)
            else:
                next_check = due if next_check is None else min(next_check, due)
        self._async_clear((STREAM_PREFIX, CAMERA_AUTH_PREFIX), wanted)
        self._async_clear_frigate({camera.subentry_id for camera in cameras if camera.frigate})
        if next_check is not None:
            self._recheck = async_call_later(
                self.hass, max(next_check - now, 0.0), self._async_timer
            )

    @callback
    def _async_timer(self, _now: object) -> None:
        self._recheck = None
        self.async_check()

    @callback
    def _async_auth_issue(self, camera: CameraInfo, reason: str) -> str:
        issue_id = camera_auth_issue_id(self.entry.entry_id, camera.camera_id)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=CAMERA_AUTH_ISSUE,
            translation_placeholders={"camera": camera.name, "reason": reason or "-"},
            # What repairs.py's fix flow reads: the camera subentry whose login to ask again.
            data={CONF_SUBENTRY_ID: camera.subentry_id},
        )
        return issue_id

    @callback
    def _async_clear_frigate(self, frigate_cameras: set[str]) -> None:
        """Delete this entry's Frigate login issues that name a camera no longer there.

        frigate_setup.py raises and clears them by checking Frigate; a Frigate server whose
        cameras were all removed is never checked again, so its issue would stay (and its fix
        flow would only say the camera is gone).
        """
        registry = ir.async_get(self.hass)
        prefix = f"{FRIGATE_AUTH_ISSUE}_{self.entry.entry_id}_"
        for domain, issue_id in list(registry.issues):
            if domain != DOMAIN or not issue_id.startswith(prefix):
                continue
            issue = registry.async_get_issue(DOMAIN, issue_id)
            named = (issue.data or {}).get(CONF_SUBENTRY_ID) if issue is not None else None
            if named not in frigate_cameras:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    # ---------------------------------------------------------------------------- the server

    @callback
    def _async_model(self, server: vp.ServerState | None) -> None:
        issue_id = model_issue_id(self.entry.entry_id)
        if server is None or server.model_error is None:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        key = server.model_error_key if server.model_error_key in _MODEL_KEYS else "model_error"
        _async_report(
            self.hass,
            issue_id,
            key,
            {"server": self.entry.title, "error": server.model_error},
            severity=ir.IssueSeverity.ERROR,
        )

    # ------------------------------------------------------------------------------- privacy

    @callback
    def _async_context(self) -> None:
        issue_id = context_issue_id(self.entry.entry_id)
        if self.entry.data.get(CONF_DEPLOYMENT_CONTEXT):
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        _async_report(
            self.hass,
            issue_id,
            "context_missing",
            {"server": self.entry.title},
        )

    async def _async_held_back(self) -> None:
        """Raise one issue per held-back detector, named in Home Assistant's language."""
        applied = self._applied
        held = applied.held_back if applied is not None else ()
        names = await self._async_names(tuple(sorted({h.detector for h in held})))
        runtime = self.entry.runtime_data
        declared = bool(self.entry.data.get(CONF_DEPLOYMENT_CONTEXT))
        wanted: set[str] = set()
        for item in held:
            issue_id = held_back_issue_id(self.entry.entry_id, item)
            wanted.add(issue_id)
            camera = runtime.cameras.get(item.camera_id)
            camera_name = camera.name if camera is not None else "-"
            rule = runtime.zones.get(item.rule_id or "") or runtime.rules.get(item.rule_id or "")
            _async_report(
                self.hass,
                issue_id,
                "detector_held_back" if declared else "detector_held_back_no_context",
                {
                    "name": rule.name if rule is not None else camera_name,
                    "detector": names.get(item.detector, item.detector),
                    "camera": camera_name,
                    "context": names.get("context", "-"),
                },
            )
        self._async_clear((PRIVACY_PREFIX,), wanted, keep=(CONTEXT_PREFIX,))

    async def _async_paperwork(self, missing: tuple[str, ...]) -> None:
        """Raise the paperwork issue naming what is missing in HA's language, or clear it."""
        issue_id = paperwork_issue_id(self.entry.entry_id)
        if not missing:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        labels = await async_get_translations(
            self.hass, self.hass.config.language, "options", [DOMAIN]
        )
        names = [labels.get(_PAPERWORK_LABEL.format(domain=DOMAIN, item=i), i) for i in missing]
        if missing != self._paperwork:
            return  # the server changed its mind while the names loaded
        _async_report(
            self.hass,
            issue_id,
            "paperwork_missing",
            {"server": self.entry.title, "missing": ", ".join(names)},
        )

    async def _async_names(self, detectors: tuple[str, ...]) -> dict[str, str]:
        """Return the detectors' and the context's names from the server, in HA's language."""
        if not detectors:
            return {}
        language: Literal["en", "fr"] = (
            "fr" if self.hass.config.language.lower().startswith("fr") else "en"
        )
        context = self.entry.data.get(CONF_DEPLOYMENT_CONTEXT) or None
        store = self.entry.runtime_data.store
        try:
            verdict = await store.client.call(
                vp.CheckPrivacy(context=context, detectors=detectors, language=language),
                vp.PrivacyVerdict,
            )
        except Exception as err:
            _LOGGER.debug("Could not name the held-back detectors: %s", err)
            return {}
        return dict(verdict.names)

    # ------------------------------------------------------------------------------ clean-up

    @callback
    def _async_clear(
        self, prefixes: tuple[str, ...], wanted: set[str], keep: tuple[str, ...] = ()
    ) -> None:
        """Delete this entry's issues of these kinds that are no longer wanted."""
        entry_id = self.entry.entry_id
        for domain, issue_id in list(ir.async_get(self.hass).issues):
            if domain != DOMAIN or issue_id in wanted or issue_id.startswith(keep):
                continue
            if issue_id.startswith(prefixes) and entry_id in issue_id:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)


def _paperwork_missing(
    server: vp.ServerState | None, applied: vp.ConfigApplied | None
) -> tuple[str, ...]:
    """Return what the server says a public space lacks (its state first, else the last apply)."""
    if server is not None:
        return tuple(server.paperwork_missing)
    return tuple(applied.paperwork_missing) if applied is not None else ()


# --- watchlist entries left out ------------------------------------------------------------


def watchlist_issue_id(entry_id: str) -> str:
    """Return the issue id of a server entry's watchlist entries left out of its configuration."""
    return f"{WATCHLIST_PREFIX}{entry_id}"


@callback
def async_check_watchlist(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Name the watchlist entries the server would refuse, or clear the issue when none is."""
    issue_id = watchlist_issue_id(entry.entry_id)
    left_out = unsendable_watchlist_entries(entry)
    if not left_out:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    _async_report(
        hass,
        issue_id,
        "watchlist_incomplete",
        {
            "server": entry.title,
            "entries": ", ".join(sorted(left_out.values())),
        },
    )


def _async_report(
    hass: HomeAssistant,
    issue_id: str,
    translation_key: str,
    placeholders: dict[str, str],
    *,
    severity: ir.IssueSeverity = ir.IssueSeverity.WARNING,
) -> None:
    """Raise (or update) an issue the user fixes elsewhere: no fix flow of its own."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=severity,
        translation_key=translation_key,
        translation_placeholders=placeholders,
    )


def _refusal(camera: vp.CameraState | None, onvif: vp.OnvifState | None) -> str | None:
    """Return why a camera refuses Vigil's login, None when it does not."""
    if camera is not None and camera.failing and camera.translation_key == "invalid_auth":
        return camera.reason
    if onvif is not None and onvif.channel is vp.OnvifChannel.AUTH_FAILED:
        return onvif.reason
    return None


@callback
def async_setup_issues(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Follow a loaded server entry's states and keep its repair issues current."""
    IssueWatcher(hass, entry).async_start()
