"""A dual background model at low resolution that finds static changes of the scene.

Two running averages of a small grey image (about 160 cells across) are kept: a long-term
background that learns slowly and only where nothing is in front of it, and a short-term one
that follows the scene within a couple of seconds. A cell that differs from the long-term
background but agrees with the short-term one holds something that changed and then stopped
changing: an object put down, or one taken away. Each cell accumulates how long it has been
such a static change; passers-by and swaying leaves break the run at once, because they keep
changing. Cells under tracked objects (people, vehicles) are frozen: neither counted nor
learnt, so a person standing still is never a "static change" and a walker passing in front
of a left bag does not restart its clock.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil_core.types import RGBImage

type FloatMap = npt.NDArray[np.float32]
type BoolMap = npt.NDArray[np.bool_]

CELLS_WIDE = 160
LONG_TAU_S = 30.0
"""Time constant of the long-term background where the scene shows background."""
SHORT_TAU_S = 1.0
"""Time constant of the short-term background: a new object is part of it after ~3 s."""
SETTLE_S = 2.5
"""How long a cell takes to count as a static change once the scene stopped moving there."""
WARMUP_S = 4.0
"""Cells occupied by tracked objects during the first seconds are re-learnt once they clear."""
SCENE_CHANGE = 0.4
"""Fraction of the watched cells differing at once that means lighting or view changed."""


def downscale_luma(image: RGBImage, cells_wide: int = CELLS_WIDE) -> FloatMap:
    """Return a grey image of block means, about `cells_wide` cells across."""
    height, width = image.shape[:2]
    block = max(1, width // cells_wide)
    rows, cols = height // block, width // block
    view = image[: rows * block, : cols * block].astype(np.float32)
    luma = view[..., 0] * 0.299 + view[..., 1] * 0.587 + view[..., 2] * 0.114
    small: FloatMap = luma.reshape(rows, block, cols, block).mean(axis=(1, 3))
    return small


def box_cells(
    boxes: list[tuple[float, float, float, float]], shape: tuple[int, int], scale: float, pad: int
) -> BoolMap:
    """Return the cells covered by pixel boxes (x1, y1, x2, y2), grown by `pad` cells."""
    covered = np.zeros(shape, dtype=bool)
    rows, cols = shape
    for x1, y1, x2, y2 in boxes:
        c1 = max(0, math.floor(x1 / scale) - pad)
        r1 = max(0, math.floor(y1 / scale) - pad)
        c2 = min(cols, math.ceil(x2 / scale) + pad)
        r2 = min(rows, math.ceil(y2 / scale) + pad)
        covered[r1:r2, c1:c2] = True
    return covered


def _ndimage() -> Any:
    """Return scipy.ndimage, imported with the first object-left rule, not with the config.

    Every rule family is imported with the configuration (its spec is part of it); scipy takes
    about a second to import, which the command line and a server's start need not pay.
    """
    from scipy import ndimage  # type: ignore[import-untyped]  # noqa: PLC0415

    return ndimage


class StaticChangeModel:
    """Accumulate, per cell, how long the scene has shown a static change."""

    def __init__(self, threshold: float) -> None:
        """Cells differing from the background by more than `threshold` grey levels changed."""
        self.threshold = threshold
        self.long: FloatMap | None = None
        self.short: FloatMap | None = None
        self.static_s: FloatMap | None = None
        self.unknown: BoolMap | None = None
        """Cells whose long-term background was learnt while an object stood there."""
        self.scale = 1.0
        self.present: BoolMap | None = None
        self.covered: BoolMap | None = None
        """Cells differing from the background now, or hidden behind a tracked object."""
        self._start_s = 0.0
        self._last_s = 0.0
        self.current: FloatMap | None = None

    @property
    def shape(self) -> tuple[int, int] | None:
        """Return the grid shape, None before the first frame."""
        return None if self.long is None else (self.long.shape[0], self.long.shape[1])

    def reset(self, small: FloatMap, pts_s: float) -> None:
        """Start again from this image."""
        self.long = small.copy()
        self.short = small.copy()
        self.static_s = np.zeros_like(small)
        self.unknown = np.zeros(small.shape, dtype=bool)
        self._start_s = self._last_s = pts_s

    def update(
        self,
        image: RGBImage,
        pts_s: float,
        covered_px: list[tuple[float, float, float, float]],
        watched: BoolMap | None,
    ) -> bool:
        """Learn one frame; return False when the whole scene changed and the model restarted."""
        small = downscale_luma(image)
        self.scale = image.shape[1] / small.shape[1]
        self.current = small
        if self.long is None or self.long.shape != small.shape or pts_s < self._last_s:
            self.reset(small, pts_s)
            return True
        assert self.short is not None and self.static_s is not None and self.unknown is not None
        dt = pts_s - self._last_s
        self._last_s = pts_s
        covered = box_cells(covered_px, (small.shape[0], small.shape[1]), self.scale, pad=1)
        area = watched if watched is not None else np.ones(small.shape, dtype=bool)
        # A global brightness step (clouds, auto-exposure) moves every cell alike: remove it.
        offset = (
            float(np.median((small - self.long)[area & ~covered]))
            if (area & ~covered).any()
            else 0.0
        )
        diff_long = np.abs(small - offset - self.long)
        changed = diff_long > self.threshold
        free = area & ~covered
        if free.any() and float(np.mean(changed[free])) > SCENE_CHANGE:
            self.reset(small, pts_s)
            return False
        alpha_short = 1.0 - math.exp(-dt / SHORT_TAU_S)
        stable = np.abs(small - self.short) < 0.6 * self.threshold
        # Frozen under tracked objects too: a walker must not smear into what lies behind.
        self.short[~covered] += alpha_short * (small[~covered] - self.short[~covered])
        if pts_s - self._start_s <= WARMUP_S:
            self.unknown |= covered
        self._relearn(small, offset, stable, covered)
        alpha_long = 1.0 - math.exp(-dt / LONG_TAU_S)
        learn = ~changed & ~covered
        self.long[learn] += alpha_long * (small[learn] - offset - self.long[learn])
        self.long += offset * alpha_long
        self.present = changed | covered
        self.covered = covered
        static = changed & stable & ~covered & area & ~self.unknown
        counting = ~covered
        self.static_s[static] += dt
        decay = counting & ~static
        self.static_s[decay] = np.maximum(0.0, self.static_s[decay] - 3.0 * dt)
        return True

    def _relearn(self, small: FloatMap, offset: float, stable: BoolMap, covered: BoolMap) -> None:
        """Adopt the scene as background where it was unknown and is now clear and steady."""
        assert self.long is not None and self.unknown is not None and self.static_s is not None
        clear = self.unknown & stable & ~covered
        if clear.any():
            self.long[clear] = small[clear] - offset
            self.static_s[clear] = 0.0
            self.unknown &= ~clear

    def absorb(self, cells: BoolMap) -> None:
        """Make the current scene the background on these cells (a change that is not news)."""
        if self.long is None or self.current is None or self.static_s is None:
            return
        self.long[cells] = self.current[cells]
        self.static_s[cells] = 0.0

    def static_cells(self, min_static_s: float) -> BoolMap:
        """Return the cells that have shown a static change for at least `min_static_s`."""
        if self.static_s is None or self.present is None:
            return np.zeros((0, 0), dtype=bool)
        cells: BoolMap = (self.static_s >= max(0.5, min_static_s - SETTLE_S)) & self.present
        return cells

    def blobs(self, min_static_s: float) -> list[tuple[BoolMap, tuple[int, int, int, int]]]:
        """Return connected static regions as (mask, (r1, c1, r2, c2) exclusive ends)."""
        ndimage = _ndimage()
        cells = self.static_cells(min_static_s)
        if not cells.any():
            return []
        labels, count = ndimage.label(cells, structure=np.ones((3, 3), dtype=bool))
        out = []
        for index, window in enumerate(ndimage.find_objects(labels), start=1):
            if window is None:
                continue
            mask = labels == index
            rows, cols = window
            out.append((mask, (rows.start, cols.start, rows.stop, cols.stop)))
        del count
        return out

    def changed_extent(self, mask: BoolMap) -> tuple[int, int, int, int] | None:
        """Return the (r1, c1, r2, c2) extent of the whole change a static region is part of.

        A large object that stopped (a lorry, a train) becomes static in pieces, where its
        surface is plain enough to stay still; the cells that differ from the background around
        them (a cell apart at most) show how large it really is.
        """
        ndimage = _ndimage()
        if self.present is None or self.covered is None:
            return None
        changed = (self.present & ~self.covered) | mask
        grown = ndimage.binary_dilation(changed, iterations=1) & (changed | ~self.covered)
        labels, _ = ndimage.label(grown, structure=np.ones((3, 3), dtype=bool))
        ids = np.unique(labels[mask])
        ids = ids[ids > 0]
        if ids.size == 0:
            return None
        rows, cols = np.nonzero(np.isin(labels, ids))
        return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1

    def contrast(self, mask: BoolMap) -> tuple[float, float] | None:
        """Return how much the region stands out from its surroundings now and in the background.

        A left object stands out now and not in the background; a removed one the reverse.
        None while tracked objects hide most of the region or its surroundings: a walker in
        front of it or beside it says nothing about it.
        """
        ndimage = _ndimage()
        if self.current is None or self.long is None:
            return None
        ring = ndimage.binary_dilation(mask, iterations=2) & ~mask
        if self.covered is not None:
            visible = mask & ~self.covered
            ring &= ~self.covered
            if visible.sum() < 0.5 * mask.sum():
                return None
            mask = visible
        if ring.sum() < 4:
            return None
        now = abs(float(self.current[mask].mean()) - float(np.median(self.current[ring])))
        before = abs(float(self.long[mask].mean()) - float(np.median(self.long[ring])))
        now += float(self.current[mask].std())
        before += float(self.long[mask].std())
        return now, before
