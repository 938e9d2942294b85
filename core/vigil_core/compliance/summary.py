"""What the processing is, read from the live configuration: the input of every generated document.

`ProcessingSummary.from_config` reads the engine configuration (cameras, zones, rules, masks,
the privacy spec) plus what only the host knows (recipients, the access log's state, the plate
reading modes, detectors the host runs such as plate queries). `Texts` holds the French and
English wording the documents are written with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
import json
from typing import Any, Literal

from vigil_core.compliance.inventory import camera_detectors, check_engine_config, hub_detectors
from vigil_core.config import CameraSpec, EngineConfig
from vigil_core.errors import VigilError
from vigil_core.inference.registry import ModelSpec, default_registry
from vigil_core.privacy.context import (
    Acknowledgement,
    ControllerSpec,
    EnabledDetector,
    PaperworkSpec,
    acknowledged,
    allowance,
)
from vigil_core.privacy.purposes import PURPOSES, Allowance, Purpose
from vigil_core.privacy.retention import RetentionSpec
from vigil_protocol.privacy import Artefact, DeploymentContext, DetectorKind

type Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")

type Status = Literal["allowed", "acknowledged", "statistics", "held_back", "unchecked"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorUse:
    """One enabled detector, its table row and what the context made of it."""

    detector: EnabledDetector
    purpose: Purpose
    allowance: Allowance | None
    """None when no context is declared."""
    acknowledgement: Acknowledgement | None
    running: bool

    @property
    def status(self) -> Status:
        """Return the detector's state in the context."""
        if not self.running:
            return "held_back"
        if self.acknowledgement is not None:
            return "acknowledged"
        if self.allowance is None:
            return "unchecked"
        return "statistics" if self.allowance is Allowance.STATISTICS else "allowed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraSummary:
    """A camera with its detectors and safeguards."""

    camera_id: str
    name: str
    detectors: tuple[DetectorUse, ...]
    privacy_masks: int
    plate_mode: str | None = None
    """watchlist, hashed or full (the ANPR privacy mode), None without plate reading."""

    @property
    def running(self) -> tuple[DetectorUse, ...]:
        """Return the detectors that run."""
        return tuple(use for use in self.detectors if use.running)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A category of recipient (a key of the texts' `recipient` section) and how many."""

    key: str
    count: int | None = None


@dataclass(frozen=True, slots=True)
class LogStatus:
    """The access log when the documents were generated."""

    entries: int
    ok: bool
    head: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingSummary:
    """Everything the impact assessment, the record and the signs say."""

    generated_at: datetime
    version: str
    context: DeploymentContext | None
    controller: ControllerSpec
    retention: RetentionSpec
    cameras: tuple[CameraSummary, ...]
    hub_detectors: tuple[DetectorUse, ...] = ()
    recipients: tuple[Recipient, ...] = ()
    access_log: LogStatus | None = None
    admin_only_services: bool = False
    paperwork: PaperworkSpec = field(default_factory=PaperworkSpec)
    models: tuple[ModelSpec, ...] = ()
    """The models the configuration runs, with their measured error rates (the registry's)."""

    @classmethod
    def from_config(
        cls,
        config: EngineConfig,
        *,
        generated_at: datetime,
        version: str,
        recipients: Iterable[Recipient] = (),
        access_log: LogStatus | None = None,
        extra_detectors: Iterable[EnabledDetector] = (),
        plate_modes: Mapping[str, str] | None = None,
        admin_only_services: bool = False,
    ) -> ProcessingSummary:
        """Read the configuration as the engine received it (before the context's gating)."""
        extra = list(extra_detectors)
        held = {v.detector.key for v in check_engine_config(config, extra)}
        modes = plate_modes or {}

        def use(detector: EnabledDetector) -> DetectorUse:
            return _use(config, detector, running=detector.key not in held)

        cameras = tuple(
            _camera(camera, [use(d) for d in camera_detectors(camera)], modes.get(camera.id))
            for camera in config.cameras
        )
        hub = tuple(use(d) for d in [*hub_detectors(config), *extra] if d.camera_id is None)
        by_camera = {c.camera_id: c for c in cameras}
        for detector in extra:
            if detector.camera_id in by_camera:
                camera = by_camera[detector.camera_id]
                by_camera[detector.camera_id] = _replace_detectors(
                    camera, (*camera.detectors, use(detector))
                )
        return cls(
            generated_at=generated_at,
            version=version,
            context=config.privacy.context,
            controller=config.privacy.controller,
            retention=config.privacy.retention,
            cameras=tuple(by_camera.values()),
            hub_detectors=hub,
            recipients=tuple(recipients),
            access_log=access_log,
            admin_only_services=admin_only_services,
            paperwork=config.privacy.paperwork,
            models=models_in_use(config),
        )

    @property
    def uses(self) -> tuple[DetectorUse, ...]:
        """Return every detector use, cameras first."""
        return (*(u for c in self.cameras for u in c.detectors), *self.hub_detectors)

    @property
    def running(self) -> tuple[DetectorUse, ...]:
        """Return the detector uses that run."""
        return tuple(use for use in self.uses if use.running)

    @property
    def held_back(self) -> tuple[DetectorUse, ...]:
        """Return the detector uses the context holds back."""
        return tuple(use for use in self.uses if not use.running)

    def kinds(self, *, running: bool = True) -> list[DetectorKind]:
        """Return the detector kinds used (running ones by default), in table order."""
        used = {u.detector.kind for u in (self.running if running else self.uses)}
        return [kind for kind in PURPOSES if kind in used]

    def artefacts(self) -> list[Artefact]:
        """Return what the running configuration keeps, in the retention table's order."""
        kept = {Artefact.ACCESS_LOG, Artefact.EXPORTS}
        for use in self.running:
            if use.status != "statistics":
                kept.update(use.purpose.produces)
            else:
                kept.update(a for a in use.purpose.produces if a is not Artefact.SNAPSHOTS)
        return [artefact for artefact in Artefact if artefact in kept]

    def camera_artefacts(self, camera: CameraSummary) -> list[Artefact]:
        """Return what one camera's running detectors keep."""
        kept: set[Artefact] = set()
        for use in camera.running:
            produced = use.purpose.produces
            if use.status == "statistics":
                produced = tuple(
                    a for a in produced if a not in (Artefact.SNAPSHOTS, Artefact.CROPS)
                )
            kept.update(a for a in produced if a is not Artefact.ACCESS_LOG)
        return [artefact for artefact in Artefact if artefact in kept]

    @property
    def masks(self) -> int:
        """Return the number of privacy masks over every camera."""
        return sum(camera.privacy_masks for camera in self.cameras)


def models_in_use(config: EngineConfig) -> tuple[ModelSpec, ...]:
    """Return the registry's entries of the models the configuration runs (known ones only)."""
    names: list[str] = []
    if any(camera.detections == "vigil" for camera in config.cameras):
        names.append(config.detector.model)
    if any(camera.anpr.enabled for camera in config.cameras):
        names += [config.anpr.detector, config.anpr.ocr_model]
    registry = default_registry()
    models = []
    for name in dict.fromkeys(names):
        try:
            models.append(registry.get(name))
        except VigilError:  # a model of another registry: no figures to print
            continue
    return tuple(models)


def _use(config: EngineConfig, detector: EnabledDetector, *, running: bool) -> DetectorUse:
    context = config.privacy.context
    return DetectorUse(
        detector=detector,
        purpose=PURPOSES[detector.kind],
        allowance=allowance(context, detector.kind) if context is not None else None,
        acknowledgement=acknowledged(detector, config.privacy.acknowledgements),
        running=running,
    )


def _camera(camera: CameraSpec, uses: list[DetectorUse], plate_mode: str | None) -> CameraSummary:
    if plate_mode is None and camera.anpr.enabled:
        plate_mode = camera.anpr.privacy
    return CameraSummary(
        camera_id=camera.id,
        name=camera.name or camera.id,
        detectors=tuple(uses),
        privacy_masks=len(camera.privacy_masks),
        plate_mode=_effective_mode(plate_mode, uses),
    )


def _effective_mode(mode: str | None, uses: Iterable[DetectorUse]) -> str | None:
    """Return the plate mode that runs: the watchlist when the context holds the mode back."""
    held = {DetectorKind.ANPR_HASHED, DetectorKind.ANPR_FULL}
    if any(use.detector.kind in held and not use.running for use in uses):
        return "watchlist"
    return mode


def _replace_detectors(camera: CameraSummary, uses: tuple[DetectorUse, ...]) -> CameraSummary:
    return CameraSummary(
        camera_id=camera.camera_id,
        name=camera.name,
        detectors=uses,
        privacy_masks=camera.privacy_masks,
        plate_mode=_effective_mode(camera.plate_mode, uses),
    )


# --- texts ---------------------------------------------------------------------------------------

_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
}


@cache
def _catalogue(language: Language) -> dict[str, Any]:
    resource = resources.files("vigil_core.compliance") / "templates" / f"{language}.json"
    data: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True, slots=True)
class Texts:
    """The wording of the documents in one language."""

    language: Language

    def __call__(self, path: str, /, **values: object) -> str:
        """Return the text at a dotted path, with its placeholders filled."""
        node: Any = _catalogue(self.language)
        for part in path.split("."):
            node = node[part]
        if not isinstance(node, str):
            raise KeyError(f"{path} is a section, not a text")
        return node.format(**values) if values else node

    def date(self, moment: datetime) -> str:
        """Return a date and time the way the language writes them."""
        zone = moment.tzname() or ""
        if self.language == "fr":
            time = f"à {moment.hour} h {moment.minute:02d}"
            return f"{self.day(moment)} {time} {zone}".strip()
        return f"{self.day(moment)}, {moment.hour:02d}:{moment.minute:02d} {zone}".strip()

    def day(self, moment: datetime) -> str:
        """Return a date without the time."""
        month = _MONTHS[self.language].split()[moment.month - 1]
        return f"{moment.day} {month} {moment.year}"

    def context(self, context: DeploymentContext | None) -> str:
        """Return a context's name."""
        return self(f"context.{context.value if context else 'unset'}.name")

    def keys(self) -> set[str]:
        """Return every dotted key (to check both languages have the same)."""
        return _flat(_catalogue(self.language))


def _flat(node: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in node.items():
        path = f"{prefix}{key}"
        keys |= _flat(value, f"{path}.") if isinstance(value, dict) else {path}
    return keys
