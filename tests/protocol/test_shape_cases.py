"""The shape rules on the cases the Vigil panel's JavaScript port is checked against too.

tests/fixtures/shape_cases.json is shared: tests/browser/test_shapes_js.py runs the panel's
`shapes.js` on the same cases in Chromium, so the panel refuses on the spot exactly what the
flows and the server refuse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vigil_protocol.shapes import ShapeError, check_line, check_polygon

CASES_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "shape_cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text())


def problem_of(shape: str, points: list[list[float]]) -> str | None:
    """Return the problem vigil_protocol.shapes finds, or None."""
    try:
        (check_polygon if shape == "polygon" else check_line)(points)
    except ShapeError as err:
        return err.problem.value
    return None


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_each_shared_case(case: dict[str, Any]) -> None:
    assert problem_of(case["shape"], case["points"]) == case["problem"]


def test_the_cases_cover_every_problem() -> None:
    found = {case["problem"] for case in CASES}
    assert found >= {
        None,
        "polygon_too_few_points",
        "polygon_outside_frame",
        "polygon_self_intersecting",
        "polygon_no_area",
        "line_two_points",
        "line_too_short",
    }
