"""The motion gate reuses the camera-health checks' coarse picture only where it is the same."""

from __future__ import annotations

import av
import numpy as np
import pytest

from tests.support.shared import media
from vigil_core.config import MotionSpec, TamperSpec
from vigil_core.health import TamperAnalyzer
from vigil_core.motion.gate import MotionGate, _from_coarse, _geometry, downscale_gray
from vigil_core.types import Frame


def _frames(size: tuple[int, int], count: int = 40) -> list[Frame]:
    frames = []
    with av.open(str(media("vtest.avi"))) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 3:
                continue
            image = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
            frames.append(Frame("cam", index, index / 10.0, 0.0, image, size))
            # The same picture again a moment later: nothing moved, the gate stays shut.
            frames.append(Frame("cam", index + 1, index / 10.0 + 0.05, 0.0, image.copy(), size))
            if len(frames) >= count:
                break
    return frames


@pytest.mark.parametrize(
    ("size", "shared"),
    # Only where both sample the same pixels: 16:9 at the default 640-pixel analysis width.
    [((640, 360), True), ((1280, 720), False), ((320, 180), False), ((640, 480), False)],
)
def test_the_gate_sees_the_same_picture_and_decides_the_same(
    size: tuple[int, int], shared: bool
) -> None:
    tamper = TamperAnalyzer("cam", TamperSpec(), fps=3.3)
    alone, reusing = MotionGate(MotionSpec()), MotionGate(MotionSpec())
    decisions = []
    for frame in _frames(size):
        tamper.update(frame)
        coarse = tamper.coarse_of(frame)
        assert coarse is not None
        block, step = _geometry(size[0], 80)
        rows, cols = size[1] // block, size[0] // block
        reused = _from_coarse(coarse, block, step, rows, cols)
        assert (reused is not None) == shared
        np.testing.assert_array_equal(
            downscale_gray(frame.image, coarse=coarse), downscale_gray(frame.image)
        )
        pair = (
            alone.should_infer(frame.image, frame.pts_s),
            reusing.should_infer(frame.image, frame.pts_s, coarse),
        )
        assert pair[0] == pair[1] and alone.last_score == reusing.last_score
        decisions.append(pair[0])
    assert True in decisions and False in decisions  # people walk, and some frames are still


def test_a_picture_of_another_frame_is_never_reused() -> None:
    tamper = TamperAnalyzer("cam", TamperSpec(), fps=5.0)
    first, second = _frames((640, 360), 2)
    assert first.image is not second.image
    tamper.update(first)
    assert tamper.coarse_of(second) is None
    assert tamper.coarse_of(first) is not None
