"""Read an ONVIF camera's identity, video profiles and stream URIs through onvif-zeep-async.

Works with onvif-zeep-async 3.x (httpx transport, Home Assistant ≤ 2025.x) and 4.x (aiohttp
transport): only the public ``ONVIFCamera`` API both share is used, and the transport errors of both
are translated into Vigil's errors. Stream and snapshot URIs leave this module without credentials;
``with_credentials`` puts them back where a URI is actually opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp
import onvif  # type: ignore[import-untyped, unused-ignore]
from onvif import ONVIFCamera  # type: ignore[import-untyped, unused-ignore]
from onvif.exceptions import ONVIFError  # type: ignore[import-untyped, unused-ignore]
from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError

from vigil_core.errors import AuthFailed, SourceUnavailable, VigilError

try:
    import httpx
except ImportError:  # pragma: no cover - 4.x moved to aiohttp; httpx only carries 3.x errors
    _HTTPX_ERRORS: tuple[type[Exception], ...] = ()
else:
    _HTTPX_ERRORS = (httpx.HTTPError,)

_LOGGER = logging.getLogger(__name__)

# 3.x resolves its default WSDL folder outside the package; naming it works on both majors.
_WSDL_DIR: Final = str(Path(onvif.__file__).parent / "wsdl")
_ANALYSABLE: Final = frozenset({"H264", "H265"})
_MIN_ANALYSIS_WIDTH: Final = 320
_CREDENTIAL_KEYS: Final = frozenset(
    {"user", "username", "usr", "password", "pass", "passwd", "pwd"}
)
_AUTH_STATUSES: Final = frozenset({401, 403})
LIBRARY_ERRORS: Final[tuple[type[BaseException], ...]] = (
    ONVIFError,
    Fault,
    TransportError,
    XMLParseError,
    XMLSyntaxError,
    aiohttp.ClientError,
    OSError,
    *_HTTPX_ERRORS,
    # Cameras that omit required elements surface as attribute or type errors in parsing.
    AttributeError,
    TypeError,
    ValueError,
    KeyError,
    IndexError,
)
_LIBRARY_ERRORS: Final = LIBRARY_ERRORS
_STREAM_SETUP: Final = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}


@dataclass(frozen=True, slots=True)
class OnvifDeviceInfo:
    """What the camera says it is (GetDeviceInformation); empty strings where it says nothing."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclass(frozen=True, slots=True)
class OnvifProfile:
    """One media profile: its video encoder settings and its URIs, without credentials."""

    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: float | None
    stream_uri: str | None
    snapshot_uri: str | None


@dataclass(frozen=True, slots=True)
class OnvifDevice:
    """A camera as the setup flow sees it; ``clock_offset_s`` is the camera clock minus ours."""

    info: OnvifDeviceInfo
    profiles: tuple[OnvifProfile, ...]
    clock_offset_s: float


async def fetch_onvif_device(
    host: str, port: int, username: str, password: str, *, timeout_s: float = 10.0
) -> OnvifDevice:
    """Connect to an ONVIF camera and read its identity, video profiles and their URIs.

    Cameras refuse a WS-Security digest whose Created time is a few seconds off their own clock,
    so the camera's time is read first and the library signs every later request on that clock.
    """
    where = _where(host, port)
    camera = new_camera(host, port, username, password)
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_device(camera, where)
    except TimeoutError as err:
        message = f"ONVIF device at {where} did not answer within {timeout_s:g} s"
        raise SourceUnavailable(message, {"host": where}) from err
    except _LIBRARY_ERRORS as err:
        _LOGGER.debug("ONVIF device at %s failed: %s", where, _scrub(repr(err), username, password))
        raise _translate(err, where) from err
    finally:
        with contextlib.suppress(*_LIBRARY_ERRORS):
            await camera.close()


def pick_analysis_profile(profiles: Iterable[OnvifProfile]) -> OnvifProfile | None:
    """Pick the stream to analyse: the smallest H.264/H.265 profile at least 320 pixels wide.

    Detectors work on ~640-pixel inputs, so a sub-stream gives the same detections for a fraction
    of the decode cost; below 320 pixels people and plates get too small to find.
    """
    usable = [
        profile
        for profile in profiles
        if profile.encoding in _ANALYSABLE
        and profile.width >= _MIN_ANALYSIS_WIDTH
        and profile.stream_uri is not None
    ]
    return min(
        usable,
        key=lambda p: (p.width * p.height, p.encoding != "H264"),
        default=None,
    )


def pick_snapshot_profile(profiles: Iterable[OnvifProfile]) -> OnvifProfile | None:
    """Pick the profile for snapshots: the largest (main) stream, one with a snapshot URI first."""
    return max(
        profiles,
        key=lambda p: (p.width * p.height, p.snapshot_uri is not None),
        default=None,
    )


def with_credentials(uri: str, username: str, password: str) -> str:
    """Return ``uri`` with the username and password URL-encoded into its authority."""
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    if not username:
        return urlunsplit(parts._replace(netloc=host))
    userinfo = quote(username, safe="")
    if password:
        userinfo = f"{userinfo}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def without_credentials(uri: str) -> str:
    """Return ``uri`` without user info or credential query parameters (some cameras embed them)."""
    parts = urlsplit(uri)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(key, value) for key, value in pairs if key.lower() not in _CREDENTIAL_KEYS]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))


def new_camera(host: str, port: int, username: str, password: str) -> Any:
    """Return an unconnected ``ONVIFCamera`` that signs requests on the camera's clock."""
    return ONVIFCamera(
        _url_host(host), port, username, password, _WSDL_DIR, no_cache=True, adjust_time=True
    )


async def connect_camera(camera: Any, where: str) -> float:
    """Read the camera's clock and service addresses; return the clock offset in seconds."""
    devicemgmt = await camera.create_devicemgmt_service()
    # Without a UTC time the library's skew arithmetic fails; sign on our clock then.
    camera.adjust_time = await _reports_utc_time(devicemgmt)
    await camera.update_xaddrs()
    offset_s: float = camera.dt_diff.total_seconds() if camera.dt_diff is not None else 0.0
    _LOGGER.debug("ONVIF device at %s: clock offset %+.0f s", where, offset_s)
    return offset_s


def translate_error(err: BaseException, where: str) -> VigilError:
    """Turn an onvif-zeep-async or transport error into AuthFailed or SourceUnavailable."""
    return _translate(err, where)


def is_auth_fault(fault: Fault) -> bool:
    """Return whether a SOAP fault means the camera refused the credentials."""
    return _is_auth_fault(fault)


def fault_code(fault: Fault) -> str:
    """Return the most specific code of a SOAP fault, such as ``ActionNotSupported``."""
    return _fault_code(fault)


def host_port(host: str, port: int) -> str:
    """Return ``host:port`` for messages; never carries credentials."""
    return _where(host, port)


async def _read_device(camera: Any, where: str) -> OnvifDevice:
    """Read the clock, the service addresses, the device information and the profiles."""
    offset_s = await connect_camera(camera, where)
    devicemgmt = await camera.create_devicemgmt_service()
    info = _device_info(await devicemgmt.GetDeviceInformation())
    media = await camera.create_media_service()
    profiles = await _read_profiles(media)
    return OnvifDevice(info=info, profiles=profiles, clock_offset_s=offset_s)


async def _reports_utc_time(devicemgmt: Any) -> bool:
    """Return whether the camera tells its UTC time without credentials (as ONVIF requires)."""
    try:
        reply = await devicemgmt.authless_GetSystemDateAndTime()
    except Fault:
        # Some cameras (Axis) want credentials even here; the library retries with them.
        return True
    return reply is not None and getattr(reply, "UTCDateTime", None) is not None


def _device_info(reply: Any) -> OnvifDeviceInfo:
    """Build the device information from a GetDeviceInformation reply."""
    return OnvifDeviceInfo(
        manufacturer=_text(getattr(reply, "Manufacturer", None)),
        model=_text(getattr(reply, "Model", None)),
        firmware=_text(getattr(reply, "FirmwareVersion", None)),
        serial=_text(getattr(reply, "SerialNumber", None)),
        hardware_id=_text(getattr(reply, "HardwareId", None)),
    )


async def _read_profiles(media: Any) -> tuple[OnvifProfile, ...]:
    """Read every profile that carries video, with its stream and snapshot URIs."""
    profiles: list[OnvifProfile] = []
    for raw in await media.GetProfiles() or ():
        encoder = getattr(raw, "VideoEncoderConfiguration", None)
        if encoder is None or getattr(encoder, "Resolution", None) is None:
            continue  # audio- or metadata-only profile
        token = str(raw.token)
        rate = getattr(encoder, "RateControl", None)
        frame_rate = getattr(rate, "FrameRateLimit", None)
        profiles.append(
            OnvifProfile(
                token=token,
                name=_text(getattr(raw, "Name", None)) or token,
                encoding=_encoding(encoder.Encoding),
                width=int(encoder.Resolution.Width),
                height=int(encoder.Resolution.Height),
                fps=float(frame_rate) if frame_rate else None,
                stream_uri=await _media_uri(
                    media, "GetStreamUri", {"StreamSetup": _STREAM_SETUP, "ProfileToken": token}
                ),
                snapshot_uri=await _media_uri(media, "GetSnapshotUri", {"ProfileToken": token}),
            )
        )
    return tuple(profiles)


async def _media_uri(media: Any, operation: str, request: dict[str, Any]) -> str | None:
    """Ask for a stream or snapshot URI; a camera that lacks one answers with a fault."""
    try:
        reply = await getattr(media, operation)(request)
    except Fault as fault:
        if _is_auth_fault(fault):
            raise
        _LOGGER.debug("%s refused for %s: %s", operation, request["ProfileToken"], fault.message)
        return None
    uri = getattr(reply, "Uri", None)
    return without_credentials(str(uri).strip()) if uri else None


def _translate(err: BaseException, where: str) -> VigilError:
    """Turn a library or transport error into AuthFailed or SourceUnavailable."""
    cause = _unwrap(err)
    placeholders = {"host": where}
    status = _http_status(cause)
    if isinstance(cause, Fault) and _is_auth_fault(cause):
        return AuthFailed(f"ONVIF device at {where} refused the credentials", placeholders)
    if status in _AUTH_STATUSES:
        return AuthFailed(f"ONVIF device at {where} refused the credentials", placeholders)
    if isinstance(cause, Fault):
        message = f"ONVIF device at {where} answered with a SOAP fault ({_fault_code(cause)})"
    elif isinstance(cause, XMLParseError | XMLSyntaxError) or status == 200:
        message = f"ONVIF device at {where} sent a malformed response (not valid SOAP XML)"
    elif status is not None:
        message = f"{where} answered HTTP {status}: not an ONVIF device service"
    elif isinstance(cause, TimeoutError):
        message = f"ONVIF device at {where} did not answer in time"
    elif isinstance(cause, (OSError, aiohttp.ClientError, *_HTTPX_ERRORS)):
        message = f"cannot reach an ONVIF device at {where}"
    elif isinstance(cause, ONVIFError):
        message = f"ONVIF device at {where} lacks a required service"
    else:
        message = f"{where} did not answer as an ONVIF device (unexpected response)"
    return SourceUnavailable(message, placeholders)


def _unwrap(err: BaseException) -> BaseException:
    """Return the error an ``ONVIFError`` wraps (3.x keeps it in args, 4.x also chains it)."""
    while isinstance(err, ONVIFError):
        inner = err.__cause__ or next((a for a in err.args if isinstance(a, BaseException)), None)
        if inner is None:
            break
        err = inner
    return err


def _http_status(err: BaseException) -> int | None:
    """Return the HTTP status behind a transport error (zeep on 3.x, aiohttp on early 4.x)."""
    if isinstance(err, TransportError):
        return int(err.status_code) if err.status_code else None
    if isinstance(err, aiohttp.ClientResponseError):
        return err.status
    return None


def _is_auth_fault(fault: Fault) -> bool:
    """Return whether a fault means bad credentials; many cameras only say so in the text."""
    subcodes = fault.subcodes if isinstance(fault.subcodes, list) else [fault.subcodes]
    if any("NotAuthorized" in str(getattr(code, "text", code)) for code in subcodes if code):
        return True
    reason = (fault.message or "").lower()
    return "not authorized" in reason or "authority failure" in reason or "unauthorized" in reason


def _fault_code(fault: Fault) -> str:
    """Return the most specific code of a fault, such as ``ActionNotSupported``."""
    subcodes = fault.subcodes if isinstance(fault.subcodes, list) else [fault.subcodes]
    for code in subcodes:
        if code is not None:
            return str(getattr(code, "localname", code))
    return str(fault.code or "unknown")


def _encoding(value: Any) -> str:
    """Normalise an encoder name: ``H.264`` → ``H264``, ``HEVC`` → ``H265``."""
    name = str(value or "").upper().replace(".", "").replace("-", "")
    return "H265" if name == "HEVC" else name


def _text(value: Any) -> str:
    """Return a reply field as stripped text, empty when absent."""
    return "" if value is None else str(value).strip()


def _url_host(host: str) -> str:
    """Bracket an IPv6 literal, since the library builds ``http://HOST:PORT`` itself."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _where(host: str, port: int) -> str:
    """Return ``host:port`` for messages; never carries credentials."""
    return f"{_url_host(host)}:{port}"


def _scrub(text: str, *secrets: str) -> str:
    """Blank the credentials out of a text bound for the log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
