"""Rasterise relative polygons into boolean pixel (or cell) masks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

type BoolMask = npt.NDArray[np.bool_]


def polygon_mask(
    polygons: Sequence[Sequence[tuple[float, float]]], width: int, height: int
) -> BoolMask:
    """Return the height×width mask of the cells inside any of the relative polygons."""
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for points in polygons:
        # Scale to the grid's far edges so a polygon reaching 1.0 covers the last cell.
        draw.polygon([(x * width, y * height) for x, y in points], fill=1, outline=1)
    mask: BoolMask = np.asarray(canvas, dtype=bool)
    return mask
