"""The emulated camera's event service: PullPoint subscriptions, renewals, reboots and polling.

Notifications are the recorded samples in tests/fixtures/onvif/events. A test sets a property's
state with ``change`` (queued as ``Changed`` and replayed as ``Initialized`` to every new
subscription, as cameras do) or sends a plain event with ``emit``. Subscriptions live on their own
path, expire at the TerminationTime the camera granted (on the camera's clock) unless renewed, and
vanish on ``reboot``; pulls on a vanished one get a ResourceUnknown fault. ``mode`` picks the
camera: ``pullpoint``, ``polling`` (no PullPoint, GetCurrentMessage only) or ``none`` (no event
service at all).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import datetime as dt
from functools import cache
import itertools
from pathlib import Path
import re
from string import Template
from typing import TYPE_CHECKING, Literal
from xml.etree import ElementTree as ET

import isodate

from .onvif_emulator import EVENTS_PATH, FIXTURES, SUBSCRIPTION_PREFIX, SoapFault, render

if TYPE_CHECKING:
    from .onvif_emulator import OnvifEmulator

type EventsMode = Literal["pullpoint", "polling", "none"]

EVENT_FIXTURES = FIXTURES / "events"
NS = {
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
}
_TOPIC = re.compile(r"<wsnt:Topic[^>]*>([^<]+)</wsnt:Topic>")
_PREFIXES = {"tns1", "tnshik", "tnsaxis", "tnsavg"}
_MAX_PULL_WAIT_S = 5.0


@cache
def _sample(name: str) -> Template:
    """Load a recorded notification once."""
    return Template((EVENT_FIXTURES / f"{name}.xml").read_text(encoding="utf-8"))


def sample_names() -> list[str]:
    """Return the names of every recorded notification sample."""
    return sorted(path.stem for path in Path(EVENT_FIXTURES).glob("*.xml"))


def notification(name: str, *, utc: str, operation: str = "Changed", **values: object) -> str:
    """Return a recorded notification with its placeholders filled."""
    filled = {"utc": utc, "operation": operation} | {k: str(v) for k, v in values.items()}
    return _sample(name).safe_substitute(filled)


def topic_of(name: str) -> str:
    """Return the topic a recorded notification is published on."""
    match = _TOPIC.search(_sample(name).template)
    assert match is not None, name
    return match.group(1).strip()


def _camera_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Subscription:
    """One PullPoint subscription: its queue and when it lapses (camera clock)."""

    number: int
    expires: dt.datetime
    queue: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def path(self) -> str:
        return f"{SUBSCRIPTION_PREFIX}{self.number}"


class EventService:
    """Answer the ONVIF event operations for one emulated camera."""

    def __init__(self, camera: OnvifEmulator, *, mode: EventsMode = "pullpoint") -> None:
        self.camera = camera
        self.mode = mode
        self.announced: list[str] = []
        self.grant_s: float | None = None
        """Lifetime granted to every subscription, whatever the client asks (None: as asked)."""
        self.properties: dict[str, tuple[str, dict[str, object]]] = {}
        self.subscriptions: dict[int, Subscription] = {}
        self.created = 0
        self.renewals = 0
        self.unsubscribed = 0
        self.pulls = 0
        self.synchronizations = 0
        self._numbers = itertools.count(1)
        if mode != "none":
            self._register()

    # Test controls.
    def announce(self, *topics: str) -> None:
        """Declare the topics GetEventProperties lists."""
        self.announced = list(topics)

    def change(self, name: str, **values: object) -> None:
        """Set a property's state: queue it as Changed, replay it as Initialized later."""
        topic = topic_of(name)
        self.properties[topic] = (name, dict(values))
        self._queue(notification(name, utc=self._now(), **values))

    def emit(self, name: str, **values: object) -> None:
        """Queue a plain (non-property) notification to every live subscription."""
        self._queue(notification(name, utc=self._now(), **values))

    def emit_raw(self, xml: str) -> None:
        """Queue any notification text (a malformed one, say)."""
        self._queue(xml)

    def drop_subscriptions(self) -> None:
        """Forget every subscription, as a camera does when it lapses or restarts its service."""
        for subscription in self.subscriptions.values():
            self.camera._services.pop(subscription.path, None)
            subscription.wake.set()
        self.subscriptions.clear()

    def reboot(self, downtime_s: float = 1.0) -> None:
        """Restart the camera: subscriptions gone, unreachable for a while, new LastReboot."""
        self.drop_subscriptions()
        self.camera.down_until = asyncio.get_running_loop().time() + downtime_s
        reboot_topic = "tns1:Monitoring/OperatingTime/LastReboot"
        if reboot_topic in self.properties:
            name, _ = self.properties[reboot_topic]
            booted = self.camera.now() + dt.timedelta(seconds=downtime_s)
            self.properties[reboot_topic] = (name, {"status": _camera_time(booted)})

    def close(self) -> None:
        """Wake every waiting pull so the server can shut down."""
        for subscription in self.subscriptions.values():
            subscription.wake.set()

    # Capabilities.
    def capability_xml(self) -> str:
        if self.mode == "none":
            return ""
        pullpoint = "true" if self.mode == "pullpoint" else "false"
        return render("GetCapabilities_events", base=self.camera.url, pullpoint=pullpoint)

    def service_xml(self) -> str:
        return "" if self.mode == "none" else render("GetServices_events", base=self.camera.url)

    # Operations.
    def _register(self) -> None:
        register = self.camera.register
        register(EVENTS_PATH, "GetEventProperties", self._get_event_properties)
        register(EVENTS_PATH, "CreatePullPointSubscription", self._create)
        register(EVENTS_PATH, "GetCurrentMessage", self._get_current_message)

    def _get_event_properties(self, _: ET.Element) -> str:
        return render("GetEventProperties", raw={"topic_set": topic_set_xml(self.announced)})

    def _create(self, request: ET.Element) -> str:
        if self.mode != "pullpoint":
            raise SoapFault("ActionNotSupported", "PullPoint is not supported", sender=False)
        asked = request.findtext("tev:InitialTerminationTime", default="", namespaces=NS)
        number = next(self._numbers)
        subscription = Subscription(number, self._expiry(asked))
        self.subscriptions[number] = subscription
        self.created += 1
        register = self.camera.register
        register(subscription.path, "PullMessages", lambda r: self._pull(subscription, r))
        register(subscription.path, "Renew", lambda r: self._renew(subscription, r))
        register(subscription.path, "Unsubscribe", lambda _: self._unsubscribe(subscription))
        register(subscription.path, "SetSynchronizationPoint", lambda _: self._sync(subscription))
        self._initialize(subscription)
        return render(
            "CreatePullPointSubscription",
            address=f"{self.camera.url}{subscription.path}",
            current=self._now(),
            termination=_camera_time(subscription.expires),
        )

    async def _pull(self, subscription: Subscription, request: ET.Element) -> str:
        self._check(subscription)
        self.pulls += 1
        timeout = request.findtext("tev:Timeout", default="PT1S", namespaces=NS)
        limit = int(request.findtext("tev:MessageLimit", default="100", namespaces=NS))
        if not subscription.queue:
            subscription.wake.clear()
            wait_s = min(isodate.parse_duration(timeout).total_seconds(), _MAX_PULL_WAIT_S)
            try:
                async with asyncio.timeout(wait_s):
                    await subscription.wake.wait()
            except TimeoutError:
                pass
            self._check(subscription)
        messages, subscription.queue = subscription.queue[:limit], subscription.queue[limit:]
        return render(
            "PullMessages",
            current=self._now(),
            termination=_camera_time(subscription.expires),
            raw={"messages": "\n".join(messages)},
        )

    def _renew(self, subscription: Subscription, request: ET.Element) -> str:
        self._check(subscription)
        asked = request.findtext("wsnt:TerminationTime", default="", namespaces=NS)
        subscription.expires = self._expiry(asked)
        self.renewals += 1
        return render("Renew", current=self._now(), termination=_camera_time(subscription.expires))

    def _unsubscribe(self, subscription: Subscription) -> str:
        self._check(subscription)
        self.unsubscribed += 1
        self.subscriptions.pop(subscription.number, None)
        self.camera._services.pop(subscription.path, None)
        return render("Unsubscribe")

    def _sync(self, subscription: Subscription) -> str:
        self._check(subscription)
        self.synchronizations += 1
        self._initialize(subscription)
        return render("SetSynchronizationPoint")

    def _get_current_message(self, request: ET.Element) -> str:
        topic = (request.findtext("wsnt:Topic", default="", namespaces=NS) or "").strip()
        if topic not in self.properties:
            raise SoapFault("NoCurrentMessageOnTopic", f"No current message on {topic}")
        name, values = self.properties[topic]
        text = notification(name, utc=self._now(), operation="Changed", **values)
        message = ET.fromstring(text).find("wsnt:Message/*", NS)
        assert message is not None
        return render(
            "GetCurrentMessage", raw={"message": ET.tostring(message, encoding="unicode")}
        )

    # Helpers.
    def _check(self, subscription: Subscription) -> None:
        """Refuse a subscription that was dropped or lapsed."""
        if (
            subscription.number not in self.subscriptions
            or self.camera.now() > subscription.expires
        ):
            self.subscriptions.pop(subscription.number, None)
            self.camera._services.pop(subscription.path, None)
            raise SoapFault("ResourceUnknownFault", "No such subscription")

    def _initialize(self, subscription: Subscription) -> None:
        for name, values in self.properties.values():
            subscription.queue.append(
                notification(name, utc=self._now(), operation="Initialized", **values)
            )
        subscription.wake.set()

    def _queue(self, xml: str) -> None:
        for subscription in self.subscriptions.values():
            subscription.queue.append(xml)
            subscription.wake.set()

    def _expiry(self, asked: str) -> dt.datetime:
        now = self.camera.now()
        if self.grant_s is not None:
            return now + dt.timedelta(seconds=self.grant_s)
        asked = asked.strip()
        if asked.startswith("P"):
            return now + isodate.parse_duration(asked)
        if asked:
            return dt.datetime.fromisoformat(asked.replace("Z", "+00:00"))
        return now + dt.timedelta(seconds=60)

    def _now(self) -> str:
        return _camera_time(self.camera.now())


def topic_set_xml(topics: list[str]) -> str:
    """Return a wstop:TopicSet body declaring ``topics`` as nested elements."""
    tree: dict[str, dict] = {}
    for topic in topics:
        node = tree
        for segment in topic.split("/"):
            node = node.setdefault(segment, {})
    return "\n".join(_topic_element(name, children, first=True) for name, children in tree.items())


def _topic_element(name: str, children: dict[str, dict], *, first: bool) -> str:
    prefix, _, local = name.rpartition(":")
    tag = name if prefix in _PREFIXES else local
    if first and prefix not in _PREFIXES:
        tag = f"tns1:{local}"
    if not children:
        description = (
            '<tt:MessageDescription IsProperty="true"><tt:Data>'
            '<tt:SimpleItemDescription Name="State" Type="xs:boolean"/>'
            "</tt:Data></tt:MessageDescription>"
        )
        return f'<{tag} wstop:topic="true">{description}</{tag}>'
    inner = "".join(_topic_element(n, c, first=False) for n, c in children.items())
    return f"<{tag}>{inner}</{tag}>"
