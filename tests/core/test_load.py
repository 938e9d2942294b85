"""The overload signal: per-camera dropped share, the engine's flag and its one log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vigil_core.config import CameraSpec, EngineConfig, SourceSpec
from vigil_core.engine import Engine
from vigil_core.load import MIN_SPAN_S, LoadMeter


class _Camera:
    """Counters of a camera whose stream delivers frames of which a share is analysed."""

    def __init__(self, meter: LoadMeter) -> None:
        self.meter = meter
        self.t = self.analysed = self.dropped = 0.0

    def run(self, seconds: float, fps: float, kept: float) -> list[tuple[float, bool]]:
        """Advance `seconds` at `fps` delivered, `kept` of them analysed; return state changes."""
        changes = []
        end = self.t + seconds
        while self.t < end:
            self.t += 1.0 / (fps * kept)
            self.analysed += 1
            self.dropped += (1 - kept) / kept
            change = self.meter.update(self.t, int(self.analysed), int(self.dropped))
            if change is not None:
                changes.append((round(self.t, 1), change))
        return changes


def test_a_camera_keeping_up_is_never_overloaded() -> None:
    meter = LoadMeter()
    assert _Camera(meter).run(30, 5.0, 1.0) == []
    assert meter.figures.overloaded is False
    assert meter.figures.analysed_fps == pytest.approx(5.0, rel=0.05)
    assert meter.figures.kept_share == 1.0


def test_falling_behind_raises_the_flag_once_and_recovering_lowers_it() -> None:
    meter = LoadMeter()
    camera = _Camera(meter)
    changes = camera.run(20, 5.0, 0.6)
    assert len(changes) == 1 and changes[0][1] is True
    assert changes[0][0] >= MIN_SPAN_S  # no judgement on a few frames
    assert meter.figures.kept_share == pytest.approx(0.6, abs=0.05)
    # Back to keeping up: the flag falls once the window no longer holds the drops.
    recovered = camera.run(20, 5.0, 1.0)
    assert [change for _, change in recovered] == [False]
    assert meter.figures.dropped_fps == 0.0


def test_a_camera_that_stops_sending_falls_to_zero_and_is_no_longer_overloaded() -> None:
    meter = LoadMeter()
    camera = _Camera(meter)
    assert not meter.measuring
    assert [change for _, change in camera.run(20, 5.0, 0.6)] == [True]
    assert meter.measuring
    # The stream stops: the analysis thread still updates the meter on every idle wait.
    stopped_at, analysed, dropped = camera.t, int(camera.analysed), int(camera.dropped)
    changes = [meter.update(stopped_at + 0.5 * i, analysed, dropped) for i in range(1, 30)]
    assert [change for change in changes if change is not None] == [False]
    assert (meter.figures.analysed_fps, meter.figures.dropped_fps) == (0.0, 0.0)


def test_the_rate_falls_to_zero_when_the_analysis_thread_has_ended() -> None:
    """A file's end stops the analysis thread: no idle waits update the meter any more.

    The figures keep the last frame's rate; the rate asked for at a later time falls to zero
    over the window (it stayed at the last rate, 50 frames/s after a file had ended).
    """
    meter = LoadMeter()
    camera = _Camera(meter)
    camera.run(20, 5.0, 1.0)
    end = camera.t
    assert meter.analysed_fps_at(end + 0.1) == meter.figures.analysed_fps  # between frames
    assert meter.analysed_fps_at(end + 5.0) == pytest.approx(2.5, abs=0.3)  # half the window
    assert meter.analysed_fps_at(end + 10.5) == 0.0
    assert meter.figures.analysed_fps == pytest.approx(5.0, rel=0.05)  # unchanged


def test_a_share_between_the_thresholds_does_not_flap() -> None:
    assert _Camera(LoadMeter()).run(30, 5.0, 0.94) == []  # 6 % dropped: under the 10 % mark
    camera = _Camera(LoadMeter())
    changes = camera.run(20, 5.0, 0.6)
    changes += camera.run(30, 5.0, 0.95)  # 5 %: above the 3 % that lowers it
    assert [change for _, change in changes] == [True]


async def test_the_engine_logs_one_line_when_entering_and_leaving_overload(
    models_dir: Path, vtest_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cameras = [
        CameraSpec(id=f"cam{i}", source=SourceSpec(url=str(vtest_path)), fps=5.0) for i in (0, 1)
    ]
    engine = Engine(EngineConfig(models_dir=str(models_dir), cameras=cameras))
    await engine.start()
    try:
        caplog.set_level(logging.INFO, logger="vigil_core.engine")
        # What the cameras' analysis threads report when their meters change state.
        engine._on_camera_load("cam0", True)
        engine._on_camera_load("cam1", True)
        assert engine.load().overloaded_cameras == ("cam0", "cam1")
        engine._on_camera_load("cam0", False)
        assert engine.load().overloaded
        engine._on_camera_load("cam1", False)
        load = engine.load()
        status = engine.status("cam0")
    finally:
        await engine.stop()
    lines = [r for r in caplog.records if r.name == "vigil_core.engine"]
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in lines] == [
        (logging.WARNING, "Overloaded"),
        (logging.INFO, "No longer overloaded"),
    ]
    assert "frames/s over 2 cameras" in lines[0].getMessage()
    assert not load.overloaded and load.target_fps == 10.0
    assert status.target_fps == 5.0 and status.overloaded is False
