"""Camera-side health reports and one merged binary state per condition.

Cameras raise some of these conditions themselves (ONVIF tamper, global scene change, too
blurry, too dark, too bright). They enter as the same `RuleEvent`s as Vigil's own checks, with
the camera's origin in `source`, and `TamperBoard` keeps each condition on while any source
reports it, so an entity shows one state whoever saw it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
import time
from types import MappingProxyType

from vigil_core.events.model import AttrValue, EventPhase, RuleEvent

from .conditions import RULE_ID, TamperCondition


class CameraReport(StrEnum):
    """A health condition as a camera reports it (ONVIF analytics topics)."""

    TAMPER = "tamper"
    SCENE_CHANGE = "scene_change"
    TOO_BLURRY = "too_blurry"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"


REPORT_CONDITIONS: Mapping[CameraReport, TamperCondition] = MappingProxyType(
    {
        # A generic tamper alarm is, on the cameras that raise it, a covered or sprayed lens.
        CameraReport.TAMPER: TamperCondition.OBSTRUCTION,
        CameraReport.SCENE_CHANGE: TamperCondition.ORIENTATION,
        CameraReport.TOO_BLURRY: TamperCondition.DEFOCUS,
        CameraReport.TOO_DARK: TamperCondition.OBSTRUCTION,
        CameraReport.TOO_BRIGHT: TamperCondition.OBSTRUCTION,
    }
)
TAMPER_KINDS = frozenset(condition.value for condition in TamperCondition)


def camera_report_event(
    *,
    camera_id: str,
    report: CameraReport,
    active: bool,
    source: str,
    at_s: float,
    frame_index: int = 0,
    attrs: Mapping[str, AttrValue] | None = None,
) -> RuleEvent:
    """Build the event of a camera-side report starting (active) or ending."""
    condition = REPORT_CONDITIONS[report]
    return RuleEvent(
        kind=condition.value,
        camera_id=camera_id,
        rule_id=RULE_ID,
        track_id=None,
        phase=EventPhase.STARTED if active else EventPhase.ENDED,
        at_s=at_s,
        frame_index=frame_index,
        wall_time=time.time(),
        source=source,
        attrs={
            "condition": condition.value,
            "source": source,
            "report": report.value,
            "score": 1.0 if active else 0.0,
            **(attrs or {}),
        },
    )


@dataclass(frozen=True, slots=True)
class ConditionState:
    """One condition of one camera, merged over every source reporting it."""

    condition: TamperCondition
    active: bool
    sources: Mapping[str, float] = field(default_factory=dict)
    """Each source currently reporting the condition, with its score."""

    @property
    def score(self) -> float:
        """Return the highest score among the reporting sources (0 when inactive)."""
        return max(self.sources.values(), default=0.0)

    def attributes(self) -> dict[str, AttrValue]:
        """Return entity attributes: the reporting sources and the score."""
        return {"source": sorted(self.sources), "score": round(self.score, 3)}


class TamperBoard:
    """Keep each condition of one camera on while Vigil or the camera reports it."""

    def __init__(self, conditions: Iterable[TamperCondition] = tuple(TamperCondition)) -> None:
        """Start with every condition off."""
        self._active: dict[TamperCondition, dict[tuple[str, str], float]] = {
            condition: {} for condition in conditions
        }

    def apply(self, event: RuleEvent) -> ConditionState | None:
        """Fold a health event in; return the condition's new state (None if not tracked)."""
        try:
            condition = TamperCondition(event.kind)
        except ValueError:
            return None
        reporters = self._active.get(condition)
        if reporters is None:
            return None
        # A camera may raise two reports that mean one condition (too dark and tamper).
        key = (event.source, str(event.attrs.get("report", "")))
        if event.phase is EventPhase.ENDED:
            reporters.pop(key, None)
        elif event.phase in (EventPhase.STARTED, EventPhase.UPDATED):
            score = event.attrs.get("score", 1.0)
            reporters[key] = float(score) if isinstance(score, int | float) else 1.0
        return self.state(condition)

    def state(self, condition: TamperCondition) -> ConditionState:
        """Return a condition's merged state."""
        sources: dict[str, float] = {}
        for (source, _report), score in self._active.get(condition, {}).items():
            sources[source] = max(score, sources.get(source, 0.0))
        return ConditionState(condition, bool(sources), MappingProxyType(sources))
