"""Retention on Home Assistant's side: what Vigil leaves here is purged as the entry says.

The server purges its own data (events it keeps, crops, plate stores, its access log) by the
retention the entry sends it. Two things Vigil puts in Home Assistant are purged here, by the
same retention options:

- the history of Vigil's entities in the recorder (artefact ``events``), through the
  recorder's own `purge_entities` action;
- the access-log exports and generated documents written to `config/vigil/exports` and
  `config/vigil/documents` for the controller to take away (artefact ``exports``).

Several servers share those two folders: each entry purges them by its own retention, so the
shortest one applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
import logging
from pathlib import Path
import time
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.util import dt as dt_util

from vigil_protocol.privacy import Artefact

from .const import DOMAIN, PURGE_INTERVAL
from .data import VigilConfigEntry
from .privacy_flow import retention_days

_LOGGER = logging.getLogger(__name__)

FIRST_PURGE_DELAY_S: Final = 300.0
"""The first purge waits until Home Assistant has settled after a start."""
FOLDERS: Final = ("exports", "documents")
"""Folders of `config/vigil` holding exports and documents (artefact ``exports``)."""
RECORDER_DOMAIN: Final = "recorder"
RECORDER_PURGE: Final = "purge_entities"


@dataclass(slots=True)
class PurgeReport:
    """What the last purge removed, by folder (the recorder does not say how much it drops)."""

    at: datetime
    removed: dict[str, int] = field(default_factory=dict)
    recorder_keep_days: int | None = None


def purge_folder(folder: Path, before: float) -> int:
    """Delete the files of a folder and its sub-folders modified before `before` (blocking)."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime < before:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


class PrivacyPurge:
    """Purge one server entry's recorder history and the controller's folders periodically."""

    def __init__(self, hass: HomeAssistant, entry: VigilConfigEntry) -> None:
        """Schedule nothing until `async_start`."""
        self.hass = hass
        self.entry = entry
        self.last: PurgeReport | None = None

    @callback
    def async_start(self) -> None:
        """Purge a few minutes after the start, then every `PURGE_INTERVAL`."""
        self.entry.async_on_unload(
            async_call_later(self.hass, FIRST_PURGE_DELAY_S, self._async_scheduled)
        )
        self.entry.async_on_unload(
            async_track_time_interval(
                self.hass, self._async_scheduled, PURGE_INTERVAL, name=f"{DOMAIN} purge"
            )
        )

    async def _async_scheduled(self, _now: datetime) -> None:
        await self.async_purge()

    async def async_purge(self) -> PurgeReport:
        """Purge now, by the entry's current retention options."""
        days = retention_days(self.entry.options)
        report = PurgeReport(at=dt_util.utcnow())
        before = time.time() - timedelta(days=days[Artefact.EXPORTS.value]).total_seconds()
        root = Path(self.hass.config.path(DOMAIN))
        for name in FOLDERS:
            report.removed[name] = await self.hass.async_add_executor_job(
                purge_folder, root / name, before
            )
        report.recorder_keep_days = await self._async_purge_history(days[Artefact.EVENTS.value])
        self.last = report
        if any(report.removed.values()):
            _LOGGER.info("Vigil retention: removed %s", report.removed)
        return report

    async def _async_purge_history(self, keep_days: int) -> int | None:
        """Ask the recorder to drop the history of this entry's entities older than `keep_days`.

        The recorder purges in its own thread; returns the days kept, None without a recorder.
        """
        if not self.hass.services.has_service(RECORDER_DOMAIN, RECORDER_PURGE):
            return None
        registry = er.async_get(self.hass)
        entity_ids = [
            entity.entity_id
            for entity in er.async_entries_for_config_entry(registry, self.entry.entry_id)
        ]
        if not entity_ids:
            return None
        await self.hass.services.async_call(
            RECORDER_DOMAIN,
            RECORDER_PURGE,
            {"entity_id": entity_ids, "keep_days": keep_days},
            blocking=False,
        )
        return keep_days


@callback
def async_setup_privacy(hass: HomeAssistant, entry: VigilConfigEntry) -> PrivacyPurge:
    """Start purging what a loaded server entry leaves in Home Assistant."""
    purge = PrivacyPurge(hass, entry)
    purge.async_start()
    return purge
