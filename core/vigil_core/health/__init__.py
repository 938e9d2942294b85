"""Camera health: obstruction, defocus, orientation change and stream loss, with no object model.

Each condition is one binary state per camera, reported as `RuleEvent`s (kind = the condition,
rule id ``tamper``, STARTED / ENDED with the score and a `source` attribute).
"""

from __future__ import annotations

from vigil_core.config import CameraSpec
from vigil_core.stages import FrameAnalyzer

from .conditions import RULE_ID, StreamLossReason, TamperCondition, Thresholds
from .reports import (
    REPORT_CONDITIONS,
    TAMPER_KINDS,
    CameraReport,
    ConditionState,
    TamperBoard,
    camera_report_event,
)
from .tamper import TamperAnalyzer


def build_analyzers(camera: CameraSpec) -> list[FrameAnalyzer]:
    """Return the frame analysers a camera's configuration asks for."""
    if not camera.tamper.enabled:
        return []
    return [TamperAnalyzer(camera.id, camera.tamper, fps=camera.fps)]


__all__ = [
    "REPORT_CONDITIONS",
    "RULE_ID",
    "TAMPER_KINDS",
    "CameraReport",
    "ConditionState",
    "StreamLossReason",
    "TamperAnalyzer",
    "TamperBoard",
    "TamperCondition",
    "Thresholds",
    "build_analyzers",
    "camera_report_event",
]
