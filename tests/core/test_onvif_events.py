"""Camera-side ONVIF events: recorded topics, the PullPoint lifecycle and every failure path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import replace
import logging
import time
from typing import Any

from lxml import etree
import pytest
from zeep.exceptions import TransportError

from tests.support.onvif_emulator import OnvifEmulator
from tests.support.onvif_event_service import (
    EventsMode,
    notification,
    render,
    sample_names,
    topic_of,
    topic_set_xml,
)
from vigil_core.events.model import EventPhase, RuleEvent, VigilEvent
from vigil_core.feeds.onvif_events import (
    EventChannelState,
    EventChannelStatus,
    OnvifEventSettings,
    OnvifEventSource,
)
from vigil_core.feeds.onvif_messages import (
    MalformedMessage,
    OnvifMessage,
    normalize_topic,
    notification_from_element,
    topics_from_topic_set,
)
from vigil_core.feeds.onvif_states import TopicStates
from vigil_core.feeds.onvif_topics import (
    PARSERS,
    OnvifKind,
    ReadingShape,
    refused,
)

USER = "events-reader"
PASSWORD = "Ev3nts/p@ss"
UTC = "2024-05-25T23:59:38Z"
FAST = OnvifEventSettings(
    pull_timeout_s=1.0,
    request_timeout_s=3.0,
    retry_min_s=0.2,
    retry_max_s=1.0,
    poll_interval_s=0.2,
    pulse_hold_s=0.3,
)

# Sample → (event kind once it turns on, values that turn it on).
ON: dict[str, tuple[str, dict[str, object]]] = {
    "hikvision_motion_alarm": ("motion", {"state": "true"}),
    "hikvision_cell_motion": ("motion", {"state": "true"}),
    "hikvision_field_detector": ("zone_presence", {"state": "true", "object_id": 7}),
    "hikvision_line_detector": ("line_crossing", {"object_id": 15}),
    "hikvision_count_aggregation": ("object_count", {"count": 4}),
    "hikvision_tamper": ("obstruction", {"state": "true"}),
    "hikvision_scene_change": ("orientation_change", {"state": "true"}),
    "hikvision_too_dark": ("obstruction", {"state": "true"}),
    "hikvision_alarm_in": ("digital_input", {"state": "true"}),
    "hikvision_nvr_motion": ("motion", {"state": "TRUE"}),
    "hikvision_nvr_video_cover": ("obstruction", {"state": "TRUE"}),
    "hikvision_last_reboot": ("onvif_event", {"status": "2024-05-25T23:59:38Z"}),
    "onvif_too_blurry": ("defocus", {"state": "true"}),
    "onvif_too_bright": ("obstruction", {"state": "true"}),
    "onvif_detected_sound": ("sound", {"state": "true"}),
    "dahua_motion_alarm": ("motion", {"state": "true"}),
    "dahua_scene_change": ("orientation_change", {"state": "true"}),
    "dahua_digital_input": ("digital_input", {"state": "true"}),
    "dahua_smart_motion_human": ("person", {"state": "true"}),
    "axis_tampering": ("obstruction", {"state": "1"}),
    "axis_vmd4": ("motion", {"state": "1"}),
    "axis_object_analytics": (
        "zone_presence",
        {"state": "1", "object_id": 4240, "classes": "human"},
    ),
    "axis_io_port": ("digital_input", {"state": "1"}),
    "axis_motion_region": ("motion", {"state": "1"}),
    "reolink_people": ("person", {"state": "true"}),
    "reolink_vehicle": ("vehicle", {"state": "true"}),
    "reolink_dog_cat": ("animal", {"state": "true"}),
    "reolink_visitor": ("visitor", {"state": "true"}),
    "reolink_package": ("package", {"state": "true"}),
    "tapo_people": ("person", {"state": "true"}),
    "tapo_line_cross": ("line_crossing", {"state": "true"}),
    "tapo_intrusion": ("zone_presence", {"state": "true"}),
    "hanwha_line_crossing": ("line_crossing", {"state": "true", "object_id": ""}),
    "bosch_line_crossed": ("line_crossing", {}),
    "avigilon_object_crosses": ("onvif_event", {"event_id": 12439}),
    "vendor_people_analysis": (
        "onvif_event",
        {"event_id": 5, "person": "Jane Doe", "gender": "female", "age": "34"},
    ),
}

# Samples Vigil drops outright: they describe a face (no reading, no entity, no event).
REFUSED: dict[str, dict[str, object]] = {
    "reolink_face": {"state": "true"},
    "onvif_face_recognition": {"object_id": 3, "person": "Jane Doe", "gender": "female", "age": 34},
}
PERSONAL_VALUES = ("Jane Doe", "female", "34")


def _message(name: str, operation: str = "Changed", **values: object) -> etree._Element:
    text = notification(name, utc=UTC, operation=operation, **values)
    return etree.fromstring(text.encode())


def _events_of(name: str, operation: str = "Changed", **values: object) -> list[RuleEvent]:
    message = notification_from_element(_message(name, operation, **values))
    reading = PARSERS.parse(message)
    assert reading is not None
    return TopicStates("cam").apply(message, reading)


def test_every_recorded_sample_is_covered() -> None:
    samples = {name for name in sample_names() if not name.startswith("malformed")}
    assert samples == set(ON) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(ON))
def test_recorded_sample_becomes_its_event(name: str) -> None:
    kind, values = ON[name]

    events = _events_of(name, **values)

    assert [event.kind for event in events] == [kind]
    event = events[0]
    assert event.source == "onvif"
    assert event.camera_id == "cam"
    assert event.attrs["topic"] == normalize_topic(topic_of(name))
    assert event.at_s == pytest.approx(1716681578.0)
    if kind in ("line_crossing", "onvif_event"):
        assert event.phase is EventPhase.INSTANT
    elif kind == "object_count":
        assert (event.phase, event.attrs["count"]) == (EventPhase.UPDATED, 4)
    else:
        assert event.phase is EventPhase.STARTED


def test_recorded_values_reach_the_event() -> None:
    (field,) = _events_of("hikvision_field_detector", state="true", object_id=7)
    (crossing,) = _events_of("hikvision_line_detector", object_id=15)
    (axis,) = _events_of("axis_object_analytics", state="1", object_id=4240, classes="human")
    (unknown,) = _events_of("avigilon_object_crosses", event_id=12439)
    (tamper,) = _events_of("hikvision_tamper", state="true")

    assert (field.rule_id, field.track_id, field.attrs["rule"]) == (
        "onvif:MyFieldDetector1", 7, "MyFieldDetector1",
    )  # fmt: skip
    assert (crossing.rule_id, crossing.track_id) == ("onvif:MyLineDetector1", 15)
    assert (axis.rule_id, axis.track_id, axis.attrs["object_class"]) == (
        "onvif:Device1Scenario1", 4240, "human",
    )  # fmt: skip
    # A topic Vigil cannot read says that it fired, never what its items hold.
    assert unknown.attrs["key_items"] == {} and unknown.attrs["data"] == {}
    assert unknown.attrs["source_items"] == {
        "VideoSourceConfigurationToken": "camCfg0",
        "Rule": "Port Wrong",
    }
    assert unknown.attrs["rule"] == "Port Wrong"
    assert (tamper.kind, tamper.rule_id, tamper.attrs["report"]) == (
        "obstruction",
        "tamper",
        "tamper",
    )
    assert tamper.attrs["source"] == "onvif"


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_face_topics_are_dropped_outright(name: str) -> None:
    message = notification_from_element(_message(name, **REFUSED[name]))
    assert PARSERS.parse(message) is None
    assert PARSERS.kinds_of(message.topic) == ()


def test_no_item_describing_a_person_reaches_an_event() -> None:
    """Only allow-listed items pass: an unknown topic's Name, Gender and Age never do."""
    (event,) = _events_of("vendor_people_analysis", **ON["vendor_people_analysis"][1])
    text = repr(dict(event.attrs))
    assert event.kind == "onvif_event"
    for value in (*PERSONAL_VALUES, "Gender", "Age", "Name", "EventId"):
        assert value not in text
    # A parsed topic keeps its state items, and loses any other item the camera adds.
    message = OnvifMessage(
        topic="tns1:RuleEngine/FieldDetector/ObjectsInside",
        operation="Changed",
        source={"Rule": "Door", "VideoSourceConfigurationToken": "v1", "Operator": "Bob"},
        key={"ObjectId": "9", "Name": "Jane Doe"},
        data={"IsInside": "true", "Gender": "female", "UpperClothingColour": "red"},
    )
    reading = PARSERS.parse(message)
    assert reading is not None
    (field,) = TopicStates("cam").apply(message, reading)
    assert field.attrs["data"] == {"IsInside": "true"}
    assert field.attrs["key_items"] == {"ObjectId": "9"}
    assert field.attrs["source_items"] == {"Rule": "Door", "VideoSourceConfigurationToken": "v1"}
    # A rule or an object class naming a face is dropped with its message.
    assert PARSERS.parse(replace(message, source={"Rule": "FaceMatch"})) is None
    assert PARSERS.parse(replace(message, data={"IsInside": "true", "ClassTypes": "Face"})) is None


def test_registered_topics_are_not_refused() -> None:
    assert not any(refused(topic) for topic in PARSERS.topics)
    assert refused("tns1:RuleEngine/Recognition/Face") and refused("tnshik:FaceDetection")
    assert refused("tns1:RuleEngine/MyRuleDetector/FaceDetect")
    assert not refused("tns1:Device/NetworkInterface/Link") and not refused("tns1:Surface/x")


def test_states_turn_on_once_and_off_once() -> None:
    states = TopicStates("cam")

    def feed(name: str, operation: str, **values: object) -> list[str]:
        message = notification_from_element(_message(name, operation, **values))
        reading = PARSERS.parse(message)
        return [] if reading is None else [e.phase.value for e in states.apply(message, reading)]

    assert feed("hikvision_cell_motion", "Initialized", state="false") == []
    assert feed("hikvision_cell_motion", "Changed", state="true") == ["started"]
    assert feed("hikvision_cell_motion", "Changed", state="true") == []
    assert feed("hikvision_cell_motion", "Initialized", state="true") == []
    assert feed("hikvision_cell_motion", "Deleted", state="true") == ["ended"]
    assert feed("tapo_line_cross", "Initialized", state="true") == []
    assert feed("tapo_line_cross", "Changed", state="false") == []
    assert feed("tapo_line_cross", "Changed", state="true") == ["instant"]
    assert feed("hikvision_count_aggregation", "Initialized", count=3) == ["updated"]
    assert feed("hikvision_count_aggregation", "Changed", count=3) == []
    assert feed("hikvision_last_reboot", "Initialized", status=UTC) == ["instant"]
    assert feed("hikvision_last_reboot", "Initialized", status=UTC) == []


def test_camera_health_reports_merge_over_rules() -> None:
    states = TopicStates("cam")

    def feed(name: str, state: str) -> list[tuple[str, str]]:
        message = notification_from_element(_message(name, state=state))
        reading = PARSERS.parse(message)
        assert reading is not None
        return [(e.kind, e.phase.value) for e in states.apply(message, reading)]

    # Two tamper rules (a lens tamper and an NVR video-cover alarm) are one report.
    assert feed("hikvision_tamper", "true") == [("obstruction", "started")]
    assert feed("hikvision_nvr_video_cover", "true") == []
    assert feed("hikvision_tamper", "false") == []
    assert feed("hikvision_nvr_video_cover", "false") == [("obstruction", "ended")]
    assert feed("onvif_too_blurry", "true") == [("defocus", "started")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "tns1:RuleEngine/CellMotionDetector/Motion//.",
            "tns1:RuleEngine/CellMotionDetector/Motion",
        ),
        ("\n  tns1:VideoSource/MotionAlarm\n", "tns1:VideoSource/MotionAlarm"),
        ("tns1:Device/tns1:Trigger/tns1:Relay", "tns1:Device/Trigger/Relay"),
        ("tns1:VideoSource/tns1:Device/Trigger/DigitalInput", "tns1:Device/Trigger/DigitalInput"),
        ("tns1:Device/Trigger/tnshik:AlarmIn", "tns1:Device/Trigger/tnshik:AlarmIn"),
        ("", ""),
    ],
)
def test_topic_spellings_are_normalised(raw: str, expected: str) -> None:
    assert normalize_topic(raw) == expected


def test_topic_bound_to_another_prefix_still_finds_its_parser() -> None:
    assert PARSERS.kinds_of("ns2:RuleEngine/FieldDetector/ObjectsInside") == ("zone_presence",)
    assert PARSERS.kinds_of("tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile7") == ("motion",)
    assert PARSERS.kinds_of("tnsaxis:Unknown/Thing") == ("onvif_event",)


@pytest.mark.parametrize("name", ["malformed_missing_value", "malformed_no_payload"])
def test_malformed_sample_is_refused(name: str) -> None:
    with pytest.raises(MalformedMessage):
        message = notification_from_element(_message(name))
        PARSERS.parse(message)


def test_value_that_is_not_a_boolean_is_refused() -> None:
    message = notification_from_element(_message("hikvision_tamper", state="maybe"))
    with pytest.raises(MalformedMessage, match="not a boolean"):
        PARSERS.parse(message)


@pytest.mark.parametrize("count", ["1e999", "inf", "-inf", "nan", "-3", "2.5e400", "abc", "²"])
def test_count_that_is_not_a_count_is_refused(count: str) -> None:
    """Counts a camera could never mean are a clear MalformedMessage, not an OverflowError."""
    message = notification_from_element(_message("hikvision_count_aggregation", count=count))
    with pytest.raises(MalformedMessage, match="count") as err:
        PARSERS.parse(message)
    assert err.value.translation_key == "malformed_message"


def test_object_id_in_other_digits_is_no_id() -> None:
    """A superscript digit passes str.isdigit but not int(): it is no object id."""
    message = notification_from_element(
        _message("hikvision_field_detector", state="true", object_id="²")
    )
    reading = PARSERS.parse(message)
    assert reading is not None
    assert reading.object_id is None


def test_announced_topic_set_is_read() -> None:
    topics = [topic_of(name) for name in ("axis_vmd4", "hikvision_alarm_in", "reolink_people")]
    reply = render("GetEventProperties", raw={"topic_set": topic_set_xml(topics)})
    topic_set = etree.fromstring(reply.encode()).find(
        ".//{http://docs.oasis-open.org/wsn/t-1}TopicSet"
    )
    assert topic_set is not None

    assert topics_from_topic_set(list(topic_set)) == (
        "tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile1",
        "tns1:Device/Trigger/tnshik:AlarmIn",
        "tns1:RuleEngine/MyRuleDetector/PeopleDetect",
    )


def test_every_vigil_kind_has_a_registered_topic() -> None:
    registered = {kind for topic in PARSERS.topics for kind in PARSERS.kinds_of(topic.rstrip("*"))}
    assert registered | {OnvifKind.GENERIC.value} == {k.value for k in OnvifKind}
    assert not any(refused(kind.value) for kind in OnvifKind)  # no kind describes people
    assert ReadingShape.PULSE in {ReadingShape(r) for r in ReadingShape}


# Against the emulated camera.


class Collector:
    """Collect a source's events and statuses; wait for conditions on them."""

    def __init__(self) -> None:
        self.events: list[RuleEvent] = []
        self.statuses: list[EventChannelStatus] = []
        self.topics: list[tuple[str, ...]] = []

    def publish(self, event: VigilEvent) -> None:
        assert isinstance(event, RuleEvent)
        self.events.append(event)

    def kinds(self) -> list[tuple[str, str]]:
        return [(event.kind, event.phase.value) for event in self.events]

    def states(self) -> list[EventChannelState]:
        return [status.state for status in self.statuses]

    async def until(self, condition: Callable[[], bool], what: str, timeout_s: float = 8.0) -> None:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout_s:
                pytest.fail(f"timed out waiting for {what}: {self.kinds()} {self.states()}")
            await asyncio.sleep(0.02)


def _source(
    camera: OnvifEmulator, collector: Collector, *, password: str = PASSWORD, **settings: float
) -> OnvifEventSource:
    return OnvifEventSource(
        camera_id="cam",
        host=camera.host,
        port=camera.port,
        username=USER,
        password=password,
        settings=replace(FAST, **settings),
        on_status=collector.statuses.append,
        on_topics=collector.topics.append,
    )


async def _started(
    camera: OnvifEmulator, collector: Collector, **settings: float
) -> OnvifEventSource:
    source = _source(camera, collector, **settings)
    await source.start(collector.publish)
    await collector.until(lambda: source.status.online, "the subscription")
    return source


def _camera(mode: EventsMode = "pullpoint", **kwargs: object) -> OnvifEmulator:
    camera = OnvifEmulator(username=USER, password=PASSWORD, events=mode, **kwargs)  # type: ignore[arg-type]
    camera.events.announce(*(normalize_topic(topic_of(name)) for name in ON))
    camera.events.change("hikvision_cell_motion", state="false")
    return camera


@pytest.fixture
async def camera() -> AsyncIterator[OnvifEmulator]:
    async with _camera(clock_skew_s=-2 * 3600 - 17) as emulator:
        yield emulator


@pytest.mark.usefixtures("socket_enabled")
async def test_pullpoint_delivers_camera_events_on_a_skewed_clock(camera: OnvifEmulator) -> None:
    collector = Collector()
    source = await _started(camera, collector)
    try:
        assert set(collector.topics[-1]) == {normalize_topic(topic_of(name)) for name in ON}
        for name in ("hikvision_cell_motion", "hikvision_field_detector", "reolink_vehicle"):
            camera.events.change(name, **ON[name][1])
        for name in ("hikvision_line_detector", "avigilon_object_crosses"):
            camera.events.emit(name, **ON[name][1])
        camera.events.change("hikvision_tamper", state="true")
        camera.events.change("hikvision_count_aggregation", count=4)
        await collector.until(lambda: len(collector.events) >= 7, "seven events")
        camera.events.change("hikvision_cell_motion", state="false")
        await collector.until(lambda: ("motion", "ended") in collector.kinds(), "motion end")
    finally:
        await source.stop()

    assert collector.kinds() == [
        ("motion", "started"),
        ("zone_presence", "started"),
        ("vehicle", "started"),
        ("line_crossing", "instant"),
        ("onvif_event", "instant"),
        ("obstruction", "started"),
        ("object_count", "updated"),
        ("motion", "ended"),
    ]
    assert camera.auth_failures == []
    assert (camera.events.created, camera.events.unsubscribed) == (1, 1)
    assert collector.states() == [EventChannelState.PULLPOINT, EventChannelState.STOPPED]


@pytest.mark.usefixtures("socket_enabled")
async def test_subscription_is_renewed_before_it_lapses(camera: OnvifEmulator) -> None:
    camera.events.grant_s = 2.0
    collector = Collector()
    source = await _started(camera, collector)
    try:
        await asyncio.sleep(3.5)
        camera.events.change("hikvision_cell_motion", state="true")
        await collector.until(lambda: ("motion", "started") in collector.kinds(), "motion")
    finally:
        await source.stop()

    assert camera.events.created == 1
    assert camera.events.renewals >= 2
    assert collector.states() == [EventChannelState.PULLPOINT, EventChannelState.STOPPED]


@pytest.mark.usefixtures("socket_enabled")
async def test_lost_subscription_is_recreated(
    camera: OnvifEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vigil_core")
    collector = Collector()
    source = await _started(camera, collector)
    try:
        camera.events.drop_subscriptions()
        await collector.until(lambda: camera.events.created == 2, "a new subscription")
        camera.events.change("hikvision_cell_motion", state="true")
        await collector.until(lambda: ("motion", "started") in collector.kinds(), "motion")
    finally:
        await source.stop()

    assert collector.states() == [EventChannelState.PULLPOINT, EventChannelState.STOPPED]
    assert "PullMessages refused (ResourceUnknownFault); subscribing again" in caplog.text


@pytest.mark.usefixtures("socket_enabled")
async def test_camera_reboot_is_survived(camera: OnvifEmulator) -> None:
    collector = Collector()
    source = await _started(camera, collector)
    try:
        camera.events.change("hikvision_cell_motion", state="true")
        await collector.until(lambda: ("motion", "started") in collector.kinds(), "motion")
        # The camera restarts with motion off; it answers 503 while booting.
        camera.events.properties.pop("tns1:RuleEngine/CellMotionDetector/Motion")
        camera.events.change("hikvision_cell_motion", state="false")
        camera.events.drop_subscriptions()
        camera.events.reboot(downtime_s=1.0)
        await collector.until(lambda: ("motion", "ended") in collector.kinds(), "motion end")
    finally:
        await source.stop()

    assert camera.events.created == 2
    assert collector.states() == [
        EventChannelState.PULLPOINT,
        EventChannelState.OFFLINE,
        EventChannelState.PULLPOINT,
        EventChannelState.STOPPED,
    ]
    assert f"127.0.0.1:{camera.port}" in collector.statuses[1].reason


@pytest.mark.usefixtures("socket_enabled")
async def test_reboot_between_pulls_is_seen_in_last_reboot(camera: OnvifEmulator) -> None:
    camera.events.change("hikvision_last_reboot", status="2024-05-25T23:59:38Z")
    collector = Collector()
    source = await _started(camera, collector)
    try:
        await asyncio.sleep(0.3)
        camera.events.change("hikvision_last_reboot", status="2024-05-26T08:00:00Z")
        await collector.until(lambda: camera.events.created == 2, "a new subscription")
    finally:
        await source.stop()


@pytest.mark.usefixtures("socket_enabled")
async def test_stop_returns_when_a_library_swallows_the_cancellation(
    camera: OnvifEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that turns CancelledError into its own error must not make stop() hang."""
    entered = asyncio.Event()

    async def swallowing_session(self: OnvifEventSource, _camera: object) -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise OSError("connection torn down") from None

    monkeypatch.setattr(OnvifEventSource, "_session", swallowing_session)
    collector = Collector()
    source = _source(camera, collector)
    await source.start(collector.publish)
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(source.stop(), 5)
    assert source.status.state is EventChannelState.STOPPED


@pytest.mark.usefixtures("socket_enabled")
@pytest.mark.parametrize(
    ("operation", "swallow"),
    [("SetSynchronizationPoint", "as an error"), ("PullMessages", "as a normal reply")],
)
async def test_a_cancellation_the_http_library_swallows_still_stops_the_channel(
    camera: OnvifEmulator, monkeypatch: pytest.MonkeyPatch, operation: str, swallow: str
) -> None:
    """stop() while a request is in flight, and the HTTP library eats the cancellation: it
    turns it into a transport error (which synchronising suppresses: best effort) or returns
    as if nothing happened (httpcore closing a response). The channel must not pull on."""
    entered = asyncio.Event()

    async def swallowing() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if swallow == "as an error":
                raise TransportError(503, "connection torn down") from None

    class SwallowingPullPoint:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            if name == operation:
                return lambda *_args: swallowing()
            return getattr(self._inner, name)

    subscribe = OnvifEventSource._subscribe

    async def subscribe_swallowing(self: OnvifEventSource, onvif_camera: Any) -> Any:
        subscription = await subscribe(self, onvif_camera)
        if subscription is not None:
            subscription.pullpoint = SwallowingPullPoint(subscription.pullpoint)
        return subscription

    monkeypatch.setattr(OnvifEventSource, "_subscribe", subscribe_swallowing)
    collector = Collector()
    source = _source(camera, collector, stop_timeout_s=30.0)
    await source.start(collector.publish)
    await asyncio.wait_for(entered.wait(), 5)
    task = source._task
    assert task is not None
    await asyncio.wait_for(source.stop(), 5)
    assert task.done()
    assert source.status.state is EventChannelState.STOPPED


@pytest.mark.usefixtures("socket_enabled")
async def test_stop_returns_when_closing_the_camera_never_ends(
    camera: OnvifEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A close that ignores cancellation: stop() gives up on it in time, and says so."""
    release = asyncio.Event()

    async def stuck_close(self: OnvifEventSource, _camera: object) -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    monkeypatch.setattr(OnvifEventSource, "_close", stuck_close)
    collector = Collector()
    source = await _started(camera, collector, stop_timeout_s=0.5)
    task = source._task
    assert task is not None
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(source.stop(), 5)
    assert asyncio.get_running_loop().time() - started < 3
    assert source.status.state is EventChannelState.STOPPED
    assert "did not stop within" in caplog.text
    assert not task.done()
    release.set()  # the library returns at last: the task ends, cancelled
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert task.done()


@pytest.mark.usefixtures("socket_enabled")
async def test_camera_without_pullpoint_is_polled() -> None:
    async with _camera("polling") as camera:
        collector = Collector()
        source = await _started(camera, collector)
        try:
            assert source.status.state is EventChannelState.POLLING
            camera.events.change("hikvision_field_detector", state="true", object_id=2)
            await collector.until(
                lambda: collector.kinds() == [("zone_presence", "started")], "zone"
            )
        finally:
            await source.stop()

    assert camera.events.created == 0
    assert "GetCurrentMessage" in camera.calls


@pytest.mark.usefixtures("socket_enabled")
async def test_camera_without_events_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vigil_core")
    async with _camera("none") as camera:
        collector = Collector()
        source = _source(camera, collector)
        await source.start(collector.publish)
        try:
            await collector.until(lambda: bool(collector.statuses), "a status")
            await asyncio.sleep(0.3)
        finally:
            await source.stop()

    assert collector.states() == [EventChannelState.UNSUPPORTED, EventChannelState.STOPPED]
    assert collector.statuses[0].reason == "the camera has no event service"
    assert caplog.text.count("delivers no events") == 1
    assert collector.events == []


@pytest.mark.usefixtures("socket_enabled")
async def test_wrong_credentials_are_auth_failed(
    camera: OnvifEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    collector = Collector()
    source = _source(camera, collector, password="Wr0ng!")
    await source.start(collector.publish)
    try:
        await collector.until(lambda: bool(collector.statuses), "a status")
    finally:
        await source.stop()

    status = collector.statuses[0]
    assert (status.state, status.translation_key) == (EventChannelState.AUTH_FAILED, "invalid_auth")
    assert "Wr0ng!" not in caplog.text


@pytest.mark.usefixtures("socket_enabled")
async def test_malformed_events_are_logged_once_and_skipped(
    camera: OnvifEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vigil_core")
    collector = Collector()
    source = await _started(camera, collector)
    try:
        for _ in range(2):
            camera.events.emit("malformed_missing_value")
            camera.events.emit("malformed_no_payload")
        camera.events.change("hikvision_tamper", state="true")
        await collector.until(lambda: collector.kinds() == [("obstruction", "started")], "tamper")
        # A reply that is not XML at all is skipped too, without losing the subscription.
        camera.malformed = frozenset({"PullMessages"})
        await collector.until(lambda: "unreadable event reply" in caplog.text, "a warning")
        camera.malformed = frozenset()
        camera.events.change("hikvision_tamper", state="false")
        await collector.until(lambda: ("obstruction", "ended") in collector.kinds(), "tamper end")
    finally:
        await source.stop()

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("malformed event" in line for line in warnings) == 1
    assert sum("unreadable event reply" in line for line in warnings) == 1
    assert camera.events.created == 1


@pytest.mark.usefixtures("socket_enabled")
async def test_a_bad_count_costs_only_its_own_message(
    camera: OnvifEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """An infinite count in a batch is skipped; the rest of the batch is kept, no resubscribe."""
    caplog.set_level(logging.WARNING, logger="vigil_core")
    collector = Collector()
    source = await _started(camera, collector)
    try:
        camera.events.change("hikvision_count_aggregation", count="1e999")
        camera.events.change("hikvision_count_aggregation", count="inf")
        camera.events.change("hikvision_tamper", state="true")
        camera.events.change("hikvision_count_aggregation", count="3")
        await collector.until(
            lambda: (
                ("object_count", "updated") in collector.kinds()
                or ("object_count", "started") in collector.kinds()
            ),
            "the good count",
        )
        assert ("obstruction", "started") in collector.kinds()
    finally:
        await source.stop()
    assert camera.events.created == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("malformed event" in line for line in warnings) == 1


@pytest.mark.usefixtures("socket_enabled")
async def test_stateless_axis_tampering_is_held_then_ends(camera: OnvifEmulator) -> None:
    collector = Collector()
    source = await _started(camera, collector)
    try:
        camera.events.emit("axis_tampering", state="1")
        await collector.until(lambda: ("obstruction", "ended") in collector.kinds(), "the end")
    finally:
        await source.stop()

    started, ended = collector.events
    assert started.phase is EventPhase.STARTED and ended.phase is EventPhase.ENDED
    assert 0.2 <= ended.wall_time - started.wall_time <= 1.0


@pytest.mark.usefixtures("socket_enabled")
async def test_engine_runs_and_stops_an_event_source(camera: OnvifEmulator) -> None:
    """An event source added to the engine publishes on its bus and stops with it."""
    from vigil_core.config import EngineConfig  # noqa: PLC0415
    from vigil_core.engine import Engine  # noqa: PLC0415

    engine = Engine(EngineConfig())
    collector = Collector()
    engine.bus.subscribe(collector.publish)
    source = _source(camera, collector)
    await engine.add_event_source(source)
    try:
        await collector.until(lambda: source.status.online, "the subscription")
        camera.events.emit("hikvision_line_detector", object_id=1)
        await collector.until(lambda: collector.kinds() == [("line_crossing", "instant")], "event")
    finally:
        await engine.stop()

    assert source.status.state is EventChannelState.STOPPED
    assert camera.events.unsubscribed == 1
