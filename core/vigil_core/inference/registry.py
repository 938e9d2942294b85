"""Declare every model Vigil can run: file, sha256, pinned URL, input spec and labels."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
import re
from typing import Literal, cast

import yaml

from vigil_core.errors import ModelInvalid, ModelRoleRefused, UnknownModel

REGISTRY_RESOURCE = "models.yaml"
"""The registry shipped inside the package (a symlink to models/registry.yaml in the repository)."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

type Layout = Literal["NCHW", "NHWC"]
type Colour = Literal["RGB", "BGR"]
type TensorType = Literal["float32", "uint8"]
type LetterboxMode = Literal["top_left", "centre", "none"]


class ModelRole(StrEnum):
    """What a model is for. Nothing biometric is, or will be, in this list."""

    OBJECT_DETECTION = "object_detection"
    PERSON_DETECTION = "person_detection"
    PLATE_DETECTION = "plate_detection"
    PLATE_OCR = "plate_ocr"


class Architecture(StrEnum):
    """Output layout family; selects the decoder."""

    YOLOX = "yolox"
    PICODET = "picodet"
    YOLOV8 = "yolov8"
    CCT_OCR = "cct_ocr"
    DB_TEXT = "db_text"
    """A DB (differentiable binarisation) text detector: one text-probability map per image."""


DETECTION_ROLES = frozenset(
    {ModelRole.OBJECT_DETECTION, ModelRole.PERSON_DETECTION, ModelRole.PLATE_DETECTION}
)


class RegistryInvalid(ModelInvalid):
    """The registry file itself is malformed."""


@dataclass(frozen=True, slots=True)
class InputSpec:
    """The one input tensor of a model and how pixels become its values.

    tensor = (pixel * scale - mean) / std per channel, channels in `colour` order.
    """

    name: str
    shape: tuple[int | None, ...]
    """Four dims in `layout` order; None marks a dynamic dim (only the batch may be)."""
    layout: Layout
    dtype: TensorType
    colour: Colour
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    letterbox: LetterboxMode
    pad_value: int
    aspect: bool = False
    """The graph is fully convolutional: it may run at the frame's aspect (the shape's long side,
    the other cut to the frame's aspect and rounded up to the largest stride) instead of the
    letterboxed square, through the in-memory `free_input_size` rewrite (graph.py)."""

    @property
    def batch(self) -> int | None:
        """Return the fixed batch size, or None when the batch dim is dynamic."""
        return self.shape[0]

    @property
    def height(self) -> int:
        """Return the input height in pixels."""
        return cast(int, self.shape[2] if self.layout == "NCHW" else self.shape[1])

    @property
    def width(self) -> int:
        """Return the input width in pixels."""
        return cast(int, self.shape[3] if self.layout == "NCHW" else self.shape[2])

    @property
    def is_identity_normalisation(self) -> bool:
        """Return whether the tensor is the raw 0–255 pixel value."""
        return self.scale == 1.0 and self.mean == (0.0, 0.0, 0.0) and self.std == (1.0, 1.0, 1.0)


@dataclass(frozen=True, slots=True)
class DecodeSpec:
    """Architecture-specific output parameters."""

    strides: tuple[int, ...] = ()
    reg_max: int | None = None
    slots: int | None = None
    pad_char: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One error rate measured for a model: what, how much, on which data, said where."""

    metric: str
    value: str
    data: str
    """The data measured on (clip or photo set, sampling, matching criterion)."""
    held_out: bool
    """Whether the data was held out from tuning (False: development data, an optimistic figure)."""
    source: str
    """The repository document that reports the measurement and how to repeat it."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One registered model."""

    name: str
    role: ModelRole
    architecture: Architecture
    licence: str
    file: str
    sha256: str
    url: str | None
    """Raw file pinned to a commit, or None when no public URL serves these exact bytes."""
    source: str
    """Where the weights come from; for url None, how the file was made."""
    input: InputSpec
    labels: tuple[str, ...]
    decode: DecodeSpec
    latency: str = ""
    notes: str = ""
    package: str | None = None
    """Folder inside an installed Python package that holds the file (``rapidocr/models``)."""
    measured: tuple[Measurement, ...] = ()
    """Error rates measured on this project's data (the impact assessment prints them)."""

    @property
    def is_detector(self) -> bool:
        """Return whether the model outputs boxes."""
        return self.role in DETECTION_ROLES


class ModelRegistry:
    """Models by name, validated when loaded."""

    def __init__(self, models: Sequence[ModelSpec], origin: str = "<memory>") -> None:
        """Index the models; names must be unique."""
        self.origin = origin
        self._models: dict[str, ModelSpec] = {}
        for spec in models:
            if spec.name in self._models:
                raise RegistryInvalid(
                    f"model registry {origin}: model '{spec.name}' is declared twice"
                )
            self._models[spec.name] = spec

    @classmethod
    def from_yaml(cls, path: Path) -> ModelRegistry:
        """Load and validate a registry file."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise RegistryInvalid(f"model registry {path} cannot be read: {first}") from err
        return cls.from_data(data, origin=str(path))

    @classmethod
    def from_data(cls, data: object, origin: str = "<memory>") -> ModelRegistry:
        """Validate parsed registry data ({'models': [...]})."""
        if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
            raise RegistryInvalid(
                f"model registry {origin}: expected a mapping with a 'models' list"
            )
        specs = [
            parse_model(entry, where=f"model registry {origin}: models[{index}]")
            for index, entry in enumerate(data["models"])
        ]
        return cls(specs, origin)

    def get(self, name: str) -> ModelSpec:
        """Return the model of that name or raise UnknownModel listing the known names."""
        try:
            return self._models[name]
        except KeyError:
            known = ", ".join(sorted(self._models)) or "none"
            raise UnknownModel(
                f"unknown model '{name}' (known models: {known})",
                {"model": name, "known": known},
            ) from None

    @property
    def names(self) -> tuple[str, ...]:
        """Return every model name, sorted."""
        return tuple(sorted(self._models))

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)


@cache
def default_registry() -> ModelRegistry:
    """Return the registry shipped with the package (parsed once)."""
    resource = resources.files(__package__ or "vigil_core.inference") / REGISTRY_RESOURCE
    with resources.as_file(resource) as path:
        return ModelRegistry.from_yaml(path)


def load_registry(path: Path | None = None) -> ModelRegistry:
    """Return the registry in a YAML file, or the shipped one when path is None."""
    return default_registry() if path is None else ModelRegistry.from_yaml(path)


# --- parsing ---------------------------------------------------------------------------------

_MODEL_KEYS = frozenset(
    {
        "name",
        "role",
        "architecture",
        "licence",
        "file",
        "sha256",
        "url",
        "source",
        "input",
        "labels",
        "decode",
        "latency",
        "notes",
        "package",
        "measured",
    }
)
_INPUT_KEYS = frozenset(
    {
        "name",
        "shape",
        "layout",
        "dtype",
        "colour",
        "scale",
        "mean",
        "std",
        "letterbox",
        "pad_value",
        "aspect",
    }
)
_DECODE_KEYS = frozenset({"strides", "reg_max", "slots", "pad_char"})
_MEASURED_KEYS = frozenset({"metric", "value", "data", "held_out", "source"})


def parse_model(entry: object, where: str = "model registry") -> ModelSpec:
    """Validate one registry entry; refuse any role outside ModelRole."""
    data = _mapping(entry, where, _MODEL_KEYS)
    name = _str(data, "name", where)
    where = f"{where} ('{name}')" if where.endswith("]") else where
    if not _NAME.match(name):
        raise RegistryInvalid(f"{where}: name must be lower-case letters, digits, '_', '-' or '.'")
    role_value = _str(data, "role", where)
    try:
        role = ModelRole(role_value)
    except ValueError:
        allowed = ", ".join(role.value for role in ModelRole)
        raise ModelRoleRefused(
            f"model '{name}' declares role '{role_value}', which Vigil refuses to run "
            f"(allowed: {allowed}; nothing biometric)",
            {"model": name, "role": role_value},
        ) from None
    architecture = _enum(Architecture, _str(data, "architecture", where), "architecture", where)
    sha256 = _str(data, "sha256", where).lower()
    if not _SHA256.match(sha256):
        raise RegistryInvalid(f"{where}: sha256 must be 64 hex digits")
    url = data.get("url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("https://", "http://"))
    ):
        raise RegistryInvalid(f"{where}: url must be an http(s) URL or null")
    file = _str(data, "file", where)
    if Path(file).name != file:
        raise RegistryInvalid(f"{where}: file must be a bare file name, not a path")
    labels = data.get("labels")
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(label, str) and label for label in labels)
    ):
        raise RegistryInvalid(f"{where}: labels must be a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise RegistryInvalid(f"{where}: labels must be unique")
    spec = ModelSpec(
        name=name,
        role=role,
        architecture=architecture,
        licence=_str(data, "licence", where),
        file=file,
        sha256=sha256,
        url=url,
        source=_str(data, "source", where),
        input=_parse_input(data.get("input"), f"{where}.input"),
        labels=tuple(labels),
        decode=_parse_decode(data.get("decode", {}), f"{where}.decode"),
        latency=_opt_str(data, "latency", where),
        notes=_opt_str(data, "notes", where),
        package=_package(data, where),
        measured=_parse_measured(data.get("measured", []), f"{where}.measured"),
    )
    _check_consistent(spec, where)
    return spec


_PACKAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z0-9_.-]+)*$")


def _package(data: Mapping[str, object], where: str) -> str | None:
    value = data.get("package")
    if value is None:
        return None
    if not isinstance(value, str) or not _PACKAGE.match(value) or ".." in value.split("/"):
        raise RegistryInvalid(
            f"{where}: package must be an importable package name, optionally with a folder "
            "inside it (rapidocr/models)"
        )
    return value


def _parse_input(entry: object, where: str) -> InputSpec:
    data = _mapping(entry, where, _INPUT_KEYS)
    shape = data.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 4
        or not all(dim is None or (isinstance(dim, int) and dim > 0) for dim in shape)
        or any(dim is None for dim in shape[1:])
    ):
        raise RegistryInvalid(
            f"{where}: shape must be 4 positive integers (the batch may be null for dynamic)"
        )
    layout = _literal(_str(data, "layout", where), ("NCHW", "NHWC"), "layout", where)
    channels = shape[1] if layout == "NCHW" else shape[3]
    if channels != 3:
        raise RegistryInvalid(f"{where}: shape must have 3 colour channels for layout {layout}")
    pad_value = data.get("pad_value")
    if not isinstance(pad_value, int) or not 0 <= pad_value <= 255:
        raise RegistryInvalid(f"{where}: pad_value must be an integer 0-255")
    scale = _float(data, "scale", where)
    std = _triple(data, "std", where)
    if scale <= 0 or any(value <= 0 for value in std):
        raise RegistryInvalid(f"{where}: scale and std must be positive")
    return InputSpec(
        name=_str(data, "name", where),
        shape=tuple(shape),
        layout=cast(Layout, layout),
        dtype=cast(
            TensorType, _literal(_str(data, "dtype", where), ("float32", "uint8"), "dtype", where)
        ),
        colour=cast(Colour, _literal(_str(data, "colour", where), ("RGB", "BGR"), "colour", where)),
        scale=scale,
        mean=_triple(data, "mean", where),
        std=std,
        letterbox=cast(
            LetterboxMode,
            _literal(
                _str(data, "letterbox", where), ("top_left", "centre", "none"), "letterbox", where
            ),
        ),
        pad_value=pad_value,
        aspect=_bool(data, "aspect", where),
    )


def _parse_measured(entries: object, where: str) -> tuple[Measurement, ...]:
    if not isinstance(entries, list):
        raise RegistryInvalid(f"{where}: must be a list")
    measured = []
    for index, entry in enumerate(entries):
        data = _mapping(entry, f"{where}[{index}]", _MEASURED_KEYS)
        held_out = data.get("held_out")
        if not isinstance(held_out, bool):
            raise RegistryInvalid(f"{where}[{index}]: held_out must be true or false")
        measured.append(
            Measurement(
                metric=_str(data, "metric", where),
                value=str(data.get("value", "")).strip() or _str(data, "value", where),
                data=_str(data, "data", where),
                held_out=held_out,
                source=_str(data, "source", where),
            )
        )
    return tuple(measured)


def _parse_decode(entry: object, where: str) -> DecodeSpec:
    data = _mapping(entry, where, _DECODE_KEYS)
    strides = data.get("strides", [])
    if not isinstance(strides, list) or not all(isinstance(s, int) and s > 0 for s in strides):
        raise RegistryInvalid(f"{where}: strides must be a list of positive integers")
    reg_max = data.get("reg_max")
    slots = data.get("slots")
    for key, value in (("reg_max", reg_max), ("slots", slots)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise RegistryInvalid(f"{where}: {key} must be a positive integer")
    pad_char = data.get("pad_char")
    if pad_char is not None and not isinstance(pad_char, str):
        raise RegistryInvalid(f"{where}: pad_char must be a string")
    return DecodeSpec(tuple(strides), cast(int | None, reg_max), cast(int | None, slots), pad_char)


def _check_consistent(spec: ModelSpec, where: str) -> None:
    """Check that architecture, role and parameters fit together."""
    arch, decode, inp = spec.architecture, spec.decode, spec.input
    if arch is Architecture.CCT_OCR:
        if spec.role is not ModelRole.PLATE_OCR:
            raise RegistryInvalid(f"{where}: architecture cct_ocr is only for role plate_ocr")
        if decode.slots is None or decode.pad_char not in spec.labels:
            raise RegistryInvalid(
                f"{where}: cct_ocr needs decode.slots and a pad_char among the labels"
            )
        return
    if not spec.is_detector:
        raise RegistryInvalid(f"{where}: role {spec.role} needs an OCR architecture")
    if inp.layout != "NCHW" or inp.dtype != "float32":
        raise RegistryInvalid(f"{where}: detectors take a float32 NCHW input")
    if inp.aspect and (inp.letterbox == "none" or not decode.strides):
        raise RegistryInvalid(f"{where}: input.aspect needs a letterboxed input and decode.strides")
    if arch in (Architecture.YOLOX, Architecture.PICODET) and not decode.strides:
        raise RegistryInvalid(f"{where}: {arch} needs decode.strides")
    if arch is Architecture.PICODET and decode.reg_max is None:
        raise RegistryInvalid(f"{where}: picodet needs decode.reg_max")
    for stride in decode.strides:
        if inp.height % stride or inp.width % stride:
            raise RegistryInvalid(f"{where}: input size is not a multiple of stride {stride}")


def _mapping(entry: object, where: str, allowed: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(entry, Mapping):
        raise RegistryInvalid(f"{where}: expected a mapping")
    unknown = sorted(str(key) for key in entry if key not in allowed)
    if unknown:
        raise RegistryInvalid(f"{where}: unknown field(s) {', '.join(unknown)}")
    return cast(Mapping[str, object], entry)


def _str(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RegistryInvalid(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _opt_str(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise RegistryInvalid(f"{where}: {key} must be a string")
    return value.strip()


def _bool(data: Mapping[str, object], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise RegistryInvalid(f"{where}: {key} must be true or false")
    return value


def _float(data: Mapping[str, object], key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RegistryInvalid(f"{where}: {key} must be a number")
    return float(value)


def _triple(data: Mapping[str, object], key: str, where: str) -> tuple[float, float, float]:
    value = data.get(key)
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise RegistryInvalid(f"{where}: {key} must be 3 numbers")
    return (float(value[0]), float(value[1]), float(value[2]))


def _literal(value: str, allowed: tuple[str, ...], key: str, where: str) -> str:
    if value not in allowed:
        raise RegistryInvalid(f"{where}: {key} '{value}' is not one of {', '.join(allowed)}")
    return value


def _enum[E: StrEnum](kind: type[E], value: str, key: str, where: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise RegistryInvalid(f"{where}: {key} '{value}' is not one of {allowed}") from None
