"""Carry engine events to entities: availability, zone state and statistics.

The engine's bus already calls back on Home Assistant's loop, so events are mapped and sent
with the dispatcher right away; only the fps/latency figures are refreshed on a timer, from
memory, without any I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import logging
from time import monotonic

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval

from vigil_core.engine import CameraStatus, Engine
from vigil_core.events.model import (
    EventPhase,
    RuleEvent,
    SourceState,
    SourceStateEvent,
    VigilEvent,
)
from vigil_core.health import RULE_ID as TAMPER_RULE_ID

from .const import DOMAIN, REFRESH_INTERVAL, STREAM_ISSUE_AFTER
from .engine_config import CameraInfo, ZoneInfo
from .issues import async_create_stream_issue, async_delete_stream_issue
from .tamper import TamperTracker

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class CameraState:
    """What the integration knows about a camera's stream."""

    state: SourceState = SourceState.CONNECTING
    failing: bool = False
    """Set when the stream fails; cleared only when frames flow again, not by each retry."""
    reason: str = ""
    translation_key: str | None = None
    offline_since: float | None = None
    """`monotonic()` when the stream was first seen failing, None while it works."""

    @property
    def online(self) -> bool:
        """Return whether frames are flowing."""
        return self.state is SourceState.ONLINE


_FAILED = frozenset({SourceState.OFFLINE, SourceState.STALLED, SourceState.ENDED})


@dataclass(slots=True)
class ZoneState:
    """Objects inside a zone now, by class."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Return how many objects of any class are inside."""
        return sum(self.counts.values())


def camera_signal(entry_id: str, camera_id: str) -> str:
    """Return the dispatcher signal of a camera's stream state and figures."""
    return f"{DOMAIN}_{entry_id}_{camera_id}"


def zone_signal(entry_id: str, rule_id: str) -> str:
    """Return the dispatcher signal of a zone rule's events."""
    return f"{DOMAIN}_{entry_id}_zone_{rule_id}"


class VigilBridge:
    """Subscribe to the engine's bus and dispatch per camera and per zone."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        engine: Engine,
        cameras: Mapping[str, CameraInfo],
        zones: Mapping[str, ZoneInfo],
    ) -> None:
        """Start every camera as connecting and every zone as empty."""
        self.hass = hass
        self.entry_id = entry_id
        self.engine = engine
        self.cameras = dict(cameras)
        self.zones = dict(zones)
        self.camera_states = {camera_id: CameraState() for camera_id in cameras}
        self.zone_states = {rule_id: ZoneState() for rule_id in zones}
        self.stats: dict[str, CameraStatus] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self.tamper = TamperTracker(hass, entry_id, engine, cameras)
        """Health conditions per camera: Vigil's checks and the cameras' own reports."""

    @callback
    def async_start(self) -> None:
        """Listen to the engine and refresh figures periodically."""
        self._unsubscribe.append(self.engine.bus.subscribe(self._async_on_event))
        self._unsubscribe.append(
            async_track_time_interval(
                self.hass,
                self._async_refresh,
                REFRESH_INTERVAL,
                name=f"{DOMAIN} refresh",
                cancel_on_shutdown=True,
            )
        )

    @callback
    def async_stop(self) -> None:
        """Stop listening."""
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def available(self, camera_id: str) -> bool:
        """Return whether a camera's entities have data."""
        state = self.camera_states.get(camera_id)
        return state is not None and state.online

    @callback
    def _async_on_event(self, event: VigilEvent) -> None:
        if isinstance(event, SourceStateEvent):
            self._async_on_source_state(event)
        elif isinstance(event, RuleEvent) and event.rule_id == TAMPER_RULE_ID:
            self.tamper.async_on_event(event)
        elif isinstance(event, RuleEvent):
            self._async_on_rule_event(event)

    @callback
    def _async_on_source_state(self, event: SourceStateEvent) -> None:
        camera = self.cameras.get(event.camera_id)
        state = self.camera_states.get(event.camera_id)
        if camera is None or state is None:
            return
        state.state = event.state
        if event.state is SourceState.ONLINE:
            state.offline_since = None
            if state.failing:
                state.failing = False
                _LOGGER.info("Camera %s is back online", camera.name)
            async_delete_stream_issue(self.hass, camera.camera_id)
        elif event.state in _FAILED:
            state.reason = event.reason
            state.translation_key = event.translation_key
            if not state.failing:
                state.failing = True
                state.offline_since = monotonic()
                _LOGGER.info("Camera %s is unavailable: %s", camera.name, event.reason)
            self._async_check_issue(camera, state)
        async_dispatcher_send(self.hass, camera_signal(self.entry_id, camera.camera_id))

    @callback
    def _async_on_rule_event(self, event: RuleEvent) -> None:
        zone = self.zones.get(event.rule_id)
        if zone is None or event.phase not in (EventPhase.STARTED, EventPhase.ENDED):
            return
        counts = event.attrs.get("counts")
        if isinstance(counts, Mapping):
            self.zone_states[zone.rule_id].counts = {
                str(label): int(count)
                for label, count in counts.items()
                if isinstance(count, int) and count > 0
            }
        async_dispatcher_send(self.hass, zone_signal(self.entry_id, zone.rule_id), event)

    @callback
    def _async_refresh(self, _now: datetime | None = None) -> None:
        """Read the figures of every camera from memory and check long outages."""
        for camera_id, camera in self.cameras.items():
            try:
                self.stats[camera_id] = self.engine.status(camera_id)
            except KeyError:
                continue
            self._async_check_issue(camera, self.camera_states[camera_id])
            async_dispatcher_send(self.hass, camera_signal(self.entry_id, camera_id))

    @callback
    def _async_check_issue(self, camera: CameraInfo, state: CameraState) -> None:
        """Raise a repair issue for a refused login at once, for an outage once it lasts."""
        if state.offline_since is None:
            return
        auth_failed = state.translation_key == "invalid_auth"
        lasting = monotonic() - state.offline_since >= STREAM_ISSUE_AFTER.total_seconds()
        if auth_failed or lasting:
            async_create_stream_issue(
                self.hass, camera, reason=state.reason, auth_failed=auth_failed
            )
