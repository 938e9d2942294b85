"""Lines, ground calibration (including vtest's, derived from its Tsai file) and speeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.support.shared import media
from vigil_core.geometry.calibration import Homography, TsaiCamera, ground_points_from_tsai
from vigil_core.geometry.line import DirectedLine
from vigil_core.geometry.speed import estimate_speed
from vigil_tools.eval.rules import VTEST_GEOMETRY, parse_geometry


def test_side_a_is_on_the_left_looking_from_a_to_b() -> None:
    line = DirectedLine([(0.0, 0.5), (1.0, 0.5)]).in_pixels(200, 100)
    assert line.signed_distance(100, 20) < 0  # above a left-to-right line: side A
    assert line.signed_distance(100, 80) > 0
    assert line.signed_distance(100, 50) == 0
    assert line.crossing_along((50, 20), (50, 80)) == pytest.approx(0.25)
    assert line.crossing_along((0, 20), (200, 20)) is None


def test_homography_maps_its_points_and_areas() -> None:
    image = [(0.1, 0.5), (0.9, 0.5), (0.9, 0.9), (0.1, 0.9)]
    ground = [(0.0, 0.0), (8.0, 0.0), (8.0, 4.0), (0.0, 4.0)]
    h = Homography(image, ground)
    for (x, y), g in zip(image, ground, strict=True):
        assert h.to_ground(x, y) == pytest.approx(g, abs=1e-9)
    assert h.polygon_area_m2(image) == pytest.approx(32.0)
    many = h.to_ground_many(np.array(image))
    assert many == pytest.approx(np.array(ground), abs=1e-9)


def test_vtest_calibration_is_the_tsai_back_projection() -> None:
    """The four ground points in the vtest geometry come from the PETS2009 Tsai calibration."""
    tsai = TsaiCamera.from_xml(media("vtest_View_001_calibration.xml"))
    camera, _ = parse_geometry(VTEST_GEOMETRY)
    assert camera.calibration is not None
    image = camera.calibration.image_points
    assert ground_points_from_tsai(tsai, image) == pytest.approx(
        camera.calibration.ground_points, abs=2e-3
    )
    # The Tsai model round-trips, and the plane homography stays within centimetres of it
    # over the walkable area (radial distortion is small on this lens).
    u, v = tsai.world_to_image(*tsai.image_to_ground(300.0, 400.0))
    assert (u, v) == pytest.approx((300.0, 400.0), abs=1e-3)
    h = camera.calibration.homography()
    errors = []
    for px in range(40, 760, 60):
        for py in range(240, 560, 40):
            gx, gy = tsai.image_to_ground(px, py)
            hx, hy = h.to_ground(px / 768, py / 576)
            errors.append(math.hypot(hx - gx / 1000, hy - gy / 1000))
    assert float(np.mean(errors)) < 0.15


def test_speed_is_the_robust_slope_of_the_feet() -> None:
    history = [(t / 5, 100 + 20 * t, 200.0) for t in range(8)]  # 100 px/s
    estimate = estimate_speed(history, (400, 300))
    assert estimate is not None
    assert estimate.px_s == pytest.approx(100.0)
    assert estimate.heading == pytest.approx((1.0, 0.0))
    assert estimate.kmh is None
    jumped = [
        *history[:-1],
        (history[-1][0], history[-1][1], 260.0),
    ]  # feet jump: occlusion cleared
    robust = estimate_speed(jumped, (400, 300))
    assert robust is not None and robust.px_s == pytest.approx(100.0, rel=0.1)
    assert estimate_speed(history[:2], (400, 300)) is None


def test_speed_in_kmh_with_a_calibration() -> None:
    # 400 px over 10 m: 1 relative unit across is 10 m; 40 px/s is then 1 m/s = 3.6 km/h.
    h = Homography(
        [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)], [(0, 0), (10, 0), (10, 7.5), (0, 7.5)]
    )
    history = [(t / 5, 100 + 8 * t, 150.0) for t in range(8)]
    estimate = estimate_speed(history, (400, 300), calibration=h)
    assert estimate is not None and estimate.kmh == pytest.approx(3.6)
