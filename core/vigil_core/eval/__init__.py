"""Offline evaluation of tracking against labelled ground truth."""

from .ground_truth import read_mot_csv
from .mot import FrameBoxes, MotMetrics, evaluate_mot

__all__ = ["FrameBoxes", "MotMetrics", "evaluate_mot", "read_mot_csv"]
