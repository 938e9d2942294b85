"""Find plate boxes: inside vehicle boxes, and over the whole frame (or a region) in tiles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import math
from typing import Literal, Protocol

import numpy as np

from vigil_core.inference.detectors import YoloV8Detector
from vigil_core.inference.postprocess import nms
from vigil_core.types import BBox, RGBImage

type PlateSource = Literal["vehicle", "frame"]

MIN_VEHICLE_PX = 24
"""Vehicle boxes smaller than this on either side carry no readable plate."""
REFINE_ZOOM = 2.0
"""Width of the re-detection crop, in plate widths (or twice the height, if larger)."""
REFINE_SIDE = 224
"""Long side of the detector input for a re-detection (the plate spans about half of it)."""


@dataclass(frozen=True, slots=True)
class PlateBox:
    """A plate found on a frame, in frame pixels."""

    bbox: BBox
    score: float
    source: PlateSource
    vehicle: int | None = None
    """Index of the vehicle box (or track id) it was found in; None for the full-frame pass."""


type Enough = Callable[[Sequence[PlateBox]], bool]
"""Whether the boxes found so far in a vehicle hold a legible plate (the reader's OCR says)."""


class BoxFinder(Protocol):
    """Find plate boxes on a frame: in vehicle crops, over the frame, and again around one."""

    nms_iou: float
    per_vehicle: int
    """Boxes of one vehicle read in full (the most legible first); its best read stays."""
    min_read_confidence: float
    """Reads below this are no plate, whatever the camera's `min_confidence` says."""

    def in_vehicles(
        self,
        image: RGBImage,
        vehicles: Sequence[tuple[int, BBox]],
        enough: Enough | None = None,
    ) -> list[PlateBox]:
        """Return the plates found in each (id, box) vehicle crop.

        A finder that searches a vehicle in steps stops once `enough` says its boxes so far
        hold a legible plate.
        """
        ...

    def in_frame(
        self, image: RGBImage, region: BBox | None = None, enough: Enough | None = None
    ) -> list[PlateBox]:
        """Return the plates found over the frame (or the region).

        A finder that can look again where its first look found nothing legible does so when
        `enough` says so.
        """
        ...

    def refine(self, image: RGBImage, box: PlateBox) -> PlateBox | None:
        """Return the plate re-detected more tightly around `box`, or None."""
        ...


class PlateFinder:
    """Run the plate detector on vehicle crops and on square tiles of the frame.

    A 384-px pass over a whole 16:9 frame shrinks plates by the long side; square tiles along
    the long side keep them at their native size. On the openalpr US set (1280×720) three 720-px
    tiles found 99 % of plates where one letterboxed pass found 95 %. (One 704×384 pass of the
    any-size detector costs less than three tiles, but its boxes read 0.8 % fewer plates
    exactly: tiles stay.) Vehicle crops run at their own aspect and re-detections on a band
    around the plate when the detector takes any size (`YoloV8Detector.dense`).
    """

    def __init__(
        self,
        detector: YoloV8Detector,
        *,
        vehicle_pad: float = 0.05,
        tile_overlap: float = 0.25,
        nms_iou: float = 0.5,
        vehicle_side: int | None = None,
        refine_side: int = REFINE_SIDE,
    ) -> None:
        """Wrap a loaded plate detector (its confidence is the lowest score kept).

        `vehicle_side` and `refine_side` are the detector input's long side for a vehicle crop
        and for a re-detection around one plate, when the detector takes any size (None: its
        registry size).
        """
        self.detector = detector
        self.vehicle_pad = vehicle_pad
        self.vehicle_side = vehicle_side
        self.refine_side = refine_side
        self.tile_overlap = tile_overlap
        self.nms_iou = nms_iou
        # The detector's top box is the plate often enough: read one per vehicle.
        self.per_vehicle = 1
        self.min_read_confidence = 0.0
        self._input_side = max(detector.spec.input.width, detector.spec.input.height)

    def in_vehicles(
        self,
        image: RGBImage,
        vehicles: Sequence[tuple[int, BBox]],
        enough: Enough | None = None,
    ) -> list[PlateBox]:
        """Return the plates found in each (id, box) vehicle crop (one run each: no `enough`)."""
        height, width = int(image.shape[0]), int(image.shape[1])
        found: list[PlateBox] = []
        for key, vehicle in vehicles:
            if vehicle.width < MIN_VEHICLE_PX or vehicle.height < MIN_VEHICLE_PX:
                continue
            x1, y1, x2, y2 = _padded(vehicle, self.vehicle_pad, width, height)
            for det in self.detector.detect_sized(image[y1:y2, x1:x2], self.vehicle_side):
                box = det.bbox
                found.append(
                    PlateBox(
                        BBox(box.x1 + x1, box.y1 + y1, box.x2 + x1, box.y2 + y1),
                        det.score,
                        "vehicle",
                        key,
                    )
                )
        return found

    def in_frame(
        self, image: RGBImage, region: BBox | None = None, enough: Enough | None = None
    ) -> list[PlateBox]:
        """Return the plates found in square tiles covering the frame (one look: no `enough`)."""
        height, width = int(image.shape[0]), int(image.shape[1])
        ox, oy, rx2, ry2 = (
            (0, 0, width, height) if region is None else _clamped(region, width, height)
        )
        found: list[PlateBox] = []
        tiles = square_tiles(rx2 - ox, ry2 - oy, self.tile_overlap, self._input_side)
        for tx1, ty1, tx2, ty2 in tiles:
            x1, y1 = ox + tx1, oy + ty1
            for det in self.detector.detect_sized(image[y1 : oy + ty2, x1 : ox + tx2]):
                box = det.bbox
                found.append(
                    PlateBox(
                        BBox(box.x1 + x1, box.y1 + y1, box.x2 + x1, box.y2 + y1), det.score, "frame"
                    )
                )
        return merge(found, self.nms_iou)

    def refine(self, image: RGBImage, box: PlateBox) -> PlateBox | None:
        """Return the plate re-detected on a zoomed crop around `box`, or None.

        A plate found in a 720-px tile or a whole vehicle is 40-60 px wide at the detector's
        input, and its box is off by a character's width often enough to cost a character;
        around twice its own size the plate fills half the input and the box is tight.
        """
        height, width = int(image.shape[0]), int(image.shape[1])
        bbox = box.bbox
        side = REFINE_ZOOM * max(bbox.width, 2.0 * bbox.height)
        # A detector that takes any size sees a band around the plate, not a square: the rows
        # far above and below a wide plate cost time and hold nothing.
        tall = side if not self.detector.dense else max(side / 2.0, 4.0 * bbox.height)
        cx, cy = bbox.center
        x1, y1, x2, y2 = _clamped(
            BBox(cx - side / 2, cy - tall / 2, cx + side / 2, cy + tall / 2), width, height
        )
        best: PlateBox | None = None
        for det in self.detector.detect_sized(image[y1:y2, x1:x2], self.refine_side):
            found = BBox(det.bbox.x1 + x1, det.bbox.y1 + y1, det.bbox.x2 + x1, det.bbox.y2 + y1)
            if found.iou(bbox) > 0.3 and (best is None or det.score > best.score):
                best = PlateBox(found, det.score, box.source, box.vehicle)
        return best


def merge(boxes: Sequence[PlateBox], iou: float = 0.5) -> list[PlateBox]:
    """Return the boxes left after non-maximum suppression, best score first.

    A plate seen both in its vehicle crop and in a tile keeps the better-scored box, and the
    vehicle it belongs to whichever box won.
    """
    if not boxes:
        return []
    coords = np.asarray([(b.bbox.x1, b.bbox.y1, b.bbox.x2, b.bbox.y2) for b in boxes], np.float32)
    scores = np.asarray([b.score for b in boxes], np.float32)
    kept = [boxes[int(i)] for i in nms(coords, scores, iou)]
    out = []
    for box in kept:
        owner = box.vehicle
        if owner is None:
            owner = next(
                (b.vehicle for b in boxes if b.vehicle is not None and b.bbox.iou(box.bbox) > iou),
                None,
            )
        out.append(PlateBox(box.bbox, box.score, box.source, owner))
    return out


def square_tiles(
    width: int, height: int, overlap: float = 0.25, min_side: int = 0
) -> list[tuple[int, int, int, int]]:
    """Return (x1, y1, x2, y2) tiles along the long side, overlapping by at least `overlap`.

    Tiles are squares of the short side, but never narrower than `min_side` (the detector's
    input: a smaller tile gains nothing and cuts wide plates); an area less than 1.5 tiles
    long is one tile.
    """
    if width <= 0 or height <= 0:
        return []
    long_side = max(width, height)
    side = min(max(min(width, height), min_side), long_side)
    if long_side <= side * 1.5:
        return [(0, 0, width, height)]
    step = side * (1.0 - overlap)
    count = math.ceil((long_side - side) / step) + 1
    starts = [int(v) for v in np.linspace(0, long_side - side, count).round()]
    if width >= height:
        return [(s, 0, s + side, height) for s in starts]
    return [(0, s, width, s + side) for s in starts]


def _padded(box: BBox, pad: float, width: int, height: int) -> tuple[int, int, int, int]:
    dx, dy = box.width * pad, box.height * pad
    return _clamped(BBox(box.x1 - dx, box.y1 - dy, box.x2 + dx, box.y2 + dy), width, height)


def _clamped(box: BBox, width: int, height: int) -> tuple[int, int, int, int]:
    x1 = min(max(0, int(box.x1)), width - 1)
    y1 = min(max(0, int(box.y1)), height - 1)
    x2 = max(x1 + 1, min(width, math.ceil(box.x2)))
    y2 = max(y1 + 1, min(height, math.ceil(box.y2)))
    return x1, y1, x2, y2
