"""Find ONVIF cameras on the local network with a WS-Discovery probe.

onvif-zeep-async does not discover devices. The WSDiscovery package (what Home Assistant's onvif
integration uses) runs four threads, binds UDP 3702 on every interface, sleeps through its whole
timeout and never reads the answers to a probe sent to one address. This probe is one UDP socket
on an ephemeral port, on the running event loop: it sends the ONVIF ``Probe`` (SOAP-over-UDP, the
discovery protocol itself, not a device API call) to the multicast group, or to any address a test
gives, and reads ``ProbeMatches`` until the timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
import logging
import socket
from typing import Final
from urllib.parse import unquote, urlsplit
import uuid
from xml.etree import ElementTree as ET

_LOGGER = logging.getLogger(__name__)

MULTICAST_TARGET: Final = ("239.255.255.250", 3702)
_SCOPE_PREFIX: Final = "onvif://www.onvif.org/"
_VIDEO_TYPE: Final = "NetworkVideoTransmitter"
_PROBE: Final = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" \
xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" \
xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<s:Header>
<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>
<a:MessageID>{message_id}</a:MessageID>
<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
</s:Header>
<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>
</s:Envelope>"""


@dataclass(frozen=True, slots=True)
class DiscoveredCamera:
    """An ONVIF device that answered the probe."""

    endpoint: str
    """Its stable WS-Addressing endpoint reference, usually ``urn:uuid:…``."""
    host: str
    port: int
    xaddrs: tuple[str, ...]
    name: str
    hardware: str
    scopes: tuple[str, ...]

    @property
    def label(self) -> str:
        """Return how the device is listed: name, model and address."""
        what = self.name if self.hardware in self.name else f"{self.name} {self.hardware}"
        return f"{what.strip() or 'ONVIF camera'} ({self.host}:{self.port})"


async def discover_onvif_cameras(
    *,
    timeout_s: float = 2.0,
    targets: Iterable[tuple[str, int]] = (MULTICAST_TARGET,),
    repeats: int = 2,
) -> list[DiscoveredCamera]:
    """Probe for ONVIF cameras and return those that answered within ``timeout_s``.

    UDP may drop a datagram, so the probe goes out ``repeats`` times (SOAP-over-UDP repeats
    multicast messages the same way); answers are merged by endpoint.
    """
    message_id = f"urn:uuid:{uuid.uuid4()}"
    loop = asyncio.get_running_loop()
    found: dict[str, DiscoveredCamera] = {}
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _ProbeProtocol(message_id, found),
            local_addr=("0.0.0.0", 0),
            family=socket.AF_INET,
        )
    except OSError as err:
        _LOGGER.debug("WS-Discovery unavailable: %s", err)
        return []
    try:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # One hop, as WS-Discovery asks: cameras on this network only.
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        probe = _PROBE.format(message_id=message_id).encode()
        for attempt in range(max(1, repeats)):
            for target in targets:
                try:
                    transport.sendto(probe, target)
                except OSError as err:
                    _LOGGER.debug("WS-Discovery probe to %s failed: %s", target, err)
            if attempt + 1 < repeats:
                await asyncio.sleep(min(0.1, timeout_s / 4))
        await asyncio.sleep(timeout_s)
    finally:
        transport.close()
    return sorted(found.values(), key=lambda camera: (camera.host, camera.port))


class _ProbeProtocol(asyncio.DatagramProtocol):
    """Collect the ProbeMatches that answer one probe."""

    def __init__(self, message_id: str, found: dict[str, DiscoveredCamera]) -> None:
        self._message_id = message_id
        self._found = found

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Keep the cameras a reply describes; ignore anything else on the socket."""
        try:
            cameras = parse_probe_matches(data, self._message_id)
        except ET.ParseError:
            _LOGGER.debug("Ignored a datagram from %s that is not XML", addr[0])
            return
        for camera in cameras:
            self._found.setdefault(camera.endpoint, camera)

    def error_received(self, exc: Exception) -> None:
        """Log network errors (an unreachable target) without stopping the probe."""
        _LOGGER.debug("WS-Discovery socket error: %s", exc)


def parse_probe_matches(data: bytes, message_id: str | None = None) -> list[DiscoveredCamera]:
    """Return the ONVIF video devices in a ProbeMatches reply (to ``message_id``, if given)."""
    root = ET.fromstring(data)
    relates_to = _text(_find(root, "RelatesTo"))
    if message_id is not None and relates_to and relates_to != message_id:
        return []
    cameras: list[DiscoveredCamera] = []
    for match in _find_all(root, "ProbeMatch"):
        camera = _camera(match)
        if camera is not None:
            cameras.append(camera)
    return cameras


def _camera(match: ET.Element) -> DiscoveredCamera | None:
    """Return the camera one ProbeMatch describes, or None when it is not an ONVIF video device."""
    types = _text(_find(match, "Types")).split()
    scopes = tuple(_text(_find(match, "Scopes")).split())
    onvif_scopes = [scope for scope in scopes if scope.startswith(_SCOPE_PREFIX)]
    if not any(t.endswith(_VIDEO_TYPE) for t in types) and not onvif_scopes:
        return None
    xaddrs = tuple(_text(_find(match, "XAddrs")).split())
    address = _device_address(xaddrs)
    if address is None:
        return None
    host, port = address
    endpoint = _text(_find(match, "Address")) or f"{host}:{port}"
    return DiscoveredCamera(
        endpoint=endpoint,
        host=host,
        port=port,
        xaddrs=xaddrs,
        name=_scope(onvif_scopes, "name"),
        hardware=_scope(onvif_scopes, "hardware"),
        scopes=scopes,
    )


def _device_address(xaddrs: Iterable[str]) -> tuple[str, int] | None:
    """Return host and port of the device service, an IPv4 address first."""
    candidates: list[tuple[bool, str, int]] = []
    for xaddr in xaddrs:
        try:
            parts = urlsplit(xaddr)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.hostname:
            candidates.append((":" in parts.hostname, parts.hostname, port))
    if not candidates:
        return None
    _, host, port = min(candidates, key=lambda candidate: candidate[0])
    return host, port


def _scope(scopes: Iterable[str], category: str) -> str:
    """Return a scope's value, such as ``name`` → ``HIKVISION DS-2CD2143G2-I``."""
    prefix = f"{_SCOPE_PREFIX}{category}/"
    for scope in scopes:
        if scope.startswith(prefix):
            return unquote(scope[len(prefix) :]).strip()
    return ""


def _find(element: ET.Element, local: str) -> ET.Element | None:
    """Return the first descendant with this local name, whatever the namespace version."""
    return next(_find_all(element, local), None)


def _find_all(element: ET.Element, local: str) -> Iterator[ET.Element]:
    """Yield the descendants with this local name (WS-Discovery 2005/04 or 2009/01)."""
    return (node for node in element.iter() if node.tag.rpartition("}")[2] == local)


def _text(element: ET.Element | None) -> str:
    """Return an element's stripped text, empty when absent."""
    return "" if element is None or element.text is None else element.text.strip()
