"""Detector input at the frame's aspect, and pre-processing as one gather into a reused tensor."""

from __future__ import annotations

from dataclasses import replace

import av
import numpy as np
import pytest
from skimage import data as skdata

from tests.support.shared import MODELS_DIR, media
from vigil_core.config import DetectorSpec, InferenceSpec
from vigil_core.errors import ModelInvalid
from vigil_core.inference.detectors import PicoDetDetector, YoloxDetector, build_detector
from vigil_core.inference.graph import FREE_INPUT
from vigil_core.inference.preprocess import input_size, letterbox, letterbox_into, to_tensor
from vigil_core.inference.registry import ModelRegistry, RegistryInvalid, default_registry
from vigil_core.inference.session import SessionCache
from vigil_core.types import Detection

SIZES = ((640, 360), (768, 576), (1920, 1080), (360, 640), (200, 120), (416, 416), (1000, 999))


@pytest.fixture(scope="module")
def sessions() -> SessionCache:
    if not MODELS_DIR.exists():
        pytest.skip("shared models are not on this machine")
    return SessionCache()


@pytest.fixture(scope="module")
def street() -> np.ndarray:
    """A 640×360 frame of the e2e bench's clips: people walking (PETS2009, scaled as cameras)."""
    with av.open(str(media("vtest.avi"))) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 120:
                return frame.reformat(width=640, height=360, format="rgb24").to_ndarray()
    raise AssertionError("vtest.avi is too short")


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ((640, 360), (416, 256)),
        ((1920, 1080), (416, 256)),
        ((768, 576), (416, 320)),
        ((360, 640), (256, 416)),
        ((416, 416), (416, 416)),
        ((1000, 100), (416, 64)),
    ],
)
def test_input_size_keeps_the_frames_aspect_up_to_the_largest_stride(
    frame: tuple[int, int], expected: tuple[int, int]
) -> None:
    spec = default_registry().get("yolox_nano").input
    assert input_size(spec, *frame, 32) == expected


@pytest.mark.parametrize(
    "model", ["yolox_nano", "picodet_s_320_coco", "safelicensing_yolov8n_plate_384"]
)
@pytest.mark.parametrize("size", SIZES)
def test_the_gather_gives_exactly_the_old_letterboxed_tensor(
    model: str, size: tuple[int, int]
) -> None:
    spec = default_registry().get(model).input
    rng = np.random.default_rng(sum(size))
    image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    canvas, expected_box = letterbox(image, spec)
    expected = to_tensor([canvas], spec)[0]
    slot = np.full((3, spec.height, spec.width), np.nan, dtype=np.float32)  # a dirty reused slot
    placed = letterbox_into(image, spec, slot)
    assert placed == expected_box
    np.testing.assert_array_equal(slot, expected)


def test_the_smaller_input_holds_the_same_pixels_at_the_same_scale() -> None:
    spec = default_registry().get("yolox_nano").input
    image = np.random.default_rng(3).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    square = to_tensor([letterbox(image, spec)[0]], spec)[0]
    slot = np.empty((3, 256, 416), dtype=np.float32)
    placed = letterbox_into(image, spec, slot)
    assert (placed.scale_x, placed.pad_x, placed.pad_y) == (0.65, 0, 0)
    np.testing.assert_array_equal(slot, square[:, :256, :])  # only padding is left out


def test_aspect_detector_runs_16_9_frames_at_416x256_and_finds_what_the_square_finds(
    sessions: SessionCache, street: np.ndarray
) -> None:
    square = YoloxDetector.load(models_dir=MODELS_DIR, sessions=sessions, classes=["person"])
    aspect = YoloxDetector.load(
        models_dir=MODELS_DIR, sessions=sessions, classes=["person"], aspect=True
    )
    assert aspect.session.rewrite == FREE_INPUT and aspect.aspect
    assert aspect.input_size(street) == (416, 256)
    assert square.input_size(street) == (416, 416)
    assert aspect.input_size(skdata.astronaut()) == (416, 416)
    reference = [d for d in square.detect(street) if d.score >= 0.4]
    found = aspect.detect(street)
    assert len(reference) >= 5
    matched = sum(any(d.bbox.iou(r.bbox) >= 0.7 for d in found) for r in reference)
    assert matched >= 0.9 * len(reference)
    for det in found:
        assert 0 <= det.bbox.x1 < det.bbox.x2 <= 640 and 0 <= det.bbox.y1 < det.bbox.y2 <= 360


def test_a_batch_of_mixed_aspects_runs_each_at_its_size(
    sessions: SessionCache, street: np.ndarray
) -> None:
    detector = YoloxDetector.load(models_dir=MODELS_DIR, sessions=sessions, aspect=True)
    photo = skdata.astronaut()
    together = detector.detect_batch([street, photo, street])
    alone: list[list[Detection]] = [detector.detect(image) for image in (street, photo, street)]
    assert together == alone


def test_the_config_chooses_square_or_aspect(sessions: SessionCache) -> None:
    aspect = build_detector(DetectorSpec(), InferenceSpec(), sessions, MODELS_DIR)
    square = build_detector(DetectorSpec(input_fit="square"), InferenceSpec(), sessions, MODELS_DIR)
    assert isinstance(aspect, YoloxDetector) and aspect.aspect
    assert isinstance(square, YoloxDetector) and not square.aspect
    assert square.session.rewrite is None
    # Models the registry does not mark stay square whatever the config says.
    pico = build_detector(
        DetectorSpec(model="picodet_s_320_coco"), InferenceSpec(), sessions, MODELS_DIR
    )
    assert isinstance(pico, PicoDetDetector) and not pico.aspect


def test_a_graph_with_fixed_reshapes_is_refused_at_load_time(sessions: SessionCache) -> None:
    # PicoDet's export reshapes with constants sized for 320×320: marking it `aspect` is wrong.
    spec = default_registry().get("picodet_s_320_coco")
    lying = replace(spec, input=replace(spec.input, aspect=True))
    registry = ModelRegistry([lying])
    with pytest.raises(ModelInvalid, match=r"cannot run at 320x192.*input_fit to square"):
        PicoDetDetector.load(
            "picodet_s_320_coco",
            models_dir=MODELS_DIR,
            sessions=SessionCache(),
            registry=registry,
            aspect=True,
        )


def test_the_registry_refuses_aspect_without_letterbox() -> None:
    data = {"models": [_entry(letterbox="none", aspect=True)]}
    with pytest.raises(RegistryInvalid, match=r"input\.aspect needs a letterboxed input"):
        ModelRegistry.from_data(data)
    data = {"models": [_entry(aspect="yes")]}
    with pytest.raises(RegistryInvalid, match="aspect must be true or false"):
        ModelRegistry.from_data(data)


def _entry(**input_fields: object) -> dict[str, object]:
    spec = default_registry().get("yolox_nano")
    return {
        "name": "x",
        "role": "object_detection",
        "architecture": "yolox",
        "licence": "Apache-2.0",
        "file": "x.onnx",
        "sha256": spec.sha256,
        "url": None,
        "source": "test",
        "input": {
            "name": "images",
            "shape": [1, 3, 416, 416],
            "layout": "NCHW",
            "dtype": "float32",
            "colour": "BGR",
            "scale": 1.0,
            "mean": [0, 0, 0],
            "std": [1, 1, 1],
            "letterbox": "top_left",
            "pad_value": 114,
            **input_fields,
        },
        "labels": ["person"],
        "decode": {"strides": [8, 16, 32]},
    }
