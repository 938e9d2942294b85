"""Crowd count, density and levels with hysteresis; sudden speed-up and dispersal."""

from __future__ import annotations

from collections.abc import Callable
import math

import pytest

from tests.core.test_rules_support import FPS, Feed, make_rule, person
from vigil_core.types import Track

AREA = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
# 400 px across is 20 m and 300 px down is 15 m: 20 px per metre.
CALIBRATION = {
    "image_points": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
    "ground_points": [[0, 0], [20, 0], [20, 15], [0, 15]],
}
PX_PER_M = 20.0


def _people(n: int, y: float = 150) -> list[Track]:
    return [person(i + 1, 40 + 30 * i, y) for i in range(n)]


def test_levels_rise_at_their_threshold_and_fall_with_hysteresis() -> None:
    rule = {
        "type": "crowd",
        "id": "c",
        "polygon": AREA,
        "high": 3,
        "critical": 5,
        "hysteresis": 0.34,
        "hold_s": 1,
    }
    feed = Feed(make_rule(rule))
    for count in (0, 4, 6, 4, 3, 2, 1):
        feed.run([_people(count)] * 10)
    levels = [(e.phase.value, e.attrs["level"]) for e in feed.events]
    assert levels == [
        ("started", "high"),
        ("updated", "critical"),
        ("updated", "high"),  # 4 stays critical (≥ 0.66 × 5), 3 does not
        ("ended", "normal"),  # 2 stays high (≥ 0.66 × 3), 1 does not
    ]
    assert feed.rule.state().count == 1
    assert feed.rule.state().over_threshold is False


def test_a_one_frame_blip_changes_no_level() -> None:
    rule = {"type": "crowd", "id": "c", "polygon": AREA, "high": 3, "critical": 5}
    feed = Feed(make_rule(rule))
    feed.run([_people(1)] * 10 + [_people(6)] + [_people(1)] * 10)
    assert feed.events == []


def test_density_per_square_metre_with_a_calibration() -> None:
    rule = {
        "type": "crowd",
        "id": "c",
        "polygon": AREA,
        "metric": "density",
        "high": 0.01,
        "critical": 0.02,
        "hold_s": 0,
    }
    feed = Feed(make_rule(rule, calibration=CALIBRATION))
    feed.run([_people(4)] * 3)  # 4 people on 300 m²
    state = feed.rule.state()
    assert state.area_m2 == pytest.approx(300.0)
    assert state.density_m2 == pytest.approx(4 / 300, abs=1e-3)
    assert state.level == "high"


def _moving_group(
    n: int, position: Callable[[int, float], tuple[float, float]], frames: int
) -> list[list[Track]]:
    """Frames of n people whose feet are at position(i, t), each with a history of points."""
    out = []
    for f in range(frames):
        tracks = []
        for i in range(n):
            history = tuple((k / FPS, *position(i, k / FPS)) for k in range(max(0, f - 20), f + 1))
            x, y = position(i, f / FPS)
            tracks.append(person(i + 1, x, y, history=history))
        out.append(tracks)
    return out


def _crowd_feed() -> Feed:
    rule = {"type": "crowd", "id": "c", "polygon": AREA, "high": 50, "critical": 60, "movement": {}}
    return Feed(make_rule(rule, calibration=CALIBRATION))


def test_a_sudden_collective_speed_up() -> None:
    def position(i: int, t: float) -> tuple[float, float]:
        slow, fast = 1.0 * PX_PER_M, 5.0 * PX_PER_M  # 3.6 km/h, then 18 km/h
        run_from = 6.0
        x = 20 + slow * min(t, run_from) + fast * max(0.0, t - run_from)
        return x, 60 + 40 * i

    feed = _crowd_feed()
    feed.run(_moving_group(5, position, 45))
    movements = [e for e in feed.events if e.kind == "crowd_movement"]
    assert [e.attrs["movement"] for e in movements] == ["speed_up"]
    assert 30 <= movements[0].frame_index <= 45
    assert movements[0].attrs["speed_is_estimate"] is True


def test_a_dispersal_but_not_people_strolling_apart() -> None:
    def scatter(speed_m_s: float) -> Callable[[int, float], tuple[float, float]]:
        def position(i: int, t: float) -> tuple[float, float]:
            angle = 2 * math.pi * i / 6
            r = 1.0 * PX_PER_M + speed_m_s * PX_PER_M * max(0.0, t - 4.0)
            return 200 + r * math.cos(angle), 150 + r * math.sin(angle)

        return position

    running = _crowd_feed()
    running.run(_moving_group(6, scatter(3.5), 35))  # 12.6 km/h outwards
    assert [e.attrs["movement"] for e in running.events if e.kind == "crowd_movement"] == [
        "dispersal"
    ]
    strolling = _crowd_feed()
    strolling.run(_moving_group(6, scatter(1.2), 35))  # 4.3 km/h outwards
    assert [e for e in strolling.events if e.kind == "crowd_movement"] == []
