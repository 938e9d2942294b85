"""Polygons in relative coordinates: validation and point-in-polygon tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vigil_core.errors import InvalidPolygon
from vigil_protocol.shapes import ShapeError, check_polygon

type Point = tuple[float, float]


def validate_polygon(points: Sequence[Sequence[float]]) -> None:
    """Raise InvalidPolygon unless there are ≥ 3 points in 0–1, no crossing edges and some area.

    The rules are the protocol's (`vigil_protocol.shapes`), which clients apply too; the error's
    translation key names the problem (``polygon_self_intersecting``…).
    """
    try:
        check_polygon(points)
    except ShapeError as err:
        raise InvalidPolygon.of(err) from None


class Polygon:
    """A validated polygon; tests points given in pixels of a frame of known size."""

    __slots__ = ("_xs", "_ys", "points")

    def __init__(self, points: Sequence[Sequence[float]]) -> None:
        """Validate and store relative points."""
        validate_polygon(points)
        self.points: tuple[Point, ...] = tuple((float(x), float(y)) for x, y in points)
        self._xs: npt.NDArray[np.float64] = np.array([p[0] for p in self.points])
        self._ys: npt.NDArray[np.float64] = np.array([p[1] for p in self.points])

    def contains_relative(self, x: float, y: float) -> bool:
        """Return whether a relative point lies inside (even-odd rule)."""
        xs, ys = self._xs, self._ys
        inside = False
        j = len(xs) - 1
        for i in range(len(xs)):
            if (ys[i] > y) != (ys[j] > y):
                x_cross = (xs[j] - xs[i]) * (y - ys[i]) / (ys[j] - ys[i]) + xs[i]
                if x < x_cross:
                    inside = not inside
            j = i
        return inside

    def contains(self, x: float, y: float, width: int, height: int) -> bool:
        """Return whether a pixel point of a width×height frame lies inside."""
        return self.contains_relative(x / width, y / height)

    def to_pixels(self, width: int, height: int) -> list[tuple[int, int]]:
        """Return the vertices in pixels of a width×height frame."""
        return [(round(x * width), round(y * height)) for x, y in self.points]
