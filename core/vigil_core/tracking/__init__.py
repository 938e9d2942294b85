"""Multi-object tracking: stable ids for detections across frames."""

from .tracker import ByteTracker

__all__ = ["ByteTracker"]
