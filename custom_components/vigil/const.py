"""Constants of the Vigil integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DOMAIN: Final = "vigil"
MANUFACTURER: Final = "Vigil"

# Server entry data (one entry per Vigil server): where it is and its token.
CONF_TOKEN: Final = "token"
CONF_SERVER_ID: Final = "server_id"
DEFAULT_PORT: Final = 8765
ZEROCONF_TYPE: Final = "_vigil._tcp.local."
SERVER_ISSUE_AFTER: Final = timedelta(minutes=5)
"""A server unreachable this long gets a repair issue (entities are unavailable at once)."""

# Hub entry options.
CONF_ANALYSIS_FPS: Final = "analysis_fps"
CONF_CONFIDENCE: Final = "confidence"
CONF_MOTION_GATING: Final = "motion_gating"
DEFAULT_ANALYSIS_FPS: Final = 5.0
DEFAULT_CONFIDENCE: Final = 0.25
DEFAULT_MOTION_GATING: Final = True

# Subentry types.
SUBENTRY_CAMERA: Final = "camera"
SUBENTRY_ZONE: Final = "zone"

# Camera subentry data.
CONF_SOURCE_TYPE: Final = "source_type"
SOURCE_STREAM: Final = "stream"
SOURCE_ONVIF: Final = "onvif"
SOURCE_FRIGATE: Final = "frigate"
SOURCE_TYPES: Final = (SOURCE_STREAM, SOURCE_ONVIF, SOURCE_FRIGATE)
CONF_CAMERA_KEY: Final = "camera_key"
"""What a camera's device and entities are keyed on (server_config.camera_key): written when the
camera is added, kept when it is reconfigured, the same when it is deleted and added again."""
CONF_PROFILE: Final = "profile"
CONF_STREAM_URL: Final = "stream_url"
CONF_FRIGATE_CAMERA: Final = "frigate_camera"
# Frigate cameras (frigate_flow.py): whose detections, Frigate's detect size and MQTT prefix.
CONF_FRIGATE_CAMERAS: Final = "frigate_cameras"
CONF_DETECTIONS: Final = "detections"
DETECTIONS_FRIGATE: Final = "frigate"
DETECTIONS_VIGIL: Final = "vigil"
CONF_DETECT_WIDTH: Final = "detect_width"
CONF_DETECT_HEIGHT: Final = "detect_height"
CONF_TOPIC_PREFIX: Final = "topic_prefix"
CONF_IMPORT_ZONES: Final = "import_zones"

# Zone subentry data.
CONF_CAMERA: Final = "camera"
CONF_POLYGON: Final = "polygon"
CONF_CLASSES: Final = "classes"
CONF_INERTIA: Final = "inertia"
CONF_MIN_DWELL: Final = "min_dwell_s"
DEFAULT_CLASSES: Final = ("person",)
DEFAULT_INERTIA: Final = 3

# Classes the default detector keeps (the server's DetectorSpec): zones may watch any of them.
OBJECT_CLASSES: Final = ("person", "bicycle", "car", "motorcycle", "bus", "truck")

PROBE_TIMEOUT_S: Final = 10.0
SNAPSHOT_MAX_WIDTH: Final = 1280
IMAGE_INTERVAL: Final = timedelta(seconds=10)
STREAM_ISSUE_AFTER: Final = timedelta(minutes=5)
"""A stream failing this long gets a repair issue (its entities are unavailable at once)."""

# Privacy (privacy.py): deployment context (hub data), retention, controller and paperwork (hub
# options), acknowledgements of gated detectors (in the subentry that runs them, by detector kind).
CONF_DEPLOYMENT_CONTEXT: Final = "deployment_context"
CONF_CHANGE_REASON: Final = "change_reason"
CONF_RETENTION: Final = "retention"
CONF_CONTROLLER: Final = "controller"
CONF_PAPERWORK: Final = "paperwork"
CONF_ACKNOWLEDGEMENTS: Final = "privacy_acknowledgements"
CONF_LEGAL_BASIS: Final = "legal_basis"
CONF_JUSTIFICATION: Final = "justification"
CONF_ACKNOWLEDGED_BY: Final = "acknowledged_by"
CONF_CONFIRM: Final = "confirm"
CONF_REASON: Final = "reason"
PURGE_INTERVAL: Final = timedelta(hours=6)
