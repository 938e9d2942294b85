"""Fold the engine's events into the protocol's state values, one family at a time.

Each fold keeps the state of one camera for one family (its stream, its health conditions, its
ONVIF channel, its plate reading) and returns the new typed value when an event changed it.
All of them run on the server's event loop, where the engine's bus delivers events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
import time

from vigil_core.config import TamperSpec
from vigil_core.events.model import (
    ChannelEvent,
    EventPhase,
    RuleEvent,
    SourceState,
    SourceStateEvent,
)
from vigil_core.feeds.onvif_topics import HEALTH_KINDS, PARSERS, OnvifKind
from vigil_core.health import TamperBoard, Thresholds
from vigil_core.health.conditions import VIEW_CONDITIONS
from vigil_core.health.conditions import TamperCondition as CoreCondition
from vigil_protocol import (
    CameraState,
    ConditionState,
    OnvifChannel,
    OnvifState,
    OnvifTopic,
    PlateMatch,
    PlateState,
    StreamState,
    TamperCondition,
    TamperState,
)

MAX_START_LAG_S = 60.0
"""Longest delay between a condition's score crossing its level and its event (`start_s`)."""

_FAILED = frozenset({SourceState.OFFLINE, SourceState.STALLED, SourceState.ENDED})


def fold_stream(state: CameraState, event: SourceStateEvent) -> CameraState:
    """Return a camera's state after its stream changed state.

    `failing` is set when the stream fails and cleared only when frames flow again, so a
    camera retrying its connection stays failing, with the outage's first reason kept.
    """
    stream = StreamState(event.state.value)
    if event.state is SourceState.ONLINE:
        return replace(
            state,
            stream=stream,
            failing=False,
            reason="",
            translation_key=None,
            failing_since=None,
        )
    if event.state in _FAILED:
        return replace(
            state,
            stream=stream,
            failing=True,
            reason=event.reason,
            translation_key=event.translation_key,
            failing_since=state.failing_since if state.failing else event.wall_time,
        )
    return replace(state, stream=stream)


def enabled_conditions(spec: TamperSpec) -> tuple[CoreCondition, ...]:
    """Return the conditions a camera's tamper configuration checks."""
    if not spec.enabled:
        return ()
    enabled = {
        CoreCondition.OBSTRUCTION: spec.obstruction,
        CoreCondition.DEFOCUS: spec.defocus,
        CoreCondition.ORIENTATION: spec.orientation,
        CoreCondition.STREAM_LOSS: spec.stream_loss,
    }
    return tuple(condition for condition in CoreCondition if enabled[condition])


@dataclass(slots=True)
class _Condition:
    active: bool = False
    sources: tuple[str, ...] = ()
    score: float | None = None
    since: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TamperTransition:
    """A condition turned on (its first source raised it) or off (its last one cleared it)."""

    condition: CoreCondition
    phase: EventPhase
    event: RuleEvent


class TamperFold:
    """One camera's health conditions, each on while Vigil or the camera itself reports it."""

    def __init__(self, spec: TamperSpec) -> None:
        """Start with every condition the camera checks off."""
        self.conditions = enabled_conditions(spec)
        self._thresholds = Thresholds.for_sensitivity(spec.sensitivity)
        self._board = TamperBoard(self.conditions)
        self._status = {condition: _Condition() for condition in self.conditions}

    def state(self) -> TamperState:
        """Return the conditions as the protocol's value."""
        return TamperState(
            conditions=tuple(
                ConditionState(
                    condition=TamperCondition(condition.value),
                    active=status.active,
                    sources=status.sources,
                    score=status.score,
                    since=status.since,
                    reason=status.reason,
                    threshold=(
                        self._thresholds.on(condition) if condition in VIEW_CONDITIONS else None
                    ),
                )
                for condition, status in self._status.items()
            ),
            can_recapture=any(c in VIEW_CONDITIONS for c in self.conditions),
        )

    def apply(self, event: RuleEvent) -> TamperTransition | bool | None:
        """Fold a health event in.

        Return the transition when the merged condition turned on or off, True when only its
        details changed, False when the event concerns no condition this camera checks.
        """
        merged = self._board.apply(event)
        if merged is None:
            return False
        status = self._status[merged.condition]
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
        if merged.active == was_active:
            return True
        phase = EventPhase.STARTED if merged.active else EventPhase.ENDED
        return TamperTransition(merged.condition, phase, event)


def _started_at(event: RuleEvent) -> float:
    """Return when a condition began: Vigil raises it `start_s` after its score crossed."""
    since_s = event.attrs.get("since_s")
    lag_s = event.at_s - since_s if isinstance(since_s, int | float) else 0.0
    return event.wall_time - min(max(lag_s, 0.0), MAX_START_LAG_S)


def topic_entities(topics: set[str]) -> set[tuple[str, str | None]]:
    """Return the (kind, topic) entities topics call for; health kinds feed the tamper state."""
    wanted: set[tuple[str, str | None]] = set()
    for topic in topics:
        for kind in PARSERS.kinds_of(topic):
            if kind == OnvifKind.GENERIC:
                wanted.add((kind, topic))
            elif kind not in HEALTH_KINDS:
                wanted.add((kind, None))
    return wanted


@dataclass(slots=True)
class OnvifFold:
    """One ONVIF camera's event channel, its topics and what its own rules say now."""

    topics: set[str] = field(default_factory=set)
    channel: OnvifChannel = OnvifChannel.CONNECTING
    reason: str = ""
    translation_key: str | None = None
    active: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per kind, the rule instances that are on (with when they turned on)."""
    counts: dict[str, int] = field(default_factory=dict)

    def state(self) -> OnvifState:
        """Return the channel as the protocol's value."""
        entities = sorted(topic_entities(self.topics), key=lambda e: (e[0], e[1] or ""))
        health = sorted(
            {kind for topic in self.topics for kind in PARSERS.kinds_of(topic)} & HEALTH_KINDS
        )
        return OnvifState(
            channel=self.channel,
            reason=self.reason,
            translation_key=self.translation_key,
            topics=tuple(
                OnvifTopic(
                    kind=kind,
                    topic=topic,
                    active=tuple(sorted(self.active.get(kind, {}))) if topic is None else (),
                )
                for kind, topic in entities
            ),
            counts=dict(self.counts),
            health_reports=tuple(health),
        )

    def apply_channel(self, event: ChannelEvent) -> bool:
        """Fold a channel status (and maybe topics) in; return whether the topics grew."""
        self.channel = OnvifChannel(event.state)
        self.reason = event.reason
        self.translation_key = event.translation_key
        if event.topics is None:
            return False
        return self.add_topics(event.topics)

    def add_topics(self, topics: tuple[str, ...] | list[str]) -> bool:
        """Remember topics; return whether any was new."""
        new = set(topics) - self.topics
        self.topics |= new
        return bool(new)

    def apply(self, event: RuleEvent) -> bool:
        """Fold one of the camera's own events in; return whether its topics grew."""
        attrs = event.attrs
        grew = False
        topic = attrs.get("topic")
        if isinstance(topic, str):
            grew = self.add_topics([topic])
        instance = str(attrs.get("instance", event.rule_id))
        if event.phase is EventPhase.STARTED:
            self.active.setdefault(event.kind, {})[instance] = event.wall_time
        elif event.phase is EventPhase.ENDED:
            self.active.get(event.kind, {}).pop(instance, None)
        elif event.kind == OnvifKind.COUNT and isinstance(count := attrs.get("count"), int):
            self.counts[str(attrs.get("rule", instance))] = count
        return grew


@dataclass(slots=True)
class PlateFold:
    """A plate-reading camera's passages today and its last watchlist match."""

    passages_today: int = 0
    last_match: PlateMatch | None = None
    crops: bool = False

    def state(self) -> PlateState:
        """Return the camera's plate state as the protocol's value."""
        return PlateState(
            passages_today=self.passages_today, last_match=self.last_match, crops=self.crops
        )

    def apply(self, event: RuleEvent, *, keep_text: bool, show_crop: bool) -> bool:
        """Fold a plate event in; return whether the state changed."""
        attrs = event.attrs
        if event.kind == "plate_passage":
            count = attrs.get("passages_today")
            if isinstance(count, int) and count != self.passages_today:
                self.passages_today = count
                return True
            return False
        if event.kind in ("watchlist_match_confirmed", "watchlist_match_rejected"):
            return self._reviewed(attrs)
        if event.kind != "watchlist_match":
            return False
        distance = attrs.get("distance")
        crop_id = attrs.get("crop_id")
        plate = attrs.get("plate")
        self.last_match = PlateMatch(
            entry_id=str(attrs.get("entry_id") or ""),
            label=str(attrs.get("label") or ""),
            reason=str(attrs.get("reason") or ""),
            wall_time=event.wall_time or time.time(),
            distance=float(distance) if isinstance(distance, int | float) else None,
            exact=attrs.get("exact") is True,
            direction=str(attrs["direction"]) if attrs.get("direction") else None,
            crop_id=str(crop_id) if crop_id and show_crop else None,
            plate=str(plate) if plate and keep_text else None,
            match_id=str(attrs["match_id"]) if attrs.get("match_id") else None,
        )
        return True

    def _reviewed(self, attrs: Mapping[str, object]) -> bool:
        """Take a review of the last match (an older match's review changes nothing here)."""
        last = self.last_match
        status = attrs.get("status")
        if last is None or last.match_id != attrs.get("match_id"):
            return False
        if status == "confirmed":
            self.last_match = replace(last, status="confirmed")
        elif status == "rejected":
            self.last_match = replace(last, status="rejected", crop_id=None)
        else:
            return False
        return True
