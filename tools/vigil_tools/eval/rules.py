"""Score every rule family on real footage: expected events from ground truth vs the pipeline.

The real pipeline (motion gate → shared detector → tracker → rules) runs frame by frame on a
clip, sampled at the camera's analysis rate. When MOT-style ground truth is given (every
person's box on every frame, like PETS2009's), the events each rule should raise are derived
from the ground-truth tracks with the same geometry, by the simple definitions below, and the
pipeline's events are scored against them. Without ground truth, the run reports what fired.

Definitions applied to the ground truth (feet = bottom-centre of the box; analysed frames only):
- zone entry / exit: the feet inside (outside) the polygon on `inertia` consecutive frames; a
  person leaving the picture (the annotation ends) exits; entries wait `min_dwell_s`.
- line crossing: the feet's side of the line, ignoring points within `margin` of it; a change
  of side whose path meets the segment is a crossing in that direction.
- loitering: a stay is a run of frames inside with no gap longer than `gap_s`; loitering starts
  once the time inside since the stay began reaches the class's dwell time.
- route: entries into the route's zones (inertia 2), in order, each within its step limit
  after the person was last inside the previous zone.
- crowd: the number of annotated feet inside the area on each analysed frame.
- wrong way: inside the area, the feet's net displacement over the last 3 s is at least
  `min_distance` long and within `tolerance_deg` of the forbidden direction; it ends when the
  person leaves the area or walks the allowed way.
- fast move: the estimated speed stays over the threshold for `min_duration_s`.
- speed: the same estimator as the rules (least-squares slope of the feet over 1.5 s, mapped
  to metres by the calibration) on annotated and on tracked feet; a "walking" track lasts
  ≥ 4 s and its median speed is ≥ 1.5 km/h.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
import itertools
import math
from pathlib import Path
import statistics
import time
from typing import Any

import yaml

from vigil_core.config import (
    COCO_VEHICLES,
    CameraSpec,
    CrowdSpec,
    DetectorSpec,
    EngineConfig,
    FastMoveSpec,
    InferenceSpec,
    LineCrossingSpec,
    LoiteringSpec,
    ObjectLeftSpec,
    RouteSpec,
    TrackerSpec,
    WrongWaySpec,
    ZoneSpec,
)
from vigil_core.errors import VigilError
from vigil_core.events.model import EventPhase, RuleEvent, VigilEvent
from vigil_core.geometry.calibration import Homography
from vigil_core.geometry.line import DirectedLine
from vigil_core.geometry.polygon import Polygon
from vigil_core.geometry.speed import estimate_speed
from vigil_core.inference.batcher import InferenceBatcher
from vigil_core.inference.detectors import build_detector
from vigil_core.inference.session import SessionCache
from vigil_core.pipeline import CameraPipeline
from vigil_core.rules import build_rules
from vigil_core.store.counters import CounterStore
from vigil_core.types import BBox, Frame, RGBImage, Track
from vigil_protocol import CrowdState, StateValue
from vigil_tools.eval.ground_truth import read_mot_csv
from vigil_tools.eval.vtest import VTEST, VTEST_TRUTH, InputFit, decode_all

type Report = dict[str, Any]
type Truth = Mapping[int, Sequence[tuple[int, BBox]]]
type Timed = tuple[int, EventPhase]
"""(frame index, phase) of one event."""

BAG_CLIP = "abandoned_bag_aboda4.avi"
BAG_BOX = (0.60, 0.70, 0.73, 0.90)
"""Where the bag lies in abandoned_bag_aboda4.avi (relative x1, y1, x2, y2; checked by eye)."""
TREE_CLIP = "tree_wind.avi"

WALKING_MIN_S = 4.0
WALKING_MIN_KMH = 1.5
SPEED_RANGE_KMH = (3.0, 7.0)

# The geometry scored on vtest. The calibration's ground points are the Tsai back-projection
# of the four image points (geometry.calibration.ground_points_from_tsai on
# vtest_View_001_calibration.xml, world millimetres / 1000): see docs/rules.md.
VTEST_GEOMETRY = """
id: vtest
name: PETS2009 S2L1 View_001
fps: 5
calibration:
  image_points: [[0.05, 0.38], [0.95, 0.28], [0.95, 0.85], [0.05, 0.85]]
  ground_points: [[-7.88, 5.09], [6.114, -9.582], [-14.974, -15.78], [-19.388, -7.657]]
zones:
  - id: crossroads
    name: Crossroads
    polygon: [[0.42, 0.36], [0.90, 0.20], [0.97, 0.50], [0.70, 0.62], [0.45, 0.52]]
    inertia: 2
    gap_s: 2.0
  - id: east_road
    name: East road
    polygon: [[0.86, 0.42], [1.0, 0.42], [1.0, 0.80], [0.86, 0.80]]
    inertia: 2
    gap_s: 2.0
  - id: west_path
    name: West path
    polygon: [[0.0, 0.34], [0.30, 0.34], [0.30, 0.52], [0.0, 0.52]]
    inertia: 2
    gap_s: 2.0
rules:
  - type: line_crossing
    id: midline
    name: Mid line (A→B = walking west)
    line: [[0.5, 0.30], [0.5, 0.70]]
  - type: loitering
    id: crossroads_loitering
    zone: crossroads
    dwell_s: 10
  - type: crowd
    id: road_crowd
    polygon: [[0.0, 0.33], [1.0, 0.22], [1.0, 0.80], [0.0, 0.60]]
    metric: count
    high: 6
    critical: 9
    movement: {}
  - type: fast_move
    id: running
    speed_kmh: 12
  - type: fast_move
    id: brisk
    speed_kmh: 7.5
  - type: route
    id: east_to_west
    zones: [east_road, crossroads, west_path]
    max_step_s: 30
  - type: wrong_way
    id: eastbound_only
    name: Road, eastbound only (walking west is wrong way)
    polygon: [[0.0, 0.33], [1.0, 0.22], [1.0, 0.80], [0.0, 0.60]]
    direction: [[0.15, 0.38], [0.90, 0.55]]
    classes: [person]
  - type: object_left
    id: left_objects
"""

BAG_GEOMETRY = """
id: aboda4
fps: 5
rules:
  - type: object_left
    id: left_objects
"""

TREE_GEOMETRY = """
id: tree
fps: 5
zones:
  - id: whole
    polygon: [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
  - id: half
    polygon: [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
rules:
  - {type: line_crossing, id: middle, line: [[0.5, 0.0], [0.5, 1.0]], classes: []}
  - {type: loitering, id: loiter, zone: whole, dwell_s: 5, classes: []}
  - {type: crowd, id: crowd, zone: whole, high: 1, critical: 3, classes: [], movement: {}}
  - {type: fast_move, id: fast, speed_px_s: 50, classes: []}
  - {type: wrong_way, id: wrong, zone: whole, direction: [[0.0, 0.5], [1.0, 0.5]]}
  - {type: object_left, id: left_objects}
  - {type: route, id: route, zones: [whole, half], classes: []}
"""


# ---------------------------------------------------------------- running the pipeline


@dataclass(slots=True)
class RulesRun:
    """What the pipeline produced on one clip."""

    camera: CameraSpec
    size: tuple[int, int]
    native_fps: float
    frames: list[int] = field(default_factory=list)
    events: list[RuleEvent] = field(default_factory=list)
    tracks: dict[int, tuple[Track, ...]] = field(default_factory=dict)
    crowd_counts: dict[int, dict[str, int]] = field(default_factory=dict)
    final_states: dict[str, StateValue] = field(default_factory=dict)
    ms_per_frame: float = 0.0


def parse_geometry(
    text: str, *, clip: Path | None = None
) -> tuple[CameraSpec, DetectorSpec | None]:
    """Read a camera's geometry: a camera mapping, or an engine config (its first camera)."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise VigilError("the geometry file must hold a mapping (a camera, or an engine config)")
    detector = None
    if "cameras" in raw:
        config = EngineConfig.parse(_with_source(raw, clip))
        if not config.cameras:
            raise VigilError("the geometry file's engine config has no camera")
        return config.cameras[0], config.detector if "detector" in raw else None
    camera = dict(raw)
    camera.setdefault("id", "clip")
    if clip is not None or "source" not in camera:
        camera["source"] = str(clip or "clip")
    config = EngineConfig.parse({"cameras": [camera]})
    return config.cameras[0], detector


def _with_source(raw: dict[str, Any], clip: Path | None) -> dict[str, Any]:
    cameras = []
    for given in raw.get("cameras") or []:
        camera = dict(given)
        if clip is not None or "source" not in camera:
            camera["source"] = str(clip or "clip")
        cameras.append(camera)
    return {**raw, "cameras": cameras}


def detector_for(
    camera: CameraSpec, given: DetectorSpec | None, input_fit: InputFit | None = None
) -> DetectorSpec:
    """Return a detector keeping every class the camera's rules watch (and people).

    `input_fit` overrides the detector's input fit (square or the frame's aspect).
    """
    if given is not None:
        return given if input_fit is None else given.model_copy(update={"input_fit": input_fit})
    classes = {"person"}
    for spec in [*camera.zones, *camera.rules]:
        watched = list(spec.classes)
        if not watched:
            classes |= set(COCO_VEHICLES)
        classes |= set(watched)
        if isinstance(spec, ObjectLeftSpec):
            classes |= set(spec.person_classes)
    if input_fit is None:
        return DetectorSpec(classes=sorted(classes))
    return DetectorSpec(classes=sorted(classes), input_fit=input_fit)


def native_fps(frames: Sequence[tuple[float, RGBImage]]) -> float:
    """Return a clip's frame rate from its timestamps."""
    if len(frames) < 2:
        return 1.0
    steps = [b[0] - a[0] for a, b in itertools.pairwise(frames) if b[0] > a[0]]
    return 1.0 / statistics.median(steps) if steps else 1.0


def run_rules(
    frames: Sequence[tuple[float, RGBImage]],
    camera: CameraSpec,
    batcher: InferenceBatcher,
    *,
    tracker: TrackerSpec | None = None,
) -> RulesRun:
    """Run a fresh pipeline with the camera's rules over the clip at the camera's rate."""
    fps = native_fps(frames)
    step = max(1, round(fps / camera.fps))
    events: list[VigilEvent] = []
    rules = build_rules(camera, counters=CounterStore())
    pipeline = CameraPipeline(
        camera,
        batcher=batcher,
        tracker_spec=tracker or TrackerSpec(),
        publish=events.append,
        rules=rules,
    )
    height, width = frames[0][1].shape[:2]
    run = RulesRun(camera=camera, size=(width, height), native_fps=fps)
    started = time.perf_counter()
    last: Frame | None = None
    for index in range(0, len(frames), step):
        pts, image = frames[index]
        last = Frame(camera.id, index, pts, time.monotonic(), image, (width, height))
        pipeline.process(last)
        latest = pipeline.latest
        assert latest is not None
        run.frames.append(index)
        run.tracks[index] = latest.tracks
        run.crowd_counts[index] = {
            rule.rule_id: state.count
            for rule in rules
            if isinstance(state := rule.state(), CrowdState)
        }
    run.ms_per_frame = 1000.0 * (time.perf_counter() - started) / max(1, len(run.frames))
    run.final_states = {rule.rule_id: rule.state() for rule in rules}
    run.events = [e for e in events if isinstance(e, RuleEvent)]
    return run


# ---------------------------------------------------------------- ground truth derivations


def truth_paths(
    truth: Truth, frames: Iterable[int]
) -> dict[int, list[tuple[int, float, float, BBox]]]:
    """Return each annotated person's (frame, feet x, feet y, box) on the analysed frames."""
    paths: dict[int, list[tuple[int, float, float, BBox]]] = {}
    for index in frames:
        for person, box in truth.get(index, ()):
            x, y = box.bottom_center
            paths.setdefault(person, []).append((index, x, y, box))
    return paths


def expected_zone_events(
    paths: Mapping[int, list[tuple[int, float, float, BBox]]],
    zone: ZoneSpec,
    size: tuple[int, int],
    fps: float,
    frames: Sequence[int],
) -> list[Timed]:
    """Return the entries (STARTED) and exits (ENDED) the zone should report."""
    polygon = Polygon(zone.polygon)
    out: list[Timed] = []
    following = dict(itertools.pairwise(frames))
    for path in paths.values():
        inside, streak, entered, reported = False, 0, 0, False
        for index, x, y, _ in path:
            now = polygon.contains(x, y, *size)
            if now != inside:
                streak += 1
                if streak >= zone.inertia:
                    streak, inside = 0, now
                    if inside:
                        entered = index
                    elif reported:
                        out.append((index, EventPhase.ENDED))
                        reported = False
            else:
                streak = 0
            if inside and not reported and (index - entered) / fps >= zone.min_dwell_s:
                out.append((index, EventPhase.STARTED))
                reported = True
        if reported:
            out.append((following.get(path[-1][0], path[-1][0]), EventPhase.ENDED))
    return sorted(out)


def expected_crossings(
    paths: Mapping[int, list[tuple[int, float, float, BBox]]],
    spec: LineCrossingSpec,
    size: tuple[int, int],
) -> list[tuple[int, str]]:
    """Return (frame, direction) of every crossing the line should count."""
    line = DirectedLine(spec.line).in_pixels(*size)
    margin = spec.margin * max(size)
    out = []
    for path in paths.values():
        side: tuple[bool, float, float] | None = None
        for index, feet_x, feet_y, box in path:
            x, y = box.center if spec.anchor == "center" else (feet_x, feet_y)
            distance = line.signed_distance(x, y)
            if abs(distance) < margin:
                continue
            right = distance > 0
            if side is not None and side[0] != right:
                along = line.crossing_along((side[1], side[2]), (x, y))
                if along is not None and -0.02 <= along <= 1.02:
                    out.append((index, "a_to_b" if right else "b_to_a"))
            side = (right, x, y)
    wanted = {"a_to_b", "b_to_a"} if spec.direction == "both" else {spec.direction}
    return sorted(c for c in out if c[1] in wanted)


def expected_loitering(
    paths: Mapping[int, list[tuple[int, float, float, BBox]]],
    region: Polygon,
    spec: LoiteringSpec,
    size: tuple[int, int],
    fps: float,
) -> list[int]:
    """Return the frames where loitering should start ("person" dwell time)."""
    dwell = spec.class_dwell_s.get("person", spec.dwell_s)
    out = []
    for path in paths.values():
        start: int | None = None
        last = -1
        fired = False
        for index, x, y, _ in path:
            if not region.contains(x, y, *size):
                continue
            if start is None or (index - last) / fps > spec.gap_s:
                start, fired = index, False
            last = index
            if not fired and (index - start) / fps >= dwell:
                out.append(index)
                fired = True
    return sorted(out)


def expected_routes(
    paths: Mapping[int, list[tuple[int, float, float, BBox]]],
    zones: Sequence[Polygon],
    spec: RouteSpec,
    size: tuple[int, int],
    fps: float,
) -> list[int]:
    """Return the frames where the route should complete."""
    out = []
    for path in paths.values():
        inside = _inside_after_inertia(path, zones, size)
        step, last_prev = 0, 0
        was = [False] * len(zones)
        for (index, *_), now in zip(path, inside, strict=True):
            entered = {z for z in range(len(zones)) if now[z] and not was[z]}
            was = now
            if step > 0:
                if now[step - 1]:
                    last_prev = index
                elif (index - last_prev) / fps > spec.limit_s(step - 1):
                    step = 0
            if step > 0 and step in entered:
                step, last_prev = step + 1, index
                if step == len(zones):
                    out.append(index)
                    step = 0
            elif 0 in entered:
                step, last_prev = 1, index
    return sorted(out)


def _inside_after_inertia(
    path: list[tuple[int, float, float, BBox]], zones: Sequence[Polygon], size: tuple[int, int]
) -> list[list[bool]]:
    """Return, per frame of the path, whether the feet are in each zone (two frames to change)."""
    state = [False] * len(zones)
    streak = [0] * len(zones)
    out = []
    for _, x, y, _ in path:
        for z, zone in enumerate(zones):
            if zone.contains(x, y, *size) != state[z]:
                streak[z] += 1
                if streak[z] >= 2:
                    streak[z], state[z] = 0, not state[z]
            else:
                streak[z] = 0
        out.append(list(state))
    return out


def expected_wrong_way(
    paths: Mapping[int, list[tuple[int, float, float, BBox]]],
    region: Polygon,
    spec: WrongWaySpec,
    size: tuple[int, int],
    fps: float,
) -> list[int]:
    """Return the frames where a wrong-way movement should start."""
    (x1, y1), (x2, y2) = spec.direction
    ux, uy = (x2 - x1) * size[0], (y2 - y1) * size[1]
    norm = math.hypot(ux, uy)
    ux, uy = ux / norm, uy / norm
    cos_tol = math.cos(math.radians(spec.tolerance_deg))
    out = []
    for path in paths.values():
        window: list[tuple[int, float, float]] = []
        wrong = False
        for index, x, y, _ in path:
            if not region.contains(x, y, *size):
                window, wrong = [], False
                continue
            window = [p for p in window if (index - p[0]) / fps <= 3.0] + [(index, x, y)]
            dx, dy = x - window[0][1], y - window[0][2]
            length = math.hypot(dx, dy)
            if length < spec.min_distance * max(size):
                continue
            along = (dx * ux + dy * uy) / length
            if not wrong and -along >= cos_tol:
                out.append(index)
                wrong = True
            elif wrong and along >= cos_tol:
                wrong = False
    return sorted(out)


def expected_fast_moves(
    paths: Mapping[int, list[tuple[int, float, float, BBox]]],
    spec: FastMoveSpec,
    calibration: Homography | None,
    size: tuple[int, int],
    fps: float,
) -> list[int]:
    """Return the frames where a fast move should start."""
    threshold = spec.speed_kmh if spec.speed_kmh is not None else spec.speed_px_s or 0.0
    out = []
    for path in paths.values():
        history: list[tuple[float, float, float]] = []
        over_since: int | None = None
        active = False
        for index, x, y, _ in path:
            history.append((index / fps, x, y))
            estimate = estimate_speed(
                history, size, window_s=spec.window_s, calibration=calibration
            )
            value = 0.0
            if estimate is not None:
                value = (estimate.kmh or 0.0) if spec.speed_kmh is not None else estimate.px_s
            if active:
                active = value >= 0.8 * threshold
                continue
            if value < threshold:
                over_since = None
                continue
            over_since = index if over_since is None else over_since
            if (index - over_since) / fps >= spec.min_duration_s:
                out.append(index)
                active, over_since = True, None
    return sorted(out)


# ---------------------------------------------------------------- scoring


def match_events(expected: Sequence[Timed], got: Sequence[Timed], tolerance: int) -> int:
    """Count one-to-one matches of the same phase within `tolerance` frames (closest first)."""
    pairs = sorted(
        (abs(fg - fe), i, j)
        for i, (fe, pe) in enumerate(expected)
        for j, (fg, pg) in enumerate(got)
        if pe is pg and abs(fg - fe) <= tolerance
    )
    used_e: set[int] = set()
    used_g: set[int] = set()
    for _, i, j in pairs:
        if i not in used_e and j not in used_g:
            used_e.add(i)
            used_g.add(j)
    return len(used_e)


def prf(expected: int, got: int, matched: int) -> Report:
    """Return precision, recall and F1 as a row."""
    precision = matched / got if got else (1.0 if not expected else 0.0)
    recall = matched / expected if expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "expected": expected,
        "got": got,
        "matched": matched,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
    }


def _rule_events(run: RulesRun, rule_id: str, kind: str) -> list[RuleEvent]:
    return [e for e in run.events if e.rule_id == rule_id and e.kind == kind]


def _closed(run: RulesRun, events: list[RuleEvent]) -> list[Timed]:
    """Return (frame, phase) of a stay rule's events, closing stays the clip leaves open."""
    got = [(e.frame_index, e.phase) for e in events]
    open_ids = {e.track_id for e in events if e.phase is EventPhase.STARTED} - {
        e.track_id for e in events if e.phase is EventPhase.ENDED
    }
    got += [(run.frames[-1], EventPhase.ENDED)] * len(open_ids)
    return got


def score_zones(
    run: RulesRun, paths: Mapping[int, list[tuple[int, float, float, BBox]]]
) -> list[Report]:
    """Score each zone's entries and exits."""
    rows = []
    for zone in run.camera.zones:
        expected = expected_zone_events(paths, zone, run.size, run.native_fps, run.frames)
        got = _closed(run, _rule_events(run, zone.id, "zone_presence"))
        tolerance = round(run.native_fps * max(1.0, (zone.inertia + 3) / run.camera.fps))
        for phase, name in ((EventPhase.STARTED, "enter"), (EventPhase.ENDED, "exit")):
            exp = [e for e in expected if e[1] is phase]
            hyp = [g for g in got if g[1] is phase]
            rows.append(
                {
                    "zone": zone.id,
                    "event": name,
                    **prf(len(exp), len(hyp), match_events(exp, hyp, tolerance)),
                }
            )
    return rows


def score_lines(
    run: RulesRun, paths: Mapping[int, list[tuple[int, float, float, BBox]]] | None
) -> list[Report]:
    """Compare each line's counts per direction with the ground truth's."""
    rows = []
    for spec in run.camera.rules:
        if not isinstance(spec, LineCrossingSpec):
            continue
        events = _rule_events(run, spec.id, "line_crossing")
        expected = expected_crossings(paths, spec, run.size) if paths is not None else None
        for direction in ("a_to_b", "b_to_a"):
            counted = sum(1 for e in events if e.attrs.get("direction") == direction)
            row: Report = {"line": spec.id, "direction": direction, "counted": counted}
            if expected is not None:
                truth = sum(1 for _, d in expected if d == direction)
                row["truth"] = truth
                row["error_pct"] = round(100.0 * (counted - truth) / truth, 1) if truth else None
                exp = [(f, EventPhase.INSTANT) for f, d in expected if d == direction]
                got = [
                    (e.frame_index, EventPhase.INSTANT)
                    for e in events
                    if e.attrs.get("direction") == direction
                ]
                row["matched_events"] = match_events(exp, got, round(2 * run.native_fps))
            rows.append(row)
    return rows


def score_loitering(
    run: RulesRun,
    paths: Mapping[int, list[tuple[int, float, float, BBox]]] | None,
    setup_zones: Mapping[str, ZoneSpec],
) -> list[Report]:
    """Score loitering starts."""
    rows = []
    for spec in run.camera.rules:
        if not isinstance(spec, LoiteringSpec):
            continue
        got = [
            (e.frame_index, e.phase)
            for e in _rule_events(run, spec.id, "loitering")
            if e.phase is EventPhase.STARTED
        ]
        row: Report = {"rule": spec.id, "dwell_s": spec.dwell_s}
        if paths is None:
            rows.append({**row, "got": len(got)})
            continue
        region = Polygon(setup_zones[spec.zone].polygon if spec.zone else spec.polygon or [])
        expected = [
            (f, EventPhase.STARTED)
            for f in expected_loitering(paths, region, spec, run.size, run.native_fps)
        ]
        tolerance = round(run.native_fps * max(2.0, 0.15 * spec.dwell_s))
        rows.append({**row, **prf(len(expected), len(got), match_events(expected, got, tolerance))})
    return rows


def score_routes(
    run: RulesRun,
    paths: Mapping[int, list[tuple[int, float, float, BBox]]] | None,
    zones: Mapping[str, ZoneSpec],
) -> list[Report]:
    """Score completed routes."""
    rows = []
    for spec in run.camera.rules:
        if not isinstance(spec, RouteSpec):
            continue
        got = [(e.frame_index, EventPhase.INSTANT) for e in _rule_events(run, spec.id, "route")]
        row: Report = {"rule": spec.id, "zones": " → ".join(spec.zones)}
        if paths is None:
            rows.append({**row, "got": len(got)})
            continue
        polygons = [Polygon(zones[z].polygon) for z in spec.zones]
        expected = [
            (f, EventPhase.INSTANT)
            for f in expected_routes(paths, polygons, spec, run.size, run.native_fps)
        ]
        tolerance = round(run.native_fps * 2.0)
        rows.append({**row, **prf(len(expected), len(got), match_events(expected, got, tolerance))})
    return rows


def score_wrong_way(
    run: RulesRun,
    paths: Mapping[int, list[tuple[int, float, float, BBox]]] | None,
    zones: Mapping[str, ZoneSpec],
) -> list[Report]:
    """Score wrong-way starts."""
    rows = []
    for spec in run.camera.rules:
        if not isinstance(spec, WrongWaySpec):
            continue
        got = [
            (e.frame_index, e.phase)
            for e in _rule_events(run, spec.id, "wrong_way")
            if e.phase is EventPhase.STARTED
        ]
        row: Report = {"rule": spec.id}
        if paths is None:
            rows.append({**row, "got": len(got)})
            continue
        region = Polygon(zones[spec.zone].polygon if spec.zone else spec.polygon or [])
        expected = [
            (f, EventPhase.STARTED)
            for f in expected_wrong_way(paths, region, spec, run.size, run.native_fps)
        ]
        rows.append(
            {
                **row,
                **prf(
                    len(expected), len(got), match_events(expected, got, round(2 * run.native_fps))
                ),
            }
        )
    return rows


def score_fast_moves(
    run: RulesRun, paths: Mapping[int, list[tuple[int, float, float, BBox]]] | None
) -> list[Report]:
    """Score fast-move starts."""
    rows = []
    calibration = run.camera.calibration.homography() if run.camera.calibration else None
    for spec in run.camera.rules:
        if not isinstance(spec, FastMoveSpec):
            continue
        got = [
            (e.frame_index, e.phase)
            for e in _rule_events(run, spec.id, "fast_move")
            if e.phase is EventPhase.STARTED
        ]
        row: Report = {"rule": spec.id, "threshold": spec.speed_kmh or spec.speed_px_s}
        if paths is None or spec.zone is not None or spec.polygon is not None:
            rows.append({**row, "got": len(got)})
            continue
        expected = [
            (f, EventPhase.STARTED)
            for f in expected_fast_moves(paths, spec, calibration, run.size, run.native_fps)
        ]
        rows.append(
            {
                **row,
                **prf(
                    len(expected), len(got), match_events(expected, got, round(2 * run.native_fps))
                ),
            }
        )
    return rows


def score_crowd(run: RulesRun, truth: Truth | None, zones: Mapping[str, ZoneSpec]) -> list[Report]:
    """Compare each crowd rule's count per analysed frame with the annotated count."""
    rows = []
    for spec in run.camera.rules:
        if not isinstance(spec, CrowdSpec):
            continue
        counts = [run.crowd_counts[i][spec.id] for i in run.frames]
        row: Report = {
            "rule": spec.id,
            "mean_count": round(statistics.fmean(counts), 2),
            "max_count": max(counts),
        }
        movements = _rule_events(run, spec.id, "crowd_movement")
        levels = _rule_events(run, spec.id, "crowd")
        row["level_events"] = len(levels)
        row["movement_events"] = len(movements)
        if truth is not None:
            region = Polygon(zones[spec.zone].polygon if spec.zone else spec.polygon or [])
            errors = []
            for index, count in zip(run.frames, counts, strict=True):
                actual = sum(
                    1
                    for _, box in truth.get(index, ())
                    if region.contains(*box.bottom_center, *run.size)
                )
                errors.append(count - actual)
            row["truth_mean_count"] = round(
                statistics.fmean(c - e for c, e in zip(counts, errors, strict=True)), 2
            )
            row["mae"] = round(statistics.fmean(abs(e) for e in errors), 3)
            row["bias"] = round(statistics.fmean(errors), 3)
            row["exact_share"] = round(sum(1 for e in errors if e == 0) / len(errors), 3)
        rows.append(row)
    return rows


def track_speed(
    points: list[tuple[float, float, float]], calibration: Homography, size: tuple[int, int]
) -> float | None:
    """Return the median km/h of a walking track (≥ WALKING_MIN_S long, ≥ 1.5 km/h), else None."""
    if len(points) < 3 or points[-1][0] - points[0][0] < WALKING_MIN_S:
        return None
    estimates = []
    for end in range(2, len(points)):
        estimate = estimate_speed(points[: end + 1], size, calibration=calibration)
        if estimate is not None and estimate.kmh is not None:
            estimates.append(estimate.kmh)
    if not estimates or statistics.median(estimates) < WALKING_MIN_KMH:
        return None
    return statistics.median(estimates)


def score_speeds(run: RulesRun, truth: Truth | None) -> Report | None:
    """Summarise the walking speeds of tracked people, and compare them with the annotation's."""
    if run.camera.calibration is None:
        return None
    calibration = run.camera.calibration.homography()
    tracked: dict[int, list[tuple[float, float, float]]] = {}
    owners: dict[int, dict[int, int]] = {}
    for index in run.frames:
        at = index / run.native_fps
        people = truth.get(index, ()) if truth is not None else ()
        for track in run.tracks[index]:
            if track.label != "person" or not track.matched:
                continue
            tracked.setdefault(track.track_id, []).append((at, *track.bbox.bottom_center))
            overlap, person = max(
                ((track.bbox.iou(box), p) for p, box in people), default=(0.0, -1)
            )
            if overlap >= 0.3:
                votes = owners.setdefault(track.track_id, {})
                votes[person] = votes.get(person, 0) + 1
    speeds = {t: v for t, pts in tracked.items() if (v := track_speed(pts, calibration, run.size))}
    report: Report = {
        "walking_range_kmh": list(SPEED_RANGE_KMH),
        "tracked": _speed_summary(list(speeds.values())),
    }
    if truth is None:
        return report
    annotated_paths: dict[int, list[tuple[float, float, float]]] = {}
    for index in run.frames:
        for person, box in truth.get(index, ()):
            annotated_paths.setdefault(person, []).append(
                (index / run.native_fps, *box.bottom_center)
            )
    annotated = {
        p: v for p, pts in annotated_paths.items() if (v := track_speed(pts, calibration, run.size))
    }
    report["annotated"] = _speed_summary(list(annotated.values()))
    pairs = []
    for track_id, speed in speeds.items():
        tally = owners.get(track_id, {})
        if tally:
            person = max(tally, key=lambda p: tally[p])
            if person in annotated:
                pairs.append((speed, annotated[person]))
    low, high = SPEED_RANGE_KMH
    walkers = [s for s, a in pairs if low <= a <= high]
    report["tracks_vs_annotation"] = {
        "tracks": len(pairs),
        "mae_kmh": round(statistics.fmean(abs(s - a) for s, a in pairs), 2) if pairs else None,
        "tracks_of_walkers": len(walkers),
        "walkers_in_range_share": round(sum(low <= s <= high for s in walkers) / len(walkers), 3)
        if walkers
        else None,
    }
    return report


def _speed_summary(speeds: list[float]) -> Report:
    if not speeds:
        return {"walking_tracks": 0}
    low, high = SPEED_RANGE_KMH
    within = sum(1 for s in speeds if low <= s <= high)
    return {
        "walking_tracks": len(speeds),
        "in_range_share": round(within / len(speeds), 3),
        "median_kmh": round(statistics.median(speeds), 2),
        "min_kmh": round(min(speeds), 2),
        "max_kmh": round(max(speeds), 2),
    }


def events_by_kind(run: RulesRun) -> dict[str, int]:
    """Return how many events of each kind the run raised."""
    counts: dict[str, int] = {}
    for event in run.events:
        counts[event.kind] = counts.get(event.kind, 0) + 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------- whole evaluations


def evaluate_clip(
    clip: Path,
    camera: CameraSpec,
    *,
    detector: DetectorSpec | None,
    models_dir: Path | None,
    truth_path: Path | None = None,
    input_fit: InputFit | None = None,
) -> Report:
    """Run a clip with a geometry and score it (against ground truth when given)."""
    frames = decode_all(clip)
    if not frames:
        raise VigilError(f"{clip.name}: no frame decoded")
    truth = read_mot_csv(truth_path) if truth_path is not None else None
    spec = detector_for(camera, detector, input_fit)
    batcher = _batcher(spec, models_dir)
    try:
        run = run_rules(frames, camera, batcher)
    finally:
        batcher.close()
    return score_run(run, truth, clip=clip.name, truth_name=truth_path.name if truth_path else None)


def score_run(run: RulesRun, truth: Truth | None, *, clip: str, truth_name: str | None) -> Report:
    """Return every figure for one run."""
    zones = {zone.id: zone for zone in run.camera.zones}
    paths = truth_paths(truth, run.frames) if truth is not None else None
    report: Report = {
        "clip": clip,
        "ground_truth": truth_name,
        "analysed_frames": len(run.frames),
        "analysed_fps": run.camera.fps,
        "ms_per_frame": round(run.ms_per_frame, 1),
        "events_by_kind": events_by_kind(run),
    }
    if paths is not None:
        report["zones"] = score_zones(run, paths)
    report["lines"] = score_lines(run, paths)
    report["loitering"] = score_loitering(run, paths, zones)
    report["routes"] = score_routes(run, paths, zones)
    report["crowd"] = score_crowd(run, truth, zones)
    report["wrong_way"] = score_wrong_way(run, paths, zones)
    report["fast_move"] = score_fast_moves(run, paths)
    speeds = score_speeds(run, truth)
    if speeds is not None:
        report["speeds"] = speeds
    report["object_events"] = [
        _object_row(e, run) for e in run.events if e.kind in {"object_left", "object_removed"}
    ]
    return {k: v for k, v in report.items() if v not in ([], None)}


def _object_row(event: RuleEvent, run: RulesRun) -> Report:
    return {
        "kind": event.kind,
        "phase": event.phase.value,
        "frame": event.frame_index,
        "at_s": round(event.at_s, 1),
        "box": event.attrs.get("box"),
        "label": event.attrs.get("label"),
        "rule": event.rule_id,
        "clip_frames": run.frames[-1] + 1,
    }


def _batcher(spec: DetectorSpec, models_dir: Path | None) -> InferenceBatcher:
    detector = build_detector(spec, InferenceSpec(), SessionCache(), models_dir)
    return InferenceBatcher(detector, workers=1, max_batch=1, max_wait_ms=0)


def check_bag(run: RulesRun) -> Report:
    """Check the bag clip: one object-left event, on the bag, and no other object event."""
    started = [e for e in run.events if e.phase is EventPhase.STARTED]
    on_bag = [e for e in started if e.kind == "object_left" and _on_bag(e)]
    others = [e for e in started if e not in on_bag]
    return {
        "clip": BAG_CLIP,
        "bag_events": len(on_bag),
        "first_bag_event_frame": on_bag[0].frame_index if on_bag else None,
        "other_events": len(others),
        "target": "exactly 1 object_left on the bag, nothing else",
        "ok": len(on_bag) == 1 and not others,
    }


def _on_bag(event: RuleEvent) -> bool:
    box = event.attrs.get("box")
    if not isinstance(box, Sequence) or len(box) != 4:
        return False
    x1, y1, x2, y2 = (float(v) for v in box)  # type: ignore[arg-type]
    bx1, by1, bx2, by2 = BAG_BOX
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return bx1 <= cx <= bx2 and by1 <= cy <= by2


def check_quiet(run: RulesRun, clip: str) -> Report:
    """Check a nuisance clip: no rule event at all."""
    return {
        "clip": clip,
        "events": len(run.events),
        "events_by_kind": events_by_kind(run),
        "target": "no rule event",
        "ok": not run.events,
    }


def evaluate_rules(
    media_dir: Path,
    *,
    models_dir: Path | None,
    clip: Path | None = None,
    geometry: Path | None = None,
    truth: Path | None = None,
    input_fit: InputFit | None = None,
) -> Report:
    """Run `vigil-analytics bench rules`: vtest with its geometry and truth, the bag and tree clips.

    With `clip`, run that clip alone with `geometry` (a YAML camera or engine config) and,
    when given, MOT ground truth.
    """
    if clip is not None:
        text = geometry.read_text(encoding="utf-8") if geometry else VTEST_GEOMETRY
        camera, detector = parse_geometry(text, clip=clip)
        report = evaluate_clip(
            clip,
            camera,
            detector=detector,
            models_dir=models_dir,
            truth_path=truth,
            input_fit=input_fit,
        )
        return {**report, "targets": targets(report)} if truth is not None else report
    camera, _ = parse_geometry(VTEST_GEOMETRY, clip=media_dir / VTEST)
    report = evaluate_clip(
        media_dir / VTEST,
        camera,
        detector=None,
        models_dir=models_dir,
        truth_path=media_dir / VTEST_TRUTH,
        input_fit=input_fit,
    )
    checks = []
    for name, text in ((BAG_CLIP, BAG_GEOMETRY), (TREE_CLIP, TREE_GEOMETRY)):
        cam, _ = parse_geometry(text, clip=media_dir / name)
        frames = decode_all(media_dir / name)
        batcher = _batcher(detector_for(cam, None, input_fit), models_dir)
        try:
            run = run_rules(frames, cam, batcher)
        finally:
            batcher.close()
        checks.append(check_bag(run) if name == BAG_CLIP else check_quiet(run, name))
    rows = targets(report)
    rows += [
        _target(f"{c['clip']}: {c['target']}", c.get("bag_events", c.get("events")), c["ok"])
        for c in checks
    ]
    return {**report, "checks": checks, "targets": rows}


def targets(report: Report) -> list[Report]:
    """Return the issue's targets on vtest with the measured figure and whether each is met."""
    rows: list[Report] = []
    for line in report.get("lines", []):
        if line.get("truth"):
            err = abs(line["counted"] - line["truth"]) / line["truth"]
            rows.append(
                _target(
                    f"line {line['line']} {line['direction']} count within ±10 %",
                    f"{line['counted']}/{line['truth']}",
                    err <= 0.1,
                )
            )
    for zone in report.get("zones", []):
        rows.append(
            _target(f"zone {zone['zone']} {zone['event']} F1 ≥ 0.9", zone["f1"], zone["f1"] >= 0.9)
        )
    for loiter in report.get("loitering", []):
        if "f1" in loiter:
            rows.append(
                _target(f"loitering {loiter['rule']} F1 ≥ 0.9", loiter["f1"], loiter["f1"] >= 0.9)
            )
    for crowd in report.get("crowd", []):
        if "mae" in crowd:
            rows.append(
                _target(f"crowd {crowd['rule']} MAE ≤ 1 person", crowd["mae"], crowd["mae"] <= 1.0)
            )
    speeds = report.get("speeds", {})
    tracked = speeds.get("tracked", {})
    if tracked.get("walking_tracks"):
        share = tracked["in_range_share"]
        rows.append(
            _target("walking speeds in 3–7 km/h for ≥ 90 % of walking tracks", share, share >= 0.9)
        )
    annotated = speeds.get("annotated", {})
    if annotated.get("walking_tracks"):
        share = annotated["in_range_share"]
        rows.append(
            _target("(reference) the annotation's own walkers in 3–7 km/h", share, share >= 0.9)
        )
    walkers = speeds.get("tracks_vs_annotation", {}).get("walkers_in_range_share")
    if walkers is not None:
        rows.append(
            _target(
                "tracks of people the annotation times at 3–7 km/h, in 3–7 km/h",
                walkers,
                walkers >= 0.9,
            )
        )
    return rows


def _target(name: str, value: object, met: bool) -> Report:
    return {"target": name, "measured": value, "met": met}


@dataclass(frozen=True, slots=True)
class RulesBenchOptions:
    """Options of `vigil-analytics bench rules`: a clip, its geometry and its truth (optional)."""

    clip: Path | None = None
    geometry: Path | None = None
    """A YAML camera (zones, rules, calibration, fps) or engine config; vtest's by default."""
    truth: Path | None = None
    """MOT-style csv: frame (1-based), id, left, top, width, height."""
    fits: tuple[InputFit, ...] = ()
    """Detector input fits to run; several are reported side by side (default: the config's)."""


def bench_rules(media: Path, models_dir: Path | None, options: RulesBenchOptions) -> Report:
    """Run the rules section of `vigil-analytics bench`."""
    if options.clip is None and (options.geometry or options.truth):
        raise VigilError("rules: --geometry and --truth go with --clip")
    reports = {
        fit: evaluate_rules(
            media,
            models_dir=models_dir,
            clip=options.clip,
            geometry=options.geometry,
            truth=options.truth,
            input_fit=fit,
        )
        for fit in (options.fits or (None,))
    }
    if len(reports) == 1:
        return next(iter(reports.values()))
    return side_by_side(reports)


def side_by_side(reports: Mapping[InputFit | None, Report]) -> Report:
    """Put the targets, line counts and zone scores of several detector inputs side by side."""
    fits = [str(fit) for fit in reports]
    runs = list(reports.values())
    merged: Report = {"inputs": fits}
    for key, name_keys, value_keys in (
        ("targets", ("target",), ("measured", "met")),
        ("lines", ("line", "direction", "truth"), ("counted",)),
        ("zones", ("zone", "event"), ("f1", "precision", "recall")),
        ("checks", ("clip", "target"), ("ok",)),
    ):
        first = runs[0].get(key) or []
        rows = []
        for index, row in enumerate(first):
            line: Report = {k: row.get(k) for k in name_keys}
            for fit, run in zip(fits, runs, strict=True):
                other = (run.get(key) or [])[index] if index < len(run.get(key) or []) else {}
                for value in value_keys:
                    line[f"{value} ({fit})"] = other.get(value)
            rows.append(line)
        if rows:
            merged[key] = rows
    merged["reports"] = [{"input": fit, **run} for fit, run in zip(fits, runs, strict=True)]
    return merged
