"""Event values: what rules and sources report, frozen and typed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from vigil_protocol import StateValue

type AttrValue = str | int | float | bool | Sequence[AttrValue] | Mapping[str, AttrValue] | None


class EventPhase(StrEnum):
    """Where a happening is in its life: like uiprotect's EventChange."""

    STARTED = "started"
    UPDATED = "updated"
    ENDED = "ended"
    INSTANT = "instant"
    """A happening without duration, such as a line crossing."""


def _freeze(attrs: Mapping[str, AttrValue]) -> Mapping[str, AttrValue]:
    return MappingProxyType(dict(attrs))


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleEvent:
    """Something a rule (or a camera's own analytics) observed."""

    kind: str
    """Rule family, e.g. ``zone_presence``; also the translation key of the event."""
    camera_id: str
    rule_id: str
    track_id: int | None
    phase: EventPhase
    at_s: float
    """Stream time in seconds (from the stream's timestamps)."""
    frame_index: int
    wall_time: float
    """Unix time when the event was produced."""
    latency_s: float = 0.0
    """Seconds from the frame leaving the decoder to this event being produced."""
    source: str = "vigil"
    """Who observed it: ``vigil`` for Vigil's own analysis, or a camera-side origin."""
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Make the attributes read-only."""
        object.__setattr__(self, "attrs", _freeze(self.attrs))

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "type": "rule",
            "kind": self.kind,
            "camera_id": self.camera_id,
            "rule_id": self.rule_id,
            "track_id": self.track_id,
            "phase": self.phase.value,
            "at_s": round(self.at_s, 3),
            "frame_index": self.frame_index,
            "wall_time": round(self.wall_time, 3),
            "latency_ms": round(self.latency_s * 1000.0, 1),
            "source": self.source,
            "attrs": _plain(self.attrs),
        }


class SourceState(StrEnum):
    """Connection state of a camera's source."""

    CONNECTING = "connecting"
    ONLINE = "online"
    STALLED = "stalled"
    OFFLINE = "offline"
    ENDED = "ended"
    """A file source reached its end."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceStateEvent:
    """A camera's source changed state."""

    camera_id: str
    state: SourceState
    wall_time: float
    reason: str = ""
    """Short, redacted explanation (never a URL with credentials)."""
    translation_key: str | None = None
    retry_in_s: float | None = None
    attempt: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "type": "source_state",
            "camera_id": self.camera_id,
            "state": self.state.value,
            "wall_time": round(self.wall_time, 3),
            "reason": self.reason,
            "translation_key": self.translation_key,
            "retry_in_s": self.retry_in_s,
            "attempt": self.attempt,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleStateEvent:
    """A rule's state changed (published from the camera's analysis thread after a frame)."""

    camera_id: str
    rule_id: str
    state: StateValue


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent:
    """A camera-side event channel (ONVIF) changed state, or learned the camera's topics."""

    camera_id: str
    state: str
    """The channel's state (`feeds.onvif_events.EventChannelState` values)."""
    reason: str = ""
    translation_key: str | None = None
    topics: tuple[str, ...] | None = None
    """Topics the camera announced or sent, when this event is about them (else None)."""


type VigilEvent = RuleEvent | SourceStateEvent | RuleStateEvent | ChannelEvent


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
