"""The camera-health conditions, their event kinds and their thresholds per sensitivity."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

type Sensitivity = Literal["low", "medium", "high"]

RULE_ID = "tamper"
"""The rule id every camera-health event carries (one set of conditions per camera)."""
SOURCE_VIGIL = "vigil"
"""The `source` of conditions Vigil measured itself (camera-side reports name their own)."""


class TamperCondition(StrEnum):
    """One binary camera-health state per camera; the value is also the event kind."""

    OBSTRUCTION = "obstruction"
    DEFOCUS = "defocus"
    ORIENTATION = "orientation_change"
    STREAM_LOSS = "stream_loss"


VIEW_CONDITIONS = (
    TamperCondition.OBSTRUCTION,
    TamperCondition.DEFOCUS,
    TamperCondition.ORIENTATION,
)
"""The conditions measured on the picture against the learned baseline."""


class StreamLossReason(StrEnum):
    """Why a stream counts as lost; carried in the `reason` attribute."""

    NO_FRAMES = "no_frames"
    """The source is stalled or offline."""
    FROZEN = "frozen"
    """Frames keep arriving but are identical."""
    LOW_FPS = "low_fps"
    """The stream's frame rate collapsed below half of what analysis expects."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Score levels (0-1) at which a view condition starts (`on`) and may end (`off`)."""

    obstruction_on: float
    defocus_on: float
    orientation_on: float
    release: float = 0.15
    """A condition ends only once its score drops this far below its start level."""

    def on(self, condition: TamperCondition) -> float:
        """Return the start level of a view condition."""
        return {
            TamperCondition.OBSTRUCTION: self.obstruction_on,
            TamperCondition.DEFOCUS: self.defocus_on,
            TamperCondition.ORIENTATION: self.orientation_on,
        }.get(condition, 0.5)

    def off(self, condition: TamperCondition) -> float:
        """Return the level a view condition's score must fall under before it ends."""
        return self.on(condition) - self.release

    @classmethod
    def for_sensitivity(cls, sensitivity: Sensitivity) -> Thresholds:
        """Return the thresholds of a sensitivity preset.

        Medium was set on the shared footage (docs/tamper.md): the tamper clips score 0.7-0.9
        and camera moves 0.8-1.0, while every normal clip, its brightness ramps and its grey
        infrared version stay under 0.36 for obstruction, 0.07 for defocus and 0.36 for
        orientation (0.6 with the sky burned out and a hand waving in front of the lens).
        """
        if sensitivity == "high":
            return cls(obstruction_on=0.4, defocus_on=0.4, orientation_on=0.5)
        if sensitivity == "low":
            return cls(obstruction_on=0.65, defocus_on=0.65, orientation_on=0.8)
        return cls(obstruction_on=0.5, defocus_on=0.5, orientation_on=0.65)
