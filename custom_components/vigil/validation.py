"""Checks the flows run on what is typed, and how the server's answers become form errors.

Shapes are checked here with `vigil_protocol.shapes`, the rules the server applies, so a form
says at once what is wrong with a polygon or a line; everything else (streams, ONVIF, Frigate,
thresholds, plates) is checked by the server, whose errors carry translation keys.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
import hashlib
import logging
import re
from urllib.parse import urlsplit

import vigil_protocol as vp
from vigil_protocol.shapes import ShapeError, ShapeProblem, check_line, check_polygon
from vigil_protocol.urls import ambiguous_at, split_credentials

from .client import ServerError, VigilClientError

_LOGGER = logging.getLogger(__name__)

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https"})
SOURCE_ERRORS = frozenset(
    {
        "cannot_connect",
        "invalid_auth",
        "not_video",
        "invalid_url",
        "url_ambiguous",
        "timeout",
        "not_found",
        "frigate_config_invalid",
    }
)
"""The server's errors about a camera, a stream or a Frigate server that forms show as is."""
SERVER_UNREACHABLE = "server_unreachable"
"""The form error when the Vigil server itself does not answer (not the camera)."""

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

type Point = tuple[float, float]


def form_error(err: Exception) -> str:
    """Return the form error key of a failed request about a source."""
    if isinstance(err, ServerError) and err.translation_key in SOURCE_ERRORS:
        return err.translation_key
    if isinstance(err, VigilClientError) and not isinstance(err, ServerError):
        _LOGGER.debug("The Vigil server did not answer: %s", err)
        return SERVER_UNREACHABLE
    _LOGGER.error("Unexpected answer while checking a source: %s", err)
    return "unknown"


def field_errors(
    fields: Iterable[vp.FieldError],
    prefix: str,
    form_fields: Mapping[str, str],
    known: Iterable[str],
    *,
    default: str = "base",
    fallback_base: str = "invalid_settings",
) -> dict[str, str]:
    """Return the form errors of the server's field errors under `prefix` (a dotted path).

    `form_fields` maps a field of the server's configuration to the form's field; a part of
    the path that is none (a rule's kind tag, a date's alternatives) is skipped, and an error
    on no known field goes on `default`. A translation key the form does not know becomes
    ``invalid_value`` on a field, or `fallback_base` on the base.
    """
    known = frozenset(known)
    errors: dict[str, str] = {}
    for field in fields:
        if field.loc != prefix and not field.loc.startswith(prefix + "."):
            continue
        parts = field.loc[len(prefix) :].strip(".").split(".")
        target = next((form_fields[p] for p in parts if p in form_fields), default)
        key = field.translation_key
        if key not in known:
            key = "invalid_value" if target != "base" else fallback_base
        errors.setdefault(target, key)
    return errors


# --- stream addresses ------------------------------------------------------------------------


def valid_stream_url(url: str) -> bool:
    """Return whether `url` is an absolute stream URL with a supported scheme and a host.

    The credentials are split off first, the way the server reads them: a password may hold an
    unencoded ``#``, ``/``, ``?`` or ``@``.
    """
    try:
        parts = urlsplit(split_credentials(url)[0])
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme.lower() in STREAM_SCHEMES and bool(parts.hostname)


def stream_url_error(url: str) -> str | None:
    """Return the form error of a typed stream URL, or None when the server can be asked.

    ``url_ambiguous``: ``host:port/…@…`` reads as a password holding an unencoded ``/`` as well
    as a path holding an ``@``; the server refuses to guess.
    """
    if not valid_stream_url(url):
        return "invalid_url"
    rest = split_credentials(url)[0].partition("://")[2]
    if ambiguous_at(rest):
        return "url_ambiguous"
    return None


def stream_unique_id(url: str) -> str:
    """Return a camera's identity: scheme, host, port and path, never the credentials."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path}{query}"


def camera_key(identity: str) -> str:
    """Return the key of a camera: a digest of what identifies it (its subentry's unique id).

    The identity is the stream's address, the ONVIF profile or the Frigate camera, so adding
    the same camera again after deleting it gives the same key (and its device and entities
    their ids back). A digest, so that no address is spread into the registries' ids.
    """
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def free_camera_key(identity: str, taken: Collection[str]) -> str:
    """Return a camera's key, or the first free one after it when another camera has it.

    Another camera of the server has it when it was reconfigured away from this identity (it
    keeps its key): the new camera then gets its own, the same each time it is added again.
    """
    key, number = camera_key(identity), 1
    while key in taken:
        number += 1
        key = camera_key(f"{identity}#{number}")
    return key


def onvif_profile_label(profile: vp.OnvifProfile) -> str:
    """Return how a profile is listed: name, encoding and size."""
    return f"{profile.name} ({profile.encoding} {profile.width}×{profile.height})"


def onvif_unique_id(host: str, port: int, profile: str) -> str:
    """Return an ONVIF camera's identity: host, port and profile token."""
    return f"onvif://{host.lower()}:{port}/{profile}"


def discovered_label(device: vp.DiscoveredDevice) -> str:
    """Return how a device found by WS-Discovery is listed: name, model and address."""
    what = device.name if device.hardware in device.name else f"{device.name} {device.hardware}"
    return f"{what.strip() or 'ONVIF camera'} ({device.host}:{device.port})"


def frigate_stream_url(camera: vp.FrigateCamera) -> str | None:
    """Return the restream to analyse: the one Frigate's own detection reads, else the main one."""
    return camera.detect_restream_url or camera.restream_url


def frigate_unique_id(url: str, camera: str) -> str:
    """Return a Frigate camera's identity: the server's address and the camera's name."""
    return f"frigate+{stream_unique_id(url).rstrip('/')}/{camera}"


# --- shapes typed as text --------------------------------------------------------------------


def parse_numbers(text: str) -> list[float]:
    """Return the numbers written in a text field."""
    return [float(n) for n in _NUMBER.findall(text)]


def parse_polygon(text: str) -> tuple[list[Point], str | None]:
    """Parse "x,y x,y x,y" (relative 0–1) into points; return them and a form error key."""
    numbers = parse_numbers(text)
    if not numbers or len(numbers) % 2:
        return [], "polygon_invalid"
    points = list(zip(numbers[::2], numbers[1::2], strict=True))
    return points, polygon_error(points)


def polygon_error(points: Sequence[Sequence[float]]) -> str | None:
    """Return the error key of a polygon the server would refuse, or None."""
    try:
        check_polygon(points)
    except ShapeError as err:
        return err.problem.value
    return None


_LINE_ERRORS = {
    ShapeProblem.OUTSIDE_FRAME: "line_outside_frame",
    ShapeProblem.LINE_TOO_SHORT: "line_zero_length",
}


def parse_line(text: str) -> tuple[list[Point], str | None]:
    """Parse two "x,y" points (relative 0–1); return them and a form error key."""
    numbers = parse_numbers(text)
    if len(numbers) != 4:
        return [], "line_invalid"
    points = [(numbers[0], numbers[1]), (numbers[2], numbers[3])]
    return points, line_error(points)


def line_error(points: Sequence[Sequence[float]]) -> str | None:
    """Return the error key of a line the server would refuse, or None."""
    try:
        check_line(points)
    except ShapeError as err:
        return _LINE_ERRORS.get(err.problem, "line_invalid")
    return None


def format_points(points: Sequence[Sequence[float]]) -> str:
    """Return points as the text the forms take."""
    return " ".join(f"{x:g},{y:g}" for x, y in points)
