"""Decode raw detector outputs into boxes and scores, then keep the best ones (NMS)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

type FloatArray = npt.NDArray[np.float32]
type IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class RawDetections:
    """Candidate boxes in model input pixels (x1, y1, x2, y2), each with its best class."""

    boxes: FloatArray
    scores: FloatArray
    class_ids: IntArray

    def take(self, keep: IntArray | npt.NDArray[np.bool_]) -> RawDetections:
        """Return the subset selected by an index or mask array."""
        return RawDetections(self.boxes[keep], self.scores[keep], self.class_ids[keep])

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def empty() -> RawDetections:
    """Return no detections."""
    return RawDetections(
        np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.intp)
    )


# --- decoders ----------------------------------------------------------------------------------


@cache
def _grid(
    height: int, width: int, strides: tuple[int, ...], offset: float
) -> tuple[FloatArray, FloatArray]:
    """Return the cell origins (N×2, in cells, plus offset) and the stride (N×1) of every anchor."""
    cells: list[FloatArray] = []
    sizes: list[FloatArray] = []
    for stride in strides:
        ys, xs = np.mgrid[0 : height // stride, 0 : width // stride]
        cell = np.stack((xs.ravel(), ys.ravel()), axis=1).astype(np.float32) + offset
        cells.append(cell)
        sizes.append(np.full((cell.shape[0], 1), stride, dtype=np.float32))
    grid, stride_col = np.concatenate(cells), np.concatenate(sizes)
    grid.setflags(write=False)
    stride_col.setflags(write=False)
    return grid, stride_col


def best_class(scores_all: FloatArray, classes: IntArray | None) -> tuple[FloatArray, IntArray]:
    """Return each anchor's best score and class among the allowed classes (None: all)."""
    if classes is not None:
        scores_all = scores_all[:, classes]
    column = scores_all.argmax(axis=1)
    scores = np.take_along_axis(scores_all, column[:, None], axis=1)[:, 0]
    return scores, (column if classes is None else classes[column])


def decode_yolox(
    output: FloatArray,
    input_hw: tuple[int, int],
    strides: Sequence[int],
    threshold: float,
    classes: IntArray | None = None,
) -> RawDetections:
    """Decode one image's YOLOX output [N, 5 + C]: xy=(p+grid)*s, wh=exp(p)*s, score=obj×cls.

    Scores are probabilities, so obj × cls never exceeds obj (nor does its float rounding): only
    anchors whose objectness reaches the threshold can, and only those are looked at further.
    """
    grid, stride = _grid(input_hw[0], input_hw[1], tuple(strides), 0.0)
    if output.shape[0] != grid.shape[0]:
        raise ValueError(f"YOLOX output has {output.shape[0]} anchors, the grid {grid.shape[0]}")
    likely = np.flatnonzero(output[:, 4] >= threshold)
    if likely.size == 0:
        return empty()
    rows = output[likely]
    scores, class_ids = best_class(rows[:, 5:], classes)
    scores = scores * rows[:, 4]
    keep = np.flatnonzero(scores >= threshold)
    if keep.size == 0:
        return empty()
    anchors = likely[keep]
    centre = (rows[keep, :2] + grid[anchors]) * stride[anchors]
    half = np.exp(rows[keep, 2:4]) * stride[anchors] / 2.0
    boxes = np.concatenate((centre - half, centre + half), axis=1).astype(np.float32)
    return RawDetections(boxes, scores[keep].astype(np.float32), class_ids[keep])


def decode_picodet(
    class_maps: Sequence[FloatArray],
    box_maps: Sequence[FloatArray],
    input_hw: tuple[int, int],
    strides: Sequence[int],
    *,
    reg_max: int,
    threshold: float,
    classes: IntArray | None = None,
) -> RawDetections:
    """Decode one image's PicoDet outputs: sigmoid class scores per level, DFL distances per level.

    Distances are the expectation of a softmax over reg_max + 1 bins, in strides, from the cell
    centre ((x + 0.5) * stride).
    """
    grid, stride = _grid(input_hw[0], input_hw[1], tuple(strides), 0.5)
    scores_all = np.concatenate(class_maps)
    if scores_all.shape[0] != grid.shape[0]:
        raise ValueError(
            f"PicoDet output has {scores_all.shape[0]} anchors, the grid {grid.shape[0]}"
        )
    scores, class_ids = best_class(scores_all, classes)
    keep = np.flatnonzero(scores >= threshold)
    if keep.size == 0:
        return empty()
    bins = reg_max + 1
    logits = np.concatenate(box_maps)[keep].reshape(-1, 4, bins)
    logits = logits - logits.max(axis=2, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=2, keepdims=True)
    distance = (weights @ np.arange(bins, dtype=np.float32)) * stride[keep]  # K×4: l, t, r, b
    centre = grid[keep] * stride[keep]
    boxes = np.concatenate((centre - distance[:, :2], centre + distance[:, 2:]), axis=1)
    return RawDetections(boxes.astype(np.float32), scores[keep].astype(np.float32), class_ids[keep])


def decode_yolov8(
    output: FloatArray, threshold: float, classes: IntArray | None = None
) -> RawDetections:
    """Decode one image's YOLOv8 output [4 + C, N]: cx, cy, w, h then one score per class."""
    scores, class_ids = best_class(output[4:].T, classes)
    keep = np.flatnonzero(scores >= threshold)
    if keep.size == 0:
        return empty()
    centre = output[:2, keep].T
    half = output[2:4, keep].T / 2.0
    boxes = np.concatenate((centre - half, centre + half), axis=1).astype(np.float32)
    return RawDetections(boxes, scores[keep].astype(np.float32), class_ids[keep])


def decode_yolov8_dense(
    maps: Sequence[FloatArray],
    input_hw: tuple[int, int],
    threshold: float,
    classes: IntArray | None = None,
) -> RawDetections:
    """Decode one image's per-level YOLOv8 maps (box [4·bins, h, w], class logits [C, h, w], ...).

    The graph rewrite in graph.py leaves these to numpy so the input can be any size: a level's
    stride is the input height over its map height; scores are the sigmoid of the logits and
    box sides the expectation of a softmax over the bins, in strides, from the cell centre. Only
    cells whose best logit clears the threshold are decoded.
    """
    limit = float(np.log(threshold / (1.0 - threshold)))
    boxes: list[FloatArray] = []
    scores: list[FloatArray] = []
    class_ids: list[IntArray] = []
    for box_map, class_map in zip(maps[0::2], maps[1::2], strict=True):
        channels, height, width = (int(v) for v in class_map.shape)
        stride = input_hw[0] / height
        flat = class_map.reshape(channels, height * width)
        logits: FloatArray = flat if classes is None else flat[classes]
        best = logits.max(axis=0)
        keep = np.flatnonzero(best > limit)
        if keep.size == 0:
            continue
        column = logits[:, keep].argmax(axis=0)
        class_ids.append(column if classes is None else classes[column])
        scores.append((1.0 / (1.0 + np.exp(-best[keep]))).astype(np.float32))
        bins = box_map.shape[0] // 4
        bin_logits = box_map.reshape(4, bins, height * width)[:, :, keep].transpose(2, 0, 1)
        weights = np.exp(bin_logits - bin_logits.max(axis=2, keepdims=True))
        weights /= weights.sum(axis=2, keepdims=True)
        sides = (weights @ np.arange(bins, dtype=np.float32)) * stride  # K×4: l, t, r, b
        cx = (keep % width + 0.5) * stride
        cy = (keep // width + 0.5) * stride
        boxes.append(
            np.stack(
                (cx - sides[:, 0], cy - sides[:, 1], cx + sides[:, 2], cy + sides[:, 3]), axis=1
            ).astype(np.float32)
        )
    if not boxes:
        return empty()
    return RawDetections(np.concatenate(boxes), np.concatenate(scores), np.concatenate(class_ids))


# --- suppression -------------------------------------------------------------------------------


NMS_MATRIX_MAX = 1024
"""Up to this many candidates, NMS computes all pairwise IoUs at once (4 MB of float32)."""


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Return indices of boxes kept by greedy non-maximum suppression, best score first.

    The pairwise IoUs are computed in one pass (the same float32 operations as box by box, so
    the same boxes are kept), then the greedy walk only reads rows of the matrix: a tenth of
    the time of a numpy pass per kept box on a frame's hundred candidates.
    """
    if boxes.shape[0] > NMS_MATRIX_MAX:
        return _nms_by_box(boxes, scores, iou_threshold)
    order = np.argsort(-scores, kind="stable")
    ranked = boxes[order]
    x1, y1, x2, y2 = ranked[:, 0], ranked[:, 1], ranked[:, 2], ranked[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    iw = np.maximum(
        0.0, np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :])
    )
    ih = np.maximum(
        0.0, np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :])
    )
    inter = iw * ih
    union = areas[:, None] + areas[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    overlaps = iou > iou_threshold
    suppressed = np.zeros(len(order), dtype=np.bool_)
    keep: list[int] = []
    for rank in range(len(order)):
        if suppressed[rank]:
            continue
        keep.append(rank)
        suppressed |= overlaps[rank]  # earlier ranks are decided already: marking them is moot
    return order[np.asarray(keep, dtype=np.intp)]


def _nms_by_box(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Greedy NMS one kept box at a time (for very many candidates: no N×N matrix)."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        iw = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        ih = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        inter = iw * ih
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def grouped_nms(raw: RawDetections, iou_threshold: float, groups: IntArray) -> RawDetections:
    """Run NMS separately within each group of classes; groups[class_id] is the class's group.

    Each class is normally its own group; putting car, truck and bus in one group makes NMS
    class-agnostic across them, so one van reported as both car and truck stays one box.
    """
    if len(raw) == 0:
        return raw
    group_of = groups[raw.class_ids]
    # Shifting each group to its own far-away region lets one NMS pass stand for one per group.
    span = np.float32(2.0 * (float(np.abs(raw.boxes).max()) + 1.0))
    shifted = raw.boxes + (group_of.astype(np.float32) * span)[:, None]
    return raw.take(nms(shifted, raw.scores, iou_threshold))


def class_groups(labels: Sequence[str], merged: Sequence[Sequence[str]]) -> IntArray:
    """Return each class's NMS group: its own index, or the first index of a merged set it is in."""
    index = {label: i for i, label in enumerate(labels)}
    groups = np.arange(len(labels), dtype=np.intp)
    for names in merged:
        members = [index[name] for name in names if name in index]
        if members:
            groups[members] = members[0]
    return groups
