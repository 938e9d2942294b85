"""Read Frigate's MQTT messages: typed values from each version's payloads, and the transports.

Frigate publishes on ``<topic_prefix>/…`` (default ``frigate``). Vigil reads three topics:

- ``events``: a tracked object's state, published when it becomes a true positive (``new``),
  on a significant change or a better snapshot (``update``, at most every 5 s unless its zones,
  stationary state or attributes change) and when it ends (``end``). Boxes are pixels of the
  camera's detect resolution. 0.14 added ``max_severity``; 0.15 ``path_data`` (bottom-centre
  points, relative 0–1, with their times, appended every 5 % of the frame's diagonal) and the
  speed fields; 0.16 ``recognized_license_plate`` (and its score); 0.17 may add classification
  attributes as extra keys. ``sub_label`` is a name string before 0.13, ``[name, score]`` after.
- ``tracked_object_update`` (0.15+): metadata found later. Only ``type: lpr`` (0.16+, with
  ``plate`` and ``score``) is read. GenAI descriptions (0.15+), face names (0.16+) and
  classifications (0.17+) describe people or their belongings, so Vigil never reads them —
  nor ``sub_label``, which carries the same names — and an object whose label describes a
  person (``face``) is dropped.
- ``available``: ``online`` when Frigate starts, ``offline`` when it stops (also its MQTT will).

The transports deliver ``(topic, payload)`` to callbacks: `PahoTransport` for the standalone
engine (paho-mqtt's own thread, automatic reconnection), and in Home Assistant a transport over
its MQTT integration (custom_components/vigil/frigate_mqtt.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
import json
import logging
import math
import threading
from typing import Any, Final, Protocol

from vigil_core.config import FrigateMqttSpec
from vigil_core.errors import MalformedInput
from vigil_core.log_limit import RateLimitedLog
from vigil_core.privacy.purposes import describes_person

_LOGGER = logging.getLogger(__name__)

TOPIC_EVENTS: Final = "events"
TOPIC_TRACKED_OBJECT_UPDATE: Final = "tracked_object_update"
TOPIC_AVAILABLE: Final = "available"
TOPICS: Final = (TOPIC_EVENTS, TOPIC_TRACKED_OBJECT_UPDATE, TOPIC_AVAILABLE)

type MessageCallback = Callable[[str, bytes], None]
"""Receives (topic, payload). Runs on the transport's thread or loop: it must never block."""

type Unsubscribe = Callable[[], None]


class MalformedPayload(MalformedInput):
    """A message on a Frigate topic that is not what any Frigate version publishes."""

    translation_key = "malformed_payload"


class FrigateEventType(StrEnum):
    """The life stage a ``frigate/events`` message reports."""

    NEW = "new"
    UPDATE = "update"
    END = "end"


@dataclass(frozen=True, slots=True)
class FrigatePlateText:
    """A plate Frigate recognised on a tracked vehicle (0.16+)."""

    text: str
    score: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FrigateObjectUpdate:
    """One ``frigate/events`` message: a tracked object as Frigate saw it on one frame."""

    camera: str
    event_id: str
    type: FrigateEventType
    label: str
    score: float
    frame_time: float
    """Frigate's time of the frame the box comes from (Unix seconds, Frigate's clock)."""
    start_time: float
    end_time: float | None
    box: tuple[float, float, float, float]
    """x1, y1, x2, y2 in pixels of the camera's detect resolution."""
    stationary: bool
    path: tuple[tuple[float, float, float], ...] = ()
    """(time, x, y) bottom-centre points in 0–1 of the frame, oldest first (0.15+)."""
    plate: FrigatePlateText | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FrigatePlateUpdate:
    """A ``tracked_object_update`` of type ``lpr`` (0.16+): a plate read on a tracked object."""

    camera: str
    event_id: str
    plate: FrigatePlateText
    timestamp: float | None


@dataclass(frozen=True, slots=True)
class FrigateAvailability:
    """Frigate started (``online``) or stopped (``offline``)."""

    online: bool


type FrigateMessage = FrigateObjectUpdate | FrigatePlateUpdate | FrigateAvailability


def parse_message(topic: str, payload: bytes | str) -> FrigateMessage | None:
    """Parse a message of one of `TOPICS` (the topic without its prefix).

    Return None for messages Vigil does not read (descriptions, faces, classifications, false
    positives); raise MalformedPayload for anything no Frigate version publishes.
    """
    if topic == TOPIC_AVAILABLE:
        return _availability(payload)
    data = _json(payload)
    if topic == TOPIC_EVENTS:
        return _object_update(data)
    if topic == TOPIC_TRACKED_OBJECT_UPDATE:
        return _tracked_object_update(data)
    raise MalformedPayload(f"not a Frigate topic Vigil reads: {topic}")


def _availability(payload: bytes | str) -> FrigateAvailability:
    text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
    state = text.strip().lower()
    if state not in ("online", "offline"):
        raise MalformedPayload(f"availability is neither online nor offline: {state[:20]!r}")
    return FrigateAvailability(online=state == "online")


def _json(payload: bytes | str) -> Mapping[str, Any]:
    try:
        data = json.loads(payload)
    except RecursionError:
        # The parser recurses per nesting level: a deep payload exhausts Python's stack.
        raise MalformedPayload("JSON nested too deep") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedPayload(f"not JSON ({str(err)[:80]})") from None
    if not isinstance(data, Mapping):
        raise MalformedPayload("not a JSON object")
    return data


def _object_update(data: Mapping[str, Any]) -> FrigateObjectUpdate | None:
    """Read the ``after`` state of an events message (``before`` is the previous one)."""
    kind = data.get("type")
    try:
        event_type = FrigateEventType(str(kind))
    except ValueError:
        raise MalformedPayload(f"unknown event type {str(kind)[:20]!r}") from None
    after = data.get("after")
    if not isinstance(after, Mapping):
        raise MalformedPayload("event without an 'after' object")
    if after.get("false_positive") is True:
        return None
    if describes_person(str(after.get("label", ""))):
        return None  # a tracked face (or a person's attribute) is never a Vigil track
    return FrigateObjectUpdate(
        camera=_text(after, "camera"),
        event_id=_text(after, "id"),
        type=event_type,
        label=_text(after, "label"),
        score=_number(after, "score", default=_number(after, "top_score", default=0.0)),
        frame_time=_number(after, "frame_time"),
        start_time=_number(after, "start_time", default=_number(after, "frame_time")),
        end_time=_optional_number(after.get("end_time")),
        box=_box(after.get("box")),
        stationary=bool(after.get("stationary", False)),
        path=_path(after.get("path_data")),
        plate=_plate(
            after.get("recognized_license_plate"), after.get("recognized_license_plate_score")
        ),
    )


def _tracked_object_update(data: Mapping[str, Any]) -> FrigatePlateUpdate | None:
    """Read a plate update; every other type is left unread on purpose (see the module)."""
    kind = data.get("type")
    if not isinstance(kind, str):
        raise MalformedPayload("tracked object update without a type")
    if kind != "lpr":
        return None
    plate = _plate(data.get("plate"), data.get("score"))
    if plate is None:
        raise MalformedPayload("plate update without a plate")
    return FrigatePlateUpdate(
        camera=_text(data, "camera"),
        event_id=_text(data, "id"),
        plate=plate,
        timestamp=_optional_number(data.get("timestamp")),
    )


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"'{key}' is missing or not a string")
    return value


def _optional_number(value: Any) -> float | None:
    """Return a finite number as a float; None for anything else (an int too big included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


_MISSING: Final = object()


def _number(data: Mapping[str, Any], key: str, default: Any = _MISSING) -> float:
    value = _optional_number(data.get(key))
    if value is not None:
        return value
    if default is _MISSING:
        raise MalformedPayload(f"'{key}' is missing or not a number")
    return float(default)


def _box(value: Any) -> tuple[float, float, float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 4:
        raise MalformedPayload("'box' is not four numbers")
    numbers = [_optional_number(v) for v in value]
    if any(n is None for n in numbers):
        raise MalformedPayload("'box' is not four numbers")
    x1, y1, x2, y2 = (float(n or 0.0) for n in numbers)
    if x2 <= x1 or y2 <= y1 or min(x1, y1) < 0:
        raise MalformedPayload("'box' is empty or negative")
    return (x1, y1, x2, y2)


def _path(value: Any) -> tuple[tuple[float, float, float], ...]:
    """Read 0.15+ ``path_data``: ``[[[x, y], time], …]``; skip points that are not that."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return ()
    points = []
    for item in value:
        try:
            (x, y), at = item
            point = (float(at), float(x), float(y))
        except (TypeError, ValueError, OverflowError):
            continue
        if all(math.isfinite(v) for v in point) and 0 <= point[1] <= 1 and 0 <= point[2] <= 1:
            points.append(point)
    points.sort()
    return tuple(points)


def _plate(text: Any, score: Any) -> FrigatePlateText | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return FrigatePlateText(text=text.strip(), score=_optional_number(score))


# Transports ---------------------------------------------------------------------------------


class MqttTransport(Protocol):
    """Deliver the messages of exact topics to callbacks; reconnect by itself."""

    @property
    def connected(self) -> bool:
        """Return whether the broker connection is up."""
        ...

    async def subscribe(self, topic: str, on_message: MessageCallback) -> Unsubscribe:
        """Subscribe to one topic (no wildcards); return the function that unsubscribes."""
        ...

    async def close(self) -> None:
        """Release the connection if the transport owns it."""
        ...


class PahoTransport:
    """A paho-mqtt client on its own thread for the standalone engine.

    paho's network thread connects, reconnects with back-off (1 s doubling to 30 s) and calls
    back on that thread; subscriptions are sent again on every connection, because a broker
    restarted without persistence has forgotten them.
    """

    def __init__(self, spec: FrigateMqttSpec) -> None:
        """Prepare the client; nothing connects until `start`."""
        from paho.mqtt.client import Client  # noqa: PLC0415
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

        self._spec = spec
        self._where = f"{spec.host}:{spec.port}"
        self._client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=spec.client_id or "",
            clean_session=True,
        )
        if spec.username:
            self._client.username_pw_set(spec.username, spec.password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._callbacks: dict[str, list[MessageCallback]] = {}
        self._lock = threading.Lock()
        self._unacked: set[int] = set()
        """Subscriptions sent but not acknowledged yet: messages published now may be missed."""
        self._connected = False
        self._lost = False
        self._started = False
        self._failures = RateLimitedLog(_LOGGER, logging.ERROR)

    @property
    def connected(self) -> bool:
        """Return whether the broker connection is up and every subscription acknowledged."""
        return self._connected and not self._unacked

    async def start(self) -> None:
        """Start connecting in paho's thread; return at once (a broker down is retried)."""
        if self._started:
            return
        self._started = True
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        self._client.connect_async(self._spec.host, self._spec.port, self._spec.keepalive_s)
        self._client.loop_start()

    async def subscribe(self, topic: str, on_message: MessageCallback) -> Unsubscribe:
        """Subscribe now if connected, and again on every connection."""
        with self._lock:
            first = topic not in self._callbacks
            self._callbacks.setdefault(topic, []).append(on_message)
        if first and self._connected:
            self._send_subscribe(topic)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._callbacks.get(topic, [])
                if on_message in callbacks:
                    callbacks.remove(on_message)
                last = not callbacks
                if last:
                    self._callbacks.pop(topic, None)
            if last and self._connected:
                self._client.unsubscribe(topic)

        return unsubscribe

    async def close(self) -> None:
        """Disconnect and join paho's thread."""
        if not self._started:
            return
        self._started = False
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._connected = False

    # paho's thread ---------------------------------------------------------------------------

    def _on_connect(
        self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            self._log_lost(f"refused the connection ({reason})")
            return
        self._connected = True
        with self._lock:
            topics = list(self._callbacks)
        for topic in topics:
            self._send_subscribe(topic)
        if self._lost:
            self._lost = False
            _LOGGER.info("Connected again to the MQTT broker at %s", self._where)
        else:
            _LOGGER.debug("Connected to the MQTT broker at %s", self._where)

    def _send_subscribe(self, topic: str) -> None:
        # Held while sending so that the acknowledgement (paho's thread) cannot come first.
        with self._lock:
            result, mid = self._client.subscribe(topic, qos=0)
            if result == 0 and mid is not None:
                self._unacked.add(mid)

    def _on_subscribe(
        self, _client: Any, _userdata: Any, mid: int, _reasons: Any, _properties: Any
    ) -> None:
        with self._lock:
            self._unacked.discard(mid)

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        self._log_lost("cannot be reached")

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        self._connected = False
        with self._lock:
            self._unacked.clear()
        if self._started:
            self._log_lost(f"closed the connection ({reason})")

    def _log_lost(self, why: str) -> None:
        """Log the first failure of an outage only; paho keeps retrying quietly."""
        self._connected = False
        if not self._lost:
            self._lost = True
            _LOGGER.warning("The MQTT broker at %s %s; retrying", self._where, why)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        # An exception escaping here would end paho's network thread: every later message of
        # every camera would be lost while the transport still says connected.
        try:
            topic, payload = str(message.topic), bytes(message.payload)
            with self._lock:
                callbacks = list(self._callbacks.get(topic, ()))
        except Exception as err:  # the thread must survive any message
            self._failures.log("?", "Skipping an unreadable MQTT message: %r", err)
            return
        for callback in callbacks:
            try:
                callback(topic, payload)
            except Exception:  # the thread must survive any message
                self._failures.log(
                    topic, "A message on %s could not be handled; skipped", topic, exc_info=True
                )


# Routing ------------------------------------------------------------------------------------


class FrigateReceiver(Protocol):
    """What takes one Frigate camera's messages (a track feed). Must never block."""

    def receive(self, message: FrigateMessage) -> None:
        """Take one message of this camera (or an availability change of its server)."""
        ...


class FrigateRouter:
    """Subscribe to one Frigate server's topics and hand each camera its messages.

    Messages for cameras Vigil does not take detections from, and payloads that cannot be read
    or handled, are skipped: each camera name is logged once, and bad payloads once per topic
    every few minutes (then at debug level), because a busy Frigate publishes many a second.
    """

    def __init__(self, transport: MqttTransport, topic_prefix: str) -> None:
        """Keep the transport; nothing is subscribed until `start`."""
        self.transport = transport
        self.prefix = topic_prefix.rstrip("/")
        self.receivers: dict[str, FrigateReceiver] = {}
        self.skipped = 0
        self._unsubscribe: list[Unsubscribe] = []
        self._unknown_logged: set[str] = set()
        # A bad message is often repeated many times a second: one line per topic and interval.
        self._bad = RateLimitedLog(_LOGGER)

    async def start(self) -> None:
        """Subscribe to the events, tracked-object updates and availability topics."""
        for suffix in TOPICS:
            self._unsubscribe.append(
                await self.transport.subscribe(f"{self.prefix}/{suffix}", self._on_message)
            )

    def stop(self) -> None:
        """Unsubscribe from every topic."""
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            self._route(topic, payload)
        except Exception:  # one message must never stop the feed
            self.skipped += 1
            self._bad.log(
                topic, "A message on %s could not be handled; skipped", topic, exc_info=True
            )

    def _route(self, topic: str, payload: bytes) -> None:
        suffix = topic.removeprefix(f"{self.prefix}/")
        try:
            message = parse_message(suffix, payload)
        except MalformedPayload as err:
            self.skipped += 1
            self._bad.log(topic, "Skipping a malformed message on %s: %s", topic, err)
            return
        if message is None:
            return
        if isinstance(message, FrigateAvailability):
            for each in list(self.receivers.values()):
                each.receive(message)
            _LOGGER.info(
                "Frigate (%s) is %s", self.prefix, "online" if message.online else "offline"
            )
            return
        receiver = self.receivers.get(message.camera)
        if receiver is None:
            self.skipped += 1
            self._log_once(
                self._unknown_logged,
                message.camera,
                "Frigate camera %s is not a Vigil camera taking Frigate's detections; "
                "its events are skipped",
                message.camera,
            )
            return
        receiver.receive(message)

    @staticmethod
    def _log_once(seen: set[str], key: str, text: str, *args: object) -> None:
        level = logging.DEBUG if key in seen else logging.WARNING
        seen.add(key)
        _LOGGER.log(level, text, *args)
