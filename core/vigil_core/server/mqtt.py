"""Publish the server's states and events to an MQTT broker (`serve --mqtt-host`).

Everything published comes from the state board's listener stream, the one the WebSocket
clients get: what the deployment context or a camera's privacy mode holds back never reaches
the broker either (no plate text unless the camera keeps plates in `full`). The topic tree
(docs/server.md) has one retained topic per state value and one non-retained topic per rule
for its events, under ``<prefix>/<server_id>/``; ``availability`` says ``online``, and the
broker says ``offline`` for a server that vanished (the last will).

Analysis never waits for the broker. The board's listener only files a message in an outbox:
a state replaces the pending value of its topic (only the latest value matters), an event is
appended and the oldest events are dropped past `MqttSettings.queue_size` (one log line a
minute says how many). One sender thread hands the outbox to paho, never more than
`INFLIGHT_LIMIT` messages it has not finished sending, so a slow or stalled broker fills the
outbox, not the server's memory. paho's own thread reconnects with back-off; every
(re)connection publishes every current state again, because a broker restarted without
persistence has forgotten its retained messages.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass, field
import logging
from pathlib import Path
import ssl
import threading
import time
from typing import Any, Final

from vigil_core.errors import VigilError
from vigil_protocol import EventPush, StatePush, StateUpdate, StateValue
from vigil_protocol import RuleEvent as WireRuleEvent
from vigil_protocol.codec import ProtocolError, dumps

from .board import Push, StateBoard
from .mqtt_discovery import DEFAULT_DISCOVERY_PREFIX, Discovery

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT: Final = 1883
DEFAULT_TLS_PORT: Final = 8883
DEFAULT_PREFIX: Final = "vigil"
INFLIGHT_LIMIT: Final = 32
"""Messages handed to paho and not yet written (QoS 0) or acknowledged (QoS 1 and 2)."""
DROP_LOG_INTERVAL_S: Final = 60.0
"""Dropped events are reported at most once in this interval."""
STOP_LIMIT_S: Final = 5.0
"""How long a stopping server waits for its `offline` to reach the broker."""
ONLINE: Final = "online"
OFFLINE: Final = "offline"

CAMERA_TOPICS: Final = {"camera": None, "tamper": "tamper", "onvif": "onvif", "plates": "anpr"}
"""Where a camera's own state values go: ``<camera>/state`` or ``<camera>/<segment>/state``."""
_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", "\0": "_"})


class MqttSettingsInvalid(VigilError):
    """The MQTT settings cannot be used (a QoS out of range, a missing TLS file)."""

    translation_key = "mqtt_invalid"


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettings:
    """Where and how the server publishes its states and events over MQTT."""

    host: str
    port: int | None = None
    """None: 1883, or 8883 with TLS."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    """None: ``vigil-<server_id>``."""
    topic_prefix: str = DEFAULT_PREFIX
    qos: int = 1
    tls: bool = False
    ca_file: Path | None = None
    """Certificate authorities to trust (None: the system's)."""
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False
    """Accept a certificate whose name is not the host's (a self-signed one by address)."""
    keepalive_s: int = 60
    queue_size: int = 1000
    """Events kept while the broker is slow or away; the oldest go first."""
    discovery: bool = False
    """Announce Home Assistant entities for the states (for users without the integration)."""
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX

    def __post_init__(self) -> None:
        """Refuse settings no broker connection can use."""
        if not self.host.strip():
            raise MqttSettingsInvalid("the MQTT host is empty")
        if self.qos not in (0, 1, 2):
            raise MqttSettingsInvalid(f"MQTT QoS must be 0, 1 or 2, not {self.qos}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise MqttSettingsInvalid(f"MQTT port {self.port} is out of range")
        for prefix in (self.topic_prefix, self.discovery_prefix):
            if not prefix.strip("/") or any(c in prefix for c in "+#\0") or prefix[0] == "$":
                raise MqttSettingsInvalid(
                    f"MQTT topic prefix {prefix!r} must be a topic without wildcards or a leading $"
                )
        if self.queue_size < 1 or self.keepalive_s < 5:
            raise MqttSettingsInvalid("the MQTT queue size must be ≥ 1 and the keepalive ≥ 5 s")
        if (self.cert_file is None) != (self.key_file is None):
            raise MqttSettingsInvalid("the MQTT client certificate and key go together")

    @property
    def broker_port(self) -> int:
        """Return the port to connect to."""
        if self.port is not None:
            return self.port
        return DEFAULT_TLS_PORT if self.tls else DEFAULT_PORT

    @property
    def where(self) -> str:
        """Return host:port (never the credentials) for log lines."""
        return f"{self.host}:{self.broker_port}"


# ------------------------------------------------------------------------------------ topics


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree of one server: ``<prefix>/<server_id>/…``."""

    root: str

    @classmethod
    def of(cls, prefix: str, server_id: str) -> Topics:
        """Return the tree under a prefix for a server."""
        return cls(f"{prefix.strip('/')}/{_segment(server_id)}")

    @property
    def availability(self) -> str:
        """Return the topic saying `online` or `offline` (retained, the last will)."""
        return f"{self.root}/availability"

    def state(self, camera_id: str | None, rule_id: str | None, kind: str) -> str:
        """Return the retained topic of one state value."""
        if camera_id is None:
            return f"{self.root}/state"
        camera = f"{self.root}/{_segment(camera_id)}"
        if rule_id is not None:
            return f"{camera}/{_segment(rule_id)}/state"
        segment = CAMERA_TOPICS.get(kind, kind)
        return f"{camera}/state" if segment is None else f"{camera}/{_segment(segment)}/state"

    def event(self, event: WireRuleEvent) -> str:
        """Return the topic of a rule's events."""
        return f"{self.root}/{_segment(event.camera_id)}/{_segment(event.rule_id)}/event"


def _segment(text: str) -> str:
    """Return text usable as one topic level (ids are slugs; ONVIF keys may hold a '/')."""
    return text.translate(_UNSAFE) or "_"


# ------------------------------------------------------------------------------------ outbox


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    value: StateValue | WireRuleEvent | Mapping[str, Any] | None
    """None: an empty retained message, which clears the topic."""
    retain: bool


class _Outbox:
    """Messages waiting for the broker, in order: states coalesced by topic, events bounded."""

    def __init__(self, max_events: int) -> None:
        self._items: OrderedDict[str | int, _Message] = OrderedDict()
        self._events: deque[int] = deque()
        self._max_events = max_events
        self._seq = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def events(self) -> int:
        """Return how many events wait."""
        return len(self._events)

    def put_state(self, message: _Message) -> None:
        # Moved to the end: a state published after an event is still newer than it.
        self._items.pop(message.topic, None)
        self._items[message.topic] = message

    def put_event(self, message: _Message) -> None:
        self._seq += 1
        self._items[self._seq] = message
        self._events.append(self._seq)
        if len(self._events) > self._max_events:
            del self._items[self._events.popleft()]
            self.dropped += 1

    def pop(self) -> _Message:
        key, message = self._items.popitem(last=False)
        if isinstance(key, int):
            # Events leave in order, so the oldest waiting event is this one.
            self._events.popleft()
        return message


# --------------------------------------------------------------------------------- publisher


class MqttPublisher:
    """Follow a state board and publish its states and events to one broker."""

    def __init__(
        self,
        settings: MqttSettings,
        server_id: str,
        board: StateBoard,
        *,
        server_name: str = "Vigil",
        version: str = "dev",
    ) -> None:
        """Prepare; nothing connects before `start`."""
        self.settings = settings
        self.server_id = server_id
        self.topics = Topics.of(settings.topic_prefix, server_id)
        self._discovery = (
            Discovery(
                settings.discovery_prefix.strip("/"), server_id, server_name, version,
                self.topics.availability,
            )
            if settings.discovery
            else None
        )  # fmt: skip
        self._announced: dict[str, list[str]] = {}
        """Discovery config topics announced for each state topic (loop side)."""
        self._board = board
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._retained: set[str] = set()
        """Topics holding a retained state this process published (loop side)."""
        self._cond = threading.Condition()
        self._outbox = _Outbox(settings.queue_size)
        self._inflight: set[int] = set()
        self._early: set[int] = set()
        """Messages paho finished before the sender had filed them as in flight."""
        self._connected = False
        self._draining = False
        self._generation = 0
        self._stopping = False
        self._sender: threading.Thread | None = None
        self._lost = False
        self._dropped_logged = 0
        self._drop_log_at = 0.0
        self.published = 0

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Follow the board and start connecting (a broker away is retried with back-off)."""
        self._loop = asyncio.get_running_loop()
        self._client = await asyncio.to_thread(self._make_client)
        self._unsubscribe = self._board.subscribe(self._on_push)
        self._queue_states(self._board.states())
        self._sender = threading.Thread(target=self._send_loop, name="vigil mqtt", daemon=True)
        self._sender.start()
        await asyncio.to_thread(self._connect)
        _LOGGER.info(
            "Publishing states and events to the MQTT broker at %s under %s/",
            self.settings.where,
            self.topics.root,
        )

    async def stop(self) -> None:
        """Say `offline`, disconnect and join the threads."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await asyncio.to_thread(self._flush, STOP_LIMIT_S)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        await asyncio.to_thread(self._stop)

    def _flush(self, limit_s: float) -> None:
        """Let the last states out while the broker is there (at most `limit_s`)."""
        with self._cond:
            self._cond.wait_for(
                lambda: not self._connected or not (len(self._outbox) or self._inflight),
                timeout=limit_s,
            )

    def _make_client(self) -> Any:
        from paho.mqtt.client import Client  # noqa: PLC0415 - paho only when publishing
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

        settings = self.settings
        client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.client_id or f"vigil-{self.server_id}",
            clean_session=True,
        )
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._set_tls(client)
        client.will_set(self.topics.availability, OFFLINE, qos=settings.qos, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.max_inflight_messages_set(INFLIGHT_LIMIT)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _set_tls(self, client: Any) -> None:
        settings = self.settings
        for path in (settings.ca_file, settings.cert_file, settings.key_file):
            if path is not None and not path.is_file():
                raise MqttSettingsInvalid(f"MQTT TLS file {path} does not exist")
        try:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (OSError, ssl.SSLError, ValueError) as err:
            raise MqttSettingsInvalid(f"the MQTT TLS files cannot be used: {err}") from None
        client.tls_insecure_set(settings.tls_insecure)

    def _connect(self) -> None:
        self._client.connect_async(
            self.settings.host, self.settings.broker_port, self.settings.keepalive_s
        )
        self._client.loop_start()

    def _stop(self) -> None:
        if self._sender is not None:
            self._sender.join()
            self._sender = None
        client = self._client
        if client is None:
            return
        if self._connected:
            info = client.publish(
                self.topics.availability, OFFLINE, qos=self.settings.qos, retain=True
            )
            try:
                info.wait_for_publish(timeout=STOP_LIMIT_S)
            except (RuntimeError, ValueError) as err:
                _LOGGER.debug("offline not published: %s", err)
        client.disconnect()
        client.loop_stop()
        self._client = None

    # ------------------------------------------------------------------- the board (the loop)

    def _on_push(self, push: Push) -> None:
        """File a state or an event; never waits for the broker."""
        if isinstance(push, StatePush):
            self._queue_states((push.update,))
        elif isinstance(push, EventPush):
            message = _Message(self.topics.event(push.event), push.event, retain=False)
            with self._cond:
                self._outbox.put_event(message)
                dropped = self._outbox.dropped
                self._cond.notify_all()
            if dropped > self._dropped_logged:
                self._log_dropped(dropped)

    def _queue_states(self, updates: tuple[StateUpdate, ...], *, announce: bool = False) -> None:
        """File states (and, with discovery, the entities of new topics; all with `announce`)."""
        messages = []
        for update in updates:
            topic = self.topics.state(update.camera_id, update.rule_id, update.state.KIND)
            if self._discovery is not None and (announce or topic not in self._announced):
                found = self._discovery.messages(update, topic)
                self._announced[topic] = [config_topic for config_topic, _config in found]
                messages += [_Message(t, config, retain=True) for t, config in found]
            messages.append(_Message(topic, update.state, retain=True))
        self._retained.update(m.topic for m in messages)
        with self._cond:
            for message in messages:
                self._outbox.put_state(message)
            self._cond.notify_all()

    def prune(self) -> None:
        """Clear the retained topics of states the board no longer holds (removed rules)."""
        current = {
            self.topics.state(u.camera_id, u.rule_id, u.state.KIND) for u in self._board.states()
        }
        for topic in set(self._announced) - current:
            current.difference_update(self._announced.pop(topic))
        current.update(t for topics in self._announced.values() for t in topics)
        gone = self._retained - current
        self._retained &= current
        with self._cond:
            for topic in sorted(gone):
                self._outbox.put_state(_Message(topic, None, retain=True))
            self._cond.notify_all()

    def _resync(self) -> None:
        """Publish every current state again (a restarted broker forgot the retained ones)."""
        self._queue_states(self._board.states(), announce=True)

    def _log_dropped(self, dropped: int) -> None:
        now = time.monotonic()
        if now - self._drop_log_at < DROP_LOG_INTERVAL_S:
            return
        _LOGGER.warning(
            "The MQTT broker at %s is not keeping up: %d events dropped so far, the oldest "
            "first (%d wait at most; states are kept, their latest value only)",
            self.settings.where,
            dropped,
            self.settings.queue_size,
        )
        self._drop_log_at = now
        self._dropped_logged = dropped

    @property
    def dropped(self) -> int:
        """Return how many events were dropped because the broker did not keep up."""
        with self._cond:
            return self._outbox.dropped

    @property
    def waiting(self) -> int:
        """Return how many messages wait in the outbox."""
        with self._cond:
            return len(self._outbox)

    @property
    def connected(self) -> bool:
        """Return whether the broker connection is up."""
        return self._connected

    # --------------------------------------------------------------------- the sender thread

    def _ready(self) -> bool:
        return self._stopping or (
            self._connected
            and not self._draining
            and len(self._inflight) < INFLIGHT_LIMIT
            and len(self._outbox) > 0
        )

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._ready)
                if self._stopping:
                    return
                message = self._outbox.pop()
                generation = self._generation
            self._send(message, generation)

    def _send(self, message: _Message, generation: int) -> None:
        try:
            payload = "" if message.value is None else dumps(message.value)
        except ProtocolError as err:
            _LOGGER.debug("Not published on %s: %s", message.topic, err)
            return
        qos = self.settings.qos
        info = self._client.publish(message.topic, payload, qos=qos, retain=message.retain)
        if info.rc != 0 and qos == 0:
            return  # not connected any more: paho forgets QoS 0 messages
        with self._cond:
            if qos == 0 and generation != self._generation:
                return  # the connection it went out on is gone, and so is the message
            self._track(info.mid)
            self.published += 1

    def _track(self, mid: int) -> None:
        """File a message as in flight (under the condition's lock)."""
        if mid in self._early:
            self._early.discard(mid)
        else:
            self._inflight.add(mid)

    # ------------------------------------------------------------------------- paho's thread

    def _on_connect(
        self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            self._log_lost(f"refused the connection ({reason})")
            return
        info = client.publish(self.topics.availability, ONLINE, qos=self.settings.qos, retain=True)
        with self._cond:
            self._connected = True
            self._early.clear()
            # paho sends the QoS 1/2 messages of the last connection again: a state must not
            # arrive after the newer value the resynchronisation below publishes.
            self._draining = bool(self._inflight)
            if self.settings.qos > 0:
                self._track(info.mid)
            self._cond.notify_all()
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is gone
                loop.call_soon_threadsafe(self._resync)
        if self._lost:
            self._lost = False
            _LOGGER.info("Connected again to the MQTT broker at %s", self.settings.where)
        else:
            _LOGGER.debug("Connected to the MQTT broker at %s", self.settings.where)

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        self._log_lost("cannot be reached")

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        with self._cond:
            self._connected = False
            self._generation += 1
            if self.settings.qos == 0:
                self._inflight.clear()  # paho drops unsent QoS 0 messages on reconnection
            self._early.clear()
            stopping = self._stopping
        if not stopping:
            self._log_lost(f"closed the connection ({reason})")

    def _on_publish(
        self, _client: Any, _userdata: Any, mid: int, _reason: Any, _properties: Any
    ) -> None:
        with self._cond:
            if mid in self._inflight:
                self._inflight.discard(mid)
            else:
                self._early.add(mid)
            if self._draining and not self._inflight:
                self._draining = False
            self._cond.notify_all()

    def _log_lost(self, why: str) -> None:
        """Log the first failure of an outage only; paho keeps retrying with back-off."""
        self._connected = False
        if not self._lost:
            self._lost = True
            _LOGGER.warning("The MQTT broker at %s %s; retrying", self.settings.where, why)
