"""Recent tracks per camera, kept in memory, and their replay through a candidate zone or rule.

The server keeps the last minutes of each analysed camera's tracks (classes, boxes and the
tracker's short-lived ids: never a picture, never a plate) so that a client drawing a zone or
a line can see what it would have produced (`ReplayRule`). Rules are plain objects fed with
track sequences: a fresh instance fed the recorded steps, with the stream times and frame sizes
they had, produces exactly what it would have produced live. The memory is bounded per camera
(minutes, steps and boxes), lives in the server's memory only, and is gone at a restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
import threading
import time

import numpy as np

from vigil_core.config import CameraSpec, LineCrossingSpec, LoiteringSpec, ZoneSpec
from vigil_core.events.model import EventPhase, RuleEvent
from vigil_core.rules import Rule, RuleContext, RuleSetup, ZonePresenceRule, build_rule
from vigil_core.rules.common import ClassFilter, anchor_point
from vigil_core.store.counters import CounterStore
from vigil_core.types import Frame, RGBImage, Track
import vigil_protocol as vp

MEMORY_S = 300.0
"""How long a camera's tracks are kept (wall-clock seconds): the "last minutes" replayed."""
MAX_STEPS = 3000
"""Analysed frames kept per camera at most (five minutes at 10 analysed frames a second)."""
MAX_BOXES = 20_000
"""Track boxes kept per camera at most (about 5 MB): a crowded view keeps fewer minutes."""
SEGMENT_GAP_S = 3600.0
"""Stream time put between two runs of a camera in a replay: longer than any rule's gap, so
nothing carries over a restart (stream times and tracker ids start again after one)."""
SEGMENT_IDS = 1_000_000
"""Track ids of each later run are shifted by this much in a replay, so no id is reused."""
MAX_PATHS = 60
"""Paths returned with a replay at most (the most recent tracks)."""
MAX_PATH_POINTS = 40
"""Points per path at most (evenly sampled, the last one kept)."""

type ReplaySpec = ZoneSpec | LineCrossingSpec | LoiteringSpec

REPLAYABLE: dict[type, str] = {
    ZoneSpec: "zone_presence",
    LineCrossingSpec: "line_crossing",
    LoiteringSpec: "loitering",
}
"""The zone and rule families a replay is exact for: they read boxes only (no pixels, no
history of points, which the memory does not keep)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One analysed frame of a camera, as its rules saw it (no pixels)."""

    segment: int
    """Which run of the camera (a restart or a stream that starts again begins a new one)."""
    pts_s: float
    index: int
    fresh: bool
    size: tuple[int, int]
    tracks: tuple[Track, ...]
    seen_at: float
    """`time.monotonic()` when it was recorded: the memory keeps `MEMORY_S` of them."""


class TrackMemory:
    """The recent steps of one camera, bounded in time, steps and boxes (thread-safe).

    The camera's analysis thread records; the server's loop reads a copy for a replay.
    """

    def __init__(
        self,
        window_s: float = MEMORY_S,
        *,
        max_steps: int = MAX_STEPS,
        max_boxes: int = MAX_BOXES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep at most `window_s` seconds, `max_steps` steps and `max_boxes` boxes."""
        self.window_s = window_s
        self._max_steps = max_steps
        self._max_boxes = max_boxes
        self._clock = clock
        self._steps: deque[Step] = deque()
        self._boxes = 0
        self._segment = 0
        self._lock = threading.Lock()
        self._last_raw: tuple[Track, ...] | None = None
        self._last_slim: tuple[Track, ...] = ()

    def new_segment(self) -> None:
        """Start a new run: the camera restarted, its stream time and track ids start again."""
        with self._lock:
            self._segment += 1
            self._last_raw = None

    def observe(self, frame: Frame, tracks: tuple[Track, ...], *, fresh: bool) -> None:
        """Record one step's tracks; drop what is older than the bounds.

        Point histories are left out: the rules that replay never read them.
        """
        if tracks is not self._last_raw:
            # Frames the detector skipped carry the same tuple: it is slimmed once.
            self._last_slim = tuple(replace(track, history=()) for track in tracks)
            self._last_raw = tracks
        with self._lock:
            last = self._steps[-1] if self._steps else None
            if last is not None and last.segment == self._segment and frame.pts_s < last.pts_s:
                self._segment += 1  # the stream's clock went back (it reconnected)
            self._steps.append(
                Step(
                    segment=self._segment,
                    pts_s=frame.pts_s,
                    index=frame.index,
                    fresh=fresh,
                    size=(frame.width, frame.height),
                    tracks=self._last_slim,
                    seen_at=self._clock(),
                )
            )
            self._boxes += len(self._last_slim)
            self._trim()

    def _trim(self) -> None:
        oldest_kept = self._clock() - self.window_s
        steps = self._steps
        while steps and (
            len(steps) > self._max_steps
            or self._boxes > self._max_boxes
            or steps[0].seen_at < oldest_kept
        ):
            self._boxes -= len(steps.popleft().tracks)

    def steps(self) -> list[Step]:
        """Return a copy of the kept steps, oldest first (older than the window left out)."""
        with self._lock:
            self._trim()
            return list(self._steps)

    def __len__(self) -> int:
        """Return how many steps are kept."""
        with self._lock:
            return len(self._steps)


class TrackMemories:
    """One track memory per analysed camera, kept while the camera's source stays the same.

    A camera restarted by a new configuration (a zone added, say) keeps its memory: the next
    zone or line drawn still replays the minutes before. A camera removed, or pointed at
    another source, forgets it.
    """

    def __init__(self, window_s: float = MEMORY_S) -> None:
        """Keep `window_s` seconds per camera (0: keep nothing, replays find no tracks)."""
        self.window_s = window_s
        self._memories: dict[str, tuple[object, TrackMemory]] = {}
        self._lock = threading.Lock()

    def observer(self, camera: CameraSpec) -> TrackMemory | None:
        """Return the memory a camera's new pipeline records into (None when disabled)."""
        if self.window_s <= 0:
            return None
        source = camera.source.model_dump_json()
        with self._lock:
            found = self._memories.get(camera.id)
            if found is not None and found[0] == source:
                found[1].new_segment()
                return found[1]
            memory = TrackMemory(self.window_s)
            self._memories[camera.id] = (source, memory)
            return memory

    def get(self, camera_id: str) -> TrackMemory | None:
        """Return a camera's memory, if it has one."""
        with self._lock:
            found = self._memories.get(camera_id)
        return found[1] if found is not None else None

    def retain(self, camera_ids: Iterable[str]) -> None:
        """Forget the cameras that are no longer configured."""
        keep = set(camera_ids)
        with self._lock:
            for camera_id in [c for c in self._memories if c not in keep]:
                del self._memories[camera_id]


# --- replay -----------------------------------------------------------------------------------


def build_candidate(spec: ReplaySpec, camera: CameraSpec) -> Rule:
    """Return a fresh rule for a zone or rule spec, with line totals in memory only."""
    if isinstance(spec, ZoneSpec):
        return ZonePresenceRule(spec)
    return build_rule(spec, RuleSetup.for_camera(camera, CounterStore()))


def replay(
    spec: ReplaySpec,
    camera: CameraSpec,
    steps: Sequence[Step],
    *,
    with_paths: bool = True,
) -> vp.RuleReplay:
    """Feed the steps to a fresh rule of `spec`; return what it produced (blocking: a thread)."""
    rule = build_candidate(spec, camera)
    watched = ClassFilter(spec.classes)
    events: list[RuleEvent] = []
    ctx: RuleContext | None = None
    seen: set[tuple[int, int]] = set()
    paths: dict[tuple[int, int], list[tuple[float, float]]] = {}
    labels: dict[tuple[int, int], str] = {}
    for ctx, tracks, run in _timeline(camera.id, steps):
        events += rule.update(ctx, tracks)
        width, height = ctx.frame.width, ctx.frame.height
        for track in tracks:
            if not watched(track):
                continue
            key = (run, track.track_id)
            seen.add(key)
            if with_paths and ctx.fresh and track.matched:
                x, y = anchor_point(track, spec.anchor)
                point = (round(x / width, 4), round(y / height, 4))
                paths.setdefault(key, []).append(point)
                labels[key] = track.label
    if ctx is not None:
        events += rule.finish(ctx)
    return _outcome(spec, events, steps, len(seen), _paths(paths, labels))


def _timeline(
    camera_id: str, steps: Sequence[Step]
) -> Iterable[tuple[RuleContext, tuple[Track, ...], int]]:
    """Yield each step's context and tracks on one continuous timeline (runs far apart)."""
    blanks: dict[tuple[int, int], RGBImage] = {}
    run = -1
    segment: int | None = None
    offset = 0.0
    last_t = 0.0
    received = time.monotonic()
    for step in steps:
        if step.segment != segment:
            segment, run = step.segment, run + 1
            offset = 0.0 if run == 0 else last_t + SEGMENT_GAP_S - step.pts_s
        last_t = step.pts_s + offset
        if step.size not in blanks:
            # The rules replayed read sizes, never pixels: one shared, read-only view.
            blanks[step.size] = np.broadcast_to(
                np.zeros((1, 1, 3), np.uint8), (step.size[1], step.size[0], 3)
            )
        frame = Frame(
            camera_id=camera_id,
            index=step.index,
            pts_s=last_t,
            received_at=received,
            image=blanks[step.size],
            source_size=step.size,
        )
        tracks = step.tracks
        if run:
            tracks = tuple(replace(t, track_id=t.track_id + run * SEGMENT_IDS) for t in tracks)
        yield RuleContext(frame=frame, fresh=step.fresh), tracks, run


def _span(steps: Sequence[Step]) -> float:
    """Return the stream seconds the steps cover, run by run."""
    total = 0.0
    first: Step | None = None
    previous: Step | None = None
    for step in steps:
        if first is None or previous is None or step.segment != previous.segment:
            if first is not None and previous is not None:
                total += previous.pts_s - first.pts_s
            first = step
        previous = step
    if first is not None and previous is not None:
        total += previous.pts_s - first.pts_s
    return round(total, 1)


def _paths(
    points: dict[tuple[int, int], list[tuple[float, float]]], labels: dict[tuple[int, int], str]
) -> tuple[vp.TrackPath, ...]:
    """Return the most recent tracks' paths, each thinned to `MAX_PATH_POINTS`."""
    recent = [key for key in points if len(points[key]) >= 2][-MAX_PATHS:]
    paths = []
    for key in recent:
        found = points[key]
        if len(found) > MAX_PATH_POINTS:
            stride = (len(found) - 1) / (MAX_PATH_POINTS - 1)
            found = [found[round(i * stride)] for i in range(MAX_PATH_POINTS)]
        paths.append(vp.TrackPath(label=labels[key], points=tuple(found)))
    return tuple(paths)


def _outcome(
    spec: ReplaySpec,
    events: Sequence[RuleEvent],
    steps: Sequence[Step],
    tracks: int,
    paths: tuple[vp.TrackPath, ...],
) -> vp.RuleReplay:
    kind = REPLAYABLE[type(spec)]
    started = [e for e in events if e.phase is EventPhase.STARTED]
    dwells = [float(d) for e in events if isinstance(d := e.attrs.get("dwell_s"), int | float)]
    directions = [e.attrs.get("direction") for e in events if e.kind == "line_crossing"]
    return vp.RuleReplay(
        rule_kind=kind,
        span_s=_span(steps),
        tracks=tracks,
        a_to_b=directions.count("a_to_b"),
        b_to_a=directions.count("b_to_a"),
        entries=len(started) if kind == "zone_presence" else 0,
        loitering=len(started) if kind == "loitering" else 0,
        longest_dwell_s=round(max(dwells, default=0.0), 1),
        paths=paths,
    )
