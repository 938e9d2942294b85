"""Read a Frigate server's version and cameras: detect resolution, go2rtc restreams, zones.

Frigate 0.14+ serves an authenticated API on port 8971 (``POST /api/login`` sets a JWT cookie,
``frigate_token`` by default) and an open one on port 5000; older servers only the open one. The
session token is sent back explicitly on each request rather than left to a cookie jar, because
aiohttp's default jar (Home Assistant's shared session has one) drops cookies that IP-address
hosts set, and Frigate is mostly reached by IP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import json
import logging
import math
import re
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from vigil_core.errors import AuthFailed, FrigateConfigInvalid, SourceUnavailable

_LOGGER = logging.getLogger(__name__)

_VERSION: Final = re.compile(r"\d+\.\d+(\.\d+)?\S{0,40}")
_GO2RTC_RTSP_PORT: Final = 8554
_LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_AUTH_STATUSES: Final = frozenset({401, 403})
_MAX_PIXELS: Final = 100_000
"""Largest detect width or height read (8K is 7680)."""
_MAX_FPS: Final = 1000.0

type Polygon = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class FrigateCamera:
    """One camera of a Frigate server, with its zones as relative (0–1) polygons.

    ``restream_url`` is go2rtc's RTSP restream named after the camera; ``detect_restream_url`` is
    the go2rtc restream Frigate's own detect role reads (often a sub-stream), when it reads one.
    Neither carries credentials.
    """

    name: str
    width: int | None
    height: int | None
    fps: float | None
    enabled: bool
    restream_url: str | None
    zones: Mapping[str, Polygon] = field(hash=False)
    objects: tuple[str, ...]
    detect_restream_url: str | None = None
    friendly_name: str | None = None
    """The camera's display name (0.17+)."""
    zone_objects: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    """The classes each zone counts (none listed: every class)."""
    zone_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """The zones' display names (0.17+)."""


@dataclass(frozen=True, slots=True)
class FrigateServer:
    """A Frigate server: its version string and its cameras in configuration order."""

    version: str
    cameras: tuple[FrigateCamera, ...]
    topic_prefix: str = "frigate"
    """The MQTT topic prefix Frigate publishes under (``mqtt.topic_prefix``)."""
    skipped: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """Cameras left out because their section cannot be read, with the reason."""


class MalformedCamera(ValueError):
    """A camera's section of ``/api/config`` holds a field of a shape Frigate never writes."""


async def fetch_frigate(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    session: aiohttp.ClientSession | None = None,
    timeout_s: float = 10.0,
    verify_ssl: bool = True,
) -> FrigateServer:
    """Log in when credentials are given, then read ``/api/version`` and ``/api/config``.

    Pass ``verify_ssl=False`` for port 8971's self-signed certificate.
    """
    base = _base_url(url)
    http = session or aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    api = _Api(http, base, ssl=verify_ssl)
    try:
        async with asyncio.timeout(timeout_s):
            if username:
                await api.login(username, password or "")
            version = await api.version()
            config = await api.config()
    except TimeoutError as err:
        raise api.unavailable(f"did not answer within {timeout_s:g} s") from err
    except aiohttp.ClientConnectorCertificateError as err:
        raise api.unavailable("presented a certificate that cannot be verified") from err
    except (aiohttp.ClientError, OSError) as err:
        _LOGGER.debug("Frigate at %s: %s", api.where, type(err).__name__)
        raise api.unavailable("cannot be reached") from err
    finally:
        if session is None:
            await api.session.close()
    return frigate_server(version, config, host=base.host or "", where=api.where)


def frigate_server(
    version: str, config: Mapping[str, Any], *, host: str, where: str
) -> FrigateServer:
    """Read a ``/api/config`` answer (parsed JSON); restreams point at ``host``.

    A camera whose section holds a field of the wrong shape is left out (named in
    `FrigateServer.skipped`); FrigateConfigInvalid when no camera at all can be read.
    """
    cameras, skipped = _cameras(config, host)
    if skipped and not cameras:
        name, reason = next(iter(skipped.items()))
        raise FrigateConfigInvalid(
            f"Frigate at {where} sent a /api/config Vigil cannot read: camera {name}: {reason}",
            {"url": where, "camera": name, "reason": reason},
        )
    return FrigateServer(
        version=version,
        cameras=cameras,
        topic_prefix=str(_mapping(config.get("mqtt")).get("topic_prefix") or "frigate"),
        skipped=MappingProxyType(skipped),
    )


def zone_polygon(coordinates: Any, width: int | None, height: int | None) -> Polygon:
    """Convert Frigate zone coordinates into a relative (0–1) polygon.

    Frigate ≤ 0.13 keeps pixels at the detect resolution, 0.14+ relative values, either as one
    ``"x1,y1,x2,y2,…"`` string or as a list of ``"x,y"`` strings. As in Frigate, any value above
    1 makes the whole polygon pixels. Raise ValueError when the coordinates cannot be a polygon.
    """
    if isinstance(coordinates, str):
        parts = coordinates.split(",")
    elif isinstance(coordinates, Sequence):
        parts = [part for point in coordinates for part in str(point).split(",")]
    else:
        raise ValueError(f"zone coordinates of type {type(coordinates).__name__}")
    values = [float(part) for part in parts]
    if not all(math.isfinite(value) for value in values):
        raise ValueError("zone coordinates that are not finite numbers")
    if len(values) < 6 or len(values) % 2:
        raise ValueError("a zone needs at least three x,y points")
    scale_x, scale_y = 1.0, 1.0
    if any(value > 1 for value in values):
        if not width or not height:
            raise ValueError("pixel coordinates without a detect resolution")
        scale_x, scale_y = float(width), float(height)
    return tuple(
        (_unit(values[i] / scale_x), _unit(values[i + 1] / scale_y))
        for i in range(0, len(values), 2)
    )


@dataclass(slots=True)
class _Api:
    """Requests to one Frigate server, carrying the session token once logged in."""

    session: aiohttp.ClientSession
    base: URL
    ssl: bool = True
    token_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """Return the server's origin for messages, without credentials."""
        return str(self.base.origin())

    def unavailable(self, why: str) -> SourceUnavailable:
        """Build the error for a server that cannot be used, naming it."""
        return SourceUnavailable(f"Frigate at {self.where} {why}", {"url": self.where})

    async def login(self, username: str, password: str) -> None:
        """Log in and keep the session cookie; servers without ``/api/login`` need none."""
        body = {"user": username, "password": password}
        async with self.session.post(
            self.base / "api" / "login", json=body, ssl=self.ssl
        ) as response:
            if response.status in _AUTH_STATUSES:
                raise AuthFailed(
                    f"Frigate at {self.where} refused the credentials", {"url": self.where}
                )
            if response.status == 404:
                _LOGGER.debug("Frigate at %s has no login endpoint (before 0.14)", self.where)
                return
            if response.status == 429:
                raise self.unavailable("refuses logins for now after too many failed attempts")
            if response.status != 200:
                raise self.unavailable(f"answered HTTP {response.status} to the login")
            self.token_cookies = {name: morsel.value for name, morsel in response.cookies.items()}
        if not self.token_cookies:
            raise self.unavailable("accepted the login but set no session cookie")

    async def version(self) -> str:
        """Return the version string; anything else there means this is not Frigate."""
        text = (await self._get("version")).strip()
        if not _VERSION.fullmatch(text):
            raise self.unavailable("is not a Frigate server (unexpected /api/version answer)")
        return text

    async def config(self) -> dict[str, Any]:
        """Return the parsed ``/api/config``."""
        try:
            config = json.loads(await self._get("config"))
        except ValueError as err:
            raise self.unavailable("sent a /api/config that is not JSON") from err
        if not isinstance(config, dict) or not isinstance(config.get("cameras"), dict):
            raise self.unavailable("sent a /api/config without cameras")
        return config

    async def _get(self, endpoint: str) -> str:
        """Return the text of ``/api/<endpoint>``, with the session token when there is one."""
        async with self.session.get(
            self.base / "api" / endpoint, cookies=self.token_cookies, ssl=self.ssl
        ) as response:
            if response.status in _AUTH_STATUSES:
                raise AuthFailed(
                    f"Frigate at {self.where} requires a valid login", {"url": self.where}
                )
            if response.status != 200:
                raise self.unavailable(
                    f"answered HTTP {response.status} to /api/{endpoint}: not a Frigate server"
                )
            return await response.text()


def _base_url(url: str) -> URL:
    """Return the server's base URL without credentials, query or a trailing ``/api``."""
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    try:
        parsed = URL(text)
    except ValueError as err:
        raise SourceUnavailable("the Frigate URL is not valid", {"url": ""}) from err
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise SourceUnavailable("the Frigate URL is not an http(s) URL", {"url": ""})
    path = parsed.path.rstrip("/").removesuffix("/api")
    return parsed.with_user(None).with_query(None).with_fragment(None).with_path(path or "/")


def _cameras(
    config: Mapping[str, Any], host: str
) -> tuple[tuple[FrigateCamera, ...], dict[str, str]]:
    """Build every camera of a ``/api/config`` answer, restreams pointing at ``host``.

    Return the cameras, and those left out (a field of the wrong shape) with the reason.
    """
    go2rtc = _mapping(config.get("go2rtc"))
    streams = frozenset(_mapping(go2rtc.get("streams")))
    port = _rtsp_port(go2rtc)
    cameras: list[FrigateCamera] = []
    skipped: dict[str, str] = {}
    for name, camera in _mapping(config.get("cameras")).items():
        if not isinstance(camera, Mapping):
            continue
        try:
            cameras.append(_camera(str(name), camera, streams, host, port))
        except MalformedCamera as err:
            _LOGGER.warning("Skipping Frigate camera %s: %s", name, err)
            skipped[str(name)] = str(err)
    return tuple(cameras), skipped


def _camera(
    name: str, camera: Mapping[str, Any], streams: frozenset[str], host: str, port: int | None
) -> FrigateCamera:
    """Build one camera from its ``/api/config`` section."""
    detect = _mapping(camera.get("detect"))
    width = _int(detect.get("width"), "detect.width", _MAX_PIXELS)
    height = _int(detect.get("height"), "detect.height", _MAX_PIXELS)
    detect_stream = _detect_stream(camera, streams, port)
    return FrigateCamera(
        name=name,
        width=width,
        height=height,
        fps=_number(detect.get("fps"), "detect.fps", _MAX_FPS),
        enabled=bool(camera.get("enabled", True)),
        restream_url=_rtsp_url(host, port, name) if name in streams else None,
        zones=MappingProxyType(_zones(name, camera, width, height)),
        objects=_labels(_mapping(camera.get("objects")).get("track"), "objects.track"),
        detect_restream_url=_rtsp_url(host, port, detect_stream) if detect_stream else None,
        friendly_name=_name(camera.get("friendly_name")),
        zone_objects=MappingProxyType(
            {
                zone: _labels(_mapping(spec).get("objects"), f"zones.{zone}.objects")
                for zone, spec in _mapping(camera.get("zones")).items()
            }
        ),
        zone_names=MappingProxyType(
            {
                zone: title
                for zone, spec in _mapping(camera.get("zones")).items()
                if (title := _name(_mapping(spec).get("friendly_name")))
            }
        ),
    )


def _name(value: Any) -> str | None:
    """Return a display name from the config, None when it is missing or blank."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def _zones(
    camera_name: str, camera: Mapping[str, Any], width: int | None, height: int | None
) -> dict[str, Polygon]:
    """Convert a camera's zones, skipping (and logging) any that is not a polygon."""
    zones: dict[str, Polygon] = {}
    for zone_name, zone in _mapping(camera.get("zones")).items():
        try:
            zones[zone_name] = zone_polygon(_mapping(zone).get("coordinates"), width, height)
        except ValueError as err:
            _LOGGER.warning("Skipping Frigate zone %s/%s: %s", camera_name, zone_name, err)
    return zones


def _detect_stream(
    camera: Mapping[str, Any], streams: frozenset[str], port: int | None
) -> str | None:
    """Return the go2rtc stream Frigate's detect input reads, if it reads one."""
    inputs = _mapping(camera.get("ffmpeg")).get("inputs")
    for index, item in enumerate(_list(inputs, "ffmpeg.inputs")):
        if not isinstance(item, Mapping):
            continue
        if "detect" not in _list(item.get("roles"), f"ffmpeg.inputs.{index}.roles"):
            continue
        try:
            parts = urlsplit(str(item.get("path", "")))
            input_port = parts.port
        except ValueError:
            continue
        stream = parts.path.lstrip("/")
        if parts.hostname in _LOCAL_HOSTS and input_port == port and stream in streams:
            return stream
    return None


def _rtsp_port(go2rtc: Mapping[str, Any]) -> int | None:
    """Return go2rtc's RTSP port (``rtsp.listen``, default 8554), None when RTSP is off."""
    listen = _mapping(go2rtc.get("rtsp")).get("listen")
    if listen is None:
        return _GO2RTC_RTSP_PORT
    port = str(listen).rpartition(":")[2]
    # ASCII digits only: "²" passes isdigit() but not int().
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) <= 65535:
        return None
    return int(port)


def _rtsp_url(host: str, port: int | None, stream: str) -> str | None:
    """Return go2rtc's RTSP URL for a stream, None when go2rtc serves no RTSP."""
    if port is None or not host:
        return None
    return str(URL.build(scheme="rtsp", host=host, port=port, path=f"/{stream}"))


def _mapping(value: Any) -> Mapping[str, Any]:
    """Return a config section, or an empty one when it is missing or not a mapping."""
    return value if isinstance(value, Mapping) else {}


def _number(value: Any, where: str, limit: float) -> float | None:
    """Return a positive number from the config, None when absent or not a number.

    Raise MalformedCamera for a number no Frigate writes: infinite, NaN or above `limit`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number > limit:
        raise MalformedCamera(f"{where} is not a usable number ({str(value)[:20]})")
    return number if number > 0 else None


def _int(value: Any, where: str, limit: float) -> int | None:
    """Return a positive config number as an int."""
    number = _number(value, where, limit)
    return None if number is None else int(number)


def _list(value: Any, where: str) -> list[Any]:
    """Return a config list; empty when absent, MalformedCamera when it is something else."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedCamera(f"{where} is not a list")
    return value


def _labels(value: Any, where: str) -> tuple[str, ...]:
    """Return a list of object labels (strings)."""
    labels = _list(value, where)
    if not all(isinstance(label, str) for label in labels):
        raise MalformedCamera(f"{where} holds something other than labels")
    return tuple(labels)


def _unit(value: float) -> float:
    """Clamp a relative coordinate into 0–1, rounded past float noise."""
    return round(min(max(value, 0.0), 1.0), 6)
