"""Privacy masks: polygons blanked on every frame before any analysis.

The pipeline masks a frame first, so the detector, the rules, the frame analysers and every
image Vigil keeps or shows (the latest frame, annotated snapshots) only ever see the blanked
pixels. Tracks and plates that another system detected (Frigate) never saw these pixels
blanked: `hides` drops them when they stand inside a mask, before any rule sees them.

Masked areas are filled with flat grey rather than black: a flat area gives the detector and
the background models nothing to find, and grey does not look like a shadow.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses

from vigil_core.geometry.polygon import Polygon
from vigil_core.geometry.raster import BoolMask, polygon_mask
from vigil_core.types import BBox, Frame, RGBImage, Track

FILL = 128


class PrivacyMasks:
    """Blank a camera's privacy polygons; the pixel mask is built once per frame size."""

    __slots__ = ("_masks", "polygons")

    def __init__(self, polygons: Sequence[Sequence[tuple[float, float]]]) -> None:
        """Validate the relative polygons (each ≥ 3 points in 0–1)."""
        self.polygons = tuple(Polygon(points) for points in polygons)
        self._masks: dict[tuple[int, int], BoolMask | None] = {}

    def __bool__(self) -> bool:
        """Return whether there is anything to mask."""
        return bool(self.polygons)

    def mask(self, width: int, height: int) -> BoolMask | None:
        """Return the H×W boolean mask of blanked pixels, or None when nothing is masked."""
        key = (width, height)
        if key not in self._masks:
            polygons = [polygon.points for polygon in self.polygons]
            self._masks[key] = polygon_mask(polygons, width, height) if polygons else None
        return self._masks[key]

    def apply_image(self, image: RGBImage) -> RGBImage:
        """Return a copy of the image with the masked pixels grey (the input is left untouched)."""
        mask = self.mask(image.shape[1], image.shape[0])
        if mask is None:
            return image
        out = image.copy()
        out[mask] = FILL
        return out

    def hides(self, box: BBox, width: int, height: int) -> bool:
        """Return whether an object's box stands inside a mask (its centre or its foot point).

        The foot point (bottom centre) is where the rules place an object; the centre is
        what a detector looking at blanked pixels would have missed.
        """
        points = (box.center, box.bottom_center)
        return any(
            polygon.contains(x, y, width, height) for polygon in self.polygons for x, y in points
        )

    def visible(self, tracks: Sequence[Track], width: int, height: int) -> tuple[Track, ...]:
        """Return the tracks that do not stand inside a mask (all of them without masks)."""
        if not self.polygons:
            return tuple(tracks)
        return tuple(t for t in tracks if not self.hides(t.bbox, width, height))

    def apply(self, frame: Frame) -> Frame:
        """Return the frame with its masked pixels grey; the same frame when there is no mask."""
        if not self.polygons:
            return frame
        return dataclasses.replace(frame, image=self.apply_image(frame.image))
