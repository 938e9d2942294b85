"""See a rule before saving it: the server's track memory and `ReplayRule`.

The memory keeps what the rules were given (boxes, classes, tracker ids), bounded per camera;
a replay feeds it to a fresh rule, so it gives exactly what the rule would have given live.
That is checked on hand-built tracks and on the real clip through a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from custom_components.vigil.client import ServerError, VigilClient
from tests.core.test_rules_support import W, camera, frame, person, walk
from tests.server.conftest import ServerFactory
from tests.support.clips import ensure_h264_mp4
from tests.support.shared import media
from vigil_core.rules import RuleContext, RuleSetup, ZonePresenceRule, build_rule
from vigil_core.server.tracks import MAX_PATH_POINTS, TrackMemory, replay
from vigil_core.store.counters import CounterStore
from vigil_core.types import Frame, Track
import vigil_protocol as vp

type Connect = Callable[..., Awaitable[VigilClient]]

LINE = [[0.5, 0.05], [0.5, 0.95]]
"""A line across the PETS2009 view, which people cross within seconds of the clip's start."""
ZONE = [[0.42, 0.36], [0.90, 0.20], [0.97, 0.50], [0.70, 0.62], [0.45, 0.52]]
"""The crossroads of the PETS2009 view (as in the end-to-end tests)."""
CLOSED_URL = "rtsp://127.0.0.1:9/nothing"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _observe(memory: TrackMemory, index: int, tracks: list[Track], fresh: bool = True) -> Frame:
    at = frame(index)
    memory.observe(at, tuple(tracks), fresh=fresh)
    return at


# --- the memory ---------------------------------------------------------------------------


def test_the_memory_keeps_minutes_steps_and_boxes_at_most() -> None:
    clock = Clock()
    memory = TrackMemory(60.0, max_steps=50, max_boxes=60, clock=clock)
    for index in range(40):
        clock.now += 1.0
        _observe(memory, index, [person(1, 10.0 + index, 100.0)])
    assert len(memory) == 40
    clock.now += 30.5  # steps 0 to 9 were recorded more than a minute ago
    assert [s.index for s in memory.steps()][:1] == [10]
    for index in range(40, 100):
        clock.now += 0.1
        _observe(memory, index, [person(1, 10.0, 100.0)])
    assert len(memory) == 50
    for index in range(100, 120):
        clock.now += 0.1
        _observe(memory, index, [person(i, 10.0 * i, 100.0) for i in range(1, 5)])
    steps = memory.steps()
    assert sum(len(s.tracks) for s in steps) <= 60
    assert steps[-1].index == 119


def test_the_memory_keeps_no_picture_and_no_point_history() -> None:
    memory = TrackMemory()
    track = person(3, 100.0, 200.0, history=[(0.0, 90.0, 200.0), (0.2, 100.0, 200.0)])
    _observe(memory, 0, [track])
    (step,) = memory.steps()
    assert step.tracks[0].history == ()
    assert step.tracks[0].bbox == track.bbox
    assert step.size == (frame(0).width, frame(0).height)
    kept = {field.name for field in dataclasses.fields(step)}
    assert kept == {"segment", "pts_s", "index", "fresh", "size", "tracks", "seen_at"}


def test_a_stream_whose_time_goes_back_starts_a_new_run() -> None:
    memory = TrackMemory()
    for index in (10, 11, 12):
        _observe(memory, index, [])
    _observe(memory, 0, [])
    memory.new_segment()
    _observe(memory, 0, [])
    assert [s.segment for s in memory.steps()] == [0, 0, 0, 1, 2]


# --- exact replays of hand-built tracks ---------------------------------------------------------


def _live_and_recorded(raw: dict[str, Any], runs: list[list[list[Track]]]) -> tuple[Any, Any]:
    """Feed each run to a live rule (restarted between runs, like a camera) and to a memory."""
    cam = camera(rules=[raw]) if "type" in raw else camera(zones=[raw])
    spec = cam.rules[0] if "type" in raw else cam.zones[0]
    memory = TrackMemory()
    live_events = []
    for run in runs:
        memory.new_segment()
        rule = (
            ZonePresenceRule(spec)
            if not cam.rules
            else build_rule(spec, RuleSetup.for_camera(cam, CounterStore()))
        )
        at = frame(0)
        for index, tracks in enumerate(run):
            at = _observe(memory, index, tracks)
            live_events += rule.update(RuleContext(frame=at, fresh=True), tracks)
        live_events += rule.finish(RuleContext(frame=at, fresh=False))
    return live_events, replay(spec, cam, memory.steps())


def test_a_line_replays_the_crossings_it_would_have_counted() -> None:
    raw = {"type": "line_crossing", "id": "door", "line": LINE}
    across = walk(1, (100.0, 150.0), (300.0, 160.0), 20)
    back = walk(2, (320.0, 250.0), (80.0, 240.0), 20)
    along = walk(3, (205.0, 20.0), (205.0, 280.0), 20)
    run = [[a, b, c] for a, b, c in zip(across, back, along, strict=True)]
    live, replayed = _live_and_recorded(raw, [run])
    assert replayed.rule_kind == "line_crossing"
    assert (replayed.a_to_b, replayed.b_to_a) == (1, 1)
    directions = sorted(str(e.attrs["direction"]) for e in live)
    assert directions == ["a_to_b", "b_to_a"]
    assert replayed.tracks == 3
    assert len(replayed.paths) == 3
    assert all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for p in replayed.paths for x, y in p.points)


def test_a_camera_restart_carries_nothing_over() -> None:
    """Track 1 stands left of the line, then after a restart a new track 1 stands right of it."""
    raw = {"type": "line_crossing", "id": "door", "line": LINE}
    left = [[person(1, 100.0, 150.0)] for _ in range(10)]
    right = [[person(1, 300.0, 150.0)] for _ in range(10)]
    live, replayed = _live_and_recorded(raw, [left, right])
    assert live == []
    assert (replayed.a_to_b, replayed.b_to_a) == (0, 0)
    assert replayed.tracks == 2


def test_a_zone_replays_its_entries_and_longest_stay() -> None:
    raw = {"id": "lawn", "polygon": [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]], "inertia": 2}
    inside = walk(1, (100.0, 100.0), (120.0, 280.0), 30)
    passing = walk(2, (300.0, 100.0), (320.0, 140.0), 30)
    run = [[a, b] for a, b in zip(inside, passing, strict=True)]
    live, replayed = _live_and_recorded(raw, [run])
    started = [e for e in live if e.phase.value == "started"]
    assert replayed.entries == len(started) == 1
    dwell = max(float(e.attrs["dwell_s"]) for e in live if "dwell_s" in e.attrs)
    assert replayed.longest_dwell_s == round(dwell, 1) > 0


def test_loitering_replays_its_hits() -> None:
    raw = {"type": "loitering", "id": "bench", "polygon": ZONE, "dwell_s": 2.0}
    standing = [[person(5, 0.7 * W, 0.4 * 300.0)] for _ in range(25)]
    live, replayed = _live_and_recorded(raw, [standing])
    assert replayed.loitering == sum(e.phase.value == "started" for e in live) == 1
    assert replayed.longest_dwell_s >= 2.0


def test_paths_are_thinned() -> None:
    raw = {"type": "line_crossing", "id": "door", "line": LINE}
    long_walk = [[t] for t in walk(1, (10.0, 150.0), (390.0, 150.0), 200)]
    _live, replayed = _live_and_recorded(raw, [long_walk])
    (path,) = replayed.paths
    assert len(path.points) == MAX_PATH_POINTS
    assert path.points[-1] == (round(390.0 / W, 4), 0.5)


# --- through a real server -------------------------------------------------------------------


async def test_a_replay_equals_what_the_live_rules_did_on_the_clip(
    start_server: ServerFactory, connect: Connect, tmp_path: Path
) -> None:
    """The clip's first 15 s analysed with a line, a zone and loitering; then replayed."""
    clip = ensure_h264_mp4(media("vtest.avi"), tmp_path, seconds=15)
    line = {"type": "line_crossing", "name": "Middle", "line": LINE}
    zone = {"name": "Crossroads", "polygon": ZONE, "inertia": 2}
    loitering = {"type": "loitering", "name": "Lingering", "polygon": ZONE, "dwell_s": 2.0}
    config = {
        "cameras": [
            {
                "id": "cam",
                "fps": 4,
                "source": {"url": str(clip)},
                "zones": [{"id": "crossroads", **zone}],
                "rules": [{"id": "middle", **line}, {"id": "lingering", **loitering}],
            }
        ]
    }
    server = await start_server()
    client = await connect(server)
    events: list[vp.RuleEvent] = []

    def on_push(push: vp.StatePush | vp.EventPush) -> None:
        if isinstance(push, vp.EventPush):
            events.append(push.event)

    client.on_push = on_push
    await client.subscribe()
    await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    assert server.engine is not None
    assert await asyncio.to_thread(server.engine.pipeline("cam").finished.wait, 240)
    await client.call(vp.GetDiagnostics(), vp.Diagnostics)  # the pushes before it have arrived

    live_line = server.engine.pipeline("cam").rules[1].state()
    assert isinstance(live_line, vp.LineState)
    assert live_line.a_to_b + live_line.b_to_a > 0, "people cross the middle in 15 s"
    replayed = await client.call(vp.ReplayRule(camera_id="cam", rule=line), vp.RuleReplay)
    assert (replayed.a_to_b, replayed.b_to_a) == (live_line.a_to_b, live_line.b_to_a)
    assert replayed.span_s > 10
    assert replayed.tracks > 0 and replayed.paths

    def started(rule_id: str) -> int:
        return sum(e.rule_id == rule_id and e.phase is vp.EventPhase.STARTED for e in events)

    replayed = await client.call(vp.ReplayRule(camera_id="cam", zone=zone), vp.RuleReplay)
    assert replayed.entries == started("crossroads") > 0
    replayed = await client.call(
        vp.ReplayRule(camera_id="cam", rule=loitering, replaces="lingering"), vp.RuleReplay
    )
    assert replayed.loitering == started("lingering")


async def test_replays_refuse_bad_shapes_unknown_cameras_and_what_the_context_holds_back(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server()
    client = await connect(server)
    config = {
        "cameras": [{"id": "cam", "source": {"url": CLOSED_URL}}],
        "privacy": {"context": "public_space"},
    }
    await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)

    async def refused(request: vp.ReplayRule) -> ServerError:
        with pytest.raises(ServerError) as caught:
            await client.call(request, vp.RuleReplay)
        return caught.value

    crossed = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
    error = await refused(vp.ReplayRule(camera_id="cam", zone={"polygon": crossed}))
    assert [(f.loc, f.translation_key) for f in error.fields] == [
        ("cameras.0.zones.0.polygon", "polygon_self_intersecting")
    ]
    error = await refused(vp.ReplayRule(camera_id="nope", rule={"type": "line_crossing"}))
    assert error.translation_key == "unknown_camera"
    error = await refused(
        vp.ReplayRule(camera_id="cam", rule={"type": "loitering", "polygon": ZONE})
    )
    assert error.translation_key == "replay_held_back"
    error = await refused(
        vp.ReplayRule(camera_id="cam", rule={"type": "crowd", "polygon": ZONE, "high": 2})
    )
    assert error.translation_key == "replay_unsupported"
    error = await refused(vp.ReplayRule(camera_id="cam"))
    assert error.translation_key == "config_invalid"

    # A line in a public space is an anonymous statistic: figures, no paths.
    replayed = await client.call(
        vp.ReplayRule(camera_id="cam", rule={"type": "line_crossing", "line": LINE}),
        vp.RuleReplay,
    )
    assert replayed == vp.RuleReplay(rule_kind="line_crossing", span_s=0.0, tracks=0)
