"""Objects left and removed on synthetic scenes: walkers, owners, flicker and light changes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tests.core.test_rules_support import ALLOWED_ATTRS, Feed, make_rule
from vigil_core.types import BBox, RGBImage, Track, TrackState

W, H = 320, 240
OBJECT = (200, 150, 224, 174)  # a 24×24 px dark bag
RNG = np.random.default_rng(7)
GROUND = np.clip(110 + RNG.normal(0, 12, (H // 8, W // 8, 1)).repeat(8, 0).repeat(8, 1), 0, 255)
GROUND = np.repeat(GROUND, 3, axis=2).astype(np.uint8)


def _scene(
    *,
    bag: bool,
    people: Sequence[tuple[float, float]] = (),
    brightness: int = 0,
    noise: float = 2.0,
) -> RGBImage:
    img = GROUND.astype(np.int16) + brightness + RNG.normal(0, noise, GROUND.shape).astype(np.int16)
    if bag:
        x1, y1, x2, y2 = OBJECT
        img[y1:y2, x1:x2] = 35
    for x, y in people:  # a person: a bright 20×60 box with its feet at (x, y)
        img[int(y) - 60 : int(y), int(x) - 10 : int(x) + 10] = 220
    return np.clip(img, 0, 255).astype(np.uint8)


def _person(track_id: int, x: float, y: float, vx: float = 0.0) -> Track:
    return Track(
        track_id,
        BBox(x - 10, y - 60, x + 10, y),
        "person",
        0.9,
        TrackState.CONFIRMED,
        (vx, 0.0),
        0.0,
        0.0,
        9,
    )


def _feed(**changes: object) -> Feed:
    return Feed(make_rule({"type": "object_left", "id": "left", "static_s": 4, **changes}))


def _step(
    feed: Feed, *, bag: bool, people: Sequence[tuple[int, float, float]] = (), vx: float = 0.0
) -> None:
    image = _scene(bag=bag, people=[(x, y) for _, x, y in people])
    feed.step([_person(i, x, y, vx) for i, x, y in people], image=image)


def test_a_bag_left_alone_is_reported_once_where_it_lies() -> None:
    feed = _feed()
    for _ in range(20):
        _step(feed, bag=False)
    for _ in range(60):
        _step(feed, bag=True)
    assert [(e.kind, e.phase.value) for e in feed.events] == [("object_left", "started")]
    event = feed.events[0]
    x1, y1, x2, y2 = event.attrs["box"]  # type: ignore[misc]
    assert x1 * W <= 212 <= x2 * W and y1 * H <= 162 <= y2 * H
    assert 20 + 4 * 5 - 5 <= event.frame_index <= 20 + 6 * 5  # about static_s after it appeared
    assert event.attrs["change"] == "left"
    assert set(event.attrs) <= ALLOWED_ATTRS
    assert feed.rule.state().left == 1
    for _ in range(20):  # picked up again
        _step(feed, bag=False)
    assert [e.phase.value for e in feed.events] == ["started", "ended"]


def test_walkers_passing_in_front_do_not_restart_its_clock() -> None:
    quiet, busy = _feed(), _feed()
    for feed in (quiet, busy):
        for _ in range(30):  # past the model's warm-up
            _step(feed, bag=False)
    for f in range(60):
        _step(quiet, bag=True)
        # Walkers cross over the bag every 2 s, each hiding it for about half a second.
        phase = f % 10
        walkers = [(100 + f // 10, 150 + 25 * (phase - 2), 180)] if phase < 5 else []
        _step(busy, bag=True, people=walkers, vx=125.0)
    assert [e.phase.value for e in busy.events] == ["started"]
    assert abs(busy.events[0].frame_index - quiet.events[0].frame_index) <= 8


def test_the_owner_standing_next_to_it_keeps_it_attended() -> None:
    feed = _feed()
    for _ in range(10):
        _step(feed, bag=False)
    for _ in range(50):
        _step(feed, bag=True, people=[(1, 250, 178)])  # 10 s beside the bag
    assert feed.events == []
    for _ in range(15):
        _step(feed, bag=True)
    assert [e.phase.value for e in feed.events] == ["started"]


def test_an_object_taken_away_in_removal_mode() -> None:
    feed = _feed(detect=["removed"])
    for _ in range(20):
        _step(feed, bag=True)
    for _ in range(50):
        _step(feed, bag=False)
    assert [(e.kind, e.attrs["change"]) for e in feed.events] == [("object_removed", "removed")]


def test_both_modes_tell_a_left_object_from_a_removed_one() -> None:
    left, removed = _feed(detect=["left", "removed"]), _feed(detect=["left", "removed"])
    for f in range(70):
        _step(left, bag=f >= 15)
        _step(removed, bag=f < 15)
    assert [e.kind for e in left.events] == ["object_left"]
    assert [e.kind for e in removed.events] == ["object_removed"]


def test_flicker_light_changes_and_people_standing_raise_nothing() -> None:
    feed = _feed()
    for f in range(80):
        flicker = 40 if (f // 2) % 2 else 0  # a patch of leaves flickering in the sun
        image = _scene(bag=False, brightness=30 if f > 40 else 0, noise=6.0)
        image[20:60, 20:80] = np.clip(image[20:60, 20:80].astype(np.int16) + flicker, 0, 255)
        feed.step([_person(1, 100, 200)] if f > 10 else [], image=image)
    assert feed.events == []


def _with_box(box: tuple[int, int, int, int]) -> RGBImage:
    img = _scene(bag=False).astype(np.int16)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = 35
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_change_larger_than_a_person_there_is_no_left_object() -> None:
    # People 60 px tall walk by; then a dark block 70 px tall and 60 wide stops (a parked car,
    # under a quarter of the view either way) and, elsewhere, a bag-sized one.
    feed = _feed(max_area=0.2)
    for step in range(20):
        x = 20 + 10 * step
        feed.step(
            [_person(1, x, 230, 50.0), _person(2, W - x, 120, -50.0)], image=_scene(bag=False)
        )
    car = (30, 40, 90, 110)
    for _ in range(60):
        img = _with_box(car)
        x1, y1, x2, y2 = OBJECT
        img[y1:y2, x1:x2] = 35
        feed.step([], image=img)
    started = [e for e in feed.events if e.phase.value == "started"]
    assert len(started) == 1, feed.events
    x1, y1, x2, y2 = started[0].attrs["box"]  # type: ignore[misc]
    assert x1 * W <= 212 <= x2 * W and y1 * H <= 162 <= y2 * H  # the bag, not the car


def test_a_parked_vehicle_the_detector_lost_is_no_left_object() -> None:
    feed = _feed()
    for _ in range(40):  # past the background's first seconds, when everything is learnt
        _step(feed, bag=False)
    van = Track(
        5, BBox(190, 140, 230, 180), "truck", 0.9, TrackState.CONFIRMED, (0.0, 0.0), 0.0, 0.0, 9
    )
    for step in range(60):
        # The van parks (a dark block where its box is) and the detector loses it after 2 s.
        feed.step([van] if step < 10 else [], image=_scene(bag=True))
    assert [e for e in feed.events if e.phase.value == "started"] == []
