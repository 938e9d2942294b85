"""Checks the flows run before saving: streams, credentials, models and zone polygons.

Every network or decoding call goes through the executor; engine errors carry a translation
key that becomes the form error.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
import logging
from pathlib import Path
import re
from urllib.parse import unquote, urlsplit, urlunsplit

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from PIL import ImageDraw

from vigil_core.annotate import annotate, to_jpeg
from vigil_core.decode import grab_frame, probe
from vigil_core.errors import InvalidPolygon, ModelChecksumMismatch, ModelMissing, VigilError
from vigil_core.geometry.polygon import Polygon, validate_polygon
from vigil_core.inference.loader import resolve_model
from vigil_core.sources.frigate import FrigateCamera, fetch_frigate
from vigil_core.sources.onvif import OnvifProfile, fetch_onvif_device, pick_analysis_profile
from vigil_core.types import RGBImage

from .const import DETECTOR_MODEL, PROBE_TIMEOUT_S, SNAPSHOT_MAX_WIDTH

_LOGGER = logging.getLogger(__name__)

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https"})
# Engine errors a form can show as they are; anything else is "unknown".
SOURCE_ERRORS = frozenset({"cannot_connect", "invalid_auth", "not_video"})

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

type Point = tuple[float, float]


def form_error(err: Exception) -> str:
    """Return the form error key of an exception raised by a check."""
    if isinstance(err, VigilError) and err.translation_key in SOURCE_ERRORS:
        return err.translation_key
    _LOGGER.exception("Unexpected error while checking a source", exc_info=err)
    return "unknown"


def valid_stream_url(url: str) -> bool:
    """Return whether `url` is an absolute stream URL with a supported scheme and a host."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme.lower() in STREAM_SCHEMES and bool(parts.hostname)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Return the URL without userinfo, and the username and password it carried."""
    parts = urlsplit(url.strip())
    if "@" not in parts.netloc:
        return url.strip(), None, None
    host = parts.netloc.rpartition("@")[2]
    clean = urlunsplit(parts._replace(netloc=host))
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return clean, username, password


def stream_unique_id(url: str) -> str:
    """Return a camera's identity: scheme, host, port and path, never the credentials."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path}{query}"


async def async_probe_stream(hass: HomeAssistant, url: str) -> str | None:
    """Open the stream and decode a frame; return a form error key or None."""
    try:
        await hass.async_add_executor_job(partial(probe, url, timeout_s=PROBE_TIMEOUT_S))
    except Exception as err:
        return form_error(err)
    return None


async def async_grab_frame(hass: HomeAssistant, url: str) -> RGBImage:
    """Return one decoded frame of a stream (raises VigilError)."""
    frame: RGBImage = await hass.async_add_executor_job(
        partial(grab_frame, url, timeout_s=PROBE_TIMEOUT_S, max_width=SNAPSHOT_MAX_WIDTH)
    )
    return frame


def check_models(models_dir: str | None, allow_download: bool) -> str | None:
    """Return a form error when the detector model cannot be used (blocking)."""
    if models_dir and not Path(models_dir).expanduser().is_dir():
        return "models_dir_not_found"
    try:
        resolve_model(DETECTOR_MODEL, models_dir=models_dir or None, allow_download=False)
    except ModelChecksumMismatch:
        return "model_checksum"
    except ModelMissing:
        return None if allow_download else "model_missing"
    return None


def parse_polygon(text: str) -> tuple[list[Point], str | None]:
    """Parse "x,y x,y x,y" (relative 0–1) into points; return them and a form error key."""
    numbers = [float(n) for n in _NUMBER.findall(text)]
    if not numbers or len(numbers) % 2:
        return [], "polygon_invalid"
    points = list(zip(numbers[::2], numbers[1::2], strict=True))
    if len(points) < 3:
        return points, "polygon_too_few_points"
    if any(not (0.0 <= v <= 1.0) for point in points for v in point):
        return points, "polygon_outside_frame"
    try:
        validate_polygon(points)
    except InvalidPolygon:
        return points, "polygon_self_intersecting"
    return points, None


def format_polygon(points: Sequence[Sequence[float]]) -> str:
    """Return points as the text the zone form takes."""
    return " ".join(f"{x:g},{y:g}" for x, y in points)


def render_zone_picture(image: RGBImage, name: str, points: Sequence[Point]) -> bytes:
    """Draw a 0–1 coordinate grid and the zone (if any) on a frame, as JPEG (blocking).

    The grid is what lets a person type the polygon: every 0.1 of the width and height is a
    line, labelled along the top and left edges.
    """
    zones = [(name, Polygon(points), False)] if points else []
    picture = annotate(image, [], zones)
    draw = ImageDraw.Draw(picture, "RGBA")
    width, height = picture.size
    for step in range(1, 10):
        x, y = round(width * step / 10), round(height * step / 10)
        draw.line([(x, 0), (x, height)], fill=(255, 255, 255, 70), width=1)
        draw.line([(0, y), (width, y)], fill=(255, 255, 255, 70), width=1)
        label = f"0.{step}"
        draw.text((x + 2, 2), label, fill=(255, 255, 0, 230))
        draw.text((2, y + 2), label, fill=(255, 255, 0, 230))
    return to_jpeg(picture)


async def async_onvif_profiles(
    host: str, port: int, username: str, password: str
) -> list[OnvifProfile]:
    """Return the camera's video profiles that have a stream, the one to analyse first."""
    device = await fetch_onvif_device(host, port, username, password, timeout_s=PROBE_TIMEOUT_S)
    usable = [profile for profile in device.profiles if profile.stream_uri]
    best = pick_analysis_profile(usable)
    return sorted(usable, key=lambda profile: profile is not best)


def onvif_profile_label(profile: OnvifProfile) -> str:
    """Return how a profile is listed: name, encoding and size."""
    return f"{profile.name} ({profile.encoding} {profile.width}×{profile.height})"


def onvif_unique_id(host: str, port: int, profile: str) -> str:
    """Return an ONVIF camera's identity: host, port and profile token."""
    return f"onvif://{host.lower()}:{port}/{profile}"


def frigate_stream_url(camera: FrigateCamera) -> str | None:
    """Return the restream to analyse: the one Frigate's own detection reads, else the main one."""
    return camera.detect_restream_url or camera.restream_url


async def async_frigate_cameras(
    hass: HomeAssistant,
    url: str,
    username: str | None,
    password: str | None,
    verify_ssl: bool,
) -> list[FrigateCamera]:
    """Return the enabled cameras of a Frigate server that have a go2rtc restream."""
    server = await fetch_frigate(
        url,
        username=username,
        password=password,
        session=async_get_clientsession(hass, verify_ssl=verify_ssl),
        timeout_s=PROBE_TIMEOUT_S,
        verify_ssl=verify_ssl,
    )
    return [camera for camera in server.cameras if camera.enabled and frigate_stream_url(camera)]


def frigate_unique_id(url: str, camera: str) -> str:
    """Return a Frigate camera's identity: the server's address and the camera's name."""
    return f"frigate+{stream_unique_id(url).rstrip('/')}/{camera}"
