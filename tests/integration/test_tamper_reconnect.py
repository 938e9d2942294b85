"""No camera-health alarm on the first frames after a stream outage (issue 16, item 5).

A real GStreamer RTSP server streams vtest; it is stopped, and restarted with a stream whose
first 1.6 s are grey, the picture a decoder shows when it starts mid-stream before the next
keyframe. Before the checks knew the stream had been away, those grey frames started an
`obstruction` at once (the cover's persistence counted across the outage) or after its one
second; now the first frames after a return are neither judged nor learned, and the view that
follows matches the reference again: the outage is a `stream_loss` and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.shared import MODELS_DIR, media
from tests.support.tamper_clips import Image, encode, source_frames
from vigil_core.config import CameraSpec, EngineConfig, SourceSpec
from vigil_core.engine import Engine
from vigil_core.events.model import (
    EventPhase,
    RuleEvent,
    SourceState,
    SourceStateEvent,
    VigilEvent,
)

pytestmark = pytest.mark.slow

FPS = 10.0
GREY_S = 1.6


async def wait_for(predicate: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def grey(like: Image, count: int) -> Iterator[Image]:
    """Yield mid-grey frames with a little noise (a decoder's picture before a keyframe)."""
    rng = np.random.default_rng(5)
    for _ in range(count):
        noise = rng.integers(-3, 4, like.shape, dtype=np.int16)
        yield np.clip(128 + noise, 0, 255).astype(np.uint8)


async def test_no_alarm_on_the_first_frames_after_a_stream_outage(
    rtsp_server: Any, tmp_path: Path
) -> None:
    frames = source_frames(media("vtest.avi"), fps=FPS, seconds=40.0)
    view = encode(iter(frames), tmp_path / "view.mp4", fps=FPS)
    rejoin = encode(
        itertools.chain(grey(frames[0], round(GREY_S * FPS)), iter(frames)),
        tmp_path / "rejoin.mp4",
        fps=FPS,
    )
    server = rtsp_server(view)
    camera = CameraSpec(
        id="gate",
        source=SourceSpec(
            url=server.url,
            stall_s=1.0,
            read_timeout_s=2.0,
            backoff_initial_s=0.2,
            backoff_max_s=1.0,
        ),
    )
    engine = Engine(EngineConfig(models_dir=str(MODELS_DIR), cameras=[camera]))
    events: list[VigilEvent] = []
    engine.bus.subscribe(events.append)

    def states() -> list[SourceState]:
        return [e.state for e in events if isinstance(e, SourceStateEvent)]

    def tamper(phase: EventPhase) -> list[RuleEvent]:
        return [
            e
            for e in events
            if isinstance(e, RuleEvent) and e.rule_id == "tamper" and e.phase is phase
        ]

    def analysed() -> int:
        return engine.status("gate").frames_analysed

    await engine.start()
    try:
        await wait_for(lambda: SourceState.ONLINE in states(), 15, "the stream to come online")
        await wait_for(lambda: analysed() >= 25, 30, "five seconds of the view")
        before = len(states())
        server.stop()
        await wait_for(lambda: SourceState.OFFLINE in states()[before:], 15, "the outage")
        await asyncio.sleep(3.0)
        server.file = rejoin
        server.start()
        await wait_for(lambda: SourceState.ONLINE in states()[before + 1 :], 20, "the return")
        back = analysed()
        # The grey second and a half, then four seconds of the view again.
        await wait_for(lambda: analysed() >= back + 30, 30, "six seconds after the return")
    finally:
        await engine.stop()
    started = [e.kind for e in tamper(EventPhase.STARTED)]
    assert started == ["stream_loss"], tamper(EventPhase.STARTED)
    assert [e.kind for e in tamper(EventPhase.ENDED)] == ["stream_loss"]
