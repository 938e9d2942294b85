"""`vigil-analytics bench`: figures measured side by side on the machine it runs on.

Sections: decode, inference, e2e (N cameras, shared session vs one per camera), tracking.
Every figure comes from this run; ratios between figures of one run are what to compare,
because a shared machine makes absolute numbers noisy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from .config import CameraSpec, EngineConfig, InferenceSpec, MotionSpec, SourceSpec, ZoneSpec
from .errors import VigilError
from .events.model import RuleEvent, VigilEvent
from .inference.loader import cache_dir, resolve_model, shared_candidates
from .types import RGBImage

if TYPE_CHECKING:
    from .eval.rules import RulesBenchOptions

SECTIONS = ("decode", "inference", "e2e", "tracking", "tamper", "rules")
E2E_CLIPS = (
    "vtest.avi",
    "car-detection.mp4",
    "one-by-one-person-detection.mp4",
    "road_640x360.avi",
)
DECODE_SIZES = ((1920, 1080), (1280, 720), (640, 360))

type Report = dict[str, Any]


def run_bench(
    sections: Sequence[str],
    *,
    as_json: bool,
    quick: bool,
    models_dir: Path | None,
    tamper: TamperBenchOptions | None = None,
    rules: RulesBenchOptions | None = None,
) -> int:
    """Run the requested sections and print the figures; return the exit code.

    Words after `tamper` that are not section names are clips for it (paths or media names).
    """
    known = [s for s in sections if s in SECTIONS]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown and "tamper" not in known:
        raise VigilError(
            f"unknown bench section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}"
        )
    wanted = known or list(SECTIONS)
    runners: dict[str, Callable[[], Report]] = {
        "decode": lambda: bench_decode(quick=quick),
        "inference": lambda: bench_inference(models_dir, quick=quick),
        "e2e": lambda: bench_e2e(models_dir, quick=quick),
        "tracking": lambda: bench_tracking(models_dir, quick=quick),
        "tamper": lambda: bench_tamper_clips(unknown, tamper or TamperBenchOptions(), quick=quick),
        "rules": lambda: bench_rules(models_dir, rules),
    }
    report: Report = {"machine": _machine()}
    for name in wanted:
        if not as_json:
            print(f"\n== {name} ==", flush=True)
        report[name] = runners[name]()
        if not as_json:
            _print_section(name, report[name])
    if as_json:
        print(json.dumps(report, indent=2))
    return 0


def _machine() -> Report:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "av": av.__version__}


def media_dir() -> Path:
    """Return the folder holding the shared clips (VIGIL_MEDIA_DIR or ../shared/media)."""
    if os.environ.get("VIGIL_MEDIA_DIR"):
        return Path(os.environ["VIGIL_MEDIA_DIR"])
    for candidate in shared_candidates():
        media = candidate.parent / "media"
        if media.is_dir():
            return media
    raise VigilError("no media folder found: set VIGIL_MEDIA_DIR to the folder holding the clips")


# ---------------------------------------------------------------- decode


def _transcoded(source: Path, width: int, height: int, seconds: float) -> Path:
    """Return a camera-like H.264 copy of `source` at width×height, made once with ffmpeg."""
    out = cache_dir("bench") / f"{source.stem}_{width}x{height}_{int(seconds)}s.mp4"
    if out.exists():
        return out
    if shutil.which("ffmpeg") is None:
        raise VigilError("ffmpeg is needed to build the benchmark clips")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-t", str(seconds),
         "-vf", f"scale={width}:{height},fps=25", "-c:v", "libx264", "-preset", "veryfast",
         "-g", "50", "-bf", "0", "-pix_fmt", "yuv420p", "-an", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.replace(out)
    return out


def _decode_fps(path: Path, threads: int, convert: bool) -> float:
    container = av.open(str(path))
    try:
        stream = container.streams.video[0]
        stream.thread_type = "FRAME" if threads > 1 else "SLICE"
        stream.thread_count = threads
        started = time.perf_counter()
        frames = 0
        for frame in container.decode(stream):
            if convert:
                frame.to_ndarray(format="rgb24")
            frames += 1
        return frames / (time.perf_counter() - started)
    finally:
        container.close()


def bench_decode(*, quick: bool) -> Report:
    """Measure decode frames/s per resolution, 1 vs 2 threads, with and without RGB conversion."""
    source = media_dir() / "car-detection.mp4"
    seconds = 4.0 if quick else 10.0
    rows = []
    for width, height in DECODE_SIZES:
        clip = _transcoded(source, width, height, seconds)
        rows.append(
            {
                "size": f"{width}x{height}",
                "decode_fps_1t": round(_decode_fps(clip, 1, False), 1),
                "decode_fps_2t": round(_decode_fps(clip, 2, False), 1),
                "decode_rgb_fps_1t": round(_decode_fps(clip, 1, True), 1),
            }
        )
    return {"clip": f"{source.name} transcoded to H.264, 25 fps, GOP 50", "rows": rows}


# ---------------------------------------------------------------- inference


def bench_inference(models_dir: Path | None, *, quick: bool) -> Report:
    """Measure session.run per model at 1 and 2 intra-op threads, and detector throughput."""
    from .inference.registry import Architecture, default_registry  # noqa: PLC0415

    runs = 20 if quick else 60
    rows = []
    for spec in default_registry():
        try:
            path = resolve_model(spec.name, models_dir=models_dir)
        except VigilError as err:
            rows.append({"model": spec.name, "skipped": str(err)})
            continue
        row: Report = {"model": spec.name, "role": str(spec.role)}
        for threads in (1, 2):
            row[f"ms_{threads}t"] = _median_run_ms(str(path), threads, runs)
        rows.append(row)
        if spec.architecture is Architecture.YOLOV8:
            rows += _dense_rows(spec.name, path, runs)
    return {"runs": runs, "rows": rows, "throughput": _detector_throughput(models_dir, quick=quick)}


DENSE_SIZES = ((384, 384), (288, 384), (128, 224))
"""Inputs of the cut YOLOv8 graph measured beside the fixed one: the square, a 4:3 vehicle crop
and a re-detection band (height × width)."""


def _dense_rows(name: str, path: Path, runs: int) -> list[Report]:
    """Time the same model with its fixed-size decode cut off (graph.py), at several sizes."""
    from .inference.graph import GraphRewriteError, yolov8_dense_head  # noqa: PLC0415

    try:
        model = yolov8_dense_head(path.read_bytes())
    except GraphRewriteError as err:
        return [{"model": f"{name} (any size)", "skipped": str(err)}]
    rows: list[Report] = []
    for height, width in DENSE_SIZES:
        row: Report = {"model": f"{name} (any size) {width}x{height}", "role": "plate_detection"}
        for threads in (1, 2):
            row[f"ms_{threads}t"] = _median_run_ms(model, threads, runs, (1, 3, height, width))
        rows.append(row)
    return rows


def _median_run_ms(
    model: str | bytes, threads: int, runs: int, shape: tuple[int, ...] | None = None
) -> float:
    """Return the median session.run time on a random input (model file path or bytes)."""
    import onnxruntime as ort  # type: ignore[import-untyped]  # noqa: PLC0415

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feed = _random_feed(session, shape)
    for _ in range(3):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 2)


def _random_feed(session: Any, fixed: tuple[int, ...] | None = None) -> dict[str, Any]:
    feed: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    for tensor in session.get_inputs():
        shape = (
            list(fixed) if fixed else [dim if isinstance(dim, int) else 1 for dim in tensor.shape]
        )
        if "uint8" in tensor.type:
            feed[tensor.name] = rng.integers(0, 255, shape, dtype=np.uint8)
        else:
            feed[tensor.name] = rng.random(shape, dtype=np.float32)
    return feed


def _detector_throughput(models_dir: Path | None, *, quick: bool) -> list[Report]:
    """Frames/s of the shared YOLOX detector on real frames: 1 worker × 2 threads vs 2 × 1."""
    from .config import DetectorSpec  # noqa: PLC0415
    from .inference.batcher import InferenceBatcher  # noqa: PLC0415
    from .inference.detectors import build_detector  # noqa: PLC0415
    from .inference.session import SessionCache  # noqa: PLC0415

    frames = _sample_frames(media_dir() / "vtest.avi", 16)
    total = 60 if quick else 200
    rows = []
    for workers, threads in ((1, 1), (1, 2), (2, 1)):
        spec = InferenceSpec(workers=workers, intra_op_threads=threads)
        detector = build_detector(DetectorSpec(), spec, SessionCache(), models_dir)
        batcher = InferenceBatcher(detector, workers=workers, max_batch=8, max_wait_ms=5)
        try:
            started = time.perf_counter()
            futures = [batcher.submit(frames[i % len(frames)]) for i in range(total)]
            for future in futures:
                future.result()
            elapsed = time.perf_counter() - started
        finally:
            batcher.close()
        rows.append(
            {
                "workers": workers,
                "intra_op_threads": threads,
                "frames_per_s": round(total / elapsed, 1),
            }
        )
    return rows


def _sample_frames(path: Path, count: int, width: int = 640) -> list[RGBImage]:
    frames: list[RGBImage] = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 10 == 0:
                height = round(frame.height * width / frame.width / 2) * 2
                small = frame.reformat(width=width, height=height, format="rgb24")
                frames.append(small.to_ndarray())  # type: ignore[arg-type]
            if len(frames) >= count:
                break
    return frames


# ---------------------------------------------------------------- end to end


def _rss_mb() -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _run_e2e(
    clips: Sequence[str], cameras: int, *, shared: bool, seconds: float, models_dir: str | None
) -> Report:
    """Run the engine on `cameras` paced streams for `seconds`; return its figures."""
    from .engine import Engine  # noqa: PLC0415

    whole = ZoneSpec(
        id="all", polygon=[(0.02, 0.02), (0.98, 0.02), (0.98, 0.98), (0.02, 0.98)], classes=[]
    )
    specs = [
        CameraSpec(
            id=f"cam{i}",
            source=SourceSpec(url=clips[i % len(clips)], realtime=True),
            fps=5.0,
            analysis_max_width=640,
            motion=MotionSpec(),
            zones=[whole],
        )
        for i in range(cameras)
    ]
    config = EngineConfig(
        models_dir=models_dir,
        inference=InferenceSpec(workers=2, intra_op_threads=1, share_session=shared),
        cameras=specs,
    )
    rss_before = _rss_mb()
    engine = Engine(config)
    event_latency: list[float] = []

    def on_event(event: VigilEvent) -> None:
        if isinstance(event, RuleEvent):
            event_latency.append(event.latency_s)

    engine.bus.subscribe(on_event)
    await engine.start()
    await asyncio.sleep(2.0)  # warm-up: streams open, first frames decoded
    pipelines = [engine.pipeline(c) for c in engine.camera_ids]
    analysed0 = sum(p.stats.frames_analysed for p in pipelines)
    inferred0 = sum(p.stats.frames_inferred for p in pipelines)
    event_latency.clear()
    frame_latency: list[float] = []
    for pipeline in pipelines:
        pipeline.stats.latency_s.clear()
    cpu0 = time.process_time()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        await asyncio.sleep(0.25)
        for pipeline in pipelines:
            while pipeline.stats.latency_s:
                frame_latency.append(pipeline.stats.latency_s.popleft())
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    analysed = sum(p.stats.frames_analysed for p in pipelines) - analysed0
    inferred = sum(p.stats.frames_inferred for p in pipelines) - inferred0
    rss = _rss_mb()
    await engine.stop()

    def pct(values: list[float], q: float) -> float | None:
        return round(1000 * float(np.percentile(values, q)), 1) if values else None

    return {
        "cameras": cameras,
        "session": "shared" if shared else "per-camera",
        "target_fps": 5.0 * cameras,
        "analysed_fps": round(analysed / elapsed, 1),
        "inferred_share": round(inferred / max(1, analysed), 2),
        "inferred_fps": round(inferred / elapsed, 1),
        "cpu_use": round(cpu / elapsed / (os.cpu_count() or 1), 2),
        "frame_latency_p50_ms": pct(frame_latency, 50),
        "frame_latency_p95_ms": pct(frame_latency, 95),
        "event_latency_p50_ms": pct(event_latency, 50),
        "event_latency_p95_ms": pct(event_latency, 95),
        "events": len(event_latency),
        "rss_mb": round(rss, 1),
        "rss_engine_mb": round(rss - rss_before, 1),
    }


def _e2e_child(argv: Sequence[str]) -> None:
    """Run one e2e configuration in this (fresh) process and print its figures as JSON."""
    params = json.loads(argv[0])
    result = asyncio.run(
        _run_e2e(
            params["clips"],
            params["cameras"],
            shared=params["shared"],
            seconds=params["seconds"],
            models_dir=params["models_dir"],
        )
    )
    print(json.dumps(result))


def _run_child(params: Report) -> Report:
    # A fresh process per configuration, so memory and CPU figures belong to that run alone.
    proc = subprocess.run(
        [sys.executable, "-m", "vigil_core.bench", "e2e-child", json.dumps(params)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise VigilError(f"e2e run failed: {proc.stderr.strip().splitlines()[-1:]}")
    result: Report = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _unit_costs(clip: Path, models_dir: Path | None) -> Report:
    """Measure, in this run, single-thread decode ms per frame and detector ms per frame."""
    from .config import DetectorSpec  # noqa: PLC0415
    from .inference.detectors import build_detector  # noqa: PLC0415
    from .inference.session import SessionCache  # noqa: PLC0415

    decode_ms = 1000.0 / _decode_fps(clip, 1, False)
    detector = build_detector(DetectorSpec(), InferenceSpec(), SessionCache(), models_dir)
    frames = _sample_frames(clip, 8)
    for image in frames[:2]:
        detector.detect(image)
    started = time.perf_counter()
    for _ in range(3):
        for image in frames:
            detector.detect(image)
    detect_ms = 1000.0 * (time.perf_counter() - started) / (3 * len(frames))
    return {"decode_ms_per_frame": round(decode_ms, 3), "detect_ms_per_frame": round(detect_ms, 2)}


def bench_e2e(models_dir: Path | None, *, quick: bool) -> Report:
    """Analyse N real 640×360 streams at 5 fps, one shared session vs one session per camera.

    The compute bound is what two cores could analyse if they did nothing but decode every
    frame (25 fps streams) and run the detector on the frames the motion gate let through,
    at the single-thread costs measured in this same run. Efficiency = achieved / min(target,
    bound).
    """
    seconds = 6.0 if quick else 15.0
    counts = (1, 4) if quick else (1, 4, 8, 16, 24)
    clips = [_transcoded(media_dir() / name, 640, 360, 60) for name in E2E_CLIPS]
    costs = _unit_costs(clips[0], models_dir)
    cores = os.cpu_count() or 1
    rows = []
    for cameras in counts:
        for shared in (True, False):
            if not shared and cameras > 8:
                continue  # one session per camera at 16+ cameras only measures memory exhaustion
            params = {
                "clips": [str(c) for c in clips],
                "cameras": cameras,
                "shared": shared,
                "seconds": seconds,
                "models_dir": str(models_dir) if models_dir else None,
            }
            row = _run_child(params)
            per_frame_ms = (
                costs["decode_ms_per_frame"] * 25.0 / 5.0
                + row["inferred_share"] * costs["detect_ms_per_frame"]
            )
            bound = cores * 1000.0 / per_frame_ms
            row["bound_fps"] = round(min(row["target_fps"], bound), 1)
            row["efficiency"] = round(row["analysed_fps"] / row["bound_fps"], 2)
            # On a shared machine the process may not get both cores: also report how much of
            # the CPU time it did get went into the essential decode + inference work.
            used_ms = row["cpu_use"] * cores * 1000.0
            row["cpu_efficiency"] = (
                round(row["analysed_fps"] * per_frame_ms / used_ms, 2) if used_ms else None
            )
            rows.append(row)
    shared_rows = [r for r in rows if r["session"] == "shared"]
    per_camera_mb = None
    if len(shared_rows) >= 2:
        first, last = shared_rows[0], shared_rows[-1]
        per_camera_mb = round(
            (last["rss_mb"] - first["rss_mb"]) / (last["cameras"] - first["cameras"]), 1
        )
    return {
        "clips": [c.name for c in clips],
        "seconds_per_run": seconds,
        "unit_costs": costs,
        "rows": rows,
        "memory_per_extra_camera_mb": per_camera_mb,
    }


# ---------------------------------------------------------------- tracking


TRACKER_BUDGET_MS = 1.0
"""CPU time one tracker update with 20 tracks may take (a small share of a 200 ms frame)."""


def bench_tracking(models_dir: Path | None, *, quick: bool) -> Report:
    """Run detector + tracker over vtest and score MOTA / IDF1 against the PETS2009 truth."""
    from .eval.vtest import evaluate_vtest  # noqa: PLC0415

    report = evaluate_vtest(media_dir(), models_dir=models_dir, quick=quick)
    return {**report, "update_20_tracks": tracker_update_cost()}


def tracker_update_cost(tracks: int = 20, frames: int = 600) -> Report:
    """Time ByteTracker.update (thread CPU) with `tracks` people walking, after a warm-up."""
    from .config import TrackerSpec  # noqa: PLC0415
    from .tracking.tracker import ByteTracker  # noqa: PLC0415
    from .types import BBox, Detection  # noqa: PLC0415 - bench-only imports

    rng = np.random.default_rng(1)
    start = rng.uniform(0, 1200, (tracks, 2))
    speed = rng.uniform(-60, 60, (tracks, 2))
    tracker = ByteTracker(TrackerSpec())
    costs = []
    for index in range(frames):
        t = index / 5.0
        points = start + speed * t + rng.normal(0, 1, (tracks, 2))
        detections = [
            Detection(BBox(x, y, x + 30.0, y + 80.0), 0.9, 0, "person") for x, y in points
        ]
        began = time.thread_time()
        tracker.update(detections, t)
        costs.append(time.thread_time() - began)
    steady = costs[20:]
    p50 = round(1000 * float(np.percentile(steady, 50)), 3)
    return {
        "tracks": tracks,
        "cpu_ms_p50": p50,
        "cpu_ms_p95": round(1000 * float(np.percentile(steady, 95)), 3),
        "budget_ms": TRACKER_BUDGET_MS,
        "within_budget": p50 < TRACKER_BUDGET_MS,
    }


# ---------------------------------------------------------------- tamper


@dataclass(frozen=True, slots=True)
class TamperBenchOptions:
    """Options of the tamper section: analysis rate, width and masked regions."""

    fps: float = 5.0
    width: int = 640
    masks: tuple[str, ...] = ()
    """`[CLIP=]X1,Y1,X2,Y2` relative rectangles left out (burned-in labels, clocks)."""


def bench_tamper_clips(clips: Sequence[str], options: TamperBenchOptions, *, quick: bool) -> Report:
    """Run the camera-health checks over clips (default: the shared footage) and report each."""
    from .eval.tamper import bench_tamper  # noqa: PLC0415

    try:
        media: Path | None = media_dir()
    except VigilError:
        media = None
    return bench_tamper(
        clips,
        media=media,
        fps=options.fps,
        masks=options.masks,
        max_width=options.width,
        quick=quick,
    )


# ---------------------------------------------------------------- rules


def bench_rules(models_dir: Path | None, options: RulesBenchOptions | None) -> Report:
    """Run every rule family on vtest (vs PETS2009 truth) and the bag and tree clips, or a clip."""
    from .eval.rules import RulesBenchOptions  # noqa: PLC0415
    from .eval.rules import bench_rules as evaluate  # noqa: PLC0415

    options = options or RulesBenchOptions()
    return evaluate(media_dir() if options.clip is None else Path(), models_dir, options)


# ---------------------------------------------------------------- printing


def _print_section(name: str, section: Report) -> None:
    rows = section.get("rows")
    for key, value in section.items():
        if key != "rows" and not isinstance(value, list):
            print(f"{key}: {value}")
    if isinstance(rows, list) and rows:
        _print_table(rows)
    for key, value in section.items():
        if key != "rows" and isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{key}:")
            _print_table(value)


def _print_table(rows: list[Report]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "e2e-child":
        _e2e_child(sys.argv[2:])
