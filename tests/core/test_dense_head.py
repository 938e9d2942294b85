"""The YOLOv8 dense-head rewrite: the fixed graph's detections, any input size, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
import pytest

from tests.support.shared import MEDIA_DIR, MODELS_DIR, model_file
from vigil_core.anpr.detect import PlateFinder
from vigil_core.errors import ModelInvalid
from vigil_core.inference.detectors import YoloV8Detector
from vigil_core.inference.graph import DENSE_HEAD, GraphRewriteError, yolov8_dense_head
from vigil_core.inference.postprocess import decode_yolov8_dense
from vigil_core.inference.registry import default_registry
from vigil_core.inference.session import SessionCache, SessionOptions

PLATE_MODEL = "safelicensing_yolov8n_plate_384"


@pytest.fixture(scope="module")
def sessions() -> SessionCache:
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    return SessionCache()


@pytest.fixture(scope="module")
def fixed(sessions: SessionCache) -> YoloV8Detector:
    spec = default_registry().get(PLATE_MODEL)
    session = sessions.get(spec, model_file(spec.file), SessionOptions())
    return YoloV8Detector(session, confidence=0.1)


@pytest.fixture(scope="module")
def dense(sessions: SessionCache) -> YoloV8Detector:
    spec = default_registry().get(PLATE_MODEL)
    session = sessions.get(spec, model_file(spec.file), SessionOptions(), rewrite=DENSE_HEAD)
    return YoloV8Detector(session, confidence=0.1)


def _photos(count: int) -> list[tuple[np.ndarray, str]]:
    labels = sorted((MEDIA_DIR / "plates" / "us").glob("*.txt"))[:count]
    if not labels:
        pytest.skip("plate photos are not on this machine")
    out = []
    for label in labels:
        name = label.read_text().split("\t")[0]
        with Image.open(label.parent / name) as photo:
            out.append((np.asarray(photo.convert("RGB")), name))
    return out


def test_rewrite_is_dense_and_keeps_the_file(fixed: YoloV8Detector, dense: YoloV8Detector) -> None:
    assert not fixed.dense
    assert dense.dense
    shapes = dense.session.output_shapes
    assert len(shapes) == 6  # box and class maps of three levels
    assert dense.session.rewrite == DENSE_HEAD
    # Two sessions of one file: the cache keys them apart, the file itself is untouched.
    assert fixed.session is not dense.session
    assert fixed.session.path == dense.session.path


def test_square_input_gives_the_fixed_graphs_detections(
    fixed: YoloV8Detector, dense: YoloV8Detector
) -> None:
    """On a 384×384 image both graphs see the same pixels: the boxes must agree."""
    compared = 0
    for image, _ in _photos(12):
        side = min(image.shape[:2])
        square = np.ascontiguousarray(image[:side, :side])
        a = fixed.detect(square)
        b = dense.detect_sized(square, 384)
        assert len(a) == len(b)
        for da, db in zip(a, b, strict=True):
            assert abs(da.score - db.score) < 1e-3
            assert da.bbox.iou(db.bbox) > 0.99
            compared += 1
    assert compared >= 10


def test_any_rectangle_runs_and_finds_the_labelled_plates(dense: YoloV8Detector) -> None:
    """Wide photos at their own aspect (384×224 instead of a 384 square) keep the plates."""
    labels = sorted((MEDIA_DIR / "plates" / "us").glob("*.txt"))[:40]
    tried = found = 0
    for label in labels:
        name, x, y, w, h = label.read_text().split("\t")[:5]
        with Image.open(label.parent / name) as photo:
            image = np.asarray(photo.convert("RGB"))
        if float(w) * 384 / max(image.shape[:2]) < 24:
            continue
        truth = (float(x), float(y), float(x) + float(w), float(y) + float(h))
        detections = dense.detect_sized(image, 384)
        tried += 1
        found += any(
            d.bbox.x1 <= (truth[0] + truth[2]) / 2 <= d.bbox.x2
            and d.bbox.y1 <= (truth[1] + truth[3]) / 2 <= d.bbox.y2
            for d in detections
        )
        for d in detections:
            assert 0 <= d.bbox.x1 < d.bbox.x2 <= image.shape[1]
            assert 0 <= d.bbox.y1 < d.bbox.y2 <= image.shape[0]
    assert tried >= 15
    assert found >= 0.85 * tried


def test_decode_reads_cells_above_the_threshold_only() -> None:
    """One hot cell on the stride-16 level decodes to its box; the rest stays below 0.5."""
    bins = 16
    maps: list[np.ndarray] = []
    for size in (8, 4, 2):  # a 64×64 input
        box = np.zeros((4 * bins, size, size), np.float32)
        cls = np.full((1, size, size), -5.0, np.float32)
        maps += [box, cls]
    # Level 1 (stride 16), cell (x=1, y=2): sides of 2, 1, 3 and 0.5 strides.
    for side, distance in enumerate((2.0, 1.0, 3.0, 0.5)):
        logits = np.full(bins, -20.0, np.float32)
        low = int(distance)
        logits[low] = 10.0 if distance == low else np.log(1 - (distance - low)) + 10.0
        if distance != low:
            logits[low + 1] = np.log(distance - low) + 10.0
        maps[2][side * bins : (side + 1) * bins, 2, 1] = logits
    maps[3][0, 2, 1] = 3.0
    raw = decode_yolov8_dense(maps, (64, 64), 0.5)
    assert len(raw) == 1
    cx, cy = (1 + 0.5) * 16, (2 + 0.5) * 16
    expected = [cx - 2 * 16, cy - 1 * 16, cx + 3 * 16, cy + 0.5 * 16]
    assert np.allclose(raw.boxes[0], expected, atol=0.05)
    assert raw.scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)), rel=1e-4)
    assert raw.class_ids.tolist() == [0]


def test_a_graph_without_a_yolov8_head_is_refused_clearly(sessions: SessionCache) -> None:
    with pytest.raises(GraphRewriteError, match="not an ONNX model"):
        yolov8_dense_head(b"this is not a model")
    yolox = model_file("yolox_nano.onnx")
    with pytest.raises(GraphRewriteError, match="no YOLOv8 detect head"):
        yolov8_dense_head(yolox.read_bytes())
    # Through the session cache the same failure is a ModelInvalid naming the model and file.
    spec = default_registry().get("yolox_nano")
    with pytest.raises(ModelInvalid, match=r"yolox_nano.*cannot be prepared"):
        sessions.get(spec, Path(yolox), SessionOptions(), rewrite=DENSE_HEAD)


def test_plate_models_fall_back_to_the_fixed_size(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A graph the cut does not recognise (or no onnx package) still reads at 384×384."""
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    from vigil_core.anpr.models import AnprModels  # noqa: PLC0415
    from vigil_core.inference import session as session_module  # noqa: PLC0415

    def refuse(_data: bytes) -> bytes:
        raise GraphRewriteError("the onnx package cannot be imported (test)")

    monkeypatch.setitem(session_module.REWRITES, DENSE_HEAD, refuse)
    # The YOLOv8 plate detector (the user's choice: AGPL) is the graph the cut applies to.
    finder = AnprModels(
        sessions=SessionCache(),
        models_dir=MODELS_DIR,
        detector_model="safelicensing_yolov8n_plate_384",
    ).finder()
    assert isinstance(finder, PlateFinder)
    assert not finder.detector.dense
    assert "fixed input size" in caplog.text
    image, _ = _photos(1)[0]
    assert finder.in_frame(image)  # still finds the plate


def test_bench_times_the_cut_graph_beside_the_fixed_one() -> None:
    from vigil_tools.bench import DENSE_SIZES, _dense_rows  # noqa: PLC0415

    rows = _dense_rows(PLATE_MODEL, model_file(f"{PLATE_MODEL}.onnx"), runs=2)
    assert [row["model"] for row in rows] == [
        f"{PLATE_MODEL} (any size) {w}x{h}" for h, w in DENSE_SIZES
    ]
    assert all(row["ms_1t"] > 0 and row["ms_2t"] > 0 for row in rows)
    skipped = _dense_rows("yolox_nano", model_file("yolox_nano.onnx"), runs=2)
    assert "no YOLOv8 detect head" in skipped[0]["skipped"]
