"""Turn the hub entry and its subentries into the engine's configuration.

Camera and rule ids are slugs of the subentry ids, never of names, so renaming a camera or a
zone keeps every unique id, device and history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME

from vigil_core.config import (
    CameraSpec,
    DetectorSpec,
    EngineConfig,
    MotionSpec,
    SourceSpec,
    ZoneSpec,
)

from .anpr_config import with_anpr
from .const import (
    CONF_ANALYSIS_FPS,
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_CONFIDENCE,
    CONF_INERTIA,
    CONF_MIN_DWELL,
    CONF_MOTION_GATING,
    CONF_POLYGON,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    DEFAULT_ANALYSIS_FPS,
    DEFAULT_CONFIDENCE,
    DEFAULT_INERTIA,
    DEFAULT_MOTION_GATING,
    SOURCE_FRIGATE,
    SOURCE_STREAM,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from .frigate_data import FrigateInfo, frigate_camera_fields, frigate_info
from .rule_config import with_rules

_LOGGER = logging.getLogger(__name__)

type Point = tuple[float, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraInfo:
    """A configured camera as the integration sees it."""

    subentry_id: str
    camera_id: str
    name: str
    source_type: str
    url: str
    """Stream URL with credentials: never log it, never expose it in an attribute."""
    frigate: FrigateInfo | None = None
    """A Frigate camera's server and detection mode (frigate_data.py)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneInfo:
    """A configured zone rule on one camera."""

    subentry_id: str
    rule_id: str
    camera_id: str
    name: str
    polygon: tuple[Point, ...]
    classes: tuple[str, ...]
    inertia: int
    min_dwell_s: float = 0.0
    """Seconds inside before the zone reports an entry: a dwell time makes it a loitering alert."""


def slug_id(subentry_id: str) -> str:
    """Return the engine id of a subentry: its ULID in lower case, a valid slug."""
    return subentry_id.lower()


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """Return `url` with the credentials put into its authority (replacing any there)."""
    if not username:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = quote(username, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def source_url(data: Mapping[str, Any]) -> str:
    """Return the stream URL (with credentials) a camera subentry points at.

    A Frigate camera's credentials are the API's, not the restream's, so they stay out.
    """
    source_type = data[CONF_SOURCE_TYPE]
    if source_type == SOURCE_FRIGATE:
        return str(data[CONF_STREAM_URL])
    base = data[CONF_URL] if source_type == SOURCE_STREAM else data[CONF_STREAM_URL]
    return with_credentials(str(base), data.get(CONF_USERNAME), data.get(CONF_PASSWORD))


def camera_info(subentry: ConfigSubentry) -> CameraInfo:
    """Return the camera described by a camera subentry."""
    return CameraInfo(
        subentry_id=subentry.subentry_id,
        camera_id=slug_id(subentry.subentry_id),
        name=subentry.title,
        source_type=subentry.data[CONF_SOURCE_TYPE],
        url=source_url(subentry.data),
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


def configured(entry: ConfigEntry) -> tuple[dict[str, CameraInfo], dict[str, ZoneInfo]]:
    """Return the cameras and the zones (on known cameras) of an entry, by engine id."""
    cameras = {
        info.camera_id: info
        for info in (
            camera_info(sub)
            for sub in entry.subentries.values()
            if sub.subentry_type == SUBENTRY_CAMERA
        )
    }
    zones: dict[str, ZoneInfo] = {}
    for sub in entry.subentries.values():
        if sub.subentry_type != SUBENTRY_ZONE:
            continue
        zone = zone_info(sub)
        if zone.camera_id not in cameras:
            _LOGGER.warning("Zone %s refers to a camera that was removed; skipped", zone.name)
            continue
        zones[zone.rule_id] = zone
    return cameras, zones


def build_engine_config(
    entry: ConfigEntry,
    cameras: Mapping[str, CameraInfo],
    zones: Mapping[str, ZoneInfo],
    models_dir: Path | None,
) -> EngineConfig:
    """Return the engine configuration for the entry's cameras, zones and options."""
    options = entry.options
    fps = float(options.get(CONF_ANALYSIS_FPS, DEFAULT_ANALYSIS_FPS))
    motion = MotionSpec(enabled=bool(options.get(CONF_MOTION_GATING, DEFAULT_MOTION_GATING)))
    specs = [
        CameraSpec(
            id=camera.camera_id,
            name=camera.name,
            source=SourceSpec(url=camera.url),
            fps=fps,
            motion=motion,
            zones=[
                ZoneSpec(
                    id=zone.rule_id,
                    name=zone.name,
                    polygon=list(zone.polygon),
                    classes=list(zone.classes),
                    inertia=zone.inertia,
                    min_dwell_s=zone.min_dwell_s,
                )
                for zone in zones.values()
                if zone.camera_id == camera.camera_id
            ],
            **frigate_camera_fields(camera.frigate),
        )
        for camera in cameras.values()
    ]
    config = EngineConfig(
        models_dir=str(models_dir) if models_dir else None,
        detector=DetectorSpec(confidence=float(options.get(CONF_CONFIDENCE, DEFAULT_CONFIDENCE))),
        cameras=specs,
    )
    return with_anpr(entry, with_rules(entry, config))
