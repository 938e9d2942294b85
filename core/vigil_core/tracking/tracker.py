"""Follow detections from frame to frame with ByteTrack-style two-stage association."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

from vigil_core.config import TrackerSpec
from vigil_core.types import BBox, Detection, Track, TrackState

from .kalman import BoxKalmanBank, FloatArray

type IntArray = npt.NDArray[np.intp]

_NO_MATCH = 1e6
_SCORE_WINDOW = 10


@dataclass(slots=True)
class _Tracklet:
    """Mutable state of one track; its box and speed live in the Kalman bank row."""

    group: str
    label: str
    score: float
    first_seen_s: float
    last_seen_s: float
    last_high_s: float
    """When a detection scoring at least `high_score` last matched."""
    history: deque[tuple[float, float, float]]
    labels: Counter[str] = field(default_factory=Counter)
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=_SCORE_WINDOW))
    hits: int = 1
    track_id: int = 0
    """0 until confirmed: ids are handed out on confirmation, so blips never use one up."""
    matched: bool = True
    history_view: tuple[tuple[float, float, float], ...] | None = None

    @property
    def confirmed(self) -> bool:
        """Return whether the track has been confirmed."""
        return self.track_id > 0

    def record(self, pts_s: float, xyxy: list[float]) -> None:
        """Append the bottom-centre of a matched box to the history."""
        self.history.append((pts_s, (xyxy[0] + xyxy[2]) / 2.0, xyxy[3]))
        self.history_view = None

    def history_tuple(self) -> tuple[tuple[float, float, float], ...]:
        """Return the history as an immutable tuple, built once per change."""
        if self.history_view is None:
            self.history_view = tuple(self.history)
        return self.history_view

    def relabel(self, label: str) -> None:
        """Count a matched detection's label and keep the most frequent one."""
        self.labels[label] += 1
        if self.labels[label] > self.labels[self.label]:
            self.label = label


class ByteTracker:
    """Assign stable ids to detections using motion prediction and two score tiers.

    Each update predicts every track to the frame's time, then (ByteTrack, Zhang et al. 2022):
    1. high-score detections are matched to confirmed and lost tracks by IoU with the
       predicted box;
    2. low-score detections may only continue confirmed tracks matched on the previous
       update, which keeps a partly hidden person tracked without ever starting a track from
       a weak detection;
    3. the remaining high-score detections are offered to tentative tracks; tentative tracks
       without a match are dropped;
    4. unmatched detections scoring at least `new_track_score` start tentative tracks.

    A tentative track is confirmed, and only then given the next id, after `min_hits` matches
    whose median score reaches `confirm_score`. A track is dropped `lost_s` after its last
    high-score match, even if weak detections still match it: otherwise a static object the
    detector half believes in could inherit the track of a person who walked past it. A
    confirmed track missed on this frame is still reported for `coast_s`, at its predicted
    box with `matched=False`, so rules see continuity through short occlusions.

    Detections only match tracks of their class group, so a person never continues a car
    track while a car may be called a truck on some frames (the track keeps the majority
    label). Time comes from the frames' pts, so skipped frames and irregular rates only widen
    the prediction. A pts earlier than the previous one means the stream restarted: the tracker
    resets.
    """

    def __init__(self, spec: TrackerSpec) -> None:
        """Create an empty tracker."""
        self._spec = spec
        self._group_of = {label: "+".join(group) for group in spec.class_groups for label in group}
        self._tracks: list[_Tracklet] = []
        self._kf = BoxKalmanBank()
        self._next_id = 1
        self._last_pts: float | None = None

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._tracks = []
        self._kf = BoxKalmanBank()
        self._next_id = 1
        self._last_pts = None

    def update(
        self,
        detections: Sequence[Detection],
        pts_s: float,
        frame_size: tuple[int, int] | None = None,
    ) -> list[Track]:
        """Match this frame's detections and return the confirmed tracks present on it.

        `frame_size` (width, height), when given, stops reporting a missed track once its
        predicted box reaches the frame's edge: it is walking out, not hidden.
        """
        if self._last_pts is not None and pts_s < self._last_pts:
            self.reset()
        dt = 0.0 if self._last_pts is None else pts_s - self._last_pts
        self._last_pts = pts_s
        self._kf.predict(dt)

        det_xyxy = np.array(
            [(d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2) for d in detections], dtype=np.float64
        ).reshape(-1, 4)
        det_groups = [self._group(d.label) for d in detections]
        pairs, new_dets = self._associate_all(detections, det_xyxy, det_groups)
        self._apply_matches(pairs, detections, det_xyxy, pts_s)
        self._drop_stale(pts_s)
        self._start_tracks(new_dets, detections, det_xyxy, det_groups, pts_s)
        return self._report(pts_s, frame_size)

    def _group(self, label: str) -> str:
        return self._group_of.get(label, label)

    def _associate_all(
        self, detections: Sequence[Detection], det_xyxy: FloatArray, det_groups: list[str]
    ) -> tuple[list[tuple[int, int]], IntArray]:
        """Run the three association stages; return (track row, detection) pairs and new ones."""
        spec = self._spec
        scores = np.array([d.score for d in detections], dtype=np.float64)
        high = np.flatnonzero(scores >= spec.high_score)
        low = np.flatnonzero((scores >= spec.low_score) & (scores < spec.high_score))
        confirmed = np.array([t.confirmed for t in self._tracks], dtype=bool)
        was_matched = np.array([t.matched for t in self._tracks], dtype=bool)

        codes: dict[str, int] = {}
        track_codes = np.array([codes.setdefault(t.group, len(codes)) for t in self._tracks])
        det_codes = np.array([codes.setdefault(g, len(codes)) for g in det_groups])
        same_group = track_codes[:, None] == det_codes[None, :]
        iou = np.where(same_group, _iou(self._kf.boxes(), det_xyxy), 0.0)

        pairs1, rest_tracks, rest_high = _associate(
            iou, np.flatnonzero(confirmed), high, spec.match_iou
        )
        recent = rest_tracks[was_matched[rest_tracks]]
        pairs2, _, _ = _associate(iou, recent, low, spec.low_match_iou)
        pairs3, _, new_dets = _associate(iou, np.flatnonzero(~confirmed), rest_high, spec.match_iou)
        return pairs1 + pairs2 + pairs3, new_dets

    def _apply_matches(
        self,
        pairs: list[tuple[int, int]],
        detections: Sequence[Detection],
        det_xyxy: FloatArray,
        pts_s: float,
    ) -> None:
        """Correct matched tracks with their detections and mark the rest unmatched."""
        for track in self._tracks:
            track.matched = False
        rows = np.array([t for t, _ in pairs], dtype=np.intp)
        cols = np.array([d for _, d in pairs], dtype=np.intp)
        self._kf.update(rows, det_xyxy[cols])
        boxes = _rows(self._kf.boxes())
        missed = np.ones(len(self._tracks), dtype=bool)
        missed[rows] = False
        for t, d in pairs:
            track, det = self._tracks[t], detections[d]
            track.matched = True
            track.hits += 1
            track.score = det.score
            track.last_seen_s = pts_s
            if det.score >= self._spec.high_score:
                track.last_high_s = pts_s
            track.relabel(det.label)
            track.scores.append(det.score)
            track.record(pts_s, boxes[t])
            self._maybe_confirm(track)
        self._kf.stop_resizing(np.flatnonzero(missed))

    def _drop_stale(self, pts_s: float) -> None:
        """Remove unmatched tentative tracks and tracks without a confident match for `lost_s`.

        Low-score detections keep a partly hidden object tracked, but not for ever: a static
        object the detector half believes in (a sign, a coat on a chair) would otherwise keep
        the track of a person who walked past it.
        """
        lost_s = self._spec.lost_s
        keep = np.array(
            [(t.matched or t.confirmed) and pts_s - t.last_high_s <= lost_s for t in self._tracks],
            dtype=bool,
        )
        if keep.all():
            return
        self._tracks = [t for t, k in zip(self._tracks, keep, strict=True) if k]
        self._kf.keep(keep)

    def _start_tracks(
        self,
        candidates: IntArray,
        detections: Sequence[Detection],
        det_xyxy: FloatArray,
        det_groups: list[str],
        pts_s: float,
    ) -> None:
        """Start tentative tracks from unmatched detections scoring at least `new_track_score`."""
        chosen = [int(d) for d in candidates if detections[d].score >= self._spec.new_track_score]
        if not chosen:
            return
        self._kf.add(det_xyxy[chosen])
        for d in chosen:
            det = detections[d]
            track = _Tracklet(
                group=det_groups[d],
                label=det.label,
                score=det.score,
                first_seen_s=pts_s,
                last_seen_s=pts_s,
                last_high_s=pts_s,
                history=deque(maxlen=self._spec.history_len),
            )
            track.labels[det.label] = 1
            track.scores.append(det.score)
            track.record(pts_s, _rows(det_xyxy[d : d + 1])[0])
            self._maybe_confirm(track)
            self._tracks.append(track)

    def _maybe_confirm(self, track: _Tracklet) -> None:
        """Give a tentative track its id once it has enough hits with a high enough median score."""
        if track.confirmed or track.hits < self._spec.min_hits:
            return
        if float(np.median(track.scores)) >= self._spec.confirm_score:
            track.track_id = self._next_id
            self._next_id += 1

    def _report(self, pts_s: float, frame_size: tuple[int, int] | None) -> list[Track]:
        """Return confirmed tracks matched now or missed for at most `coast_s`."""
        boxes = _rows(self._kf.boxes())
        velocities = _rows(self._kf.vel[:, :2])
        out: list[Track] = []
        for row, track in enumerate(self._tracks):
            if not track.confirmed:
                continue
            x1, y1, x2, y2 = boxes[row]
            if not track.matched and (
                pts_s - track.last_seen_s > self._spec.coast_s
                or (frame_size is not None and not _inside_box(x1, y1, x2, y2, frame_size))
            ):
                continue
            vx, vy = velocities[row]
            out.append(
                Track(
                    track_id=track.track_id,
                    bbox=BBox(x1, y1, x2, y2),
                    label=track.label,
                    score=track.score,
                    state=TrackState.CONFIRMED,
                    velocity=(vx, vy),
                    first_seen_s=track.first_seen_s,
                    last_seen_s=track.last_seen_s,
                    hits=track.hits,
                    matched=track.matched,
                    history=track.history_tuple(),
                )
            )
        return out


def _iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Return the IoU of every corner box in a with every one in b."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    result: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return result


def _associate(
    iou: FloatArray, tracks: IntArray, dets: IntArray, min_iou: float
) -> tuple[list[tuple[int, int]], IntArray, IntArray]:
    """Match tracks to detections maximising IoU; return pairs and what is left of each."""
    if not tracks.size or not dets.size:
        return [], tracks, dets
    sub = iou[np.ix_(tracks, dets)]
    cost = np.where(sub >= min_iou, 1.0 - sub, _NO_MATCH)
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] < _NO_MATCH
    rows, cols = rows[ok], cols[ok]
    pairs = [(int(tracks[r]), int(dets[c])) for r, c in zip(rows, cols, strict=True)]
    left_tracks = np.delete(tracks, rows)
    left_dets = np.delete(dets, cols)
    return pairs, left_tracks, left_dets


def _rows(a: FloatArray) -> list[list[float]]:
    """Return a 2-D array as nested lists of Python floats (much faster to index than numpy)."""
    return cast(list[list[float]], a.tolist())


def _inside_box(x1: float, y1: float, x2: float, y2: float, frame_size: tuple[int, int]) -> bool:
    """Return whether a box lies wholly inside a frame of (width, height)."""
    return x1 >= 0.0 and y1 >= 0.0 and x2 <= frame_size[0] and y2 <= frame_size[1]
