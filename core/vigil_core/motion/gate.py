"""A downscaled frame-difference gate that skips inference on static frames.

It never decides events: it only tells the pipeline whether the detector needs to look.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vigil_core.config import MotionSpec
from vigil_core.types import RGBImage

_CELLS_WIDE = 80


def downscale_gray(image: RGBImage, cells_wide: int = _CELLS_WIDE) -> npt.NDArray[np.float32]:
    """Return a small grey image made of block means, about `cells_wide` cells across."""
    height, width = image.shape[:2]
    block = max(1, width // cells_wide)
    # Sample every other pixel inside each block: a quarter of the memory traffic, same mean.
    step = 2 if block >= 4 else 1
    block -= block % step
    rows, cols = height // block, width // block
    view = image[: rows * block : step, : cols * block : step, 1]  # green ≈ luma, saves a sum
    sub = block // step
    blocks = view.reshape(rows, sub, cols, sub).astype(np.float32)
    means: npt.NDArray[np.float32] = blocks.mean(axis=(1, 3), dtype=np.float32)
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

    def should_infer(self, image: RGBImage, pts_s: float) -> bool:
        """Return True when the frame moved, the refresh period ran out, or gating is off.

        The reference only advances on frames that pass, so slow motion that adds up over
        several frames still opens the gate.
        """
        small = downscale_gray(image)
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
