"""The real engine on Frigate's detections: a real mosquitto broker, the RTSP restream.

Frigate itself is played by the tests: they publish each version's recorded payloads
(tests/fixtures/frigate/mqtt) to mosquitto on 127.0.0.1, and GStreamer's RTSP server stands in
for go2rtc's restream. No detector model is loaded: every camera takes Frigate's detections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import RtspServerFactory
from tests.support.frigate_payloads import (
    PERSON_ID,
    T0,
    VERSIONS,
    load_scenario,
    person,
    walk_messages,
)
from tests.support.mosquitto import Mosquitto, mosquitto, publish  # noqa: F401
from vigil_core.config import EngineConfig
from vigil_core.engine import Engine
from vigil_core.events.model import RuleEvent, SourceState, SourceStateEvent, VigilEvent
from vigil_core.feeds.frigate_tracks import track_id

PORCH = [[0.115, 0.6], [0.5, 0.6], [0.5, 1.0], [0.115, 1.0]]


async def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll until `predicate` holds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def config(broker: Mosquitto, state_dir: Path, **camera: Any) -> EngineConfig:
    """Return an engine with one camera taking front_door's detections from Frigate."""
    spec = {
        "id": "front",
        "source": "rtsp://127.0.0.1:1/front_door",
        "fps": 10,
        "detections": "frigate",
        "frigate": {"camera": "front_door", "detect_size": [640, 360]},
        "tamper": {"enabled": False},
        "zones": [{"id": "porch", "polygon": PORCH}],
        "rules": [{"type": "line_crossing", "id": "door", "line": [[0.6, 0.0], [0.6, 1.0]]}],
    } | camera
    return EngineConfig.parse(
        {
            "cameras": [spec],
            "frigate_mqtt": {"host": "127.0.0.1", "port": broker.port},
            "state_dir": str(state_dir),
        }
    )


class Run:
    """A started engine and what it published."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.events: list[VigilEvent] = []
        engine.bus.subscribe(self.events.append)

    def rule_events(self, kind: str) -> list[RuleEvent]:
        return [e for e in self.events if isinstance(e, RuleEvent) and e.kind == kind]

    def states(self) -> list[SourceState]:
        return [e.state for e in self.events if isinstance(e, SourceStateEvent)]

    def crossings(self) -> int:
        return len(self.rule_events("line_crossing"))

    def totals(self) -> dict[str, dict[str, int]]:
        rule = next(r for r in self.engine.pipeline("front").rules if r.rule_id == "door")
        totals: dict[str, dict[str, int]] = rule.totals()  # type: ignore[attr-defined]
        return totals


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[[EngineConfig], Any]]:
    """Start engines; stop them after the test."""
    engines: list[Engine] = []

    async def run(cfg: EngineConfig) -> Run:
        engine = Engine(cfg)
        result = Run(engine)
        await engine.start()
        engines.append(engine)
        await wait_for(
            lambda: SourceState.ONLINE in result.states(), 10, "the camera online (MQTT connected)"
        )
        return result

    yield run
    for engine in engines:
        await engine.stop()


async def _publish(broker: Mosquitto, messages: list[tuple[str, Any]]) -> None:
    await asyncio.to_thread(publish, broker.port, messages)


@pytest.mark.parametrize("version", VERSIONS)
async def test_line_counted_once(
    version: str,
    mosquitto: Mosquitto,  # noqa: F811 - the imported fixture
    start: Callable[[EngineConfig], Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each version's recorded messages: the door line counts the person once, the porch follows.

    The scenario also carries another camera (gate_lpr, 0.16+) and metadata Vigil never reads:
    the other camera is skipped and logged once.
    """
    run = await start(config(mosquitto, tmp_path))
    with caplog.at_level(logging.WARNING, logger="vigil_core.feeds.frigate_mqtt"):
        await _publish(mosquitto, load_scenario(version))
        await wait_for(lambda: run.crossings() == 1, 10, "the crossing")
        await wait_for(lambda: len(run.rule_events("zone_presence")) == 2, 10, "the porch events")
    crossing = run.rule_events("line_crossing")[0]
    assert crossing.track_id == track_id(PERSON_ID)
    assert crossing.attrs["direction"] == "a_to_b"
    assert run.totals() == {"person": {"a_to_b": 1}}
    unknown = [r for r in caplog.records if "gate_lpr" in r.getMessage()]
    assert len(unknown) == (1 if version in ("0.16", "0.17") else 0)
    # Frigate's own time orders everything: the porch was entered after the crossing.
    entered = run.rule_events("zone_presence")[0]
    assert entered.at_s > crossing.at_s > T0


async def test_broker_restart_loses_no_count(
    mosquitto: Mosquitto,  # noqa: F811 - the imported fixture
    start: Callable[[EngineConfig], Any],
    tmp_path: Path,
) -> None:
    """A broker restart in the middle of a walk: the crossing after it still counts, once.

    The camera shows offline while the broker is away; the client reconnects and subscribes
    again by itself, and the object's side of the line is remembered across the outage.
    """
    run = await start(config(mosquitto, tmp_path))
    walk = walk_messages("0.15")
    await _publish(mosquitto, walk[:2])  # seen right of the line
    await asyncio.sleep(0.3)
    online_before = run.states().count(SourceState.ONLINE)
    await asyncio.to_thread(mosquitto.restart)
    await wait_for(lambda: run.states()[-1] is SourceState.OFFLINE, 10, "the camera offline")
    await wait_for(
        lambda: run.states().count(SourceState.ONLINE) > online_before, 15, "the reconnection"
    )
    assert run.crossings() == 0
    await _publish(mosquitto, walk[2:])  # left of the line, then the end
    await wait_for(lambda: run.crossings() == 1, 10, "the crossing after the restart")
    # A second person after the restart counts too: nothing was lost, nothing doubled.
    second = person("0.15", "1718987160.000000-b2b2b2", T0 + 30)
    await _publish(
        mosquitto,
        second.walk(
            [(0, 0.8, 0.9), (1, 0.7, 0.9), (2, 0.5, 0.9), (3, 0.4, 0.9)], publish_at=[0, 1]
        ),
    )
    await wait_for(lambda: run.crossings() == 2, 10, "the second crossing")
    await asyncio.sleep(0.3)
    assert run.totals() == {"person": {"a_to_b": 2}}


async def test_frigate_restart_loses_no_count(
    mosquitto: Mosquitto,  # noqa: F811 - the imported fixture
    start: Callable[[EngineConfig], Any],
    tmp_path: Path,
) -> None:
    """Frigate stops (offline) and starts again with new ids: its old objects are forgotten,
    the camera is offline meanwhile, and counts before and after add up; they persist too."""
    run = await start(config(mosquitto, tmp_path))
    await _publish(mosquitto, [("frigate/available", "online"), *walk_messages("0.16")])
    await wait_for(lambda: run.crossings() == 1, 10, "the first crossing")
    # A person half-way when Frigate stops: Frigate forgets them, so does Vigil.
    halfway = person("0.16", "1718987170.000000-c3c3c3", T0 + 40)
    await _publish(
        mosquitto, halfway.walk([(0, 0.8, 0.9), (1, 0.7, 0.9)], publish_at=[0, 1], end=False)
    )
    await asyncio.sleep(0.3)
    await _publish(mosquitto, [("frigate/available", "offline")])
    await wait_for(lambda: run.states()[-1] is SourceState.OFFLINE, 10, "the camera offline")
    await _publish(mosquitto, [("frigate/available", "online")])
    await wait_for(lambda: run.states()[-1] is SourceState.ONLINE, 10, "the camera online")
    # After the restart the same person has a new id and is left of the line: no crossing.
    again = person("0.16", "1718987180.000000-d4d4d4", T0 + 60)
    await _publish(mosquitto, again.walk([(0, 0.45, 0.9), (1, 0.4, 0.9)], publish_at=[0]))
    # A new walk across the line counts.
    await _publish(mosquitto, walk_messages("0.16", "1718987190.000000-e5e5e5", T0 + 80))
    await wait_for(lambda: run.crossings() == 2, 10, "the crossing after the restart")
    await asyncio.sleep(0.3)
    assert run.crossings() == 2
    # The totals survive a restart of Vigil as well (state_dir).
    await run.engine.stop()
    rerun = await start(config(mosquitto, tmp_path))
    assert rerun.totals() == {"person": {"a_to_b": 2}}


async def test_pixels_from_the_restream(
    mosquitto: Mosquitto,  # noqa: F811 - the imported fixture
    rtsp_server: RtspServerFactory,
    start: Callable[[EngineConfig], Any],
    tmp_path: Path,
) -> None:
    """With tamper on, frames come from the restream at a low rate; Frigate's boxes scale to it."""
    server = rtsp_server(size=(320, 180), fps=10, mount="/front_door")
    cfg = config(
        mosquitto,
        tmp_path,
        source=server.url,
        tamper={"enabled": True},
        frigate={"camera": "front_door", "detect_size": [640, 360], "pixel_fps": 4},
    )
    run = await start(cfg)
    pipeline = run.engine.pipeline("front")
    assert pipeline.camera.fps == 4
    walk = walk_messages("0.17")
    await _publish(mosquitto, walk[:3])
    await wait_for(lambda: run.crossings() == 1, 15, "the crossing")
    latest = pipeline.latest
    assert latest is not None
    assert (latest.frame.width, latest.frame.height) == (320, 180)
    assert latest.frame.image.any()  # real pixels, not the blank frame
    box = latest.tracks[0].bbox
    assert box.bottom_center == pytest.approx((0.40 * 320, 0.92 * 180), abs=1.0)
    # The camera's state follows the restream here: it drops when the restream does.
    await asyncio.to_thread(server.stop)
    await wait_for(
        lambda: run.states()[-1] in (SourceState.STALLED, SourceState.OFFLINE), 15, "the outage"
    )


def _poison(walk: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Return payloads no Frigate sends that used to kill paho's network thread."""
    topic, first = walk[0]
    text = json.dumps(first)
    huge = "9" * 400
    scored = text.replace(f'"score": {first["after"]["score"]}', f'"score": {huge}', 1)
    assert scored != text
    path = dict(first, after=dict(first["after"], path_data=[[[0.5, 0.5], int(huge)]]))
    return [
        (topic, scored),  # OverflowError converting the score
        (topic, "[" * 5000 + "]" * 5000),  # RecursionError in the JSON parser
        (topic, '{"type": "new", "after": ' * 3000 + "1" + "}" * 3000),
        (topic, json.dumps(path)),  # OverflowError in the path
        (topic, b"\xff\xfe not utf-8"),
    ]


async def test_poison_messages_do_not_stop_the_feed(
    mosquitto: Mosquitto,  # noqa: F811 - the imported fixture
    start: Callable[[EngineConfig], Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Messages no Frigate sends are each dropped; the walk published after them still counts.

    A huge number or a deep nesting used to raise inside paho's callback, which ended its
    network thread: later messages for every camera were never read while the transport still
    said connected.
    """
    run = await start(config(mosquitto, tmp_path))
    walk = walk_messages("0.15")
    with caplog.at_level(logging.DEBUG, logger="vigil_core.feeds.frigate_mqtt"):
        await _publish(mosquitto, [*_poison(walk), *_poison(walk)])
        await _publish(mosquitto, walk)
        await wait_for(lambda: run.crossings() == 1, 10, "the crossing after the poison")
    warnings = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and "frigate/events" in r.getMessage()
    ]
    # Rate-limited: one line for the burst of ten bad messages, not one per message.
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert run.engine.status("front").state is SourceState.ONLINE
