"""ByteTracker on hand-built detection sequences, on noisy ground truth and on the real detector."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import statistics

import av
import numpy as np
import pytest

from tests.support.shared import MODELS_DIR, media
from vigil_core.config import InferenceSpec, TrackerSpec
from vigil_core.tracking import ByteTracker
from vigil_core.types import BBox, Detection, Track, TrackState
from vigil_tools.eval import evaluate_mot, read_mot_csv
from vigil_tools.eval.mot import FrameBoxes, MotMetrics

FPS = 5.0


def person(x: float, y: float = 100.0, score: float = 0.9, label: str = "person") -> Detection:
    """A 30×80 px box with its top-left corner at (x, y)."""
    return Detection(BBox(x, y, x + 30.0, y + 80.0), score, 0, label)


def run(
    tracker: ByteTracker,
    frames: Iterable[tuple[float, Sequence[Detection]]],
    frame_size: tuple[int, int] | None = None,
) -> list[list[Track]]:
    return [tracker.update(dets, pts, frame_size) for pts, dets in frames]


def times(seconds: float, fps: float = FPS, start: float = 0.0) -> list[float]:
    return [start + i / fps for i in range(round(seconds * fps))]


def by_id(tracks: Sequence[Track]) -> dict[int, Track]:
    return {t.track_id: t for t in tracks}


# --- life cycle --------------------------------------------------------------------------


def test_track_is_confirmed_on_its_second_hit() -> None:
    tracker = ByteTracker(TrackerSpec())
    out = run(tracker, [(0.0, [person(100)]), (0.2, [person(110)]), (0.4, [person(120)])])
    assert out[0] == []
    (track,) = out[1]
    assert track.track_id == 1
    assert track.state is TrackState.CONFIRMED
    assert track.matched
    assert (track.first_seen_s, track.last_seen_s, track.hits) == (0.0, 0.2, 2)
    assert out[2][0].track_id == 1
    assert out[2][0].age_s == pytest.approx(0.4)


def test_velocity_is_in_pixels_per_second_at_any_rate() -> None:
    for fps in (5.0, 10.0, 25.0):
        tracker = ByteTracker(TrackerSpec())
        out = run(tracker, [(t, [person(100 + 50 * t, 100 + 20 * t)]) for t in times(4, fps)])
        vx, vy = out[-1][0].velocity
        assert vx == pytest.approx(50, rel=0.05), fps
        assert vy == pytest.approx(20, rel=0.05), fps
        assert len(out[-1]) == 1


def test_irregular_intervals_keep_one_track_and_the_right_speed() -> None:
    pts = [0.0, 0.1, 0.5, 0.55, 1.3, 1.35, 2.0, 2.9, 3.0, 3.4, 4.4, 4.45, 5.0]
    tracker = ByteTracker(TrackerSpec())
    out = run(tracker, [(t, [person(100 + 60 * t)]) for t in pts])
    assert {t.track_id for frame in out for t in frame} == {1}
    assert all(len(frame) == 1 for frame in out[1:])
    assert out[-1][0].velocity[0] == pytest.approx(60, rel=0.05)


def test_history_holds_recent_bottom_centres_oldest_first() -> None:
    tracker = ByteTracker(TrackerSpec(history_len=5))
    out = run(tracker, [(t, [person(100 + 50 * t)]) for t in times(3)])
    history = out[-1][0].history
    assert len(history) == 5
    assert [p[0] for p in history] == pytest.approx(times(3)[-5:])
    last_t, x, y = history[-1]
    assert x == pytest.approx(115 + 50 * last_t, abs=1.0)
    assert y == pytest.approx(180, abs=1.0)


def test_false_positive_blip_never_confirms_nor_uses_an_id() -> None:
    tracker = ByteTracker(TrackerSpec())
    frames = [(t, [person(500, 300)] if i == 3 else []) for i, t in enumerate(times(2))]
    frames += [(t, [person(100)]) for t in times(1, start=2.0)]
    out = run(tracker, frames)
    assert all(frame == [] for frame in out[:10])
    assert {t.track_id for frame in out for t in frame} == {1}


def test_low_score_detections_never_start_tracks() -> None:
    tracker = ByteTracker(TrackerSpec())
    out = run(tracker, [(t, [person(100, score=0.4)]) for t in times(4)])
    assert all(frame == [] for frame in out)


def test_track_whose_median_score_is_low_is_not_confirmed() -> None:
    # Each detection may start a track (≥ new_track_score) but the median stays below
    # confirm_score, as for a static object the detector half believes in.
    spec = TrackerSpec()
    assert spec.new_track_score <= 0.62 < spec.confirm_score
    out = run(ByteTracker(spec), [(t, [person(100, score=0.62)]) for t in times(4)])
    assert all(frame == [] for frame in out)


# --- misses, occlusion, low scores --------------------------------------------------------


def test_short_occlusion_coasts_then_resumes_with_the_same_id() -> None:
    tracker = ByteTracker(TrackerSpec())
    walk = [(t, 100 + 40 * t) for t in times(6)]
    hidden = range(10, 15)  # 1 s behind a pillar
    out = run(tracker, [(t, [] if i in hidden else [person(x)]) for i, (t, x) in enumerate(walk)])
    for i in hidden:
        (track,) = out[i]
        assert track.track_id == 1
        assert not track.matched
        assert track.last_seen_s == pytest.approx(walk[9][0])
        # The box follows the prediction while hidden.
        assert track.bbox.x1 == pytest.approx(walk[i][1], abs=4.0)
    assert [t.track_id for t in out[15]] == [1]
    assert out[15][0].matched
    assert {t.track_id for frame in out for t in frame} == {1}


def test_longer_absence_is_not_reported_but_keeps_the_id() -> None:
    spec = TrackerSpec()
    tracker = ByteTracker(spec)
    walk = [(t, 100 + 40 * t) for t in times(8)]
    hidden = range(10, 20)  # 2 s: longer than coast_s, shorter than lost_s
    out = run(tracker, [(t, [] if i in hidden else [person(x)]) for i, (t, x) in enumerate(walk)])
    reported = [i for i in hidden if out[i]]
    assert len(reported) == round(spec.coast_s * FPS)
    assert [t.track_id for t in out[20]] == [1]


def test_absence_beyond_lost_s_starts_a_new_id() -> None:
    tracker = ByteTracker(TrackerSpec(lost_s=1.0))
    frames = [(t, [person(100)]) for t in times(1)]
    frames += [(t, []) for t in times(1.6, start=1.0)]
    frames += [(t, [person(100)]) for t in times(1, start=2.6)]
    out = run(tracker, frames)
    assert {t.track_id for t in out[4]} == {1}
    assert {t.track_id for t in out[-1]} == {2}


def test_low_score_detection_keeps_a_track_alive() -> None:
    spec = TrackerSpec()
    frames = [(t, [person(100 + 30 * t)]) for t in times(1)]
    faint = [(t, [person(100 + 30 * t, score=0.3)]) for t in times(2, start=1.0)]
    with_faint = run(ByteTracker(spec), frames + faint)
    without = run(ByteTracker(spec), frames + [(t, []) for t, _ in faint])
    for frame in with_faint[5:]:
        (track,) = frame
        assert (track.track_id, track.matched, track.score) == (1, True, 0.3)
    assert with_faint[-1][0].last_seen_s == faint[-1][0]
    # Without the faint detections the track is a prediction, then gone.
    assert not without[5][0].matched
    assert without[-1] == []


def test_low_scores_alone_cannot_hold_a_track_beyond_lost_s() -> None:
    # A person walks past a sign the detector half believes in: the track must not settle
    # on the sign for ever.
    spec = TrackerSpec(lost_s=2.0)
    frames = [(t, [person(100)]) for t in times(1)]
    frames += [(t, [person(100, score=0.5)]) for t in times(5, start=1.0)]
    out = run(ByteTracker(spec), frames)
    assert [t.track_id for t in out[10]] == [1]
    assert out[-1] == []


def test_crossing_people_keep_their_ids_through_a_brief_occlusion() -> None:
    tracker = ByteTracker(TrackerSpec())
    frames = []
    for t in times(8):
        a, b = 100 + 50 * t, 500 - 50 * t
        dets = [person(a, 100)]
        if abs(a - b) > 30:  # b walks behind a while they overlap
            dets.append(person(b, 120, score=0.8))
        frames.append((t, dets))
    out = run(tracker, frames)
    ids_a = {min(f, key=lambda tr: abs(tr.bbox.y1 - 100)).track_id for f in out[1:]}
    assert ids_a == {1}
    b_tracks = [tr for f in out[1:] for tr in f if abs(tr.bbox.y1 - 120) < 10]
    assert {tr.track_id for tr in b_tracks} == {2}
    # b's track went on the right way while it was hidden.
    assert all(tr.velocity[0] < -40 for tr in b_tracks[3:])


# --- classes -------------------------------------------------------------------------------


def test_a_person_never_continues_a_car_track() -> None:
    tracker = ByteTracker(TrackerSpec())
    car = [(t, [person(100, label="car")]) for t in times(1)]
    walker = [(t, [person(100, label="person")]) for t in times(1, start=1.0)]
    out = run(tracker, car + walker)
    assert [(t.track_id, t.label) for t in out[4]] == [(1, "car")]
    labels = {t.track_id: t.label for t in out[-1]}
    assert labels[2] == "person"
    assert labels.get(1, "car") == "car"


def test_car_truck_bus_share_a_track_with_the_majority_label() -> None:
    tracker = ByteTracker(TrackerSpec())
    labels = ["car"] * 5 + ["truck"] * 2 + ["bus"] + ["car"] * 2 + ["truck"] * 10
    out = run(
        tracker,
        [(t, [person(100 + 20 * t, label=lab)]) for t, lab in zip(times(4), labels, strict=True)],
    )
    assert {t.track_id for f in out for t in f} == {1}
    assert out[9][0].label == "car"
    assert out[-1][0].label == "truck"


# --- reset, time, determinism, speed ---------------------------------------------------------


def test_reset_forgets_tracks_and_restarts_ids() -> None:
    tracker = ByteTracker(TrackerSpec())
    run(tracker, [(t, [person(100), person(300)]) for t in times(1)])
    tracker.reset()
    out = run(tracker, [(t, [person(500)]) for t in times(1, start=10.0)])
    assert {t.track_id for t in out[-1]} == {1}


def test_time_going_backwards_restarts_the_tracker() -> None:
    tracker = ByteTracker(TrackerSpec())
    run(tracker, [(t, [person(100), person(300)]) for t in times(1, start=50.0)])
    out = run(tracker, [(t, [person(500)]) for t in times(1)])
    assert [t.track_id for t in out[-1]] == [1]
    assert out[-1][0].first_seen_s == 0.0


def test_same_input_gives_the_same_tracks() -> None:
    rng = np.random.default_rng(7)
    frames = []
    for t in times(6):
        dets = [
            person(80 * k + 30 * t + rng.normal(0, 2), 100 + 40 * k, float(rng.uniform(0.3, 0.95)))
            for k in range(8)
            if rng.random() > 0.1
        ]
        frames.append((t, dets))
    first = run(ByteTracker(TrackerSpec()), frames)
    second = run(ByteTracker(TrackerSpec()), frames)
    assert first == second
    assert sum(len(f) for f in first) > 100


def test_frame_edge_ends_coasting() -> None:
    frames = [(t, [person(540 + 60 * t)]) for t in times(1.2)]  # last box ends at 636
    frames += [(t, []) for t in times(0.8, start=1.2)]
    inside = run(ByteTracker(TrackerSpec()), frames, frame_size=(640, 480))
    unbounded = run(ByteTracker(TrackerSpec()), frames)
    assert inside[6] == []
    assert not unbounded[6][0].matched
    assert unbounded[6][0].bbox.x2 > 640


def test_the_bench_reports_the_update_cost_against_its_budget() -> None:
    """The cost is a `vigil-analytics bench tracking` figure; here only that it is reported."""
    from vigil_tools.bench import TRACKER_BUDGET_MS, tracker_update_cost  # noqa: PLC0415

    report = tracker_update_cost(frames=60)
    assert report["tracks"] == 20
    assert report["budget_ms"] == TRACKER_BUDGET_MS
    assert report["cpu_ms_p50"] > 0 and isinstance(report["within_budget"], bool)


# --- PETS2009 ---------------------------------------------------------------------------------


def track_clip(
    detections: Sequence[Sequence[Detection]],
    step: int,
    spec: TrackerSpec | None = None,
    *,
    offset: int = 0,
    clip_fps: float = 10.0,
) -> FrameBoxes:
    """Track every `step`-th frame; return the reported boxes per analysed frame."""
    tracker = ByteTracker(spec or TrackerSpec())
    hyp: dict[int, list[tuple[int, BBox]]] = {}
    for index in range(offset, len(detections), step):
        tracks = tracker.update(detections[index], index / clip_fps, (768, 576))
        hyp[index] = [(t.track_id, t.bbox) for t in tracks]
    return hyp


def score(truth: FrameBoxes, hyp: FrameBoxes) -> MotMetrics:
    """Evaluate on the analysed frames only."""
    return evaluate_mot({f: truth.get(f, []) for f in hyp}, hyp)


@pytest.fixture(scope="module")
def truth() -> FrameBoxes:
    return read_mot_csv(media("vtest_PETS2009-S2L1_mot.csv"))


def test_ids_stay_stable_on_noisy_ground_truth(truth: FrameBoxes) -> None:
    rng = np.random.default_rng(2009)
    detections: list[list[Detection]] = []
    for index in range(795):
        frame = []
        for _, b in truth.get(index, []):
            if rng.random() < 0.1:  # missed detection
                continue
            jitter = rng.normal(0.0, 0.05 * b.height, 4)
            noisy = BBox(*(np.array([b.x1, b.y1, b.x2, b.y2]) + jitter).tolist())
            frame.append(Detection(noisy, float(rng.uniform(0.65, 0.95)), 0, "person"))
        detections.append(frame)
    for step in (1, 2):
        m = score(truth, track_clip(detections, step))
        print(f"noisy ground truth, every {step} frame(s): {m.summary()}")
        assert m.mota >= 0.93
        assert m.idf1 >= 0.9
        assert m.id_switches <= 12


@pytest.fixture(scope="module")
def vtest_detections() -> list[list[Detection]]:
    """Detect people on every frame of vtest.avi once per test module."""
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    from vigil_core.inference.detectors import YoloxDetector  # noqa: PLC0415

    detector = YoloxDetector.load(
        models_dir=MODELS_DIR,
        confidence=TrackerSpec().low_score,
        classes=["person"],
        inference=InferenceSpec(intra_op_threads=2),
    )
    with av.open(str(media("vtest.avi"))) as container:
        return [detector.detect(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


@pytest.mark.slow
def test_mota_and_idf1_on_pets2009_with_yolox_nano(
    truth: FrameBoxes, vtest_detections: list[list[Detection]]
) -> None:
    assert len(vtest_detections) == 795
    results = {
        "10 fps": score(truth, track_clip(vtest_detections, 1)),
        "5 fps (even frames)": score(truth, track_clip(vtest_detections, 2)),
        "5 fps (odd frames)": score(truth, track_clip(vtest_detections, 2, offset=1)),
    }
    for name, m in results.items():
        print(f"PETS2009 S2L1, yolox_nano 416, {name}: {m.summary()}")
    for m in results.values():
        assert m.mota >= 0.8
        assert m.idf1 >= 0.75
    # Measured: IDF1 0.817 / 0.831 / 0.859; one swapped crossing moves it by about 0.05.
    assert statistics.mean(m.idf1 for m in results.values()) >= 0.8
