"""Two-row plates (motorcycles, square rear plates): find the rows, lay them side by side.

The CCT OCR reads one line of characters stretched to 128×64; a square plate squashed into that
loses its second row or reads it as noise. Its characters are found as dark (or light) connected
components of similar height, split into two rows at the widest vertical gap, and the two rows
are pasted side by side at one height: the OCR then sees an ordinary one-line plate
(``AB-123`` over ``CD`` becomes ``AB-123 CD``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage  # type: ignore[import-untyped]

from vigil_core.types import BBox, RGBImage

TWO_ROW_MAX_ASPECT = 1.8
"""Plate boxes narrower than this (width / height) may hold two rows; one-row plates are wider."""
_MIN_CHAR_HEIGHT = 0.15
_MAX_CHAR_HEIGHT = 0.6
"""Character heights in a two-row plate, relative to the plate box."""
_MAX_CHAR_WIDTH = 0.4
_ROW_HEIGHT_RATIO = 0.6
"""Both rows' characters are about as tall (a state name above a one-row plate is not)."""
_LINE_HEIGHT = 48


def split_rows(image: RGBImage, box: BBox) -> tuple[BBox, BBox] | None:
    """Return the boxes of the top and bottom rows of characters, or None for one row."""
    height, width = int(image.shape[0]), int(image.shape[1])
    x1, y1 = max(0, int(box.x1)), max(0, int(box.y1))
    x2, y2 = min(width, math.ceil(box.x2)), min(height, math.ceil(box.y2))
    if x2 - x1 < 8 or y2 - y1 < 8:
        return None
    grey = image[y1:y2, x1:x2].astype(np.float32).mean(axis=2)
    ink = grey < _otsu(grey)
    if ink.mean() > 0.5:  # light characters on a dark plate
        ink = ~ink
    labels, _ = ndimage.label(ink)
    box_h, box_w = grey.shape
    chars: list[tuple[int, int, int, int]] = []
    for found in ndimage.find_objects(labels):
        if found is None:
            continue
        rows, cols = found
        h, w = rows.stop - rows.start, cols.stop - cols.start
        if (
            _MIN_CHAR_HEIGHT * box_h <= h <= _MAX_CHAR_HEIGHT * box_h
            and w <= _MAX_CHAR_WIDTH * box_w
            and h >= 4
        ):
            chars.append((rows.start, rows.stop, cols.start, cols.stop))
    if len(chars) < 3:
        return None
    chars.sort(key=lambda c: c[0] + c[1])
    centres = np.asarray([(c[0] + c[1]) / 2 for c in chars])
    heights = np.asarray([c[1] - c[0] for c in chars], np.float32)
    gaps = np.diff(centres)
    split = int(np.argmax(gaps))
    if gaps[split] < 0.6 * float(np.median(heights)):
        return None
    top, bottom = chars[: split + 1], chars[split + 1 :]
    top_h = float(np.median([c[1] - c[0] for c in top]))
    bottom_h = float(np.median([c[1] - c[0] for c in bottom]))
    if min(top_h, bottom_h) < _ROW_HEIGHT_RATIO * max(top_h, bottom_h):
        return None

    def extent(row: list[tuple[int, int, int, int]]) -> BBox:
        return BBox(
            x1 + min(c[2] for c in row),
            y1 + min(c[0] for c in row),
            x1 + max(c[3] for c in row),
            y1 + max(c[1] for c in row),
        )

    return extent(top), extent(bottom)


def side_by_side(
    image: RGBImage, rows: tuple[BBox, BBox], margin: float, size: tuple[int, int]
) -> RGBImage:
    """Return the two rows, each grown by `margin` of its height, pasted left to right at `size`."""
    height, width = int(image.shape[0]), int(image.shape[1])
    parts = []
    for row in rows:
        pad_x, pad_y = margin * row.height, 0.6 * margin * row.height
        x1 = max(0, math.floor(row.x1 - pad_x))
        y1 = max(0, math.floor(row.y1 - pad_y))
        x2 = min(width, math.ceil(row.x2 + pad_x))
        y2 = min(height, math.ceil(row.y2 + pad_y))
        crop = Image.fromarray(
            np.ascontiguousarray(image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)])
        )
        scaled_w = max(1, round(crop.width * _LINE_HEIGHT / crop.height))
        parts.append(np.asarray(crop.resize((scaled_w, _LINE_HEIGHT), Image.Resampling.BILINEAR)))
    line = Image.fromarray(np.hstack(parts))
    return np.asarray(line.resize(size, Image.Resampling.BILINEAR))


def _otsu(grey: npt.NDArray[np.float32]) -> float:
    """Return the threshold that best separates the two grey levels (Otsu's method)."""
    hist, _ = np.histogram(grey, bins=256, range=(0.0, 256.0))
    p = hist / max(1, hist.sum())
    weight = np.cumsum(p)
    mean = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight - mean) ** 2 / (weight * (1.0 - weight))
    between = np.nan_to_num(between)
    return float(np.argmax(between)) + 0.5
