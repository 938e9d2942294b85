"""Render number plates with OpenCV putText and paste them onto real photos (no image files)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vigil_core.types import BBox

type Image = npt.NDArray[np.uint8]

WHITE = (245, 245, 245)
YELLOW = (250, 200, 30)
EU_BLUE = (0, 51, 153)
BLACK = (15, 15, 15)


@dataclass(frozen=True, slots=True)
class PlateStyle:
    """Colours and proportions of one country's plate (RGB)."""

    background: tuple[int, int, int]
    aspect: float
    """Width / height of the plate."""
    eu_band: bool = False


STYLES = {
    "fr": PlateStyle(WHITE, 4.7, eu_band=True),
    "de": PlateStyle(WHITE, 4.7, eu_band=True),
    "es": PlateStyle(WHITE, 4.7, eu_band=True),
    "uk": PlateStyle(YELLOW, 4.7),
    "us": PlateStyle(WHITE, 2.0),
}


def render_plate(text: str, country: str, height: int = 60) -> Image:
    """Return an RGB plate image showing `text` (as written, separators included)."""
    style = STYLES[country]
    width = round(height * style.aspect)
    plate = np.full((height, width, 3), style.background, np.uint8)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), BLACK, max(1, height // 30))
    left = 0
    if style.eu_band:
        left = round(height * 0.45)
        cv2.rectangle(plate, (2, 2), (left, height - 3), EU_BLUE, -1)
    font = cv2.FONT_HERSHEY_DUPLEX
    thickness = max(1, round(height / 14))
    # Fit the text in the plate: scale from the font's size for this text.
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thickness)
    scale = min((width - left) * 0.88 / tw, height * 0.62 / th)
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    x = left + (width - left - tw) // 2
    y = (height + th) // 2
    cv2.putText(plate, text, (x, y), font, scale, BLACK, thickness, cv2.LINE_AA)
    return plate


def render_two_row_plate(
    top: str, bottom: str, background: tuple[int, int, int] = WHITE, height: int = 120
) -> Image:
    """Return a square-ish (1.4:1) two-row plate, as on motorcycles: `top` over `bottom`."""
    width = round(height * 1.4)
    plate = np.full((height, width, 3), background, np.uint8)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), BLACK, 3)
    font = cv2.FONT_HERSHEY_DUPLEX
    thickness = max(1, round(height / 20))
    for row, text in enumerate((top, bottom)):
        (tw, th), _ = cv2.getTextSize(text, font, 1.0, thickness)
        scale = min(width * 0.85 / tw, height * 0.36 / th)
        (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
        baseline = round(height * (0.45 if row == 0 else 0.88))
        cv2.putText(
            plate, text, ((width - tw) // 2, baseline), font, scale, BLACK, thickness, cv2.LINE_AA
        )
    return plate


def paste(
    photo: Image, plate: Image, centre: tuple[float, float], width: int
) -> tuple[Image, BBox]:
    """Return a copy of `photo` with `plate` scaled to `width` px at `centre`, and its box."""
    height = max(1, round(plate.shape[0] * width / plate.shape[1]))
    scaled = cv2.resize(plate, (width, height), interpolation=cv2.INTER_AREA)
    out = photo.copy()
    x1 = round(centre[0] - width / 2)
    y1 = round(centre[1] - height / 2)
    x1 = min(max(0, x1), out.shape[1] - width)
    y1 = min(max(0, y1), out.shape[0] - height)
    out[y1 : y1 + height, x1 : x1 + width] = scaled
    return out, BBox(x1, y1, x1 + width, y1 + height)


def read_rgb(path: Path) -> Image:
    """Return a photo as an RGB array."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return np.ascontiguousarray(bgr[..., ::-1])


def plate_on_photo(photo: Image, box: BBox, text: str, country: str) -> tuple[Image, BBox]:
    """Cover a real plate (its labelled box) with a rendered one of the same width."""
    width = max(60, round(box.width * (1.6 if STYLES[country].aspect > 3 else 1.0)))
    return paste(photo, render_plate(text, country), box.center, width)


def zoom_towards(image: Image, centre: tuple[float, float], zoom: float) -> Image:
    """Return the frame a camera sees when zoomed by `zoom` towards `centre` (same size)."""
    height, width = image.shape[:2]
    w, h = width / zoom, height / zoom
    x0 = min(max(0.0, centre[0] - w / 2), width - w)
    y0 = min(max(0.0, centre[1] - h / 2), height - h)
    window = image[int(y0) : int(y0 + h), int(x0) : int(x0 + w)]
    return np.ascontiguousarray(cv2.resize(window, (width, height), interpolation=cv2.INTER_LINEAR))


def encode_clip(frames: list[Image], path: Path, fps: float = 10.0) -> Path:
    """Encode RGB frames as an H.264 mp4 with PyAV; return the path."""
    import av  # noqa: PLC0415

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb[: stream.height, : stream.width], format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
