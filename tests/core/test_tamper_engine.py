"""The engine runs the camera-health checks on every camera and re-captures on request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.shared import media
from tests.support.tamper_clips import ViewChange, encode, moved_view, render, source_frames
from vigil_core.config import CameraSpec, EngineConfig, SourceSpec
from vigil_core.engine import Engine
from vigil_core.errors import VigilError
from vigil_core.events.model import EventPhase, RuleEvent, VigilEvent


async def test_an_orientation_change_ends_when_the_reference_is_recaptured(
    tmp_path: Path, models_dir: Path
) -> None:
    # vtest's central window, panned 15 % to the right at 3 s; 8 s played in real time.
    frames = source_frames(media("vtest.avi"), fps=10.0, seconds=8.0)
    clip = encode(
        render(frames, 10.0, moved_view(ViewChange(shift=0.15), 3.0, (640, 480))),
        tmp_path / "panned.mp4",
        fps=10.0,
    )
    camera = CameraSpec(id="gate", source=SourceSpec(url=str(clip), realtime=True))
    engine = Engine(EngineConfig(models_dir=str(models_dir), cameras=[camera]))
    events: list[RuleEvent] = []

    def on_event(event: VigilEvent) -> None:
        if isinstance(event, RuleEvent) and event.rule_id == "tamper":
            events.append(event)
            if event.phase is EventPhase.STARTED:
                engine.recapture_reference("gate")  # the user presses "re-capture reference"

    engine.bus.subscribe(on_event)
    await engine.start()
    try:
        with pytest.raises(VigilError, match="no camera-health checks"):
            engine.recapture_reference("elsewhere")
        await asyncio.wait_for(engine.wait_finished(), 30)
        await asyncio.sleep(0.2)  # the last events reach the loop
    finally:
        await engine.stop()
    phases = [(e.kind, e.phase, e.attrs.get("reason")) for e in events]
    assert phases == [
        ("orientation_change", EventPhase.STARTED, None),
        ("orientation_change", EventPhase.ENDED, "reference_recaptured"),
    ]
    assert 3.0 < events[0].at_s <= 5.0
