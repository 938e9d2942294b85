"""Directed lines in relative coordinates: which side a point is on and whether a path crosses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
import math

from vigil_core.errors import InvalidShape
from vigil_protocol.shapes import ShapeError, check_line

type Point = tuple[float, float]


class Side(StrEnum):
    """The two sides of a directed line A→B as seen on the image."""

    LEFT = "left"
    """On your left when you look along the line from its first point to its second."""
    RIGHT = "right"


class Direction(StrEnum):
    """Which way a crossing went: from the left side to the right side, or back."""

    A_TO_B = "a_to_b"
    """From side A (left of the line) to side B (right of it)."""
    B_TO_A = "b_to_a"


def validate_line(points: Sequence[Sequence[float]]) -> None:
    """Raise InvalidShape unless there are 2 points in 0–1, at least 1 % of the frame apart."""
    try:
        check_line(points)
    except ShapeError as err:
        raise InvalidShape.of(err) from None


@dataclass(frozen=True, slots=True)
class PixelLine:
    """A directed segment in pixels of one frame size."""

    ax: float
    ay: float
    bx: float
    by: float

    @property
    def length(self) -> float:
        """Return the length in pixels."""
        return math.hypot(self.bx - self.ax, self.by - self.ay)

    def signed_distance(self, x: float, y: float) -> float:
        """Return the distance to the infinite line: negative on side A (left), positive on B."""
        dx, dy = self.bx - self.ax, self.by - self.ay
        # Image y points down, so the cross product is negative on the viewer's left of A→B.
        return (dx * (y - self.ay) - dy * (x - self.ax)) / self.length

    def along(self, x: float, y: float) -> float:
        """Return where the point projects on the segment: 0 at A, 1 at B."""
        dx, dy = self.bx - self.ax, self.by - self.ay
        return ((x - self.ax) * dx + (y - self.ay) * dy) / (dx * dx + dy * dy)

    def crossing_along(self, p0: Point, p1: Point) -> float | None:
        """Return where the path p0→p1 meets the line (0 at A, 1 at B); None when parallel."""
        d0 = self.signed_distance(*p0)
        d1 = self.signed_distance(*p1)
        if d0 == d1:
            return None
        t = d0 / (d0 - d1)
        x = p0[0] + t * (p1[0] - p0[0])
        y = p0[1] + t * (p1[1] - p0[1])
        return self.along(x, y)


class DirectedLine:
    """A validated line A→B in relative coordinates, converted to pixels per frame size."""

    __slots__ = ("_cache", "points")

    def __init__(self, points: Sequence[Sequence[float]]) -> None:
        """Validate and store the two relative points."""
        validate_line(points)
        (ax, ay), (bx, by) = points
        self.points: tuple[Point, Point] = ((float(ax), float(ay)), (float(bx), float(by)))
        self._cache: dict[tuple[int, int], PixelLine] = {}

    def in_pixels(self, width: int, height: int) -> PixelLine:
        """Return the segment in pixels of a width×height frame."""
        line = self._cache.get((width, height))
        if line is None:
            (ax, ay), (bx, by) = self.points
            line = PixelLine(ax * width, ay * height, bx * width, by * height)
            self._cache[(width, height)] = line
        return line
