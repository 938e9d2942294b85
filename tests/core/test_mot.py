"""CLEAR-MOT and ID measures on hand-made cases whose answers follow from the definitions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.support.shared import media
from vigil_core.types import BBox
from vigil_tools.eval import evaluate_mot, read_mot_csv
from vigil_tools.eval.mot import FrameBoxes, iou_matrix


def box(x: float, y: float = 0.0, w: float = 10.0, h: float = 20.0) -> BBox:
    return BBox(x, y, x + w, y + h)


def walk(obj_id: int, frames: range, x0: float = 0.0, step: float = 5.0) -> FrameBoxes:
    """One object moving right by `step` px per frame."""
    return {f: [(obj_id, box(x0 + step * f))] for f in frames}


def merge(*parts: FrameBoxes) -> dict[int, list[tuple[int, BBox]]]:
    out: dict[int, list[tuple[int, BBox]]] = {}
    for part in parts:
        for frame, boxes in part.items():
            out.setdefault(frame, []).extend(boxes)
    return out


def test_perfect_tracking_scores_one() -> None:
    gt = merge(walk(1, range(10)), walk(2, range(10), x0=100))
    hyp = merge(walk(7, range(10)), walk(8, range(10), x0=100))
    m = evaluate_mot(gt, hyp)
    assert (m.mota, m.motp, m.idf1, m.recall, m.precision) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert (m.fp, m.fn, m.id_switches, m.num_gt, m.matches) == (0, 0, 0, 20, 20)
    assert (m.mostly_tracked, m.mostly_lost, m.fragmentations) == (2, 0, 0)
    assert m.num_frames == 10


def test_missed_frame_is_one_false_negative_and_a_fragmentation() -> None:
    gt = walk(1, range(4))
    hyp = {f: b for f, b in walk(5, range(4)).items() if f != 2}
    m = evaluate_mot(gt, hyp)
    assert (m.fn, m.fp, m.id_switches) == (1, 0, 0)
    assert m.mota == pytest.approx(1 - 1 / 4)
    # IDTP 3 of 4 ground-truth and 3 hypothesis boxes: 2·3 / (4 + 3).
    assert m.idf1 == pytest.approx(6 / 7)
    assert m.idr == pytest.approx(3 / 4)
    assert m.idp == 1.0
    assert m.fragmentations == 1


def test_false_positive_counts_against_precision() -> None:
    gt = walk(1, range(4))
    hyp = merge(walk(1, range(4)), {3: [(9, box(300))]})
    m = evaluate_mot(gt, hyp)
    assert (m.fp, m.fn, m.id_switches) == (1, 0, 0)
    assert m.mota == pytest.approx(0.75)
    assert m.precision == pytest.approx(4 / 5)
    assert m.idf1 == pytest.approx(8 / 9)


def test_identity_switch_halves_idf1() -> None:
    gt = walk(1, range(4))
    hyp = merge(walk(1, range(2)), walk(2, range(2, 4)))
    m = evaluate_mot(gt, hyp)
    assert (m.id_switches, m.fp, m.fn) == (1, 0, 0)
    assert m.mota == pytest.approx(0.75)
    # Best one-to-one pairing keeps 2 of 4 frames on each side.
    assert (m.idtp, m.idfn, m.idfp) == (2, 2, 2)
    assert m.idf1 == pytest.approx(0.5)


def test_crossing_with_swapped_ids_counts_two_switches() -> None:
    # Two objects cross at frame 5; the tracker swaps their ids there.
    a = {f: [(1, box(5.0 * f, y=0))] for f in range(10)}
    b = {f: [(2, box(45 - 5.0 * f, y=0))] for f in range(10)}
    hyp_a = {f: [(10 if f < 5 else 11, box(5.0 * f, y=0))] for f in range(10)}
    hyp_b = {f: [(11 if f < 5 else 10, box(45 - 5.0 * f, y=0))] for f in range(10)}
    m = evaluate_mot(merge(a, b), merge(hyp_a, hyp_b))
    assert m.id_switches == 2
    assert m.mota == pytest.approx(1 - 2 / 20)
    assert m.idf1 == pytest.approx(0.5)


def test_kept_correspondence_beats_a_better_overlap() -> None:
    # Frame 1: the old match (IoU 0.6) is still valid, so it is kept even though a new
    # hypothesis overlaps better; the new one is a false positive, not an identity switch.
    gt = {0: [(1, box(0))], 1: [(1, box(0))]}
    near = BBox(2.5, 0.0, 12.5, 20.0)  # IoU 0.6 with box(0)
    hyp = {0: [(5, box(0))], 1: [(5, near), (6, box(0))]}
    assert iou_matrix([box(0)], [near])[0, 0] == pytest.approx(0.6)
    m = evaluate_mot(gt, hyp)
    assert (m.id_switches, m.fp, m.matches) == (0, 1, 2)


def test_switch_counts_against_the_last_match_even_after_a_gap() -> None:
    gt = walk(1, range(6))
    hyp = merge(walk(3, range(2)), walk(4, range(4, 6)))
    m = evaluate_mot(gt, hyp)
    assert (m.id_switches, m.fn) == (1, 2)


def test_overlap_below_threshold_is_a_miss_and_a_false_positive() -> None:
    gt = {0: [(1, box(0))]}
    hyp = {0: [(1, box(4))]}  # IoU 6/14 ≈ 0.43
    m = evaluate_mot(gt, hyp)
    assert (m.matches, m.fp, m.fn) == (0, 1, 1)
    assert m.mota == pytest.approx(-1.0)
    assert evaluate_mot(gt, hyp, iou_threshold=0.4).matches == 1


def test_no_hypotheses() -> None:
    m = evaluate_mot(walk(1, range(3)), {})
    assert (m.mota, m.recall, m.idf1) == (0.0, 0.0, 0.0)
    assert math.isnan(m.precision)
    assert math.isnan(m.motp)


def test_frames_only_in_hypotheses_are_scored() -> None:
    m = evaluate_mot({0: [(1, box(0))]}, {0: [(1, box(0))], 1: [(1, box(5))]})
    assert (m.num_frames, m.fp, m.matches) == (2, 1, 1)


def test_repeated_id_in_a_frame_is_rejected() -> None:
    with pytest.raises(ValueError, match="repeats"):
        evaluate_mot({0: [(1, box(0)), (1, box(50))]}, {})


def test_summary_names_the_headline_figures() -> None:
    text = evaluate_mot(walk(1, range(3)), walk(1, range(3))).summary()
    assert "MOTA 1.000" in text
    assert "IDF1 1.000" in text


def test_read_mot_csv_converts_frames_to_zero_based(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text(
        "# frame,id,left,top,w,h\n1,3,10,20,5,8\n1,4,0,0,1,1,1,-1,-1,-1\n\n2,3,11,20,5,8\n"
    )
    gt = read_mot_csv(path)
    assert sorted(gt) == [0, 1]
    assert gt[0] == [(3, BBox(10, 20, 15, 28)), (4, BBox(0, 0, 1, 1))]
    assert read_mot_csv(path, frame_base=0)[1][0][0] == 3


def test_vtest_ground_truth_shape() -> None:
    gt = read_mot_csv(media("vtest_PETS2009-S2L1_mot.csv"))
    assert sorted(gt) == list(range(795))
    assert sum(len(v) for v in gt.values()) == 4650
    assert len({i for v in gt.values() for i, _ in v}) == 19
    assert evaluate_mot(gt, gt).mota == 1.0
