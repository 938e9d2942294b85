"""Run the camera-health checks over clips with the real decoding: what fired, when, at what cost.

Each clip is decoded by the same `AvSource` a camera uses (PyAV, sampled on timestamps at the
analysis rate, resized to the analysis width) and every sampled frame goes through a fresh
`TamperAnalyzer`, exactly as the pipeline would call it; no detector runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
import statistics
import threading
import time
from typing import Any

import numpy as np

from vigil_core.config import SourceSpec, TamperSpec
from vigil_core.errors import VigilError
from vigil_core.events.model import EventPhase, RuleEvent, SourceState, SourceStateEvent
from vigil_core.health import TamperAnalyzer
from vigil_core.sources.av_source import AvSource
from vigil_core.types import Frame

type Report = dict[str, Any]
type Rect = tuple[float, float, float, float]

DEFAULT_FPS = 5.0
DEFAULT_WIDTH = 640
DEFAULT_CLIPS: tuple[tuple[str, tuple[Rect, ...]], ...] = (
    ("tamper_occlusion.mp4", ()),
    # A red "Tampering Detected" label is burned into the top-left corner from frame 114.
    ("tamper_defocus.mp4", ((0.0, 0.0, 0.3, 0.12),)),
    ("vtest.avi", ()),
    ("car-detection.mp4", ()),
    ("one-by-one-person-detection.mp4", ()),
    ("road_640x360.avi", ()),
    ("motorway_320x240.avi", ()),
    ("overpass_320x240.avi", ()),
    ("tree_wind.avi", ()),
    ("abandoned_bag_aboda4.avi", ()),
)
QUICK_SECONDS = 30.0


@dataclass(slots=True)
class ClipRun:
    """What the checks reported on one clip."""

    clip: str
    size: tuple[int, int] = (0, 0)
    frames: int = 0
    duration_s: float = 0.0
    events: list[RuleEvent] = field(default_factory=list)
    costs_s: list[float] = field(default_factory=list)
    """Thread CPU seconds of each update: what a camera costs, whatever else runs."""
    wall_s: list[float] = field(default_factory=list)
    peaks: dict[str, float] = field(default_factory=dict)
    active_at_end: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def alarms(self) -> list[RuleEvent]:
        """Return the STARTED events (each one an alarm)."""
        return [e for e in self.events if e.phase is EventPhase.STARTED]


def analyse_clip(
    path: Path,
    *,
    spec: TamperSpec | None = None,
    fps: float = DEFAULT_FPS,
    max_width: int = DEFAULT_WIDTH,
    max_seconds: float | None = None,
) -> ClipRun:
    """Decode one clip as a camera would and run a fresh TamperAnalyzer on every sampled frame."""
    analyzer = TamperAnalyzer("bench", spec or TamperSpec(), fps=fps)
    run = ClipRun(clip=path.name)
    done = threading.Event()
    source: AvSource | None = None

    def on_frame(frame: Frame) -> None:
        if max_seconds is not None and frame.pts_s > max_seconds:
            done.set()
            return
        started, cpu_started = time.perf_counter(), time.thread_time()
        events = analyzer.update(frame)
        run.costs_s.append(time.thread_time() - cpu_started)
        run.wall_s.append(time.perf_counter() - started)
        run.events += events
        run.frames += 1
        run.size = (frame.width, frame.height)
        run.duration_s = frame.pts_s
        scores = analyzer.scores
        if scores is not None:
            for name in ("obstruction", "defocus", "orientation"):
                run.peaks[name] = max(run.peaks.get(name, 0.0), getattr(scores, name))

    def on_state(event: SourceStateEvent) -> None:
        run.events += analyzer.on_source_state(event)
        if event.state is SourceState.OFFLINE:
            run.error = event.reason
        if event.state in (SourceState.ENDED, SourceState.OFFLINE):
            done.set()

    source = AvSource(
        "bench",
        SourceSpec(url=str(path)),
        fps=fps,
        max_width=max_width,
        on_frame=on_frame,
        on_state=on_state,
    )
    source.start()
    done.wait()
    source.stop()
    state = analyzer.state()
    run.active_at_end = [
        name
        for name, value in state.items()
        if isinstance(value, dict) and value.get("active") is True
    ]
    return run


def parse_masks(values: Sequence[str]) -> tuple[list[Rect], dict[str, list[Rect]]]:
    """Parse `--mask [CLIP=]X1,Y1,X2,Y2` values: (masks for every clip, masks per clip name)."""
    common: list[Rect] = []
    per_clip: dict[str, list[Rect]] = {}
    for value in values:
        clip, _, rect_text = value.rpartition("=")
        try:
            x1, y1, x2, y2 = (float(part) for part in rect_text.split(","))
        except ValueError:
            raise VigilError(f"--mask {value!r}: expected [CLIP=]X1,Y1,X2,Y2 in 0-1") from None
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise VigilError(f"--mask {value!r}: needs 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1")
        rect = (x1, y1, x2, y2)
        if clip:
            per_clip.setdefault(clip, []).append(rect)
        else:
            common.append(rect)
    return common, per_clip


def _resolve(name: str, media: Path | None) -> Path:
    path = Path(name)
    if path.exists():
        return path
    if media is not None and (media / name).exists():
        return media / name
    raise VigilError(f"clip {name} not found (give a path, or a name in the media folder)")


def _masks_for(path: Path, per_clip: dict[str, list[Rect]]) -> list[Rect]:
    keys = dict.fromkeys((str(path), path.name, path.stem))
    return [rect for key in keys for rect in per_clip.get(key, [])]


def bench_tamper(
    clips: Sequence[str],
    *,
    media: Path | None,
    fps: float = DEFAULT_FPS,
    masks: Sequence[str] = (),
    max_width: int = DEFAULT_WIDTH,
    quick: bool = False,
) -> Report:
    """Run the checks over the given clips (default: the shared footage); report each one."""
    common, per_clip = parse_masks(masks)
    known = dict(DEFAULT_CLIPS)
    if clips:
        paths = [_resolve(name, media) for name in clips]
    elif media is not None:
        paths = [media / name for name in known if (media / name).exists()]
    else:
        raise VigilError("no clips given and no media folder found")
    # The shared clips' own burned-in labels are masked by name, as their README says.
    chosen = [
        (
            path,
            list(dict.fromkeys([*known.get(path.name, ()), *common, *_masks_for(path, per_clip)])),
        )
        for path in paths
    ]
    rows = []
    all_costs: list[float] = []
    for path, regions in chosen:
        spec = TamperSpec(ignore_regions=list(regions))
        run = analyse_clip(
            path,
            spec=spec,
            fps=fps,
            max_width=max_width,
            max_seconds=QUICK_SECONDS if quick else None,
        )
        all_costs += run.costs_s
        rows.append(_row(run, regions))
    return {
        "analysis": f"{fps:g} fps, at most {max_width} px wide, TamperAnalyzer only (no detector)",
        "alarms_total": sum(int(row["alarms"]) for row in rows),
        "cpu_ms_per_frame_mean": _ms(statistics.fmean(all_costs)) if all_costs else None,
        "cpu_ms_at_640x360": _cost_at_640x360(),
        "rows": rows,
    }


def _row(run: ClipRun, regions: Sequence[Rect]) -> Report:
    costs = run.costs_s
    return {
        "clip": run.clip,
        "size": f"{run.size[0]}x{run.size[1]}",
        "frames": run.frames,
        "seconds": round(run.duration_s, 1),
        "alarms": len(run.alarms),
        "fired": "; ".join(_describe(event) for event in run.events) or "-",
        "active_at_end": ",".join(run.active_at_end) or "-",
        "peak_obstruction": round(run.peaks.get("obstruction", 0.0), 2),
        "peak_defocus": round(run.peaks.get("defocus", 0.0), 2),
        "peak_orientation": round(run.peaks.get("orientation", 0.0), 2),
        "cpu_ms": _ms(statistics.fmean(costs)) if costs else None,
        "cpu_p95_ms": _ms(float(np.percentile(costs, 95))) if costs else None,
        "wall_p50_ms": _ms(float(np.percentile(run.wall_s, 50))) if costs else None,
        "masked": " ".join(",".join(f"{v:g}" for v in rect) for rect in regions) or "-",
        **({"error": run.error} if run.error else {}),
    }


def _describe(event: RuleEvent) -> str:
    score = event.attrs.get("score")
    reason = event.attrs.get("reason")
    extra = f", {reason}" if reason else ""
    return (
        f"{event.kind} {event.phase.value} at frame {event.frame_index} "
        f"({event.at_s:.2f} s, score {score}{extra})"
    )


TAMPER_BUDGET_MS = 1.0
"""The camera-health checks' share of a 5 fps camera's frame (median, thread CPU, 640×360)."""


def _cost_at_640x360(frames: int = 300) -> Report:
    """Time TamperAnalyzer.update (thread CPU) on a changing 640×360 picture, cache-warm.

    The per-clip figures include reading each freshly decoded frame from memory; this one is
    the computation alone, the same on every machine load.
    """
    rng = np.random.default_rng(0)
    base = rng.integers(0, 250, (360 // 8, 640 // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    images = [
        np.ascontiguousarray(base + rng.integers(0, 6, base.shape, dtype=np.uint8))
        for _ in range(4)
    ]
    analyzer = TamperAnalyzer("bench", TamperSpec(), fps=DEFAULT_FPS)
    costs = []
    for index in range(frames):
        frame = Frame(
            "bench", index, index / DEFAULT_FPS, time.monotonic(), images[index % 4], (640, 360)
        )
        started = time.thread_time()
        analyzer.update(frame)
        costs.append(time.thread_time() - started)
    steady = costs[10:]
    p50 = _ms(float(np.percentile(steady, 50)))
    return {
        "mean": _ms(statistics.fmean(steady)),
        "p50": p50,
        "p95": _ms(float(np.percentile(steady, 95))),
        "budget_ms": TAMPER_BUDGET_MS,
        "within_budget": p50 < TAMPER_BUDGET_MS,
    }


def _ms(seconds: float) -> float:
    return round(1000.0 * seconds, 3)
