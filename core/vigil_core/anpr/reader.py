"""Read the plates on one frame: find boxes, OCR several crops of each, decode, reject."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
import math
import threading
import time
import weakref

import numpy as np
import numpy.typing as npt
from PIL import Image

from vigil_core.anpr.decode import FLAT, SlotDecoder, SlotProbs, SlotRead
from vigil_core.anpr.detect import BoxFinder, Enough, PlateBox, merge
from vigil_core.anpr.ocr import CctOcr, RapidOcr
from vigil_core.anpr.rows import TWO_ROW_MAX_ASPECT, side_by_side, split_rows
from vigil_core.plates.normalize import PlateFormat, canonical, resolve_text
from vigil_core.types import BBox, RGBImage

type CropVariant = tuple[float, float, float]
"""(horizontal pad, vertical pad, rotation in degrees) of one OCR crop, pads relative to the box."""

DEFAULT_VARIANTS: tuple[CropVariant, ...] = (
    (0.08, 0.15, 0.0),
    (0.03, 0.05, 0.0),
    (0.13, 0.25, 0.0),
    (0.08, 0.15, -4.0),
    (0.08, 0.15, 4.0),
)
"""OCR crops averaged per plate, best first: the detector's box is loose by ±10 %, and one crop
that cuts a character or shows a frame bolt misreads where the average of three does not."""

TWO_ROW_MARGINS = (0.15, 0.25, 0.35)
"""Margins (of the row height) of the side-by-side crops averaged for a two-row plate."""
SECOND_OPINION_CROP: tuple[float, float] = (0.03, 0.08)
UNCERTAIN_RUNNER_UP = 0.05
"""A slot whose second choice has this probability makes the read uncertain."""
UNCERTAIN_CONFIDENCE = 0.9
LEGIBLE_ENOUGH = 0.9
"""Mean slot probability on one crop at which a vehicle's plate search may stop."""
ESCALATE_MIN_CONFIDENCE = 0.5
"""Mean slot probability of the first crop below which a box is dropped without more crops.

On the 339 labelled photos this skipped about a third of the re-detections and left the
exact-plate accuracy unchanged."""


@dataclass(frozen=True, slots=True)
class PlateObservation:
    """One plate read on one frame."""

    box: PlateBox
    read: SlotRead
    crop: RGBImage = field(repr=False, compare=False)
    """The plate with a margin, for the crop store where the privacy mode allows one."""

    @property
    def text(self) -> str:
        """Return the canonical plate text."""
        return self.read.text

    @property
    def score(self) -> float:
        """Return how much this looks like a correctly read plate (0–1)."""
        return self.read.confidence * math.sqrt(max(self.box.score, 0.0))

    def __repr__(self) -> str:
        """Keep the plate out of logs and tracebacks."""
        return f"PlateObservation(score={self.score:.2f}, source={self.box.source})"


@dataclass(slots=True)
class StageTimes:
    """Wall-clock milliseconds spent per reading stage (the benchmark reads these)."""

    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Time the enclosed block under `stage`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage].append((time.perf_counter() - started) * 1000.0)


class _CropMemo(threading.local):
    """The slot probabilities of the crops read on one thread's latest image.

    The image is held weakly and compared by identity: a new frame (or a freed one whose memory
    a new frame reuses) starts an empty memo.
    """

    def __init__(self) -> None:
        self._image: weakref.ref[RGBImage] | None = None
        self._probs: dict[tuple[BBox, CropVariant], SlotProbs] = {}

    def on(self, image: RGBImage) -> dict[tuple[BBox, CropVariant], SlotProbs]:
        """Return the memo of `image`, emptied if it is not the image of the last call."""
        if self._image is None or self._image() is not image:
            self._image = weakref.ref(image)
            self._probs = {}
        return self._probs


class PlateReader:
    """Find and read plates with shared models and one camera's settings."""

    def __init__(
        self,
        finder: BoxFinder,
        decoder: SlotDecoder,
        *,
        cct: CctOcr | None,
        rapid: RapidOcr | None = None,
        variants: Sequence[CropVariant] = DEFAULT_VARIANTS[:3],
        max_plates: int = 4,
        min_confidence: float = 0.6,
        refine: bool = True,
        times: StageTimes | None = None,
    ) -> None:
        """Keep the shared finder and recognisers; `cct` None means rapidocr alone."""
        if cct is None and rapid is None:
            raise ValueError("at least one OCR is needed")
        self.finder = finder
        self.decoder = decoder
        self.cct = cct
        self.rapid = rapid
        self.variants = tuple(variants) or DEFAULT_VARIANTS[:1]
        self.max_plates = max_plates
        self.min_confidence = min_confidence
        self.refine = refine
        self.times = times
        self._memo = _CropMemo()

    @property
    def formats(self) -> tuple[PlateFormat, ...]:
        """Return the formats the decoder expects."""
        return self.decoder.formats

    def find(
        self,
        image: RGBImage,
        vehicles: Sequence[tuple[int, BBox]] = (),
        *,
        full_frame: bool = False,
        region: BBox | None = None,
    ) -> list[PlateBox]:
        """Return candidate plate boxes from vehicle crops and/or the full-frame pass."""
        boxes: list[PlateBox] = []
        if vehicles:
            with self._measure("plate_detect_vehicle"):
                boxes += self.finder.in_vehicles(image, vehicles, self._legible_in(image))
        if full_frame:
            with self._measure("plate_detect_frame"):
                boxes += self.finder.in_frame(image, region, self._legible_in(image))
        return merge(boxes, self.finder.nms_iou)[: self.max_plates]

    def _legible_in(self, image: RGBImage) -> Enough | None:
        """Return the test a finder searching in steps stops on: a box legible on one crop.

        Its crops are the first reads' (`_CropMemo`): asking costs nothing more.
        """
        if self.cct is None:
            return None

        def enough(boxes: Sequence[PlateBox]) -> bool:
            if not boxes:
                return False
            probes = self._cct_probs(image, boxes, self.variants[:1])
            return float(probes.max(axis=2).mean(axis=1).max()) >= LEGIBLE_ENOUGH

        return enough

    def read(
        self,
        image: RGBImage,
        vehicles: Sequence[tuple[int, BBox]] = (),
        *,
        full_frame: bool = False,
        region: BBox | None = None,
    ) -> list[PlateObservation]:
        """Return the accepted reads on one frame, best first (one per plate box)."""
        return self.read_boxes(
            image, self.find(image, vehicles, full_frame=full_frame, region=region)
        )

    def read_boxes(self, image: RGBImage, boxes: Sequence[PlateBox]) -> list[PlateObservation]:
        """OCR and decode the given boxes; drop reads that do not look like plates."""
        if not boxes:
            return []
        reads = (
            self._cct_reads(image, boxes)
            if self.cct is not None
            else self._rapid_reads(image, boxes)
        )
        accepted = [(box, read) for box, read in reads if self.accepts(read)]
        if self.finder.per_vehicle > 1:
            accepted = _best_read_per_plate(accepted)
        out = [
            PlateObservation(box, read, plate_crop(image, box.bbox, 0.15, 0.3))
            for box, read in accepted
        ]
        out.sort(key=lambda obs: obs.score, reverse=True)
        return out

    def accepts(self, read: SlotRead) -> bool:
        """Return whether a read is confident and long enough to be a plate."""
        floor = max(self.min_confidence, self.finder.min_read_confidence)
        return len(read.text) >= 2 and read.confidence >= floor

    def _cct_reads(
        self, image: RGBImage, boxes: Sequence[PlateBox]
    ) -> list[tuple[PlateBox, SlotRead]]:
        # One crop per box first: most plates read cleanly on it, and the other crops, the
        # re-detection and the second opinion are spent only on the ones that hesitate.
        probes = self._cct_probs(image, boxes, self.variants[:1])
        reads: dict[int, tuple[PlateBox, SlotRead]] = {}
        for ranked in _ranked_per_plate(boxes, probes, self.finder.per_vehicle):
            # The most legible box of a plate gets the escalation (more crops, a second
            # opinion); its runners-up are read from their first crop only. On plates/us with
            # the text finder: 0.771 exact against 0.776 when all three escalated, for half the
            # reading time per vehicle (tuned there).
            first, *others = ranked
            reads[first] = self._cct_read(image, boxes[first], probes[first])
            for index in others:
                reads[index] = (boxes[index], self._first_crop_read(probes[index]))
        return [reads[index] for index in sorted(reads)]

    def _first_crop_read(self, probe: SlotProbs) -> SlotRead:
        """Decode a box from its first crop alone (no more crops, no second opinion)."""
        with self._measure("decode"):
            read = self.decoder.decode(probe)
            self._learn(probe, None, 0.0)
        return read

    def _cct_read(
        self, image: RGBImage, first: PlateBox, probe: SlotProbs
    ) -> tuple[PlateBox, SlotRead]:
        """Read one box from its first crop, escalating only when the OCR hesitates.

        Escalation re-detects the plate on a zoomed band, averages every crop variant and, if
        the OCR still hesitates, asks rapidocr for a second opinion.
        """
        box, probs = first, probe
        # A box the OCR cannot read at all on its first crop is not a plate (a grille, a sign):
        # the other crops, the re-detection and a second opinion would not make it one.
        hopeless = float(probe.max(axis=1).mean()) < ESCALATE_MIN_CONFIDENCE
        if _uncertain(probe) and not hopeless:
            if self.refine:
                with self._measure("plate_refine"):
                    refined = self.finder.refine(image, first)
                if refined is not None:
                    box = refined
            probs = self._cct_probs(image, [box], self.variants)[0]
        hint: tuple[str, float] | None = None
        if self.rapid is not None and not hopeless and _uncertain(probs):
            with self._measure("second_opinion"):
                hint = self.rapid.read(plate_crop(image, box.bbox, *SECOND_OPINION_CROP))
        with self._measure("decode"):
            text, confidence = hint if hint is not None else (None, 0.0)
            read = self.decoder.decode(probs, text, confidence)
            self._learn(probs, text, confidence)
        if box.bbox.width < TWO_ROW_MAX_ASPECT * box.bbox.height:
            two_rows = self._two_row_read(image, box)
            if two_rows is not None and two_rows.confidence > read.confidence:
                read = two_rows
        return box, read

    def _two_row_read(self, image: RGBImage, box: PlateBox) -> SlotRead | None:
        """Read a squarish box as two rows side by side; None when it has one row."""
        assert self.cct is not None
        with self._measure("two_rows"):
            rows = split_rows(image, box.bbox)
            if rows is None:
                return None
            size = (self.cct.width, self.cct.height)
            crops = [side_by_side(image, rows, margin, size) for margin in TWO_ROW_MARGINS]
            probs = self.cct.probabilities(crops).mean(axis=0, dtype=np.float32)
            return self.decoder.decode(probs)

    def _learn(self, probs: SlotProbs, hint: str | None, hint_confidence: float) -> None:
        """Count the format of the read as the OCR alone saw it (the prior must not feed itself)."""
        learner = self.decoder.learner
        if learner is not None:
            flat = self.decoder.decode(probs, hint, hint_confidence, table=FLAT)
            if self.accepts(flat):
                learner.observe(flat.text, flat.confidence)

    def _cct_probs(
        self, image: RGBImage, boxes: Sequence[PlateBox], variants: Sequence[CropVariant]
    ) -> npt.NDArray[np.float32]:
        """Return each box's slot probabilities, averaged over the crop variants.

        A crop read once on this image is not read again: the search's legibility test, the
        first read and the escalation ask for the same crops (`_CropMemo`).
        """
        assert self.cct is not None
        size = (self.cct.width, self.cct.height)
        memo = self._memo.on(image)
        keys = [(box.bbox, variant) for box in boxes for variant in variants]
        missing = [key for key in dict.fromkeys(keys) if key not in memo]
        if missing:
            with self._measure("ocr"):
                crops = [
                    plate_crop(image, bbox, px, py, angle, size=size)
                    for bbox, (px, py, angle) in missing
                ]
                memo.update(zip(missing, self.cct.probabilities(crops), strict=True))
        probs = np.stack([memo[key] for key in keys])
        shaped = probs.reshape(len(boxes), len(variants), *probs.shape[1:])
        averaged: npt.NDArray[np.float32] = shaped.mean(axis=1, dtype=np.float32)
        return averaged

    def _rapid_reads(
        self, image: RGBImage, boxes: Sequence[PlateBox]
    ) -> list[tuple[PlateBox, SlotRead]]:
        assert self.rapid is not None
        reads: list[tuple[PlateBox, SlotRead]] = []
        for box in boxes:
            with self._measure("ocr"):
                text, confidence = self.rapid.read(
                    plate_crop(image, box.bbox, *SECOND_OPINION_CROP)
                )
            with self._measure("decode"):
                resolved = resolve_text(canonical(text), self.formats) if self.formats else None
                final = resolved.text if resolved is not None else canonical(text)
                fmt = resolved.format if resolved is not None else None
                reads.append((box, SlotRead(final, confidence, (confidence,) * len(final), fmt)))
        return reads

    @contextmanager
    def _measure(self, stage: str) -> Iterator[None]:
        if self.times is None:
            yield
        else:
            with self.times.measure(stage):
                yield


def _ranked_per_plate(
    boxes: Sequence[PlateBox], probes: npt.NDArray[np.float32], count: int = 1
) -> list[list[int]]:
    """Return the indexes of the boxes to read: each plate's `count` most legible, best first.

    A vehicle carries one plate at the back (or front); its crop may also show a sticker, a
    dealer's name or the next car's plate. Over the frame, a line and its parts (AB-123 and CD of
    AB-123-CD: the finder keeps both) are one plate: a box lying inside another competes with
    it, or each part would be read, and voted on, as a plate of its own. With more than one box
    per plate, boxes the OCR cannot read at all on their first crop are left out.
    """
    ranked: dict[tuple[str, int], list[tuple[float, int]]] = defaultdict(list)
    for index, box in enumerate(boxes):
        legible = float(probes[index].max(axis=1).mean())
        if count > 1 and legible < ESCALATE_MIN_CONFIDENCE:
            continue
        # The most legible, and the larger of a line and its part (AB-123 of AB-123-CD).
        ranked[_plate_group(boxes, index)].append((legible * math.sqrt(box.bbox.area), index))
    out = []
    for candidates in ranked.values():
        candidates.sort(key=lambda item: item[0], reverse=True)
        out.append([index for _, index in candidates[:count]])
    return sorted(out)


def _best_read_per_plate(
    reads: Sequence[tuple[PlateBox, SlotRead]],
) -> list[tuple[PlateBox, SlotRead]]:
    """Return each plate's best read only: confidence × the box's size to the ¼.

    The size's weak weight keeps a whole line ahead of its equally confident part.
    """
    boxes = [box for box, _ in reads]
    best: dict[tuple[str, int], tuple[float, int]] = {}
    for index, (box, read) in enumerate(reads):
        group = _plate_group(boxes, index)
        weight = read.confidence * box.bbox.area**0.25
        if group not in best or weight > best[group][0]:
            best[group] = (weight, index)
    return [reads[i] for i in sorted(index for _, index in best.values())]


NESTED = 0.8
"""Share of a box's area inside another frame box above which it is a part of it."""


def _plate_group(boxes: Sequence[PlateBox], index: int) -> tuple[str, int]:
    """Return which plate box `index` may be: its vehicle's, or the largest frame box holding it."""
    vehicle = boxes[index].vehicle
    if vehicle is not None:
        return ("vehicle", vehicle)
    inner = boxes[index].bbox
    outer = index
    for other, box in enumerate(boxes):
        if box.vehicle is not None or box.bbox.area <= boxes[outer].bbox.area:
            continue
        b = box.bbox
        overlap = max(0.0, min(inner.x2, b.x2) - max(inner.x1, b.x1)) * max(
            0.0, min(inner.y2, b.y2) - max(inner.y1, b.y1)
        )
        if overlap >= NESTED * inner.area:
            outer = other
    return ("frame", outer)


MAIN_PLATE_MIN_CONFIDENCE = 0.8
"""Reads at least this confident compete for the frame's main plate (any read if none is)."""


def main_plate(
    reads: Sequence[PlateObservation],
    width: int,
    height: int,
    vehicles: Sequence[BBox] = (),
) -> PlateObservation | None:
    """Return the plate a frame is about: the largest, most central confident one.

    A photo of a car (or a camera framed on the vehicle in front) shows other cars' plates too;
    the one meant is the nearest (largest) and centred. Weight: confidence × the plate's size
    (square root of its area, relative to the frame's height) × (1 − half its distance from the
    centre, 1 at a corner). Of a whole plate and a part of it read alone, the whole is larger.
    A plate read twice (see `_one_read_per_plate`) competes with its most confident read.
    With the frame's `vehicles`, reads on a vehicle (their centre inside its box) come first:
    text read on a sign or a wall is not a vehicle's plate, however large (on plates/us, tuned
    there: 1 more of 222 photos, none lost); reads off every vehicle count when none is on
    one.
    """
    if not reads:
        return None
    on_vehicles = [
        r for r in reads if any(vehicle.contains(r.box.bbox.center) for vehicle in vehicles)
    ]
    reads = on_vehicles or reads
    confident = [r for r in reads if r.read.confidence >= MAIN_PLATE_MIN_CONFIDENCE] or list(reads)

    def weight(obs: PlateObservation) -> float:
        cx, cy = obs.box.bbox.center
        off = math.hypot((cx - width / 2) / (width / 2), (cy - height / 2) / (height / 2))
        size = math.sqrt(obs.box.bbox.area) / height
        return obs.read.confidence * size * (1.0 - 0.5 * off / math.sqrt(2))

    return max(_one_read_per_plate(confident), key=weight)


SAME_PLATE_WIDTH = 0.6
"""Width ratio above which two boxes, one's centre inside the other, are one plate (a part of a
line is narrower)."""


def _one_read_per_plate(reads: Sequence[PlateObservation]) -> list[PlateObservation]:
    """Return the most confident read of each plate read more than once.

    A plate found in its vehicle's crop and over the frame, with boxes too different to merge
    (the text finder's are looser at the crop's smaller scale), is read twice; the looser box
    must not win on size with the worse read. On plates/us (tuned there): 0.743 → 0.775 exact.
    A two-row plate's pair replaces one of its rows read more confidently (`_rows_of`). A wider
    box around a more confident read that reads no more characters is no whole line of which
    that read is a part (`_loose_around`): it goes.
    """
    kept: list[PlateObservation] = []
    for obs in sorted(reads, key=lambda r: r.read.confidence, reverse=True):
        same = [i for i, other in enumerate(kept) if _same_plate(obs.box.bbox, other.box.bbox)]
        if not same:
            if not any(_loose_around(obs, other) for other in kept):
                kept.append(obs)
        elif len(same) == 1 and _rows_of(obs, kept[same[0]]):
            kept[same[0]] = obs
    return kept


def _loose_around(wide: PlateObservation, tight: PlateObservation) -> bool:
    """Return whether a read is a loose box around a more confident one, not its whole line.

    The text finder joins a plate's line with a neighbour (a sticker, a bolt, a frame's edge);
    the joined box holds the plate and is larger, so it would win the frame on size, while the
    OCR, squeezing more into its input, reads fewer characters. A whole line read around its
    part reads more characters than the part (AB123CD around AB123). Called with `tight` at
    least as confident as `wide` (plates/us, tuned there: one photo more, none lost).
    """
    outer, inner = wide.box.bbox, tight.box.bbox
    return (
        outer.width > inner.width
        and outer.contains(inner.center)
        and len(wide.text) <= len(tight.text)
    )


def _rows_of(pair: PlateObservation, row: PlateObservation) -> bool:
    """Return whether a read is a two-row plate's whole over one of its rows.

    The pair's box is squarish (a box the reader splits into rows), the row's centre lies in its
    upper or lower part, not its middle (a looser box of one line is centred on it), and the
    pair's text holds all of the row's and more: a row read more confidently than its plate must
    not stand for it (rendered plates, tuned there: one two-row plate more; plates/us and
    plates/mixed unchanged).
    """
    whole, part = pair.box.bbox, row.box.bbox
    if whole.width >= TWO_ROW_MAX_ASPECT * whole.height or part.height >= 0.7 * whole.height:
        return False
    off_middle = abs((part.center[1] - whole.y1) / whole.height - 0.5) > 0.15
    return off_middle and len(pair.text) > len(row.text) and row.text in pair.text


def _same_plate(a: BBox, b: BBox) -> bool:
    narrow, wide = sorted((a.width, b.width))
    if narrow < SAME_PLATE_WIDTH * wide:
        return False
    return a.contains(b.center) or b.contains(a.center)


def _uncertain(probs: SlotProbs) -> bool:
    """Return whether a slot hesitates or the whole read is weak."""
    ranked = np.sort(probs, axis=1)
    return bool(
        (ranked[:, -2] > UNCERTAIN_RUNNER_UP).any() or ranked[:, -1].mean() < UNCERTAIN_CONFIDENCE
    )


def plate_crop(
    image: RGBImage,
    box: BBox,
    pad_x: float,
    pad_y: float,
    angle: float = 0.0,
    *,
    size: tuple[int, int] | None = None,
) -> RGBImage:
    """Return the box grown by (pad_x, pad_y) of its size, rotated by `angle`, resized to `size`.

    Without rotation the crop is clamped to the frame (no invented border); a rotated crop
    samples around the box centre and lets the corners fall outside.
    """
    height, width = int(image.shape[0]), int(image.shape[1])
    w = box.width * (1.0 + 2.0 * pad_x)
    h = box.height * (1.0 + 2.0 * pad_y)
    cx, cy = box.center
    if angle == 0.0:
        x1 = int(max(0, math.floor(cx - w / 2)))
        y1 = int(max(0, math.floor(cy - h / 2)))
        x2 = int(min(width, math.ceil(cx + w / 2)))
        y2 = int(min(height, math.ceil(cy + h / 2)))
        crop = image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
        if size is None:
            return np.ascontiguousarray(crop)
        pil = Image.fromarray(np.ascontiguousarray(crop))
        return np.asarray(pil.resize(size, Image.Resampling.BILINEAR))
    out_w, out_h = size or (max(1, round(w)), max(1, round(h)))
    # Sample a margin around the rotated rectangle from a sub-image, not the whole frame.
    reach = math.hypot(w, h) / 2 + 2
    sx1, sy1 = int(max(0, cx - reach)), int(max(0, cy - reach))
    sx2, sy2 = int(min(width, cx + reach)), int(min(height, cy + reach))
    sub = Image.fromarray(np.ascontiguousarray(image[sy1:sy2, sx1:sx2]))
    rad = math.radians(angle)
    cos, sin = math.cos(rad), math.sin(rad)
    ax, ay = w / out_w, h / out_h
    # Output (u, v) → input: centre + R · ((u, v) − out_centre) · scale, in sub-image pixels.
    a, b = cos * ax, -sin * ay
    d, e = sin * ax, cos * ay
    c = (cx - sx1) - a * out_w / 2 - b * out_h / 2
    f = (cy - sy1) - d * out_w / 2 - e * out_h / 2
    warped = sub.transform(
        (out_w, out_h), Image.Transform.AFFINE, (a, b, c, d, e, f), Image.Resampling.BILINEAR
    )
    return np.asarray(warped)
