"""Find a few likely plate windows in a vehicle crop from cheap image cues (numpy only).

The text detector costs about 1.4 µs per input pixel on one core: running it over the whole
lower part of a vehicle at a scale where plates read well does not fit the time budget. A
plate's characters are a band of dense dark strokes that fills the whole width of its window
and stops above and below it (a grille's bars go on, a lamp's edge is no stroke, a wheel's
texture is a blob): box filters over a stroke map say where such bands are, for a few sizes,
in a few milliseconds. The best few bands are then confirmed, and boxed, by the text detector
on small windows only (`TextPlateFinder.in_vehicles`).

Dark strokes only: on plates/us, the best two bands held the plate on 92 % of the vehicles
with dark strokes, 88 % with dark and light ones (light characters on a dark plate are rarer,
and the dark gaps between their strokes answer too). The same search, at a few scales, picks
the windows of the full-frame pass (`TextPlateFinder.frame_candidate_windows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vigil_core.types import BBox

type GrayImage = npt.NDArray[np.uint8]
type FloatMap = npt.NDArray[np.float32]

POOL = 3
"""Candidates kept per window asked for before widened parts of one line are merged."""
PER_SIZE = 16
"""Best local maxima kept per band size before separation."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A likely band of plate characters, in the pixels of the image it was searched on."""

    box: BBox
    score: float


@dataclass(frozen=True, slots=True)
class CandidateSearch:
    """How bands of characters are looked for (sizes relative to the searched image's width).

    Tuned on plates/us (the tune half of the photo folders); plates/mixed is held out.
    """

    text_heights: tuple[int, ...] = (8, 12, 16, 21)
    """Heights of the character band tried, in pixels of the search image (see `width`)."""
    aspects: tuple[float, ...] = (3.0, 5.0)
    """Band widths tried, in band heights: a US plate's characters about 3.5, a European's 5-6."""
    width: int = 320
    """Width the vehicle is scaled to before the search (its plate's characters 8-21 px tall)."""
    edge_cap: float = 40.0
    """Strokes darker than this (grey levels) count as one: a black hole is not more text."""
    context: float = 0.5
    """Weight of the stroke density just above or below a band (a grille's bars go on)."""
    stride: int = 2
    """Positions tried every `stride` pixels."""
    separation: float = 0.2
    """Two candidates may share at most this share of the smaller one's area."""
    size_weight: float = 0.5
    """Scores are multiplied by (band height / smallest height) to this power."""
    widen: bool = True
    """Stretch each band to the ends of its line of strokes (`widened`)."""


def stroke_map(gray: GrayImage, cap: float, reaches: tuple[int, ...] = (1, 2, 3)) -> FloatMap:
    """Return how much darker each pixel is than both its left and right neighbours.

    A dark stroke narrower than twice a `reach` answers; a single edge (a lamp, a bumper's
    line) does not, because one side of it is as dark as itself. Capped at `cap` grey levels.
    """
    g = gray.astype(np.float32)
    out = np.zeros_like(g)
    for reach in reaches:
        if 2 * reach >= g.shape[1]:
            break
        left, centre, right = g[:, : -2 * reach], g[:, reach:-reach], g[:, 2 * reach :]
        darker = np.minimum(left - centre, right - centre)
        np.maximum(out[:, reach:-reach], darker, out=out[:, reach:-reach])
    np.minimum(out, np.float32(cap), out=out)
    return out


@dataclass(frozen=True, slots=True)
class Bands:
    """The scored bands of one searched image, before any are picked."""

    rows: npt.NDArray[np.float32]
    """(score, x1, y1, x2, y2) of the best positions of every band size."""
    strokes: FloatMap
    height: int
    """Height of the searched image."""

    def lower_first(self) -> Bands:
        """Return the bands with each score weighted by twice its centre's relative depth.

        A vehicle's plate is low on it (on plates/us its centre at 0.36-0.85 of the vehicle's
        height, median 0.6) while badges, stickers and the dark gaps of a lamp's LEDs are
        higher: weighted so, the top band of the lower half outranks an equal one above it.
        """
        rows = self.rows.copy()
        depth = (rows[:, 2] + rows[:, 4]) / (2.0 * max(1, self.height))
        rows[:, 0] *= 2.0 * depth
        return Bands(rows, self.strokes, self.height)


def find_candidates(
    gray: GrayImage, count: int, search: CandidateSearch | None = None
) -> list[Candidate]:
    """Return up to `count` separate bands of dense vertical strokes, best first.

    `gray` is the searched part of the vehicle at the search scale. A band's score is its
    stroke density — the smallest of its three thirds', so that strokes must fill it from one
    end to the other — less `context` times the density of a band as tall just above or below.
    """
    search = search or CandidateSearch()
    bands = scored_bands(gray, search) if count > 0 else None
    return picked(bands, count, search) if bands is not None else []


def scored_bands(gray: GrayImage, search: CandidateSearch) -> Bands | None:
    """Return the best positions of every band size in `gray`, scored (None: nothing fits)."""
    if gray.ndim != 2:
        return None
    height, width = int(gray.shape[0]), int(gray.shape[1])
    step = max(1, search.stride)
    # Summed over step × step cells: positions and sizes then move by whole cells.
    strokes = stroke_map(gray, search.edge_cap)
    total = _integral(_cells(strokes, step))
    found: list[FloatMap] = []
    for band_px in search.text_heights:
        band = max(1, round(band_px / step))
        for aspect in search.aspects:
            third = max(1, round(aspect * band_px / 3 / step))
            if 3 * third * step >= width or 3 * band * step > height:
                continue
            score = _band_scores(total, band, third, search.context)
            if search.size_weight:
                # Density alone favours small bands inside a line over the whole line.
                score *= np.float32((band_px / search.text_heights[0]) ** search.size_weight)
            found.append(_best_positions(score, band * step, 3 * third * step, step, PER_SIZE))
    if not found:
        return None
    return Bands(np.concatenate(found), strokes, height)


def picked(bands: Bands, count: int, search: CandidateSearch) -> list[Candidate]:
    """Return up to `count` separate bands, best first."""
    if count <= 0:
        return []
    # Without widening, `count` separate bands; with it, more, because parts of one line
    # (split at a dash or a space) become one candidate once stretched.
    pool = count if not search.widen else POOL * count
    kept = [
        Candidate(BBox(float(x1), float(y1), float(x2), float(y2)), float(value))
        for value, x1, y1, x2, y2 in _separate(bands.rows, search.separation, pool)
    ]
    if not search.widen:
        return kept
    widest = [Candidate(widened(bands.strokes, c.box), c.score) for c in kept]
    return _joined(widest, search)[:count]


def separate(candidates: Sequence[Candidate], count: int, separation: float) -> list[Candidate]:
    """Return up to `count` of the candidates, best first, no two sharing more than `separation`.

    Candidates of positive score only (as `find_candidates` returns). Used across searches of
    one image at several scales: a line found at one scale and a part of it at another are one
    candidate, the better scored.
    """
    rows = np.asarray(
        [(c.score, c.box.x1, c.box.y1, c.box.x2, c.box.y2) for c in candidates], np.float64
    ).reshape(-1, 5)
    return [
        Candidate(BBox(float(x1), float(y1), float(x2), float(y2)), float(score))
        for score, x1, y1, x2, y2 in _separate(rows, separation, count)
    ]


def _joined(candidates: list[Candidate], search: CandidateSearch) -> list[Candidate]:
    """Return the candidates with those overlapping a better one merged into it, best first."""
    out: list[Candidate] = []
    for cand in candidates:
        for index, other in enumerate(out):
            if cand.box.overlap(other.box) > search.separation:
                a, b = other.box, cand.box
                union = BBox(min(a.x1, b.x1), min(a.y1, b.y1), max(a.x2, b.x2), max(a.y2, b.y2))
                out[index] = Candidate(union, other.score)
                break
        else:
            out.append(cand)
    return out


def widened(strokes: FloatMap, band: BBox, share: float = 0.35) -> BBox:
    """Return the band stretched along its row to the ends of its strokes (column projection).

    A band is one of a few fixed widths and often covers part of a line of characters: the
    window around it would cut the rest. The columns of its rows, smoothed over a character's
    width, that are at least `share` as dense as the band itself, and joined to it, are the
    line, up to one band's width on either side.
    """
    width = int(strokes.shape[1])
    x1, y1, x2, y2 = int(band.x1), int(band.y1), int(band.x2), int(band.y2)
    reach = max(1, x2 - x1)
    left, right = max(0, x1 - reach), min(width, x2 + reach)
    cols = strokes[y1:y2, left:right].mean(axis=0)
    size = max(1, y2 - y1)
    smooth = np.convolve(cols, np.ones(size, np.float32) / size, mode="same")
    floor = share * float(smooth[x1 - left : x2 - left].mean())
    first, last = x1 - left, x2 - left - 1
    while first > 0 and smooth[first - 1] >= floor:
        first -= 1
    while last < len(smooth) - 1 and smooth[last + 1] >= floor:
        last += 1
    return BBox(float(left + first), band.y1, float(left + last + 1), band.y2)


def _cells(values: FloatMap, step: int) -> FloatMap:
    """Return the sums of step × step cells (the ragged right and bottom edges dropped)."""
    if step == 1:
        return values
    rows, cols = int(values.shape[0]) // step, int(values.shape[1]) // step
    cut = values[: rows * step, : cols * step]
    summed: FloatMap = cut[::step, ::step].copy()
    for dy in range(step):
        for dx in range(step):
            if dy or dx:
                summed += cut[dy::step, dx::step]
    return summed


def _integral(values: FloatMap) -> FloatMap:
    """Return the summed-area table, one row and column of zeros in front."""
    out = np.zeros((values.shape[0] + 1, values.shape[1] + 1), np.float32)
    out[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    return out


def _band_scores(total: FloatMap, band: int, third: int, context: float) -> FloatMap:
    """Return the score of every band of `band` × 3·`third` cells, by its top-left cell."""
    sums = total[band:, third:] - total[:-band, third:]
    sums -= total[band:, :-third]
    sums += total[:-band, :-third]
    sums *= np.float32(1.0 / (band * third))
    rows = int(sums.shape[0])
    cols = int(sums.shape[1]) - 2 * third
    left, middle, right = sums[:, :cols], sums[:, third : third + cols], sums[:, 2 * third :]
    core: FloatMap = np.minimum(np.minimum(left, middle), right)
    whole = left + middle
    whole += right
    whole *= np.float32(1.0 / 3.0)
    near = np.zeros_like(whole)
    if rows > band:
        near[band:] = whole[:-band]  # the band just above
        np.maximum(near[:-band], whole[band:], out=near[:-band])  # and just below
    near *= np.float32(context)
    core -= near
    return core


def _best_positions(score: FloatMap, band: int, width: int, step: int, count: int) -> FloatMap:
    """Return the `count` best local maxima of one score map as rows (score, x1, y1, x2, y2).

    Local maxima only (no lower than their 8 neighbours): the neighbours of one peak would
    crowd the list, and shifted by a cell or two some would pass the separation test.
    """
    flat = score.ravel()
    index = np.flatnonzero((score >= _max_3x3(score)) & (score > 0))
    top = min(count, int(index.size))
    out = np.empty((top, 5), np.float32)
    if top == 0:
        return out
    if index.size > top:
        index = index[np.argpartition(flat[index], -top)[-top:]]
    rows, cols = np.unravel_index(index, score.shape)
    out[:, 0] = flat[index]
    out[:, 1] = cols * step
    out[:, 2] = rows * step
    out[:, 3] = out[:, 1] + width
    out[:, 4] = out[:, 2] + band
    return out


def _max_3x3(score: FloatMap) -> FloatMap:
    """Return the largest value of each 3 × 3 neighbourhood (separable, edges clamped)."""
    rows = score.copy()
    np.maximum(rows[:, 1:], score[:, :-1], out=rows[:, 1:])
    np.maximum(rows[:, :-1], score[:, 1:], out=rows[:, :-1])
    out = rows.copy()
    np.maximum(out[1:], rows[:-1], out=out[1:])
    np.maximum(out[:-1], rows[1:], out=out[:-1])
    return out


def _separate(
    rows: npt.NDArray[np.floating], separation: float, count: int
) -> npt.NDArray[np.floating]:
    """Return up to `count` positive rows, best first, no two sharing more than `separation`.

    Greedy: the best row is kept, the rows sharing more than `separation` of the smaller one's
    area with it are dropped, and so on.
    """
    dtype = rows.dtype
    rows = rows[rows[:, 0] > 0]
    rows = rows[np.argsort(-rows[:, 0], kind="stable")]
    kept: list[npt.NDArray[np.floating]] = []
    while rows.shape[0] and len(kept) < count:
        best = rows[0]
        kept.append(best)
        iw = np.minimum(rows[:, 3], best[3]) - np.maximum(rows[:, 1], best[1])
        ih = np.minimum(rows[:, 4], best[4]) - np.maximum(rows[:, 2], best[2])
        area = (rows[:, 3] - rows[:, 1]) * (rows[:, 4] - rows[:, 2])
        smaller = np.maximum(np.minimum(area, (best[3] - best[1]) * (best[4] - best[2])), 1e-6)
        shared = np.clip(iw, 0, None) * np.clip(ih, 0, None) / smaller
        # The best row shares all of itself: dropped whatever `separation` allows.
        rows = rows[1:][shared[1:] <= separation]
    return np.asarray(kept, dtype).reshape(-1, 5)
