"""Orientation changes and day/night changes built from the shared footage.

Each clip shows the central 75 % window of a shared clip (tests/support/tamper_clips.py). The
orientation clips are 16 s at 10 fps; from t = 8 s the window is

- shifted right by 15 % of the frame width (camera panned),
- rotated 10° counter-clockwise about the centre (camera knocked on its mount),
- zoomed 1.5× about the centre (lens re-zoomed),

and each change must start an orientation_change within 2 s, with nothing before. A camera
turned to face something else close by shows, from 8 s, a region of another clip that is sharp
but mostly flat: the plastered wall with cracks, creepers and buildings at its top edge from the
first, sharp second of tamper_defocus.mp4 (whole, or a close part of it), or the paving of
abandoned_bag_aboda4.avi seen 2.5 times closer. That too is an orientation change, never an
obstruction (a cover is close, dark or blurred). The day/night clips, 45 s at 5 fps, must
raise nothing at all:

- dusk: brightness ramps from ×1 to ×0.3 between 5 s and 35 s, then holds;
- dawn: the reverse ramp, from ×0.3 to ×1;
- glare: a ramp from ×1 to ×1.6 (highlights clip at 255);
- infrared: at 10 s the picture switches to grey (luma), contrast ×0.55, lifted by 60 levels.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from tests.support.shared import media
from tests.support.tamper_clips import (
    Effect,
    Image,
    ViewChange,
    encode,
    gain_ramp,
    infrared_switch,
    moved_view,
    render,
    source_frames,
    turned_to,
)
from vigil_core.events.model import EventPhase
from vigil_tools.eval.tamper import ClipRun, analyse_clip

CHANGE_AT_S = 8.0
MOVES = {
    "shift": ViewChange(shift=0.15),
    "rotate": ViewChange(rotate_deg=10.0),
    "zoom": ViewChange(zoom=1.5),
}
SIZES = {
    "vtest.avi": (640, 480),
    "one-by-one-person-detection.mp4": (640, 360),
    "motorway_320x240.avi": (320, 240),
    "abandoned_bag_aboda4.avi": (640, 426),
}


@cache
def frames(name: str, fps: float, seconds: float) -> list[Image]:
    return source_frames(media(name), fps=fps, seconds=seconds)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tamper_views")


def build_and_run(
    folder: Path, label: str, name: str, fps: float, seconds: float, effect: Effect
) -> ClipRun:
    path = folder / f"{Path(name).stem}_{label}.mp4"
    encode(render(frames(name, fps, seconds), fps, effect), path, fps=fps)
    return analyse_clip(path)


def started(run: ClipRun) -> list[tuple[str, float]]:
    return [(e.kind, e.at_s) for e in run.events if e.phase is EventPhase.STARTED]


@pytest.mark.parametrize(
    ("name", "move"),
    [
        ("vtest.avi", "shift"),
        ("vtest.avi", "rotate"),
        ("vtest.avi", "zoom"),
        ("one-by-one-person-detection.mp4", "shift"),
        ("one-by-one-person-detection.mp4", "rotate"),
        ("one-by-one-person-detection.mp4", "zoom"),
        ("motorway_320x240.avi", "rotate"),
        ("abandoned_bag_aboda4.avi", "shift"),
    ],
)
def test_a_moved_view_is_an_orientation_change_within_two_seconds(
    folder: Path, name: str, move: str
) -> None:
    effect = moved_view(MOVES[move], CHANGE_AT_S, SIZES[name])
    run = build_and_run(folder, move, name, 10.0, 16.0, effect)
    alarms = started(run)
    assert [kind for kind, _ in alarms] == ["orientation_change"], run.events
    at_s = alarms[0][1]
    assert CHANGE_AT_S < at_s <= CHANGE_AT_S + 2.0
    print(f"{name} {move}: orientation_change {at_s - CHANGE_AT_S:.1f} s after the change")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("vtest.avi", "dusk"),
        ("vtest.avi", "dawn"),
        ("vtest.avi", "infrared"),
        ("one-by-one-person-detection.mp4", "infrared"),
        ("motorway_320x240.avi", "glare"),
    ],
)
def test_day_and_night_changes_raise_nothing(folder: Path, name: str, label: str) -> None:
    size = SIZES[name]
    effects = {
        "dusk": gain_ramp(5.0, 30.0, 1.0, 0.3, size),
        "dawn": gain_ramp(5.0, 30.0, 0.3, 1.0, size),
        "glare": gain_ramp(5.0, 20.0, 1.0, 1.6, size),
        "infrared": infrared_switch(10.0, size),
    }
    seconds = 30.0 if label == "glare" else 45.0
    run = build_and_run(folder, label, name, 5.0, seconds, effects[label])
    assert run.frames >= 5 * seconds - 2
    assert started(run) == [], run.events


WALLS = {
    "wall": ("tamper_defocus.mp4", (0.0, 0.0, 1.0, 0.75)),
    "wall_close": ("tamper_defocus.mp4", (0.15, 0.0, 0.65, 0.5)),
    "wall_right": ("tamper_defocus.mp4", (0.5, 0.0, 1.0, 0.6)),
    "paving_close": ("abandoned_bag_aboda4.avi", (0.05, 0.45, 0.4, 0.95)),
}


@cache
def wall_frames(name: str) -> list[Image]:
    """Return a looping second of a clip (the focus clip is sharp only in its first second)."""
    sharp = frames(name, 10.0, 1.2)
    return (sharp + sharp[::-1]) * 5


@pytest.mark.parametrize(
    ("name", "wall"),
    [
        ("vtest.avi", "wall"),
        ("vtest.avi", "wall_close"),
        ("vtest.avi", "paving_close"),
        ("one-by-one-person-detection.mp4", "wall_close"),
        ("motorway_320x240.avi", "wall"),
        ("motorway_320x240.avi", "wall_right"),
        ("abandoned_bag_aboda4.avi", "wall_close"),
    ],
)
def test_a_camera_turned_to_a_nearby_sharp_view_is_an_orientation_change(
    folder: Path, name: str, wall: str
) -> None:
    source, region = WALLS[wall]
    effect = turned_to(wall_frames(source), region, CHANGE_AT_S, SIZES[name], fps=10.0)
    run = build_and_run(folder, f"turned_{wall}", name, 10.0, 16.0, effect)
    alarms = started(run)
    assert [kind for kind, _ in alarms] == ["orientation_change"], run.events
    assert CHANGE_AT_S < alarms[0][1] <= CHANGE_AT_S + 2.0
    assert run.peaks["obstruction"] < 0.5
