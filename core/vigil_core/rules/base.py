"""The Rule seam: every rule family is one module implementing this protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import time
from typing import Protocol

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent
from vigil_core.types import Frame, Track
from vigil_protocol import StateValue


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule knows about the current analysed frame."""

    frame: Frame
    fresh: bool
    """True when the detector ran on this frame; False when tracks were carried over."""
    stage_events: tuple[RuleEvent, ...] = ()
    """Events the stages before the rules produced on this frame (e.g. plate reads)."""

    @property
    def camera_id(self) -> str:
        """Return the camera id."""
        return self.frame.camera_id

    @property
    def pts_s(self) -> float:
        """Return the stream time in seconds."""
        return self.frame.pts_s

    def event(
        self,
        *,
        kind: str,
        rule_id: str,
        phase: EventPhase,
        track_id: int | None = None,
        attrs: Mapping[str, AttrValue] | None = None,
    ) -> RuleEvent:
        """Build an event stamped with this frame's camera, time, index and latency."""
        return RuleEvent(
            kind=kind,
            camera_id=self.frame.camera_id,
            rule_id=rule_id,
            track_id=track_id,
            phase=phase,
            at_s=self.frame.pts_s,
            frame_index=self.frame.index,
            wall_time=time.time(),
            latency_s=max(0.0, time.monotonic() - self.frame.received_at),
            attrs=attrs or {},
        )


class Rule(Protocol):
    """A rule turns tracks on successive frames into events. It keeps its own state."""

    rule_id: str
    kind: str

    def update(self, ctx: RuleContext, tracks: Sequence[Track]) -> list[RuleEvent]:
        """Consume the tracks of one analysed frame; return the events it causes."""
        ...

    def finish(self, ctx: RuleContext) -> list[RuleEvent]:
        """Close whatever is open because the stream ended; return the closing events."""
        ...

    def state(self) -> StateValue:
        """Return the rule's current state: its family's typed value (`vigil_protocol`).

        Called on the camera's analysis thread after each frame (the pipeline publishes the
        value when it changed), so a rule never needs a lock for it.
        """
        ...
