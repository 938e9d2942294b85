"""The server's states and events on MQTT: a real server, a real mosquitto, real subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import logging
from pathlib import Path
import subprocess
import threading
import time
from typing import Any
import uuid

from jinja2.sandbox import SandboxedEnvironment
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion
import pytest

from tests.server.conftest import ServerFactory
from tests.server.test_serve_command import Served
from tests.server.test_server import vtest_config
from tests.support.mosquitto import HOST, Mosquitto, free_port
from tests.support.shared import MODELS_DIR
from vigil_core.events.model import EventPhase, RuleEvent, RuleStateEvent, VigilEvent
from vigil_core.server import VigilServer
from vigil_core.server.mqtt import MqttSettings, MqttSettingsInvalid, Topics
import vigil_protocol as vp
from vigil_protocol.codec import decode
from vigil_protocol.privacy import DeploymentContext, DetectorKind, LegalBasis

PLATE = "AB-123-CD"
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


# --- a subscriber -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """One message a subscriber got."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)

    def state(self) -> vp.StateValue:
        value: vp.StateValue = decode(vp.StateValue, self.json())  # type: ignore[arg-type]
        return value

    def event(self) -> vp.RuleEvent:
        return decode(vp.RuleEvent, self.json())


class Subscriber:
    """A paho client following a topic tree on the test broker, keeping what it received."""

    def __init__(
        self, port: int, topic: str = "vigil/#", username: str | None = None, password: str = ""
    ) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._topic = topic
        self._client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex}"
        )
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(HOST, port, keepalive=30)
        self._client.loop_start()
        assert self._subscribed.wait(30), "the test subscriber never subscribed"

    def _on_connect(self, client: Any, *_args: Any) -> None:
        client.subscribe(self._topic, qos=1)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), message.retain))

    def received(self, topic: str | None = None) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if topic is None or m.topic == topic]

    async def wait(
        self, match: Callable[[Received], bool], what: str, limit_s: float = 60.0
    ) -> Received:
        """Return the first message that matches (generous limit: the machine may be busy)."""
        deadline = time.monotonic() + limit_s
        while True:
            for message in self.received():
                if match(message):
                    return message
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {limit_s} s waiting for {what}")
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    """Return a factory of subscribers, closed after the test."""
    made: list[Subscriber] = []

    def make(*args: Any, **kwargs: Any) -> Subscriber:
        subscriber = Subscriber(*args, **kwargs)
        made.append(subscriber)
        return subscriber

    yield make
    for subscriber in made:
        subscriber.close()


@pytest.fixture
def broker(socket_enabled: None, tmp_path: Path) -> Iterator[Mosquitto]:
    """Run a mosquitto broker (anonymous, no persistence) for the test."""
    folder = tmp_path / "broker"
    folder.mkdir()
    mosquitto = Mosquitto(folder)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


def _is(topic: str, match: Callable[[Any], bool] | None = None) -> Callable[[Received], bool]:
    """Match a non-empty message on `topic` (whose JSON `match` accepts, when given)."""

    def check(message: Received) -> bool:
        if message.topic != topic or not message.payload:
            return False
        return match is None or match(message.json())

    return check


def _closed_port_url() -> str:
    """Return an RTSP URL nothing answers (a camera that is away: no decoding cost)."""
    return f"rtsp://{HOST}:{free_port()}/away"


def _away_config(*cameras: str, **extra: Any) -> dict[str, Any]:
    return {
        "cameras": [
            {
                "id": camera,
                "source": _closed_port_url(),
                "zones": [{"id": "door", "polygon": WHOLE}],
            }
            for camera in cameras
        ],
        **extra,
    }


def _publish(server: VigilServer, event: VigilEvent) -> None:
    """Publish on the server's engine bus, as a pipeline or a source would."""
    assert server.engine is not None
    server.engine.bus.publish(event)


def _rule_event(kind: str, camera: str, rule: str, track: int = 7, **attrs: Any) -> RuleEvent:
    return RuleEvent(
        kind=kind, camera_id=camera, rule_id=rule, track_id=track, phase=EventPhase.STARTED,
        at_s=1.0, frame_index=10, wall_time=time.time(), attrs=attrs,
    )  # fmt: skip


def _zone(count: int) -> vp.ZoneState:
    return vp.ZoneState(counts={"person": count} if count else {})


def _settings(broker: Mosquitto, **options: Any) -> MqttSettings:
    return MqttSettings(host=HOST, port=broker.port, **options)


# --- topics and payloads ------------------------------------------------------------------------


async def test_real_analysis_reaches_the_topic_tree(
    broker: Mosquitto,
    start_server: ServerFactory,
    subscribers: Callable[..., Subscriber],
) -> None:
    listener = subscribers(broker.port)
    server = await start_server(mqtt=_settings(broker))
    topics = Topics.of("vigil", server.server_id)
    assert topics.root == f"vigil/{server.server_id}"
    online = await listener.wait(lambda m: m.topic == topics.availability, "availability")
    assert online.payload == b"online"
    await server.apply(vtest_config("cam"))
    camera = await listener.wait(
        _is(f"{topics.root}/cam/state", lambda v: v["stream"] == "online"), "the camera online"
    )
    assert isinstance(camera.state(), vp.CameraState)
    zone = await listener.wait(
        _is(f"{topics.root}/cam/all/state", lambda v: v["counts"].get("person")), "people inside"
    )
    state = zone.state()
    assert isinstance(state, vp.ZoneState) and state.counts["person"] >= 1
    event = await listener.wait(
        _is(f"{topics.root}/cam/all/event", lambda v: v["kind"] == "zone_presence"), "an event"
    )
    assert not event.retain
    wire = event.event()
    assert (wire.camera_id, wire.rule_id, wire.attrs["label"]) == ("cam", "all", "person")
    assert set(wire.attrs) <= {"label", "count", "counts", "zone", "reason", "position", "dwell_s"}
    server_state = await listener.wait(_is(f"{topics.root}/state"), "the server's state")
    assert isinstance(server_state.state(), vp.ServerState)
    tamper = await listener.wait(_is(f"{topics.root}/cam/tamper/state"), "the tamper state")
    assert isinstance(tamper.state(), vp.TamperState)


async def test_retained_state_for_late_subscribers_and_after_a_broker_restart(
    broker: Mosquitto,
    start_server: ServerFactory,
    subscribers: Callable[..., Subscriber],
) -> None:
    server = await start_server(mqtt=_settings(broker, qos=1))
    await server.apply(_away_config("gate"))
    first = subscribers(broker.port)
    root = Topics.of("vigil", server.server_id).root
    door = f"{root}/gate/door/state"
    _publish(server, RuleStateEvent(camera_id="gate", rule_id="door", state=_zone(2)))
    _publish(server, _rule_event("zone_presence", "gate", "door", label="person", count=2))
    await first.wait(_is(door, lambda v: v["counts"] == {"person": 2}), "two people")
    await first.wait(_is(f"{root}/gate/door/event"), "the event")

    late = subscribers(broker.port)
    retained = await late.wait(_is(door), "the retained zone state")
    assert retained.retain and retained.json()["counts"] == {"person": 2}
    assert (await late.wait(_is(f"{root}/availability"), "availability")).retain
    assert not late.received(f"{root}/gate/door/event"), "events are not retained"

    # The broker restarts and forgets everything; a state changes while it is away.
    broker.stop()
    _publish(server, RuleStateEvent(camera_id="gate", rule_id="door", state=_zone(3)))
    broker.start()
    again = subscribers(broker.port)
    await again.wait(_is(door, lambda v: v["counts"] == {"person": 3}), "the state republished")
    after = subscribers(broker.port)
    restored = await after.wait(_is(door), "the retained state after the restart")
    assert restored.retain and restored.json()["counts"] == {"person": 3}
    assert (await after.wait(_is(f"{root}/availability"), "online again")).payload == b"online"
    assert (await after.wait(_is(f"{root}/gate/state"), "the camera state")).retain

    # A removed zone's retained topic is cleared.
    await server.apply({"cameras": [{"id": "gate", "source": _closed_port_url(), "zones": []}]})
    await again.wait(lambda m: m.topic == door and m.payload == b"", "the zone state cleared")
    assert not [m for m in subscribers(broker.port).received(door) if m.payload]


async def test_a_clean_stop_sends_the_last_states_then_offline(
    broker: Mosquitto,
    start_server: ServerFactory,
    subscribers: Callable[..., Subscriber],
) -> None:
    listener = subscribers(broker.port)
    server = await start_server(mqtt=_settings(broker))
    await server.apply(_away_config("gate"))
    root = Topics.of("vigil", server.server_id).root
    await listener.wait(_is(f"{root}/gate/door/state"), "the zone's first state")
    _publish(server, RuleStateEvent(camera_id="gate", rule_id="door", state=_zone(5)))
    await server.stop()
    offline = await listener.wait(
        lambda m: m.topic == f"{root}/availability" and m.payload == b"offline", "offline"
    )
    five = await listener.wait(_is(f"{root}/gate/door/state", lambda v: v["counts"]), "five")
    assert five.json()["counts"] == {"person": 5}
    everything = listener.received()
    assert everything.index(five) < everything.index(offline)
    late = subscribers(broker.port)
    retained = await late.wait(_is(f"{root}/gate/door/state"), "the last state, retained")
    assert retained.retain and retained.json()["counts"] == {"person": 5}
    gone = await late.wait(lambda m: m.topic == f"{root}/availability", "availability")
    assert (gone.payload, gone.retain) == (b"offline", True)


async def test_nothing_forbidden_is_published(
    broker: Mosquitto,
    start_server: ServerFactory,
    subscribers: Callable[..., Subscriber],
) -> None:
    """Plate text only from a camera in acknowledged `full` mode; details cut to the allow-list."""
    listener = subscribers(broker.port)
    server = await start_server(mqtt=_settings(broker))
    root = Topics.of("vigil", server.server_id).root
    full = {"enabled": True, "privacy": "full", "full_acknowledged": True}
    ack = {
        "detector": DetectorKind.ANPR_FULL.value,
        "legal_basis": LegalBasis.LEGITIMATE_INTERESTS.value,
        "justification": "Repeated thefts in the private car park of the company.",
        "by": "Alex",
        "at": datetime(2026, 5, 2, tzinfo=UTC).isoformat(),
        "context": DeploymentContext.PRIVATE_PREMISES.value,
    }
    config = _away_config(
        "gate", "barrier", privacy={"context": "private_premises",
                                    "acknowledgements": {"gate:anpr_full": ack}},
    )  # fmt: skip
    for camera in config["cameras"]:
        camera["anpr"] = full  # the barrier's `full` is not acknowledged: held back
    await server.apply(config)
    server_state = await listener.wait(
        _is(f"{root}/state", lambda v: v["held_back"]), "the held-back detector"
    )
    assert [h["camera_id"] for h in server_state.json()["held_back"]] == ["barrier"]
    for camera in ("gate", "barrier"):
        _publish(server, _match(camera))
        _publish(
            server,
            _rule_event("zone_presence", camera, "door", label="person", count=1,
                        appearance="red jacket", face_id="f-1"),
        )  # fmt: skip
    for camera, shows_plate in (("gate", True), ("barrier", False)):
        event = await listener.wait(_is(f"{root}/{camera}/anpr/event"), f"{camera}'s match")
        assert ("plate" in event.json()["attrs"]) is shows_plate
        plates = await listener.wait(
            _is(f"{root}/{camera}/anpr/state", lambda v: v["last_match"]), f"{camera}'s plates"
        )
        assert (plates.json()["last_match"]["plate"] == PLATE) is shows_plate
        zone = await listener.wait(_is(f"{root}/{camera}/door/event"), f"{camera}'s zone event")
        assert set(zone.json()["attrs"]) == {"label", "count"}
    assert PLATE.encode() not in b"".join(
        m.payload for m in listener.received() if "/barrier/" in m.topic
    )


def _match(camera: str) -> RuleEvent:
    return RuleEvent(
        kind="watchlist_match", camera_id=camera, rule_id="anpr", track_id=3,
        phase=EventPhase.INSTANT, at_s=1.0, frame_index=1, wall_time=time.time(),
        attrs={"entry_id": "stolen", "label": "Stolen van", "reason": "police notice",
               "plate": PLATE, "distance": 0.3, "exact": False, "confidence": 0.91,
               "direction": "approaching", "crop_id": "crop-1"},
    )  # fmt: skip


async def test_home_assistant_discovery_when_asked(
    broker: Mosquitto,
    start_server: ServerFactory,
    subscribers: Callable[..., Subscriber],
) -> None:
    """Entities read the state topics; their templates render on the real payloads."""
    listener = subscribers(broker.port, topic="#")
    server = await start_server(mqtt=_settings(broker, discovery=True))
    await server.apply(_away_config("gate"))
    root = Topics.of("vigil", server.server_id).root
    node = f"homeassistant/binary_sensor/vigil_{server.server_id}"
    config = (await listener.wait(_is(f"{node}/gate_door_occupied/config"), "discovery")).json()
    assert config["state_topic"] == f"{root}/gate/door/state"
    assert config["availability_topic"] == f"{root}/availability"
    assert config["device"]["identifiers"] == [f"vigil_{server.server_id}_gate"]
    assert config["unique_id"] == f"vigil_mqtt_{server.server_id}_gate_door_occupied"
    _publish(server, RuleStateEvent(camera_id="gate", rule_id="door", state=_zone(2)))
    state = await listener.wait(_is(config["state_topic"], lambda v: v["counts"]), "a count")
    template = SandboxedEnvironment().from_string(config["value_template"])
    assert template.render(value_json=state.json()) == "ON"
    assert template.render(value_json={"kind": "zone", "counts": {}}) == "OFF"
    stream = (await listener.wait(_is(f"{node}/gate_camera_online/config"), "online")).json()
    camera = await listener.wait(_is(stream["state_topic"]), "the camera's state")
    assert SandboxedEnvironment().from_string(stream["value_template"]).render(
        value_json=camera.json()
    ) in ("ON", "OFF")
    await listener.wait(
        _is(f"homeassistant/sensor/vigil_{server.server_id}/server_server_cameras_online/config"),
        "the server's sensors",
    )
    # A removed zone's entities go away.
    await server.apply({"cameras": [{"id": "gate", "source": _closed_port_url()}]})
    await listener.wait(
        lambda m: m.topic == f"{node}/gate_door_occupied/config" and m.payload == b"",
        "the zone's entity removed",
    )


# --- a broker that does not keep up -------------------------------------------------------------


async def test_a_frozen_broker_never_slows_analysis(
    broker: Mosquitto,
    start_server: ServerFactory,
    subscribers: Callable[..., Subscriber],
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener = subscribers(broker.port)
    server = await start_server(mqtt=_settings(broker, qos=1, queue_size=50))
    root = Topics.of("vigil", server.server_id).root
    await server.apply(vtest_config("cam"))
    await listener.wait(_is(f"{root}/cam/state", lambda v: v["frames_analysed"] > 0), "figures")
    assert server.engine is not None and server.mqtt is not None
    broker.pause()
    try:
        analysed = server.engine.status("cam").frames_analysed
        for track in range(1000):
            _publish(server, _rule_event("fast_move", "cam", "all", track=track, label="person"))
        # Analysis goes on while the broker reads nothing.
        deadline = time.monotonic() + 120
        while server.engine.status("cam").frames_analysed < analysed + 20:
            assert time.monotonic() < deadline, "analysis stalled while the broker was frozen"
            await asyncio.sleep(0.2)
        assert server.mqtt.dropped >= 900
        assert server.mqtt.waiting <= 50 + 10  # the events kept, and one value per state topic
        warnings = [r for r in caplog.records if "not keeping up" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    finally:
        broker.resume()
    newest = await listener.wait(
        _is(f"{root}/cam/all/event", lambda v: v["track_id"] == 999), "the newest event"
    )
    assert not newest.retain
    events = [m.json() for m in listener.received(f"{root}/cam/all/event")]
    fast = [e["track_id"] for e in events if e["kind"] == "fast_move"]
    assert len(fast) < 1000 and fast == sorted(fast)


# --- TLS and bad settings -----------------------------------------------------------------------


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """Make a CA and a broker certificate for 127.0.0.1 with openssl; return ca, cert, key."""
    names = ("ca.key", "ca.pem", "k.pem", "c.csr", "c.pem")
    ca_key, ca, key, csr, cert = (folder / name for name in names)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Vigil test CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))  # fmt: skip
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return ca, cert, key


async def test_publishing_over_tls(
    start_server: ServerFactory,
    tmp_path: Path,
    socket_enabled: None,
    subscribers: Callable[..., Subscriber],
) -> None:
    ca, cert, key = _certificates(tmp_path)
    tls_port = free_port()
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Mosquitto(
        folder,
        extra=f"listener {tls_port} {HOST}\nallow_anonymous true\ncafile {ca}\n"
        f"certfile {cert}\nkeyfile {key}\n",
    )
    broker.start()
    try:
        listener = subscribers(broker.port)  # the plain listener of the same broker
        settings = MqttSettings(host=HOST, port=tls_port, tls=True, ca_file=ca, qos=2)
        server = await start_server(mqtt=settings)
        root = Topics.of("vigil", server.server_id).root
        await listener.wait(_is(f"{root}/state"), "the server's state over TLS")
        assert (await listener.wait(_is(f"{root}/availability"), "online")).payload == b"online"
    finally:
        broker.stop()


async def test_bad_settings_are_refused_clearly(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    with pytest.raises(MqttSettingsInvalid, match="QoS must be 0, 1 or 2"):
        MqttSettings(host=HOST, qos=3)
    with pytest.raises(MqttSettingsInvalid, match="without wildcards"):
        MqttSettings(host=HOST, topic_prefix="vigil/#")
    with pytest.raises(MqttSettingsInvalid, match="go together"):
        MqttSettings(host=HOST, cert_file=tmp_path / "c.pem")
    assert "secret" not in repr(MqttSettings(host=HOST, username="u", password="secret"))
    missing = MqttSettings(host=HOST, tls=True, ca_file=tmp_path / "missing.pem")
    with pytest.raises(MqttSettingsInvalid, match="does not exist") as err:
        await start_server(mqtt=missing)
    assert err.value.translation_key == "mqtt_invalid"


# --- the command: the last will, credentials never logged -------------------------------------


def _password_broker(folder: Path, user: str, password: str) -> Mosquitto:
    folder.mkdir()
    passwords = folder / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), user, password],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    passwords.chmod(0o600)
    return Mosquitto(folder, extra=f"allow_anonymous false\npassword_file {passwords}\n")


async def _next(listener: Subscriber, topic: str, payload: bytes, what: str) -> None:
    """Wait until the last message on `topic` is `payload`."""
    deadline = time.monotonic() + 60
    while not (seen := listener.received(topic)) or seen[-1].payload != payload:
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _wait_for_log(broker: Mosquitto, text: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while text not in (broker.log.read_text() if broker.log.exists() else ""):
        if time.monotonic() > deadline:
            pytest.fail(f"the broker never logged {text!r}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_the_last_will_says_a_killed_server_is_offline(
    tmp_path: Path,
    socket_enabled: None,
    subscribers: Callable[..., Subscriber],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "a-long-mqtt-password-4217"
    broker = _password_broker(tmp_path / "broker", "vigil", password)
    broker.start()
    served: list[Served] = []
    try:
        listener = subscribers(broker.port, username="vigil", password=password)
        args = ("--data", str(tmp_path / "data"), "--models-dir", str(MODELS_DIR),
                "--log-level", "debug", "--mqtt-host", HOST, "--mqtt-port", str(broker.port),
                "--mqtt-username", "vigil")  # fmt: skip
        monkeypatch.setenv("VIGIL_MQTT_PASSWORD", password)
        served.append(Served(*args))
        server_id = served[0].listening["server_id"]
        availability = Topics.of("vigil", server_id).availability
        await listener.wait(lambda m: m.topic == availability and m.payload == b"online", "online")
        served[0].process.kill()
        served[0].process.wait(30)
        will = await listener.wait(
            lambda m: m.topic == availability and m.payload == b"offline", "the last will"
        )
        assert will.payload == b"offline"
        _out, killed_log = served[0].process.communicate(timeout=10)
        assert password not in killed_log

        # Started again: online; stopped cleanly: offline, said by the server itself.
        served.append(Served(*args))
        await _next(listener, availability, b"online", "online again")
        code, log = served[1].stop()
        assert code == 0
        await _next(listener, availability, b"offline", "offline after a clean stop")
        assert f"MQTT broker at {HOST}:{broker.port}" in log
        assert password not in log

        # A wrong password: refused by the broker, logged once without it, the server runs on.
        monkeypatch.setenv("VIGIL_MQTT_PASSWORD", "wrong-password-9931")
        served.append(Served(*args))
        await _wait_for_log(broker, "not authorised")
        code, log = served[2].stop()
        assert code == 0
        assert "refused the connection" in log
        assert "wrong-password-9931" not in log and password not in log
    finally:
        for each in served:
            if each.process.poll() is None:
                each.process.kill()
                each.process.wait(10)
        broker.stop()


# --- settings from the command line and the environment -----------------------------------------


def _serve_args(*argv: str) -> Any:
    from vigil_core.cli import _parser  # noqa: PLC0415 - builds the options from the environment

    return _parser().parse_args(["serve", *argv])


def test_settings_come_from_options_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil_core.server import main  # noqa: PLC0415
    from vigil_core.server import mqtt as mqtt_module  # noqa: PLC0415

    assert main.DEFAULT_PREFIX == mqtt_module.DEFAULT_PREFIX
    assert main.mqtt_settings(_serve_args()) is None  # off unless a host is given
    monkeypatch.setenv("VIGIL_MQTT_HOST", "broker.lan")
    monkeypatch.setenv("VIGIL_MQTT_USERNAME", "vigil")
    monkeypatch.setenv("VIGIL_MQTT_PASSWORD", "from-the-environment")
    monkeypatch.setenv("VIGIL_MQTT_QOS", "2")
    settings = main.mqtt_settings(_serve_args())
    assert settings is not None
    assert (settings.host, settings.broker_port, settings.username, settings.password) == (
        "broker.lan", 1883, "vigil", "from-the-environment"
    )  # fmt: skip
    assert settings.qos == 2 and settings.topic_prefix == "vigil" and not settings.tls
    password = tmp_path / "password"
    password.write_text("from-a-file\n")
    ca = tmp_path / "ca.pem"
    settings = main.mqtt_settings(
        _serve_args("--mqtt-password-file", str(password), "--mqtt-ca", str(ca),
                    "--mqtt-topic-prefix", "home/vigil", "--mqtt-qos", "0")
    )  # fmt: skip
    assert settings is not None
    assert settings.password == "from-a-file" and settings.tls and settings.broker_port == 8883
    assert (settings.ca_file, settings.topic_prefix, settings.qos) == (ca, "home/vigil", 0)
    with pytest.raises(MqttSettingsInvalid, match="cannot be read"):
        main.mqtt_settings(_serve_args("--mqtt-password-file", str(tmp_path / "missing")))
    monkeypatch.setenv("VIGIL_MQTT_QOS", "3")  # argparse does not check a default
    with pytest.raises(MqttSettingsInvalid, match="QoS must be"):
        main.mqtt_settings(_serve_args())
