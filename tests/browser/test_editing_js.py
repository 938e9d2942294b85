"""The panel's editing model (editing.js), run in Chromium: every change the pointer can make.

Each scenario runs in the page and returns what the draft became; the refusals carry the
flows' error keys (the same as the server's field errors), the accepted changes keep points
rounded to 1/10,000 of the picture and inside it, and undo goes back one change at a time.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _run(page: Any, body: str) -> Any:
    """Run `body` with `Draft` and the module's helpers in scope; return its value."""
    return page.evaluate(f"""async () => {{
        const {{ Draft, nearestEdge, insidePolygon, clampPoint }} = await import("/editing.js");
        const SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]];
        {body}
    }}""")


SCENARIOS: dict[str, tuple[str, Any]] = {
    "a polygon is drawn corner by corner then closed": (
        """
        const d = new Draft({ type: "zone" });
        const steps = [];
        for (const p of [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]) steps.push(d.addPoint(p));
        const before = d.complete;
        steps.push(d.finish());
        return { steps, before, after: d.complete, closed: d.closed, points: d.points };
        """,
        {
            "steps": [None, None, None, None],
            "before": False,
            "after": True,
            "closed": True,
            "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]],
        },
    ),
    "a corner that would cross an edge is refused and nothing changes": (
        """
        const d = new Draft({ type: "zone" });
        for (const p of [[0.1, 0.1], [0.4, 0.1], [0.1, 0.4]]) d.addPoint(p);
        const refused = d.addPoint([0.4, 0.4]);
        const collinear = new Draft({ type: "area" });
        for (const p of [[0.1, 0.1], [0.2, 0.2]]) collinear.addPoint(p);
        return { refused, points: d.points.length, flat: collinear.addPoint([0.3, 0.3]) };
        """,
        {
            "refused": "polygon_self_intersecting",
            "points": 3,
            "flat": "polygon_no_area",
        },
    ),
    "a click near an edge of a saved polygon inserts a corner there": (
        """
        const d = new Draft({ type: "zone", id: "z", points: SQUARE });
        const taken = d.addPoint([0.5, 0.95]);
        return { taken, points: d.points };
        """,
        {
            "taken": None,
            "points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.5, 0.95], [0.1, 0.9]],
        },
    ),
    "a drag that breaks the shape snaps back": (
        """
        const d = new Draft({ type: "zone", id: "z", points: SQUARE });
        const before = d.snapshot();
        d.movePoint(2, [0.1, 0.05]);  // over the opposite edges
        const during = d.checkPartial();
        const refused = d.settle(before);
        const kept = d.snapshot();
        d.movePoint(2, [0.8, 0.812345]);
        const taken = d.settle(kept);
        const history = d.history.length;
        const afterRefusal = kept.points[2];
        return { during, refused, afterRefusal, taken, moved: d.points[2], history };
        """,
        {
            "during": "polygon_self_intersecting",
            "refused": "polygon_self_intersecting",
            "afterRefusal": [0.9, 0.9],
            "taken": None,
            "moved": [0.8, 0.8123],
            "history": 1,
        },
    ),
    "a whole shape moves but stays inside the picture": (
        """
        const triangle = [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3]];
        const d = new Draft({ type: "mask", id: "m", points: triangle });
        const origin = d.snapshot().points;
        d.moveShape(origin, 0.9, -0.5);
        return d.points;
        """,
        [[0.8, 0.0], [1.0, 0.0], [1.0, 0.2]],
    ),
    "deleting corners undo and flipping a line": (
        """
        const d = new Draft({ type: "zone", id: "z", points: SQUARE });
        const first = d.deletePoint(3);
        const last = d.deletePoint(0);
        const undone = d.undo();
        const line = new Draft({ type: "line" });
        line.addPoint([0.2, 0.5]);
        line.addPoint([0.8, 0.5]);
        const third = line.addPoint([0.5, 0.9]);
        line.flip();
        const short = new Draft({ type: "line" });
        short.addPoint([0.5, 0.5]);
        return {
            first, last, undone, corners: d.points.length, third, line: line.points,
            short: short.addPoint([0.505, 0.5]), message: line.toMessage(),
        };
        """,
        {
            "first": None,
            "last": "polygon_too_few_points",
            "undone": True,
            "corners": 4,
            "third": None,
            "line": [[0.8, 0.5], [0.2, 0.5]],
            "short": "line_zero_length",
            "message": {
                "type": "line",
                "name": "",
                "points": [[0.8, 0.5], [0.2, 0.5]],
                "direction": "both",
            },
        },
    ),
    "points are clamped and rounded": (
        """
        return [clampPoint([-0.2, 1.7]), clampPoint([0.123456, 0.98765]),
                nearestEdge([[0, 0], [1, 0], [1, 1], [0, 1]], [0.99, 0.5]),
                insidePolygon([0.5, 0.5], [[0, 0], [1, 0], [1, 1], [0, 1]]),
                insidePolygon([1.5, 0.5], [[0, 0], [1, 0], [1, 1], [0, 1]])];
        """,
        [[0, 1], [0.1235, 0.9877], 1, True, False],
    ),
}
"""Scenarios: what runs in the page, and what it must return."""


def test_every_change_the_pointer_can_make(modules: Any) -> None:
    """Run each scenario in one page (one browser for all: launching one is the slow part)."""
    failed = {}
    for name, (body, expected) in SCENARIOS.items():
        result = _run(modules, body)
        if result != expected:
            failed[name] = (result, expected)
    assert not failed, failed
