"""Check the shapes drawn on a camera's picture: polygons and directed lines in 0–1 coordinates.

The server's configuration and the client's forms apply these same checks, so a shape a form
accepts is a shape the server accepts. Each problem has a translation key.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
import math

type Point = tuple[float, float]

MIN_LINE_LENGTH = 0.01
"""Shortest line accepted, as a fraction of the frame (shorter lines are drawing mistakes)."""


class ShapeProblem(StrEnum):
    """What is wrong with a shape; the value is the problem's translation key."""

    TOO_FEW_POINTS = "polygon_too_few_points"
    OUTSIDE_FRAME = "polygon_outside_frame"
    SELF_INTERSECTING = "polygon_self_intersecting"
    NO_AREA = "polygon_no_area"
    LINE_POINTS = "line_two_points"
    LINE_TOO_SHORT = "line_too_short"


class ShapeError(ValueError):
    """A shape cannot be used; `problem` says why, `message` in English."""

    def __init__(self, problem: ShapeProblem, message: str) -> None:
        """Keep the problem and its one-line message."""
        super().__init__(message)
        self.problem = problem
        self.message = message


def check_polygon(points: Sequence[Sequence[float]]) -> None:
    """Raise ShapeError unless there are ≥ 3 points in 0–1, no crossing edges and some area."""
    if len(points) < 3:
        raise ShapeError(
            ShapeProblem.TOO_FEW_POINTS, f"polygon needs at least 3 points, got {len(points)}"
        )
    _check_inside(points)
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if segments_cross(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n]):
                raise ShapeError(ShapeProblem.SELF_INTERSECTING, "polygon edges cross each other")
    if abs(signed_area(points)) < 1e-6:
        raise ShapeError(ShapeProblem.NO_AREA, "polygon has no area: its points are on one line")


def check_line(points: Sequence[Sequence[float]]) -> None:
    """Raise ShapeError unless there are 2 points in 0–1, at least 1 % of the frame apart."""
    if len(points) != 2:
        raise ShapeError(
            ShapeProblem.LINE_POINTS, f"a line needs exactly 2 points, got {len(points)}"
        )
    _check_inside(points)
    (x1, y1), (x2, y2) = points
    if math.hypot(x2 - x1, y2 - y1) < MIN_LINE_LENGTH:
        raise ShapeError(
            ShapeProblem.LINE_TOO_SHORT,
            "line has (almost) zero length: its two points are the same",
        )


def _check_inside(points: Sequence[Sequence[float]]) -> None:
    for point in points:
        if len(point) != 2:
            raise ShapeError(ShapeProblem.OUTSIDE_FRAME, f"a point needs x and y, got {point!r}")
        x, y = point
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ShapeError(
                ShapeProblem.OUTSIDE_FRAME,
                f"point ({x}, {y}) is outside the frame: coordinates are relative, 0 to 1",
            )


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


def segments_cross(
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
