"""Frigate's MQTT payloads, 0.14 to 0.17: what each version publishes and what Vigil reads."""

from __future__ import annotations

import itertools
import logging

import pytest

from tests.support.frigate_payloads import (
    CAR_ID,
    PERSON_ID,
    PLATE,
    VERSIONS,
    encode,
    load_scenario,
    scenario,
)
from vigil_core.feeds.frigate_mqtt import (
    FrigateAvailability,
    FrigateEventType,
    FrigateObjectUpdate,
    FrigatePlateUpdate,
    FrigateRouter,
    MalformedPayload,
    Unsubscribe,
    parse_message,
)


def _parsed(version: str) -> list[object]:
    parsed = []
    for topic, payload in load_scenario(version):
        message = parse_message(topic.removeprefix("frigate/"), encode(payload))
        if message is not None:
            parsed.append(message)
    return parsed


def test_fixtures_match_the_builder() -> None:
    """The recorded fixtures are what the payload builder makes (regenerate them together)."""
    for version in VERSIONS:
        assert load_scenario(version) == [tuple(m) for m in scenario(version)], version


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_parses(version: str) -> None:
    """Each version's events become typed updates; unread metadata is skipped on purpose."""
    parsed = _parsed(version)
    assert parsed[0] == FrigateAvailability(online=True)
    updates = [m for m in parsed if isinstance(m, FrigateObjectUpdate)]
    walk = [m for m in updates if m.event_id == PERSON_ID]
    assert [m.type for m in walk] == [
        FrigateEventType.NEW,
        *[FrigateEventType.UPDATE] * 4,
        FrigateEventType.END,
    ]
    first = walk[0]
    assert first.camera == "front_door"
    assert first.label == "person"
    assert first.box == (539.0, 201.0, 587.0, 331.0)  # pixels of the 640×360 detect size
    assert first.end_time is None
    assert walk[-1].end_time is not None
    assert [m.stationary for m in walk] == [False, False, False, False, True, True]
    # path_data (0.15+) carries the points Frigate saw between two messages.
    if version == "0.14":
        assert all(m.path == () for m in walk)
    else:
        points = walk[2].path
        assert len(points) == 9
        assert points[0][1:] == (0.88, 0.92)
        assert [round(x, 2) for _, x, _ in points][:3] == [0.88, 0.82, 0.76]
        assert all(a < b for (a, _, _), (b, _, _) in itertools.pairwise(points))


@pytest.mark.parametrize("version", VERSIONS)
def test_plates_from_0_16(version: str) -> None:
    """Frigate's recognised plates are read from 0.16, in events and in lpr updates."""
    parsed = _parsed(version)
    plates = [m for m in parsed if isinstance(m, FrigatePlateUpdate)]
    cars = [m for m in parsed if isinstance(m, FrigateObjectUpdate) and m.event_id == CAR_ID]
    if version in ("0.14", "0.15"):
        assert not plates
        assert not cars
        return
    assert [p.plate.text for p in plates] == [PLATE]
    assert plates[0].camera == "gate_lpr"
    assert cars[0].plate is None
    assert cars[1].plate is not None
    assert cars[1].plate.text == PLATE
    assert cars[1].plate.score == pytest.approx(0.933451)


def test_unread_metadata() -> None:
    """Descriptions, faces and classifications describe people: never read; sub_label neither."""
    assert parse_message("tracked_object_update", b'{"type": "description", "id": "x"}') is None
    face = b'{"type": "face", "id": "x", "name": "Jane", "score": 0.9, "camera": "c"}'
    assert parse_message("tracked_object_update", face) is None
    assert parse_message("tracked_object_update", b'{"type": "classification"}') is None
    state = dict(load_scenario("0.16")[1][1]["after"], sub_label=["Jane", 0.8])
    update = parse_message("events", encode({"type": "update", "after": state}))
    assert isinstance(update, FrigateObjectUpdate)
    assert "Jane" not in repr(update)


def test_false_positives_are_skipped() -> None:
    """An object still marked false positive is not an object yet."""
    state = dict(load_scenario("0.14")[1][1]["after"], false_positive=True)
    assert parse_message("events", encode({"type": "update", "after": state})) is None


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("events", b"{not json"),
        ("events", b"[1, 2]"),
        ("events", b'{"type": "moved", "after": {}}'),
        ("events", b'{"type": "new"}'),
        ("events", b'{"type": "new", "after": {"id": "x", "camera": "c", "label": "person"}}'),
        ("available", b"maybe"),
        ("tracked_object_update", b'{"type": "lpr", "id": "x", "camera": "c"}'),
        ("tracked_object_update", b'{"id": "x"}'),
        ("reviews", b"{}"),
        ("events", b"[" * 5000 + b"]" * 5000),
        ("events", b'{"a":' * 3000 + b"1" + b"}" * 3000),
        ("tracked_object_update", b"\xff\xfe"),
        ("events", b'{"type": "new", "after": {"box": [0, 0, 1e999, 2]}}'),
    ],
)
def test_malformed(topic: str, payload: bytes) -> None:
    """What no Frigate version publishes is refused with a reason."""
    with pytest.raises(MalformedPayload):
        parse_message(topic, payload)


def test_bad_box_refused() -> None:
    """A box must be four numbers with positive width and height."""
    state = dict(load_scenario("0.14")[1][1]["after"])
    for box in ([1, 2, 3], [10, 10, 5, 20], ["a", 1, 2, 3], None):
        with pytest.raises(MalformedPayload):
            parse_message("events", encode({"type": "new", "after": state | {"box": box}}))


def test_numbers_too_big_for_a_float() -> None:
    """A 400-digit score is no score (the top score stands in); a 400-digit time is no time."""
    state = dict(load_scenario("0.15")[1][1]["after"])
    huge = 10**400
    update = parse_message("events", encode({"type": "new", "after": state | {"score": huge}}))
    assert isinstance(update, FrigateObjectUpdate)
    assert update.score == state["top_score"]
    with pytest.raises(MalformedPayload, match="frame_time"):
        parse_message("events", encode({"type": "new", "after": state | {"frame_time": huge}}))
    path = [[[0.5, 0.5], huge], [[0.5, 0.6], 1.0]]
    update = parse_message("events", encode({"type": "new", "after": state | {"path_data": path}}))
    assert isinstance(update, FrigateObjectUpdate)
    assert update.path == ((1.0, 0.5, 0.6),)


async def test_router_survives_a_receiver_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    """A receiver's bug costs its message, logged once; the next messages are still routed."""
    transport = _Transport()
    router = FrigateRouter(transport, "frigate")
    await router.start()
    received: list[object] = []

    class Failing:
        def receive(self, message: object) -> None:
            received.append(message)
            if len(received) == 1:
                raise OverflowError("a bug")

    router.receivers["front_door"] = Failing()
    walk = [(topic, encode(payload)) for topic, payload in load_scenario("0.16")]
    with caplog.at_level(logging.WARNING, logger="vigil_core.feeds.frigate_mqtt"):
        for topic, payload in walk:
            transport.deliver(topic, payload)
    healthy = _Receiver()
    router.receivers["front_door"] = healthy
    for topic, payload in walk:
        transport.deliver(topic, payload)
    assert len(received) == len(healthy.messages) > 2
    assert len([r for r in caplog.records if "could not be handled" in r.getMessage()]) == 1
    router.stop()


class _Transport:
    """Collect subscriptions; deliver messages by hand."""

    connected = True

    def __init__(self) -> None:
        self.callbacks: dict[str, object] = {}

    async def subscribe(self, topic: str, on_message: object) -> Unsubscribe:
        self.callbacks[topic] = on_message
        return lambda: self.callbacks.pop(topic, None)

    async def close(self) -> None:
        """Nothing to release."""

    def deliver(self, topic: str, payload: bytes) -> None:
        callback = self.callbacks[topic]
        assert callable(callback)
        callback(topic, payload)


class _Receiver:
    def __init__(self) -> None:
        self.messages: list[object] = []

    def receive(self, message: object) -> None:
        self.messages.append(message)


async def test_router_logs_bad_input_once(caplog: pytest.LogCaptureFixture) -> None:
    """Malformed payloads and unknown cameras are skipped and logged once each."""
    transport = _Transport()
    router = FrigateRouter(transport, "frigate/")
    await router.start()
    assert sorted(transport.callbacks) == [
        "frigate/available",
        "frigate/events",
        "frigate/tracked_object_update",
    ]
    receiver = _Receiver()
    router.receivers["front_door"] = receiver
    walk = [(topic, encode(payload)) for topic, payload in load_scenario("0.16")]
    with caplog.at_level(logging.DEBUG, logger="vigil_core.feeds.frigate_mqtt"):
        for _ in range(3):
            transport.deliver("frigate/events", b"{truncated")
            for topic, payload in walk:
                transport.deliver(topic, payload)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "malformed" in w]) == 1
    assert len([w for w in warnings if "gate_lpr" in w]) == 1
    assert len(warnings) == 2
    # The walk reached its camera three times; the car's messages were skipped.
    objects = [m for m in receiver.messages if isinstance(m, FrigateObjectUpdate)]
    assert len(objects) == 3 * 6
    assert router.skipped == 3 * (1 + 4)
    router.stop()
    assert not transport.callbacks
