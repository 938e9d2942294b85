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
from vigil_core.anpr.models import (
    AGPL_DETECTOR,
    DEFAULT_DETECTOR,
    AnprModels,
    ReaderSettings,
    VehicleSearch,
    format_prior,
)
from vigil_core.anpr.reader import (
    PlateObservation,
    PlateReader,
    StageTimes,
    main_plate,
    plate_crop,
)
from vigil_core.errors import ConfigInvalid, VigilError
from vigil_core.inference.detectors import YoloV8Detector, YoloxDetector
from vigil_core.inference.loader import resolve_model
from vigil_core.inference.preprocess import resize
from vigil_core.inference.registry import default_registry
from vigil_core.inference.session import SessionCache, SessionOptions
from vigil_core.plates.normalize import COUNTRIES, canonical
from vigil_core.types import BBox, RGBImage
from vigil_tools.eval.rendered_plates import rendered_set

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
    size: tuple[int, int] = (0, 0)
    vehicle_boxes: list[BBox] = field(default_factory=list)

    @property
    def top(self) -> str | None:
        """Return the photo's answer: its main plate (the largest, most central confident)."""
        main = main_plate(self.reads, *self.size, self.vehicle_boxes)
        return main.text if main is not None else None

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

    def __init__(
        self,
        models_dir: Path | None,
        settings: ReaderSettings,
        threads: int = 2,
        *,
        detector: str = DEFAULT_DETECTOR,
        sessions: SessionCache | None = None,
        vehicle_search: VehicleSearch = "windows",
    ) -> None:
        """Load the vehicle detector, plate detector and OCR."""
        sessions = sessions or SessionCache()
        options = SessionOptions(intra_op_threads=threads)
        self.settings = settings
        self.times = StageTimes()
        self.models = AnprModels(
            sessions=sessions,
            options=options,
            models_dir=models_dir,
            detector_model=detector,
            vehicle_search=vehicle_search,
        )
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
        """Read one labelled photo file (see `run_image`)."""
        image, scale = _load(photo.path)
        return self.run_image(reader, photo, image, scale, times)

    def run_image(
        self,
        reader: PlateReader,
        photo: LabelledPhoto,
        image: RGBImage,
        scale: float,
        times: StageTimes,
    ) -> PhotoResult:
        """Read one photo as the stage does in `both` mode, timing each vehicle's share.

        Plate boxes from every vehicle crop and from the frame's pass are merged; each
        vehicle's boxes are read together (the reader keeps its most legible one), charged to
        that vehicle, and the best `max_plates` boxes found over the frame alone are read too.
        """
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
        for index in range(len(vehicles)):
            own = [box for box in boxes if box.vehicle == index]
            if own:
                started = time.perf_counter()
                reads += reader.read_boxes(image, own[: reader.max_plates])
                vehicle_ms[index] += (time.perf_counter() - started) * 1000.0
        loose = [box for box in boxes if box.vehicle is None][: reader.max_plates]
        reads += reader.read_boxes(image, loose)
        reads.sort(key=lambda obs: obs.score, reverse=True)
        size = (int(image.shape[1]), int(image.shape[0]))
        return PhotoResult(photo, reads, boxes, scale, len(vehicles), vehicle_ms, size, vehicles)


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


@dataclass(frozen=True, slots=True)
class Chain:
    """One plate chain of the benchmark: its plate finder (None: the plain chain) and search."""

    detector: str | None
    vehicle_search: VehicleSearch = "windows"


CHAINS: dict[str, Chain] = {
    "default": Chain(DEFAULT_DETECTOR),
    "agpl": Chain(AGPL_DETECTOR),
    "plain": Chain(None),
    "tiled": Chain(DEFAULT_DETECTOR, "tiles"),
}
"""The chains compared side by side: Vigil's licence-clean default (PP-OCR text detector on a
few likely windows per vehicle), Vigil with the AGPL plate detector the user may choose, the
plain off-the-shelf chain, and (on request) the licence-clean chain as it was before the window
search (the text detector on tiles over the whole lower part of each vehicle)."""
DEFAULT_CHAINS = ("default", "agpl", "plain")
PLAIN_DETECTOR = "safelicensing_yolov8n_plate_640"
RENDERED_PHOTOS = 3
"""Real photos (the first with a labelled plate at least 100 px wide) the rendered plates go on."""


class PlainChain:
    """The plain off-the-shelf chain, the yardstick Vigil must not fall below.

    The plate detector at 640 on the whole photo, its top box read once by the CCT model (argmax
    per slot, padding dropped).
    """

    def __init__(
        self,
        models: AnprModels,
        sessions: SessionCache,
        options: SessionOptions,
        models_dir: Path | None,
    ) -> None:
        """Load the 640 plate detector (fixed graph, letterboxed) and share the CCT model."""
        registry = default_registry()
        spec = registry.get(PLAIN_DETECTOR)
        path = resolve_model(spec.name, models_dir=models_dir, registry=registry)
        self.detector = YoloV8Detector(sessions.get(spec, path, options), confidence=0.25)
        self.cct = models.cct()

    def read(self, image: RGBImage) -> str | None:
        """Return the text of the photo's top plate box, or None without a box."""
        found = self.detector.detect(image)
        if not found:
            return None
        top = max(found, key=lambda det: det.score)
        size = (self.cct.width, self.cct.height)
        probs = self.cct.probabilities([plate_crop(image, top.bbox, 0.0, 0.0, size=size)])[0]
        chars = (self.cct.alphabet[int(i)] for i in probs.argmax(axis=1))
        return "".join(c for c in chars if c != self.cct.pad_char) or None


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
    chains: Sequence[str] = DEFAULT_CHAINS,
    rendered: bool = True,
) -> int:
    """Run the ANPR benchmark over each folder for each chain and print the figures.

    Each folder is one camera with its own format prior. The first pass is a cold start; with
    `warmup` the folder is read again with the prior its first pass learned from its own
    confident reads (no labels): a camera in steady state. With `rendered`, plates of formats
    no folder has are drawn over the first folder's photos and reported as a row of their own.
    """
    if not folders:
        raise ConfigInvalid("vigil-analytics bench anpr needs a folder of labelled photos")
    unknown = sorted(set(countries) - set(COUNTRIES))
    if unknown:
        raise ConfigInvalid(
            f"unknown country code(s) {', '.join(unknown)}; known: {', '.join(COUNTRIES)}"
        )
    wrong = sorted(set(chains) - set(CHAINS))
    if wrong:
        raise ConfigInvalid(f"unknown chain(s) {', '.join(wrong)}; known: {', '.join(CHAINS)}")
    ocr = ocr or default_ocr()
    settings = ReaderSettings(countries=tuple(countries), ocr=ocr, refine=refine)
    sets = {Path(folder).name: load_folder(Path(folder)) for folder in folders}
    if quick:
        sets = {name: photos[:: max(1, len(photos) // 20)] for name, photos in sets.items()}
    images: dict[str, list[tuple[LabelledPhoto, RGBImage, float]]] = {
        name: [(photo, *_load(photo.path)) for photo in photos] for name, photos in sets.items()
    }
    report: Report = {
        "settings": {"countries": list(countries) or "any", "ocr": ocr, "refine": refine},
        "chains": {},
        "exact": {},
    }
    if rendered:
        painted = _rendered(next(iter(images.values())))
        if isinstance(painted, str):
            report["rendered"] = painted
        else:
            images["rendered"] = painted
    sessions = SessionCache()
    for chain in chains:
        try:
            report["chains"][chain] = _run_chain(
                chain,
                images,
                settings,
                models_dir,
                sessions,
                warmup=warmup,
                failures=failures,
            )
        except VigilError as err:
            report["chains"][chain] = {"missing": str(err)}
    for name in images:
        report["exact"][name] = {
            chain: row["sets"][name]["cold"]["exact"]
            for chain, row in report["chains"].items()
            if "sets" in row
        }
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def _rendered(
    photos: Sequence[tuple[LabelledPhoto, RGBImage, float]],
) -> list[tuple[LabelledPhoto, RGBImage, float]] | str:
    """Return the rendered plates on the first suitable photos, or why there are none."""
    bases = [
        (image, photo.box.scaled(scale, scale))
        for photo, image, scale in photos
        if photo.box is not None and photo.box.width * scale >= 100
    ][:RENDERED_PHOTOS]
    if not bases:
        return "no photo with a labelled plate 100 px wide to draw on"
    try:
        painted = rendered_set(bases)
    except VigilError as err:
        return str(err)
    return [
        (LabelledPhoto(Path(f"rendered-{index:02d}-{label}"), label, box), image, 1.0)
        for index, (label, image, box) in enumerate(painted)
    ]


def _run_chain(
    chain: str,
    images: dict[str, list[tuple[LabelledPhoto, RGBImage, float]]],
    settings: ReaderSettings,
    models_dir: Path | None,
    sessions: SessionCache,
    *,
    warmup: bool,
    failures: bool,
) -> Report:
    """Return one chain's figures on every set."""
    spec_chain = CHAINS[chain]
    detector = spec_chain.detector
    bench = AnprBench(
        models_dir,
        settings,
        detector=detector or AGPL_DETECTOR,
        sessions=sessions,
        vehicle_search=spec_chain.vehicle_search,
    )
    out: Report = {"sets": {}}
    if detector is None:
        plain = PlainChain(bench.models, sessions, SessionOptions(intra_op_threads=2), models_dir)
        out["detector"] = PLAIN_DETECTOR
        out["licence"] = default_registry().get(PLAIN_DETECTOR).licence
        times = StageTimes()
        for name, photos in images.items():
            plain_results: list[PlainResult] = []
            for photo, image, _ in photos:
                with times.measure("photo"):
                    text = plain.read(image)
                plain_results.append(PlainResult(photo, text))
            out["sets"][name] = {"cold": _plain_summary(plain_results, failures)}
        out["ms"] = {"per_photo": round(statistics.fmean(times.ms["photo"]), 2)}
        return out
    spec = default_registry().get(detector)
    out["detector"] = detector
    out["licence"] = spec.licence
    if detector == DEFAULT_DETECTOR:
        out["vehicle_search"] = spec_chain.vehicle_search
    passes = ("cold", "warm") if warmup else ("cold",)
    times = StageTimes()
    cold: list[PhotoResult] = []
    for name, photos in images.items():
        learner = format_prior(settings)
        out["sets"][name] = {}
        for phase in passes:
            reader = bench.camera(learner, times if phase == "cold" else None)
            stage = times if phase == "cold" else StageTimes()
            results = [bench.run_image(reader, p, img, sc, stage) for p, img, sc in photos]
            if phase == "cold":
                cold += results
            out["sets"][name][phase] = summarise(results)
            if failures:
                out["sets"][name][phase]["failures"] = [
                    {"photo": r.photo.path.name, "label": r.photo.plate, "read": r.top}
                    for r in results
                    if not r.exact
                ]
    out["ms"] = _timings(times, cold)
    return out


@dataclass(frozen=True, slots=True)
class PlainResult:
    """What the plain chain read on one photo."""

    photo: LabelledPhoto
    text: str | None


def _plain_summary(results: Sequence[PlainResult], failures: bool) -> Report:
    count = len(results)
    row: Report = {
        "photos": count,
        "exact": round(sum(r.text == r.photo.plate for r in results) / count, 4) if count else None,
        "no_read": sum(r.text is None for r in results),
    }
    if failures:
        row["failures"] = [
            {"photo": r.photo.path.name, "label": r.photo.plate, "read": r.text}
            for r in results
            if r.text != r.photo.plate
        ]
    return row


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
    if isinstance(report.get("rendered"), str):
        print(f"rendered plates left out: {report['rendered']}")
    header = f"{'set':<12}{'chain':<9}{'pass':<6}{'photos':>7}{'exact':>8}{'any read':>10}"
    print(f"{header}{'no read':>9}{'recall':>8}")
    for name in report["exact"]:
        for chain, row in report["chains"].items():
            for phase, figures in row.get("sets", {}).get(name, {}).items():
                recall = figures.get("detection_recall")
                any_read = figures.get("exact_any_read")
                print(
                    f"{name:<12}{chain:<9}{phase:<6}{figures['photos']:>7}{figures['exact']:>8.3f}"
                    f"{'' if any_read is None else f'{any_read:.3f}':>10}{figures['no_read']:>9}"
                    f"{'' if recall is None else f'{recall:.3f}':>8}"
                )
                for failure in figures.get("failures", []):
                    print(f"    {failure['photo']}: {failure['label']} read {failure['read']}")
    for chain, row in report["chains"].items():
        if "missing" in row:
            print(f"{chain}: not run ({row['missing']})")
            continue
        search = f", vehicle search: {row['vehicle_search']}" if "vehicle_search" in row else ""
        print(f"{chain}: {row['detector']} ({row['licence']}){search}")
        ms = row["ms"]
        if "per_vehicle" not in ms:
            print(f"  ms per photo: {ms['per_photo']}")
            continue
        print("  ms per call: " + ", ".join(f"{k} {v}" for k, v in ms["per_call"].items()))
        vehicle = ms["per_vehicle"]
        print(
            f"  ms per vehicle (plate search on the crop, refinement, OCR, decode): mean "
            f"{vehicle['mean']}, p50 {vehicle['p50']}, p90 {vehicle['p90']} over "
            f"{vehicle['vehicles']} vehicles"
        )
