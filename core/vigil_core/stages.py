"""Seams for the optional stages around detection: frame analysers and track stages.

Each later stage family (camera health, plate reading) implements one of these protocols;
only `pipeline.py` knows where it sits in the order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .events.model import AttrValue, RuleEvent, SourceStateEvent
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


@runtime_checkable
class CoarsePictureSource(Protocol):
    """A frame analyser whose work leaves a coarse grey picture of the frame (motion reuses it)."""

    def coarse_of(self, frame: Frame) -> tuple[npt.NDArray[np.float32], int] | None:
        """Return the frame's coarse picture and its stride, or None if it did not see it."""
        ...


@runtime_checkable
class SourceStateListener(Protocol):
    """A frame analyser that also follows its camera's connection state (stream-loss checks)."""

    def on_source_state(self, event: SourceStateEvent) -> list[RuleEvent]:
        """Consume a state change of the source (on the source's thread); return its events."""
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


class TrackObserver(Protocol):
    """Watch the tracks the rules are given, step by step (e.g. the server's track memory)."""

    def observe(self, frame: Frame, tracks: tuple[Track, ...], *, fresh: bool) -> None:
        """Take one step's tracks (called on the analysis thread; never keep the pixels)."""
        ...


@dataclass(frozen=True, slots=True)
class TrackStep:
    """The tracks of a camera at one moment, as a provider outside the detector saw them."""

    pts_s: float
    tracks: tuple[Track, ...]


class TrackProvider(Protocol):
    """Give the tracks of a camera whose objects another system detects (e.g. Frigate).

    The pipeline then runs no detector and no tracker for that camera: each step goes to the
    rules as if the detector had run at that moment.
    """

    def steps(self, frame: Frame) -> list[TrackStep]:
        """Return the track states since the last call, oldest first; at least one."""
        ...
