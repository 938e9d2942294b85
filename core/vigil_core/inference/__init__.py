"""Model registry, verified loading, shared onnxruntime sessions, detectors and the batcher."""

from .batcher import BatcherClosed, InferenceBatcher
from .detectors import (
    LightPersonDetector,
    ObjectDetector,
    OnnxDetector,
    PicoDetDetector,
    YoloV8Detector,
    YoloxDetector,
    build_detector,
)
from .loader import resolve_model
from .registry import InputSpec, ModelRegistry, ModelRole, ModelSpec, default_registry
from .session import ModelSession, SessionCache, SessionOptions

__all__ = [
    "BatcherClosed",
    "InferenceBatcher",
    "InputSpec",
    "LightPersonDetector",
    "ModelRegistry",
    "ModelRole",
    "ModelSession",
    "ModelSpec",
    "ObjectDetector",
    "OnnxDetector",
    "PicoDetDetector",
    "SessionCache",
    "SessionOptions",
    "YoloV8Detector",
    "YoloxDetector",
    "build_detector",
    "default_registry",
    "resolve_model",
]
