"""Score the real pipeline (gate → shared detector → tracker) on PETS2009 `vtest.avi`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
import time
from typing import Any, Literal

import av

from vigil_core.config import CameraSpec, DetectorSpec, InferenceSpec, SourceSpec
from vigil_core.decode.convert import to_rgb
from vigil_core.events.model import VigilEvent
from vigil_core.inference.batcher import InferenceBatcher
from vigil_core.inference.detectors import build_detector
from vigil_core.inference.session import SessionCache
from vigil_core.pipeline import CameraPipeline
from vigil_core.types import BBox, Frame, RGBImage
from vigil_tools.eval.ground_truth import read_mot_csv
from vigil_tools.eval.mot import MotMetrics, evaluate_mot

VTEST = "vtest.avi"
VTEST_TRUTH = "vtest_PETS2009-S2L1_mot.csv"
VTEST_FPS = 10.0
WIDE = (640, 360)
"""vtest scaled to 16:9, as the e2e bench streams it: the detector's 416×256 input."""

type InputFit = Literal["aspect", "square"]


def decode_all(path: Path, size: tuple[int, int] | None = None) -> list[tuple[float, RGBImage]]:
    """Decode every frame of a clip as (pts seconds, RGB image), at `size` when given."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        for index, frame in enumerate(container.decode(stream)):
            known = frame.pts is not None and base is not None
            pts = float(frame.pts * base) if known else index / VTEST_FPS  # type: ignore[operator]
            image: RGBImage = (
                frame.to_ndarray(format="rgb24") if size is None else to_rgb(frame, size)  # type: ignore[assignment]
            )
            frames.append((pts, image))
    return frames


def track_clip(
    frames: list[tuple[float, RGBImage]],
    batcher: InferenceBatcher,
    *,
    step: int,
    offset: int = 0,
    on_event: Callable[[VigilEvent], None] | None = None,
    camera: CameraSpec | None = None,
) -> dict[int, list[tuple[int, BBox]]]:
    """Run a fresh pipeline over every `step`-th frame; return its tracks per frame index."""
    camera = camera or CameraSpec(id="vtest", source=SourceSpec(url=VTEST), fps=VTEST_FPS / step)
    from vigil_core.config import TrackerSpec  # noqa: PLC0415

    pipeline = CameraPipeline(
        camera, batcher=batcher, tracker_spec=TrackerSpec(), publish=on_event or (lambda _e: None)
    )
    hyp: dict[int, list[tuple[int, BBox]]] = {}
    for index in range(offset, len(frames), step):
        pts, image = frames[index]
        frame = Frame(
            camera.id, index, pts, time.monotonic(), image, (image.shape[1], image.shape[0])
        )
        pipeline.process(frame)
        latest = pipeline.latest
        assert latest is not None
        hyp[index] = [(t.track_id, t.bbox) for t in latest.tracks if t.label == "person"]
    return hyp


def evaluate_vtest(
    media_dir: Path,
    *,
    models_dir: Path | None,
    quick: bool = False,
    fits: Sequence[InputFit] = ("square", "aspect"),
) -> dict[str, Any]:
    """Return MOTA / IDF1 of the pipeline on vtest at 10 fps and at the 5 fps analysis rate.

    Each detector input fit runs side by side on the clip as recorded (768×576, 4:3: 416×320
    at its aspect) and scaled to 16:9 as the e2e bench streams it (640×360: 416×256), the
    truth scaled with it.
    """
    truth = read_mot_csv(media_dir / VTEST_TRUTH)
    native = decode_all(media_dir / VTEST)
    wide = decode_all(media_dir / VTEST, WIDE)
    if quick:
        native, wide = native[:300], wide[:300]
        truth = {k: v for k, v in truth.items() if k < 300}
    height, width = native[0][1].shape[:2]
    sx, sy = WIDE[0] / width, WIDE[1] / height
    wide_truth = {k: [(i, box.scaled(sx, sy)) for i, box in v] for k, v in truth.items()}
    rows = []
    for clip, frames, clip_truth in (
        (f"{width}x{height}", native, truth),
        (f"{WIDE[0]}x{WIDE[1]}", wide, wide_truth),
    ):
        for fit in fits:
            rows += _score_fit(frames, clip_truth, fit, clip, models_dir)
    return {
        "clip": f"{VTEST} ({len(native)} frames) vs PETS2009 S2L1 ground truth, IoU 0.5",
        "pipeline": "motion gate → yolox_nano (conf 0.1, person) → ByteTracker (defaults)",
        "targets": "MOTA ≥ 0.8, IDF1 ≥ 0.75; aspect within 0.01 of square",
        "rows": rows,
    }


def _score_fit(
    frames: list[tuple[float, RGBImage]],
    truth: dict[int, list[tuple[int, BBox]]],
    fit: InputFit,
    clip: str,
    models_dir: Path | None,
) -> list[dict[str, Any]]:
    """Track the clip with one detector input fit at both rates and score each run."""
    detector = build_detector(
        DetectorSpec(classes=["person"], input_fit=fit), InferenceSpec(), SessionCache(), models_dir
    )
    size = getattr(detector, "input_size", None)
    shape = size(frames[0][1]) if callable(size) else None
    batcher = InferenceBatcher(detector, workers=1, max_batch=1, max_wait_ms=0)
    rows = []
    try:
        for label, step, offset in (
            ("10 fps (every frame)", 1, 0),
            ("5 fps (even frames)", 2, 0),
            ("5 fps (odd frames)", 2, 1),
        ):
            started = time.perf_counter()
            hyp = track_clip(frames, batcher, step=step, offset=offset)
            elapsed = time.perf_counter() - started
            scored = {k: v for k, v in truth.items() if k in hyp}
            metrics: MotMetrics = evaluate_mot(scored, hyp)
            rows.append(
                {
                    "clip": clip,
                    "input": f"{fit} {shape[0]}x{shape[1]}" if shape else fit,
                    "rate": label,
                    "frames": len(hyp),
                    "mota": round(metrics.mota, 3),
                    "idf1": round(metrics.idf1, 3),
                    "recall": round(metrics.recall, 3),
                    "precision": round(metrics.precision, 3),
                    "id_switches": metrics.id_switches,
                    "fp": metrics.fp,
                    "fn": metrics.fn,
                    "ms_per_frame": round(1000 * elapsed / max(1, len(hyp)), 1),
                }
            )
    finally:
        batcher.close()
    return rows
