"""The real engine on a real RTSP stream: events flow, the server dies and comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.support.shared import MODELS_DIR, media
from vigil_core.config import CameraSpec, EngineConfig, SourceSpec
from vigil_core.engine import Engine
from vigil_core.events.model import RuleEvent, SourceState, SourceStateEvent, VigilEvent
from vigil_tools.demo import DEMO_ZONE


async def wait_for(predicate: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_engine_follows_an_rtsp_camera_through_an_outage(rtsp_server: Any) -> None:
    server = rtsp_server(media("vtest.avi"), seconds=20, loops=6)
    camera = CameraSpec(
        id="crossroads",
        source=SourceSpec(
            url=server.url,
            stall_s=1.0,
            read_timeout_s=2.0,
            backoff_initial_s=0.2,
            backoff_max_s=1.0,
        ),
        zones=[DEMO_ZONE],
    )
    engine = Engine(EngineConfig(models_dir=str(MODELS_DIR), cameras=[camera]))
    events: list[VigilEvent] = []
    engine.bus.subscribe(events.append)

    def states() -> list[SourceState]:
        return [e.state for e in events if isinstance(e, SourceStateEvent)]

    def rule_events() -> list[RuleEvent]:
        return [e for e in events if isinstance(e, RuleEvent)]

    await engine.start()
    try:
        await wait_for(lambda: SourceState.ONLINE in states(), 15, "the stream to come online")
        await wait_for(
            lambda: any(e.kind == "zone_presence" for e in rule_events()), 20, "a zone event"
        )
        assert engine.status("crossroads").frames_analysed > 0
        first_outage = len(states())
        server.stop()
        await wait_for(
            lambda: SourceState.OFFLINE in states()[first_outage:], 15, "the outage to show"
        )
        outage = states()[first_outage:]
        assert outage[0] in (SourceState.STALLED, SourceState.OFFLINE)
        # Offline, its analysed rate falls to zero (the window is 10 s), not its last value.
        await wait_for(
            lambda: engine.status("crossroads").analysed_fps == 0.0, 30, "the rate to fall"
        )
        assert not engine.status("crossroads").overloaded
        assert engine.load().analysed_fps == 0.0
        analysed = engine.status("crossroads").frames_analysed
        server.restart()
        await wait_for(
            lambda: states()[-1] is SourceState.ONLINE and len(states()) > first_outage + 1,
            30,
            "the engine to reconnect by itself",
        )
        await wait_for(
            lambda: engine.status("crossroads").frames_analysed > analysed + 5,
            15,
            "analysis to resume",
        )
        sequence = states()[first_outage:]
        assert SourceState.CONNECTING in sequence
        assert sequence[-1] is SourceState.ONLINE
    finally:
        await engine.stop()
    zone = [e for e in rule_events() if e.kind == "zone_presence"]
    assert zone
    assert all(isinstance(e.attrs.get("count"), int) for e in zone)
