"""Camera tamper and health: the server's merged conditions, and re-capturing the reference view.

The server folds Vigil's own checks and the cameras' reports (ONVIF tamper, scene change, too
blurry, too dark, too bright) into one `TamperState` per camera: each condition is on while any
source reports it. It sends a `tamper` event only when a condition turns on or off. This module
reads those for the entities (tamper_entities.py) and carries out the re-capture of a camera's
reference view, for its button and the `vigil.recapture_reference` action.
"""

from __future__ import annotations

import logging
from typing import Final

from homeassistant.exceptions import HomeAssistantError

import vigil_protocol as vp

from .const import DOMAIN
from .server_config import CameraInfo
from .store import VigilStore

_LOGGER = logging.getLogger(__name__)

RULE_ID: Final = "tamper"
"""The rule id of the server's health events (a condition starting or ending)."""
VIEW_CONDITIONS: Final = frozenset(
    {vp.TamperCondition.OBSTRUCTION, vp.TamperCondition.DEFOCUS, vp.TamperCondition.ORIENTATION}
)
"""Conditions judged on the picture (a lost stream is judged on the stream itself)."""
PHASES: Final = {vp.EventPhase.STARTED: "started", vp.EventPhase.ENDED: "ended"}


def event_type(condition: vp.TamperCondition, phase: vp.EventPhase) -> str:
    """Return the event type of a condition starting or ending (``obstruction_started``)."""
    return f"{condition.value}_{PHASES[phase]}"


def tamper_state(store: VigilStore, camera_id: str) -> vp.TamperState | None:
    """Return a camera's health conditions, None when it checks none."""
    state = store.state(camera_id, None, vp.TamperState.KIND)
    return state if isinstance(state, vp.TamperState) else None


async def async_recapture(store: VigilStore, camera: CameraInfo) -> None:
    """Make the camera's next frames its reference view (the server never blocks on it)."""
    try:
        await store.async_request(vp.RecaptureReference(camera_id=camera.camera_id), vp.Done)
    except HomeAssistantError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="recapture_unavailable",
            translation_placeholders={"camera": camera.name},
        ) from err
    _LOGGER.info("Camera %s: the next frames become the reference view", camera.name)
