"""The panel's shapes.js, run in Chromium, agrees with vigil_protocol.shapes on every case.

The shared cases (tests/fixtures/shape_cases.json) and a few thousand random polygons and
lines, some with corners snapped to a coarse grid so that touching and collinear corners
happen often, go through both; their answers must be the same.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from custom_components.vigil.validation import line_error, polygon_error
from tests.protocol.test_shape_cases import CASES, problem_of

pytestmark = pytest.mark.browser


def _random_shapes(count: int, seed: int = 14) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    shapes = []
    for index in range(count):
        grid = index % 2 == 0

        def coordinate(grid: bool = grid) -> float:
            if grid:
                return rng.randint(-1, 11) / 10
            return round(rng.uniform(-0.05, 1.05), 4)

        if index % 5 == 0:
            shapes.append(
                {"shape": "line", "points": [[coordinate(), coordinate()] for _ in range(2)]}
            )
        else:
            corners = rng.randint(3, 7)
            points = [[coordinate(), coordinate()] for _ in range(corners)]
            shapes.append({"shape": "polygon", "points": points})
    return shapes


def _run_in_chromium(page: Any, shapes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = page.evaluate(
        """async (shapes) => {
            const m = await import("/shapes.js");
            return shapes.map((s) => ({
                problem: s.shape === "line" ? m.lineProblem(s.points) : m.polygonProblem(s.points),
                error: s.shape === "line" ? m.lineError(s.points) : m.polygonError(s.points),
            }));
        }""",
        shapes,
    )
    return answers


def test_shapes_js_agrees_with_the_protocol_and_the_forms(modules: Any) -> None:
    """The shared cases, then random shapes, in one page (launching a browser is the slow part)."""
    answers = _run_in_chromium(modules, CASES)
    for case, answer in zip(CASES, answers, strict=True):
        assert answer["problem"] == case["problem"], case["name"]

    shapes = _random_shapes(3000)
    answers = _run_in_chromium(modules, shapes)
    problems = set()
    for shape, answer in zip(shapes, answers, strict=True):
        expected = problem_of(shape["shape"], shape["points"])
        assert answer["problem"] == expected, json.dumps(shape)
        form = line_error if shape["shape"] == "line" else polygon_error
        assert answer["error"] == form(shape["points"]), json.dumps(shape)
        problems.add(expected)
    # The random shapes reach every answer, valid ones included.
    assert {
        None,
        "polygon_self_intersecting",
        "polygon_outside_frame",
        "polygon_no_area",
    } <= problems
