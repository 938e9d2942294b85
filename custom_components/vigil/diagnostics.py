"""Diagnostics: configuration and live figures, with credentials, addresses and plates redacted."""

from __future__ import annotations

from dataclasses import asdict
import re
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.core import HomeAssistant

from vigil_core.anpr.runtime import PLATE_ATTRS

from .anpr_entities import async_anpr_diagnostics
from .const import CONF_MODELS_DIR, CONF_STREAM_URL
from .data import VigilConfigEntry
from .privacy import async_privacy_diagnostics

TO_REDACT = {
    CONF_HOST,
    CONF_MODELS_DIR,
    CONF_PASSWORD,
    CONF_STREAM_URL,
    CONF_URL,
    CONF_USERNAME,
    "plate",
    "plates",
    # A camera subentry's unique id is its stream address (without credentials).
    "unique_id",
    *PLATE_ATTRS,
}
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def _scrub(text: str | None) -> str | None:
    """Replace any URL in a free-text message, credentials or not."""
    return None if text is None else _URL.sub("**REDACTED**", text)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: VigilConfigEntry
) -> dict[str, Any]:
    """Return the entry, its cameras' states and figures, and its zones' counts."""
    runtime = entry.runtime_data
    bridge = runtime.bridge
    cameras: dict[str, Any] = {}
    for camera_id, camera in runtime.cameras.items():
        state = bridge.camera_states[camera_id]
        status = bridge.stats.get(camera_id)
        cameras[camera_id] = {
            "source_type": camera.source_type,
            "state": state.state.value,
            "reason": _scrub(state.reason),
            "status": None if status is None else asdict(status) | {"error": _scrub(status.error)},
        }
        if runtime.onvif is not None and camera_id in runtime.onvif.cameras:
            cameras[camera_id]["camera_events"] = runtime.onvif.diagnostics(camera_id)
    zones = {
        rule_id: {
            "camera_id": zone.camera_id,
            "polygon": [list(point) for point in zone.polygon],
            "classes": list(zone.classes),
            "inertia": zone.inertia,
            "counts": dict(bridge.zone_states[rule_id].counts),
        }
        for rule_id, zone in runtime.zones.items()
    }
    config = runtime.engine.config
    return {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
        "analysis": {
            "detector": config.detector.model,
            "confidence": config.detector.confidence,
            "cameras": {
                camera.id: {"fps": camera.fps, "motion_gating": camera.motion.enabled}
                for camera in config.cameras
            },
        },
        "cameras": cameras,
        "zones": zones,
        "privacy": await async_privacy_diagnostics(hass, entry),
        "anpr": async_redact_data(await async_anpr_diagnostics(hass, entry), TO_REDACT),
    }
