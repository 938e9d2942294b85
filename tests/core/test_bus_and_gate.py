"""The event bus across threads, and the motion gate on still and moving frames."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np

from vigil_core.config import MotionSpec
from vigil_core.events import EventBus, EventPhase, RuleEvent, VigilEvent
from vigil_core.motion import MotionGate


def _event(n: int) -> RuleEvent:
    return RuleEvent(
        kind="zone_presence", camera_id="c", rule_id="z", track_id=n,
        phase=EventPhase.STARTED, at_s=0.0, frame_index=n, wall_time=time.time(),
    )  # fmt: skip


async def test_bus_delivers_from_threads_to_every_subscriber_on_the_loop() -> None:
    bus = EventBus(asyncio.get_running_loop())
    seen_a: list[VigilEvent] = []
    seen_b: list[int] = []
    loop_thread = threading.get_ident()

    def on_b(event: VigilEvent) -> None:
        assert threading.get_ident() == loop_thread
        assert isinstance(event, RuleEvent)
        seen_b.append(event.frame_index)

    unsubscribe_a = bus.subscribe(seen_a.append)
    bus.subscribe(on_b)
    async with bus.stream() as stream:
        threads = [threading.Thread(target=bus.publish, args=(_event(i),)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        got = [await asyncio.wait_for(anext(stream), 2) for _ in range(5)]
    assert len(got) == 5
    unsubscribe_a()
    bus.publish(_event(99))
    await asyncio.sleep(0)
    assert len(seen_a) == 5
    assert sorted(seen_b) == [0, 1, 2, 3, 4, 99]


async def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = EventBus(asyncio.get_running_loop())
    seen: list[VigilEvent] = []

    def broken(_: VigilEvent) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    bus.publish(_event(1))
    assert len(seen) == 1


def test_motion_gate_skips_still_frames_and_refreshes() -> None:
    gate = MotionGate(MotionSpec(refresh_s=2.0))
    rng = np.random.default_rng(0)
    still = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    assert gate.should_infer(still, 0.0)
    assert not gate.should_infer(still, 0.2)
    assert not gate.should_infer(still, 1.8)
    assert gate.should_infer(still, 2.1)  # forced refresh keeps stopped objects tracked
    moved = still.copy()
    moved[100:180, 300:340] = 255 - moved[100:180, 300:340]
    assert gate.should_infer(moved, 2.3)
    off = MotionGate(MotionSpec(enabled=False))
    assert all(off.should_infer(still, t / 5) for t in range(5))
