"""Typed values that flow one way through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

type RGBImage = npt.NDArray[np.uint8]
"""An H×W×3 uint8 image in RGB order."""

type GrayImage = npt.NDArray[np.uint8]
"""An H×W uint8 single-channel image."""


@dataclass(frozen=True, slots=True)
class BBox:
    """An axis-aligned box in pixels of the frame it was found on (x1, y1 inclusive corner)."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        """Return the box width in pixels."""
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        """Return the box height in pixels."""
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        """Return the box area in square pixels."""
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        """Return the centre point."""
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    @property
    def bottom_center(self) -> tuple[float, float]:
        """Return the middle of the bottom edge: where a standing object touches the ground."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    def scaled(self, sx: float, sy: float) -> BBox:
        """Return this box with x scaled by sx and y by sy."""
        return BBox(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)

    def intersection(self, other: BBox) -> float:
        """Return the area the two boxes have in common, in square pixels."""
        iw = min(self.x2, other.x2) - max(self.x1, other.x1)
        ih = min(self.y2, other.y2) - max(self.y1, other.y1)
        return iw * ih if iw > 0 and ih > 0 else 0.0

    def iou(self, other: BBox) -> float:
        """Return the intersection over union with another box."""
        inter = self.intersection(other)
        return inter / (self.area + other.area - inter) if inter else 0.0

    def overlap(self, other: BBox) -> float:
        """Return the share of the smaller box's area that the two boxes have in common."""
        inter = self.intersection(other)
        return inter / max(1e-9, min(self.area, other.area)) if inter else 0.0

    def contains(self, point: tuple[float, float]) -> bool:
        """Return whether a point lies inside the box or on its edge."""
        return self.x1 <= point[0] <= self.x2 and self.y1 <= point[1] <= self.y2


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame, already resized to the camera's analysis size."""

    camera_id: str
    index: int
    """Index of this frame among all frames the source decoded (0-based)."""
    pts_s: float
    """Presentation time in seconds from the stream's own timestamps."""
    received_at: float
    """`time.monotonic()` when the decoder produced the frame; the start of event latency."""
    image: RGBImage
    source_size: tuple[int, int]
    """Native (width, height) of the stream before resizing."""

    @property
    def width(self) -> int:
        """Return the analysis width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Return the analysis height in pixels."""
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found by a detector on one frame."""

    bbox: BBox
    score: float
    class_id: int
    label: str


class TrackState(StrEnum):
    """Lifecycle of a track."""

    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Track:
    """A tracked object as seen on the current frame.

    Only class, position, speed and dwell describe it: never any attribute of a person.
    """

    track_id: int
    bbox: BBox
    label: str
    score: float
    state: TrackState
    velocity: tuple[float, float]
    """Estimated motion in pixels per second (x, y)."""
    first_seen_s: float
    last_seen_s: float
    hits: int
    """Frames on which a detection was matched to this track."""
    matched: bool = True
    """False when the box is a prediction because the object was not detected on this frame."""
    history: tuple[tuple[float, float, float], ...] = field(default=())
    """Recent (pts_s, x, y) bottom-centre points, oldest first."""

    @property
    def age_s(self) -> float:
        """Return how long the track has existed, in stream seconds."""
        return self.last_seen_s - self.first_seen_s
