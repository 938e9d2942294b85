"""Pictures the server hands out: frames grabbed by probes, camera pictures, drawings on them.

Every picture leaves with the camera's privacy masks already blanked (the pipeline blanks them
before anything looks at a frame); a drawing request may blank more (a mask being drawn).
Rendering is blocking (Pillow): callers run it in a thread.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
import secrets
import threading
import time

import numpy as np
from PIL import Image, ImageDraw

from vigil_core.annotate import annotate, to_jpeg
from vigil_core.decode import fit_size
from vigil_core.geometry.polygon import Polygon
from vigil_core.pipeline import AnalysedFrame
from vigil_core.privacy.masks import PrivacyMasks
from vigil_core.types import RGBImage
from vigil_protocol import JsonValue, ProtocolError
from vigil_protocol.shapes import ShapeError, check_line, check_polygon

type Point = tuple[float, float]

FRAME_TTL_S = 600.0
"""A probed frame is kept this long, for the forms that draw on it."""
MAX_FRAMES = 16


@dataclass(slots=True)
class FrameCache:
    """Frames decoded by probes, by a random id, for a few minutes (thread-safe)."""

    _frames: OrderedDict[str, tuple[float, RGBImage]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, image: RGBImage) -> str:
        """Keep a frame; return its id."""
        frame_id = secrets.token_urlsafe(12)
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            self._frames[frame_id] = (now, image)
            while len(self._frames) > MAX_FRAMES:
                self._frames.popitem(last=False)
        return frame_id

    def get(self, frame_id: str) -> RGBImage | None:
        """Return a kept frame, or None."""
        with self._lock:
            self._expire(time.monotonic())
            found = self._frames.get(frame_id)
        return found[1] if found else None

    def _expire(self, now: float) -> None:
        for key, (at, _image) in list(self._frames.items()):
            if now - at > FRAME_TTL_S:
                del self._frames[key]


@dataclass(frozen=True, slots=True)
class Shape:
    """A named polygon or line to draw, in 0-1 coordinates."""

    name: str
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Drawing:
    """What to draw on a picture: areas, directed lines, masks to blank and the grid."""

    areas: tuple[Shape, ...] = ()
    lines: tuple[Shape, ...] = ()
    masks: tuple[tuple[Point, ...], ...] = ()
    grid: bool = False
    max_width: int | None = None

    @classmethod
    def parse(cls, data: JsonValue) -> Drawing:
        """Read a drawing request's JSON body (ProtocolError naming the bad field)."""
        if not isinstance(data, dict):
            raise ProtocolError("must be an object")
        width = data.get("max_width")
        if width is not None and (not isinstance(width, int) or not 64 <= width <= 3840):
            raise ProtocolError("must be an integer in 64-3840", "max_width")
        return cls(
            areas=tuple(_shapes(data.get("areas"), "areas")),
            lines=tuple(_shapes(data.get("lines"), "lines")),
            masks=tuple(s.points for s in _shapes(data.get("masks"), "masks")),
            grid=data.get("grid") is True,
            max_width=width,
        )


def _shapes(value: JsonValue, where: str) -> list[Shape]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError("must be a list", where)
    shapes = []
    for index, given in enumerate(value):
        item = {"points": given} if isinstance(given, list) else given
        if not isinstance(item, dict):
            raise ProtocolError("must be an object or a list of points", f"{where}[{index}]")
        points = item.get("points")
        name = item.get("name", "")
        if not isinstance(points, list) or not isinstance(name, str):
            raise ProtocolError("needs points (and a name)", f"{where}[{index}]")
        parsed = [_point(p) for p in points]
        if any(p is None for p in parsed):
            raise ProtocolError("points must be [x, y] pairs of numbers", f"{where}[{index}]")
        shapes.append(Shape(name, tuple(p for p in parsed if p is not None)))
    return shapes


def _point(value: JsonValue) -> Point | None:
    if not isinstance(value, list) or len(value) != 2:
        return None
    x, y = value
    if isinstance(x, bool) or isinstance(y, bool):
        return None
    if not isinstance(x, int | float) or not isinstance(y, int | float):
        return None
    return (float(x), float(y))


def camera_picture(
    latest: AnalysedFrame,
    *,
    boxes: bool,
    max_width: int | None,
    zones: Sequence[tuple[str, Polygon, bool]] = (),
) -> bytes:
    """Return a camera's latest analysed frame as JPEG, with its tracks and zones when asked.

    A zone is given as (name, polygon, occupied): an occupied zone is drawn highlighted.
    """
    picture = annotate(latest.frame.image, latest.tracks if boxes else [], zones)
    if max_width is not None and picture.width > max_width:
        picture = picture.resize(fit_size(picture.width, picture.height, max_width))
    return to_jpeg(picture)


def render(image: RGBImage, drawing: Drawing) -> bytes:
    """Blank the masks, then draw the grid, the areas and the directed lines; return JPEG."""
    image = _fit(image, drawing.max_width)
    masks = []
    for mask in drawing.masks:
        try:
            check_polygon(mask)
        except ShapeError:
            continue  # a mask the form still refuses is not applied
        masks.append(list(mask))
    if masks:
        image = PrivacyMasks(masks).apply_image(image)
    areas = []
    for area in drawing.areas:
        try:
            check_polygon(area.points)
        except ShapeError:
            continue
        areas.append((area.name, Polygon(area.points), False))
    picture = annotate(image, [], areas)
    draw = ImageDraw.Draw(picture, "RGBA")
    width, height = picture.size
    if drawing.grid:
        _draw_grid(draw, width, height)
    for line in drawing.lines:
        try:
            check_line(line.points)
        except ShapeError:
            continue
        _draw_line(draw, line.points, width, height)
    return to_jpeg(picture)


def _fit(image: RGBImage, max_width: int | None) -> RGBImage:
    height, width = image.shape[:2]
    if max_width is None or width <= max_width:
        return image
    resized = Image.fromarray(image).resize(fit_size(width, height, max_width))
    return np.ascontiguousarray(np.asarray(resized))


def _draw_grid(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    """Draw a line every 0.1 of the picture, labelled along the top and left edges."""
    for step in range(1, 10):
        x, y = round(width * step / 10), round(height * step / 10)
        draw.line([(x, 0), (x, height)], fill=(255, 255, 255, 70), width=1)
        draw.line([(0, y), (width, y)], fill=(255, 255, 255, 70), width=1)
        draw.text((x + 2, 2), f"0.{step}", fill=(255, 255, 0, 230))
        draw.text((2, y + 2), f"0.{step}", fill=(255, 255, 0, 230))


def _draw_line(draw: ImageDraw.ImageDraw, points: Sequence[Point], width: int, height: int) -> None:
    """Draw a directed line A → B: a dot at B, the letters at both ends."""
    (ax, ay), (bx, by) = points
    a, b = (ax * width, ay * height), (bx * width, by * height)
    draw.line([a, b], fill=(255, 64, 64, 255), width=3)
    draw.ellipse([b[0] - 6, b[1] - 6, b[0] + 6, b[1] + 6], fill=(255, 64, 64, 255))
    draw.text((a[0] + 4, a[1] + 4), "A", fill=(255, 255, 255, 255))
    draw.text((b[0] + 8, b[1] + 4), "B", fill=(255, 255, 255, 255))
