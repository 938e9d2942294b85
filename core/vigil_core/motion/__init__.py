"""Cheap motion gating: decide whether a frame is worth running the detector on."""

from .gate import MotionGate

__all__ = ["MotionGate"]
