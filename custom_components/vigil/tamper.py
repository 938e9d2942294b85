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

from homeassistant.const import ATTR_ENTITY_ID, ENTITY_MATCH_ALL
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import service

# Feature detection: `helpers.target` exists from 2025.8 (read in 2025.8.0 and 2026.2.3); there
# `service.async_extract_referenced_entity_ids` is deprecated (breaks in 2026.8), so it is used
# only on the releases without `helpers.target` (2025.4, which the tests run).
try:
    from homeassistant.helpers.target import (  # type: ignore[import-not-found,unused-ignore]
        TargetSelection,
        async_extract_referenced_entity_ids,
    )
except ImportError:  # older releases (the tests run 2025.4) have only the service helper
    TargetSelection = None

import vigil_protocol as vp

from .const import DOMAIN
from .data import VigilConfigEntry
from .server_config import CameraInfo
from .store import VigilStore

_LOGGER = logging.getLogger(__name__)

RULE_ID: Final = "tamper"
"""The rule id of the server's health events (a condition starting or ending)."""
SERVICE_RECAPTURE_REFERENCE: Final = "recapture_reference"
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


# --- the recapture_reference action ----------------------------------------------------------
#
# The action targets cameras: their devices (directly, or through an area, a floor or a label)
# or any of their entities. It resolves the targets to devices itself rather than being an
# entity action (`async_register_platform_entity_service`, as reset_counter is): an entity
# action acts on one platform's entities, and Home Assistant leaves configuration entities such
# as the re-capture button out of device, area, floor and label targets (helpers/target.py), so
# targeting a camera's device would find nothing to act on; and a camera has one reference view
# however many entities.


def _selected(hass: HomeAssistant, call: ServiceCall) -> tuple[set[str], set[str]]:
    """Return the entities and devices a call targets (areas, floors, labels resolved)."""
    if TargetSelection is not None:
        selected = async_extract_referenced_entity_ids(hass, TargetSelection(call.data))
    else:
        selected = service.async_extract_referenced_entity_ids(hass, call)
    return selected.referenced | selected.indirectly_referenced, set(selected.referenced_devices)


def _targeted_cameras(
    hass: HomeAssistant, call: ServiceCall
) -> list[tuple[VigilConfigEntry, CameraInfo]]:
    """Return the loaded cameras a call targets (every camera with view checks for `all`)."""
    entries: list[VigilConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    if call.data.get(ATTR_ENTITY_ID) == ENTITY_MATCH_ALL:
        return [
            (entry, camera)
            for entry in entries
            for camera in entry.runtime_data.cameras.values()
            if (state := tamper_state(entry.runtime_data.store, camera.camera_id)) is not None
            and state.can_recapture
        ]
    entity_ids, device_ids = _selected(hass, call)
    registry = er.async_get(hass)
    for entity_id in entity_ids:
        entity = registry.async_get(entity_id)
        if entity is not None and entity.platform == DOMAIN and entity.device_id:
            device_ids.add(entity.device_id)
    devices = dr.async_get(hass)
    identifiers = {
        identifier
        for device_id in device_ids
        if (device := devices.async_get(device_id)) is not None
        for domain, identifier in device.identifiers
        if domain == DOMAIN
    }
    return [
        (entry, camera)
        for entry in entries
        for camera in entry.runtime_data.cameras.values()
        if camera.unique_id in identifiers
    ]


async def _async_recapture_reference(call: ServiceCall) -> None:
    """Re-capture the reference view of the targeted cameras (after an intended move)."""
    cameras = _targeted_cameras(call.hass, call)
    if not cameras:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_camera_targeted"
        )
    for entry, camera in cameras:
        await async_recapture(entry.runtime_data.store, camera)


@callback
def async_setup_tamper_services(hass: HomeAssistant) -> None:
    """Register the re-capture action (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_RECAPTURE_REFERENCE,
        _async_recapture_reference,
        schema=cv.make_entity_service_schema({}),
    )
