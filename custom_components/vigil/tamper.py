"""Camera tamper and health: one state per condition and camera, whoever reports it.

Vigil's own checks (``vigil_core.health``) and the cameras' reports (ONVIF tamper, global scene
change, too blurry, too dark, too bright) reach the engine's bus as the same `RuleEvent`s, rule
id ``tamper``. `TamperTracker` folds them into one state per condition — on while any source
reports it (`TamperBoard`) — and tells the camera's entities through the dispatcher. It also
publishes the camera-side reports that reach Home Assistant some other way
(`async_camera_side_report`) and carries out the re-capture of a camera's reference view, for
its button and its action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
import logging
import time
from typing import TYPE_CHECKING, Final

from homeassistant.const import ATTR_DEVICE_ID, ATTR_ENTITY_ID, ENTITY_MATCH_ALL
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from vigil_core.config import TamperSpec
from vigil_core.errors import VigilError
from vigil_core.events.model import EventPhase, RuleEvent
from vigil_core.health import (
    RULE_ID,
    CameraReport,
    TamperBoard,
    TamperCondition,
    Thresholds,
    camera_report_event,
)
from vigil_core.health.conditions import VIEW_CONDITIONS

from .const import DOMAIN

if TYPE_CHECKING:
    from vigil_core.engine import Engine

_LOGGER = logging.getLogger(__name__)

SERVICE_RECAPTURE_REFERENCE: Final = "recapture_reference"
RECAPTURE_SCHEMA: Final = cv.make_entity_service_schema({})
"""Target: a camera device, or any Vigil entity of it."""

MAX_START_LAG_S: Final = 60.0
"""Longest delay between a condition's score crossing its level and its event (`start_s`)."""
_DISABLED: Final = TamperSpec(enabled=False)
_CAMERA_REPORTS: Final = frozenset(report.value for report in CameraReport)


def tamper_signal(entry_id: str, camera_id: str) -> str:
    """Return the dispatcher signal of a camera's health conditions."""
    return f"{DOMAIN}_{entry_id}_{camera_id}_tamper"


def enabled_conditions(spec: TamperSpec) -> tuple[TamperCondition, ...]:
    """Return the conditions a camera's tamper configuration checks."""
    if not spec.enabled:
        return ()
    enabled = {
        TamperCondition.OBSTRUCTION: spec.obstruction,
        TamperCondition.DEFOCUS: spec.defocus,
        TamperCondition.ORIENTATION: spec.orientation,
        TamperCondition.STREAM_LOSS: spec.stream_loss,
    }
    return tuple(condition for condition in TamperCondition if enabled[condition])


@dataclass(slots=True)
class ConditionStatus:
    """What a condition's binary sensor shows."""

    active: bool = False
    sources: tuple[str, ...] = ()
    """Who reports the condition now: ``vigil``, ``onvif``…"""
    score: float | None = None
    """The highest score among those sources (1.0 for a camera's own alarm)."""
    since: datetime | None = None
    reason: str | None = None
    """Why a stream counts as lost (``no_frames``, ``frozen``, ``low_fps``)."""


@dataclass(frozen=True, slots=True)
class TamperUpdate:
    """A health event of one camera, and what it did to its condition."""

    condition: TamperCondition
    event: RuleEvent
    transition: EventPhase | None
    """STARTED when the first source raised it, ENDED when the last one cleared it, else None."""


class CameraTamper:
    """One camera's conditions, each on while Vigil or the camera itself reports it."""

    def __init__(self, spec: TamperSpec) -> None:
        """Start with every enabled condition off."""
        self.conditions = enabled_conditions(spec)
        self.thresholds = Thresholds.for_sensitivity(spec.sensitivity)
        self.status = {condition: ConditionStatus() for condition in self.conditions}
        self._board = TamperBoard(self.conditions)

    @property
    def can_recapture(self) -> bool:
        """Return whether the camera has view checks, whose reference can be re-captured."""
        return any(condition in VIEW_CONDITIONS for condition in self.conditions)

    def threshold(self, condition: TamperCondition) -> float | None:
        """Return the score at which Vigil raises a view condition (None for stream loss)."""
        return self.thresholds.on(condition) if condition in VIEW_CONDITIONS else None

    def apply(self, event: RuleEvent) -> TamperUpdate | None:
        """Fold a health event in; return the update (None for a condition not checked)."""
        merged = self._board.apply(event)
        if merged is None:
            return None
        status = self.status[merged.condition]
        was_active = status.active
        status.active = merged.active
        status.sources = tuple(sorted(merged.sources))
        reason = event.attrs.get("reason")
        if not merged.active:
            status.score = status.since = status.reason = None
        else:
            status.score = round(merged.score, 3)
            if not was_active:
                status.since = _started_at(event)
            if isinstance(reason, str):
                status.reason = reason
        transition = None
        if merged.active != was_active:
            transition = EventPhase.STARTED if merged.active else EventPhase.ENDED
        return TamperUpdate(merged.condition, event, transition)


def _started_at(event: RuleEvent) -> datetime:
    """Return when a condition began: Vigil raises it `start_s` after its score crossed."""
    since_s = event.attrs.get("since_s")
    lag_s = event.at_s - since_s if isinstance(since_s, int | float) else 0.0
    return dt_util.utc_from_timestamp(event.wall_time - min(max(lag_s, 0.0), MAX_START_LAG_S))


def camera_side_event(
    camera_id: str,
    report: CameraReport | TamperCondition | str,
    *,
    active: bool,
    source: str,
    score: float | None = None,
) -> RuleEvent:
    """Build the event of a camera's own report starting (active) or ending.

    `report` is what the camera says (``tamper``, ``scene_change``, ``too_blurry``,
    ``too_dark``, ``too_bright``: mapped as ``vigil_core.health.REPORT_CONDITIONS``) or directly
    a condition (``stream_loss`` for a camera's video-loss alarm). Raises ValueError otherwise.
    """
    now = time.time()
    extra = {} if score is None else {"score": round(float(score), 3)}
    if report in _CAMERA_REPORTS:
        return camera_report_event(
            camera_id=camera_id,
            report=CameraReport(report),
            active=active,
            source=source,
            at_s=now,
            attrs=extra,
        )
    condition = TamperCondition(report)
    return RuleEvent(
        kind=condition.value,
        camera_id=camera_id,
        rule_id=RULE_ID,
        track_id=None,
        phase=EventPhase.STARTED if active else EventPhase.ENDED,
        at_s=now,
        frame_index=0,
        wall_time=now,
        source=source,
        attrs={
            "condition": condition.value,
            "source": source,
            "report": condition.value,
            "score": 1.0 if active else 0.0,
            **extra,
        },
    )


class TamperTracker:
    """Keep every camera's health conditions and tell its entities when one changes."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        engine: Engine,
        camera_ids: Iterable[str],
    ) -> None:
        """Read each camera's checks from the configuration the engine runs."""
        self.hass = hass
        self.entry_id = entry_id
        self._engine = engine
        specs: Mapping[str, TamperSpec] = {
            camera.id: camera.tamper for camera in engine.config.cameras
        }
        self.cameras = {
            camera_id: CameraTamper(specs.get(camera_id, _DISABLED)) for camera_id in camera_ids
        }

    @callback
    def async_on_event(self, event: RuleEvent) -> None:
        """Fold a health event (rule id ``tamper``) into its camera and tell the entities."""
        camera = self.cameras.get(event.camera_id)
        update = camera.apply(event) if camera is not None else None
        if update is not None:
            async_dispatcher_send(self.hass, tamper_signal(self.entry_id, event.camera_id), update)

    @callback
    def async_camera_side_report(
        self,
        camera_id: str,
        report: CameraReport | TamperCondition | str,
        active: bool,
        source: str,
        score: float | None = None,
    ) -> None:
        """Report a condition the camera raised or cleared itself (`source` names the camera side).

        The report goes onto the engine's bus like those of the engine's own sources, so every
        subscriber sees it, and comes back to `async_on_event`.
        """
        event = camera_side_event(camera_id, report, active=active, source=source, score=score)
        self._engine.bus.publish(event)

    def recapture_reference(self, camera_id: str, camera_name: str) -> None:
        """Make the camera's next frames its reference view (never blocks)."""
        try:
            self._engine.recapture_reference(camera_id)
        except VigilError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="recapture_unavailable",
                translation_placeholders={"camera": camera_name},
            ) from err
        _LOGGER.info("Camera %s: the next frames become the reference view", camera_name)


@callback
def _targeted_devices(hass: HomeAssistant, call: ServiceCall) -> set[str] | None:
    """Return the device ids an action targets, through its devices or entities (None: all)."""
    entity_ids = call.data.get(ATTR_ENTITY_ID)
    if entity_ids == ENTITY_MATCH_ALL:
        return None
    devices = set(call.data.get(ATTR_DEVICE_ID) or ())
    registry = er.async_get(hass)
    for entity_id in entity_ids or ():
        entity = registry.async_get(entity_id)
        if entity is not None and entity.platform == DOMAIN and entity.device_id:
            devices.add(entity.device_id)
    return devices


async def async_recapture_reference(call: ServiceCall) -> None:
    """Re-capture the reference view of the targeted cameras (after an intended move)."""
    hass = call.hass
    device_ids = _targeted_devices(hass, call)
    device_registry = dr.async_get(hass)
    identifiers: set[str] | None = None
    if device_ids is not None:
        identifiers = {
            identifier
            for device_id in device_ids
            if (device := device_registry.async_get(device_id)) is not None
            for domain, identifier in device.identifiers
            if domain == DOMAIN
        }
    done = 0
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        tracker: TamperTracker = entry.runtime_data.bridge.tamper
        for camera in entry.runtime_data.cameras.values():
            if identifiers is None:
                # Every camera: those that run view checks (a named one without them is refused).
                if not tracker.cameras[camera.camera_id].can_recapture:
                    continue
            elif f"{entry.entry_id}_{camera.camera_id}" not in identifiers:
                continue
            tracker.recapture_reference(camera.camera_id, camera.name)
            done += 1
    if not done:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_camera_targeted"
        )


@callback
def async_setup_tamper_services(hass: HomeAssistant) -> None:
    """Register the re-capture action (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_RECAPTURE_REFERENCE,
        async_recapture_reference,
        schema=RECAPTURE_SCHEMA,
    )
