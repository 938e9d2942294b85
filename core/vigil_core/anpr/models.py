"""Load the plate detector and OCR once per process, over the engine's shared session cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import logging
from pathlib import Path
import threading
from typing import Literal

from vigil_core.anpr.decode import FormatPrior, SlotDecoder
from vigil_core.anpr.detect import BoxFinder, PlateFinder
from vigil_core.anpr.ocr import CctOcr, RapidOcr, shared_rapid_ocr
from vigil_core.anpr.reader import DEFAULT_VARIANTS, PlateReader, StageTimes
from vigil_core.anpr.text_detect import DEFAULT_SEARCH, TextPlateFinder
from vigil_core.errors import ModelInvalid
from vigil_core.inference.detectors import YoloV8Detector
from vigil_core.inference.loader import resolve_model
from vigil_core.inference.registry import Architecture, ModelRegistry, default_registry
from vigil_core.inference.session import SessionCache, SessionOptions
from vigil_core.plates.normalize import all_formats, formats_for

_LOGGER = logging.getLogger(__name__)

DEFAULT_DETECTOR = "ppocr_v6_det_small"
"""The licence-clean plate finder (Apache-2.0): PP-OCR's text detector on vehicle crops."""
AGPL_DETECTOR = "safelicensing_yolov8n_plate_384"
"""The YOLOv8 plate detector: AGPL-3.0, used only when the user chooses it."""
DEFAULT_OCR = "cct_xs_v1_global"
type VehicleSearch = Literal["windows", "tiles"]
DETECTOR_MIN_SCORE = 0.1
"""Plate boxes kept from the detector; the OCR's confidence rejects what is not a plate."""


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """One camera's reading settings (a subset of its AnprSpec)."""

    countries: tuple[str, ...] = ()
    ocr: str = "cct"
    min_confidence: float = 0.6
    variants: int = 3
    max_plates: int = 4
    refine: bool = True
    learn_formats: bool = True


class AnprModels:
    """The shared plate detector and recognisers; readers for each camera are built from it."""

    def __init__(
        self,
        *,
        sessions: SessionCache | None = None,
        options: SessionOptions | None = None,
        models_dir: Path | str | None = None,
        detector_model: str = DEFAULT_DETECTOR,
        ocr_model: str = DEFAULT_OCR,
        registry: ModelRegistry | None = None,
        vehicle_search: VehicleSearch = "windows",
    ) -> None:
        """Remember where the models are; nothing is loaded before first use.

        `vehicle_search` says how the text finder looks at a vehicle: a few likely windows
        (`windows`, the default) or tiles over its whole lower part (`tiles`, the earlier
        default, kept for the benchmark's comparison).
        """
        self._sessions = sessions or SessionCache()
        self._options = options or SessionOptions(intra_op_threads=2)
        self._models_dir = models_dir
        self._detector_model = detector_model
        self._ocr_model = ocr_model
        self._registry = registry or default_registry()
        self._vehicle_search = vehicle_search
        self._lock = threading.Lock()
        self._finder: BoxFinder | None = None
        self._cct: CctOcr | None = None

    def finder(self) -> BoxFinder:
        """Return the shared plate finder, loading the detector on first use."""
        with self._lock:
            if self._finder is None:
                spec = self._registry.get(self._detector_model)
                path = resolve_model(
                    spec.name, models_dir=self._models_dir, registry=self._registry
                )
                if spec.architecture is Architecture.DB_TEXT:
                    search = DEFAULT_SEARCH if self._vehicle_search == "windows" else None
                    session = self._sessions.get(spec, path, self._options)
                    self._finder = TextPlateFinder(session, search=search)
                    return self._finder
                if spec.architecture is not Architecture.YOLOV8:
                    raise ModelInvalid(
                        f"model '{spec.name}' is not a plate detector (yolov8 or db_text)",
                        {"model": spec.name, "path": str(path)},
                    )
                try:
                    session = self._sessions.get(
                        spec, path, self._options, rewrite=YoloV8Detector.rewrite
                    )
                except ModelInvalid as err:
                    # A YOLOv8 export of another shape still works at its fixed input size.
                    _LOGGER.warning("plate detector runs at its fixed input size: %s", err)
                    session = self._sessions.get(spec, path, self._options)
                self._finder = PlateFinder(YoloV8Detector(session, confidence=DETECTOR_MIN_SCORE))
            return self._finder

    def cct(self) -> CctOcr:
        """Return the shared CCT recogniser, loading it on first use."""
        with self._lock:
            if self._cct is None:
                spec = self._registry.get(self._ocr_model)
                path = resolve_model(
                    spec.name, models_dir=self._models_dir, registry=self._registry
                )
                self._cct = CctOcr(self._sessions.get(spec, path, self._options))
            return self._cct

    def rapid(self) -> RapidOcr:
        """Return the shared rapidocr recogniser (ModelMissing when rapidocr is not installed)."""
        return shared_rapid_ocr(self._options)

    def reader(
        self,
        settings: ReaderSettings,
        times: StageTimes | None = None,
        learner: FormatPrior | None = None,
    ) -> PlateReader:
        """Build a reader for one camera's settings over the shared models.

        `learner` is the camera's format prior (see `format_prior`); None learns nothing.
        """
        cct = self.cct() if "cct" in settings.ocr else None
        rapid = self.rapid() if "rapidocr" in settings.ocr else None
        alphabet = cct.alphabet if cct is not None else "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
        pad = cct.pad_char if cct is not None else "_"
        decoder = SlotDecoder(alphabet, pad, formats_for(settings.countries), learner=learner)
        return PlateReader(
            self.finder(),
            decoder,
            cct=cct,
            rapid=rapid,
            variants=_variants(settings.variants),
            max_plates=settings.max_plates,
            min_confidence=settings.min_confidence,
            refine=settings.refine,
            times=times,
        )


def format_prior(settings: ReaderSettings) -> FormatPrior | None:
    """Return a fresh format prior over the camera's countries (every country if none)."""
    if not settings.learn_formats:
        return None
    return FormatPrior(formats_for(settings.countries) if settings.countries else all_formats())


def _variants(count: int) -> Sequence[tuple[float, float, float]]:
    return DEFAULT_VARIANTS[: max(1, min(count, len(DEFAULT_VARIANTS)))]
