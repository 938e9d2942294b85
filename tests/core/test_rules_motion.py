"""Fast move, wrong way and routes on hand-built tracks."""

from __future__ import annotations

from tests.core.test_rules_support import ALLOWED_ATTRS, FPS, Feed, make_rule, person
from vigil_core.types import Track

CALIBRATION = {  # 20 px per metre
    "image_points": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
    "ground_points": [[0, 0], [20, 0], [20, 15], [0, 15]],
}


def _runner(
    track_id: int, speeds_px_s: list[float], y: float = 150, jitter: float = 0.0
) -> list[Track]:
    """One track per frame moving right at the given speed on each frame, with its history."""
    out, points, x = [], [], 20.0
    for f, speed in enumerate(speeds_px_s):
        x += speed / FPS
        wobble = jitter if f % 2 else -jitter
        points.append((f / FPS, x, y + wobble))
        out.append(person(track_id, x, y + wobble, history=tuple(points[-30:])))
    return out


def test_fast_move_in_kmh_after_the_minimum_duration() -> None:
    feed = Feed(
        make_rule({"type": "fast_move", "id": "fast", "speed_kmh": 12}, calibration=CALIBRATION)
    )
    walking, running = 1.4 * 20, 5.0 * 20  # 5 km/h then 18 km/h
    feed.run([[t] for t in _runner(1, [walking] * 15 + [running] * 20 + [walking] * 20)])
    assert [e.phase.value for e in feed.events] == ["started", "ended"]
    started, ended = feed.events
    assert 15 + 5 <= started.frame_index <= 15 + 12  # window fill + 1 s over the threshold
    assert started.attrs["speed_kmh"] >= 12 and started.attrs["speed_is_estimate"] is True
    assert ended.attrs["max_speed"] >= 17
    assert set(started.attrs) <= ALLOWED_ATTRS
    assert feed.rule.state().last_speed is not None


def test_fast_move_in_pixels_ignores_jitter_and_short_bursts() -> None:
    feed = Feed(make_rule({"type": "fast_move", "id": "fast", "speed_px_s": 80}))
    feed.run([[t] for t in _runner(1, [30.0] * 40, jitter=6.0)])  # slow, with a jittery box
    feed.run([[t] for t in _runner(2, [30.0] * 10 + [200.0] * 2 + [30.0] * 20)])  # a 0.4 s burst
    assert feed.events == []
    feed.run([[t] for t in _runner(3, [120.0] * 20)])
    assert [e.phase.value for e in feed.events] == ["started"]
    feed.step([])
    assert [e.attrs["reason"] for e in feed.events] == ["over_threshold", "track_lost"]


LANE = [[0.0, 0.3], [1.0, 0.3], [1.0, 0.7], [0.0, 0.7]]
WRONG_WAY = {
    "type": "wrong_way",
    "id": "lane",
    "polygon": LANE,
    "direction": [[0.1, 0.5], [0.9, 0.5]],
}


def test_wrong_way_fires_against_the_direction_only() -> None:
    feed = Feed(make_rule(WRONG_WAY))
    feed.run([[person(1, 20 + 8 * f, 150)] for f in range(40)])  # with the flow
    assert feed.events == []
    feed.run([[]] * 10 + [[person(2, 380 - 8 * f, 150)] for f in range(20)])  # against it
    assert [e.phase.value for e in feed.events] == ["started"]
    assert feed.events[0].track_id == 2
    feed.run([[person(2, 220 + 8 * f, 150)] for f in range(20)])  # turns back
    assert [e.phase.value for e in feed.events] == ["started", "ended"]
    assert feed.events[-1].attrs["reason"] == "turned_back"


def test_wrong_way_ignores_jitter_crossing_the_lane_and_outside() -> None:
    feed = Feed(make_rule(WRONG_WAY))
    feed.run(
        [[person(1, 200 + (4 if f % 2 else -4), 150)] for f in range(30)]
    )  # standing, jittering
    feed.run([[person(2, 200, 100 + 5 * f)] for f in range(20)])  # crossing the lane
    feed.run([[person(3, 380 - 8 * f, 40)] for f in range(30)])  # against, outside the lane
    assert feed.events == []


ZONES = [
    {"id": "gate", "polygon": [[0.0, 0.0], [0.2, 0.0], [0.2, 1.0], [0.0, 1.0]]},
    {"id": "path", "polygon": [[0.4, 0.0], [0.6, 0.0], [0.6, 1.0], [0.4, 1.0]]},
    {"id": "parking", "polygon": [[0.8, 0.0], [1.0, 0.0], [1.0, 1.0], [0.8, 1.0]]},
]
ROUTE = {"type": "route", "id": "arrival", "zones": ["gate", "path", "parking"], "max_step_s": 5}


def _go(track_id: int, xs: list[float]) -> list[list[Track]]:
    return [[person(track_id, x, 150)] for x in xs]


def _path(a: float, b: float, step: float) -> list[float]:
    n = int(abs(b - a) / step)
    return [a + (b - a) * i / n for i in range(n + 1)]


def test_a_route_in_order_and_in_time_is_one_event() -> None:
    feed = Feed(make_rule(ROUTE, zones=ZONES))
    feed.run(_go(1, _path(20, 380, 10)))
    assert [e.kind for e in feed.events] == ["route"]
    event = feed.events[0]
    assert event.attrs["zones"] == ["gate", "path", "parking"]
    assert event.track_id == 1
    assert set(event.attrs) <= ALLOWED_ATTRS
    assert feed.rule.state().completed == 1


def test_a_route_in_the_wrong_order_or_too_slow_is_none() -> None:
    backwards = Feed(make_rule(ROUTE, zones=ZONES))
    backwards.run(_go(1, _path(380, 20, 10)))
    slow = Feed(make_rule(ROUTE, zones=ZONES))
    slow.run(_go(2, _path(20, 280, 10) + [280] * 40 + _path(280, 380, 10)))  # 8 s between zones
    assert backwards.events == slow.events == []
    waiting = Feed(make_rule(ROUTE, zones=ZONES))
    waiting.run(_go(3, _path(20, 200, 10) + [200] * 40 + _path(200, 380, 10)))  # waits in a zone
    assert [e.kind for e in waiting.events] == ["route"]


def test_a_route_survives_an_id_change_on_the_way() -> None:
    feed = Feed(make_rule(ROUTE, zones=ZONES))
    feed.run(_go(1, _path(20, 200, 10)) + [[]] * 3 + _go(2, _path(210, 380, 10)))
    assert [e.track_id for e in feed.events] == [1]
