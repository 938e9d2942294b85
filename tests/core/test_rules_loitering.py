"""Loitering on hand-built tracks: dwell per class, occlusions, id changes, stepping out."""

from __future__ import annotations

from tests.core.test_rules_support import ALLOWED_ATTRS, Feed, make_rule, person, walk

ZONE = {"id": "yard", "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}
RULE = {
    "type": "loitering",
    "id": "loiter",
    "zone": "yard",
    "dwell_s": 4,
    "gap_s": 2,
    "classes": [],
}


def _feed(**changes: object) -> Feed:
    return Feed(make_rule({**RULE, **changes}, zones=[ZONE]))


def test_loitering_starts_after_the_dwell_time_and_ends_on_leaving() -> None:
    feed = _feed()
    feed.run([[person(1, 300, 150)]] * 25)
    assert feed.phases() == [(20, "loitering", "started")]  # 4 s at 5 fps
    assert feed.rule.state().loitering is True
    feed.run([[t] for t in walk(1, (300, 150), (100, 150), 4)] + [[person(1, 100, 150)]] * 12)
    assert [p[2] for p in feed.phases()] == ["started", "ended"]
    ended = feed.events[-1]
    assert ended.attrs["reason"] == "left"
    assert ended.attrs["dwell_s"] >= 4.0
    assert set(ended.attrs) <= ALLOWED_ATTRS
    assert feed.rule.state().loitering is False


def test_dwell_time_per_class() -> None:
    feed = _feed(class_dwell_s={"car": 10})
    feed.run([[person(1, 300, 150), person(2, 330, 200, label="car")]] * 30)
    assert [(e.frame_index, e.attrs["label"]) for e in feed.events] == [(20, "person")]
    feed.run([[person(1, 300, 150), person(2, 330, 200, label="car")]] * 25)
    assert [(e.frame_index, e.attrs["label"]) for e in feed.events] == [(20, "person"), (50, "car")]


def test_a_short_occlusion_does_not_restart_the_clock() -> None:
    feed = _feed()
    feed.run([[person(1, 300, 150)]] * 12 + [[]] * 6 + [[person(1, 300, 150)]] * 4)
    assert feed.phases() == [(20, "loitering", "started")]


def test_an_id_change_the_tracker_makes_keeps_the_stay() -> None:
    feed = _feed()
    feed.run([[person(1, 300, 150)]] * 12 + [[]] * 3 + [[person(9, 305, 152)]] * 8)
    assert feed.phases() == [(20, "loitering", "started")]
    assert feed.events[0].track_id == 1


def test_stepping_out_briefly_continues_but_a_long_absence_restarts() -> None:
    feed = _feed()
    out = [[person(1, 150, 150)]] * 4  # 0.8 s outside: within the gap
    feed.run([[person(1, 300, 150)]] * 10 + out + [[person(1, 300, 150)]] * 8)
    assert [p[0] for p in feed.phases()] == [20]
    feed2 = _feed()
    away = [[person(1, 150, 150)]] * 15  # 3 s outside: a new stay
    feed2.run([[person(1, 300, 150)]] * 10 + away + [[person(1, 300, 150)]] * 15)
    assert feed2.events == []


def test_a_track_that_starts_inside_counts_from_its_first_frame() -> None:
    feed = _feed(dwell_s=1)
    feed.run([[person(4, 390, 150)]] * 6)
    assert feed.phases() == [(5, "loitering", "started")]


def test_the_stream_ending_closes_loitering() -> None:
    feed = _feed()
    feed.run([[person(1, 300, 150)]] * 22)
    assert feed.finish()[0].attrs["reason"] == "stream_ended"
