"""`vigil-analytics bench`: figures measured side by side on the machine it runs on.

Sections: decode, inference, remote (the detector on a KServe v2 server beside the local
session), e2e (N cameras, shared session vs one per camera), tracking.
Every figure comes from this run; ratios between figures of one run are what to compare,
because a shared machine makes absolute numbers noisy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
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

from vigil_core.config import (
    CameraSpec,
    EngineConfig,
    InferenceSpec,
    MotionSpec,
    SourceSpec,
    ZoneSpec,
)
from vigil_core.costs import REQUIRED_STAGES, StageCost, difference
from vigil_core.errors import VigilError
from vigil_core.events.model import RuleEvent, VigilEvent
from vigil_core.inference.loader import cache_dir, resolve_model, shared_candidates
from vigil_core.types import RGBImage

if TYPE_CHECKING:
    from vigil_core.inference.registry import ModelSpec
    from vigil_tools.eval.rules import RulesBenchOptions
    from vigil_tools.eval.vtest import InputFit

SECTIONS = ("decode", "inference", "remote", "e2e", "tracking", "tamper", "rules")
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
    e2e: E2eOptions | None = None,
    fits: tuple[InputFit, ...] = ("square", "aspect"),
    remote: RemoteBenchOptions | None = None,
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
        "remote": lambda: bench_remote(models_dir, remote or RemoteBenchOptions(), quick=quick),
        "e2e": lambda: bench_e2e(models_dir, quick=quick, options=e2e),
        "tracking": lambda: bench_tracking(models_dir, quick=quick, fits=fits),
        "tamper": lambda: bench_tamper_clips(unknown, tamper or TamperBenchOptions(), quick=quick),
        "rules": lambda: bench_rules(models_dir, rules),
    }
    report: Report = {"machine": _machine()}
    for name in wanted:
        if not as_json:
            print(f"\n== {name} ==", flush=True)
        report[name] = runners[name]()
        if not as_json:
            if name == "e2e":
                _print_e2e(report[name])
            else:
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
    return _decode_run(path, threads, convert)[0]


def _decode_run(path: Path, threads: int, convert: bool) -> tuple[float, float]:
    """Decode a whole clip; return frames per second (wall) and CPU ms per frame (all threads)."""
    container = av.open(str(path))
    try:
        stream = container.streams.video[0]
        stream.thread_type = "FRAME" if threads > 1 else "SLICE"
        stream.thread_count = threads
        started = time.perf_counter()
        cpu0 = time.process_time()
        frames = 0
        for frame in container.decode(stream):
            if convert:
                frame.to_ndarray(format="rgb24")
            frames += 1
        cpu_ms = 1000.0 * (time.process_time() - cpu0) / max(1, frames)
        return frames / (time.perf_counter() - started), cpu_ms
    finally:
        container.close()


def bench_decode(*, quick: bool) -> Report:
    """Measure decode frames/s per resolution, 1 vs 2 threads, with and without RGB conversion.

    CPU ms per frame counts every thread: what a camera costs the machine, whatever its speed.
    """
    source = media_dir() / "car-detection.mp4"
    seconds = 4.0 if quick else 10.0
    rows = []
    for width, height in DECODE_SIZES:
        clip = _transcoded(source, width, height, seconds)
        fps_1t, cpu_1t = _decode_run(clip, 1, False)
        fps_2t, cpu_2t = _decode_run(clip, 2, False)
        rows.append(
            {
                "size": f"{width}x{height}",
                "decode_fps_1t": round(fps_1t, 1),
                "decode_fps_2t": round(fps_2t, 1),
                "cpu_ms_per_frame_1t": round(cpu_1t, 3),
                "cpu_ms_per_frame_2t": round(cpu_2t, 3),
                "cpu_ratio_2t_1t": round(cpu_2t / cpu_1t, 2) if cpu_1t else None,
                "decode_rgb_fps_1t": round(_decode_fps(clip, 1, True), 1),
            }
        )
    return {"clip": f"{source.name} transcoded to H.264, 25 fps, GOP 50", "rows": rows}


# ---------------------------------------------------------------- inference


def bench_inference(models_dir: Path | None, *, quick: bool) -> Report:
    """Measure session.run per model at 1 and 2 intra-op threads, and detector throughput."""
    from vigil_core.inference.registry import Architecture, default_registry  # noqa: PLC0415

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
        if spec.input.aspect:
            rows += _aspect_rows(spec, path, runs)
    return {
        "runs": runs,
        "rows": rows,
        "preprocess": _preprocess_rows(runs),
        "throughput": _detector_throughput(models_dir, quick=quick),
    }


ASPECTS = ((16, 9), (4, 3))
"""Frame shapes a model marked `input.aspect` is timed at, beside its square input."""


def _aspect_rows(spec: ModelSpec, path: Path, runs: int) -> list[Report]:
    """Time a fully convolutional model at the inputs 16:9 and 4:3 frames take (graph rewrite).

    The square file and the rewritten graph at each input take turns, so the ratios hold on a
    busy machine.
    """
    from vigil_core.inference.graph import free_input_size  # noqa: PLC0415
    from vigil_core.inference.preprocess import input_size  # noqa: PLC0415

    model = free_input_size(path.read_bytes())
    stride = max(spec.decode.strides, default=1)
    sizes = [input_size(spec.input, *aspect, stride) for aspect in ASPECTS]
    rows: list[Report] = [
        {"model": f"{spec.name} square {spec.input.width}x{spec.input.height}", "role": ""},
        *(
            {"model": f"{spec.name} at {a[0]}:{a[1]} {w}x{h}", "role": ""}
            for a, (w, h) in zip(ASPECTS, sizes, strict=True)
        ),
    ]
    for row in rows:
        row["role"] = str(spec.role)
    for threads in (1, 2):
        measured = _interleaved_run_ms(
            [(str(path), None), *((model, (1, 3, h, w)) for w, h in sizes)], threads, runs
        )
        for row, ms in zip(rows, measured, strict=True):
            row[f"ms_{threads}t"] = ms
            row[f"ratio_{threads}t"] = round(ms / measured[0], 2)
    return rows


def _preprocess_rows(runs: int) -> list[Report]:
    """Time YOLOX pre-processing of 640x360 frames: the canvas path vs the gather, per input."""
    from vigil_core.inference.preprocess import input_size, letterbox_into, prepare  # noqa: PLC0415
    from vigil_core.inference.registry import default_registry  # noqa: PLC0415

    spec = default_registry().get("yolox_nano").input
    frames = _sample_frames(_transcoded(media_dir() / E2E_CLIPS[0], 640, 360, 60), 8)
    height, width = frames[0].shape[:2]
    aspect_w, aspect_h = input_size(spec, width, height, 32)
    square = np.empty((3, spec.height, spec.width), dtype=np.float32)
    aspect = np.empty((3, aspect_h, aspect_w), dtype=np.float32)
    ways: dict[str, Callable[[RGBImage], object]] = {
        f"canvas, stack, cast (before) {spec.width}x{spec.height}": lambda f: prepare([f], spec),
        f"gather {spec.width}x{spec.height}": lambda f: letterbox_into(f, spec, square),
        f"gather {aspect_w}x{aspect_h}": lambda f: letterbox_into(f, spec, aspect),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(max(3, runs // 10)):
        for name, way in ways.items():  # interleaved, so a drifting load hits each alike
            started = time.thread_time()
            for frame in frames:
                way(frame)
            times[name].append(1000 * (time.thread_time() - started) / len(frames))
    first = statistics.median(next(iter(times.values())))
    return [
        {
            "frames": f"{width}x{height}",
            "path": name,
            "cpu_ms": round(statistics.median(values), 3),
            "ratio": round(statistics.median(values) / first, 2),
        }
        for name, values in times.items()
    ]


DENSE_SIZES = ((384, 384), (288, 384), (128, 224))
"""Inputs of the cut YOLOv8 graph measured beside the fixed one: the square, a 4:3 vehicle crop
and a re-detection band (height × width)."""


def _dense_rows(name: str, path: Path, runs: int) -> list[Report]:
    """Time the same model with its fixed-size decode cut off (graph.py), at several sizes."""
    from vigil_core.inference.graph import GraphRewriteError, yolov8_dense_head  # noqa: PLC0415

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
    return _interleaved_run_ms([(model, shape)], threads, runs)[0]


def _interleaved_run_ms(
    models: Sequence[tuple[str | bytes, tuple[int, ...] | None]], threads: int, runs: int
) -> list[float]:
    """Return each model's median session.run time, the models run in turn run after run.

    Taking turns makes a drifting machine load hit every model alike: compare their ratios.
    """
    import onnxruntime as ort  # type: ignore[import-untyped]  # noqa: PLC0415

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    loaded = []
    for model, shape in models:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        feed = _random_feed(session, shape)
        for _ in range(3):
            session.run(None, feed)
        loaded.append((session, feed))
    times: list[list[float]] = [[] for _ in loaded]
    for _ in range(runs):
        for index, (session, feed) in enumerate(loaded):
            started = time.perf_counter()
            session.run(None, feed)
            times[index].append(time.perf_counter() - started)
    return [round(1000 * statistics.median(values), 2) for values in times]


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
    from vigil_core.config import DetectorSpec  # noqa: PLC0415
    from vigil_core.inference.batcher import InferenceBatcher  # noqa: PLC0415
    from vigil_core.inference.detectors import build_detector  # noqa: PLC0415
    from vigil_core.inference.session import SessionCache  # noqa: PLC0415

    frames = _sample_frames(media_dir() / "vtest.avi", 16)
    total = 60 if quick else 200
    rows = []
    for workers, threads in ((1, 1), (1, 2), (2, 1)):
        spec = InferenceSpec(workers=workers, intra_op_threads=threads)
        detector = build_detector(DetectorSpec(), spec, SessionCache(), models_dir)
        batcher = InferenceBatcher(detector, workers=workers)
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


# ---------------------------------------------------------------- remote inference

REMOTE_CAMERAS = (8, 16, 24, 32, 64, 200)
"""Camera counts the remote section sizes the inference server for."""
REMOTE_FPS = 5.0
"""The analysis rate each camera is sized at."""


@dataclass(frozen=True, slots=True)
class RemoteBenchOptions:
    """Options of the remote section: the KServe v2 server to compare with the local session."""

    url: str | None = None
    model: str | None = None
    server_pid: int | None = None
    """The server's process id, when it runs on this machine: its CPU is read from /proc."""


def bench_remote(models_dir: Path | None, options: RemoteBenchOptions, *, quick: bool) -> Report:
    """Run the same frames through the local session and the remote server, taking turns.

    Each turn pushes the frames through the shared batcher as cameras do (local: the engine's
    default workers, one image per call; remote: `requests` in flight, up to `max_batch`
    images per request) and reads the wall time and the CPU this process (and the server, by
    pid) used. The cameras rows say how many frames per second the server must give to carry
    N cameras at 5 fps, against what it gave here.
    """
    from vigil_core.config import DetectorSpec, KServeSpec  # noqa: PLC0415
    from vigil_core.inference.batcher import InferenceBatcher  # noqa: PLC0415
    from vigil_core.inference.detectors import build_detector  # noqa: PLC0415
    from vigil_core.inference.session import SessionCache  # noqa: PLC0415

    if options.url is None:
        return {"skipped": "no --kserve-url given (scripts/bench-kserve starts a local server)"}
    remote_spec = KServeSpec(url=options.url, model=options.model, fallback="none", timeout_s=60)
    inference = InferenceSpec()
    sessions = SessionCache()
    local = build_detector(DetectorSpec(), inference, sessions, models_dir)
    remote = build_detector(
        DetectorSpec(backend="kserve", kserve=remote_spec), inference, sessions, models_dir
    )
    frames = _sample_frames(media_dir() / "vtest.avi", 16)
    same = local.detect_batch(frames) == remote.detect_batch(frames)
    total = 32 if quick else 96
    setups = {
        "local": (local, inference.workers, inference.max_batch, inference.max_wait_ms),
        "remote": (remote, remote_spec.requests, remote_spec.max_batch, remote_spec.max_wait_ms),
    }
    laps: dict[str, list[tuple[float, float, float]]] = {name: [] for name in setups}
    for name in ("local", "remote", "remote", "local"):  # ABBA: drifting load hits both alike
        detector, workers, max_batch, max_wait_ms = setups[name]
        with InferenceBatcher(
            detector, workers=workers, max_batch=max_batch, max_wait_ms=max_wait_ms
        ) as batcher:
            cpu, server, started = time.process_time(), _server_cpu_s(options), time.perf_counter()
            futures = [batcher.submit(frames[i % len(frames)]) for i in range(total)]
            for future in futures:
                future.result()
            laps[name].append(
                (
                    time.perf_counter() - started,
                    time.process_time() - cpu,
                    _server_cpu_s(options) - server,
                )
            )
    rows = [_remote_row(name, laps[name], total, options) for name in setups]
    remote_fps = rows[1]["frames_per_s"]
    return {
        "url": remote_spec.url,
        "frames": total,
        "same_detections": same,
        "rows": rows,
        "cameras": [
            {
                "cameras": count,
                "server_fps_needed": count * REMOTE_FPS,
                "server_fps_here": remote_fps,
                "carried": remote_fps >= count * REMOTE_FPS,
            }
            for count in REMOTE_CAMERAS
        ],
        "note": "client cpu: pre- and post-processing and the HTTP exchange in this process "
        "(the detector's share of a camera's CPU when inference is remote); server cpu: the "
        "server process, when --kserve-pid is given; both share this machine's cores",
    }


def _server_cpu_s(options: RemoteBenchOptions) -> float:
    return 0.0 if options.server_pid is None else _pid_cpu_s(options.server_pid)


def _remote_row(
    name: str, laps: list[tuple[float, float, float]], total: int, options: RemoteBenchOptions
) -> Report:
    frames = total * len(laps)
    wall = sum(lap[0] for lap in laps)
    row: Report = {
        "backend": name,
        "frames_per_s": round(frames / wall, 1),
        "client_cpu_ms_per_frame": round(1000 * sum(lap[1] for lap in laps) / frames, 2),
    }
    if options.server_pid is not None and name == "remote":
        row["server_cpu_ms_per_frame"] = round(1000 * sum(lap[2] for lap in laps) / frames, 2)
    return row


# ---------------------------------------------------------------- end to end

E2E_COUNTS = (1, 4, 8, 16, 24, 32)
E2E_QUICK_COUNTS = (1, 4)
PER_CAMERA_MAX = 16
"""One session per camera is compared with the shared one up to this many cameras."""
STAGE_TABLE_MIN = 8
"""Per-stage tables are printed for runs of at least this many cameras."""
WARMUP_S = 2.0
OPEN_TIMEOUT_S = 30.0
BOUND_NOTE = (
    "bound_fps: what the cores could analyse if they did nothing but the required stages "
    "(decode of every frame received, conversion, privacy, tamper, motion, pre-processing, "
    "inference, post-processing, tracking, rules) at the CPU cost each one had in that run; "
    "accounted: share of the CPU time the process got that went into those stages"
)


@dataclass(frozen=True, slots=True)
class E2eOptions:
    """Options of the e2e section: which camera counts and how long each run lasts."""

    cameras: tuple[int, ...] = ()
    """Camera counts to run (default: 1, 4, 8, 16, 24, 32; 1 and 4 with --quick)."""
    seconds: float | None = None
    network: bool = True
    """Also run the counts over RTSP (one GStreamer server, one mount per camera)."""


def _rss_mb() -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _helper_thread_cpu_s() -> float:
    """Return the CPU seconds of this process's FFmpeg threads (frame/slice decode helpers).

    They are native threads the Python stage timers cannot see; Linux names them `av:…`.
    Elsewhere this returns 0 and their time shows as unmeasured.
    """
    total = 0
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return 0.0
    for task in tasks.iterdir():
        try:
            if not (task / "comm").read_text().startswith("av:"):
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _pid_cpu_s(pid: int) -> float:
    """Return the CPU seconds a process has used so far (0 when unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _e2e_config(params: Report) -> EngineConfig:
    """Build the engine config of one e2e run: N cameras, 5 fps, motion gate, one zone each."""
    whole = ZoneSpec(
        id="all", polygon=[(0.02, 0.02), (0.98, 0.02), (0.98, 0.98), (0.02, 0.98)], classes=[]
    )
    clips: list[str] = params["clips"]
    urls: list[str] = params.get("urls") or [
        clips[i % len(clips)] for i in range(params["cameras"])
    ]
    specs = [
        CameraSpec(
            id=f"cam{i}",
            source=SourceSpec(url=url, realtime=True),
            fps=5.0,
            analysis_max_width=640,
            motion=MotionSpec(),
            zones=[whole],
        )
        for i, url in enumerate(urls)
    ]
    return EngineConfig(
        models_dir=params.get("models_dir"),
        inference=InferenceSpec(workers=2, intra_op_threads=1, share_session=params["shared"]),
        cameras=specs,
    )


async def _warm_up(pipelines: Sequence[Any]) -> None:
    """Wait until every camera analysed a frame (streams open, model warm), then a little more."""
    for _ in range(int(OPEN_TIMEOUT_S / 0.2)):
        if all(p.stats.frames_analysed for p in pipelines):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(WARMUP_S)


async def _run_e2e(params: Report) -> Report:
    """Run the engine on paced streams for `seconds`; return its figures and per-stage costs."""
    from vigil_core.engine import Engine  # noqa: PLC0415

    rss_before = _rss_mb()
    engine = Engine(_e2e_config(params))
    event_latency: list[float] = []

    def on_event(event: VigilEvent) -> None:
        if isinstance(event, RuleEvent):
            event_latency.append(event.latency_s)

    engine.bus.subscribe(on_event)
    await engine.start()
    pipelines = [engine.pipeline(c) for c in engine.camera_ids]
    await _warm_up(pipelines)
    analysed0 = [p.stats.frames_analysed for p in pipelines]
    inferred0 = sum(p.stats.frames_inferred for p in pipelines)
    dropped0 = sum(p.frames_dropped for p in pipelines)
    event_latency.clear()
    frame_latency: list[float] = []
    for pipeline in pipelines:
        pipeline.stats.latency_s.clear()
    costs0 = engine.stage_costs()
    helpers0 = _helper_thread_cpu_s()
    cpu0 = time.process_time()
    machine0 = _machine_cpu_ticks()
    started = time.perf_counter()
    while time.perf_counter() - started < params["seconds"]:
        await asyncio.sleep(0.25)
        for pipeline in pipelines:
            while pipeline.stats.latency_s:
                frame_latency.append(pipeline.stats.latency_s.popleft())
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    steal = _steal_share(machine0, _machine_cpu_ticks())
    helpers = _helper_thread_cpu_s() - helpers0
    costs = difference(engine.stage_costs(), costs0)
    per_camera = [
        (p.stats.frames_analysed - a0) / elapsed for p, a0 in zip(pipelines, analysed0, strict=True)
    ]
    inferred = sum(p.stats.frames_inferred for p in pipelines) - inferred0
    dropped = sum(p.frames_dropped for p in pipelines) - dropped0
    overloaded = engine.load().overloaded
    rss = _rss_mb()
    await engine.stop()

    def pct(values: list[float], q: float) -> float | None:
        return round(1000 * float(np.percentile(values, q)), 1) if values else None

    analysed = sum(per_camera) * elapsed
    row: Report = {
        "cameras": params["cameras"],
        "session": "shared" if params["shared"] else "per-camera",
        "source": "rtsp" if params.get("urls") else "file",
        "target_fps": 5.0 * params["cameras"],
        "analysed_fps": round(analysed / elapsed, 1),
        "camera_fps_min": round(min(per_camera), 2),
        "camera_fps_max": round(max(per_camera), 2),
        "fairness": round(_jain(per_camera), 3),
        "dropped_fps": round(dropped / elapsed, 1),
        "overloaded": overloaded,
        "inferred_share": round(inferred / max(1.0, analysed), 2),
        "cpu_use": round(cpu / elapsed / (os.cpu_count() or 1), 2),
        "steal": steal,
        "frame_latency_p50_ms": pct(frame_latency, 50),
        "frame_latency_p95_ms": pct(frame_latency, 95),
        "event_latency_p50_ms": pct(event_latency, 50),
        "event_latency_p95_ms": pct(event_latency, 95),
        "events": len(event_latency),
        "rss_mb": round(rss, 1),
        "rss_engine_mb": round(rss - rss_before, 1),
    }
    row.update(_account(costs, helpers, cpu, elapsed, analysed))
    return row


def _machine_cpu_ticks() -> list[int] | None:
    """Return the machine's CPU time counters (Linux /proc/stat `cpu` line), None elsewhere."""
    try:
        with Path("/proc/stat").open(encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    return [int(value) for value in fields[1:]]


def _steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """Return the share of the machine's CPU time its hypervisor gave to other machines.

    On a virtual machine the cores are shared with other guests: a run with a large steal share
    had less CPU than its core count says, whatever its own load average.
    """
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    # user nice system idle iowait irq softirq steal (guest time is already inside user).
    spent = [b - a for a, b in zip(before[:8], after[:8], strict=True)]
    total = sum(spent)
    return round(spent[7] / total, 3) if total > 0 else None


def _jain(values: Sequence[float]) -> float:
    """Return Jain's fairness index: 1.0 when every camera got the same, 1/N when one got all."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0


def _account(
    costs: Mapping[str, StageCost], helpers_s: float, cpu_s: float, elapsed: float, analysed: float
) -> Report:
    """Credit every measured stage against the process's CPU time; derive the compute bound."""
    stages = dict(costs)
    if helpers_s > 0:
        # FFmpeg's own threads decode too (frame threading): per call is per frame decoded.
        decoded = stages["decode"].calls if "decode" in stages else 0
        stages["decode_threads"] = StageCost(decoded, helpers_s)
    required = (*REQUIRED_STAGES, "decode_threads")
    table: Report = {}
    for name in sorted(stages, key=lambda s: -stages[s].cpu_s):
        cost = stages[name]
        if cost.cpu_s <= 0 and cost.calls <= 0:
            continue
        table[name] = {
            "kind": "required" if name in required else "overhead",
            "calls_per_s": round(cost.calls / elapsed, 1),
            "ms_per_call": round(cost.ms_per_call, 3),
            "share": round(cost.cpu_s / cpu_s, 3) if cpu_s else None,
        }
    required_s = sum(c.cpu_s for n, c in stages.items() if n in required)
    overhead_s = sum(c.cpu_s for n, c in stages.items() if n not in required)
    per_frame_ms = 1000.0 * required_s / analysed if analysed else None
    cores = os.cpu_count() or 1
    return {
        "required_ms_per_frame": round(per_frame_ms, 2) if per_frame_ms else None,
        "compute_bound_fps": round(cores * 1000.0 / per_frame_ms, 1) if per_frame_ms else None,
        "accounted": round(required_s / cpu_s, 3) if cpu_s else None,
        "overhead": round(overhead_s / cpu_s, 3) if cpu_s else None,
        "unmeasured": round(1.0 - (required_s + overhead_s) / cpu_s, 3) if cpu_s else None,
        "stages": table,
    }


def _e2e_child(argv: Sequence[str]) -> None:
    """Run one e2e configuration in this (fresh) process and print its figures as JSON."""
    print(json.dumps(asyncio.run(_run_e2e(json.loads(argv[0])))))


def _run_child(params: Report, server_pid: int | None = None) -> Report:
    # A fresh process per configuration, so memory and CPU figures belong to that run alone.
    server0 = _pid_cpu_s(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "vigil_tools.bench", "e2e-child", json.dumps(params)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise VigilError(f"e2e run failed: {proc.stderr.strip().splitlines()[-1:]}")
    result: Report = json.loads(proc.stdout.strip().splitlines()[-1])
    if server_pid:
        # The camera side of the network path runs on the same cores: show what it took.
        used = _pid_cpu_s(server_pid) - server0
        result["server_cpu_use"] = round(
            used / (time.perf_counter() - started) / (os.cpu_count() or 1), 3
        )
    return result


class _RtspServer:
    """The tests' GStreamer RTSP server serving the bench clips at N mounts (one per camera)."""

    SCRIPT = ("tests", "support", "rtsp_server.py")
    SYSTEM_PYTHON = "/usr/bin/python3"

    def __init__(self, clips: Sequence[Path], mounts: int) -> None:
        self._clips = clips
        self._mounts = mounts
        self._proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    @classmethod
    def script(cls) -> Path | None:
        """Return the server script of this source checkout, or None (installed wheel)."""
        from vigil_core.inference.loader import repository_root  # noqa: PLC0415

        root = repository_root()
        path = root.joinpath(*cls.SCRIPT) if root else None
        return path if path is not None and path.is_file() else None

    def start(self) -> str | None:
        """Start the server; return None when it runs, else why it cannot."""
        script = self.script()
        if script is None:
            return "the RTSP server script is only in a source checkout (tests/support)"
        if not Path(self.SYSTEM_PYTHON).exists():
            return f"{self.SYSTEM_PYTHON} (with GStreamer's RTSP server bindings) is missing"
        files = [arg for clip in self._clips for arg in ("--file", str(clip))]
        self._proc = subprocess.Popen(
            [self.SYSTEM_PYTHON, str(script), "--mounts", str(self._mounts), "--mount", "/cam",
             *files],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            return f"the RTSP server did not start ({line or 'no output'})"
        self.base_url = line.split(" ", 1)[1]
        return None

    @property
    def pid(self) -> int | None:
        """Return the server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def urls(self, count: int) -> list[str]:
        """Return the URLs of the first `count` mounts."""
        return [f"{self.base_url}{index}" for index in range(count)]

    def stop(self) -> None:
        """Stop the server and wait for it."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _unit_costs(clip: Path, models_dir: Path | None) -> Report:
    """Measure, alone in this process, 1-thread decode ms per frame and detector ms per frame."""
    from vigil_core.config import DetectorSpec  # noqa: PLC0415
    from vigil_core.inference.detectors import build_detector  # noqa: PLC0415
    from vigil_core.inference.session import SessionCache  # noqa: PLC0415

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


def _e2e_plan(counts: Sequence[int], network: bool) -> list[tuple[int, bool, bool]]:
    """Return the runs (cameras, shared session, over RTSP) in the order they run.

    Each count runs paced files, then the same over RTSP, then one session per camera, so the
    rows to compare are measured minutes apart on the same machine.
    """
    plan: list[tuple[int, bool, bool]] = []
    for cameras in counts:
        plan.append((cameras, True, False))
        if network and cameras > 1:
            plan.append((cameras, True, True))
        if 1 < cameras <= PER_CAMERA_MAX:
            plan.append((cameras, False, False))
    return plan


def bench_e2e(models_dir: Path | None, *, quick: bool, options: E2eOptions | None = None) -> Report:
    """Analyse N real 640×360 streams at 5 fps: paced files, RTSP, shared vs per-camera session.

    Every run credits each stage at the CPU time it took in that run (see costs.py) and says
    what share of the CPU the process got went into the required stages; the compute bound is
    what the cores could analyse doing only those.
    """
    options = options or E2eOptions()
    seconds = options.seconds or (6.0 if quick else 15.0)
    counts = options.cameras or (E2E_QUICK_COUNTS if quick else E2E_COUNTS)
    clips = [_transcoded(media_dir() / name, 640, 360, 60) for name in E2E_CLIPS]
    costs = _unit_costs(clips[0], models_dir)
    plan = _e2e_plan(counts, options.network)
    server: _RtspServer | None = None
    network_note = None
    if any(rtsp for _, _, rtsp in plan):
        server = _RtspServer(clips, max(counts))
        network_note = server.start()
        if network_note is not None:
            server = None
            plan = [run for run in plan if not run[2]]
    rows = []
    try:
        for cameras, shared, rtsp in plan:
            params: Report = {
                "clips": [str(c) for c in clips],
                "cameras": cameras,
                "shared": shared,
                "seconds": seconds,
                "models_dir": str(models_dir) if models_dir else None,
            }
            if rtsp:
                assert server is not None
                params["urls"] = server.urls(cameras)
            row = _run_child(params, server.pid if rtsp and server else None)
            bound = row.get("compute_bound_fps") or row["target_fps"]
            row["bound_fps"] = round(min(row["target_fps"], bound), 1)
            row["efficiency"] = round(row["analysed_fps"] / row["bound_fps"], 2)
            rows.append(row)
    finally:
        if server is not None:
            server.stop()
    files = [r for r in rows if r["session"] == "shared" and r["source"] == "file"]
    per_camera_mb = None
    if len(files) >= 2:
        first, last = files[0], files[-1]
        per_camera_mb = round(
            (last["rss_mb"] - first["rss_mb"]) / (last["cameras"] - first["cameras"]), 1
        )
    report: Report = {
        "clips": [c.name for c in clips],
        "seconds_per_run": seconds,
        "load_average": _load_average(),
        "isolated_unit_costs": costs,
        "bound": BOUND_NOTE,
        "rows": rows,
        "memory_per_extra_camera_mb": per_camera_mb,
    }
    if network_note is not None:
        report["network"] = f"skipped: {network_note}"
    return report


def _load_average() -> list[float] | None:
    """Return the machine's 1, 5 and 15 minute load averages (other jobs share the cores)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


E2E_COLUMNS = (
    "cameras", "session", "source", "target_fps", "analysed_fps", "camera_fps_min",
    "camera_fps_max", "fairness", "overloaded", "inferred_share", "cpu_use", "steal",
    "frame_latency_p95_ms",
    "event_latency_p95_ms", "rss_mb", "required_ms_per_frame", "bound_fps", "efficiency",
    "accounted", "overhead", "unmeasured", "server_cpu_use",
)  # fmt: skip


def _print_e2e(section: Report) -> None:
    """Print the e2e figures: one line per run, then the per-stage table of the larger runs."""
    for key, value in section.items():
        if key not in ("rows", "bound"):
            print(f"{key}: {value}")
    print(section["bound"])
    rows: list[Report] = section["rows"]
    _print_table([{c: r[c] for c in E2E_COLUMNS if c in r} for r in rows])
    wide = [r for r in rows if r["cameras"] >= STAGE_TABLE_MIN and r["session"] == "shared"]
    if wide:
        print("\nCPU per stage (ms per call | share of the process's CPU), per run:")
        _print_table(_stage_matrix(wide))


def _stage_matrix(rows: Sequence[Report]) -> list[Report]:
    """Return one line per stage with its cost in each run, required stages first."""
    names: dict[str, str] = {}
    for row in rows:
        for name, cost in row["stages"].items():
            names.setdefault(name, cost["kind"])
    order = sorted(names, key=lambda n: (names[n] != "required", n))
    lines: list[Report] = []
    for name in order:
        line: Report = {"stage": name, "kind": names[name]}
        for row in rows:
            cost = row["stages"].get(name)
            label = f"{row['cameras']} {row['source']}"
            line[label] = (
                f"{cost['ms_per_call']:.2f} | {100 * (cost['share'] or 0):.1f} %" if cost else ""
            )
        lines.append(line)
    totals: Report = {"stage": "= accounted", "kind": "required"}
    for row in rows:
        totals[f"{row['cameras']} {row['source']}"] = f"{100 * (row['accounted'] or 0):.1f} %"
    lines.append(totals)
    return lines


# ---------------------------------------------------------------- tracking


TRACKER_BUDGET_MS = 1.0
"""CPU time one tracker update with 20 tracks may take (a small share of a 200 ms frame)."""


def bench_tracking(
    models_dir: Path | None, *, quick: bool, fits: Sequence[InputFit] = ("square", "aspect")
) -> Report:
    """Run detector + tracker over vtest and score MOTA / IDF1 against the PETS2009 truth."""
    from vigil_tools.eval.vtest import evaluate_vtest  # noqa: PLC0415

    report = evaluate_vtest(media_dir(), models_dir=models_dir, quick=quick, fits=fits)
    return {**report, "update_20_tracks": tracker_update_cost()}


def tracker_update_cost(tracks: int = 20, frames: int = 600) -> Report:
    """Time ByteTracker.update (thread CPU) with `tracks` people walking, after a warm-up."""
    from vigil_core.config import TrackerSpec  # noqa: PLC0415
    from vigil_core.tracking.tracker import ByteTracker  # noqa: PLC0415
    from vigil_core.types import BBox, Detection  # noqa: PLC0415 - bench-only imports

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
    from vigil_tools.eval.tamper import bench_tamper  # noqa: PLC0415

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
    from vigil_tools.eval.rules import RulesBenchOptions  # noqa: PLC0415
    from vigil_tools.eval.rules import bench_rules as evaluate  # noqa: PLC0415

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
        if key == "reports":
            continue  # each input's full report, side by side above: --json has it
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
