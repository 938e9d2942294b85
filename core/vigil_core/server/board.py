"""The state board: every state the server publishes, kept current from the engine's events.

The board subscribes to the engine's bus (on the server's loop) and keeps one typed value per
camera and rule: streams and figures, rule states (published by the pipelines), camera health,
ONVIF channels and plate reading. Every change, and every event a client may see, goes to the
board's listeners (the WebSocket sessions) as a protocol message. What a client may see is
decided here: event details are cut to the allow-list (never anything describing a person),
plate text only leaves where the camera keeps plates in full, a crop reference only where crops
are kept and the deployment context allows images.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import contextlib
from dataclasses import replace
import json
import logging
import math
import os
from pathlib import Path
import time
from typing import Any

from vigil_core.anpr.stage import RULE_ID as ANPR_RULE_ID
from vigil_core.config import AnprSpec, CameraSpec
from vigil_core.engine import Engine
from vigil_core.events.model import (
    ChannelEvent,
    RuleEvent,
    RuleStateEvent,
    SourceStateEvent,
    VigilEvent,
)
from vigil_core.feeds.onvif_states import SOURCE_ONVIF
from vigil_core.feeds.onvif_topics import DATA_ITEMS, SOURCE_ITEMS, allowed_items
from vigil_core.health import RULE_ID as TAMPER_RULE_ID
from vigil_core.privacy.context import Violation, keeps_images, missing_paperwork
from vigil_core.privacy.purposes import EVENT_ATTRIBUTES
from vigil_protocol import (
    CameraState,
    EventPush,
    HeldBack,
    InferenceBackend,
    JsonValue,
    ServerState,
    StatePush,
    StateUpdate,
    StateValue,
)
from vigil_protocol import EventPhase as WireEventPhase
from vigil_protocol import RuleEvent as WireRuleEvent

from .folds import OnvifFold, PlateFold, TamperFold, TamperTransition, fold_stream

_LOGGER = logging.getLogger(__name__)

type Push = StatePush | EventPush
type Listener = Callable[[Push], None]
type Key = tuple[str | None, str | None, str]

_REVIEW = ("match_id", "status", "entry_id", "label", "reason", "distance", "crop_id")
_PLATE_EVENTS = {"watchlist_match": ("match_id", "status", "entry_id", "label", "reason",
                                     "distance", "exact", "direction", "crop_id", "plate"),
                 "watchlist_match_confirmed": _REVIEW,
                 "watchlist_match_rejected": _REVIEW,
                 "plate_route": ("route_id", "entry_id", "label", "cameras", "from_camera",
                                 "elapsed_s")}  # fmt: skip
"""Plate events a client sees (passages and reads only feed the state), with their details.

A ``watchlist_match`` is pending (a suspicion); automations act on
``watchlist_match_confirmed``, raised when an administrator confirms it (`ReviewMatch`).
"""

_ONVIF_ATTRIBUTES = frozenset(
    {"source", "topic", "rule", "instance", "operation", "utc_time", "active", "count",
     "object_id", "object_class", "source_items", "key_items", "data", "report"}
)  # fmt: skip
"""What a camera's own event may carry: where it came from, its state, allow-listed items."""
_ONVIF_ITEMS = {"source_items": SOURCE_ITEMS, "key_items": frozenset({"objectid"}),
                "data": DATA_ITEMS}  # fmt: skip


class StateBoard:
    """Keep every published state and tell the listeners of each change and event."""

    def __init__(self, *, topics_file: Path | None = None) -> None:
        """Start empty; `attach` an engine to follow it."""
        self._topics_file = topics_file
        self._states: dict[Key, StateUpdate] = {}
        self._listeners: list[Listener] = []
        self._engine: Engine | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._cameras: dict[str, CameraSpec] = {}
        self._tamper: dict[str, TamperFold] = {}
        self._onvif: dict[str, OnvifFold] = {}
        self._plates: dict[str, PlateFold] = {}
        self._server = ServerState()
        self._cpu_mark: tuple[float, float] | None = None
        self._stored: dict[str, list[str]] = {}
        self._set(None, None, self._server)

    def load_topics(self) -> None:
        """Read the ONVIF topics kept from earlier runs (blocking: call it off the loop)."""
        self._stored = self._read_topics()

    # -------------------------------------------------------------------------------- reading

    def states(self) -> tuple[StateUpdate, ...]:
        """Return every current state."""
        return tuple(self._states.values())

    def get(self, camera_id: str | None, rule_id: str | None, kind: str) -> StateValue | None:
        """Return one state value, or None."""
        update = self._states.get((camera_id, rule_id, kind))
        return update.state if update is not None else None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every change and event; return a function that stops it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # ------------------------------------------------------------------------ following engines

    def attach(self, engine: Engine, passages: dict[str, int] | None = None) -> None:
        """Follow an engine (before it starts, so no first state is missed).

        `passages` holds each plate camera's passages of today, read off the loop.
        """
        self.detach()
        self._engine = engine
        self._unsubscribe = engine.bus.subscribe(self._on_event)
        self.reconfigure(engine.config.cameras, engine.privacy_violations, passages or {})
        self.set_paperwork(missing_paperwork(engine.config.privacy))

    def detach(self) -> None:
        """Stop following the engine (its cameras' states stay until reconfigured)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._engine = None

    def reconfigure(
        self,
        cameras: Iterable[CameraSpec],
        violations: Iterable[Violation] = (),
        passages: dict[str, int] | None = None,
    ) -> None:
        """Take the cameras the engine runs now: new ones start, removed ones are forgotten."""
        old = self._cameras
        self._cameras = {camera.id: camera for camera in cameras}
        for camera_id in set(old) - set(self._cameras):
            self._forget(camera_id, keep_rules=())
        stored = self._stored
        for camera in self._cameras.values():
            if old.get(camera.id) != camera:
                self._setup_camera(camera, stored, (passages or {}).get(camera.id, 0))
        self._server = replace(
            self._server,
            cameras=len(self._cameras),
            held_back=tuple(_held_back(v) for v in violations),
        )
        self._set(None, None, self._server)

    def _setup_camera(
        self, camera: CameraSpec, stored: dict[str, list[str]], passages: int
    ) -> None:
        rules = {zone.id for zone in camera.zones} | {rule.id for rule in camera.rules}
        self._forget(camera.id, keep_rules=rules)
        current = self.get(camera.id, None, CameraState.KIND)
        self._set(camera.id, None, current or CameraState(target_fps=camera.fps))
        if isinstance(current, CameraState) and current.target_fps != camera.fps:
            self._set(camera.id, None, replace(current, target_fps=camera.fps))
        tamper = TamperFold(camera.tamper)
        self._tamper[camera.id] = tamper
        if tamper.conditions:
            self._set(camera.id, None, tamper.state())
        if camera.onvif is not None and camera.onvif.events:
            fold = self._onvif.get(camera.id) or OnvifFold()
            fold.add_topics(stored.get(camera.id, []))
            self._onvif[camera.id] = fold
            self._set(camera.id, None, fold.state())
        else:
            self._onvif.pop(camera.id, None)
        if camera.anpr.enabled:
            plates = self._plates.get(camera.id) or PlateFold()
            plates.passages_today = max(plates.passages_today, passages)
            plates.crops = self._shows_crops(camera.anpr)
            self._plates[camera.id] = plates
            self._set(camera.id, None, plates.state())
        else:
            self._plates.pop(camera.id, None)

    def _forget(self, camera_id: str, keep_rules: set[str] | tuple[()]) -> None:
        """Drop a camera's states (all of them, or the rules not in `keep_rules`)."""
        for key in list(self._states):
            if key[0] != camera_id:
                continue
            if keep_rules == () or (key[1] is not None and key[1] not in keep_rules):
                del self._states[key]
        if keep_rules == ():
            for folds in (self._tamper, self._onvif, self._plates):
                folds.pop(camera_id, None)

    # --------------------------------------------------------------------------------- figures

    def refresh(self) -> None:
        """Read every camera's figures and the server's load (from memory, no I/O)."""
        engine = self._engine
        if engine is None:
            return
        total_fps = target = online_fps = online_target = 0.0
        online = 0
        for camera_id, camera in self._cameras.items():
            try:
                status = engine.status(camera_id)
            except KeyError:
                continue
            current = self.get(camera_id, None, CameraState.KIND)
            if not isinstance(current, CameraState):
                continue
            figures = replace(
                current,
                analysed_fps=round(status.analysed_fps, 2),
                target_fps=camera.fps,
                inference_ms=round(status.inference_ms, 1),
                frames_analysed=status.frames_analysed,
                frames_inferred=status.frames_inferred,
                events=status.events,
                overloaded=bool(getattr(status, "overloaded", False)),
            )
            self._set(camera_id, None, figures)
            total_fps += figures.analysed_fps
            target += camera.fps
            if figures.online:
                online += 1
                online_fps += figures.analysed_fps
                online_target += camera.fps
        server = replace(
            self._server,
            cameras=len(self._cameras),
            cameras_online=online,
            analysed_fps=round(total_fps, 2),
            target_fps=round(target, 2),
        )
        self._server = self._with_load(server, engine, online_fps, online_target)
        self._set(None, None, self._server)

    def _with_load(
        self, server: ServerState, engine: Engine, online_fps: float, online_target: float
    ) -> ServerState:
        """Return the server state with its load: share, CPU, latencies, overloaded cameras."""
        backend = engine.inference_backend()
        latency = engine.latency()
        overloaded = tuple(
            sorted(
                camera_id
                for camera_id in self._cameras
                if isinstance(s := self.get(camera_id, None, CameraState.KIND), CameraState)
                and s.overloaded
            )
        )
        share = round(min(online_fps / online_target, 1.0), 3) if online_target > 0 else None
        return replace(
            server,
            inference=InferenceBackend(backend.state.value),
            inference_reason=backend.reason,
            inference_reason_key=backend.translation_key,
            cpu_percent=self._cpu_percent(),
            cpu_count=_cpu_count(),
            analysed_share=share,
            inference_p50_ms=latency.inference_p50_ms,
            inference_p95_ms=latency.inference_p95_ms,
            latency_p50_ms=latency.frame_p50_ms,
            latency_p95_ms=latency.frame_p95_ms,
            overloaded=bool(overloaded),
            overloaded_cameras=overloaded,
        )

    def set_paperwork(self, missing: Iterable[str]) -> None:
        """Say what paperwork the deployment context requires and the configuration lacks."""
        self._server = replace(self._server, paperwork_missing=tuple(missing))
        self._set(None, None, self._server)

    def set_model_error(self, message: str | None, translation_key: str | None) -> None:
        """Say why the detector cannot run (None when it can)."""
        self._server = replace(self._server, model_error=message, model_error_key=translation_key)
        self._set(None, None, self._server)

    def _cpu_percent(self) -> float | None:
        now = (time.monotonic(), time.process_time())
        mark, self._cpu_mark = self._cpu_mark, now
        if mark is None or now[0] <= mark[0]:
            return None
        return round(100.0 * (now[1] - mark[1]) / (now[0] - mark[0]), 1)

    # ---------------------------------------------------------------------------------- events

    def _on_event(self, event: VigilEvent) -> None:
        if isinstance(event, RuleStateEvent):
            if event.camera_id in self._cameras:
                self._set(event.camera_id, event.rule_id, event.state)
        elif isinstance(event, SourceStateEvent):
            self._on_stream(event)
        elif isinstance(event, ChannelEvent):
            self._on_channel(event)
        elif isinstance(event, RuleEvent):
            self._on_rule_event(event)

    def _on_stream(self, event: SourceStateEvent) -> None:
        current = self.get(event.camera_id, None, CameraState.KIND)
        if not isinstance(current, CameraState):
            return
        new = fold_stream(current, event)
        if new.failing and not current.failing:
            _LOGGER.info("Camera %s is unavailable: %s", event.camera_id, event.reason)
        elif current.failing and not new.failing:
            _LOGGER.info("Camera %s is back online", event.camera_id)
        self._set(event.camera_id, None, new)

    def _on_channel(self, event: ChannelEvent) -> None:
        fold = self._onvif.get(event.camera_id)
        if fold is None:
            return
        if fold.apply_channel(event):
            self._store_topics()
        self._set(event.camera_id, None, fold.state())

    def _on_rule_event(self, event: RuleEvent) -> None:
        camera = self._cameras.get(event.camera_id)
        if camera is None:
            return
        if event.rule_id == TAMPER_RULE_ID:
            self._on_tamper(event)
            return
        if event.rule_id == ANPR_RULE_ID:
            self._on_plate(event, camera.anpr)
            return
        if event.source == SOURCE_ONVIF:
            fold = self._onvif.get(event.camera_id)
            if fold is not None:
                if fold.apply(event):
                    self._store_topics()
                self._set(event.camera_id, None, fold.state())
            # The camera's own events name its rules and topics; their items are allow-listed.
            self._emit(_wire(event, _onvif_attrs(event.attrs)))
            return
        self._emit(_wire(event, _allowed(event.attrs, EVENT_ATTRIBUTES)))

    def _on_tamper(self, event: RuleEvent) -> None:
        fold = self._tamper.get(event.camera_id)
        result = fold.apply(event) if fold is not None else False
        if fold is None or result is False:
            return
        self._set(event.camera_id, None, fold.state())
        if isinstance(result, TamperTransition):
            attrs = _allowed(event.attrs, EVENT_ATTRIBUTES)
            attrs["condition"] = result.condition.value
            self._emit(replace(_wire(event, attrs), phase=WireEventPhase(result.phase.value)))

    def _shows_crops(self, spec: AnprSpec) -> bool:
        """Return whether a camera's matches may carry a crop reference to clients."""
        engine = self._engine
        context = engine.config.privacy.context if engine is not None else None
        return spec.crops and keeps_images(context, "anpr_watchlist")

    def _on_plate(self, event: RuleEvent, spec: AnprSpec) -> None:
        fold = self._plates.get(event.camera_id)
        show_crop = self._shows_crops(spec)
        keep_text = spec.privacy == "full"
        if fold is not None and fold.apply(event, keep_text=keep_text, show_crop=show_crop):
            self._set(event.camera_id, None, fold.state())
        keys = _PLATE_EVENTS.get(event.kind)
        if keys is None:
            return
        attrs = {key: event.attrs[key] for key in keys if key in event.attrs}
        if not keep_text:
            attrs.pop("plate", None)
        if not show_crop:
            attrs.pop("crop_id", None)
        self._emit(_wire(event, _allowed(attrs, None)))

    # ----------------------------------------------------------------------------- publishing

    def _set(self, camera_id: str | None, rule_id: str | None, state: StateValue) -> None:
        key = (camera_id, rule_id, state.KIND)
        current = self._states.get(key)
        if current is not None and current.state == state:
            return
        update = StateUpdate(camera_id=camera_id, rule_id=rule_id, state=state)
        self._states[key] = update
        self._notify(StatePush(update=update))

    def _emit(self, event: WireRuleEvent) -> None:
        self._notify(EventPush(event=event))

    def _notify(self, push: Push) -> None:
        for listener in list(self._listeners):
            try:
                listener(push)
            except Exception:
                _LOGGER.exception("A state listener failed")

    # ------------------------------------------------------------------------- stored topics

    def _read_topics(self) -> dict[str, list[str]]:
        path = self._topics_file
        if path is None or not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            _LOGGER.warning("Stored ONVIF topics unreadable (%s); they will be learned again", err)
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(camera): [str(t) for t in topics]
            for camera, topics in data.items()
            if isinstance(topics, list)
        }

    def _store_topics(self) -> None:
        """Keep every camera's topics, so its entities exist at the next start while offline."""
        self._stored |= {camera: sorted(fold.topics) for camera, fold in self._onvif.items()}
        stored = dict(self._stored)
        if self._topics_file is not None:
            asyncio.get_running_loop().run_in_executor(None, self._write_topics, stored)

    def _write_topics(self, stored: dict[str, list[str]]) -> None:
        path = self._topics_file
        assert path is not None
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(stored, sort_keys=True), encoding="utf-8")
            tmp.replace(path)
        except OSError as err:
            _LOGGER.warning("Could not store the ONVIF topics: %s", err)
            with contextlib.suppress(OSError):
                tmp.unlink()


def _allowed(attrs: Any, allowed: frozenset[str] | None) -> dict[str, JsonValue]:
    """Return the details a client may see (all of them when `allowed` is None), as JSON."""
    return {key: _plain(value) for key, value in attrs.items() if allowed is None or key in allowed}


def _onvif_attrs(attrs: Any) -> dict[str, JsonValue]:
    """Return a camera's own event details: allowed keys, allowed items in each item group."""
    kept = _allowed(attrs, _ONVIF_ATTRIBUTES)
    for group, names in _ONVIF_ITEMS.items():
        items = kept.get(group)
        if isinstance(items, dict):
            kept[group] = dict(allowed_items({k: str(v) for k, v in items.items()}, names))
    return kept


def _plain(value: Any) -> JsonValue:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # no JSON form
        return None
    return value  # type: ignore[no-any-return]


def _wire(event: RuleEvent, attrs: dict[str, JsonValue]) -> WireRuleEvent:
    """Return an engine event as the protocol's, with the details a client may see."""
    return WireRuleEvent(
        kind=event.kind,
        camera_id=event.camera_id,
        rule_id=event.rule_id,
        phase=WireEventPhase(event.phase.value),
        track_id=event.track_id,
        at_s=round(event.at_s, 3),
        wall_time=round(event.wall_time, 3),
        latency_ms=round(event.latency_s * 1000.0, 1),
        source=event.source,
        attrs=attrs,
    )


def _cpu_count() -> int | None:
    """Return the cores this process may run on (its affinity, not the machine's count)."""
    return os.process_cpu_count()


def _held_back(violation: Violation) -> HeldBack:
    detector = violation.detector
    return HeldBack(
        camera_id=detector.camera_id or "",
        rule_id=detector.rule_id,
        detector=detector.kind.value,
        reason=f"{detector.kind.value} in {violation.context.value} needs an acknowledgement",
        translation_key="held_back",
    )
