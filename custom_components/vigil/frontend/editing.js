// The shape being edited in the Vigil panel, and every change the pointer can make to it.
// A change that would give a shape the server refuses is refused here, with the flows' error
// key; nothing in this module touches the page.

import { lineError, polygonError } from "./shapes.js";

export const POLYGON_TYPES = Object.freeze(["zone", "area", "mask"]);
const DECIMALS = 4;
const HISTORY = 100;

/** Round a coordinate to the precision saved (1/10,000 of the picture: < 0.2 px at 1280). */
export function round(value) {
  return Math.round(value * 10 ** DECIMALS) / 10 ** DECIMALS;
}

/** Clamp a point into the picture and round it. */
export function clampPoint([x, y]) {
  return [round(Math.min(1, Math.max(0, x))), round(Math.min(1, Math.max(0, y)))];
}

/** Return the flows' error key of a complete shape, or null when the server would take it. */
export function shapeError(draft) {
  return draft.type === "line" ? lineError(draft.points) : polygonError(draft.points);
}

function copyPoints(points) {
  return points.map(([x, y]) => [x, y]);
}

/**
 * A shape under edit: a new one being drawn corner by corner, or a saved one being changed.
 * Every change returns null when it is taken, or the error key that refused it.
 */
export class Draft {
  constructor({ type, id = null, name = "", points = [], direction = "both", kind = null }) {
    this.type = type;
    this.id = id;
    this.name = name;
    this.kind = kind;
    this.points = copyPoints(points);
    this.direction = direction;
    // A saved polygon is closed; a new one is drawn corner after corner until finished.
    this.closed = id !== null || type === "line";
    this.history = [];
  }

  get isPolygon() {
    return POLYGON_TYPES.includes(this.type);
  }

  /** Whether the shape has all its points (a closed polygon, or a line's two ends). */
  get complete() {
    return this.isPolygon ? this.closed && this.points.length >= 3 : this.points.length === 2;
  }

  get error() {
    return this.complete ? shapeError(this) : null;
  }

  snapshot() {
    return { points: copyPoints(this.points), direction: this.direction, closed: this.closed };
  }

  restore(state) {
    this.points = copyPoints(state.points);
    this.direction = state.direction;
    this.closed = state.closed;
  }

  remember() {
    this.history.push(this.snapshot());
    if (this.history.length > HISTORY) this.history.shift();
  }

  /** Apply `change` (a function of the draft); keep it unless the shape becomes invalid. */
  attempt(change) {
    const before = this.snapshot();
    change(this);
    const error = this.checkPartial();
    if (error) {
      this.restore(before);
      return error;
    }
    this.history.push(before);
    if (this.history.length > HISTORY) this.history.shift();
    return null;
  }

  /** Check what is drawn so far: a polygon of 3 corners or more must already be valid. */
  checkPartial() {
    if (this.isPolygon) return this.points.length >= 3 ? polygonError(this.points) : null;
    return this.points.length === 2 ? lineError(this.points) : null;
  }

  undo() {
    const state = this.history.pop();
    if (!state) return false;
    this.restore(state);
    return true;
  }

  /** Add a corner where the pointer was clicked. */
  addPoint(point) {
    const at = clampPoint(point);
    if (this.type === "line") {
      if (this.points.length >= 2) return null;
      return this.attempt((d) => d.points.push(at));
    }
    if (!this.closed) return this.attempt((d) => d.points.push(at));
    const index = nearestEdge(this.points, at);
    return this.attempt((d) => d.points.splice(index + 1, 0, at));
  }

  /** Close a polygon being drawn. */
  finish() {
    if (!this.isPolygon || this.closed) return null;
    if (this.points.length < 3) return "polygon_too_few_points";
    const error = polygonError(this.points);
    if (error) return error;
    this.remember();
    this.closed = true;
    return null;
  }

  /** Move a corner during a drag (checked when the drag ends, see `settle`). */
  movePoint(index, point) {
    this.points[index] = clampPoint(point);
  }

  /** Move the whole shape by (dx, dy) from `origin` points, kept inside the picture. */
  moveShape(origin, dx, dy) {
    const xs = origin.map((p) => p[0]);
    const ys = origin.map((p) => p[1]);
    const clampedDx = Math.min(1 - Math.max(...xs), Math.max(-Math.min(...xs), dx));
    const clampedDy = Math.min(1 - Math.max(...ys), Math.max(-Math.min(...ys), dy));
    this.points = origin.map(([x, y]) => clampPoint([x + clampedDx, y + clampedDy]));
  }

  /** End a drag that started from `before`: keep it, or go back when it breaks the shape. */
  settle(before) {
    const error = this.checkPartial();
    const moved = JSON.stringify(before.points) !== JSON.stringify(this.points);
    if (error) {
      this.restore(before);
      return error;
    }
    if (moved) {
      this.history.push(before);
      if (this.history.length > HISTORY) this.history.shift();
    }
    return null;
  }

  /** Delete a corner (a polygon keeps at least 3; a line's ends cannot be deleted). */
  deletePoint(index) {
    if (this.type === "line" || index < 0 || index >= this.points.length) return null;
    if (this.closed && this.points.length <= 3) return "polygon_too_few_points";
    return this.attempt((d) => d.points.splice(index, 1));
  }

  /** Swap a line's ends: A becomes B (and what counted as A → B counts as B → A). */
  flip() {
    if (this.type !== "line" || this.points.length !== 2) return null;
    return this.attempt((d) => d.points.reverse());
  }

  setDirection(direction) {
    if (direction === this.direction) return;
    this.remember();
    this.direction = direction;
  }

  /** Return what the panel sends to Home Assistant to replay or save the shape. */
  toMessage() {
    const shape = { type: this.type, name: this.name.trim(), points: copyPoints(this.points) };
    if (this.id) shape.id = this.id;
    if (this.type === "line") shape.direction = this.direction;
    return shape;
  }
}

/** Return the index i of the edge (i, i+1) nearest to a point. */
export function nearestEdge(points, point) {
  let best = 0;
  let bestDistance = Infinity;
  for (let i = 0; i < points.length; i += 1) {
    const distance = segmentDistance(point, points[i], points[(i + 1) % points.length]);
    if (distance < bestDistance) {
      best = i;
      bestDistance = distance;
    }
  }
  return best;
}

/** Return the distance from a point to a segment. */
export function segmentDistance([px, py], [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length2)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** Return whether a point is inside a polygon (even-odd rule). */
export function insidePolygon([x, y], points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i, i += 1) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
