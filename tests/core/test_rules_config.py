"""Rule configuration: every family parses, and mistakes give one clear line."""

from __future__ import annotations

import json
from pathlib import Path
import pkgutil
import subprocess
import sys

import pytest

from tests.core.test_rules_support import camera
from vigil_core.config import EngineConfig
from vigil_core.errors import ConfigInvalid
from vigil_core.rules import build_rules
from vigil_core.rules.registry import registered_spec_types
from vigil_protocol import RULE_STATES

ZONE_A = {"id": "a", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}
ZONE_B = {"id": "b", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}
CALIBRATION = {
    "image_points": [[0.1, 0.5], [0.9, 0.5], [0.9, 0.9], [0.1, 0.9]],
    "ground_points": [[0, 0], [10, 0], [10, 5], [0, 5]],
}
EVERY_RULE = [
    {
        "type": "line_crossing",
        "id": "door",
        "line": [[0.5, 0.1], [0.5, 0.9]],
        "direction": "a_to_b",
    },
    {
        "type": "loitering",
        "id": "loiter",
        "zone": "a",
        "dwell_s": 30,
        "class_dwell_s": {"car": 300},
    },
    {
        "type": "crowd",
        "id": "crowd",
        "polygon": [[0, 0], [1, 0], [1, 1]],
        "metric": "density",
        "high": 1,
        "critical": 2,
        "movement": {},
    },
    {"type": "fast_move", "id": "fast", "speed_kmh": 15},
    {"type": "wrong_way", "id": "wrong", "zone": "b", "direction": [[0.6, 0.5], [0.9, 0.5]]},
    {"type": "object_left", "id": "left", "zone": "a", "detect": ["left", "removed"]},
    {"type": "route", "id": "route", "zones": ["a", "b"], "step_s": [20]},
]


def _error(**fields: object) -> str:
    with pytest.raises(ConfigInvalid) as err:
        EngineConfig.parse({"cameras": [{"id": "cam", "source": "x.mp4", **fields}]})
    message = str(err.value)
    assert "\n" not in message
    return message


def test_every_family_parses_and_builds_through_the_registry() -> None:
    cam = camera(zones=[ZONE_A, ZONE_B], rules=EVERY_RULE, calibration=CALIBRATION)
    rules = build_rules(cam)
    assert [r.rule_id for r in rules] == ["a", "b", *(r["id"] for r in EVERY_RULE)]
    assert [r.kind for r in rules[2:]] == [
        "line_crossing",
        "loitering",
        "crowd",
        "fast_move",
        "wrong_way",
        "object_left",
        "route",
    ]
    assert len(registered_spec_types()) == 7
    for rule in rules:
        state = rule.state()
        assert isinstance(state, RULE_STATES[rule.kind])


BUILD_WATCHED = """
import json, sys
from tests.core.test_rules_config import CALIBRATION, EVERY_RULE, ZONE_A, ZONE_B, camera
from vigil_core.rules import build_rules

cam = camera(zones=[ZONE_A, ZONE_B], rules=EVERY_RULE, calibration=CALIBRATION)
seen = []
watched = {"os.listdir", "os.scandir", "import", "open"}
sys.addaudithook(
    lambda event, args: seen.append([event, str(args[0])]) if event in watched else None
)
rules = build_rules(cam)
print(json.dumps({"rules": len(rules), "seen": seen}))
"""


def test_building_rules_lists_no_folder_and_imports_nothing() -> None:
    """The engine builds rules on the event loop: no listdir, import or open may happen there.

    A fresh interpreter, so that nothing earlier in this process has already loaded the rules.
    """
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WATCHED],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rules"] == 2 + len(EVERY_RULE)
    assert report["seen"] == []


def test_every_rule_module_is_imported_by_the_package() -> None:
    """A new rule module must be listed in rules/__init__.py, or its rule is never registered."""
    import vigil_core.rules as package  # noqa: PLC0415

    modules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    loaded = {
        name.rpartition(".")[2] for name in sys.modules if name.startswith(package.__name__ + ".")
    }
    assert modules <= loaded


@pytest.mark.parametrize(
    ("rule", "fragment", "where"),
    [
        (
            {"type": "line_crossing", "id": "l", "line": [[0.5, 0.5], [0.5, 0.5]]},
            "zero length",
            "rules.0.line_crossing.line",
        ),
        ({"type": "line_crossing", "id": "l", "line": [[0.5, 0.5]]}, "exactly 2 points", "line"),
        (
            {"type": "line_crossing", "id": "l", "line": [[0.1, 0.5], [1.5, 0.5]]},
            "outside the frame",
            "line",
        ),
        (
            {"type": "crowd", "id": "c", "zone": "a", "high": 5, "critical": 5},
            "must be above high",
            "crowd",
        ),
        ({"type": "crowd", "id": "c", "zone": "a", "hysteresis": 1.5}, "less than 1", "hysteresis"),
        ({"type": "loitering", "id": "l"}, "needs a zone", "loitering"),
        (
            {"type": "loitering", "id": "l", "zone": "a", "polygon": [[0, 0], [1, 0], [1, 1]]},
            "not both",
            "loitering",
        ),
        ({"type": "loitering", "id": "l", "zone": "a", "dwell_s": 0}, "greater than 0", "dwell_s"),
        (
            {"type": "loitering", "id": "l", "zone": "a", "class_dwell_s": {"car": -1}},
            "car",
            "class_dwell_s",
        ),
        ({"type": "fast_move", "id": "f"}, "one threshold", "fast_move"),
        ({"type": "route", "id": "r", "zones": ["a"]}, "at least 2", "zones"),
        ({"type": "route", "id": "r", "zones": ["a", "a"]}, "follows itself", "route"),
        (
            {"type": "route", "id": "r", "zones": ["a", "b"], "step_s": [1, 2]},
            "needs 1 values",
            "route",
        ),
        ({"type": "route", "id": "r", "zones": ["a", "nowhere"]}, "zone 'nowhere'", "cameras.0"),
        ({"type": "loitering", "id": "l", "zone": "nowhere"}, "zone 'nowhere'", "cameras.0"),
        (
            {"type": "object_left", "id": "o", "min_area": 0.2, "max_area": 0.1},
            "max_area",
            "object_left",
        ),
        (
            {"type": "wrong_way", "id": "w", "zone": "a", "direction": [[0.2, 0.2], [0.2, 0.2]]},
            "zero length",
            "direction",
        ),
        ({"type": "teleport", "id": "t"}, "does not match any of the expected tags", "rules.0"),
        ({"type": "line_crossing", "id": "Bad Id", "line": [[0, 0], [1, 1]]}, "slug", "id"),
    ],
)
def test_bad_rules_are_refused_on_one_line(
    rule: dict[str, object], fragment: str, where: str
) -> None:
    message = _error(zones=[ZONE_A, ZONE_B], rules=[rule])
    assert fragment in message
    assert where in message


def test_metres_need_a_calibration_and_ids_are_unique() -> None:
    assert "needs a calibration" in _error(
        rules=[{"type": "fast_move", "id": "f", "speed_kmh": 20}]
    )
    crowd = {"type": "crowd", "id": "c", "polygon": [[0, 0], [1, 0], [1, 1]], "metric": "density"}
    assert "needs a calibration" in _error(rules=[crowd])
    dup = {"type": "loitering", "id": "a", "zone": "a"}
    assert "repeated: a" in _error(zones=[ZONE_A], rules=[dup])


@pytest.mark.parametrize(
    ("calibration", "fragment"),
    [
        (
            {
                "image_points": [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9], [0.1, 0.9]],
                "ground_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
            },
            "on one line",
        ),
        (
            {
                "image_points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]],
                "ground_points": [[0, 0], [1, 0], [1, 1]],
            },
            "4 image points",
        ),
        (
            {
                "image_points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]],
                "ground_points": [[0, 0], [0, 1], [1, 0], [1, 1]],
            },
            "same order",
        ),
        (
            {"image_points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]},
            "either ground_points or distances",
        ),
        (
            {
                "image_points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]],
                "distances": [10, 5, 2, 5],
            },
            "opposite sides",
        ),
        (
            {
                "image_points": [[0.1, 0.1], [1.9, 0.1], [0.9, 0.9], [0.1, 0.9]],
                "distances": [10, 5, 10, 5],
            },
            "outside the frame",
        ),
    ],
)
def test_degenerate_calibrations_are_refused(calibration: dict[str, object], fragment: str) -> None:
    message = _error(calibration=calibration)
    assert fragment in message
    assert "cameras.0.calibration" in message


def test_frigate_style_distances_make_a_rectangle() -> None:
    cam = camera(
        calibration={"image_points": CALIBRATION["image_points"], "distances": [10, 5, 10, 5]}
    )
    assert cam.calibration is not None
    homography = cam.calibration.homography()
    assert homography.to_ground(0.9, 0.9) == pytest.approx((10.0, 5.0), abs=1e-6)


def test_privacy_masks_are_validated_polygons() -> None:
    assert "at least 3 points" in _error(privacy_masks=[[[0, 0], [1, 1]]])
    cam = camera(privacy_masks=[[[0, 0], [0.2, 0], [0.2, 0.2]]])
    assert len(cam.privacy_masks) == 1


def test_zone_gains_required_time_and_gap() -> None:
    cam = camera(zones=[{**ZONE_A, "min_dwell_s": 3, "gap_s": 1.5}])
    assert cam.zones[0].min_dwell_s == 3
    assert "less than or equal to 3600" in _error(zones=[{**ZONE_A, "min_dwell_s": 5000}])


def test_state_dir_is_optional() -> None:
    assert EngineConfig.parse({}).state_dir is None
    assert EngineConfig.parse({"state_dir": "/var/lib/vigil"}).state_dir == "/var/lib/vigil"
