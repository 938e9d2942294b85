"""Answer WS-Discovery probes on 127.0.0.1, as cameras on a LAN answer the multicast probe.

Each emulated camera answers with the recorded ``ProbeMatches`` (modelled on a Hikvision reply:
an IPv6 link-local XAddr first, percent-encoded scopes). The responder also sends what a real
network throws at a prober: a datagram that is not XML, a ProbeMatch for someone else's probe and a
printer that is no video device.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import re
from types import TracebackType
from typing import Self
from urllib.parse import quote
import uuid

from .onvif_emulator import render

_MESSAGE_ID = re.compile(rb"<a:MessageID>([^<]+)</a:MessageID>")
_PRINTER = b"""<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Body><d:ProbeMatches><d:ProbeMatch>
<d:Types>wsdp:Device pri:PrintDeviceType</d:Types><d:XAddrs>http://127.0.0.1:5357/printer</d:XAddrs>
</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"""


@dataclass(frozen=True, slots=True)
class Answer:
    """One camera the responder announces."""

    name: str
    hardware: str
    host: str
    port: int
    endpoint: str = ""

    def xml(self, relates_to: str) -> bytes:
        return render(
            "ProbeMatches",
            reply_id=uuid.uuid4(),
            relates_to=relates_to,
            endpoint=self.endpoint or uuid.uuid5(uuid.NAMESPACE_URL, f"{self.host}:{self.port}"),
            hardware=quote(self.hardware),
            device_name=quote(self.name),
            xaddr=f"http://{self.host}:{self.port}/onvif/device_service",
        ).encode()


class DiscoveryResponder(asyncio.DatagramProtocol):
    """A UDP socket on 127.0.0.1 that answers every Probe for the configured cameras."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.probes = 0
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def target(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        match = _MESSAGE_ID.search(data)
        if match is None or self._transport is None:
            return
        self.probes += 1
        message_id = match.group(1).decode()
        self._transport.sendto(b"\x00not xml", addr)
        self._transport.sendto(Answer("Other", "X", "127.0.0.9", 80).xml("urn:uuid:other"), addr)
        self._transport.sendto(_PRINTER, addr)
        for answer in self.answers:
            self._transport.sendto(answer.xml(message_id), addr)

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        assert self._transport is not None
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._transport is not None:
            self._transport.close()
