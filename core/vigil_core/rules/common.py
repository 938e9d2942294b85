"""Small helpers shared by the rule families: anchors, class filters, event positions."""

from __future__ import annotations

from collections.abc import Iterable

from vigil_core.types import Frame, Track

type Anchor = str
"""``bottom_center`` (where the object touches the ground) or ``center``."""


def anchor_point(track: Track, anchor: Anchor) -> tuple[float, float]:
    """Return the point of a track's box a rule tests, in pixels."""
    return track.bbox.bottom_center if anchor == "bottom_center" else track.bbox.center


class ClassFilter:
    """Which labels a rule watches; an empty list watches every label."""

    __slots__ = ("_labels",)

    def __init__(self, labels: Iterable[str]) -> None:
        """Keep the labels."""
        self._labels = frozenset(labels)

    def __call__(self, track: Track) -> bool:
        """Return whether the rule watches this track's class."""
        return not self._labels or track.label in self._labels


def relative(frame: Frame, x: float, y: float) -> tuple[float, float]:
    """Return a pixel point as relative (0–1) coordinates rounded for events."""
    return (round(x / frame.width, 4), round(y / frame.height, 4))
