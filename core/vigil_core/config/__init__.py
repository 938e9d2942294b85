"""Validated configuration of the engine: cameras, zones and rules, detector and inference settings.

Split by concern: `source` (streams, Frigate, ONVIF), `inference` (detector, tracker, motion
gate), `health` (tamper), `anpr` (plate reading and the watchlist), `camera` and `engine` (the
whole file). Each rule family's spec lives with its rule in `vigil_core.rules.<family>`, and the
union of them, `RuleSpec`, in `vigil_core.rules`; the shared base is `vigil_core.specs`. Every
name is importable from here.
"""

from vigil_core.privacy.context import PrivacySpec
from vigil_core.rules import RuleSpec
from vigil_core.rules.base import BAG_CLASSES
from vigil_core.rules.crowd import CrowdMovementSpec, CrowdSpec
from vigil_core.rules.fast_move import FastMoveSpec
from vigil_core.rules.line_crossing import LineCrossingSpec
from vigil_core.rules.loitering import LoiteringSpec
from vigil_core.rules.object_left import ObjectLeftSpec
from vigil_core.rules.route import RouteSpec
from vigil_core.rules.wrong_way import WrongWaySpec
from vigil_core.rules.zone import ZoneSpec
from vigil_core.specs import SLUG, Anchor, Point, field_error, format_validation_error

from .anpr import (
    EXPIRES_FORMAT,
    PUBLIC_WATCH_MAX_DAYS,
    WATCH_REASON_MIN_CHARS,
    AnprSettings,
    AnprSpec,
    WatchlistEntry,
    WatchlistSpec,
    expires_within,
)
from .camera import CameraSpec, GroundCalibration, check_camera_rules
from .engine import EngineConfig
from .health import TamperSpec
from .inference import (
    COCO_VEHICLES,
    DetectorSpec,
    InferenceSpec,
    KServeSpec,
    MotionSpec,
    TrackerSpec,
)
from .source import FrigateDetectionSpec, FrigateMqttSpec, OnvifSpec, SourceSpec

__all__ = [
    "BAG_CLASSES",
    "COCO_VEHICLES",
    "EXPIRES_FORMAT",
    "PUBLIC_WATCH_MAX_DAYS",
    "SLUG",
    "WATCH_REASON_MIN_CHARS",
    "Anchor",
    "AnprSettings",
    "AnprSpec",
    "CameraSpec",
    "CrowdMovementSpec",
    "CrowdSpec",
    "DetectorSpec",
    "EngineConfig",
    "FastMoveSpec",
    "FrigateDetectionSpec",
    "FrigateMqttSpec",
    "GroundCalibration",
    "InferenceSpec",
    "KServeSpec",
    "LineCrossingSpec",
    "LoiteringSpec",
    "MotionSpec",
    "ObjectLeftSpec",
    "OnvifSpec",
    "Point",
    "PrivacySpec",
    "RouteSpec",
    "RuleSpec",
    "SourceSpec",
    "TamperSpec",
    "TrackerSpec",
    "WatchlistEntry",
    "WatchlistSpec",
    "WrongWaySpec",
    "ZoneSpec",
    "check_camera_rules",
    "expires_within",
    "field_error",
    "format_validation_error",
]
