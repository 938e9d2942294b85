"""`vigil-analytics bench anpr DIR...`: exact-plate accuracy, recall and ms per stage on photos.

A folder is labelled either openalpr-style (``NAME.txt``: ``file x y w h PLATE``, tab- or
space-separated) or by file name (``AB123CD.jpg``, in the folder or its ``images/``), with
optional ``labels/NAME.txt`` YOLO boxes (class 0 is the plate) and ``LABEL_FIXES.tsv``
(``file  label_in_name  correct``) for names that cannot hold the true text.

Each photo is one frame of a camera in ``both`` mode: the COCO detector finds vehicles, the
plate detector runs on each vehicle crop and on square tiles of the frame, every plate box is
read, and the highest-scoring read is the photo's answer. Scoring: upper-case, spaces and
dashes stripped, exact match per photo.
"""

from __future__ import annotations

from collections.abc import Sequence
import csv
from dataclasses import dataclass, field
import importlib.util
import json
from pathlib import Path
import statistics
import time
from typing import Any

import numpy as np
from PIL import Image

from vigil_core.anpr.decode import FormatPrior
from vigil_core.anpr.detect import PlateBox, merge
from vigil_core.anpr.models import AnprModels, ReaderSettings, format_prior
from vigil_core.anpr.normalize import COUNTRIES, canonical
from vigil_core.anpr.reader import PlateObservation, PlateReader, StageTimes
from vigil_core.errors import ConfigInvalid, VigilError
from vigil_core.inference.detectors import YoloxDetector
from vigil_core.inference.preprocess import resize
from vigil_core.inference.session import SessionCache, SessionOptions
from vigil_core.types import BBox, RGBImage

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VEHICLE_CLASSES = ("car", "truck", "bus", "motorcycle")
VEHICLE_MIN_SCORE = 0.3
MAX_WIDTH = 1280
"""Photos wider than this are resized first, as the engine's default analysis width does."""
RECALL_IOU = 0.5

type Report = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LabelledPhoto:
    """One labelled photo."""

    path: Path
    plate: str
    """Canonical plate text."""
    box: BBox | None


def load_folder(folder: Path) -> list[LabelledPhoto]:
    """Return the labelled photos of a folder (openalpr-style or named by their plate)."""
    if not folder.is_dir():
        raise VigilError(f"{folder} is not a folder")
    photos = _openalpr(folder)
    if photos:
        return photos
    images = folder / "images" if (folder / "images").is_dir() else folder
    fixes = _label_fixes(folder / "LABEL_FIXES.tsv")
    out = []
    for path in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        plate = canonical(fixes.get(path.name, path.stem))
        if plate:
            out.append(
                LabelledPhoto(path, plate, _yolo_box(folder / "labels" / f"{path.stem}.txt", path))
            )
    if not out:
        raise VigilError(f"{folder} holds no labelled photos")
    return out


def _openalpr(folder: Path) -> list[LabelledPhoto]:
    out = []
    for label in sorted(folder.glob("*.txt")):
        line = label.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        parts = line[0].split() if line else []
        if len(parts) < 6:
            continue
        image = folder / parts[0]
        try:
            x, y, w, h = (float(v) for v in parts[1:5])
        except ValueError:
            continue
        plate = canonical("".join(parts[5:]))
        if image.is_file() and plate:
            out.append(LabelledPhoto(image, plate, BBox(x, y, x + w, y + h)))
    return out


def _label_fixes(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return {Path(row[0]).name: row[-1] for row in rows[1:] if len(row) >= 2}


def _yolo_box(path: Path, image: Path) -> BBox | None:
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "0":
            cx, cy, w, h = (float(v) for v in parts[1:])
            with Image.open(image) as img:
                width, height = img.size
            return BBox(
                (cx - w / 2) * width,
                (cy - h / 2) * height,
                (cx + w / 2) * width,
                (cy + h / 2) * height,
            )
    return None


# --- running ---------------------------------------------------------------------------------


@dataclass(slots=True)
class PhotoResult:
    """What the reader made of one photo."""

    photo: LabelledPhoto
    reads: list[PlateObservation]
    boxes: list[PlateBox]
    scale: float
    vehicles: int
    vehicle_ms: list[float] = field(default_factory=list)

    @property
    def top(self) -> str | None:
        """Return the photo's answer: the best-scoring read."""
        return self.reads[0].text if self.reads else None

    @property
    def exact(self) -> bool:
        """Return whether the answer is the labelled plate."""
        return self.top == self.photo.plate

    @property
    def any_exact(self) -> bool:
        """Return whether any read of the photo is the labelled plate."""
        return any(obs.text == self.photo.plate for obs in self.reads)

    @property
    def detected(self) -> bool | None:
        """Return whether a plate box overlaps the labelled one (None without a labelled box)."""
        if self.photo.box is None:
            return None
        truth = self.photo.box.scaled(self.scale, self.scale)
        return any(box.bbox.iou(truth) >= RECALL_IOU for box in self.boxes)


class AnprBench:
    """Read labelled photos the way a camera in `both` mode would, timing every stage."""

    def __init__(self, models_dir: Path | None, settings: ReaderSettings, threads: int = 2) -> None:
        """Load the vehicle detector, plate detector and OCR."""
        sessions = SessionCache()
        options = SessionOptions(intra_op_threads=threads)
        self.settings = settings
        self.times = StageTimes()
        self.models = AnprModels(sessions=sessions, options=options, models_dir=models_dir)
        self.vehicles = YoloxDetector.load(
            models_dir=models_dir,
            sessions=sessions,
            inference=options,
            confidence=VEHICLE_MIN_SCORE,
            classes=VEHICLE_CLASSES,
        )

    def camera(self, learner: FormatPrior | None, times: StageTimes | None = None) -> PlateReader:
        """Return a reader for one folder (one camera, with its own format prior)."""
        return self.models.reader(self.settings, times, learner)

    def run(self, reader: PlateReader, photo: LabelledPhoto, times: StageTimes) -> PhotoResult:
        """Read one photo as the stage does in `both` mode, timing each vehicle's share.

        Plate boxes from every vehicle crop and from the frame's tiles are merged and the best
        `max_plates` are read, one at a time so that each read is charged to its vehicle.
        """
        image, scale = _load(photo.path)
        with times.measure("vehicle_detect"):
            vehicles = [det.bbox for det in self.vehicles.detect(image)]
        vehicle_ms = [0.0] * len(vehicles)
        found: list[PlateBox] = []
        for index, vehicle in enumerate(vehicles):
            started = time.perf_counter()
            found += reader.find(image, [(index, vehicle)])
            vehicle_ms[index] += (time.perf_counter() - started) * 1000.0
        found += reader.find(image, full_frame=True)
        boxes = merge(found)
        reads: list[PlateObservation] = []
        for box in boxes[: reader.max_plates]:
            started = time.perf_counter()
            reads += reader.read_boxes(image, [box])
            if box.vehicle is not None:
                vehicle_ms[box.vehicle] += (time.perf_counter() - started) * 1000.0
        reads.sort(key=lambda obs: obs.score, reverse=True)
        return PhotoResult(photo, reads, boxes, scale, len(vehicles), vehicle_ms)


def _load(path: Path) -> tuple[RGBImage, float]:
    with Image.open(path) as img:
        image = np.asarray(img.convert("RGB"))
    width = int(image.shape[1])
    if width <= MAX_WIDTH:
        return image, 1.0
    scale = MAX_WIDTH / width
    return resize(image, MAX_WIDTH, max(1, round(image.shape[0] * scale))), scale


def summarise(results: Sequence[PhotoResult]) -> Report:
    """Return accuracy and recall figures for a list of photo results."""
    count = len(results)
    with_box = [r for r in results if r.detected is not None]
    return {
        "photos": count,
        "exact": round(sum(r.exact for r in results) / count, 4) if count else None,
        "exact_any_read": round(sum(r.any_exact for r in results) / count, 4) if count else None,
        "no_read": sum(r.top is None for r in results),
        "detection_recall": (
            round(sum(bool(r.detected) for r in with_box) / len(with_box), 4) if with_box else None
        ),
        "labelled_boxes": len(with_box),
    }


def run_anpr_bench(
    folders: Sequence[str],
    *,
    as_json: bool,
    models_dir: Path | None,
    countries: Sequence[str] = (),
    ocr: str | None = None,
    refine: bool = True,
    warmup: bool = True,
    quick: bool = False,
    failures: bool = False,
) -> int:
    """Run the ANPR benchmark over each folder and print the figures; return the exit code.

    Each folder is one camera with its own format prior. The first pass is a cold start; with
    `warmup` the folder is read again with the prior its first pass learned from its own
    confident reads (no labels): a camera in steady state.
    """
    if not folders:
        raise ConfigInvalid("vigil-analytics bench anpr needs a folder of labelled photos")
    unknown = sorted(set(countries) - set(COUNTRIES))
    if unknown:
        raise ConfigInvalid(
            f"unknown country code(s) {', '.join(unknown)}; known: {', '.join(COUNTRIES)}"
        )
    ocr = ocr or default_ocr()
    settings = ReaderSettings(countries=tuple(countries), ocr=ocr, refine=refine)
    bench = AnprBench(models_dir, settings)
    passes = ("cold", "warm") if warmup else ("cold",)
    report: Report = {
        "settings": {"countries": list(countries) or "any", "ocr": ocr, "refine": refine},
        "sets": {},
    }
    everything: dict[str, list[PhotoResult]] = {name: [] for name in passes}
    times = StageTimes()
    for folder in folders:
        photos = load_folder(Path(folder))
        if quick:
            photos = photos[:: max(1, len(photos) // 20)]
        learner = format_prior(settings)
        name = Path(folder).name
        report["sets"][name] = {}
        for phase in passes:
            reader = bench.camera(learner, times if phase == "cold" else None)
            results = [
                bench.run(reader, photo, times if phase == "cold" else StageTimes())
                for photo in photos
            ]
            everything[phase] += results
            report["sets"][name][phase] = summarise(results)
            if failures:
                report["sets"][name][phase]["failures"] = [
                    {"photo": r.photo.path.name, "label": r.photo.plate, "read": r.top}
                    for r in results
                    if not r.exact
                ]
    report["together"] = {phase: summarise(results) for phase, results in everything.items()}
    report["ms"] = _timings(times, everything["cold"])
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def default_ocr() -> str:
    """Return ``cct+rapidocr`` when rapidocr is installed, else ``cct``."""
    return "cct+rapidocr" if importlib.util.find_spec("rapidocr") is not None else "cct"


def _timings(times: StageTimes, results: Sequence[PhotoResult]) -> Report:
    photos = len(results) or 1
    per_stage = {stage: round(sum(values) / photos, 2) for stage, values in times.ms.items()}
    per_call = {
        stage: round(statistics.fmean(values), 2) for stage, values in times.ms.items() if values
    }
    vehicle_ms = [ms for r in results for ms in r.vehicle_ms]
    return {
        "per_photo": per_stage,
        "per_call": per_call,
        "per_vehicle": {
            "vehicles": len(vehicle_ms),
            "mean": round(statistics.fmean(vehicle_ms), 2) if vehicle_ms else None,
            "p50": round(statistics.median(vehicle_ms), 2) if vehicle_ms else None,
            "p90": round(float(np.percentile(vehicle_ms, 90)), 2) if vehicle_ms else None,
        },
    }


def _print(report: Report) -> None:
    settings = report["settings"]
    print(f"countries: {settings['countries']}   ocr: {settings['ocr']}", end="")
    print(f"   refine: {settings['refine']}")
    header = f"{'set':<16}{'pass':<6}{'photos':>7}{'exact':>8}{'any read':>10}"
    print(f"{header}{'no read':>9}{'recall':>8}")
    rows = [*report["sets"].items(), ("together", report["together"])]
    for name, phases in rows:
        for phase, row in phases.items():
            recall = row["detection_recall"]
            print(
                f"{name:<16}{phase:<6}{row['photos']:>7}{row['exact']:>8.3f}"
                f"{row['exact_any_read']:>10.3f}{row['no_read']:>9}"
                f"{'' if recall is None else f'{recall:.3f}':>8}"
            )
            for failure in row.get("failures", []):
                print(f"    {failure['photo']}: {failure['label']} read {failure['read']}")
    ms = report["ms"]
    print("ms per call: " + ", ".join(f"{k} {v}" for k, v in ms["per_call"].items()))
    print("ms per photo: " + ", ".join(f"{k} {v}" for k, v in ms["per_photo"].items()))
    vehicle = ms["per_vehicle"]
    print(
        f"ms per vehicle (plate detection on the crop, refinement, OCR, decode): mean "
        f"{vehicle['mean']}, p50 {vehicle['p50']}, p90 {vehicle['p90']} over "
        f"{vehicle['vehicles']} vehicles"
    )
