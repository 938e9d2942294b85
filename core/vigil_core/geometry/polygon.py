"""Polygons in relative coordinates: validation and point-in-polygon tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vigil_core.errors import InvalidPolygon

type Point = tuple[float, float]


def validate_polygon(points: Sequence[Sequence[float]]) -> None:
    """Raise InvalidPolygon unless there are ≥ 3 distinct points in 0–1 and no edges cross."""
    if len(points) < 3:
        raise InvalidPolygon(
            f"polygon needs at least 3 points, got {len(points)}", {"count": str(len(points))}
        )
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise InvalidPolygon(
                f"point ({x}, {y}) is outside the frame: coordinates are relative, 0 to 1",
                {"point": f"({x}, {y})"},
            )
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if _segments_cross(edges[i][0], edges[i][1], edges[j][0], edges[j][1]):
                raise InvalidPolygon("polygon edges cross each other")
    if abs(signed_area(points)) < 1e-6:
        raise InvalidPolygon("polygon has no area: its points are on one line")


def signed_area(points: Sequence[Sequence[float]]) -> float:
    """Return the shoelace signed area."""
    total = 0.0
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        total += x1 * y2 - x2 * y1
    return total / 2.0


def _orient(a: Sequence[float], b: Sequence[float], c: Sequence[float]) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Sequence[float], b: Sequence[float], p: Sequence[float]) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_cross(
    p1: Sequence[float], p2: Sequence[float], q1: Sequence[float], q2: Sequence[float]
) -> bool:
    """Return whether two segments intersect (touching counts)."""
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 and d2 and d3 and d4:
        return True
    eps = 1e-12
    return (
        (abs(d1) < eps and _on_segment(q1, q2, p1))
        or (abs(d2) < eps and _on_segment(q1, q2, p2))
        or (abs(d3) < eps and _on_segment(p1, p2, q1))
        or (abs(d4) < eps and _on_segment(p1, p2, q2))
    )


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
