"""Plate reading (ANPR) in the hub entry: the watchlist subentries and each camera's settings.

Watchlist entries are `watchlist_entry` subentries (their plate is never logged); a camera's
plate reading settings live in its own camera subentry under `anpr`, so the acknowledgement a
hashed or full mode needs is scoped to that camera like any other camera detector.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
import logging
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from pydantic import ValidationError

from vigil_core.anpr.watchlist import InvalidPlate, parse_pattern
from vigil_core.config import AnprSpec, EngineConfig, WatchlistEntry, WatchlistSpec

from .const import SUBENTRY_CAMERA

_LOGGER = logging.getLogger(__name__)

SUBENTRY_WATCHLIST: Final = "watchlist_entry"
SUBENTRY_PLATE_READING: Final = "plate_reading"

CONF_PLATE: Final = "plate"
CONF_LABEL: Final = "label"
CONF_REASON: Final = "reason"
CONF_EXPIRES: Final = "expires"
CONF_MAX_DISTANCE: Final = "max_distance"
CONF_ANPR: Final = "anpr"
CONF_ENABLED: Final = "enabled"
CONF_MODE: Final = "mode"
CONF_COUNTRIES: Final = "countries"
CONF_PRIVACY: Final = "privacy"
CONF_FULL_ACKNOWLEDGED: Final = "full_acknowledged"

ANPR_MODES: Final = ("vehicle_crops", "full_frame", "both")
PRIVACY_MODES: Final = ("watchlist", "hashed", "full")
COUNTRIES: Final = ("at", "be", "ch", "de", "es", "fr", "it", "nl", "pl", "pt", "uk", "us")


def slug_id(subentry_id: str) -> str:
    """Return the engine id of a subentry (as engine_config.slug_id, without importing it)."""
    return subentry_id.lower()


def watchlist_errors(data: Mapping[str, Any]) -> dict[str, str]:
    """Return the form errors of a watchlist entry (the engine's translation keys)."""
    try:
        parse_pattern(str(data.get(CONF_PLATE, "")))
    except InvalidPlate as err:
        return {CONF_PLATE: err.translation_key}
    try:
        watchlist_entry("check", data)
    except ValidationError:
        return {"base": "invalid_entry"}
    return {}


def watchlist_entry(entry_id: str, data: Mapping[str, Any]) -> WatchlistEntry:
    """Return the engine's entry for a subentry's data (raises on invalid data)."""
    expires = data.get(CONF_EXPIRES) or None
    return WatchlistEntry.model_validate(
        {
            "id": entry_id,
            "plate": str(data[CONF_PLATE]),
            "label": str(data.get(CONF_LABEL, "")),
            "reason": str(data.get(CONF_REASON, "")),
            "expires": date.fromisoformat(expires) if isinstance(expires, str) else expires,
            "max_distance": data.get(CONF_MAX_DISTANCE),
        }
    )


def watchlist_subentries(entry: ConfigEntry) -> list[ConfigSubentry]:
    """Return the entry's watchlist subentries."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_WATCHLIST]


def watchlist_spec(entry: ConfigEntry, base: WatchlistSpec | None = None) -> WatchlistSpec:
    """Return the watchlist of the entry's subentries (a damaged one is skipped)."""
    entries: list[WatchlistEntry] = []
    for sub in watchlist_subentries(entry):
        try:
            entries.append(watchlist_entry(slug_id(sub.subentry_id), sub.data))
        except (ValidationError, KeyError, ValueError):
            _LOGGER.warning("Ignoring the damaged watchlist entry %s", sub.title)
    return (base or WatchlistSpec()).model_copy(update={"entries": entries})


def camera_anpr(data: Mapping[str, Any]) -> AnprSpec:
    """Return a camera subentry's plate reading settings (off when none are stored)."""
    raw = data.get(CONF_ANPR) or {}
    try:
        return AnprSpec.model_validate(dict(raw))
    except ValidationError:
        _LOGGER.warning("Ignoring damaged plate reading settings")
        return AnprSpec()


def with_anpr(entry: ConfigEntry, config: EngineConfig) -> EngineConfig:
    """Return the configuration with each camera's plate reading and the watchlist."""
    settings = {
        slug_id(sub.subentry_id): camera_anpr(sub.data)
        for sub in entry.subentries.values()
        if sub.subentry_type == SUBENTRY_CAMERA
    }
    cameras = [
        camera.model_copy(update={"anpr": settings[camera.id]}) if camera.id in settings else camera
        for camera in config.cameras
    ]
    anpr = config.anpr.model_copy(
        update={"watchlist": watchlist_spec(entry, config.anpr.watchlist)}
    )
    return config.model_copy(update={"cameras": cameras, "anpr": anpr})


def plate_modes(config: EngineConfig) -> dict[str, str]:
    """Return the privacy mode of each camera that reads plates."""
    return {camera.id: camera.anpr.privacy for camera in config.cameras if camera.anpr.enabled}
