"""Frigate's tracked objects as Vigil tracks: steps, ids, scaling, and Vigil's rules on them."""

from __future__ import annotations

from collections.abc import Iterator
import itertools
import time
from typing import Any

import pytest

from tests.support.frigate_payloads import (
    CAR_ID,
    PERSON_ID,
    PLATE,
    T0,
    VERSIONS,
    encode,
    load_scenario,
    person,
)
from vigil_core.config import CameraSpec, FrigateDetectionSpec, TrackerSpec
from vigil_core.events.model import EventPhase, RuleEvent, SourceState, SourceStateEvent
from vigil_core.feeds.frigate_mqtt import FrigateAvailability, FrigateMessage, parse_message
from vigil_core.feeds.frigate_tracks import (
    FrigatePlate,
    FrigateTrackFeed,
    TickSource,
    blank_image,
    needs_pixels,
    plates_from_frigate,
    track_id,
)
from vigil_core.pipeline import CameraPipeline
from vigil_core.rules import build_rules
from vigil_core.types import Frame

PORCH = [[0.115, 0.6], [0.5, 0.6], [0.5, 1.0], [0.115, 1.0]]
DOOR_LINE = [[0.6, 0.0], [0.6, 1.0]]


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def camera(
    name: str = "front_door", size: tuple[int, int] = (640, 360), **extra: Any
) -> CameraSpec:
    """Return a camera taking Frigate's detections, with the porch zone and a door line."""
    return CameraSpec.model_validate(
        {
            "id": "front",
            "source": "rtsp://127.0.0.1:8554/front_door",
            "detections": "frigate",
            "frigate": {"camera": name, "detect_size": list(size)},
            "zones": [{"id": "porch", "polygon": PORCH}],
            "rules": [{"type": "line_crossing", "id": "door", "line": DOOR_LINE}],
        }
        | extra
    )


def messages(version: str, camera_name: str = "front_door") -> Iterator[FrigateMessage]:
    """Yield the parsed messages of a version's scenario for one camera."""
    for topic, payload in load_scenario(version):
        message = parse_message(topic.removeprefix("frigate/"), encode(payload))
        if message is None:
            continue
        if isinstance(message, FrigateAvailability) or message.camera == camera_name:
            yield message


_index = itertools.count()


def frame(size: tuple[int, int] = (320, 180)) -> Frame:
    """Return a pixel-free frame of `size`."""
    return Frame(
        camera_id="front",
        index=next(_index),
        pts_s=0.0,
        received_at=time.monotonic(),
        image=blank_image(size),
        source_size=size,
    )


def pipeline(spec: CameraSpec, feed: FrigateTrackFeed, events: list[Any]) -> CameraPipeline:
    """Return a pipeline taking its tracks from `feed` (not started: frames go in by hand)."""
    return CameraPipeline(
        spec,
        batcher=None,
        tracker_spec=TrackerSpec(),
        publish=lambda e: events.append(e) if isinstance(e, RuleEvent) else None,
        rules=build_rules(spec),
        track_provider=feed,
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("batched", [False, True], ids=["frame_per_message", "one_frame"])
def test_rules_on_frigate_tracks(version: str, batched: bool) -> None:
    """A person walking across the door line counts once; the porch sees them enter and leave.

    Whether a frame is analysed after each message or once after all of them, the rules see
    the same moments in Frigate's order.
    """
    spec = camera()
    assert spec.frigate is not None
    feed = FrigateTrackFeed("front", spec.frigate, clock=Clock(T0 + 20))
    events: list[RuleEvent] = []
    run = pipeline(spec, feed, events)
    for message in messages(version):
        feed.receive(message)
        if not batched:
            run.process(frame())
    for _ in range(4):
        run.process(frame())
    crossings = [e for e in events if e.kind == "line_crossing"]
    assert [(e.attrs["direction"], e.attrs["label"]) for e in crossings] == [("a_to_b", "person")]
    assert crossings[0].track_id == track_id(PERSON_ID)
    assert crossings[0].source == "vigil"
    porch = [e.phase for e in events if e.kind == "zone_presence"]
    assert porch == [EventPhase.STARTED, EventPhase.ENDED]
    rule = next(r for r in run.rules if r.rule_id == "door")
    assert rule.state().a_to_b == 1


def test_latest_frame_is_the_events_frame() -> None:
    """When an event is published, the camera's latest frame is the one it came from.

    A client that fetches the snapshot on hearing of a crossing sees the crossing's track; the
    latest frame used to be set after publishing, so a reader on another thread could get the
    frame before (no track yet) when the analysis thread was preempted in between.
    """
    spec = camera()
    assert spec.frigate is not None
    feed = FrigateTrackFeed("front", spec.frigate, clock=Clock(T0 + 20))
    seen: list[tuple[RuleEvent, tuple[int, ...]]] = []

    def publish(event: Any) -> None:
        if isinstance(event, RuleEvent):
            latest = run.latest
            assert latest is not None
            seen.append((event, tuple(track.track_id for track in latest.tracks)))

    run = CameraPipeline(
        spec,
        batcher=None,
        tracker_spec=TrackerSpec(),
        publish=publish,
        rules=build_rules(spec),
        track_provider=feed,
    )
    run.process(frame())  # a frame before any message: no track
    for message in messages("0.17"):
        feed.receive(message)
    run.process(frame())  # every message at once: the crossing comes with the first track
    crossing = [tracks for event, tracks in seen if event.kind == "line_crossing"]
    assert crossing == [(track_id(PERSON_ID),)]


@pytest.mark.parametrize("version", VERSIONS)
def test_steps_replay_the_path(version: str) -> None:
    """From 0.15 the path between two messages becomes steps; boxes scale to the frame."""
    spec = camera()
    assert spec.frigate is not None
    feed = FrigateTrackFeed("front", spec.frigate, clock=Clock(T0 + 20))
    walk = [m for m in messages(version) if not isinstance(m, FrigateAvailability)]
    feed.receive(walk[0])
    feed.receive(walk[1])
    feed.receive(walk[2])
    steps = feed.steps(frame((320, 180)))
    # Frigate's times, moved onto the local clock (the smallest delay seen: 20 - 4 s).
    times = [round(step.pts_s - T0 - 16, 2) for step in steps]
    if version == "0.14":
        assert times == [0.0, 1.5, 4.0]
    else:
        assert times == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    last = steps[-1].tracks[0]
    assert last.track_id == track_id(PERSON_ID)
    assert last.matched
    assert last.bbox.bottom_center == pytest.approx((0.40 * 320, 0.92 * 180), abs=1.0)
    assert last.velocity[0] < 0  # walking left
    assert last.hits == len(steps)
    assert last.first_seen_s == pytest.approx(T0 + 16, abs=0.01)
    assert last.history[-1][0] == pytest.approx(T0 + 20, abs=0.01)
    # Nothing new: one idle step, the object carried over unmatched.
    idle = feed.steps(frame((320, 180)))
    assert len(idle) == 1
    assert idle[0].pts_s >= steps[-1].pts_s
    assert not idle[0].tracks[0].matched


def test_end_stale_and_offline() -> None:
    """Objects end with their last message, go stale unmentioned, vanish when Frigate stops."""
    spec = FrigateDetectionSpec(camera="front_door", detect_size=(640, 360), stale_s=30)
    clock = Clock(T0)
    feed = FrigateTrackFeed("front", spec, clock=clock)
    walk = [m for m in messages("0.15") if not isinstance(m, FrigateAvailability)]
    feed.receive(walk[0])
    assert [t.track_id for t in feed.steps(frame())[-1].tracks] == [track_id(PERSON_ID)]
    # Unmentioned for longer than stale_s: dropped.
    clock.now = T0 + 31
    assert feed.steps(frame())[-1].tracks == ()
    # A late message for an object already seen later is ignored; its end closes it.
    feed.receive(walk[2])
    feed.receive(walk[1])
    assert len(feed.steps(frame())[-1].tracks) == 1
    feed.receive(walk[-1])
    steps = feed.steps(frame())
    assert steps[-1].tracks[0].matched  # seen a last time at its end
    assert feed.steps(frame())[-1].tracks == ()
    feed.receive(walk[3])  # a late update after the end does not bring it back
    assert feed.steps(frame())[-1].tracks == ()
    # Frigate stops: everything it tracked is gone at once.
    other = person("0.15", "1718987200.000000-aaaaaa", T0 + 40)
    feed.receive(
        parse_message("events", encode(other.message("new", other.state(T0 + 40, 0.5, 0.9))[1]))
    )  # type: ignore[arg-type]
    clock.now = T0 + 41
    assert len(feed.steps(frame())[-1].tracks) == 1
    feed.receive(FrigateAvailability(online=False))
    assert not feed.available
    assert feed.steps(frame())[-1].tracks == ()
    feed.receive(FrigateAvailability(online=True))
    assert feed.available


@pytest.mark.parametrize("version", ["0.16", "0.17"])
def test_plates_go_to_the_sink(version: str) -> None:
    """A plate Frigate read goes to the plate sink once per object, never into events."""
    spec = camera("gate_lpr", (1920, 1080))
    assert spec.frigate is not None
    plates: list[FrigatePlate] = []
    feed = FrigateTrackFeed("front", spec.frigate, plate_sink=plates.append, clock=Clock(T0 + 9))
    events: list[RuleEvent] = []
    run = pipeline(spec, feed, events)
    for message in messages(version, "gate_lpr"):
        feed.receive(message)
        run.process(frame())
    assert plates == [
        FrigatePlate(
            camera_id="front",
            track_id=track_id(CAR_ID),
            text=PLATE,
            score=pytest.approx(0.933451),  # type: ignore[arg-type]
            at_s=pytest.approx(T0 + 9, abs=0.01),  # type: ignore[arg-type]
        )
    ]
    assert PLATE not in repr([e.as_dict() for e in events])


def test_track_ids_are_stable() -> None:
    """The same Frigate id gives the same track id in every process; others differ."""
    assert track_id(PERSON_ID) == track_id(str(PERSON_ID))
    assert track_id(PERSON_ID) != track_id(CAR_ID)
    assert 0 < track_id(PERSON_ID) < 2**31


def test_pixels_needed() -> None:
    """The restream is decoded only for tamper, object left/removed, or when asked."""
    assert needs_pixels(camera())  # tamper is on by default
    assert not needs_pixels(camera(tamper={"enabled": False}))
    left = {"type": "object_left", "id": "bags"}
    assert needs_pixels(camera(tamper={"enabled": False}, rules=[left]))
    forced = camera(tamper={"enabled": False})
    assert forced.frigate is not None
    always = forced.model_copy(
        update={"frigate": forced.frigate.model_copy(update={"pixels": "always"})}
    )
    assert needs_pixels(always)
    # Plates: Frigate's reads need no pixels; Vigil's own reading does.
    plates = {"tamper": {"enabled": False}, "anpr": {"enabled": True}}
    assert not needs_pixels(camera(**plates))
    assert plates_from_frigate(camera(**plates))
    vigil_reads = camera(
        **plates, frigate={"camera": "gate_lpr", "detect_size": [1920, 1080], "plates": "vigil"}
    )
    assert needs_pixels(vigil_reads)
    assert not plates_from_frigate(vigil_reads)


def test_tick_source_follows_health() -> None:
    """Pixel-free frames flow while Frigate and the broker are up; the state says when not."""
    frames: list[Frame] = []
    states: list[SourceStateEvent] = []
    problem: list[str | None] = [None]
    source = TickSource(
        "front",
        (640, 360),
        fps=50,
        on_frame=frames.append,
        on_state=states.append,
        health=lambda: problem[0],
    )
    source.start()
    try:
        deadline = time.monotonic() + 5
        while len(frames) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        problem[0] = "frigate_offline"
        while states[-1].state is not SourceState.OFFLINE and time.monotonic() < deadline:
            time.sleep(0.01)
        problem[0] = None
        while states[-1].state is not SourceState.ONLINE and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        assert source.stop()
    assert [(s.state, s.translation_key) for s in states] == [
        (SourceState.CONNECTING, "connecting"),
        (SourceState.ONLINE, "online"),
        (SourceState.OFFLINE, "frigate_offline"),
        (SourceState.ONLINE, "online"),
    ]
    assert frames[0].width == 640
    assert frames[0].height == 360
    assert not frames[0].image.flags.writeable
    assert source.stats.frames_delivered == len(frames)


def _plate_run(version: str, privacy: str, watched: list[str]) -> tuple[list[RuleEvent], Any]:
    """Run the gate_lpr scenario through a Frigate camera reading plates with Vigil's sink."""
    from vigil_core.anpr.runtime import AnprRuntime  # noqa: PLC0415
    from vigil_core.config import AnprSettings  # noqa: PLC0415
    from vigil_core.feeds.frigate_tracks import FrigatePlateStage  # noqa: PLC0415
    from vigil_core.inference.session import SessionCache  # noqa: PLC0415

    entries = [
        {"id": f"w{i}", "plate": p, "reason": "stolen vehicle report", "expires": "2099-12-31"}
        for i, p in enumerate(watched)
    ]
    settings = AnprSettings.model_validate({"watchlist": {"entries": entries}})
    runtime = AnprRuntime(settings, sessions=SessionCache(), purge_interval_s=0)
    spec = camera("gate_lpr", (1920, 1080), anpr={"enabled": True, "privacy": privacy})
    assert spec.frigate is not None
    stage = FrigatePlateStage("front", spec.anpr, runtime)
    feed = FrigateTrackFeed("front", spec.frigate, plate_sink=stage.receive, clock=Clock(T0 + 9))
    events: list[RuleEvent] = []
    run = CameraPipeline(
        spec,
        batcher=None,
        tracker_spec=TrackerSpec(),
        publish=lambda e: events.append(e) if isinstance(e, RuleEvent) else None,
        rules=[],
        track_stages=[stage],
        track_provider=feed,
    )
    for message in messages(version, "gate_lpr"):
        feed.receive(message)
        run.process(frame())
    run.process(frame())
    return events, runtime


@pytest.mark.parametrize("version", ["0.16", "0.17"])
def test_frigate_plates_meet_the_watchlist(version: str) -> None:
    """A watched plate Frigate read raises Vigil's watchlist match, once, when the car leaves."""
    events, runtime = _plate_run(version, "watchlist", ["AB-123-CD"])
    try:
        kinds = [e.kind for e in events]
        assert kinds == ["watchlist_match", "plate_passage"]
        match = events[0]
        assert match.track_id == track_id(CAR_ID)
        assert match.attrs["exact"] is True
        assert match.attrs["direction"] == "approaching"
        assert events[1].attrs["watchlisted"] is True
    finally:
        runtime.close()


def test_frigate_plates_follow_the_privacy_mode() -> None:
    """Unwatched plates leave no text anywhere in watchlist mode; hashed mode keeps hashes."""
    events, runtime = _plate_run("0.16", "watchlist", ["ZZ-999-ZZ"])
    try:
        assert [e.kind for e in events] == ["plate_passage"]
        assert PLATE not in repr([e.as_dict() for e in events])
        assert runtime.diagnostics()["stored_rows"]["hashed"] == 0  # type: ignore[index]
    finally:
        runtime.close()
    events, runtime = _plate_run("0.16", "hashed", [])
    try:
        assert [e.kind for e in events] == ["plate_passage"]
        sightings = runtime.query(PLATE, who="test", reason="test")
        assert [s.camera_id for s in sightings] == ["front"]
        assert sightings[0].plate is None  # a keyed hash, not the text
    finally:
        runtime.close()
