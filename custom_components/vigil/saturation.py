"""Suggest moving cameras off a saturated server, to another configured server with room.

One watcher follows every loaded server entry. A server saturated (server_load.py: it falls
behind its cameras) for `SATURATED_AFTER` while another connected server has room gets a
repair issue naming both; the issue goes away by itself when the server keeps up again, when
no other server has room any more, or when either entry unloads. A server that is away says
nothing new: its last figures are stale, so it is neither judged nor offered.
"""

from __future__ import annotations

from datetime import timedelta
import time
from typing import Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.util.hass_dict import HassKey

import vigil_protocol as vp

from .const import DOMAIN
from .data import VigilConfigEntry
from .server_load import cpu_share, has_room, saturated

SATURATED_AFTER: Final = timedelta(minutes=2)
"""How long a server stays saturated before the suggestion appears (a burst is not enough)."""
ISSUE_KEY: Final = "server_saturated"
DATA_SATURATION: HassKey[SaturationWatcher] = HassKey(f"{DOMAIN}_saturation")


def saturation_issue_id(entry_id: str) -> str:
    """Return the issue id suggesting to move cameras off a server entry's server."""
    return f"{ISSUE_KEY}_{entry_id}"


class SaturationWatcher:
    """Judge every loaded server together: who is saturated, who has room."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Follow no entry until `async_add`."""
        self.hass = hass
        self._entries: dict[str, VigilConfigEntry] = {}
        self._since: dict[str, float] = {}
        self._recheck: CALLBACK_TYPE | None = None

    @callback
    def async_add(self, entry: VigilConfigEntry) -> None:
        """Follow a loaded entry's server state until it unloads."""
        self._entries[entry.entry_id] = entry
        store = entry.runtime_data.store
        entry.async_on_unload(store.async_subscribe(None, None, self.async_check))
        entry.async_on_unload(lambda: self._async_remove(entry.entry_id))
        self.async_check()

    @callback
    def _async_remove(self, entry_id: str) -> None:
        self._entries.pop(entry_id, None)
        self._since.pop(entry_id, None)
        ir.async_delete_issue(self.hass, DOMAIN, saturation_issue_id(entry_id))
        self.async_check()

    @callback
    def async_check(self) -> None:
        """Raise, update or clear every entry's suggestion from the servers' latest states."""
        self._async_cancel_recheck()
        servers = self._servers()
        now = time.monotonic()
        hold = SATURATED_AFTER.total_seconds()
        next_due: float | None = None
        for entry_id, entry in self._entries.items():
            server = servers.get(entry_id)
            if server is None:
                continue  # away: its figures are stale, its issue stays as it was
            if not saturated(server):
                self._since.pop(entry_id, None)
                ir.async_delete_issue(self.hass, DOMAIN, saturation_issue_id(entry_id))
                continue
            due = self._since.setdefault(entry_id, now) + hold
            if now < due:
                next_due = due if next_due is None else min(next_due, due)
                continue
            self._async_suggest(entry, server, servers)
        if next_due is not None:
            self._recheck = async_call_later(self.hass, next_due - now, self._async_timer)

    def _servers(self) -> dict[str, vp.ServerState]:
        """Return the state of every loaded entry's server that is connected now."""
        found: dict[str, vp.ServerState] = {}
        for entry_id, entry in self._entries.items():
            if entry.state is not ConfigEntryState.LOADED:
                continue
            store = entry.runtime_data.store
            if store.connected and (server := store.server()) is not None:
                found[entry_id] = server
        return found

    @callback
    def _async_suggest(
        self, entry: VigilConfigEntry, server: vp.ServerState, servers: dict[str, vp.ServerState]
    ) -> None:
        """Name the server with the most room, or clear the issue when none has any."""
        issue_id = saturation_issue_id(entry.entry_id)
        roomy = [
            (cpu_share(state) or 0.0, self._entries[entry_id].title, state)
            for entry_id, state in servers.items()
            if entry_id != entry.entry_id and has_room(state)
        ]
        if not roomy:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        other_cpu, other, _ = min(roomy, key=lambda found: (found[0], found[1]))
        cameras = entry.runtime_data.cameras
        names = [
            camera.name if (camera := cameras.get(camera_id)) is not None else camera_id
            for camera_id in server.overloaded_cameras
        ]
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_KEY,
            translation_placeholders={
                "server": entry.title,
                "other": other,
                "share": _number(server.analysed_share, 100.0),
                "analysed": f"{server.analysed_fps:.1f}",
                "target": f"{server.target_fps:.1f}",
                "cpu": _number(cpu_share(server), 100.0),
                "cameras": ", ".join(names) or "-",
                "other_cpu": f"{100.0 * other_cpu:.0f}",
            },
        )

    @callback
    def _async_timer(self, _now: object) -> None:
        self._recheck = None
        self.async_check()

    @callback
    def _async_cancel_recheck(self) -> None:
        if self._recheck is not None:
            self._recheck()
            self._recheck = None


def _number(value: float | None, scale: float) -> str:
    return "-" if value is None else f"{scale * value:.0f}"


@callback
def async_setup_saturation(hass: HomeAssistant, entry: VigilConfigEntry) -> None:
    """Judge a loaded server entry's load together with every other one's."""
    watcher = hass.data.get(DATA_SATURATION)
    if watcher is None:
        watcher = hass.data[DATA_SATURATION] = SaturationWatcher(hass)
    watcher.async_add(entry)
