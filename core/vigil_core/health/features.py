"""Cheap per-cell statistics of one frame on a small fixed grid.

Every check works on a grey image about 320 pixels wide, taken by striding the analysis frame
(no resampling: strided pixels keep the fine detail that defocus removes), and on its 2×2 block
mean (about 160 wide) for structure. The view is split into GRID_COLS × GRID_ROWS cells, so the
thresholds mean the same at any resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np
import numpy.typing as npt

from vigil_core.types import RGBImage

GRID_COLS = 16
GRID_ROWS = 9
CELLS = GRID_COLS * GRID_ROWS
FINE_WIDTH = 320
"""Width of the strided grey image the fine-scale (sharpness) statistics use."""

type Floats = npt.NDArray[np.float32]
type Cells = npt.NDArray[np.float32]
"""One value per cell, shape (GRID_ROWS, GRID_COLS)."""
type CellMask = npt.NDArray[np.bool_]
type RelativeRect = tuple[float, float, float, float]
"""(x1, y1, x2, y2) in fractions of the frame's width and height."""


class Layout:
    """How analysis frames of one size map onto the fine image and the cell grid."""

    __slots__ = ("cell_h", "cell_w", "frame_size", "stride")

    def __init__(self, width: int, height: int) -> None:
        """Fit the grid to frames of width × height."""
        self.frame_size = (width, height)
        self.stride = max(1, round(width / FINE_WIDTH))
        fine_w, fine_h = -(-width // self.stride), -(-height // self.stride)
        # Even cell sides, so the coarse 2×2 blocks never straddle two cells.
        self.cell_w = max(2, fine_w // GRID_COLS // 2 * 2)
        self.cell_h = max(2, fine_h // GRID_ROWS // 2 * 2)

    @property
    def fine_size(self) -> tuple[int, int]:
        """Return the (width, height) of the cropped fine image."""
        return self.cell_w * GRID_COLS, self.cell_h * GRID_ROWS

    def cell_sums(self, values: Floats, scale: int = 1) -> Cells:
        """Sum an image over each cell: GRID_ROWS bands of rows, then GRID_COLS runs of columns.

        `scale` is how many fine pixels one pixel of `values` spans across (2 for the coarse
        image). Summing whole rows first keeps numpy on long contiguous vectors (a quarter of
        the time of reducing a reshaped cell axis), and avoids BLAS, whose threads made small
        products a hundred times slower on some shapes.
        """
        rows, width = values.shape
        bands = values.reshape(GRID_ROWS, rows // GRID_ROWS, width).sum(axis=1)
        cell_w = self.cell_w // scale
        full = GRID_COLS * cell_w
        if width < full:
            # Horizontal differences are one column short; the missing one adds nothing.
            padded = np.zeros((GRID_ROWS, full), dtype=bands.dtype)
            padded[:, :width] = bands
            bands = padded
        sums: Cells = bands.reshape(GRID_ROWS, GRID_COLS, cell_w).sum(axis=2)
        return sums

    def cell_mask(self, regions: Sequence[RelativeRect]) -> CellMask:
        """Return True for the cells that no ignored region touches."""
        keep = np.ones((GRID_ROWS, GRID_COLS), dtype=np.bool_)
        width, height = self.frame_size
        cell_w = self.cell_w * self.stride / width
        cell_h = self.cell_h * self.stride / height
        for x1, y1, x2, y2 in regions:
            c1, c2 = math.floor(x1 / cell_w), math.ceil(x2 / cell_w)
            r1, r2 = math.floor(y1 / cell_h), math.ceil(y2 / cell_h)
            keep[max(0, r1) : max(0, r2), max(0, c1) : max(0, c2)] = False
        return keep

    def extract(self, image: RGBImage) -> FrameFeatures:
        """Compute the per-cell statistics of one RGB frame of this layout's size."""
        fine_w, fine_h = self.fine_size
        step = self.stride
        # Green approximates luma within a few per cent and saves a weighted sum of three planes.
        grey = image[: fine_h * step : step, : fine_w * step : step, 1].astype(np.float32)
        area = float(self.cell_w * self.cell_h)
        even, odd = grey[0::2], grey[1::2]
        pairs = even + odd
        coarse: Floats = (pairs[:, 0::2] + pairs[:, 1::2]) * np.float32(0.25)
        mean = self.cell_sums(coarse, 2) / (area / 4)  # the coarse image keeps the fine mean
        var = np.maximum(self.cell_sums(grey * grey) / area - mean * mean, 0.0)
        # Gradient energy on every other row halves the cost and measures the same blur.
        dx = even[:, 1:] - even[:, :-1]
        dx *= dx
        dy = odd - even
        dy *= dy
        sharpness = (self.cell_sums(dx) + self.cell_sums(dy)) / area / (var + 1.0)
        gradient: Floats = np.zeros_like(coarse)
        np.abs(coarse[:, 1:] - coarse[:, :-1], out=gradient[:, :-1])
        gradient[:-1, :] += np.abs(coarse[1:, :] - coarse[:-1, :])
        ch, cw = self.cell_h // 2, self.cell_w // 2
        edges = gradient.reshape(GRID_ROWS, ch, GRID_COLS, cw).transpose(0, 2, 1, 3)
        return FrameFeatures(
            mean=mean,
            std=np.sqrt(var),
            sharpness=sharpness,
            edges=edges.reshape(CELLS, ch * cw),
            coarse=coarse,
        )


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    """What the health checks need from one frame."""

    mean: Cells
    """Mean grey level per cell."""
    std: Cells
    """Grey-level standard deviation per cell (local contrast)."""
    sharpness: Cells
    """Fine-scale gradient energy over variance per cell: falls when detail is blurred away."""
    edges: Floats
    """Coarse gradient magnitude, one row of pixels per cell: shape (CELLS, pixels per cell)."""
    coarse: Floats
    """The coarse (2×2 block mean) grey image, for frame differencing."""


def centre_rows(edges: Floats) -> Floats:
    """Return each cell's edge values minus their mean (what the correlation compares)."""
    centred: Floats = edges - edges.mean(axis=1, keepdims=True)
    return centred


def cell_ncc(centred: Floats, reference: Floats, reference_norm: Floats) -> Cells:
    """Return each cell's normalised cross-correlation of its centred edges with the reference's.

    The reference comes centred too, with its per-cell norm, as the view model keeps it.
    """
    num = np.einsum("ij,ij->i", centred, reference)
    norm = np.sqrt(np.einsum("ij,ij->i", centred, centred))
    ncc: Cells = (num / (norm * reference_norm + 1e-3)).reshape(GRID_ROWS, GRID_COLS)
    return ncc
