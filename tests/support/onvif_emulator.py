"""Serve a small ONVIF camera on 127.0.0.1 for tests: device and media services behind WS-Security.

Replies are the recorded, anonymised SOAP 1.2 envelopes in tests/fixtures/onvif, with `$name`
placeholders filled per request. Every operation but GetSystemDateAndTime needs a UsernameToken
PasswordDigest whose Created time lies within ``tolerance_s`` of the emulator's own clock, which
runs ``clock_skew_s`` away from the host's: a client that ignores the camera's clock fails here as
it would on a real camera. The event service (PullPoint, renewals, reboots, polling) lives in
``onvif_event_service`` and plugs in with ``register``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Mapping
import datetime as dt
from functools import cache
import hashlib
import hmac
import inspect
from pathlib import Path
import socket
from string import Template
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from aiohttp import web

if TYPE_CHECKING:
    from .onvif_event_service import EventService, EventsMode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onvif"
NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
}
DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
EVENTS_PATH = "/onvif/events_service"
SUBSCRIPTION_PREFIX = "/onvif/Events/PullSubManager_"
MAIN_TOKEN = "Profile_1"
SUB_TOKEN = "Profile_2"
PUBLIC_OPERATIONS = frozenset({"GetSystemDateAndTime"})
SOAP_TYPE = "application/soap+xml"

type Handler = Callable[[ET.Element], str | Awaitable[str]]
type AuthFailure = Literal["fault", "http401"]


class SoapFault(Exception):
    """Answer the current request with a SOAP fault."""

    def __init__(self, subcode: str, reason: str, *, sender: bool = True) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.sender = sender


@cache
def _fixture(name: str) -> Template:
    """Load a recorded reply once."""
    return Template((FIXTURES / f"{name}.xml").read_text(encoding="utf-8"))


def render(name: str, *, raw: Mapping[str, str] | None = None, **values: object) -> str:
    """Fill a recorded reply's placeholders, XML-escaped (``raw`` ones go in as XML)."""
    filled = {key: escape(str(value)) for key, value in values.items()}
    return _fixture(name).substitute(filled | dict(raw or {}))


def _profile_token(operation: ET.Element) -> str:
    """Return the ProfileToken a media request names."""
    return (operation.findtext("trt:ProfileToken", default="", namespaces=NS) or "").strip()


class OnvifEmulator:
    """An ONVIF Profile S device with a main 1920×1080 and a sub 640×360 H.264 profile."""

    def __init__(
        self,
        *,
        username: str = "admin",
        password: str = "Secret-Pass1",
        clock_skew_s: float = 0.0,
        tolerance_s: float = 5.0,
        stream_uris: Mapping[str, str] | None = None,
        snapshot_uris: Mapping[str, str] | None = None,
        auth_failure: AuthFailure = "fault",
        malformed: frozenset[str] = frozenset(),
        delay_s: float = 0.0,
        events: EventsMode = "pullpoint",
    ) -> None:
        self.username = username
        self.password = password
        self.clock_skew_s = clock_skew_s
        self.tolerance_s = tolerance_s
        self.auth_failure = auth_failure
        self.malformed = malformed
        self.delay_s = delay_s
        self._stream_uris = dict(stream_uris or {})
        self._snapshot_uris = dict(snapshot_uris or {})
        self.calls: list[str] = []
        self.auth_failures: list[str] = []
        self._services: dict[str, dict[str, Handler]] = {}
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.down_until = 0.0
        """Loop time until which every request answers 503, as while the camera reboots."""
        self._register_device()
        self._register_media()
        self._services.setdefault(EVENTS_PATH, {})
        from .onvif_event_service import EventService  # noqa: PLC0415 - it imports this module

        self.events: EventService = EventService(self, mode=events)

    @property
    def url(self) -> str:
        """Return the base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def now(self) -> dt.datetime:
        """Return the camera's clock: the host's UTC time plus the configured skew."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_skew_s)

    def register(self, path: str, operation: str, handler: Handler) -> None:
        """Answer ``operation`` on the service at ``path`` with ``handler`` (a whole envelope)."""
        self._services.setdefault(path, {})[operation] = handler

    def stream_uri(self, token: str) -> str:
        """Return the RTSP URI the device hands out for a profile."""
        default = f"rtsp://{self.host}:554/Streaming/Channels/10{token.rsplit('_', 1)[-1]}"
        return self._stream_uris.get(token, default)

    def snapshot_uri(self, token: str) -> str:
        """Return the JPEG snapshot URI the device hands out for a profile."""
        return self._snapshot_uris.get(token, f"{self.url}/onvif-http/snapshot?{token}")

    def _register_device(self) -> None:
        """Answer the device management operations from the recorded replies."""

        def date_and_time(_: ET.Element) -> str:
            now = self.now()
            return render(
                "GetSystemDateAndTime", year=now.year, month=now.month, day=now.day,
                hour=now.hour, minute=now.minute, second=now.second,
            )  # fmt: skip

        self.register(DEVICE_PATH, "GetSystemDateAndTime", date_and_time)
        self.register(
            DEVICE_PATH,
            "GetCapabilities",
            lambda _: render(
                "GetCapabilities", base=self.url, raw={"events": self.events.capability_xml()}
            ),
        )
        self.register(
            DEVICE_PATH,
            "GetServices",
            lambda _: render(
                "GetServices", base=self.url, raw={"events": self.events.service_xml()}
            ),
        )
        self.register(DEVICE_PATH, "GetDeviceInformation", lambda _: render("GetDeviceInformation"))

    def _register_media(self) -> None:
        """Answer the media operations; URIs come from the configured targets."""

        def uri_reply(name: str, pick: Callable[[str], str]) -> Handler:
            def handler(operation: ET.Element) -> str:
                token = _profile_token(operation)
                if token not in (MAIN_TOKEN, SUB_TOKEN):
                    raise SoapFault("InvalidArgVal", "No such profile")
                return render(name, uri=pick(token))

            return handler

        self.register(MEDIA_PATH, "GetProfiles", lambda _: render("GetProfiles"))
        self.register(MEDIA_PATH, "GetStreamUri", uri_reply("GetStreamUri", self.stream_uri))
        self.register(MEDIA_PATH, "GetSnapshotUri", uri_reply("GetSnapshotUri", self.snapshot_uri))

    def _authenticate(self, envelope: ET.Element) -> str | None:
        """Return why the request's UsernameToken is refused, or None when it is valid."""
        token = envelope.find("env:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            return "no UsernameToken"
        password = token.find("wsse:Password", NS)
        nonce = token.findtext("wsse:Nonce", default="", namespaces=NS)
        created = token.findtext("wsu:Created", default="", namespaces=NS)
        if password is None or not password.get("Type", "").endswith("#PasswordDigest"):
            return "not a PasswordDigest"
        if token.findtext("wsse:Username", default="", namespaces=NS) != self.username:
            return "unknown user"
        material = base64.b64decode(nonce) + created.encode() + self.password.encode()
        expected = base64.b64encode(hashlib.sha1(material).digest()).decode()
        if not hmac.compare_digest(expected, (password.text or "").strip()):
            return "wrong digest"
        created_at = dt.datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=dt.UTC)
        if abs((created_at - self.now()).total_seconds()) > self.tolerance_s:
            return "Created outside the clock tolerance"
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        """Route a SOAP request by path and operation, after checking its UsernameToken."""
        if asyncio.get_running_loop().time() < self.down_until:
            return web.Response(status=503, text="<html><body>Rebooting</body></html>")
        handlers = self._services.get(request.path)
        if handlers is None and request.path.startswith(SUBSCRIPTION_PREFIX):
            # Cameras answer a subscription they no longer know with a WS-Resource fault.
            return _fault(SoapFault("ResourceUnknownFault", "No such subscription"))
        if handlers is None:
            return web.Response(status=404, text="<html><body>Not Found</body></html>")
        envelope = ET.fromstring(await request.read())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        body = envelope.find("env:Body", NS)
        operation = body[0] if body is not None and len(body) else None
        if operation is None:
            return _fault(SoapFault("InvalidArgs", "Empty SOAP body"))
        name = operation.tag.rpartition("}")[2]
        self.calls.append(name)
        if name not in PUBLIC_OPERATIONS and (reason := self._authenticate(envelope)):
            self.auth_failures.append(f"{name}: {reason}")
            if self.auth_failure == "http401":
                return web.Response(status=401, headers={"WWW-Authenticate": 'Digest realm="IPC"'})
            return _fault(SoapFault("NotAuthorized", "Sender not Authorized"))
        if name in self.malformed:
            truncated = f"<?xml version='1.0'?><env:Envelope><{name}Response><"
            return web.Response(text=truncated, content_type=SOAP_TYPE)
        handler = handlers.get(name)
        if handler is None:
            return _fault(SoapFault("ActionNotSupported", f"{name} is not supported", sender=False))
        try:
            reply = handler(operation)
            text = await reply if inspect.isawaitable(reply) else reply
        except SoapFault as fault:
            return _fault(fault)
        return web.Response(text=text, content_type=SOAP_TYPE)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((self.host, 0))
        self.port = self._socket.getsockname()[1]
        await web.SockSite(self._runner, self._socket).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.events.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._socket is not None:
            self._socket.close()


def _fault(fault: SoapFault) -> web.Response:
    """Answer with a SOAP 1.2 fault: HTTP 400 for sender faults, 500 for receiver ones."""
    xml = render(
        "Fault", code="Sender" if fault.sender else "Receiver", subcode=fault.subcode,
        reason=fault.reason,
    )  # fmt: skip
    return web.Response(status=400 if fault.sender else 500, text=xml, content_type=SOAP_TYPE)
