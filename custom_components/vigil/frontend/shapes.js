// The shape checks of vigil_protocol/shapes.py, ported line for line so the panel refuses on
// the spot exactly what the flows and the server refuse (tests/browser checks both against the
// same cases). Points are [x, y] in relative coordinates, 0 to 1.

export const MIN_LINE_LENGTH = 0.01;

export const ShapeProblem = Object.freeze({
  TOO_FEW_POINTS: "polygon_too_few_points",
  OUTSIDE_FRAME: "polygon_outside_frame",
  SELF_INTERSECTING: "polygon_self_intersecting",
  NO_AREA: "polygon_no_area",
  LINE_POINTS: "line_two_points",
  LINE_TOO_SHORT: "line_too_short",
});

// The flows' error keys of a line's problems (custom_components/vigil/validation.py).
const LINE_ERRORS = {
  [ShapeProblem.OUTSIDE_FRAME]: "line_outside_frame",
  [ShapeProblem.LINE_TOO_SHORT]: "line_zero_length",
};

/** Return the problem of a polygon (a ShapeProblem value), or null when it is fine. */
export function polygonProblem(points) {
  if (points.length < 3) return ShapeProblem.TOO_FEW_POINTS;
  const outside = insideProblem(points);
  if (outside) return outside;
  const n = points.length;
  for (let i = 0; i < n; i += 1) {
    for (let j = i + 1; j < n; j += 1) {
      if (j === i + 1 || (i === 0 && j === n - 1)) continue;
      if (segmentsCross(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n])) {
        return ShapeProblem.SELF_INTERSECTING;
      }
    }
  }
  if (Math.abs(signedArea(points)) < 1e-6) return ShapeProblem.NO_AREA;
  return null;
}

/** Return the problem of a directed line, or null when it is fine. */
export function lineProblem(points) {
  if (points.length !== 2) return ShapeProblem.LINE_POINTS;
  const outside = insideProblem(points);
  if (outside) return outside;
  const [[x1, y1], [x2, y2]] = points;
  if (Math.hypot(x2 - x1, y2 - y1) < MIN_LINE_LENGTH) return ShapeProblem.LINE_TOO_SHORT;
  return null;
}

/** Return the flows' error key of a polygon (the problem's own value), or null. */
export function polygonError(points) {
  return polygonProblem(points);
}

/** Return the flows' error key of a line, or null. */
export function lineError(points) {
  const problem = lineProblem(points);
  if (problem === null) return null;
  return LINE_ERRORS[problem] ?? "line_invalid";
}

function insideProblem(points) {
  for (const point of points) {
    if (point.length !== 2) return ShapeProblem.OUTSIDE_FRAME;
    const [x, y] = point;
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return ShapeProblem.OUTSIDE_FRAME;
  }
  return null;
}

/** Return the shoelace signed area. */
export function signedArea(points) {
  let total = 0;
  const n = points.length;
  for (let i = 0; i < n; i += 1) {
    const [x1, y1] = points[i];
    const [x2, y2] = points[(i + 1) % n];
    total += x1 * y2 - x2 * y1;
  }
  return total / 2;
}

function orient(a, b, c) {
  return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

function onSegment(a, b, p) {
  return (
    Math.min(a[0], b[0]) <= p[0] &&
    p[0] <= Math.max(a[0], b[0]) &&
    Math.min(a[1], b[1]) <= p[1] &&
    p[1] <= Math.max(a[1], b[1])
  );
}

/** Return whether two segments intersect (touching counts). */
export function segmentsCross(p1, p2, q1, q2) {
  const d1 = orient(q1, q2, p1);
  const d2 = orient(q1, q2, p2);
  const d3 = orient(p1, p2, q1);
  const d4 = orient(p1, p2, q2);
  if (
    (d1 > 0) !== (d2 > 0) &&
    (d3 > 0) !== (d4 > 0) &&
    d1 !== 0 &&
    d2 !== 0 &&
    d3 !== 0 &&
    d4 !== 0
  ) {
    return true;
  }
  const eps = 1e-12;
  return (
    (Math.abs(d1) < eps && onSegment(q1, q2, p1)) ||
    (Math.abs(d2) < eps && onSegment(q1, q2, p2)) ||
    (Math.abs(d3) < eps && onSegment(p1, p2, q1)) ||
    (Math.abs(d4) < eps && onSegment(p1, p2, q2))
  );
}
