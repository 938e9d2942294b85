"""Runtime data the Vigil config entry carries while it is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

from vigil_core.engine import Engine

from .bridge import VigilBridge
from .engine_config import CameraInfo, ZoneInfo
from .onvif_runtime import OnvifRuntime
from .privacy import PrivacyRuntime

if TYPE_CHECKING:
    from .rule_entities import RuleRuntime


@dataclass(slots=True, kw_only=True)
class VigilRuntime:
    """The running engine, its bridge to Home Assistant and what was configured."""

    engine: Engine
    bridge: VigilBridge
    cameras: dict[str, CameraInfo]
    zones: dict[str, ZoneInfo]
    onvif: OnvifRuntime | None = None
    """Camera-side ONVIF events of the ONVIF cameras (None before setup finished)."""
    privacy: PrivacyRuntime | None = None
    """Access log, retention and what the deployment context holds back (privacy.py)."""
    rules: RuleRuntime | None = None
    """States and events of the rules beyond zones (rule_entities.py)."""
    settings_key: str = ""
    """The entry's settings apart from the watchlist when the engine was built (__init__.py)."""


type VigilConfigEntry = ConfigEntry[VigilRuntime]
