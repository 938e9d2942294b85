"""Draw what the engine sees (boxes, track ids, zones) onto a frame for people to look at."""

from __future__ import annotations

from collections.abc import Sequence
import io

import numpy as np
from PIL import Image, ImageDraw

from .geometry.polygon import Polygon
from .types import RGBImage, Track

_PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
)  # fmt: skip


def track_color(track_id: int) -> tuple[int, int, int]:
    """Return a stable colour for a track id."""
    return _PALETTE[track_id % len(_PALETTE)]


def annotate(
    image: RGBImage,
    tracks: Sequence[Track],
    zones: Sequence[tuple[str, Polygon, bool]] = (),
) -> Image.Image:
    """Return a copy of `image` with zones (name, polygon, occupied) and tracks drawn on it."""
    canvas = Image.fromarray(np.ascontiguousarray(image), mode="RGB")
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width, height = canvas.size
    for name, polygon, occupied in zones:
        points = polygon.to_pixels(width, height)
        fill = (255, 60, 60, 70) if occupied else (60, 160, 255, 50)
        outline = (255, 60, 60, 255) if occupied else (60, 160, 255, 255)
        draw.polygon(points, fill=fill, outline=outline, width=2)
        draw.text((points[0][0] + 4, points[0][1] + 2), name, fill=outline)
    for track in tracks:
        color = track_color(track.track_id)
        box = track.bbox
        dash = 255 if track.matched else 140
        draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=(*color, dash), width=2)
        label = f"#{track.track_id} {track.label}"
        draw.rectangle(
            (box.x1, box.y1 - 11, box.x1 + 6 * len(label) + 2, box.y1), fill=(*color, 200)
        )
        draw.text((box.x1 + 1, box.y1 - 11), label, fill=(0, 0, 0, 255))
    return Image.alpha_composite(canvas.convert("RGBA"), overlay).convert("RGB")


def to_jpeg(image: Image.Image, quality: int = 80) -> bytes:
    """Encode an image as JPEG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
