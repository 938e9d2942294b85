"""Object detectors over shared onnxruntime sessions: one adapter per output layout."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
import threading
from typing import ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from vigil_core.config import DetectorSpec, InferenceSpec
from vigil_core.costs import NO_LAPS, Laps
from vigil_core.errors import ConfigInvalid, ModelInvalid
from vigil_core.types import BBox, Detection, RGBImage

from .graph import DENSE_HEAD, FREE_INPUT, is_dense_head
from .kserve import RemoteSession
from .loader import resolve_model
from .postprocess import (
    FloatArray,
    IntArray,
    RawDetections,
    class_groups,
    decode_picodet,
    decode_yolov8,
    decode_yolov8_dense,
    decode_yolox,
    grouped_nms,
)
from .preprocess import Letterbox, fit, input_size, letterbox_into, to_tensor
from .registry import Architecture, ModelRegistry, ModelSpec, default_registry
from .session import ModelSession, SessionCache, SessionOptions, Tensor, blank_input

VEHICLE_NMS_GROUP = ("car", "truck", "bus")
"""Classes suppressed across each other: YOLOX reports one van as both car and truck."""

DEFAULT_CONFIDENCE = 0.25
DEFAULT_NMS_IOU = 0.45
_MIN_SIDE_PX = 1.0
_ASPECT_PROBE = (16, 9)
"""The frame shape the aspect check (and warm-up) runs at: the usual camera's."""
_MAX_BUFFERS = 4
"""Input tensors kept per worker thread (one per input shape in use)."""


@runtime_checkable
class ObjectDetector(Protocol):
    """Find objects on RGB images; boxes in pixels of each input image, labels by name."""

    @property
    def labels(self) -> tuple[str, ...]:
        """Return every label the model can output, by class id."""
        ...

    @property
    def max_batch_size(self) -> int | None:
        """Return the most images one model run takes, or None when the batch is dynamic."""
        ...

    def detect(self, image: RGBImage) -> list[Detection]:
        """Return the detections on one image, best score first."""
        ...

    def detect_batch(
        self, images: Sequence[RGBImage], *, laps: Laps = NO_LAPS
    ) -> list[list[Detection]]:
        """Return the detections on each image, in order.

        `laps` is charged the CPU time of pre-processing, inference and post-processing.
        """
        ...


class OnnxDetector:
    """Shared pre- and post-processing; subclasses decode their own output layout."""

    architecture: ClassVar[Architecture]
    default_model: ClassVar[str]

    def __init__(
        self,
        session: ModelSession,
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        nms_iou: float = DEFAULT_NMS_IOU,
        classes: Iterable[str] = (),
        merge_classes: Sequence[Sequence[str]] = (VEHICLE_NMS_GROUP,),
        aspect: bool = False,
    ) -> None:
        """Wrap a loaded session; classes (names) limits the output, empty keeps every class.

        With `aspect`, each frame runs at its own aspect (see `preprocess.input_size`); the
        session must hold the `free_input_size` rewrite of a model the registry marks `aspect`.
        """
        spec = session.spec
        if spec.architecture is not self.architecture or not spec.is_detector:
            raise ModelInvalid(
                f"model '{spec.name}' is a {spec.architecture} {spec.role} model; "
                f"{type(self).__name__} needs a {self.architecture} detector",
                {"model": spec.name, "path": str(session.path)},
            )
        if not 0.0 < confidence < 1.0 or not 0.0 < nms_iou < 1.0:
            raise ConfigInvalid("confidence and nms_iou must be between 0 and 1")
        self.session: ModelSession | RemoteSession = session
        self.spec: ModelSpec = spec
        self.confidence = confidence
        self.nms_iou = nms_iou
        self._classes = _class_indices(spec, classes)
        self._groups = class_groups(spec.labels, merge_classes)
        self._stride = max(spec.decode.strides, default=1)
        self._local = threading.local()
        self._check_outputs()
        self.aspect = aspect
        if aspect:
            self._check_aspect()

    @classmethod
    def load(
        cls,
        model: str | None = None,
        *,
        models_dir: Path | str | None = None,
        sessions: SessionCache | None = None,
        inference: InferenceSpec | SessionOptions | None = None,
        registry: ModelRegistry | None = None,
        confidence: float = DEFAULT_CONFIDENCE,
        nms_iou: float = DEFAULT_NMS_IOU,
        classes: Iterable[str] = (),
        aspect: bool = False,
    ) -> Self:
        """Find, verify and load a registered model (default: the adapter's default model).

        `aspect` runs frames at their own aspect when the registry allows it for the model.
        """
        registry = registry or default_registry()
        spec = registry.get(model or cls.default_model)
        path = resolve_model(spec.name, models_dir=models_dir, registry=registry)
        aspect = aspect and spec.input.aspect
        session = (sessions or SessionCache()).get(
            spec, path, inference or SessionOptions(), rewrite=FREE_INPUT if aspect else None
        )
        return cls(session, confidence=confidence, nms_iou=nms_iou, classes=classes, aspect=aspect)

    @property
    def labels(self) -> tuple[str, ...]:
        """Return every label the model can output, by class id."""
        return self.spec.labels

    @property
    def max_batch_size(self) -> int | None:
        """Return the most images one model run takes, or None when the batch is dynamic."""
        return self.session.batch_size

    @property
    def classes(self) -> tuple[str, ...]:
        """Return the labels this detector reports."""
        if self._classes is None:
            return self.spec.labels
        return tuple(self.spec.labels[i] for i in self._classes)

    def detect(self, image: RGBImage) -> list[Detection]:
        """Return the detections on one image, best score first."""
        return self.detect_batch([image])[0]

    def input_size(self, image: RGBImage) -> tuple[int, int]:
        """Return the (width, height) of the model input this image runs at."""
        height, width = int(image.shape[0]), int(image.shape[1])
        if image.ndim != 3 or image.shape[2] != 3 or height == 0 or width == 0:
            raise ValueError(f"expected a non-empty H×W×3 RGB image, got shape {image.shape}")
        if not self.aspect:
            return self.spec.input.width, self.spec.input.height
        return input_size(self.spec.input, width, height, self._stride)

    def detect_batch(
        self, images: Sequence[RGBImage], *, laps: Laps = NO_LAPS
    ) -> list[list[Detection]]:
        """Return the detections per image; one run per image unless the batch dim is dynamic.

        Each image is gathered straight into this thread's reused input tensor (one per input
        shape), so pre-processing allocates nothing but the gather's result.
        """
        results: list[list[Detection]] = []
        for chunk, (width, height) in self._chunks(images):
            tensor = self._tensor(len(chunk), height, width)
            placements = [
                letterbox_into(image, self.spec.input, tensor[index])
                for index, image in enumerate(chunk)
            ]
            laps("preprocess", len(chunk))
            outputs = self.session.run(tensor)
            laps("inference", len(chunk))
            for index, placement in enumerate(placements):
                mine = [output[index] for output in outputs]
                results.append(self._finish(self.decode(mine, (height, width)), placement))
            laps("postprocess", len(chunk))
        return results

    def _chunks(
        self, images: Sequence[RGBImage]
    ) -> Iterator[tuple[list[RGBImage], tuple[int, int]]]:
        """Group consecutive images of one input size, at most the model's batch at a time."""
        step = self.session.batch_size or len(images)
        chunk: list[RGBImage] = []
        size = (0, 0)
        for image in images:
            this = self.input_size(image)
            if chunk and (this != size or len(chunk) == step):
                yield chunk, size
                chunk = []
            chunk.append(image)
            size = this
        if chunk:
            yield chunk, size

    def _tensor(self, batch: int, height: int, width: int) -> npt.NDArray[np.float32]:
        """Return this thread's reusable float32 NCHW input tensor of that shape."""
        buffers: dict[tuple[int, int, int], npt.NDArray[np.float32]] | None = getattr(
            self._local, "buffers", None
        )
        if buffers is None:
            buffers = self._local.buffers = {}
        key = (batch, height, width)
        tensor = buffers.get(key)
        if tensor is None:
            if len(buffers) >= _MAX_BUFFERS:
                buffers.clear()
            tensor = buffers[key] = np.empty((batch, 3, height, width), dtype=np.float32)
        return tensor

    def decode(self, outputs: list[FloatArray], input_hw: tuple[int, int]) -> RawDetections:
        """Turn one image's outputs (batch dim removed) into candidates above the confidence."""
        raise NotImplementedError

    def _check_aspect(self) -> None:
        """Run once at a 16:9 frame's input; raise ModelInvalid if the graph cannot.

        It also warms the session up at the size most cameras will use.
        """
        if self.session.rewrite != FREE_INPUT or not self.spec.input.aspect:
            raise self._invalid("running at the frame's aspect needs input.aspect and its rewrite")
        width, height = input_size(self.spec.input, *_ASPECT_PROBE, self._stride)
        tensor: Tensor = blank_input(self.spec.input, self.session.batch_size or 1)
        tensor = np.zeros((*tensor.shape[:2], height, width), dtype=tensor.dtype)
        try:
            outputs = self.session.run(tensor)
            self.decode([output[0] for output in outputs], (height, width))
        except Exception as err:
            raise self._invalid(
                f"it cannot run at {width}x{height} ({type(err).__name__}); "
                "set detector.input_fit to square"
            ) from err

    def _finish(self, raw: RawDetections, placement: Letterbox) -> list[Detection]:
        """Suppress overlaps, map boxes to the image and build Detection values."""
        kept = grouped_nms(raw, self.nms_iou, self._groups)
        boxes = placement.to_image(kept.boxes)
        labels = self.spec.labels
        return [
            Detection(
                bbox=BBox(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                score=float(score),
                class_id=int(class_id),
                label=labels[int(class_id)],
            )
            for box, score, class_id in zip(boxes, kept.scores, kept.class_ids, strict=True)
            if box[2] - box[0] >= _MIN_SIDE_PX and box[3] - box[1] >= _MIN_SIDE_PX
        ]

    def _check_outputs(self) -> None:
        """Raise ModelInvalid when the outputs do not fit the registry's labels."""

    def _invalid(self, detail: str) -> ModelInvalid:
        return ModelInvalid(
            f"model '{self.spec.name}' file {self.session.path} does not match the registry: "
            f"{detail}",
            {"model": self.spec.name, "path": str(self.session.path)},
        )


class YoloxDetector(OnnxDetector):
    """YOLOX: BGR 0–255, top-left letterbox, one [N, 5 + C] output decoded on grids 8/16/32."""

    architecture = Architecture.YOLOX
    default_model = "yolox_nano"

    def decode(self, outputs: list[FloatArray], input_hw: tuple[int, int]) -> RawDetections:
        """Decode objectness × class scores and grid-relative boxes."""
        return decode_yolox(
            outputs[0], input_hw, self.spec.decode.strides, self.confidence, self._classes
        )

    def _check_outputs(self) -> None:
        shapes = self.session.output_shapes
        if (
            len(shapes) != 1
            or len(shapes[0]) != 3
            or shapes[0][2] not in (None, 5 + len(self.labels))
        ):
            raise self._invalid(f"expected one [B, N, {5 + len(self.labels)}] output, got {shapes}")


class LightPersonDetector(YoloxDetector):
    """The 192-px person-only YOLOX model: a cheap crowd/count prefilter."""

    default_model = "light_person_detector_192"


class PicoDetDetector(OnnxDetector):
    """PP-PicoDet: RGB ImageNet-normalised, per-level sigmoid class maps and DFL box maps."""

    architecture = Architecture.PICODET
    default_model = "picodet_s_320_coco"

    def decode(self, outputs: list[FloatArray], input_hw: tuple[int, int]) -> RawDetections:
        """Decode the first half (class maps) and second half (DFL box maps) of the outputs."""
        levels = len(self.spec.decode.strides)
        reg_max = self.spec.decode.reg_max
        assert reg_max is not None  # checked by the registry for picodet
        return decode_picodet(
            outputs[:levels],
            outputs[levels:],
            input_hw,
            self.spec.decode.strides,
            reg_max=reg_max,
            threshold=self.confidence,
            classes=self._classes,
        )

    def _check_outputs(self) -> None:
        shapes = self.session.output_shapes
        levels = len(self.spec.decode.strides)
        bins = 4 * ((self.spec.decode.reg_max or 0) + 1)
        ok = len(shapes) == 2 * levels and all(
            len(shape) == 3 and shape[2] in (None, want)
            for shape, want in zip(
                shapes, [len(self.labels)] * levels + [bins] * levels, strict=True
            )
        )
        if not ok:
            raise self._invalid(
                f"expected {levels} [B, N, {len(self.labels)}] class maps and {levels} "
                f"[B, N, {bins}] box maps, got {shapes}"
            )


class YoloV8Detector(OnnxDetector):
    """Ultralytics YOLOv8 head: RGB/255, centred letterbox, one [4 + C, N] output.

    Loaded with its `rewrite` (the dense head, graph.py) the input size is free: each
    image is scaled to a long side (the registry's input side unless told) and padded to a
    multiple of 32, instead of letterboxed into the fixed square.
    """

    architecture = Architecture.YOLOV8
    default_model = "safelicensing_yolov8n_plate_384"
    rewrite = DENSE_HEAD

    @property
    def dense(self) -> bool:
        """Return whether the session runs the rewritten graph (any input size)."""
        return is_dense_head(self.session.output_shapes)

    def detect_batch(
        self, images: Sequence[RGBImage], *, laps: Laps = NO_LAPS
    ) -> list[list[Detection]]:
        """Return the detections per image (one run per image at its own size when dense)."""
        if not self.dense:
            return super().detect_batch(images, laps=laps)
        results = [self.detect_sized(image) for image in images]
        laps("inference", len(images))
        return results

    def detect_sized(self, image: RGBImage, long_side: int | None = None) -> list[Detection]:
        """Return the detections on one image scaled to `long_side` (dense graphs only).

        A fixed-size graph ignores `long_side` and letterboxes into its square.
        """
        if not self.dense:
            return self.detect(image)
        side = long_side or max(self.spec.input.width, self.spec.input.height)
        canvas, placement = fit(image, self.spec.input, side)
        tensor = to_tensor([canvas], self.spec.input)
        outputs = self.session.run(tensor)
        hw = (int(canvas.shape[0]), int(canvas.shape[1]))
        raw = decode_yolov8_dense([o[0] for o in outputs], hw, self.confidence, self._classes)
        return self._finish(raw, placement)

    def decode(self, outputs: list[FloatArray], input_hw: tuple[int, int]) -> RawDetections:
        """Decode centre/size boxes and per-class scores."""
        return decode_yolov8(outputs[0], self.confidence, self._classes)

    def _check_outputs(self) -> None:
        shapes = self.session.output_shapes
        if is_dense_head(shapes):
            if any(shape[1] not in (None, len(self.labels)) for shape in shapes[1::2]):
                raise self._invalid(f"class maps {shapes[1::2]} do not hold {len(self.labels)}")
            return
        if (
            len(shapes) != 1
            or len(shapes[0]) != 3
            or shapes[0][1] not in (None, 4 + len(self.labels))
        ):
            raise self._invalid(f"expected one [B, {4 + len(self.labels)}, N] output, got {shapes}")


ADAPTERS: dict[Architecture, type[OnnxDetector]] = {
    Architecture.YOLOX: YoloxDetector,
    Architecture.PICODET: PicoDetDetector,
    Architecture.YOLOV8: YoloV8Detector,
}


def runs_as_detector(model: ModelSpec) -> bool:
    """Return whether a registered model can be the configured detector (role and adapter)."""
    return model.is_detector and model.architecture in ADAPTERS


def build_detector(
    spec: DetectorSpec,
    inference: InferenceSpec,
    sessions: SessionCache,
    models_dir: Path | str | None = None,
    *,
    registry: ModelRegistry | None = None,
) -> ObjectDetector:
    """Resolve, verify and load the configured detector over the shared session cache."""
    registry = registry or default_registry()
    model = registry.get(spec.model)
    if not runs_as_detector(model):
        raise ConfigInvalid(
            f"invalid config at detector.model: '{model.name}' is a {model.role} model, "
            "not a detector"
        )
    path = resolve_model(model.name, models_dir=models_dir, registry=registry)
    aspect = spec.input_fit == "aspect" and model.input.aspect
    session = sessions.get(model, path, inference, rewrite=FREE_INPUT if aspect else None)
    detector = ADAPTERS[model.architecture](
        session,
        confidence=spec.confidence,
        nms_iou=spec.nms_iou,
        classes=spec.classes,
        aspect=aspect,
    )
    if spec.backend == "kserve" and spec.kserve is not None:
        # Checked and warmed up on the verified local file; from here its runs go to the server.
        detector.session = RemoteSession(session, spec.kserve)
    return detector


def _class_indices(spec: ModelSpec, classes: Iterable[str]) -> IntArray | None:
    """Return the class ids to report (None: all); names the model lacks are ignored.

    The default class list names vehicles too, so a person-only model just reports persons; but
    when no requested name is a label of the model, that is a configuration mistake.
    """
    wanted = list(dict.fromkeys(classes))
    if not wanted:
        return None
    index = {label: i for i, label in enumerate(spec.labels)}
    ids = sorted(index[name] for name in wanted if name in index)
    if not ids:
        raise ConfigInvalid(
            f"invalid config at detector.classes: none of {', '.join(wanted)} is a label of "
            f"model '{spec.name}' ({_preview(spec.labels)})"
        )
    if len(ids) == len(spec.labels):
        return None
    array: npt.NDArray[np.intp] = np.asarray(ids, dtype=np.intp)
    return array


def _preview(labels: Sequence[str], count: int = 8) -> str:
    more = ", ..." if len(labels) > count else ""
    return ", ".join(labels[:count]) + more
