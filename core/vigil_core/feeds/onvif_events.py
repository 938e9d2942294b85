"""Follow an ONVIF camera's own analytics and publish them as RuleEvents.

One task per camera, on the caller's event loop (the engine's bus lives there): connect and read
the camera's clock, read the topics it announces (GetEventProperties), create a PullPoint
subscription and pull. The subscription is renewed at ``renew_fraction`` of the lifetime the
camera granted, measured on the camera's own clock (its CurrentTime/TerminationTime), so a skewed
clock cannot make it lapse. Any refusal of a pull or a renewal (unknown subscription after a
reboot, an expired one, the camera unreachable) drops the session: a fresh connection re-reads the
clock, the topics and subscribes again, at once the first time and with back-off after that. A
change of ``Monitoring/OperatingTime/LastReboot`` means the camera restarted between two pulls.

Cameras without PullPoint are polled with WS-BaseNotification's GetCurrentMessage on every
announced topic. The onvif-zeep-async ``PullPointManager`` is not used: its renewal floor (60 s)
and restart delay (40 s) are fixed, and its timers run outside this task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
import contextlib
from dataclasses import dataclass
import datetime as dt
from enum import StrEnum
import logging
from typing import Any, Final, TypeVar

from onvif.exceptions import ONVIFError  # type: ignore[import-untyped, unused-ignore]
from zeep.exceptions import Fault, XMLParseError, XMLSyntaxError

from vigil_core.errors import AuthFailed, VigilError
from vigil_core.events.model import VigilEvent
from vigil_core.feeds.onvif import (
    LIBRARY_ERRORS,
    connect_camera,
    fault_code,
    host_port,
    is_auth_fault,
    new_camera,
    translate_error,
)
from vigil_core.feeds.onvif_messages import (
    MalformedMessage,
    OnvifMessage,
    message_from_element,
    message_from_zeep,
    topics_from_topic_set,
)
from vigil_core.feeds.onvif_states import TopicStates
from vigil_core.feeds.onvif_topics import LAST_REBOOT_TOPIC, PARSERS, Reading, ReadingShape

_LOGGER = logging.getLogger(__name__)

EVENTS_NS: Final = "http://www.onvif.org/ver10/events/wsdl"
_PULLPOINT_XADDR: Final = f"{EVENTS_NS}/PullPointSubscription"
_CONCRETE_SET: Final = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
# Faults that say an operation does not exist on this camera, not that a call failed.
_UNSUPPORTED_CODES: Final = frozenset(
    {"ActionNotSupported", "NotImplemented", "InvalidAction", "EventsNotSupported"}
)
_UNREADABLE: Final = (XMLParseError, XMLSyntaxError)
_CALL_ERRORS: Final[tuple[type[BaseException], ...]] = (TimeoutError, *LIBRARY_ERRORS)

_T = TypeVar("_T")

type Publish = Callable[[VigilEvent], None]


class EventChannelState(StrEnum):
    """Where a camera's event channel stands."""

    CONNECTING = "connecting"
    PULLPOINT = "pullpoint"
    POLLING = "polling"
    UNSUPPORTED = "unsupported"
    """The camera has no event service, or neither PullPoint nor GetCurrentMessage."""
    OFFLINE = "offline"
    AUTH_FAILED = "auth_failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class EventChannelStatus:
    """A camera's event channel state, with a short reason (never credentials)."""

    state: EventChannelState
    reason: str = ""
    translation_key: str | None = None

    @property
    def online(self) -> bool:
        """Return whether camera-side events are flowing."""
        return self.state in (EventChannelState.PULLPOINT, EventChannelState.POLLING)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnvifEventSettings:
    """Timings of a camera's event channel."""

    subscription_s: float = 600.0
    """Subscription lifetime asked for; the camera may grant another."""
    renew_fraction: float = 0.8
    pull_timeout_s: float = 10.0
    """How long a PullMessages call may wait for messages (long poll)."""
    message_limit: int = 100
    poll_interval_s: float = 5.0
    request_timeout_s: float = 15.0
    retry_min_s: float = 2.0
    retry_max_s: float = 120.0
    unsupported_retry_s: float = 3600.0
    auth_retry_s: float = 900.0
    pulse_hold_s: float = 10.0
    """How long a stateless alarm (Axis tampering) stays on."""
    unreadable_limit: int = 3
    """Consecutive unreadable PullMessages replies before subscribing again."""
    close_timeout_s: float = 2.0
    """How long unsubscribing, then closing the camera's HTTP clients, may take each."""
    stop_timeout_s: float = 5.0
    """How long `stop` waits for the channel's task before it leaves it behind, cancelled."""


class SubscriptionLost(Exception):
    """The camera no longer serves our subscription: expired, dropped, or it rebooted."""


class EventsUnsupported(Exception):
    """The camera cannot deliver events to Vigil."""


@dataclass(slots=True)
class _Subscription:
    """A live PullPoint subscription and when to renew it (loop time)."""

    manager: Any
    pullpoint: Any
    renew_at: float


class OnvifEventSource:
    """Publish a camera's ONVIF events as RuleEvents, for as long as it runs."""

    def __init__(
        self,
        *,
        camera_id: str,
        host: str,
        port: int,
        username: str,
        password: str,
        settings: OnvifEventSettings | None = None,
        on_status: Callable[[EventChannelStatus], None] | None = None,
        on_topics: Callable[[tuple[str, ...]], None] | None = None,
    ) -> None:
        """Keep the camera's address and credentials; nothing connects until `start`."""
        self.camera_id = camera_id
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._where = host_port(host, port)
        self.settings = settings or OnvifEventSettings()
        self._on_status = on_status
        self._on_topics = on_topics
        self._publish: Publish = lambda _event: None
        self._task: asyncio.Task[None] | None = None
        self._status = EventChannelStatus(EventChannelState.CONNECTING)
        self._topics: tuple[str, ...] | None = None
        self._states = TopicStates(camera_id)
        self._pulses: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._subscription: _Subscription | None = None
        self._last_reboot: str | None = None
        self._established = False
        self._warned: set[str] = set()

    @property
    def status(self) -> EventChannelStatus:
        """Return the channel's current state."""
        return self._status

    @property
    def topics(self) -> tuple[str, ...]:
        """Return the topics the camera announced (empty before it answered)."""
        return self._topics or ()

    async def start(self, publish: Publish) -> None:
        """Start following the camera in a task on the running loop."""
        if self._task is not None:
            return
        self._publish = publish
        self._task = asyncio.create_task(self._run(), name=f"vigil onvif events {self.camera_id}")

    async def stop(self) -> None:
        """Unsubscribe, stop the task and cancel pending pulse ends."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Bounded: a library that never returns from a close must not hang an unload.
            done, _ = await asyncio.wait({task}, timeout=self.settings.stop_timeout_s)
            if not done:
                _LOGGER.warning(
                    "Camera %s event channel did not stop within %.0f s; left cancelled",
                    self.camera_id,
                    self.settings.stop_timeout_s,
                )
                task.add_done_callback(_retrieve)
            elif not task.cancelled() and (err := task.exception()) is not None:
                _LOGGER.debug("Camera %s event channel ended with %r", self.camera_id, err)
        for handle in self._pulses.values():
            handle.cancel()
        self._pulses.clear()
        self._set_status(EventChannelState.STOPPED)

    async def _run(self) -> None:
        """Connect, subscribe and pull; start over after every loss, with back-off."""
        delay = self.settings.retry_min_s
        while True:
            camera = new_camera(self._host, self._port, self._username, self._password)
            wait = delay
            try:
                await self._session(camera)
            except SubscriptionLost as err:
                if self._established:
                    # A subscription that worked and then failed: the camera rebooted or
                    # dropped it. Subscribing again at once loses the fewest events.
                    _LOGGER.info("Camera %s: %s; subscribing again", self.camera_id, err)
                    wait, delay = 0.0, self.settings.retry_min_s
                else:
                    self._set_status(EventChannelState.OFFLINE, str(err))
                    delay = min(delay * 2, self.settings.retry_max_s)
            except EventsUnsupported as err:
                self._report_unsupported(str(err))
                wait = self.settings.unsupported_retry_s
            except AuthFailed as err:
                self._set_status(EventChannelState.AUTH_FAILED, str(err), err.translation_key)
                # Cameras lock an address out after a few refused logins (Hikvision: 7 in a
                # row, for 30 min): wait long; the reauth flow reloads with new credentials.
                wait = self.settings.auth_retry_s
            except VigilError as err:
                self._set_status(EventChannelState.OFFLINE, str(err), err.translation_key)
                delay = min(delay * 2, self.settings.retry_max_s)
            except Exception as err:
                self._warn_once("unexpected", "Camera %s event channel failed: %r", err)
                self._set_status(
                    EventChannelState.OFFLINE, f"unexpected error: {type(err).__name__}"
                )
                delay = min(delay * 2, self.settings.retry_max_s)
            finally:
                await self._close(camera)
            if _cancel_requested():
                # stop() cancelled us, but a library under the session turned the cancellation
                # into an ordinary error (caught above): honour it instead of reconnecting.
                raise asyncio.CancelledError
            await asyncio.sleep(wait)

    async def _session(self, camera: Any) -> None:
        """Run one connection: clock, topics, then PullPoint or polling until it fails."""
        self._established = False
        try:
            await self._call(connect_camera(camera, self._where))
            if EVENTS_NS not in camera.xaddrs:
                raise EventsUnsupported("the camera has no event service")
            await self._read_topics(camera)
            subscription = await self._subscribe(camera)
            if subscription is None:
                await self._poll(camera)
            else:
                await self._follow(camera, subscription)
        except (EventsUnsupported, SubscriptionLost, VigilError):
            raise
        except _CALL_ERRORS as err:
            raise translate_error(err, self._where) from err

    async def _read_topics(self, camera: Any) -> None:
        """Read the topics the camera announces and report them when they changed."""
        events = await camera.create_events_service()
        try:
            reply = await self._call(events.GetEventProperties())
        except Fault as fault:
            if is_auth_fault(fault):
                raise
            _LOGGER.debug("Camera %s: GetEventProperties refused (%s)", self.camera_id, fault)
            topics: tuple[str, ...] = ()
        else:
            topic_set = getattr(reply, "TopicSet", None)
            try:
                topics = topics_from_topic_set(getattr(topic_set, "_value_1", None) or ())
            except (AttributeError, TypeError, ValueError) as err:
                # Entities then come from the messages themselves, as they arrive.
                self._warn_once("topics", "Camera %s announced unreadable topics: %r", err)
                topics = ()
        if topics != self._topics:
            self._topics = topics
            _LOGGER.debug("Camera %s announces %d event topics", self.camera_id, len(topics))
            if self._on_topics is not None:
                self._on_topics(topics)

    async def _subscribe(self, camera: Any) -> _Subscription | None:
        """Create a PullPoint subscription; None when the camera has no PullPoint."""
        capabilities = await camera.get_capabilities() or {}
        events_caps = capabilities.get("Events") or {}
        if events_caps.get("WSPullPointSupport") is False:
            return None
        events = await camera.create_events_service()
        lifetime = dt.timedelta(seconds=self.settings.subscription_s)
        try:
            reply = await self._call(
                events.CreatePullPointSubscription(
                    {"InitialTerminationTime": camera.get_next_termination_time(lifetime)}
                )
            )
        except Fault as fault:
            if is_auth_fault(fault):
                raise
            if fault_code(fault) in _UNSUPPORTED_CODES:
                return None
            code = fault_code(fault)
            raise SubscriptionLost(f"CreatePullPointSubscription refused ({code})") from fault
        address = str(reply.SubscriptionReference.Address._value_1).strip()
        rewrite = getattr(camera, "rewrite_url", None)  # 4.x: cameras behind NAT
        camera.xaddrs[_PULLPOINT_XADDR] = rewrite(address) if rewrite else address
        manager = await camera.create_subscription_service("PullPointSubscription")
        pullpoint = await camera.create_pullpoint_service()
        subscription = _Subscription(manager, pullpoint, renew_at=0.0)
        self._subscription = subscription
        if camera.has_broken_relative_time(lifetime, reply.CurrentTime, reply.TerminationTime):
            await self._renew(camera, subscription)
        else:
            subscription.renew_at = self._renew_at(reply)
        return subscription

    async def _follow(self, camera: Any, subscription: _Subscription) -> None:
        """Pull until the subscription fails, renewing it before it lapses."""
        self._set_status(EventChannelState.PULLPOINT)
        self._established = True
        await self._synchronize(subscription)
        loop = asyncio.get_running_loop()
        unreadable = 0
        self._last_reboot = None
        while True:
            if subscription.renew_at - loop.time() < 1.0:
                await self._renew(camera, subscription)
            # Whole seconds (some cameras refuse fractions), ending before the renewal is due.
            remaining_s = subscription.renew_at - loop.time()
            wait_s = max(1, int(min(self.settings.pull_timeout_s, remaining_s)))
            try:
                reply = await self._lossy(
                    subscription.pullpoint.PullMessages(
                        {
                            "Timeout": dt.timedelta(seconds=wait_s),
                            "MessageLimit": self.settings.message_limit,
                        }
                    ),
                    "PullMessages",
                    timeout_s=wait_s + self.settings.request_timeout_s,
                )
            except _UnreadableReply as err:
                unreadable += 1
                self._warn_once(
                    "reply", "Camera %s sent an unreadable event reply; skipped: %s", err
                )
                if unreadable >= self.settings.unreadable_limit:
                    raise SubscriptionLost("the camera keeps sending unreadable replies") from err
                # Such a reply comes back at once: do not turn a broken camera into a busy loop.
                await asyncio.sleep(min(1.0, self.settings.pull_timeout_s))
                continue
            unreadable = 0
            self._handle(getattr(reply, "NotificationMessage", None) or ())

    async def _renew(self, camera: Any, subscription: _Subscription) -> None:
        """Extend the subscription; its reply sets the next renewal."""
        lifetime = dt.timedelta(seconds=self.settings.subscription_s)
        reply = await self._lossy(
            subscription.manager.Renew(camera.get_next_termination_time(lifetime)), "Renew"
        )
        subscription.renew_at = self._renew_at(reply)

    def _renew_at(self, reply: Any) -> float:
        """Return when to renew: a fraction of the lifetime the camera granted, on its clock."""
        current = getattr(reply, "CurrentTime", None)
        termination = getattr(reply, "TerminationTime", None)
        lifetime_s = self.settings.subscription_s
        if isinstance(current, dt.datetime) and isinstance(termination, dt.datetime):
            with contextlib.suppress(TypeError):  # one naive, one aware
                granted = (termination - current).total_seconds()
                if granted > 0:
                    lifetime_s = granted
        # Cameras give these times to the second: keep a second in hand as well.
        renew_in_s = min(lifetime_s * self.settings.renew_fraction, lifetime_s - 1.0)
        return asyncio.get_running_loop().time() + max(0.5, renew_in_s)

    async def _synchronize(self, subscription: _Subscription) -> None:
        """Ask for every property's current state (best effort: many cameras send it anyway)."""
        with contextlib.suppress(Fault, TimeoutError, *LIBRARY_ERRORS):
            await self._call(subscription.pullpoint.SetSynchronizationPoint())

    async def _poll(self, camera: Any) -> None:
        """Poll GetCurrentMessage on every announced topic, for cameras without PullPoint."""
        topics = self.topics
        if not topics:
            raise EventsUnsupported("no PullPoint, and no announced topic to poll")
        producer = await camera.create_notification_service()
        self._set_status(EventChannelState.POLLING)
        self._established = True
        refused: set[str] = set()
        while True:
            for topic in topics:
                if topic in refused:
                    continue
                request = {"Topic": {"_value_1": topic, "Dialect": _CONCRETE_SET}}
                try:
                    reply = await self._lossy(
                        producer.GetCurrentMessage(request), "GetCurrentMessage"
                    )
                except _Refused as err:
                    if err.code in _UNSUPPORTED_CODES:
                        raise EventsUnsupported("neither PullPoint nor GetCurrentMessage") from err
                    if err.code != "NoCurrentMessageOnTopic":
                        refused.add(topic)
                    continue
                except _UnreadableReply as err:
                    self._warn_once(topic, "Camera %s sent an unreadable message; skipped: %s", err)
                    continue
                self._handle_current(topic, reply)
            if len(refused) == len(topics):
                raise EventsUnsupported("GetCurrentMessage answers no announced topic")
            await asyncio.sleep(self.settings.poll_interval_s)

    def _handle(self, holders: Iterable[Any]) -> None:
        """Publish what a batch of notifications means; skip (and log once) unreadable ones."""
        rebooted = False
        for holder in holders:
            try:
                message = message_from_zeep(holder)
            except MalformedMessage as err:
                self._warn_once(
                    "notification", "Camera %s sent a malformed event; skipped: %s", err
                )
                continue
            except Exception as err:  # one unreadable notification must not cost the batch
                self._warn_once("notification", "Camera %s sent an unreadable event: %r", err)
                continue
            rebooted |= self._rebooted(message)
            self._apply(message)
        if rebooted:
            raise SubscriptionLost("the camera rebooted")

    def _handle_current(self, topic: str, reply: Any) -> None:
        """Publish what a GetCurrentMessage reply holds (one tt:Message, parsed or raw)."""
        values = getattr(reply, "_value_1", reply)
        for value in values if isinstance(values, list) else [values]:
            if value is None:
                continue
            try:
                if hasattr(value, "tag"):
                    message = message_from_element(topic, value)
                else:
                    message = message_from_zeep(_Holder(topic, value))
            except MalformedMessage as err:
                self._warn_once(topic, "Camera %s sent a malformed event; skipped: %s", err)
                continue
            self._apply(message)

    def _apply(self, message: OnvifMessage) -> None:
        """Turn one message into events and publish them."""
        try:
            reading = PARSERS.parse(message)
        except MalformedMessage as err:
            self._warn_once(message.topic, "Camera %s sent a malformed event; skipped: %s", err)
            return
        except Exception as err:  # a parser's bug costs this message, not the batch
            self._warn_once(message.topic, "Camera %s sent an event Vigil failed on: %r", err)
            return
        if reading is None:
            return
        if reading.shape is ReadingShape.PULSE:
            self._schedule_pulse_end(reading)
        for event in self._states.apply(message, reading):
            self._publish(event)

    def _rebooted(self, message: OnvifMessage) -> bool:
        """Return whether the camera's last-reboot time changed during this subscription."""
        if message.topic != LAST_REBOOT_TOPIC or not message.data:
            return False
        value = next(iter(message.data.values()))
        previous, self._last_reboot = self._last_reboot, value
        return previous is not None and previous != value

    def _schedule_pulse_end(self, reading: Reading) -> None:
        """End a stateless alarm after the hold time, unless it repeats before."""
        slot = (reading.kind, reading.key)
        previous = self._pulses.pop(slot, None)
        if previous is not None:
            previous.cancel()
        if reading.active:
            self._pulses[slot] = asyncio.get_running_loop().call_later(
                self.settings.pulse_hold_s, self._end_pulse, reading.kind, reading.key
            )

    def _end_pulse(self, kind: str, key: str) -> None:
        """Publish the end of a held pulse."""
        self._pulses.pop((kind, key), None)
        for event in self._states.end(kind, key):
            self._publish(event)

    async def _close(self, camera: Any) -> None:
        """Unsubscribe (best effort, briefly) and close the camera's HTTP clients."""
        subscription, self._subscription = self._subscription, None
        limit = self.settings.close_timeout_s
        if subscription is not None:
            with contextlib.suppress(Fault, TimeoutError, *LIBRARY_ERRORS):
                async with asyncio.timeout(limit):
                    await subscription.manager.Unsubscribe()
        with contextlib.suppress(TimeoutError, *LIBRARY_ERRORS):
            async with asyncio.timeout(limit):
                await camera.close()

    async def _lossy(
        self, call: Awaitable[_T], operation: str, *, timeout_s: float | None = None
    ) -> _T:
        """Await a subscription call; turn its failures into SubscriptionLost or AuthFailed."""
        try:
            return await self._call(call, timeout_s)
        except Fault as fault:
            if is_auth_fault(fault):
                raise translate_error(fault, self._where) from fault
            raise _Refused(operation, fault_code(fault)) from fault
        except _UNREADABLE as err:
            raise _UnreadableReply(str(err)) from err
        except ONVIFError as err:
            inner = err.__cause__ or next((a for a in err.args if isinstance(a, Exception)), None)
            if isinstance(inner, _UNREADABLE):
                raise _UnreadableReply(str(inner)) from err
            raise SubscriptionLost(
                f"{operation} failed: {translate_error(err, self._where)}"
            ) from err
        except _CALL_ERRORS as err:
            raise SubscriptionLost(
                f"{operation} failed: {translate_error(err, self._where)}"
            ) from err

    async def _call(self, call: Awaitable[_T], timeout_s: float | None = None) -> _T:
        """Await one request within the request timeout.

        The HTTP library may swallow the cancellation `stop` sends (httpcore catches it while
        it closes a response, and the request returns as if nothing happened) or turn it into
        an error of its own, which some callers suppress (`_synchronize`): either way the
        channel would go on pulling after `stop`. A requested cancellation wins over both.
        """
        try:
            async with asyncio.timeout(timeout_s or self.settings.request_timeout_s):
                result = await call
        except Exception:
            if _cancel_requested():
                raise asyncio.CancelledError from None
            raise
        if _cancel_requested():
            raise asyncio.CancelledError
        return result

    def _set_status(
        self, state: EventChannelState, reason: str = "", translation_key: str | None = None
    ) -> None:
        """Record the channel state and tell the owner when it changed."""
        status = EventChannelStatus(state, reason, translation_key)
        if status == self._status:
            return
        if state is EventChannelState.OFFLINE and self._status.state is not state:
            _LOGGER.info("Camera %s events unavailable: %s", self.camera_id, reason)
        elif status.online and not self._status.online:
            _LOGGER.info("Camera %s events flowing (%s)", self.camera_id, state.value)
        self._status = status
        if self._on_status is not None:
            self._on_status(status)

    def _report_unsupported(self, reason: str) -> None:
        """Say once that the camera has no usable event channel."""
        if self._status.state is not EventChannelState.UNSUPPORTED:
            _LOGGER.info("Camera %s delivers no events to Vigil: %s", self.camera_id, reason)
        self._set_status(EventChannelState.UNSUPPORTED, reason)

    def _warn_once(self, what: str, message: str, err: Exception) -> None:
        """Log a problem at warning level the first time, at debug level afterwards."""
        level = logging.DEBUG if what in self._warned else logging.WARNING
        self._warned.add(what)
        _LOGGER.log(level, message, self.camera_id, err)


class _Refused(SubscriptionLost):
    """The camera answered an event call with a SOAP fault."""

    def __init__(self, operation: str, code: str) -> None:
        super().__init__(f"{operation} refused ({code})")
        self.code = code


class _UnreadableReply(Exception):
    """A reply that is not well-formed XML."""


@dataclass(frozen=True, slots=True)
class _Holder:
    """A NotificationMessage shape around a GetCurrentMessage payload."""

    topic: str
    payload: Any

    @property
    def Topic(self) -> str:
        """Return the topic the payload was asked for."""
        return self.topic

    @property
    def Message(self) -> Any:
        """Return an object whose ``_value_1`` is the payload."""
        return _Payload(self.payload)


@dataclass(frozen=True, slots=True)
class _Payload:
    _value_1: Any


def _retrieve(task: asyncio.Task[None]) -> None:
    """Read a left-behind task's outcome when it ends, so asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()


def _cancel_requested() -> bool:
    """Return whether the running task was asked to stop (even if the error got swallowed)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
