"""Turn a server's config entry and its subentries into the configuration the server runs.

The entry (one per Vigil server) and its subentries stay the single source of truth; the
server receives the whole configuration as JSON (`vigil-analytics schema` describes it),
validates it and runs it. Camera and rule ids are slugs of the subentry ids, never of names,
so renaming a camera or a zone keeps every unique id, device, history and line total.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
import logging
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ACKNOWLEDGEMENTS,
    CONF_ANALYSIS_FPS,
    CONF_CAMERA,
    CONF_CAMERA_KEY,
    CONF_CLASSES,
    CONF_CONFIDENCE,
    CONF_CONTROLLER,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DETECT_HEIGHT,
    CONF_DETECT_WIDTH,
    CONF_DETECTIONS,
    CONF_FRIGATE_CAMERA,
    CONF_INERTIA,
    CONF_MIN_DWELL,
    CONF_MOTION_GATING,
    CONF_POLYGON,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    CONF_TOPIC_PREFIX,
    DEFAULT_ANALYSIS_FPS,
    DEFAULT_CONFIDENCE,
    DEFAULT_INERTIA,
    DEFAULT_MOTION_GATING,
    DETECTIONS_FRIGATE,
    DETECTIONS_VIGIL,
    SOURCE_FRIGATE,
    SOURCE_ONVIF,
    SOURCE_STREAM,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from .privacy_flow import paperwork, retention_days

_LOGGER = logging.getLogger(__name__)

type Point = tuple[float, float]
type Json = dict[str, Any]

# Subentry types beyond cameras and zones.
SUBENTRY_RULE: Final = "rule"
SUBENTRY_CAMERA_SETTING: Final = "camera_setting"
SUBENTRY_WATCHLIST: Final = "watchlist_entry"
SUBENTRY_PLATE_READING: Final = "plate_reading"

# Rule kinds (the server's rule `type`), and the camera settings.
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

# Watchlist and plate reading subentry data.
CONF_PLATE: Final = "plate"
CONF_LABEL: Final = "label"
CONF_WATCH_REASON: Final = "reason"
CONF_EXPIRES: Final = "expires"
CONF_MAX_DISTANCE: Final = "max_distance"
CONF_LEGAL_OBLIGATION: Final = "legal_obligation"
CONF_ANPR: Final = "anpr"

# What the server asks of a watchlist entry (issue 21; vigil_core.config.WatchlistEntry).
WATCH_REASON_MIN_CHARS: Final = 10
PUBLIC_WATCH_MAX_DAYS: Final = 30
PATTERN_MIN_FIXED: Final = 4
WILDCARDS: Final = "*?"
DEFAULT_MAX_DISTANCE: Final = 0.6

# Where the server reaches the MQTT broker Frigate publishes on (hub options).
CONF_MQTT_HOST: Final = "mqtt_host"
DEFAULT_TOPIC_PREFIX: Final = "frigate"


def slug_id(subentry_id: str) -> str:
    """Return the server's id of a subentry: its ULID in lower case, a valid slug."""
    return subentry_id.lower()


def server_key(entry: ConfigEntry) -> str:
    """Return what the ids of a server's cameras start with: the server's own id.

    A server entry keeps its server (reconfiguring it to another is refused); an entry
    migrated from version 1 learns it when it is first set up, before any device is made.
    """
    return entry.unique_id or entry.entry_id


@dataclass(frozen=True, slots=True, kw_only=True)
class FrigateInfo:
    """A camera of a Frigate server: where its API is, and whose detections Vigil uses."""

    api_url: str
    username: str | None
    password: str | None
    """Frigate's login (port 8971): never log it, never expose it in an attribute."""
    verify_ssl: bool
    camera: str
    detections: str
    """``frigate``: Frigate's tracked objects over MQTT; ``vigil``: Vigil's own detector."""
    detect_size: tuple[int, int] | None
    topic_prefix: str

    @property
    def takes_frigate_detections(self) -> bool:
        """Return whether Vigil's rules run on Frigate's detections for this camera."""
        return self.detections == DETECTIONS_FRIGATE and self.detect_size is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraInfo:
    """A configured camera as the integration sees it."""

    subentry_id: str
    camera_id: str
    """The server's id of the camera (a slug of its subentry id)."""
    unique_id: str
    """What its device identifier and its entities' unique ids start with: the server's id and
    the camera's key, both unchanged when the camera is deleted and added again."""
    name: str
    source_type: str
    frigate: FrigateInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneInfo:
    """A configured zone on one camera."""

    subentry_id: str
    rule_id: str
    camera_id: str
    name: str
    polygon: tuple[Point, ...]
    classes: tuple[str, ...]
    inertia: int
    min_dwell_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleInfo:
    """A configured rule on one camera, with what its entities need to know of it."""

    subentry_id: str
    rule_id: str
    camera_id: str
    name: str
    kind: str
    data: Mapping[str, Any]
    """The rule subentry's data (direction, detect, speed unit…)."""
    calibrated: bool


# --- reading subentries ----------------------------------------------------------------------


def frigate_info(data: Mapping[str, Any]) -> FrigateInfo | None:
    """Return the Frigate side of a camera subentry, None for other sources."""
    if data.get(CONF_SOURCE_TYPE) != SOURCE_FRIGATE:
        return None
    width, height = data.get(CONF_DETECT_WIDTH), data.get(CONF_DETECT_HEIGHT)
    return FrigateInfo(
        api_url=str(data[CONF_URL]),
        username=data.get(CONF_USERNAME) or None,
        password=data.get(CONF_PASSWORD) or None,
        verify_ssl=bool(data.get(CONF_VERIFY_SSL, True)),
        camera=str(data.get(CONF_FRIGATE_CAMERA) or ""),
        detections=str(data.get(CONF_DETECTIONS, DETECTIONS_VIGIL)),
        detect_size=(int(width), int(height)) if width and height else None,
        topic_prefix=str(data.get(CONF_TOPIC_PREFIX) or DEFAULT_TOPIC_PREFIX),
    )


def camera_info(subentry: ConfigSubentry, server: str) -> CameraInfo:
    """Return the camera described by a camera subentry of the server `server` (server_key)."""
    key = subentry.data.get(CONF_CAMERA_KEY) or slug_id(subentry.subentry_id)
    return CameraInfo(
        subentry_id=subentry.subentry_id,
        camera_id=slug_id(subentry.subentry_id),
        unique_id=f"{server}_{key}",
        name=subentry.title,
        source_type=subentry.data[CONF_SOURCE_TYPE],
        frigate=frigate_info(subentry.data),
    )


def zone_info(subentry: ConfigSubentry) -> ZoneInfo:
    """Return the zone described by a zone subentry."""
    data = subentry.data
    return ZoneInfo(
        subentry_id=subentry.subentry_id,
        rule_id=slug_id(subentry.subentry_id),
        camera_id=slug_id(data[CONF_CAMERA]),
        name=subentry.title,
        polygon=tuple((float(x), float(y)) for x, y in data[CONF_POLYGON]),
        classes=tuple(data.get(CONF_CLASSES, ())),
        inertia=int(data.get(CONF_INERTIA, DEFAULT_INERTIA)),
        min_dwell_s=float(data.get(CONF_MIN_DWELL, 0.0)),
    )


def of_type(entry: ConfigEntry, subentry_type: str) -> list[ConfigSubentry]:
    """Return the entry's subentries of one type."""
    return [sub for sub in entry.subentries.values() if sub.subentry_type == subentry_type]


def cameras_of(entry: ConfigEntry) -> dict[str, CameraInfo]:
    """Return the entry's cameras by server id."""
    server = server_key(entry)
    cameras = (camera_info(sub, server) for sub in of_type(entry, SUBENTRY_CAMERA))
    return {info.camera_id: info for info in cameras}


def zones_of(entry: ConfigEntry) -> dict[str, ZoneInfo]:
    """Return the zones on known cameras, by server id."""
    cameras = cameras_of(entry)
    zones = {}
    for sub in of_type(entry, SUBENTRY_ZONE):
        zone = zone_info(sub)
        if zone.camera_id in cameras:
            zones[zone.rule_id] = zone
    return zones


def rules_of(entry: ConfigEntry) -> dict[str, RuleInfo]:
    """Return the rules that can run on known cameras, by server id.

    A rule whose zone, route zones or ground calibration was removed since is left out (with
    a warning), not sent: the server would refuse the whole configuration for it.
    """
    cameras = cameras_of(entry)
    zones = zones_of(entry)
    calibrated = {
        slug_id(sub.data[CONF_CAMERA])
        for sub in of_type(entry, SUBENTRY_CAMERA_SETTING)
        if sub.data.get(CONF_KIND) == KIND_CALIBRATION
    }
    rules = {}
    for sub in of_type(entry, SUBENTRY_RULE):
        camera_id = slug_id(sub.data[CONF_CAMERA])
        if camera_id not in cameras:
            continue
        missing = _missing_for(sub.data, camera_id, zones, camera_id in calibrated)
        if missing:
            _LOGGER.warning("Rule %s cannot run and is skipped: %s", sub.title, missing)
            continue
        rules[slug_id(sub.subentry_id)] = RuleInfo(
            subentry_id=sub.subentry_id,
            rule_id=slug_id(sub.subentry_id),
            camera_id=camera_id,
            name=sub.title,
            kind=str(sub.data[CONF_KIND]),
            data=sub.data,
            calibrated=camera_id in calibrated,
        )
    return rules


def _missing_for(
    data: Mapping[str, Any], camera_id: str, zones: Mapping[str, ZoneInfo], calibrated: bool
) -> str | None:
    """Return what a rule needs and its camera no longer has, or None."""

    def on_camera(zone: Any) -> bool:
        found = zones.get(slug_id(str(zone)))
        return found is not None and found.camera_id == camera_id

    if (zone := data.get(CONF_ZONE)) and not on_camera(zone):
        return "its zone was removed"
    if data.get(CONF_KIND) == KIND_ROUTE:
        kept = [z for z in data.get(CONF_ZONES) or [] if on_camera(z)]
        if len(kept) < 2:
            return "fewer than two of its zones remain"
    needs_calibration = (
        data.get(CONF_KIND) == KIND_CROWD and data.get(CONF_METRIC) == "density"
    ) or (data.get(CONF_KIND) == KIND_FAST_MOVE and data.get(CONF_SPEED_UNIT) == SPEED_KMH)
    if needs_calibration and not calibrated:
        return "its camera's ground calibration was removed"
    return None


# --- the server's configuration --------------------------------------------------------------


def source_of(data: Mapping[str, Any]) -> Json:
    """Return a camera subentry's source (its credentials go to the server, never to a log).

    A Frigate camera's credentials are the API's, not the restream's, so they stay out.
    """
    source_type = data[CONF_SOURCE_TYPE]
    if source_type == SOURCE_FRIGATE:
        return {"url": str(data[CONF_STREAM_URL])}
    source: Json = {
        "url": str(data[CONF_URL] if source_type == SOURCE_STREAM else data[CONF_STREAM_URL])
    }
    # Apart from the URL, so that no character of a password can be misread as its end.
    if username := data.get(CONF_USERNAME):
        source["username"] = str(username)
        if password := data.get(CONF_PASSWORD):
            source["password"] = str(password)
    return source


def _points(raw: Any) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in raw]


def _region(data: Mapping[str, Any]) -> Json:
    if zone := data.get(CONF_ZONE):
        return {"zone": slug_id(str(zone))}
    if polygon := data.get(CONF_POLYGON):
        return {"polygon": _points(polygon)}
    return {}


def _classes(data: Mapping[str, Any]) -> Json:
    return {"classes": list(data[CONF_CLASSES])} if CONF_CLASSES in data else {}


def rule_fields(data: Mapping[str, Any]) -> Json:
    """Return the server's fields of a rule subentry's kind (without `id`, `name` and `type`)."""
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
            "zones": [slug_id(str(z)) for z in data.get(CONF_ZONES, [])],
            "max_step_s": float(data.get(CONF_MAX_STEP, 30.0)),
            **_classes(data),
        }
    raise ValueError(f"unknown rule kind {kind}")


def rule_config(rule_id: str, name: str, data: Mapping[str, Any]) -> Json:
    """Return the server's rule of a rule subentry."""
    return {"type": data[CONF_KIND], "id": rule_id, "name": name, **rule_fields(data)}


def calibration_config(data: Mapping[str, Any]) -> Json:
    """Return the ground calibration of a calibration subentry."""
    raw: Json = {"image_points": _points(data[CONF_IMAGE_POINTS])}
    if data.get(CONF_GROUND_POINTS):
        raw["ground_points"] = _points(data[CONF_GROUND_POINTS])
    if data.get(CONF_DISTANCES):
        raw["distances"] = [float(d) for d in data[CONF_DISTANCES]]
    return raw


def zone_config(zone: ZoneInfo) -> Json:
    """Return the server's zone of a zone subentry."""
    return {
        "id": zone.rule_id,
        "name": zone.name,
        "polygon": [list(p) for p in zone.polygon],
        "classes": list(zone.classes),
        "inertia": zone.inertia,
        "min_dwell_s": zone.min_dwell_s,
    }


def camera_settings(entry: ConfigEntry, camera_id: str) -> Json:
    """Return a camera's privacy masks and ground calibration from its setting subentries."""
    masks: list[list[list[float]]] = []
    calibration: Json | None = None
    for sub in of_type(entry, SUBENTRY_CAMERA_SETTING):
        if slug_id(sub.data[CONF_CAMERA]) != camera_id:
            continue
        if sub.data.get(CONF_KIND) == KIND_PRIVACY_MASK:
            masks.append(_points(sub.data[CONF_POLYGON]))
        elif sub.data.get(CONF_KIND) == KIND_CALIBRATION:
            calibration = calibration_config(sub.data)
    return {"privacy_masks": masks, "calibration": calibration}


def camera_config(entry: ConfigEntry, subentry: ConfigSubentry) -> Json:
    """Return the server's camera of a camera subentry, with its zones, rules and settings."""
    options = entry.options
    info = camera_info(subentry, server_key(entry))
    data = subentry.data
    camera: Json = {
        "id": info.camera_id,
        "name": info.name,
        "source": source_of(data),
        "fps": float(options.get(CONF_ANALYSIS_FPS, DEFAULT_ANALYSIS_FPS)),
        "motion": {"enabled": bool(options.get(CONF_MOTION_GATING, DEFAULT_MOTION_GATING))},
        "zones": [
            zone_config(z) for z in zones_of(entry).values() if z.camera_id == info.camera_id
        ],
        "rules": [
            rule_config(rule.rule_id, rule.name, rule.data)
            for rule in rules_of(entry).values()
            if rule.camera_id == info.camera_id
        ],
        **camera_settings(entry, info.camera_id),
    }
    if info.source_type == SOURCE_ONVIF:
        camera["onvif"] = {
            "host": str(data[CONF_HOST]),
            "port": int(data[CONF_PORT]),
            "username": str(data.get(CONF_USERNAME) or ""),
            "password": str(data.get(CONF_PASSWORD) or ""),
        }
    frigate = info.frigate
    if frigate is not None and frigate.takes_frigate_detections and frigate.detect_size:
        camera["detections"] = DETECTIONS_FRIGATE
        camera["frigate"] = {
            "camera": frigate.camera,
            "detect_size": list(frigate.detect_size),
            "topic_prefix": frigate.topic_prefix,
        }
    if anpr := data.get(CONF_ANPR):
        camera["anpr"] = dict(anpr)
    return camera


def watchlist_entry_config(entry_id: str, data: Mapping[str, Any]) -> Json:
    """Return the server's watchlist entry of a watchlist subentry (never logged).

    A missing expiry is left out (the server then says ``required``), never sent as null.
    """
    raw: Json = {
        "id": entry_id,
        "plate": str(data.get(CONF_PLATE, "")),
        "label": str(data.get(CONF_LABEL, "")),
        "reason": str(data.get(CONF_WATCH_REASON) or ""),
        "legal_obligation": bool(data.get(CONF_LEGAL_OBLIGATION, False)),
    }
    expires = data.get(CONF_EXPIRES) or None
    if isinstance(expires, date | datetime):
        expires = expires.isoformat()
    if expires is not None:
        raw["expires"] = str(expires)
    if data.get(CONF_MAX_DISTANCE) is not None:
        raw["max_distance"] = float(data[CONF_MAX_DISTANCE])
    return raw


# --- watchlist entries the server would refuse (saved before issue 21) ------------------------


def public_watch_last_day(today: date) -> date:
    """Return the last expiry day a public-space watchlist entry may have, from `today`."""
    return today + timedelta(days=PUBLIC_WATCH_MAX_DAYS)


def watch_today() -> date:
    """Return the day expiries count from: the earlier of Home Assistant's and UTC's dates.

    The server counts its 30 days from its own local day; the earlier day keeps an expiry
    the form accepts within the server's limit wherever the two clocks' midnights fall.
    """
    return min(dt_util.now().date(), dt_util.utcnow().date())


def expiry_day(value: Any) -> date | None:
    """Return the day of a saved expiry (an ISO date or date-time), None when unreadable."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


def pattern_too_loose(plate: str) -> bool:
    """Return whether a pattern (with * or ?) has fewer fixed letters or digits than needed."""
    if not any(char in WILDCARDS for char in plate):
        return False
    return sum(char.isalnum() for char in plate) < PATTERN_MIN_FIXED


def watchlist_entry_problem(
    data: Mapping[str, Any], context: str | None, today: date | None = None
) -> str | None:
    """Return why the server would refuse a saved watchlist entry, or None.

    The keys are the form's errors: ``reason_missing`` (no reason of 10 characters),
    ``expiry_missing``, ``watchlist_expiry_too_long`` (public space: more than 30 days ahead),
    ``pattern_too_loose``. Entries saved before these rules existed can have any of them.
    """
    if len(str(data.get(CONF_WATCH_REASON) or "").strip()) < WATCH_REASON_MIN_CHARS:
        return "reason_missing"
    day = expiry_day(data.get(CONF_EXPIRES))
    if day is None:
        return "expiry_missing"
    if context == "public_space" and day > public_watch_last_day(today or watch_today()):
        return "watchlist_expiry_too_long"
    if pattern_too_loose(str(data.get(CONF_PLATE) or "")):
        return "pattern_too_loose"
    return None


def unsendable_watchlist_entries(entry: ConfigEntry) -> dict[str, str]:
    """Return the watchlist subentries the server would refuse: title by subentry id."""
    context = entry.data.get(CONF_DEPLOYMENT_CONTEXT) or None
    today = watch_today()
    return {
        sub.subentry_id: sub.title
        for sub in of_type(entry, SUBENTRY_WATCHLIST)
        if watchlist_entry_problem(sub.data, context, today) is not None
    }


def watchlist_config(entry: ConfigEntry) -> Json:
    """Return the watchlist of the entry's watchlist subentries.

    An entry the server would refuse (no reason or expiry, saved before they were required) is
    left out, with a warning, like a rule whose zone is gone: the server would refuse the whole
    configuration for it. issues.py raises a repair issue naming such entries.
    """
    left_out = unsendable_watchlist_entries(entry)
    if left_out:
        _LOGGER.warning(
            "Watchlist entries left out until completed: %s", ", ".join(left_out.values())
        )
    return {
        "entries": [
            watchlist_entry_config(slug_id(sub.subentry_id), sub.data)
            for sub in of_type(entry, SUBENTRY_WATCHLIST)
            if sub.subentry_id not in left_out
        ]
    }


def acknowledgements_config(entry: ConfigEntry) -> Json:
    """Return every acknowledgement stored in the entry, by detector key.

    A subentry keeps those of the detectors it runs (a zone's, a camera's plate reading);
    the hub's options keep those of hub-wide detectors (plate searches, vehicle routes).
    The key is `<rule, camera or hub>:<detector kind>` (the server checks each one).
    """
    found: Json = {}
    sources: list[tuple[str, Mapping[str, Any]]] = [
        ("hub", entry.options.get(CONF_ACKNOWLEDGEMENTS) or {})
    ]
    sources += [
        (slug_id(sub.subentry_id), sub.data.get(CONF_ACKNOWLEDGEMENTS) or {})
        for sub in entry.subentries.values()
    ]
    for scope, stored in sources:
        for kind, raw in dict(stored).items():
            if isinstance(raw, Mapping) and raw.get("detector") == kind:
                found[f"{scope}:{kind}"] = dict(raw)
    return found


def privacy_config(entry: ConfigEntry) -> Json:
    """Return the privacy settings: context, acknowledgements, retention, controller, paperwork."""
    controller = {
        str(k): str(v).strip() for k, v in dict(entry.options.get(CONF_CONTROLLER) or {}).items()
    }
    privacy: Json = {
        "context": entry.data.get(CONF_DEPLOYMENT_CONTEXT) or None,
        "acknowledgements": acknowledgements_config(entry),
        # Clamped as the options form saves it: an entry saved before the server's bounds
        # changed (plate hashes 30 days) would make it refuse the whole configuration.
        "retention": retention_days(entry.options),
        "controller": controller,
        "paperwork": paperwork_config(entry),
    }
    return privacy


def paperwork_config(entry: ConfigEntry) -> Json:
    """Return the paperwork of the options: the assessment, the authorisation, the signs."""
    return paperwork(entry.options)


def server_config(entry: ConfigEntry, mqtt: Json | None = None) -> Json:
    """Return the whole configuration a server entry asks its server to run.

    `mqtt` is the broker the server reaches Frigate's messages on, when a camera takes
    Frigate's detections.
    """
    config: Json = {
        "detector": {
            "confidence": float(entry.options.get(CONF_CONFIDENCE, DEFAULT_CONFIDENCE)),
        },
        "cameras": [camera_config(entry, sub) for sub in of_type(entry, SUBENTRY_CAMERA)],
        "privacy": privacy_config(entry),
        "anpr": {"watchlist": watchlist_config(entry)},
    }
    if mqtt is not None:
        config["frigate_mqtt"] = mqtt
    return config


def needs_frigate_mqtt(entry: ConfigEntry) -> bool:
    """Return whether a camera takes Frigate's detections (the server needs the broker)."""
    return any(
        (info.frigate is not None and info.frigate.takes_frigate_detections)
        for info in cameras_of(entry).values()
    )
