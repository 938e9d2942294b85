"""Privacy masks: blanked before any analysis, and in every frame Vigil keeps."""

from __future__ import annotations

from concurrent.futures import Future
import time
from typing import Any

import numpy as np

from tests.core.test_rules_support import camera
from vigil_core.config import TrackerSpec
from vigil_core.pipeline import CameraPipeline
from vigil_core.privacy.masks import FILL, PrivacyMasks
from vigil_core.types import Detection, Frame, RGBImage


class _SeeingBatcher:
    """Stand-in for the shared detector that records what it was shown."""

    def __init__(self) -> None:
        self.seen: list[RGBImage] = []

    def submit(self, image: RGBImage) -> Future[list[Detection]]:
        self.seen.append(image.copy())
        done: Future[list[Detection]] = Future()
        done.set_result([])
        return done


class _SeeingAnalyzer:
    name = "seeing"

    def __init__(self) -> None:
        self.seen: list[RGBImage] = []

    def update(self, frame: Frame) -> list[Any]:
        self.seen.append(frame.image)
        return []

    def state(self) -> dict[str, Any]:
        return {}


def test_the_mask_covers_its_polygon_and_nothing_else() -> None:
    masks = PrivacyMasks([[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]])
    mask = masks.mask(100, 80)
    assert mask is not None
    assert mask[:39, :49].all()
    assert not mask[42:, :].any() and not mask[:, 52:].any()
    assert masks.mask(100, 80) is mask  # built once per frame size
    assert PrivacyMasks([]).mask(100, 80) is None


def test_detector_analysers_and_the_latest_frame_only_see_masked_pixels() -> None:
    cam = camera(privacy_masks=[[[0.0, 0.0], [0.25, 0.0], [0.25, 1.0], [0.0, 1.0]]])
    batcher = _SeeingBatcher()
    analyzer = _SeeingAnalyzer()
    pipeline = CameraPipeline(
        cam,
        batcher=batcher,
        tracker_spec=TrackerSpec(),
        publish=lambda _e: None,
        analyzers=[analyzer],  # type: ignore[arg-type]
    )
    image = np.full((120, 160, 3), 200, np.uint8)
    original = image.copy()
    pipeline.process(Frame("cam", 0, 0.0, time.monotonic(), image, (160, 120)))
    for seen in (batcher.seen[0], analyzer.seen[0], pipeline.latest.frame.image):  # type: ignore[union-attr]
        assert (seen[:, :38] == FILL).all()
        assert (seen[:, 42:] == 200).all()
    assert np.array_equal(image, original)  # the decoder's frame is not written to


def test_no_mask_costs_nothing() -> None:
    frame = Frame("cam", 0, 0.0, 0.0, np.zeros((10, 10, 3), np.uint8), (10, 10))
    assert PrivacyMasks([]).apply(frame) is frame
