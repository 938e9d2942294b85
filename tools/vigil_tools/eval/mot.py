"""Score tracks against ground truth: CLEAR-MOT (MOTA, MOTP) and ID measures (IDF1).

Definitions follow Bernardin & Stiefelhagen 2008 (CLEAR MOT) and Ristani et al. 2016 (IDF1),
with the per-frame matching rules of py-motmetrics, so figures compare with published ones:

- A ground-truth object and a hypothesis can match on a frame when their IoU ≥ the threshold.
- Each frame, a correspondence from the object's last match is kept if still valid; the other
  objects are matched by a min-cost assignment on 1 − IoU.
- An identity switch is a match whose hypothesis differs from the object's previous match,
  however many frames ago that was.
- IDF1 matches whole trajectories one-to-one so that the frames they share (IoU ≥ threshold)
  are maximal: IDTP is that sum.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import math

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

from vigil_core.types import BBox

type FrameBoxes = Mapping[int, Sequence[tuple[int, BBox]]]
"""Boxes per frame index: (object id, box) pairs."""

_INVALID = 1e6


@dataclass(frozen=True, slots=True)
class MotMetrics:
    """Tracking scores over a clip; counts are over (frame, object) pairs."""

    mota: float
    """1 − (fn + fp + id_switches) / num_gt."""
    motp: float
    """Mean IoU of matched pairs (py-motmetrics reports 1 − this as a distance)."""
    idf1: float
    idp: float
    idr: float
    recall: float
    precision: float
    num_gt: int
    num_hyp: int
    matches: int
    fp: int
    fn: int
    id_switches: int
    idtp: int
    idfp: int
    idfn: int
    num_frames: int
    num_gt_ids: int
    num_hyp_ids: int
    mostly_tracked: int
    """Ground-truth trajectories matched on at least 80 % of their frames."""
    mostly_lost: int
    """Ground-truth trajectories matched on less than 20 % of their frames."""
    fragmentations: int
    """Times a ground-truth trajectory is matched again after being unmatched."""

    def summary(self) -> str:
        """Return the headline figures on one line."""
        return (
            f"MOTA {self.mota:.3f} IDF1 {self.idf1:.3f} MOTP {self.motp:.3f} "
            f"recall {self.recall:.3f} precision {self.precision:.3f} "
            f"FP {self.fp} FN {self.fn} IDSW {self.id_switches} GT {self.num_gt} "
            f"MT {self.mostly_tracked}/{self.num_gt_ids} ML {self.mostly_lost} "
            f"frag {self.fragmentations} IDP {self.idp:.3f} IDR {self.idr:.3f}"
        )


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def iou_matrix(a: Sequence[BBox], b: Sequence[BBox]) -> npt.NDArray[np.float64]:
    """Return the IoU of every box in `a` with every box in `b` (len(a) × len(b))."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    xa = np.array([(r.x1, r.y1, r.x2, r.y2) for r in a], dtype=np.float64)
    xb = np.array([(r.x1, r.y1, r.x2, r.y2) for r in b], dtype=np.float64)
    iw = np.minimum(xa[:, None, 2], xb[None, :, 2]) - np.maximum(xa[:, None, 0], xb[None, :, 0])
    ih = np.minimum(xa[:, None, 3], xb[None, :, 3]) - np.maximum(xa[:, None, 1], xb[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (xa[:, 2] - xa[:, 0]).clip(0.0) * (xa[:, 3] - xa[:, 1]).clip(0.0)
    area_b = (xb[:, 2] - xb[:, 0]).clip(0.0) * (xb[:, 3] - xb[:, 1]).clip(0.0)
    union = area_a[:, None] + area_b[None, :] - inter
    result: npt.NDArray[np.float64] = np.divide(
        inter, union, out=np.zeros_like(inter), where=union > 0
    )
    return result


def _ids(boxes: Sequence[tuple[int, BBox]], what: str, frame: int) -> list[int]:
    ids = [obj_id for obj_id, _ in boxes]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{what} frame {frame} repeats an object id")
    return ids


def _match_frame(
    gt_ids: list[int],
    hyp_ids: list[int],
    iou: npt.NDArray[np.float64],
    threshold: float,
    last_match: dict[int, int],
) -> list[tuple[int, int]]:
    """Return matched (gt row, hyp column) pairs, keeping last frame's correspondences."""
    valid = iou >= threshold
    pairs: list[tuple[int, int]] = []
    gt_free = np.ones(len(gt_ids), dtype=bool)
    hyp_free = np.ones(len(hyp_ids), dtype=bool)
    column = {hyp_id: j for j, hyp_id in enumerate(hyp_ids)}
    for i, gt_id in enumerate(gt_ids):
        previous = last_match.get(gt_id)
        j = -1 if previous is None else column.get(previous, -1)
        if j >= 0 and hyp_free[j] and valid[i, j]:
            pairs.append((i, j))
            gt_free[i] = hyp_free[j] = False
    rows, cols = np.flatnonzero(gt_free), np.flatnonzero(hyp_free)
    if rows.size and cols.size:
        cost = np.where(valid, 1.0 - iou, _INVALID)[np.ix_(rows, cols)]
        for r, c in zip(*linear_sum_assignment(cost), strict=True):
            if cost[r, c] < _INVALID:
                pairs.append((int(rows[r]), int(cols[c])))
    return pairs


@dataclass(slots=True)
class _Tally:
    """Counts accumulated frame by frame."""

    threshold: float
    frames: int = 0
    matches: int = 0
    fp: int = 0
    fn: int = 0
    switches: int = 0
    iou_sum: float = 0.0
    last_match: dict[int, int] = field(default_factory=dict)
    """Each ground-truth id's hypothesis at its latest match."""
    shared: Counter[tuple[int, int]] = field(default_factory=Counter)
    """Frames on which a (gt id, hyp id) pair overlaps enough: the IDF1 weights."""
    gt_len: Counter[int] = field(default_factory=Counter)
    hyp_len: Counter[int] = field(default_factory=Counter)
    matched_len: Counter[int] = field(default_factory=Counter)
    frags: int = 0
    was_matched: dict[int, bool] = field(default_factory=dict)

    def add(
        self, frame: int, gt: Sequence[tuple[int, BBox]], hyp: Sequence[tuple[int, BBox]]
    ) -> None:
        """Score one frame."""
        gt_ids, hyp_ids = _ids(gt, "ground truth", frame), _ids(hyp, "hypothesis", frame)
        iou = iou_matrix([b for _, b in gt], [b for _, b in hyp])
        self.frames += 1
        self.gt_len.update(gt_ids)
        self.hyp_len.update(hyp_ids)
        self.shared.update(
            (gt_ids[i], hyp_ids[j]) for i, j in zip(*np.nonzero(iou >= self.threshold), strict=True)
        )
        pairs = _match_frame(gt_ids, hyp_ids, iou, self.threshold, self.last_match)
        for i, j in pairs:
            gt_id, hyp_id = gt_ids[i], hyp_ids[j]
            if self.last_match.get(gt_id, hyp_id) != hyp_id:
                self.switches += 1
            self.last_match[gt_id] = hyp_id
            self.iou_sum += float(iou[i, j])
        self.matches += len(pairs)
        self.fn += len(gt_ids) - len(pairs)
        self.fp += len(hyp_ids) - len(pairs)
        self._coverage(gt_ids, {gt_ids[i] for i, _ in pairs})

    def _coverage(self, gt_ids: list[int], matched: set[int]) -> None:
        """Count matched frames per trajectory and its re-acquisitions after a miss."""
        for gt_id in gt_ids:
            now = gt_id in matched
            if now:
                self.matched_len[gt_id] += 1
                self.frags += self.was_matched.get(gt_id) is False
            if now or gt_id in self.was_matched:
                self.was_matched[gt_id] = now

    def result(self) -> MotMetrics:
        """Return the metrics over every frame added."""
        num_gt, num_hyp = self.gt_len.total(), self.hyp_len.total()
        idtp = _id_true_positives(self.shared, sorted(self.gt_len), sorted(self.hyp_len))
        coverage = [self.matched_len[obj_id] / n for obj_id, n in self.gt_len.items()]
        return MotMetrics(
            mota=1.0 - _ratio(self.fn + self.fp + self.switches, num_gt),
            motp=_ratio(self.iou_sum, self.matches),
            idf1=_ratio(2 * idtp, num_gt + num_hyp),
            idp=_ratio(idtp, num_hyp),
            idr=_ratio(idtp, num_gt),
            recall=_ratio(self.matches, num_gt),
            precision=_ratio(self.matches, num_hyp),
            num_gt=num_gt,
            num_hyp=num_hyp,
            matches=self.matches,
            fp=self.fp,
            fn=self.fn,
            id_switches=self.switches,
            idtp=idtp,
            idfp=num_hyp - idtp,
            idfn=num_gt - idtp,
            num_frames=self.frames,
            num_gt_ids=len(self.gt_len),
            num_hyp_ids=len(self.hyp_len),
            mostly_tracked=sum(c >= 0.8 for c in coverage),
            mostly_lost=sum(c < 0.2 for c in coverage),
            fragmentations=self.frags,
        )


def evaluate_mot(gt: FrameBoxes, hyp: FrameBoxes, iou_threshold: float = 0.5) -> MotMetrics:
    """Score hypothesis tracks against ground truth on the union of their frames.

    Pass only the frames that were analysed (for example every other frame at half rate):
    a frame present in neither mapping is not scored.
    """
    tally = _Tally(iou_threshold)
    for frame in sorted(set(gt) | set(hyp)):
        tally.add(frame, gt.get(frame, ()), hyp.get(frame, ()))
    return tally.result()


def _id_true_positives(
    shared: Counter[tuple[int, int]], gt_ids: list[int], hyp_ids: list[int]
) -> int:
    """Return the frames shared by the best one-to-one pairing of trajectories."""
    if not shared:
        return 0
    row = {obj_id: i for i, obj_id in enumerate(gt_ids)}
    col = {obj_id: j for j, obj_id in enumerate(hyp_ids)}
    weight = np.zeros((len(gt_ids), len(hyp_ids)))
    for (g, h), n in shared.items():
        weight[row[g], col[h]] = n
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return int(weight[rows, cols].sum())
