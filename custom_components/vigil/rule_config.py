"""Turn rule and camera-setting subentries into the engine's rule specs, masks and calibration.

Rule ids are slugs of the subentry ids (like zones), so renaming a rule keeps its entities,
its history, its persisted line totals and its privacy acknowledgement.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from pathlib import Path
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant
from pydantic import TypeAdapter, ValidationError

from vigil_core.config import (
    CameraSpec,
    EngineConfig,
    GroundCalibration,
    RuleSpec,
    check_camera_rules,
)

from .const import CONF_CAMERA, CONF_CLASSES, CONF_POLYGON, DOMAIN, SUBENTRY_ZONE

_LOGGER = logging.getLogger(__name__)

type Point = tuple[float, float]

# Subentry types.
SUBENTRY_RULE: Final = "rule"
SUBENTRY_CAMERA_SETTING: Final = "camera_setting"

# Rule kinds (the engine's `type`), and the camera settings.
KIND_LINE: Final = "line_crossing"
KIND_LOITERING: Final = "loitering"
KIND_CROWD: Final = "crowd"
KIND_FAST_MOVE: Final = "fast_move"
KIND_WRONG_WAY: Final = "wrong_way"
KIND_OBJECT_LEFT: Final = "object_left"
KIND_ROUTE: Final = "route"
RULE_KINDS: Final = (
    KIND_LINE,
    KIND_LOITERING,
    KIND_CROWD,
    KIND_FAST_MOVE,
    KIND_WRONG_WAY,
    KIND_OBJECT_LEFT,
    KIND_ROUTE,
)
KIND_PRIVACY_MASK: Final = "privacy_mask"
KIND_CALIBRATION: Final = "calibration"
SETTING_KINDS: Final = (KIND_PRIVACY_MASK, KIND_CALIBRATION)

# Rule subentry data (CONF_CAMERA, CONF_POLYGON and CONF_CLASSES come from const.py).
CONF_KIND: Final = "kind"
CONF_ZONE: Final = "zone"
CONF_ZONES: Final = "zones"
CONF_LINE: Final = "line"
CONF_DIRECTION: Final = "direction"
CONF_DWELL: Final = "dwell_s"
CONF_METRIC: Final = "metric"
CONF_HIGH: Final = "high"
CONF_CRITICAL: Final = "critical"
CONF_MOVEMENT: Final = "movement"
CONF_SPEED_UNIT: Final = "speed_unit"
CONF_SPEED: Final = "speed"
CONF_MIN_DURATION: Final = "min_duration_s"
CONF_ALLOWED_DIRECTION: Final = "allowed_direction"
CONF_TOLERANCE: Final = "tolerance_deg"
CONF_DETECT: Final = "detect"
CONF_STATIC: Final = "static_s"
CONF_MAX_STEP: Final = "max_step_s"
CONF_IMAGE_POINTS: Final = "image_points"
CONF_GROUND_POINTS: Final = "ground_points"
CONF_DISTANCES: Final = "distances"

SPEED_KMH: Final = "kmh"
SPEED_PX_S: Final = "px_s"

_RULE_ADAPTER: TypeAdapter[RuleSpec] = TypeAdapter(RuleSpec)


def subentry_slug(subentry_id: str) -> str:
    """Return the engine id of a subentry (the same slug engine_config.slug_id gives)."""
    return subentry_id.lower()


def rule_state_dir(hass: HomeAssistant, entry: ConfigEntry) -> Path:
    """Return where the engine keeps this entry's persisted state (line totals).

    Under `.storage`, like Home Assistant's own stores, so backups include it and the file
    editor hides it; one folder per entry, so two hubs never share totals.
    """
    return Path(hass.config.path(".storage", DOMAIN, entry.entry_id))


def _points(raw: Any) -> list[Point]:
    return [(float(x), float(y)) for x, y in raw]


def _region(data: Mapping[str, Any]) -> dict[str, Any]:
    if zone := data.get(CONF_ZONE):
        return {"zone": subentry_slug(str(zone))}
    if polygon := data.get(CONF_POLYGON):
        return {"polygon": _points(polygon)}
    return {}


def _classes(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"classes": list(data[CONF_CLASSES])} if CONF_CLASSES in data else {}


def rule_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the engine's fields of a rule subentry's kind (without `id`, `name` and `type`)."""
    kind = data[CONF_KIND]
    if kind == KIND_LINE:
        return {
            "line": _points(data[CONF_LINE]),
            "direction": data.get(CONF_DIRECTION, "both"),
            **_classes(data),
        }
    if kind == KIND_LOITERING:
        return {**_region(data), "dwell_s": float(data[CONF_DWELL]), **_classes(data)}
    if kind == KIND_CROWD:
        fields = {
            **_region(data),
            "metric": data.get(CONF_METRIC, "count"),
            "high": float(data[CONF_HIGH]),
            "critical": float(data[CONF_CRITICAL]),
        }
        if data.get(CONF_MOVEMENT):
            fields["movement"] = {}
        return fields
    if kind == KIND_FAST_MOVE:
        unit = "speed_kmh" if data.get(CONF_SPEED_UNIT) == SPEED_KMH else "speed_px_s"
        return {
            **_region(data),
            unit: float(data[CONF_SPEED]),
            "min_duration_s": float(data.get(CONF_MIN_DURATION, 1.0)),
            **_classes(data),
        }
    if kind == KIND_WRONG_WAY:
        return {
            **_region(data),
            "direction": _points(data[CONF_ALLOWED_DIRECTION]),
            "tolerance_deg": float(data.get(CONF_TOLERANCE, 45.0)),
            **_classes(data),
        }
    if kind == KIND_OBJECT_LEFT:
        return {
            **_region(data),
            "detect": list(data.get(CONF_DETECT) or ["left"]),
            "static_s": float(data.get(CONF_STATIC, 10.0)),
        }
    if kind == KIND_ROUTE:
        return {
            "zones": [subentry_slug(str(z)) for z in data.get(CONF_ZONES, [])],
            "max_step_s": float(data.get(CONF_MAX_STEP, 30.0)),
            **_classes(data),
        }
    raise ValueError(f"unknown rule kind {kind}")


def rule_spec(rule_id: str, name: str, data: Mapping[str, Any]) -> RuleSpec:
    """Return the validated engine spec of a rule subentry (raises pydantic's ValidationError)."""
    raw = {"type": data[CONF_KIND], "id": rule_id, "name": name, **rule_fields(data)}
    return _RULE_ADAPTER.validate_python(raw)


def calibration_spec(data: Mapping[str, Any]) -> GroundCalibration:
    """Return the ground calibration of a calibration subentry (raises ValidationError)."""
    raw: dict[str, Any] = {"image_points": _points(data[CONF_IMAGE_POINTS])}
    if data.get(CONF_GROUND_POINTS):
        raw["ground_points"] = _points(data[CONF_GROUND_POINTS])
    if data.get(CONF_DISTANCES):
        raw["distances"] = [float(d) for d in data[CONF_DISTANCES]]
    return GroundCalibration.model_validate(raw)


def _of_camera(entry: ConfigEntry, kind_type: str, camera_id: str) -> list[ConfigSubentry]:
    return [
        sub
        for sub in entry.subentries.values()
        if sub.subentry_type == kind_type and subentry_slug(sub.data[CONF_CAMERA]) == camera_id
    ]


def camera_calibration(entry: ConfigEntry, camera_subentry_id: str) -> GroundCalibration | None:
    """Return the calibration saved for a camera (by its subentry id), if any."""
    for sub in _of_camera(entry, SUBENTRY_CAMERA_SETTING, subentry_slug(camera_subentry_id)):
        if sub.data.get(CONF_KIND) == KIND_CALIBRATION:
            try:
                return calibration_spec(sub.data)
            except ValidationError:
                _LOGGER.warning("Calibration %s is invalid; ignored", sub.title)
    return None


def camera_masks(entry: ConfigEntry, camera_subentry_id: str) -> list[list[Point]]:
    """Return the privacy masks saved for a camera (by its subentry id)."""
    return [
        _points(sub.data[CONF_POLYGON])
        for sub in _of_camera(entry, SUBENTRY_CAMERA_SETTING, subentry_slug(camera_subentry_id))
        if sub.data.get(CONF_KIND) == KIND_PRIVACY_MASK
    ]


def zones_of_camera(entry: ConfigEntry, camera_subentry_id: str) -> list[ConfigSubentry]:
    """Return the zone subentries drawn on a camera."""
    return [
        sub
        for sub in entry.subentries.values()
        if sub.subentry_type == SUBENTRY_ZONE and sub.data.get(CONF_CAMERA) == camera_subentry_id
    ]


def _with_camera_rules(entry: ConfigEntry, camera: CameraSpec) -> CameraSpec:
    """Return the camera with its masks, calibration and every rule that fits it."""
    calibration = None
    masks: list[list[Point]] = []
    for sub in _of_camera(entry, SUBENTRY_CAMERA_SETTING, camera.id):
        if sub.data.get(CONF_KIND) == KIND_PRIVACY_MASK:
            masks.append(_points(sub.data[CONF_POLYGON]))
        elif sub.data.get(CONF_KIND) == KIND_CALIBRATION:
            try:
                calibration = calibration_spec(sub.data)
            except ValidationError:
                _LOGGER.warning("Calibration %s is invalid; ignored", sub.title)
    camera = camera.model_copy(update={"privacy_masks": masks, "calibration": calibration})
    rules: list[RuleSpec] = []
    for sub in _of_camera(entry, SUBENTRY_RULE, camera.id):
        try:
            spec = rule_spec(subentry_slug(sub.subentry_id), sub.title, sub.data)
            # A rule whose zone or calibration was removed since is left out, not the camera.
            check_camera_rules(camera.model_copy(update={"rules": [*rules, spec]}))
        except (ValidationError, ValueError) as err:
            _LOGGER.warning("Rule %s cannot run and is skipped: %s", sub.title, err)
            continue
        rules.append(spec)
    return camera.model_copy(update={"rules": rules})


def with_rules(entry: ConfigEntry, config: EngineConfig) -> EngineConfig:
    """Return the engine configuration with every camera's rules, masks and calibration."""
    cameras = [_with_camera_rules(entry, camera) for camera in config.cameras]
    return config.model_copy(update={"cameras": cameras})
