"""Zone entry and exit: required time inside, a track starting inside, occlusions and id changes."""

from __future__ import annotations

from tests.core.test_rules_support import ALLOWED_ATTRS, Feed, camera, person, walk
from vigil_core.rules import ZonePresenceRule

RIGHT_HALF = {
    "id": "yard",
    "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]],
    "inertia": 2,
}


def _feed(**changes: object) -> Feed:
    return Feed(ZonePresenceRule(camera(zones=[{**RIGHT_HALF, **changes}]).zones[0]))


def test_entry_waits_for_the_required_time_inside() -> None:
    feed = _feed(min_dwell_s=2.0)
    feed.run([[t] for t in walk(1, (100, 150), (300, 150), 6)])  # inside from frame 3 (inertia 2)
    feed.run([[person(1, 300, 150)]] * 12)
    assert feed.phases() == [(14, "zone_presence", "started")]  # 2 s after the entry at frame 4
    feed.run([[t] for t in walk(1, (300, 150), (100, 150), 6)])
    assert feed.phases()[-1][2] == "ended"
    assert feed.events[-1].attrs["dwell_s"] >= 2.0


def test_a_short_visit_raises_nothing_when_time_is_required() -> None:
    feed = _feed(min_dwell_s=5.0)
    feed.run([[t] for t in walk(1, (100, 150), (300, 150), 6) + walk(1, (300, 150), (100, 150), 6)])
    assert feed.events == []


def test_a_track_that_starts_inside_enters_after_inertia() -> None:
    feed = _feed()
    feed.run([[person(1, 300, 150)]] * 3)
    assert feed.phases() == [(1, "zone_presence", "started")]
    assert feed.rule.state().total == 1


def test_an_id_change_inside_continues_the_stay() -> None:
    feed = _feed(gap_s=2.0)
    feed.run([[person(1, 300, 150)]] * 4)
    feed.run([[]] * 3)  # hidden for 0.6 s, then back under a new id
    feed.run([[person(2, 310, 152)]] * 4)
    assert feed.phases() == [(1, "zone_presence", "started")]
    assert feed.rule.inside() == [1]
    feed.run([[]] * 12)
    assert feed.phases()[-1][2] == "ended"
    assert feed.events[-1].attrs["reason"] == "track_lost"


def test_without_a_gap_a_lost_track_ends_at_once() -> None:
    feed = _feed()
    feed.run([[person(1, 300, 150)]] * 4 + [[]])
    assert [p[2] for p in feed.phases()] == ["started", "ended"]


def test_walking_out_of_the_picture_ends_without_waiting_for_the_gap() -> None:
    feed = _feed(gap_s=3.0)
    feed.run([[t] for t in walk(1, (300, 150), (396, 150), 6)])  # the box reaches the right edge
    feed.step([])
    assert [p[2] for p in feed.phases()] == ["started", "ended"]
    assert all(set(e.attrs) <= ALLOWED_ATTRS for e in feed.events)


def test_re_entry_after_leaving_is_a_new_stay() -> None:
    feed = _feed(gap_s=1.0)
    path = walk(1, (100, 150), (300, 150), 5) + walk(1, (300, 150), (100, 150), 5)
    feed.run([[t] for t in path + path])
    assert [p[2] for p in feed.phases()] == ["started", "ended", "started", "ended"]
