"""What a Frigate camera subentry holds, and the engine settings it becomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME, CONF_VERIFY_SSL

from vigil_core.config import FrigateDetectionSpec

from .const import (
    CONF_DETECT_HEIGHT,
    CONF_DETECT_WIDTH,
    CONF_DETECTIONS,
    CONF_FRIGATE_CAMERA,
    CONF_SOURCE_TYPE,
    CONF_TOPIC_PREFIX,
    DETECTIONS_FRIGATE,
    DETECTIONS_VIGIL,
    SOURCE_FRIGATE,
)

DEFAULT_TOPIC_PREFIX = "frigate"


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


def frigate_info(data: Mapping[str, Any]) -> FrigateInfo | None:
    """Return the Frigate side of a camera subentry, None for other sources.

    Cameras added before Vigil could take Frigate's detections have no detection mode: they
    keep Vigil's own.
    """
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


def frigate_camera_fields(info: FrigateInfo | None) -> dict[str, Any]:
    """Return the engine camera fields of a camera taking Frigate's detections, else none."""
    if info is None or not info.takes_frigate_detections or info.detect_size is None:
        return {}
    return {
        "detections": DETECTIONS_FRIGATE,
        "frigate": FrigateDetectionSpec(
            camera=info.camera, detect_size=info.detect_size, topic_prefix=info.topic_prefix
        ),
    }
