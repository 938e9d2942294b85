"""Offline evaluation of tracking against labelled ground truth."""

from vigil_tools.eval.ground_truth import read_mot_csv
from vigil_tools.eval.mot import FrameBoxes, MotMetrics, evaluate_mot

__all__ = ["FrameBoxes", "MotMetrics", "evaluate_mot", "read_mot_csv"]
