"""The server keeps privacy guarantees on the wire: camera-side analytics, pictures, paperwork."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from custom_components.vigil.client import VigilClient
from tests.server.conftest import ServerFactory
from tests.server.test_server import Pushes, _state, vtest_config
from tests.support.clips import ensure_h264_mp4
from tests.support.onvif_emulator import OnvifEmulator
from tests.support.onvif_event_service import topic_of
from tests.support.shared import media
from vigil_core.feeds.onvif_messages import normalize_topic
import vigil_protocol as vp

type Connect = Callable[..., Awaitable[VigilClient]]

USER, PASSWORD = "events-reader", "Ev3nts/p@ss"
PERSONAL = ("Jane Doe", "female", "Gender", "Likelihood", "EventId")
SAMPLES = (
    "onvif_face_recognition",
    "reolink_face",
    "vendor_people_analysis",
    "hikvision_line_detector",
    "hikvision_field_detector",
)


async def test_a_face_recognition_onvif_message_in_public_space_reaches_no_client(
    start_server: ServerFactory, connect: Connect
) -> None:
    """The audit's probe: a camera's own face recognition, and Name/Gender/Age items."""
    async with OnvifEmulator(username=USER, password=PASSWORD, events="pullpoint") as camera:
        camera.events.announce(*(normalize_topic(topic_of(name)) for name in SAMPLES))
        server = await start_server()
        client = await connect(server)
        pushes = Pushes(client)
        await client.subscribe()
        config = vtest_config("street", zone=False)
        config["cameras"][0]["onvif"] = {
            "host": camera.host, "port": camera.port, "username": USER, "password": PASSWORD,
        }  # fmt: skip
        config["privacy"] = {"context": "public_space"}
        await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
        await pushes.wait(
            lambda p: _state(p, "onvif", "street") and p.update.state.available, "the channel"
        )
        camera.events.emit("onvif_face_recognition", object_id=3, person="Jane Doe",
                           gender="female", age=34)  # fmt: skip
        camera.events.change("reolink_face", state="true")
        camera.events.emit("vendor_people_analysis", event_id=5, person="Jane Doe",
                           gender="female", age=34)  # fmt: skip
        camera.events.emit("hikvision_line_detector", object_id=15)
        camera.events.change("hikvision_field_detector", state="true", object_id=7)
        await pushes.wait(
            lambda p: isinstance(p, vp.EventPush) and p.event.kind == "zone_presence",
            "the camera's own zone event",
        )
    events = [p.event for p in pushes.items if isinstance(p, vp.EventPush)]
    onvif = [e for e in events if e.source == "onvif"]
    assert {e.kind for e in onvif} == {"onvif_event", "line_crossing", "zone_presence"}
    wire = repr(pushes.items)
    for value in PERSONAL:
        assert value not in wire, value
    assert "Face" not in wire and '"face"' not in wire
    # A camera's counting line is a statistic in public space: no object id.
    (crossing,) = [e for e in onvif if e.kind == "line_crossing"]
    assert crossing.track_id is None and "object_id" not in crossing.attrs
    (unknown,) = [e for e in onvif if e.kind == "onvif_event"]
    assert unknown.attrs["data"] == {} and unknown.attrs["key_items"] == {}
    state = pushes.states("onvif")[-1].state
    assert isinstance(state, vp.OnvifState)
    assert {topic.kind for topic in state.topics} <= {
        "onvif_event", "line_crossing", "zone_presence",
    }  # fmt: skip
    assert not any("Face" in (topic.topic or "") for topic in state.topics)


@pytest.fixture(scope="module")
def short_vtest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return vtest's first 15 s (people walk in view throughout), transcoded once."""
    return ensure_h264_mp4(media("vtest.avi"), tmp_path_factory.mktemp("clips"), seconds=15)


async def _ended_picture(
    start_server: ServerFactory, connect: Connect, clip: Path, context: str
) -> tuple[bytes, bytes]:
    """Run the clip to its end with a counting line; return its picture with and without boxes."""
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    await client.subscribe()
    config = vtest_config("square", zone=False, fps=2.0)
    camera = config["cameras"][0]
    camera["source"] = {"url": str(clip), "realtime": False}
    camera["rules"] = [{"type": "line_crossing", "id": "count", "line": [[0, 0.6], [1, 0.6]]}]
    config["privacy"] = {"context": context}
    await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    await pushes.wait(
        lambda p: _state(p, "camera", "square") and p.update.state.stream == vp.StreamState.ENDED,
        "the clip's end",
        limit_s=180,
    )
    assert server.engine is not None
    await server.engine.wait_finished(["square"])  # the last queued frames are analysed
    latest = server.engine.latest("square")
    assert latest is not None and latest.tracks  # people are in view on the last frame
    # Outside a private home the analysed frame is shown to a named administrator only.
    admin = vp.Actor(name="Alex", user_id="u-admin", is_admin=True)
    boxed = await client.fetch("/api/cameras/square/picture.jpg", {"boxes": "1"}, actor=admin)
    plain = await client.fetch("/api/cameras/square/picture.jpg", {"boxes": "0"}, actor=admin)
    return boxed, plain


async def test_pictures_in_the_statistics_mode_carry_no_boxes_or_ids(
    start_server: ServerFactory, connect: Connect, short_vtest: Path
) -> None:
    boxed, plain = await _ended_picture(start_server, connect, short_vtest, "public_space")
    assert boxed == plain  # asked for boxes, drawn none: a public counting camera
    boxed, plain = await _ended_picture(start_server, connect, short_vtest, "private_premises")
    assert boxed != plain  # the same camera on private premises shows its tracks


async def test_public_space_without_signs_or_assessment_is_reported(
    start_server: ServerFactory, connect: Connect
) -> None:
    """The server says what paperwork a public space lacks, so the client can raise a repair."""
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    await client.subscribe()
    lacking = ("signs_posted", "assessment_reference", "authorisation_reference")
    config: dict[str, Any] = {"cameras": [], "privacy": {"context": "public_space"}}
    dry = await client.call(vp.ApplyConfig(config=config, dry_run=True), vp.ConfigApplied)
    assert dry.paperwork_missing == lacking
    applied = await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    assert applied.paperwork_missing == lacking
    await pushes.wait(
        lambda p: _state(p, "server") and p.update.state.paperwork_missing == lacking,
        "the server state naming what is missing",
    )
    config["privacy"]["paperwork"] = {
        "assessment_reference": "DPIA-2026-014",
        "assessment_date": "2026-11-30",
        "authorisation_reference": "Arrêté préfectoral 2026-117",
        "signs_posted": True,
    }
    applied = await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    assert applied.paperwork_missing == ()
    await pushes.wait(
        lambda p: _state(p, "server") and p.update.state.paperwork_missing == (),
        "the server state once the paperwork is recorded",
    )
    # Other contexts are not reported (their assessment lists what remains to do).
    config["privacy"] = {"context": "private_home"}
    applied = await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    assert applied.paperwork_missing == ()
