"""Line crossing on hand-built tracks: directions, classes, jitter, walking along, id changes."""

from __future__ import annotations

from tests.core.test_rules_support import ALLOWED_ATTRS, Feed, make_rule, person, walk
from vigil_core.events.model import EventPhase
from vigil_protocol import LineCounts

# A vertical line down the middle of a 400×300 frame, drawn top to bottom: side A is the
# right half (your left looking down from A to B), so walking leftwards is a_to_b.
LINE = {"type": "line_crossing", "id": "door", "line": [[0.5, 0.1], [0.5, 0.9]], "classes": []}


def _feed(**changes: object) -> Feed:
    return Feed(make_rule({**LINE, **changes}))


def test_each_direction_and_class_is_counted_once_per_crossing() -> None:
    feed = _feed()
    feed.run([[t] for t in walk(1, (300, 150), (100, 150), 12)])
    feed.run([[t] for t in walk(2, (100, 200), (300, 200), 12)])
    feed.run([[t] for t in walk(3, (100, 100), (300, 100), 12, label="car")])
    state = feed.rule.state()
    assert (state.a_to_b, state.b_to_a) == (1, 2)
    assert state.by_class == {
        "person": LineCounts(a_to_b=1, b_to_a=1),
        "car": LineCounts(b_to_a=1),
    }
    # Each direction keeps its own last crossing (a b_to_a sensor never shows an a_to_b one).
    assert state.last_a_to_b is not None and state.last_a_to_b.direction == "a_to_b"
    assert state.last_b_to_a is not None and state.last_b_to_a.label == "car"
    assert [e.phase for e in feed.events] == [EventPhase.INSTANT] * 3
    assert [e.attrs["direction"] for e in feed.events] == ["a_to_b", "b_to_a", "b_to_a"]
    assert feed.events[0].attrs["count"] == 1
    for event in feed.events:
        assert set(event.attrs) <= ALLOWED_ATTRS


def test_jitter_on_the_line_and_walking_along_it_never_count() -> None:
    feed = _feed()
    # Standing on the line, the box jittering ±5 px (the margin is 1.5 % of 400 px = 6 px).
    feed.run([[person(1, 200 + (5 if i % 2 else -5), 150)] for i in range(30)])
    # Walking down along the line, wavering from side to side.
    feed.run([[person(2, 200 + (4 if i % 3 else -4), 40 + 8 * i)] for i in range(28)])
    assert feed.events == []


def test_a_crossing_beyond_the_end_of_the_segment_does_not_count() -> None:
    feed = _feed()
    feed.run([[t] for t in walk(1, (300, 290), (100, 290), 12)])  # the line stops at y = 270
    assert feed.events == []


def test_direction_filter() -> None:
    feed = _feed(direction="b_to_a")
    feed.run([[t] for t in walk(1, (300, 150), (100, 150), 12)])
    feed.run([[t] for t in walk(2, (100, 150), (300, 150), 12)])
    assert [e.attrs["direction"] for e in feed.events] == ["b_to_a"]
    assert feed.rule.state().a_to_b == 0


def test_an_id_change_in_the_middle_of_a_crossing_counts_once() -> None:
    feed = _feed()
    before = walk(1, (300, 150), (215, 150), 6)
    after = walk(2, (185, 150), (100, 150), 6)
    feed.run([[t] for t in before] + [[], []] + [[t] for t in after])  # hidden for 2 frames
    assert [e.attrs["direction"] for e in feed.events] == ["a_to_b"]
    assert feed.events[0].track_id == 1  # the identity of the first id carries on


def test_a_new_id_started_while_the_old_one_coasts_keeps_its_side() -> None:
    feed = _feed()
    feed.run([[t] for t in walk(1, (300, 150), (215, 150), 6)])
    feed.step([person(1, 208, 150, matched=False), person(2, 196, 150)])
    feed.run([[t] for t in walk(2, (190, 150), (100, 150), 6)])
    assert [e.attrs["direction"] for e in feed.events] == ["a_to_b"]


def test_a_crossing_hidden_by_an_id_handed_to_someone_else_is_recovered() -> None:
    """Two people pass at the line; the tracker hands one's id to the other, and starts a new
    id for the first just past the line."""
    feed = _feed()
    feed.run([[t] for t in walk(1, (320, 150), (230, 150), 6)])
    stolen = [person(1, 235, 160)] * 8  # id 1 now follows someone standing still
    new = walk(2, (188, 150), (120, 150), 8)  # the walker, under a new id, 12 px past the line
    feed.run([[a, b] for a, b in zip(stolen, new, strict=True)])
    assert [e.attrs["direction"] for e in feed.events] == ["a_to_b"]


def test_someone_appearing_near_the_line_and_standing_is_no_crossing() -> None:
    feed = _feed()
    feed.run([[person(5, 190, 150)] for _ in range(20)])
    feed.run([[t] for t in walk(6, (185, 200), (185, 100), 12)])  # born near it, walking along
    assert feed.events == []


def test_coasting_predictions_never_cross() -> None:
    feed = _feed()
    feed.run([[t] for t in walk(1, (300, 150), (230, 150), 5)])
    feed.run([[person(1, x, 150, matched=False)] for x in (210, 190, 170)])
    assert feed.events == []
