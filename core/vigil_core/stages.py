"""Seams for the optional stages around detection: frame analysers and track stages.

Each later stage family (camera health, plate reading) implements one of these protocols;
only `pipeline.py` knows where it sits in the order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from .events.model import AttrValue, RuleEvent
from .types import Frame, Track


class FrameAnalyzer(Protocol):
    """Look at every analysed frame's pixels, without any object model (e.g. tamper checks)."""

    name: str

    def update(self, frame: Frame) -> list[RuleEvent]:
        """Consume one frame; return the events it causes."""
        ...

    def state(self) -> Mapping[str, AttrValue]:
        """Return the current state for entities and diagnostics."""
        ...


class TrackStage(Protocol):
    """Add information to tracks after tracking and before rules (e.g. plate reading)."""

    name: str

    def process(self, frame: Frame, tracks: Sequence[Track], *, fresh: bool) -> list[RuleEvent]:
        """Consume the tracks of one frame; return the events it causes (e.g. plate reads)."""
        ...

    def finish(self) -> list[RuleEvent]:
        """Flush what is pending because the stream ended (e.g. a passage still being read)."""
        ...
