"""Runtime data a Vigil server's config entry carries while it is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field

from homeassistant.config_entries import ConfigEntry

from .server_config import CameraInfo, RuleInfo, ZoneInfo
from .store import VigilStore


@dataclass(slots=True, kw_only=True)
class VigilRuntime:
    """The server's store and what the entry configures on it."""

    store: VigilStore
    cameras: dict[str, CameraInfo]
    zones: dict[str, ZoneInfo]
    rules: dict[str, RuleInfo]
    devices: dict[str, str] = field(default_factory=dict)
    """The device id of each camera, by camera id (registered in entity.py)."""
    settings_key: str = ""
    """The entry's settings apart from the watchlist when it was set up (__init__.py)."""


type VigilConfigEntry = ConfigEntry[VigilRuntime]
