"""Plates of formats no photo set has, drawn with OpenCV putText over real photos' plates.

No labelled set holds French (SIV, FNI), German, Spanish, Italian, Dutch or two-row plates. Each
of these is drawn (as the models README found: OpenCV's putText plates are detected and read like
real ones) and pasted over the labelled plate of a real photo, at the real plate's place and at
least its width, so the rest of the photo (the car, the street, other plates) stays real. The
benchmark reports them as a row of their own, never mixed with the photos' figures.

OpenCV is imported only here; it comes with rapidocr (`vigil-analytics[anpr]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil_core.errors import ModelMissing
from vigil_core.types import BBox

type Image = npt.NDArray[np.uint8]

WHITE = (245, 245, 245)
YELLOW = (250, 200, 30)
EU_BLUE = (0, 51, 153)
BLACK = (15, 15, 15)


@dataclass(frozen=True, slots=True)
class RenderedPlate:
    """One plate to draw: as written (separators included), its style, and its rows."""

    written: str
    style: str
    """fr, de, es, it, nl (yellow), uk (yellow), us."""
    second_row: str | None = None


PLATES: tuple[RenderedPlate, ...] = (
    RenderedPlate("AB-123-CD", "fr"),
    RenderedPlate("GH-456-KL", "fr"),
    RenderedPlate("1234 AB 56", "fr"),
    RenderedPlate("567 XYZ 974", "fr"),
    RenderedPlate("M AB 1234", "de"),
    RenderedPlate("HH XY 512E", "de"),
    RenderedPlate("1234 BCD", "es"),
    RenderedPlate("AB 123 CD", "it"),
    RenderedPlate("12-ABC-3", "nl"),
    RenderedPlate("AB-123", "fr", second_row="CD"),
    RenderedPlate("B XY", "de", second_row="1234"),
)
"""French SIV and FNI (an overseas one), German (one electric), Spanish, Italian, Dutch, and two
two-row plates (a French motorcycle's, a German square one)."""

_STYLES = {
    "fr": (WHITE, True),
    "de": (WHITE, True),
    "es": (WHITE, True),
    "it": (WHITE, True),
    "nl": (YELLOW, True),
    "uk": (YELLOW, False),
    "us": (WHITE, False),
}


def _cv2() -> Any:
    try:
        import cv2  # noqa: PLC0415 - optional, with rapidocr
    except ImportError as err:
        raise ModelMissing(
            "rendered plates need OpenCV (installed with rapidocr: "
            "pip install 'vigil-analytics[anpr]')",
            {"model": "opencv", "file": "cv2", "looked": "python packages"},
        ) from err
    return cv2


def render(plate: RenderedPlate, height: int = 60) -> Image:
    """Return the plate as an RGB image (one row 4.7:1 with an EU band, two rows 1.4:1)."""
    cv2 = _cv2()
    background, eu_band = _STYLES[plate.style]
    font = cv2.FONT_HERSHEY_DUPLEX
    if plate.second_row is not None:
        height *= 2
        width = round(height * 1.4)
        image = np.full((height, width, 3), background, np.uint8)
        cv2.rectangle(image, (1, 1), (width - 2, height - 2), BLACK, 3)
        thickness = max(1, round(height / 20))
        for row, text in enumerate((plate.written, plate.second_row)):
            (tw, th), _ = cv2.getTextSize(text, font, 1.0, thickness)
            scale = min(width * 0.85 / tw, height * 0.36 / th)
            (tw, _), _ = cv2.getTextSize(text, font, scale, thickness)
            baseline = round(height * (0.45 if row == 0 else 0.88))
            cv2.putText(image, text, ((width - tw) // 2, baseline), font, scale, BLACK, thickness)
        return image
    width = round(height * 4.7)
    image = np.full((height, width, 3), background, np.uint8)
    cv2.rectangle(image, (1, 1), (width - 2, height - 2), BLACK, max(1, height // 30))
    left = 0
    if eu_band:
        left = round(height * 0.45)
        cv2.rectangle(image, (2, 2), (left, height - 3), EU_BLUE, -1)
    thickness = max(1, round(height / 14))
    (tw, th), _ = cv2.getTextSize(plate.written, font, 1.0, thickness)
    scale = min((width - left) * 0.88 / tw, height * 0.62 / th)
    (tw, th), _ = cv2.getTextSize(plate.written, font, scale, thickness)
    origin = (left + (width - left - tw) // 2, (height + th) // 2)
    cv2.putText(image, plate.written, origin, font, scale, BLACK, thickness, cv2.LINE_AA)
    return image


def paint(photo: Image, box: BBox, plate: RenderedPlate) -> tuple[Image, BBox]:
    """Return a copy of `photo` with the plate pasted over the labelled `box`, and its box.

    A one-row European plate is wider for its height than a US one: it gets 1.6 times the real
    plate's width; a two-row plate its width.
    """
    cv2 = _cv2()
    drawn = render(plate)
    factor = 1.6 if plate.second_row is None else 1.0
    width = min(int(photo.shape[1]), max(60, round(box.width * factor)))
    height = max(1, round(drawn.shape[0] * width / drawn.shape[1]))
    scaled = cv2.resize(drawn, (width, height), interpolation=cv2.INTER_AREA)
    out = photo.copy()
    cx, cy = box.center
    x1 = min(max(0, round(cx - width / 2)), int(out.shape[1]) - width)
    y1 = min(max(0, round(cy - height / 2)), int(out.shape[0]) - height)
    out[y1 : y1 + height, x1 : x1 + width] = scaled
    return out, BBox(x1, y1, x1 + width, y1 + height)


def rendered_set(
    photos: Sequence[tuple[Image, BBox]], plates: Sequence[RenderedPlate] = PLATES
) -> list[tuple[str, Image, BBox]]:
    """Return (canonical label, image, plate box) for every plate painted on every photo."""
    from vigil_core.plates.normalize import canonical  # noqa: PLC0415

    out = []
    for plate in plates:
        label = canonical(plate.written + (plate.second_row or ""))
        for image, box in photos:
            painted, painted_box = paint(image, box, plate)
            out.append((label, painted, painted_box))
    return out
