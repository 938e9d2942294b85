"""The learned normal view of a camera and the per-frame scores measured against it.

Every feature is a ratio or a correlation, so a global change of brightness or contrast (dusk,
dawn, the switch to a grey infrared picture) leaves the scores where they were:

- obstruction: share of the view whose structure is gone (its edges no longer match the
  reference) *and* that became flat, blurred or dark, as a cover close to the lens makes it —
  unless what replaced it still holds sharp detail somewhere (a camera turned to face a nearby
  wall: flat plaster between sharp cracks and edges is a new view, only dark cells cover it);
- defocus: loss of fine detail in the cells that still show the reference structure;
- orientation: share of the reliable cells whose edges no longer match the reference while
  still showing a sharp, structured picture (another view, not a cover).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import math

import numpy as np

from .features import (
    CELLS,
    CellMask,
    Cells,
    Floats,
    FrameFeatures,
    Layout,
    cell_ncc,
    centre_rows,
)

STRUCTURE_STD = 6.0
"""Baseline grey-level deviation a cell needs to count as structured (not sky, wall, asphalt)."""
SHARP_MIN_STD = 3.0
"""Current deviation under which a cell's sharpness is noise and is not measured."""
MIN_SHARE = 0.3
"""Scores are shares of at least this much of the view, so a few structured cells never make
a 'large part' on their own (a flat parking lot with two painted lines)."""
FLAT_RATIO = 0.3
"""Cell contrast (std over mean + 10) under this fraction of its baseline counts as flattened."""
BLUR_RATIO = 0.5
BLUR_SCENE_RATIO = 0.4
"""A blurred cell has lost half its own sharpness and is under 0.4 of the scene's typical one:
new content after a camera move keeps a normal sharpness, a cover close to the lens does not
(measured on the cells that stopped matching: 92 % of the bubble-wrap ones, 2-22 % after a
shift, rotation or zoom of the shared clips)."""
DARK_RATIO = 0.3
DARK_LEVEL = 40.0
"""A cell counts as darkened under DARK_RATIO of its recent brightness and under DARK_LEVEL."""
LIGHT_TAU_S = 5.0
"""Brightness follows faster than structure: a 30 s dusk ramp must not look like a hand."""
RELIABILITY_TAU_S = 30.0
COVER_NCC = 0.5
"""A covered cell has also lost the reference's edges (a grey infrared picture keeps them)."""
CHANGED_NCC = 0.3
"""A cell whose edges correlate less than this with the reference shows something else."""
MISMATCH_LEARN = 0.1
"""Cells that do not match the reference right now (a passing car) learn at a tenth of the rate,
so transient objects stay out of the baseline while lasting changes still enter it slowly."""
DEFOCUS_QUANTILE = 0.75
"""Defocus scores the sharpness ratio three quarters of the cells stay under: it is global."""
WEBER_OFFSET = 10.0
NEW_VIEW_SHARPNESS = 0.6
"""The sharpest tenth of the cells that stopped matching, at 0.6 of the scene's typical sharpness
or more (median of the last frames), makes the change a new view rather than a cover: a cover
close to the lens is out of focus everywhere. Measured: the bubble wrap of tamper_occlusion.mp4
at most 0.39; a wall, a floor and paving the camera was turned to (built from the shared clips,
tests/core/test_tamper_views.py) 0.79 to 3.7, paving enlarged 3.9 times (so soft) 0.69."""
NEW_VIEW_MIN_LOST = 0.3
"""Lost cells weighing less than this share of the view move the obstruction score by less than
that whatever they are: the new-view check is skipped (on every frame it cost a third more)."""
NEW_VIEW_FRAMES = 5
"""The sharpness of the changed cells is judged on its median over the last frames measured."""
NEW_VIEW_MIN_SHARE = 0.05
"""Share of the view the sharpness of the changed cells must be measurable on."""


@dataclass(frozen=True, slots=True)
class ViewScores:
    """Scores (0-1) of one frame against the learned view."""

    obstruction: float
    defocus: float
    orientation: float
    structured: float
    """Share of the view with enough structure to judge defocus and orientation."""
    match: float
    """Median edge correlation of the reliable cells with the reference (1 = same view)."""


class ViewModel:
    """Per-cell baselines of one camera's view, adapting slowly while nothing is wrong."""

    def __init__(self, layout: Layout, valid: CellMask, *, adapt_s: float) -> None:
        """Start empty: the first frame becomes the reference."""
        self.layout = layout
        self._valid = valid
        self._valid_count = max(1, int(valid.sum()))
        self._adapt_s = adapt_s
        self.frames = 0
        self._ncc: Cells | None = None
        self._mean = np.zeros(valid.shape, dtype=np.float32)
        self._light = np.zeros_like(self._mean)
        self._std = np.zeros_like(self._mean)
        self._log_sharp = np.zeros_like(self._mean)
        self._reliability = np.ones_like(self._mean)
        edge_pixels = (layout.cell_h // 2) * (layout.cell_w // 2)
        # The reference edges, kept centred per cell (the correlation only needs them so).
        self._edges: Floats = np.zeros((CELLS, edge_pixels), dtype=np.float32)
        self._centred: Floats = self._edges
        self._ref = self._derive()
        self._sharpest: deque[float] = deque(maxlen=NEW_VIEW_FRAMES)

    def reset(self) -> None:
        """Forget the view: the next frame becomes the new reference."""
        self.frames = 0
        self._ncc = None
        self._sharpest.clear()

    def score(self, feats: FrameFeatures) -> ViewScores:
        """Return the frame's scores against the learned view."""
        if self.frames == 0:
            self._init(feats)
        ref = self._ref
        self._centred = centre_rows(feats.edges)
        ncc = cell_ncc(self._centred, self._edges, ref.edges_norm)
        self._ncc = ncc
        log_sharp = np.log(feats.sharpness + 1e-6)
        covered, flat_dark = self._covered(feats, ncc, log_sharp)
        changed = ref.structured & (ncc < CHANGED_NCC) & ~covered
        total = max(ref.weight_sum + float(flat_dark.sum()), ref.floor)
        cover = (float(ref.weight[covered].sum()) + float(flat_dark.sum())) / total
        moved = float(ref.weight[changed].sum()) / total
        if cover >= moved:
            # A cover explains most of what changed; the rest is what still shows around it.
            obstruction, orientation = cover, moved
        else:
            # Another view: its flat or soft parts are new content, not a cover.
            obstruction, orientation = cover * cover / moved, moved + cover
        reliable = ncc[ref.reliable]
        return ViewScores(
            obstruction=min(1.0, obstruction),
            defocus=self._defocus(feats, ref.structured & ~covered, log_sharp),
            orientation=min(1.0, orientation),
            structured=ref.structured_share,
            match=_quantile(reliable, 0.5) if reliable.size else 1.0,
        )

    def _covered(
        self, feats: FrameFeatures, ncc: Cells, log_sharp: Cells
    ) -> tuple[CellMask, CellMask]:
        """Return the structured cells that look covered, and the flat cells that went dark."""
        ref = self._ref
        dark = (feats.mean < ref.dark_level) & (feats.mean < DARK_LEVEL)
        lost = ref.structured & (ncc < COVER_NCC)
        # Only when enough of the view is lost does it matter whether it is a new view.
        weight = float(ref.weight[lost].sum())
        many = weight >= NEW_VIEW_MIN_LOST * max(ref.weight_sum, ref.floor)
        if many and self._sharp_view(feats, lost & ~_near(ref.structured & ~lost), log_sharp):
            # Another view: its flat or soft parts are its own (plaster between cracks).
            return lost & dark, ref.flat & dark
        flat = feats.std < ref.flat_contrast * (feats.mean + WEBER_OFFSET)
        blurred = log_sharp < ref.blur_log_sharp
        # A flat cell (wall, sky) can only be seen covered when it goes dark.
        return lost & (flat | blurred | dark), ref.flat & dark

    def _sharp_view(self, feats: FrameFeatures, lost: CellMask, log_sharp: Cells) -> bool:
        """Return whether the cells that lost the reference show sharp detail somewhere.

        `lost` leaves out the cells beside ones still showing the reference: at the edge of a
        cover that hides part of the view, a cell holds both, and its sharpness is the scene's.
        """
        measurable = lost & (feats.std >= SHARP_MIN_STD)
        if float(measurable.sum()) < NEW_VIEW_MIN_SHARE * self._valid_count:
            return False
        relative = log_sharp[measurable] - self._ref.scene_log_sharp
        # The median of the last few frames: one frame of a new view can dip (motion, noise).
        self._sharpest.append(_quantile(relative, 0.9))
        recent = sorted(self._sharpest)
        return recent[len(recent) // 2] >= math.log(NEW_VIEW_SHARPNESS)

    def _defocus(self, feats: FrameFeatures, candidates: CellMask, log_sharp: Cells) -> float:
        """Return 1 - the sharpness ratio that three quarters of the measurable cells stay under."""
        measurable = candidates & (feats.std >= SHARP_MIN_STD)
        ratios = np.exp(log_sharp[measurable] - self._log_sharp[measurable])
        if ratios.size < self._ref.floor:
            return 0.0
        return min(1.0, max(0.0, 1.0 - _quantile(ratios, DEFOCUS_QUANTILE)))

    def learn(self, feats: FrameFeatures, dt_s: float, rate: float = 1.0) -> None:
        """Blend the frame into the baselines at `rate` (0-1) of the usual speed.

        The first frames are averaged (1/n), then each baseline follows an exponential
        average with its time constant in stream seconds.
        """
        self.frames += 1
        if self.frames == 1:
            return  # _init took this frame as it is
        alpha = rate * max(1.0 / self.frames, dt_s / self._adapt_s)
        light_alpha = rate * max(1.0 / self.frames, dt_s / LIGHT_TAU_S)
        reliability_alpha = rate * max(1.0 / self.frames, dt_s / RELIABILITY_TAU_S)
        ncc = self._ncc if self._ncc is not None else np.ones_like(self._mean)
        cell_alpha = (alpha * np.where(ncc >= COVER_NCC, 1.0, MISMATCH_LEARN)).astype(np.float32)
        self._mean += cell_alpha * (feats.mean - self._mean)
        self._std += cell_alpha * (feats.std - self._std)
        self._light += light_alpha * (feats.mean - self._light)
        self._edges += cell_alpha.reshape(-1, 1) * (self._centred - self._edges)
        # Sharpness of a nearly flat cell is noise; keep the baseline it had.
        sharp_alpha = np.where(feats.std >= SHARP_MIN_STD, cell_alpha, 0.0)
        self._log_sharp += sharp_alpha * (np.log(feats.sharpness + 1e-6) - self._log_sharp)
        self._reliability += reliability_alpha * (ncc - self._reliability)
        self._ref = self._derive()

    def _init(self, feats: FrameFeatures) -> None:
        self._mean = feats.mean.copy()
        self._light = feats.mean.copy()
        self._std = feats.std.copy()
        self._log_sharp = np.log(feats.sharpness + 1e-6).astype(np.float32)
        self._edges = centre_rows(feats.edges)
        self._centred = self._edges
        self._reliability = np.ones_like(feats.mean)
        self._ref = self._derive()

    def _derive(self) -> _Reference:
        """Precompute what scoring needs from the baselines (they change only when learning)."""
        structured = self._valid & (self._std >= STRUCTURE_STD)
        # Cells whose edges keep matching weigh most; trees, water and traffic weigh little.
        weight = np.where(structured, np.clip((self._reliability - 0.5) / 0.4, 0.0, 1.0), 0.0)
        scene_sharp = _quantile(self._log_sharp[structured], 0.5) if structured.any() else 0.0
        return _Reference(
            structured=structured,
            flat=self._valid & ~structured,
            structured_share=float(structured.sum()) / self._valid_count,
            weight=weight.astype(np.float32),
            weight_sum=float(weight.sum()),
            reliable=weight > 0.5,
            floor=MIN_SHARE * self._valid_count,
            flat_contrast=FLAT_RATIO * self._std / (self._mean + WEBER_OFFSET),
            scene_log_sharp=scene_sharp,
            blur_log_sharp=np.minimum(
                self._log_sharp + np.log(BLUR_RATIO), scene_sharp + np.log(BLUR_SCENE_RATIO)
            ),
            dark_level=DARK_RATIO * self._light,
            edges_norm=np.sqrt(np.einsum("ij,ij->i", self._edges, self._edges)),
        )


@dataclass(frozen=True, slots=True)
class _Reference:
    """Scoring constants derived from the baselines."""

    structured: CellMask
    flat: CellMask
    structured_share: float
    weight: Cells
    weight_sum: float
    reliable: CellMask
    floor: float
    flat_contrast: Cells
    """A cell is flattened when its std falls under this times (its mean + offset)."""
    scene_log_sharp: float
    """Median log-sharpness of the structured cells (the scene's typical sharpness)."""
    blur_log_sharp: Cells
    """A cell is blurred under this log-sharpness (own and scene-wide limits combined)."""
    dark_level: Cells
    edges_norm: Floats


def _near(cells: CellMask) -> CellMask:
    """Return the cells that are, or touch (8-neighbourhood), one of `cells`."""
    padded = np.pad(cells, 1)
    rows, cols = cells.shape
    out = np.zeros_like(cells)
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy : dy + rows, dx : dx + cols]
    return out


def _quantile(values: Floats, q: float) -> float:
    """Return a quantile by partial sort: np.quantile costs ten times more on 144 values."""
    k = min(values.size - 1, int(q * (values.size - 1) + 0.5))
    return float(np.partition(values, k)[k])
