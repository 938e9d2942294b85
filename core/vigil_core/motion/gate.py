"""A downscaled frame-difference gate that skips inference on static frames.

It never decides events: it only tells the pipeline whether the detector needs to look.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vigil_core.config import MotionSpec
from vigil_core.types import RGBImage

_CELLS_WIDE = 80

type Floats = npt.NDArray[np.float32]
type Coarse = tuple[Floats, int]
"""A coarse grey picture of the frame and its stride s: pixel (i, j) is the mean green of frame
pixels (2s·i + {0, s}, 2s·j + {0, s}) (the camera-health checks make one per frame)."""


def _geometry(width: int, cells_wide: int) -> tuple[int, int]:
    """Return the block side and the sampling step of the downscaled picture."""
    block = max(1, width // cells_wide)
    # Sample every other pixel inside each block: a quarter of the memory traffic, same mean.
    step = 2 if block >= 4 else 1
    return block - block % step, step


def downscale_gray(
    image: RGBImage, cells_wide: int = _CELLS_WIDE, coarse: Coarse | None = None
) -> Floats:
    """Return a small grey image made of block means, about `cells_wide` cells across.

    Given the frame's coarse picture (see `Coarse`) whose samples are these blocks' own, the
    block means are taken from it: the same values (every sum here is of whole numbers or
    quarters, exact in float32), for a sixteenth of the pixels read.
    """
    height, width = image.shape[:2]
    block, step = _geometry(width, cells_wide)
    rows, cols = height // block, width // block
    if coarse is not None:
        shared = _from_coarse(coarse, block, step, rows, cols)
        if shared is not None:
            return shared
    view = image[: rows * block : step, : cols * block : step, 1]  # green ≈ luma, saves a sum
    sub = block // step
    blocks = view.reshape(rows, sub, cols, sub).astype(np.float32)
    means: npt.NDArray[np.float32] = blocks.mean(axis=(1, 3), dtype=np.float32)
    return means


def _from_coarse(coarse: Coarse, block: int, step: int, rows: int, cols: int) -> Floats | None:
    """Return the block means from a coarse picture, or None when its samples differ."""
    picture, stride = coarse
    if stride != step or block % (2 * stride):
        return None
    k = block // (2 * stride)
    if picture.shape[0] < rows * k or picture.shape[1] < cols * k:
        return None
    cells = picture[: rows * k, : cols * k].reshape(rows, k, cols, k)
    means: Floats = cells.mean(axis=(1, 3), dtype=np.float32)
    return means


class MotionGate:
    """Say whether something moved since the last frame the detector looked at."""

    def __init__(self, spec: MotionSpec) -> None:
        """Keep the spec; the first frame always passes."""
        self._spec = spec
        self._reference: npt.NDArray[np.float32] | None = None
        self._last_pass_s: float | None = None
        self.last_score = 0.0

    def reset(self) -> None:
        """Forget the reference frame, so the next frame passes."""
        self._reference = None
        self._last_pass_s = None

    def should_infer(self, image: RGBImage, pts_s: float, coarse: Coarse | None = None) -> bool:
        """Return True when the frame moved, the refresh period ran out, or gating is off.

        The reference only advances on frames that pass, so slow motion that adds up over
        several frames still opens the gate. `coarse` is the frame's coarse picture when the
        camera-health checks made one (see `downscale_gray`).
        """
        small = downscale_gray(image, coarse=coarse)
        if (
            not self._spec.enabled
            or self._reference is None
            or self._reference.shape != small.shape
        ):
            return self._accept(small, pts_s)
        diff = np.abs(small - self._reference)
        self.last_score = float(np.count_nonzero(diff > self._spec.threshold)) / diff.size
        due = self._last_pass_s is None or pts_s - self._last_pass_s >= self._spec.refresh_s
        if due or self.last_score >= self._spec.min_area or pts_s < (self._last_pass_s or 0.0):
            return self._accept(small, pts_s)
        return False

    def _accept(self, small: npt.NDArray[np.float32], pts_s: float) -> bool:
        self._reference = small
        self._last_pass_s = pts_s
        return True
