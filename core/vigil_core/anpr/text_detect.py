"""Find plates as text lines of plate shape: PP-OCR's text detector (DB) on vehicle crops.

The licence-clean plate finder. PaddleOCR's PP-OCR detector (Apache-2.0, shipped inside the
rapidocr wheel) outputs, for every input pixel, the probability that it belongs to a line of
text. A plate is a line of text of a known shape: a few times wider than tall, a fraction of
its vehicle's width, in the lower part of the vehicle. The text lines that fit become plate
boxes for the CCT OCR, whose confidence then rejects the text that is not a plate (badges,
dealer names, stickers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage  # type: ignore[import-untyped]

from vigil_core.anpr.candidates import (
    Candidate,
    CandidateSearch,
    find_candidates,
    picked,
    scored_bands,
    separate,
)
from vigil_core.anpr.detect import MIN_VEHICLE_PX, Enough, PlateBox, merge
from vigil_core.inference.preprocess import resize
from vigil_core.inference.session import ModelSession
from vigil_core.types import BBox, RGBImage

type ProbMap = npt.NDArray[np.float32]

BIN_THRESHOLD = 0.3
"""A map pixel above this probability is text (PP-OCR's own setting)."""
MIN_LINE_SCORE = 0.5
"""Mean probability inside a text line below which it is noise (PP-OCR's `box_thresh`)."""
UNCLIP_RATIO = 1.6
"""The detector marks a shrunk core of each line; it is grown back by area × ratio / perimeter."""
JOIN_BONUS = 0.01
TILE = (128, 64)
"""Size the scaled search window is cut into (see `TextPlateFinder.lines_in`)."""
DEFAULT_SEARCH = CandidateSearch()
WINDOW = (128, 64)
"""Detector input (width, height) of one candidate window (see `TextPlateFinder.in_vehicles`)."""
MAX_WINDOW_ZOOM = 3.0
FRAME_SEARCH_SIDE = 640
"""Long side the frame (or region) is scaled to for the first level of the band search."""
FRAME_SEARCH_MIN = 120
"""The band search's smallest level: halved from FRAME_SEARCH_SIDE while its long side is this or
more (bands 8-21 px tall at 640, 16-42 at 320, 32-84 at 160 px)."""
FRAME_WINDOWS = 4
"""Candidate windows the detector runs on in a frame (one batch)."""
FRAME_WINDOW_OVERLAP = 0.3
"""A frame window sharing more than this share of the smaller one with a better window at about
the same scale is not run (plates/us, both mode, tuned there: 186 of 222 exact at 0.2 and 0.3,
185 at 0.4, 184 without; a car covered in stickers took all four windows)."""
WIDER_ZOOM = 0.6
"""A line cut by its window's side is looked at again in a window this many times the scale."""
CUT_SCORE = 0.9
"""A vehicle window's line cut by the window's side scores this share of its detector score: a
whole view of the same line from another window wins the merge (a two-row plate whose second
row a window cut read `AB123` for AB-123 over CD; rendered plates, tuned-on: 31 → 32 of 33,
plates/us unchanged)."""
FRAME_CLOSER = 2
"""When plate-shaped lines were found over the frame but none is legible, the best this many
frame windows are looked at again CLOSER_ZOOM times closer (plates/us in `full_frame` mode,
tuned there: 170 of 222 photos exact against 164, 1.03 times the time per photo, interleaved;
the best window only 168, the best four 171; 171 also when no line at all was found, but at
1.44 times the time on frames without text)."""
CLOSER_ZOOM = 2.0
"""When none of a vehicle's windows held a legible plate, its best window is looked at again
at this many times its scale (at most MAX_WINDOW_ZOOM): the detector misses some plates whose
characters are the usual height and finds them closer (on plates/us, tuned there: 188 of 222
photos exact against 186, none lost; 2.5 times: 186, with one lost; the best two windows
closer: 188)."""


@dataclass(frozen=True, slots=True)
class TextLine:
    """One text line found on a detector input, in input pixels."""

    box: BBox
    score: float


@dataclass(frozen=True, slots=True)
class WindowLine:
    """A text line found in a candidate window, in image pixels."""

    box: BBox
    score: float
    cut: bool
    """It reaches a side of its window that is not the image's: it may go on outside."""
    window: int = 0
    """Index of the window it was found in."""


@dataclass(frozen=True, slots=True)
class PlateShape:
    """Where plates are on a vehicle and what their text lines look like.

    Sizes and positions are relative to the vehicle box; the window is searched at the scale
    that makes a plate of the usual size `target_px` tall (the detector misses text lines much
    smaller than that, and larger ones cost time for nothing).
    """

    min_aspect: float = 0.9
    """The detector's line boxes carry a margin: a one-row plate's is 1.3-4 times wider than tall,
    a two-row plate's about square."""
    max_aspect: float = 9.0
    min_width: float = 0.04
    max_width: float = 1.0
    top: float = 0.3
    """Plates sit below this share of the vehicle's height (a roof carries no plate)."""
    side: float = 0.05
    """Share of the vehicle's width left out at each side (wheels, mirrors)."""
    plate_height: float = 0.07
    """Usual plate height as a share of the vehicle's width (median of the labelled photos)."""
    target_px: float = 14.0
    window_text_px: float = 18.0
    """Height of a usual plate's characters in a candidate window, in detector pixels.

    On 128 × 64 windows the detector missed plates whose characters were under about 12 px
    and found them from 14 px up; 18 px read best on plates/us (tuned there)."""
    text_height: float = 0.035
    """Usual height of a plate's characters as a share of the vehicle's width (half a plate)."""
    window_fill: float = 0.8
    """Largest share of a window's width a band may fill (the detector fades at its edges)."""
    window_grow: float | None = 0.35
    """A line found in a window is its core grown by this share of the core's height each side.

    The box then scales with the characters, where PP-OCR's unclipping and `trim_px` do not:
    on plates/us (tuned there) 0.3-0.4 read 170-172 of 214 labelled plates exactly, the
    unclipped and trimmed lines 168, 0.45-0.5 165-166."""
    min_height_px: float = 6.0
    margin_x: float = 0.0
    margin_y: float = 0.0
    """The plate box around a text line, grown by these shares of the line's width and height."""
    trim_px: tuple[float, float] = (2.0, 4.0)
    """Detector-input pixels taken off each side of a line (x, y) before it is scaled back.

    The lines, grown back from the detector's core by PP-OCR's unclip ratio after a 2 × 2
    dilation, come out about 4 input pixels too large on each side whatever the scale: 1.56
    times as tall as the labelled plates at 14 px, 1.22 times at 30 px (medians, plates/us).
    The CCT reads tight boxes best (its crop adds its own margin). Tuned on plates/us."""


def text_lines(
    prob: ProbMap, *, threshold: float | None = None, grow: float | None = None
) -> list[TextLine]:
    """Return the text lines of a DB probability map, grown back to their full extent.

    The detector marks a shrunk core of each line: PP-OCR grows it back by area × ratio /
    perimeter (UNCLIP_RATIO); with `grow`, each side moves out by that share of the core's
    height instead.
    """
    mask = prob > (BIN_THRESHOLD if threshold is None else threshold)
    # PP-OCR dilates by a 2×2 kernel so that characters of one line join.
    mask = ndimage.binary_dilation(mask, structure=np.ones((2, 2), dtype=bool))
    labels, _ = ndimage.label(mask)
    height, width = prob.shape
    lines: list[TextLine] = []
    for index, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        rows, cols = window
        h, w = rows.stop - rows.start, cols.stop - cols.start
        if min(h, w) < 2:
            continue
        component = labels[window] == index
        score = float(prob[window][component].mean())
        if score < MIN_LINE_SCORE:
            continue
        out = (w * h * UNCLIP_RATIO) / (2.0 * (w + h)) if grow is None else grow * h
        lines.append(
            TextLine(
                BBox(
                    max(0.0, cols.start - out),
                    max(0.0, rows.start - out),
                    min(float(width), cols.stop + out),
                    min(float(height), rows.stop + out),
                ),
                score,
            )
        )
    return lines


def joined(lines: Sequence[TextLine], gap: float = 1.5) -> list[TextLine]:
    """Return the lines with neighbours on one row joined: the detector splits plates at spaces.

    Two lines join when they overlap vertically by most of the smaller height, have similar
    heights and are less than `gap` heights apart; both the parts and the whole are kept
    (the OCR's confidence tells which is the plate).
    """
    out = list(lines)
    ordered = sorted(lines, key=lambda line: line.box.x1)
    for i, first in enumerate(ordered):
        current = first
        for other in ordered[i + 1 :]:
            a, b = current.box, other.box
            low, high = sorted((a.height, b.height))
            overlap = min(a.y2, b.y2) - max(a.y1, b.y1)
            if low < 0.6 * high or overlap < 0.6 * low:
                continue
            if b.x1 - a.x2 > gap * high:
                break
            current = TextLine(
                BBox(min(a.x1, b.x1), min(a.y1, b.y1), max(a.x2, b.x2), max(a.y2, b.y2)),
                # Above either part: when the boxes are merged, the whole line is kept.
                min(1.0, max(current.score, other.score) + JOIN_BONUS),
            )
            out.append(current)
    return out


def stacked(lines: Sequence[TextLine], gap: float = 0.8) -> list[TextLine]:
    """Return the lines plus each pair stacked like the two rows of a square plate.

    Two lines make two rows when they are about as tall, one above the other (less than `gap`
    heights apart) and mostly over each other; the pair's box is then also a candidate, and the
    reader splits it into rows again.
    """
    out = list(lines)
    ordered = sorted(lines, key=lambda line: line.box.y1)
    for i, top in enumerate(ordered):
        for bottom in ordered[i + 1 :]:
            a, b = top.box, bottom.box
            low, high = sorted((a.height, b.height))
            if bottom.box.y1 - a.y2 > gap * high:
                break
            narrow = min(a.width, b.width)
            overlap = min(a.x2, b.x2) - max(a.x1, b.x1)
            if low < 0.6 * high or overlap < 0.6 * narrow or b.center[1] <= a.y2 - 0.2 * a.height:
                continue
            out.append(
                TextLine(
                    BBox(min(a.x1, b.x1), a.y1, max(a.x2, b.x2), max(a.y2, b.y2)),
                    min(1.0, max(top.score, bottom.score) + JOIN_BONUS),
                )
            )
    return out


class TextPlateFinder:
    """Find plate boxes as plate-shaped text lines in vehicle crops and over the frame."""

    def __init__(
        self,
        session: ModelSession,
        *,
        vehicle_width: int = 384,
        frame_side: int = 768,
        shape: PlateShape | None = None,
        nms_iou: float = 0.5,
        search: CandidateSearch | None = DEFAULT_SEARCH,
        windows: int = 2,
        frame_windows: int = FRAME_WINDOWS,
        low_window: bool = True,
    ) -> None:
        """Wrap a loaded PP-OCR detector session.

        In a vehicle crop the detector runs on the `windows` most likely plate windows that
        `search` finds, and with `low_window` the lowest likely one (`in_vehicles`); with
        `search` None, on tiles over the whole lower part of the vehicle at `vehicle_width`
        (`in_vehicles_tiled`, the earlier default).
        Over the frame, likewise: the `frame_windows` likeliest windows `search` finds at a few
        scales (`in_frame`), or with `search` None tiles over the frame scaled to `frame_side`
        on its long side.
        """
        self.session = session
        spec = session.spec.input
        self._scale = np.float32(spec.scale)
        self._mean = np.asarray(spec.mean, np.float32)
        self._std = np.asarray(spec.std, np.float32)
        self._bgr = spec.colour == "BGR"
        # Padding is mid-grey, the value a plain background normalises to.
        self._pad = (np.float32(127.5) * self._scale - self._mean) / self._std
        self.vehicle_width = vehicle_width
        self.frame_side = frame_side
        self.shape = shape or PlateShape()
        self.nms_iou = nms_iou
        self.search = search
        self.windows = windows
        self.frame_windows = frame_windows
        self.low_window = low_window
        # A vehicle's lower part holds several text lines; the CCT's confidence on the three
        # most legible tells the plate better than legibility on one crop (plates/us, vehicle
        # crops: 0.514 → 0.545 exact, tuned there).
        self.per_vehicle = 3
        # Its boxes hold any text (badges, signs, a grille's edges): the OCR's confidence must
        # reject what is no plate. On plates/us every right read scored 0.65 or more, and
        # the shrunk boxes let a sign above a plate read at 0.63.
        self.min_read_confidence = 0.65

    def probability(self, image: RGBImage, width: int) -> tuple[ProbMap, float]:
        """Return the text probability map of an image scaled to `width`, and the scale.

        The image keeps its aspect and is padded to multiples of 32 at the right and bottom:
        stretching a small input to the next multiple distorts characters by up to half.
        """
        scale = width / int(image.shape[1])
        tensor, height = self._normalised(image, scale, _ceil_32(width), None)
        out = self.session.run(tensor[None])[0]
        prob: ProbMap = out[0, 0, :height, :width]
        return prob, scale

    def lines_in(
        self, image: RGBImage, window: tuple[int, int, int, int], scale: float
    ) -> list[tuple[BBox, float]]:
        """Return the text lines of a window of the image, in image pixels, at `scale`.

        The scaled window is cut into tiles of about TILE pixels run as one batch: on a whole
        vehicle the detector misses small text that it finds on a tile of the same scale (on the
        labelled photos, plates 16 px tall: 72 % found on the whole lower part of the vehicle,
        87 % on its 128 × 64 tiles, for the same pixels). A second grid shifted by half a tile
        covers the first one's edges, and lines are found on the whole map put back together.
        """
        x1, y1, x2, y2 = window
        crop = image[y1:y2, x1:x2]
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            return []
        width = max(8, round(int(crop.shape[1]) * scale))
        height = max(8, round(int(crop.shape[0]) * scale))
        cols, rows = math.ceil(width / TILE[0]), math.ceil(height / TILE[1])
        tile_w = _ceil_32(math.ceil(width / cols))
        tile_h = _ceil_32(math.ceil(height / rows))
        canvas, _ = self._normalised(crop, scale, tile_w * cols, tile_h * rows)
        prob = self._tiled_probability(canvas, (rows, cols), (tile_h, tile_w))[:height, :width]
        sx, sy = crop.shape[1] / width, crop.shape[0] / height
        out = []
        for line in stacked(joined(text_lines(prob))):
            box = _trimmed(line.box, *self.shape.trim_px)
            out.append(
                (
                    BBox(
                        x1 + box.x1 * sx,
                        y1 + box.y1 * sy,
                        x1 + min(box.x2, width) * sx,
                        y1 + min(box.y2, height) * sy,
                    ),
                    line.score,
                )
            )
        return out

    def _tiled_probability(
        self, canvas: npt.NDArray[np.float32], grid: tuple[int, int], tile: tuple[int, int]
    ) -> ProbMap:
        """Return the text probability of a normalised canvas, run as tiles in one batch.

        The detector's response fades at a tile's edges: a line cut by an edge is lost or found
        in parts (a plate cut across its height was missed, one cut across its width was read
        as separate plates). So a second grid, shifted by half a tile each way where there is
        room, covers the first one's edges; the map is the larger probability of the two.
        """
        rows, cols = grid
        tile_h, tile_w = tile
        dy = tile_h // 2 if rows > 1 else 0
        dx = tile_w // 2 if cols > 1 else 0
        rows_b, cols_b = rows - (1 if dy else 0), cols - (1 if dx else 0)
        shifted = canvas[:, dy : dy + rows_b * tile_h, dx : dx + cols_b * tile_w]
        batch = [_tiles(canvas, rows, cols, tile_h, tile_w)]
        if dx or dy:
            batch.append(_tiles(shifted, rows_b, cols_b, tile_h, tile_w))
        probs = self.session.run(np.ascontiguousarray(np.concatenate(batch)))[0][:, 0]
        prob = _untiled(probs[: rows * cols], rows, cols)
        if dx or dy:
            region = prob[dy : dy + rows_b * tile_h, dx : dx + cols_b * tile_w]
            np.maximum(region, _untiled(probs[rows * cols :], rows_b, cols_b), out=region)
        return prob

    def _normalised(
        self, image: RGBImage, scale: float, width: int, height: int | None
    ) -> tuple[npt.NDArray[np.float32], int]:
        """Return the image scaled, normalised, CHW, padded to width × height (× 32 if None)."""
        src_h, src_w = int(image.shape[0]), int(image.shape[1])
        new_w = max(1, min(width, round(src_w * scale)))
        new_h = max(1, round(src_h * scale))
        if height is not None:
            new_h = min(new_h, height)
        small = resize(image, new_w, new_h).astype(np.float32)
        if self._bgr:
            small = small[..., ::-1]
        canvas = np.empty((3, height or _ceil_32(new_h), width), np.float32)
        canvas[...] = self._pad.reshape(3, 1, 1)
        canvas[:, :new_h, :new_w] = ((small * self._scale - self._mean) / self._std).transpose(
            2, 0, 1
        )
        return canvas, new_h

    def in_vehicles(
        self,
        image: RGBImage,
        vehicles: Sequence[tuple[int, BBox]],
        enough: Enough | None = None,
    ) -> list[PlateBox]:
        """Return the plate-shaped text lines in the likely plate windows of each vehicle.

        Without `enough` the windows run as one batch. With it they run one after the other,
        best first, until `enough` says the boxes so far hold a legible plate: on plates/us
        the second window then ran for 19 % of the vehicles, and 163 of 214 labelled plates
        read exactly against 160 with both windows always (tuned there). When none did, the
        best window is looked at once more, closer (`CLOSER_ZOOM`), then the lowest band's
        (see `candidate_windows`).
        """
        if self.search is None:
            return self.in_vehicles_tiled(image, vehicles)
        found: list[PlateBox] = []
        for key, vehicle in vehicles:
            if vehicle.width < MIN_VEHICLE_PX or vehicle.height < MIN_VEHICLE_PX:
                continue
            windows = self.candidate_windows(image, vehicle)
            steps = [windows] if enough is None else self._steps(image, windows)
            whole: list[PlateBox] = []
            for step in steps:
                for box, cut in self._plates_in(image, step, key, vehicle):
                    found.append(box)
                    if not cut:
                        whole.append(box)
                # A line cut by a window's side may be part of a plate: it reads, but it
                # does not stop the search.
                if enough is not None and enough(whole):
                    break
        return found

    def _steps(
        self, image: RGBImage, windows: list[tuple[tuple[int, int, int, int], float]]
    ) -> list[list[tuple[tuple[int, int, int, int], float]]]:
        """Return the windows one by one: the best bands', the best closer, the lowest band's."""
        steps = [[window] for window in windows[: self.windows]]
        closer = self._closer(image, windows[0]) if windows else None
        if closer is not None:
            steps.append([closer])
        return steps + [[window] for window in windows[self.windows :]]

    def _closer(
        self,
        image: RGBImage,
        window: tuple[tuple[int, int, int, int], float],
        bounds: tuple[int, int, int, int] | None = None,
    ) -> tuple[tuple[int, int, int, int], float] | None:
        """Return the window looked at CLOSER_ZOOM times closer, or None if it cannot be.

        Inside `bounds` (the region searched; the image by default).
        """
        (x1, y1, x2, y2), scale = window
        closer = min(scale * CLOSER_ZOOM, MAX_WINDOW_ZOOM)
        if closer <= scale * 1.2:
            return None
        inside = bounds or (0, 0, int(image.shape[1]), int(image.shape[0]))
        return _window_around(((x1 + x2) / 2, (y1 + y2) / 2), closer, inside), closer

    def _plates_in(
        self,
        image: RGBImage,
        windows: Sequence[tuple[tuple[int, int, int, int], float]],
        key: int,
        vehicle: BBox,
    ) -> list[tuple[PlateBox, bool]]:
        """Return the plate-shaped lines of some of a vehicle's windows: box, cut by a side.

        A cut line's score is lowered (`CUT_SCORE`), so that where another window sees the
        same line whole, the whole one wins the boxes' merge.
        """
        height, width = int(image.shape[0]), int(image.shape[1])
        return [
            (
                PlateBox(
                    self._plate_box(line.box, width, height),
                    line.score * (CUT_SCORE if line.cut else 1.0),
                    "vehicle",
                    key,
                ),
                line.cut,
            )
            for line in self.lines_in_windows(image, windows)
            if self._plate_shaped(line.box, vehicle.width)
        ]

    def candidate_windows(
        self, image: RGBImage, vehicle: BBox
    ) -> list[tuple[tuple[int, int, int, int], float]]:
        """Return the detector windows (x1, y1, x2, y2 in image pixels, scale) for a vehicle.

        The lower part of the vehicle, scaled to the search width, is searched for bands of
        dense strokes (`candidates.find_candidates`); each band becomes a window of WINDOW
        detector pixels around it, at the scale of `_window_scale`. The `windows` best bands
        come first; then, if it is apart from them, the best band once scores are weighted by
        depth (`Bands.lower_first`): the plate is low on a vehicle, and the dark gaps between
        a lamp's LEDs, a badge or a sticker above it can outscore it (plates/us, tuned there:
        194 of 222 photos exact against 190, none lost).
        """
        assert self.search is not None
        height, width = int(image.shape[0]), int(image.shape[1])
        x1, y1, x2, y2 = self._lower_part(vehicle, width, height)
        zoom = self.search.width / vehicle.width
        gray = _grey(resize(image[y1:y2, x1:x2], *_scaled_size(x2 - x1, y2 - y1, zoom)))
        sx, sy = (x2 - x1) / gray.shape[1], (y2 - y1) / gray.shape[0]
        bands = scored_bands(gray, self.search)
        if bands is None:
            return []
        cands = picked(bands, self.windows, self.search)
        separation = self.search.separation
        for low in picked(bands.lower_first(), 1, self.search) if self.low_window else []:
            if all(low.box.overlap(other.box) <= separation for other in cands):
                cands.append(low)
        out = []
        for cand in cands:
            band = cand.box
            text_px = self.shape.text_height * vehicle.width
            scale = self._window_scale(text_px, band.width * sx)
            centre = (x1 + band.center[0] * sx, y1 + band.center[1] * sy)
            out.append((_window_around(centre, scale, (0, 0, width, height)), scale))
        return out

    def frame_candidate_windows(
        self, image: RGBImage, window: tuple[int, int, int, int]
    ) -> list[tuple[tuple[int, int, int, int], float]]:
        """Return the detector windows (x1, y1, x2, y2 in image pixels, scale) over a frame part.

        A frame gives no plate size: the part is searched for bands of strokes at a few scales
        (its long side FRAME_SEARCH_SIDE or less, then halved while it is at least
        FRAME_SEARCH_MIN), and the best separate bands of every scale become windows, inside
        the part, at the scale that gives their characters — as tall as the band —
        `window_text_px`; the `frame_windows` best that do not look at the same place as a
        better one are kept.
        """
        assert self.search is not None
        x1, y1, x2, y2 = window
        long_side = max(x2 - x1, y2 - y1)
        zoom = min(1.0, FRAME_SEARCH_SIDE / long_side)
        crop = image[y1:y2, x1:x2]
        found: list[Candidate] = []
        while True:
            gray = _grey(resize(crop, *_scaled_size(x2 - x1, y2 - y1, zoom)))
            sx, sy = (x2 - x1) / gray.shape[1], (y2 - y1) / gray.shape[0]
            for cand in find_candidates(gray, self.frame_windows, self.search):
                found.append(Candidate(_placed(cand.box, x1, y1, sx, sy), cand.score))
            zoom /= 2
            if long_side * zoom < FRAME_SEARCH_MIN:
                break
        out: list[tuple[tuple[int, int, int, int], float]] = []
        # Bands close together give windows over the same pixels: each place is looked at once.
        for cand in separate(found, 2 * self.frame_windows, self.search.separation):
            if len(out) >= self.frame_windows:
                break
            band = cand.box
            scale = self._window_scale(band.height, band.width)
            around = _window_around(band.center, scale, window)
            if any(_same_place(around, scale, *other) for other in out):
                continue
            out.append((around, scale))
        return out

    def _window_scale(self, text_px: float, band_w: float) -> float:
        """Return the detector scale of a candidate window.

        Characters of `text_px` image pixels become `window_text_px` tall. In a vehicle they are
        a usual plate's for the vehicle's width, which tells a plate's size better than the
        band's height does (on plates/us the plate's height over the band's varied twice as much
        as over the vehicle's width); over the frame, where nothing else tells it, the band's
        height. The band, stretched to its line of strokes, must fit the window's width.
        """
        shape = self.shape
        usual = shape.window_text_px / max(1.0, text_px)
        # Upscaling a small plate helps the detector, up to a point (blur).
        return min(usual, shape.window_fill * WINDOW[0] / max(1.0, band_w), MAX_WINDOW_ZOOM)

    def lines_in_windows(
        self, image: RGBImage, windows: Sequence[tuple[tuple[int, int, int, int], float]]
    ) -> list[WindowLine]:
        """Return the text lines of (window, scale) detector windows, in image pixels."""
        if not windows:
            return []
        batch = []
        for (x1, y1, x2, y2), scale in windows:
            canvas, _ = self._normalised(image[y1:y2, x1:x2], scale, WINDOW[0], WINDOW[1])
            batch.append(canvas)
        probs = self.session.run(np.ascontiguousarray(np.stack(batch)))[0][:, 0]
        out = []
        for index, (prob, ((x1, y1, x2, y2), scale)) in enumerate(zip(probs, windows, strict=True)):
            used_w = min(WINDOW[0], max(1, round((x2 - x1) * scale)))
            used_h = min(WINDOW[1], max(1, round((y2 - y1) * scale)))
            sx, sy = (x2 - x1) / used_w, (y2 - y1) / used_h
            grow = self.shape.window_grow
            # A line reaching a side of the window that is not the image's may go on outside.
            left = 1.0 if x1 > 0 else -1.0
            right = used_w - 1.0 if x2 < int(image.shape[1]) else used_w + 1.0
            for line in stacked(joined(text_lines(prob[:used_h, :used_w], grow=grow))):
                box = line.box if grow is not None else _trimmed(line.box, *self.shape.trim_px)
                cut = line.box.x1 <= left or line.box.x2 >= right
                out.append(WindowLine(_placed(box, x1, y1, sx, sy), line.score, cut, index))
        return out

    def _lower_part(self, vehicle: BBox, width: int, height: int) -> tuple[int, int, int, int]:
        """Return where a vehicle's plate may be: below `top`, `side` left out at each side."""
        shape = self.shape
        inset = shape.side * vehicle.width
        return _clamped(
            vehicle.x1 + inset,
            vehicle.y1 + shape.top * vehicle.height,
            vehicle.x2 - inset,
            vehicle.y2 + 0.03 * vehicle.height,
            width=width,
            height=height,
        )

    def in_vehicles_tiled(
        self, image: RGBImage, vehicles: Sequence[tuple[int, BBox]]
    ) -> list[PlateBox]:
        """Return the plate-shaped text lines of the whole lower part of each vehicle, tiled."""
        height, width = int(image.shape[0]), int(image.shape[1])
        shape = self.shape
        found: list[PlateBox] = []
        for key, vehicle in vehicles:
            if vehicle.width < MIN_VEHICLE_PX or vehicle.height < MIN_VEHICLE_PX:
                continue
            window = self._lower_part(vehicle, width, height)
            scale = min(1.0, shape.target_px / (shape.plate_height * vehicle.width))
            scale = min(scale, self.vehicle_width / max(1, window[2] - window[0]))
            for box, score in self.lines_in(image, window, scale):
                if self._plate_shaped(box, vehicle.width):
                    plate = self._plate_box(box, width, height)
                    found.append(PlateBox(plate, score, "vehicle", key))
        return found

    def in_frame(
        self, image: RGBImage, region: BBox | None = None, enough: Enough | None = None
    ) -> list[PlateBox]:
        """Return the plate-shaped text lines over the frame (or the region).

        The detector runs on the likeliest windows (`frame_candidate_windows`, then
        `_frame_lines`): on plates/us (tuned there), read in `full_frame` mode, 164 of 222
        photos exact with 4 windows against 163 with tiles over the whole frame at 768 px (the
        `tiled` chain), at about a ninth of the cost (48 against 426 ms per photo for the
        plate search, interleaved on the same photos); 2 windows 143, 6 windows 165; the
        search's first level at 480 or 800 px instead of 640, 149–150. When `enough` says
        none of the plate-shaped lines found is legible, the best FRAME_CLOSER windows are
        looked at again closer (`CLOSER_ZOOM`).
        """
        height, width = int(image.shape[0]), int(image.shape[1])
        if region is None:
            window = (0, 0, width, height)
        else:
            window = _clamped(
                region.x1, region.y1, region.x2, region.y2, width=width, height=height
            )
        windows: list[tuple[tuple[int, int, int, int], float]] = []
        if self.search is None:
            long_side = max(window[2] - window[0], window[3] - window[1])
            scale = min(1.0, self.frame_side / long_side)
            lines = self.lines_in(image, window, scale)
        else:
            windows = self.frame_candidate_windows(image, window)
            lines = [(line.box, line.score) for line in self._frame_lines(image, window, windows)]
        found = self._frame_plates(image, lines)
        # Only where the first look found some plate-shaped text that does not read: on a
        # frame with no text at all (most frames of a plate camera) a closer look cost 1.44
        # times the frame's read and found nothing; gated so, 1.17 (vtest and road frames).
        if windows and found and enough is not None and not enough(found):
            closer = [self._closer(image, each, window) for each in windows[:FRAME_CLOSER]]
            seen = self.lines_in_windows(image, [each for each in closer if each])
            found += self._frame_plates(image, [(ln.box, ln.score) for ln in seen if not ln.cut])
        return merge(found, self.nms_iou)

    def _frame_plates(self, image: RGBImage, lines: Sequence[tuple[BBox, float]]) -> list[PlateBox]:
        """Return the plate-shaped lines found over the frame as plate boxes."""
        height, width = int(image.shape[0]), int(image.shape[1])
        return [
            PlateBox(self._plate_box(box, width, height), score, "frame")
            for box, score in lines
            if self._plate_shaped(box, None)
        ]

    def _frame_lines(
        self,
        image: RGBImage,
        window: tuple[int, int, int, int],
        windows: Sequence[tuple[tuple[int, int, int, int], float]],
    ) -> list[WindowLine]:
        """Return the text lines of the likeliest `windows` over a part of the frame.

        A band's height can underestimate a large plate's characters: its window then holds
        part of the line, cut by the window's side. Each such line is looked at again in a
        window centred on it at WIDER_ZOOM times the scale (one more batch, only when a line
        is cut), and the whole line seen there replaces its part.
        """
        lines = self.lines_in_windows(image, windows)
        wider = self._wider_windows(window, windows, lines)
        if not wider:
            return lines
        whole = [line for line in self.lines_in_windows(image, wider) if not line.cut]
        kept: list[WindowLine] = []
        for line in lines:
            around = [
                other
                for other in whole
                if other.box.contains(line.box.center) and other.box.width >= line.box.width
            ]
            if not line.cut or not around:
                kept.append(line)
                continue
            best = max(around, key=lambda other: other.score)
            if best not in kept:
                kept.append(best)
        return kept

    def _wider_windows(
        self,
        bounds: tuple[int, int, int, int],
        windows: Sequence[tuple[tuple[int, int, int, int], float]],
        lines: Sequence[WindowLine],
    ) -> list[tuple[tuple[int, int, int, int], float]]:
        """Return a wider window around each line cut by its window's side.

        At most as many as there were windows, and none for a line whose centre a whole line
        of another window already holds. Inside `bounds` (the frame or the region).
        """
        out: list[tuple[tuple[int, int, int, int], float]] = []
        for line in lines:
            if not line.cut or len(out) >= len(windows):
                continue
            if any(not other.cut and other.box.contains(line.box.center) for other in lines):
                continue
            scale = windows[line.window][1] * WIDER_ZOOM
            around = _window_around(line.box.center, scale, bounds)
            if not any(_as_box(seen).overlap(_as_box(around)) > 0.8 for seen, _ in out):
                out.append((around, scale))
        return out

    def refine(self, image: RGBImage, box: PlateBox) -> PlateBox | None:
        """Return None: the text finder's box is read as it is.

        Re-detecting the line on a zoomed window around it made reads worse, not better: on the
        plates/us photos whose plate was found, 0.746 exact with it against 0.827 without (0.536
        against 0.545 over the vehicle crops once boxes were shrunk), and it cost a detector run
        per hesitant plate. The reader still averages its crops and asks for a second opinion.
        """
        return None

    def _plate_box(self, line: BBox, width: int, height: int) -> BBox:
        """Return the plate around a text line: the line grown by the shape's margins."""
        dx = self.shape.margin_x * line.width
        dy = self.shape.margin_y * line.height
        return BBox(
            max(0.0, line.x1 - dx),
            max(0.0, line.y1 - dy),
            min(float(width), line.x2 + dx),
            min(float(height), line.y2 + dy),
        )

    def _plate_shaped(self, box: BBox, vehicle_width: float | None) -> bool:
        shape = self.shape
        if box.height < shape.min_height_px:
            return False
        aspect = box.width / box.height
        if not shape.min_aspect <= aspect <= shape.max_aspect:
            return False
        if vehicle_width is None:
            return True
        return shape.min_width * vehicle_width <= box.width <= shape.max_width * vehicle_width


def _tiles(
    canvas: npt.NDArray[np.float32], rows: int, cols: int, tile_h: int, tile_w: int
) -> npt.NDArray[np.float32]:
    """Cut a CHW canvas of rows × cols tiles into a (rows·cols, C, tile_h, tile_w) batch."""
    channels = int(canvas.shape[0])
    cut = canvas.reshape(channels, rows, tile_h, cols, tile_w).transpose(1, 3, 0, 2, 4)
    return cut.reshape(rows * cols, channels, tile_h, tile_w)


def _untiled(probs: ProbMap, rows: int, cols: int) -> ProbMap:
    """Put a batch of rows × cols tile maps back together into one map."""
    tile_h, tile_w = int(probs.shape[1]), int(probs.shape[2])
    joined_map: ProbMap = (
        probs.reshape(rows, cols, tile_h, tile_w)
        .transpose(0, 2, 1, 3)
        .reshape(rows * tile_h, cols * tile_w)
    )
    return np.ascontiguousarray(joined_map)


def _window_around(
    centre: tuple[float, float], scale: float, bounds: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    """Return a WINDOW-sized detector window at `scale` centred on a point, inside `bounds`."""
    left, top, right, bottom = bounds
    win_w, win_h = WINDOW[0] / scale, WINDOW[1] / scale
    x1 = round(min(max(left, centre[0] - win_w / 2), max(left, right - win_w)))
    y1 = round(min(max(top, centre[1] - win_h / 2), max(top, bottom - win_h)))
    return x1, y1, min(right, x1 + max(1, round(win_w))), min(bottom, y1 + max(1, round(win_h)))


def _same_place(
    window: tuple[int, int, int, int], scale: float, other: tuple[int, int, int, int], at: float
) -> bool:
    """Return whether two windows look at mostly the same pixels at about the same scale."""
    similar = max(scale, at) < 2.0 * min(scale, at)
    return similar and _as_box(window).overlap(_as_box(other)) > FRAME_WINDOW_OVERLAP


def _as_box(window: tuple[int, int, int, int]) -> BBox:
    return BBox(*(float(v) for v in window))


def _trimmed(box: BBox, dx: float, dy: float) -> BBox:
    """Return the box with dx, dy taken off each side, never thinner than 2 pixels."""
    dx = min(dx, max(0.0, box.width - 2.0) / 2)
    dy = min(dy, max(0.0, box.height - 2.0) / 2)
    return BBox(box.x1 + dx, box.y1 + dy, box.x2 - dx, box.y2 - dy)


def _placed(box: BBox, x: float, y: float, sx: float, sy: float) -> BBox:
    """Return a box of a scaled window in image pixels (the window's corner at x, y)."""
    return BBox(x + box.x1 * sx, y + box.y1 * sy, x + box.x2 * sx, y + box.y2 * sy)


def _grey(image: RGBImage) -> npt.NDArray[np.uint8]:
    """Return the luma of an RGB image (ITU-R 601 weights), as uint8."""
    weights = np.asarray([0.299, 0.587, 0.114], np.float32)
    luma: npt.NDArray[np.uint8] = (image.astype(np.float32) @ weights).astype(np.uint8)
    return luma


def _scaled_size(width: int, height: int, zoom: float) -> tuple[int, int]:
    return max(8, round(width * zoom)), max(8, round(height * zoom))


def _ceil_32(value: int) -> int:
    return max(32, -(-value // 32) * 32)


def _clamped(
    x1: float, y1: float, x2: float, y2: float, *, width: int, height: int
) -> tuple[int, int, int, int]:
    cx1 = min(max(0, int(x1)), width - 1)
    cy1 = min(max(0, int(y1)), height - 1)
    cx2 = max(cx1 + 1, min(width, math.ceil(x2)))
    cy2 = max(cy1 + 1, min(height, math.ceil(y2)))
    return cx1, cy1, cx2, cy2
