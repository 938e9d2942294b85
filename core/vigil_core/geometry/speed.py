"""Estimate an object's speed from its recent ground-contact points.

The speed is the Theil–Sen slope (the median of the slopes between every pair of points)
through the last `window_s` seconds of bottom-centre points: box edges jitter, and a box
that suddenly grows when an occlusion clears makes the feet jump; the median of pair slopes
ignores such a jump where a least-squares fit or a difference of two frames would not.
Speeds are estimates, in pixels per second on the image and, with a ground calibration, in
km/h on the ground.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .calibration import Homography

MS_TO_KMH = 3.6


@dataclass(frozen=True, slots=True)
class SpeedEstimate:
    """A speed over a recent window."""

    px_s: float
    """Image speed of the ground-contact point, pixels per second."""
    kmh: float | None
    """Ground speed in km/h, or None without a ground calibration."""
    heading: tuple[float, float]
    """Unit vector of the image motion (x, y; y points down), (0, 0) when still."""
    span_s: float
    """Seconds the estimate covers."""


def _slope(t: npt.NDArray[np.float64], v: npt.NDArray[np.float64]) -> float:
    """Return the Theil–Sen slope of v over t."""
    i, j = np.triu_indices(len(t), k=1)
    dt = t[j] - t[i]
    ok = dt > 1e-6
    if not ok.any():
        return 0.0
    return float(np.median((v[j] - v[i])[ok] / dt[ok]))


def estimate_speed(
    history: Sequence[tuple[float, float, float]],
    size: tuple[int, int],
    *,
    window_s: float = 1.5,
    min_span_s: float = 0.5,
    calibration: Homography | None = None,
) -> SpeedEstimate | None:
    """Return the speed over the last `window_s` of (pts_s, x_px, y_px) points (None: too short)."""
    if len(history) < 3:
        return None
    end = history[-1][0]
    recent = [p for p in history if end - p[0] <= window_s + 1e-6]
    if len(recent) < 3:
        return None
    arr = np.asarray(recent, dtype=np.float64)
    t = arr[:, 0]
    span = float(t[-1] - t[0])
    if span < min_span_s:
        return None
    vx, vy = _slope(t, arr[:, 1]), _slope(t, arr[:, 2])
    px_s = float(np.hypot(vx, vy))
    heading = (vx / px_s, vy / px_s) if px_s > 0 else (0.0, 0.0)
    kmh = None
    if calibration is not None:
        width, height = size
        rel = np.c_[arr[:, 1] / width, arr[:, 2] / height]
        ground = calibration.to_ground_many(rel)
        gx, gy = _slope(t, ground[:, 0]), _slope(t, ground[:, 1])
        kmh = float(np.hypot(gx, gy)) * MS_TO_KMH
    return SpeedEstimate(px_s=px_s, kmh=kmh, heading=heading, span_s=span)
