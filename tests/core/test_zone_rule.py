"""Zone presence on hand-built tracks: entries, exits, inertia, lost tracks."""

from __future__ import annotations

import time

import numpy as np

from vigil_core.config import ZoneSpec
from vigil_core.events.model import EventPhase
from vigil_core.rules import RuleContext, ZonePresenceRule
from vigil_core.types import BBox, Frame, Track, TrackState

W, H = 200, 100
IMAGE = np.zeros((H, W, 3), np.uint8)


def _frame(index: int) -> Frame:
    return Frame("cam", index, index * 0.2, time.monotonic(), IMAGE, (W, H))


def _track(track_id: int, x: float, label: str = "person") -> Track:
    # Feet at (x, 80): the zone covers the right half of the frame.
    return Track(
        track_id=track_id,
        bbox=BBox(x - 5, 40, x + 5, 80),
        label=label,
        score=0.9,
        state=TrackState.CONFIRMED,
        velocity=(0.0, 0.0),
        first_seen_s=0.0,
        last_seen_s=0.0,
        hits=5,
    )


ZONE = ZoneSpec(id="right", polygon=[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)], inertia=2)


def _run(
    rule: ZonePresenceRule, positions: list[list[tuple[int, float]]]
) -> list[tuple[int, int | None, EventPhase]]:
    out = []
    for index, tracks in enumerate(positions):
        ctx = RuleContext(frame=_frame(index), fresh=True)
        for event in rule.update(ctx, [_track(tid, x) for tid, x in tracks]):
            out.append((index, event.track_id, event.phase))
    return out


def test_enter_and_leave_after_inertia() -> None:
    rule = ZonePresenceRule(ZONE)
    walk = [[(1, x)] for x in (20, 60, 120, 140, 160, 60, 40, 30)]
    assert _run(rule, walk) == [(3, 1, EventPhase.STARTED), (6, 1, EventPhase.ENDED)]


def test_jitter_on_the_edge_does_not_flap() -> None:
    rule = ZonePresenceRule(ZONE)
    jitter = [[(1, x)] for x in (95, 105, 95, 105, 95, 105, 95)]
    assert _run(rule, jitter) == []


def test_lost_track_ends_its_stay_and_counts_follow() -> None:
    rule = ZonePresenceRule(ZONE)
    frames = [[(1, 150), (2, 160)]] * 3 + [[(2, 160)]]
    events = _run(rule, frames)
    assert events == [
        (1, 1, EventPhase.STARTED),
        (1, 2, EventPhase.STARTED),
        (3, 1, EventPhase.ENDED),
    ]
    assert rule.state().total == 1
    assert rule.state().counts == {"person": 1}


def test_class_filter_and_stale_frames() -> None:
    rule = ZonePresenceRule(ZONE)
    ctx = RuleContext(frame=_frame(0), fresh=True)
    for _ in range(3):
        assert rule.update(ctx, [_track(7, 150, label="car")]) == []
    stale = RuleContext(frame=_frame(1), fresh=False)
    for _ in range(5):
        assert rule.update(stale, [_track(8, 150)]) == []
    assert rule.state().occupied is False


def test_finish_closes_open_stays_with_dwell() -> None:
    rule = ZonePresenceRule(ZONE)
    _run(rule, [[(1, 150)]] * 4)
    events = rule.finish(RuleContext(frame=_frame(10), fresh=False))
    assert [e.phase for e in events] == [EventPhase.ENDED]
    assert events[0].attrs["reason"] == "stream_ended"
    assert events[0].attrs["dwell_s"] == 1.8
