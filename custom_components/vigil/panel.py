"""The Vigil panel in Home Assistant's sidebar: draw zones, lines and masks on a camera.

The panel is a plain web component (no build step) served from this integration's
`frontend` folder; administrators only. Its WebSocket commands are in `editor.py`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from homeassistant.components import panel_custom
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

PANEL_PATH: Final = DOMAIN
"""The panel's address in the frontend: /vigil (?camera=<camera subentry id> preselects one)."""
STATIC_URL: Final = f"/{DOMAIN}_static"
FRONTEND_DIR: Final = Path(__file__).parent / "frontend"
MODULE: Final = "vigil-panel.js"
DATA_PANEL: HassKey[str] = HassKey(f"{DOMAIN}_panel")


def panel_url(camera_subentry_id: str | None = None) -> str:
    """Return the panel's address inside the frontend, with a camera preselected."""
    return f"/{PANEL_PATH}" + (f"?camera={camera_subentry_id}" if camera_subentry_id else "")


def _fingerprint() -> str:
    """Return a short hash of the panel's files, so browsers load a changed panel afresh."""
    digest = hashlib.sha256()
    for path in sorted(FRONTEND_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def async_setup_panel(hass: HomeAssistant) -> None:
    """Serve the panel's files and add it to the sidebar (administrators only)."""
    if DATA_PANEL in hass.data:
        return
    version = await hass.async_add_executor_job(_fingerprint)
    hass.data[DATA_PANEL] = version
    await hass.http.async_register_static_paths(
        [StaticPathConfig(STATIC_URL, str(FRONTEND_DIR), cache_headers=False)]
    )
    await panel_custom.async_register_panel(
        hass,
        frontend_url_path=PANEL_PATH,
        webcomponent_name="vigil-panel",
        sidebar_title="Vigil",
        sidebar_icon="mdi:cctv",
        module_url=f"{STATIC_URL}/{MODULE}?v={version}",
        config={"static": STATIC_URL, "version": version},
        require_admin=True,
    )
