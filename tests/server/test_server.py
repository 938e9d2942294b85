"""The Vigil server through its protocol: a real server, real clients, real decoded video."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import logging
from pathlib import Path
import time
from typing import Any

import aiohttp
import numpy as np
import pytest

from custom_components.vigil.client import (
    AuthRefused,
    IncompatibleServer,
    ServerError,
    VigilClient,
)
from tests.server.conftest import ServerFactory
from tests.support.shared import media
import vigil_protocol as vp
from vigil_protocol.privacy import ACTOR_HEADER

type Connect = Callable[..., Awaitable[VigilClient]]

WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def vtest_config(*cameras: str, zone: bool = True, **camera: Any) -> dict[str, Any]:
    """Return a configuration running vtest (paced like a camera) under each camera id."""
    return {
        "cameras": [
            {
                "id": camera_id,
                "source": {"url": str(media("vtest.avi")), "realtime": True},
                "zones": [{"id": "all", "polygon": WHOLE}] if zone else [],
                **camera,
            }
            for camera_id in cameras
        ]
    }


class Pushes:
    """Collect a client's pushes; wait for one that matches."""

    def __init__(self, client: VigilClient) -> None:
        self.items: list[vp.StatePush | vp.EventPush] = []
        self._changed = asyncio.Event()
        client.on_push = self._add

    def _add(self, push: vp.StatePush | vp.EventPush) -> None:
        self.items.append(push)
        self._changed.set()

    async def wait(self, match: Callable[[Any], bool], what: str, limit_s: float = 60.0) -> Any:
        async with asyncio.timeout(limit_s):
            while True:
                for push in self.items:
                    if match(push):
                        return push
                self._changed.clear()
                await self._changed.wait()

    def states(self, kind: str) -> list[vp.StateUpdate]:
        return [
            p.update
            for p in self.items
            if isinstance(p, vp.StatePush) and kind == p.update.state.KIND
        ]


def _state(push: Any, kind: str, camera: str | None = None) -> bool:
    return (
        isinstance(push, vp.StatePush)
        and kind == push.update.state.KIND
        and (camera is None or push.update.camera_id == camera)
    )


async def test_hello_announces_the_server_and_its_protocol(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server()
    client = await connect(server)
    assert client.hello is not None
    assert client.hello.server_id == server.server_id
    assert vp.compatible(client.hello.protocol_version)
    assert "subscribe" in client.hello.capabilities


@pytest.mark.parametrize("token", ["", "wrong-token", "x" * 10_000])
async def test_a_wrong_or_missing_token_is_refused_without_saying_it(
    start_server: ServerFactory, connect: Connect, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthRefused) as refused:
        await connect(server, token=token)
    assert server.token not in str(refused.value)
    logged = caplog.text
    assert server.token not in logged
    if token:
        assert token[:200] not in logged


async def test_an_old_token_is_refused_after_rotation(
    start_server: ServerFactory, connect: Connect, tmp_path: Path
) -> None:
    server = await start_server()
    old = server.token
    await server.stop()
    server.data.rotate_token()
    restarted = await start_server(data=server.data.root)
    assert restarted.token != old
    with pytest.raises(AuthRefused):
        await connect(restarted, token=old)
    await connect(restarted)


async def test_a_client_of_another_major_version_is_refused(
    start_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    server = await start_server()
    async with http.ws_connect(f"http://127.0.0.1:{server.port}{vp.WS_PATH}") as ws:
        hello = vp.load_server_message((await ws.receive()).data)
        assert isinstance(hello, vp.Hello)
        auth = vp.Auth(token=server.token, client="old", protocol_version="0.9")
        await ws.send_str(vp.dumps(auth))
        refused = vp.load_server_message((await ws.receive()).data)
        assert isinstance(refused, vp.Refused)
        assert refused.translation_key == "protocol_version"
        assert refused.placeholders == {"server": vp.PROTOCOL_VERSION, "client": "0.9"}
        assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_the_client_refuses_a_server_of_another_major_version(
    start_server: ServerFactory, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_server()
    monkeypatch.setattr(
        server, "hello", lambda: vp.Hello(
            server_id="x", server_name="future", server_version="9", protocol_version="2.0"
        ),
    )  # fmt: skip
    with pytest.raises(IncompatibleServer):
        await connect(server)


async def test_http_needs_the_token(
    start_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    server = await start_server()
    base = f"http://127.0.0.1:{server.port}"
    async with http.get(f"{base}/api/health") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"
    async with http.get(f"{base}/api/cameras/x/picture.jpg") as response:
        assert response.status == 401
        assert (await response.json())["translation_key"] == "invalid_auth"
    headers = {"Authorization": "Bearer nope"}
    async with http.get(f"{base}/api/cameras/x/picture.jpg", headers=headers) as response:
        assert response.status == 401
    # With the token, an unknown route or method is refused in JSON like every error.
    headers = {"Authorization": f"Bearer {server.token}"}
    async with http.get(f"{base}/api/nope", headers=headers) as response:
        assert response.status == 404
        assert (await response.json())["translation_key"] == "not_found"
    async with http.delete(f"{base}/api/render", headers=headers) as response:
        assert response.status == 405
        assert "DELETE is not allowed on /api/render" in (await response.json())["message"]
        assert response.headers["Allow"] == "POST"


async def test_a_bad_configuration_is_refused_field_by_field(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server()
    client = await connect(server)
    config = vtest_config("cam")
    config["cameras"][0]["zones"][0]["polygon"] = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
    config["cameras"][0]["fps"] = 500
    with pytest.raises(ServerError) as refused:
        await client.request(vp.ApplyConfig(config=config))
    fields = {f.loc: f.translation_key for f in refused.value.fields}
    assert fields["cameras.0.zones.0.polygon"] == "polygon_self_intersecting"
    assert fields["cameras.0.fps"] == "out_of_range"
    assert server.engine is None  # nothing was applied


async def test_an_unknown_or_wrong_detector_is_refused_before_anything_is_saved(
    start_server: ServerFactory, connect: Connect
) -> None:
    """A detector name the registry lacks, or a model that detects no objects, is a field error.

    It used to be accepted and saved over the working configuration, the cameras then waiting
    for a detector that never loads.
    """
    server = await start_server()
    client = await connect(server)
    await client.call(vp.ApplyConfig(config=vtest_config("cam")), vp.ConfigApplied)
    saved = server.data.load_config()
    for model, says in (
        ("yolox_nanoo", "unknown model 'yolox_nanoo'"),
        ("cct_xs_v1_global", "not an object detector"),
        ("ppocr_v6_det_small", "not an object detector"),  # a text detector: no adapter
    ):
        config = vtest_config("cam") | {"detector": {"model": model}}
        with pytest.raises(ServerError) as refused:
            await client.request(vp.ApplyConfig(config=config))
        (field,) = refused.value.fields
        assert (field.loc, field.translation_key) == ("detector.model", "unknown_model")
        assert says in field.message and "yolox_nano" in field.message
    assert server.data.load_config() == saved


async def test_a_configuration_runs_and_every_state_arrives(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    initial = await client.subscribe()
    assert [u.state.KIND for u in initial] == ["server"]
    applied = await client.call(vp.ApplyConfig(config=vtest_config("cam")), vp.ConfigApplied)
    assert applied.started == ("cam",)
    online = await pushes.wait(
        lambda p: _state(p, "camera", "cam") and p.update.state.online, "the camera online"
    )
    assert online.update.rule_id is None
    occupied = await pushes.wait(
        lambda p: _state(p, "zone") and p.update.state.occupied, "people in the zone"
    )
    assert occupied.update.rule_id == "all"
    event = await pushes.wait(
        lambda p: isinstance(p, vp.EventPush) and p.event.kind == "zone_presence", "a zone event"
    )
    assert event.event.attrs["label"] == "person"
    assert set(event.event.attrs) <= {
        "label",
        "count",
        "counts",
        "zone",
        "reason",
        "position",
        "dwell_s",
    }
    # A second client subscribing later gets the same states at once.
    other = await connect(server)
    states = {(u.camera_id, u.rule_id, u.state.KIND) for u in await other.subscribe()}
    assert {("cam", None, "camera"), ("cam", "all", "zone"), ("cam", None, "tamper")} <= states


async def test_applying_again_restarts_only_what_changed(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server()
    client = await connect(server)
    await client.call(vp.ApplyConfig(config=vtest_config("a", "b")), vp.ConfigApplied)
    assert server.engine is not None
    engine = server.engine
    pipeline_a = engine.pipeline("a")
    changed = vtest_config("a", "b", "c")
    changed["cameras"][1]["fps"] = 3.0
    applied = await client.call(vp.ApplyConfig(config=changed), vp.ConfigApplied)
    assert (applied.started, applied.restarted, applied.unchanged) == (("c",), ("b",), ("a",))
    assert server.engine is engine and engine.pipeline("a") is pipeline_a
    dry = await client.call(
        vp.ApplyConfig(config=vtest_config("a"), dry_run=True), vp.ConfigApplied
    )
    assert dry.removed == ("b", "c")
    assert set(engine.camera_ids) == {"a", "b", "c"}  # a dry run changes nothing


async def test_the_configuration_and_line_totals_survive_a_restart(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server()
    client = await connect(server)
    config = vtest_config("cam", zone=False)
    config["cameras"][0]["rules"] = [
        {"type": "line_crossing", "id": "door", "line": [[0.0, 0.6], [1.0, 0.6]]}
    ]
    pushes = Pushes(client)
    await client.subscribe()
    await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    crossed = await pushes.wait(
        lambda p: _state(p, "line") and p.update.state.a_to_b + p.update.state.b_to_a >= 2,
        "two crossings",
        limit_s=120,
    )
    before = crossed.update.state
    await client.close()
    await server.stop()
    restarted = await start_server(data=server.data.root)
    assert restarted.engine is not None  # resumed without any client
    states = await (await connect(restarted)).subscribe()
    line = next(u.state for u in states if u.state.KIND == "line")
    assert line.a_to_b + line.b_to_a >= before.a_to_b + before.b_to_a


async def test_pictures_come_with_the_token(start_server: ServerFactory, connect: Connect) -> None:
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    await client.subscribe()
    # In a private home the analysed frame is not sensitive: the token is enough.
    config = {**vtest_config("cam"), "privacy": {"context": "private_home"}}
    await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    await pushes.wait(lambda p: _state(p, "zone") and p.update.state.occupied, "a frame analysed")
    jpeg = await client.fetch("/api/cameras/cam/picture.jpg", {"boxes": "1", "width": "320"})
    assert jpeg[:2] == b"\xff\xd8"
    drawn = await client.render(
        {"camera_id": "cam", "grid": True, "areas": [{"name": "door", "points": WHOLE}]}
    )
    assert drawn[:2] == b"\xff\xd8"
    with pytest.raises(ServerError) as missing:
        await client.fetch("/api/cameras/nope/picture.jpg")
    assert missing.value.translation_key == "no_picture"


ADMIN = vp.Actor(name="Alex", user_id="u-admin", is_admin=True)


@pytest.mark.parametrize("context", ["public_space", None])
async def test_sensitive_pictures_need_a_named_administrator_and_are_logged(
    start_server: ServerFactory, connect: Connect, context: str | None
) -> None:
    """A crop, or an analysed frame outside a private home: no actor, no picture; views logged."""
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    await client.subscribe()
    config = vtest_config("cam")
    if context is not None:
        config["privacy"] = {"context": context}
    await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    await pushes.wait(lambda p: _state(p, "zone") and p.update.state.occupied, "a frame analysed")
    engine, log = server.engine, server.access_log
    assert engine is not None
    assert log is not None
    crop = np.full((40, 120, 3), 200, np.uint8)
    crop_id = await asyncio.to_thread(engine.anpr.crops.put, crop, "cam", time.time())
    frame = "/api/cameras/cam/picture.jpg"
    crop_path = f"/api/crops/{crop_id}.jpg"
    before = len(log.entries())

    for path in (frame, crop_path):
        with pytest.raises(ServerError) as nobody:
            await client.fetch(path)
        assert nobody.value.translation_key == "actor_required"
        for actor in (
            vp.Actor(name="Sam", user_id="u-sam", is_admin=False),
            vp.Actor(name="automation", is_admin=True, origin="automation"),
        ):
            with pytest.raises(ServerError) as refused:
                await client.fetch(path, actor=actor)
            assert refused.value.translation_key == "admin_required"
    assert len(log.entries()) == before  # a refusal shows nothing, so it logs no view

    assert (await client.fetch(frame, {"boxes": "1"}, actor=ADMIN))[:2] == b"\xff\xd8"
    assert (await client.fetch(crop_path, actor=ADMIN))[:2] == b"\xff\xd8"
    views = log.entries()[before:]
    assert [(v["action"], v["target"], v["actor"]) for v in views] == [
        ("snapshot_view", "cam", {"user_id": "u-admin", "name": "Alex", "is_admin": True}),
        ("crop_view", crop_id, {"user_id": "u-admin", "name": "Alex", "is_admin": True}),
    ]
    assert views[1]["details"] == {"picture": "plate_crop", "camera": "cam"}
    assert log.verify().ok


async def test_an_actor_header_that_is_not_an_actor_is_refused(
    start_server: ServerFactory, connect: Connect, http: aiohttp.ClientSession
) -> None:
    server = await start_server()
    client = await connect(server)
    await client.call(vp.ApplyConfig(config=vtest_config("cam")), vp.ConfigApplied)
    engine = server.engine
    assert engine is not None
    crop = np.full((40, 120, 3), 200, np.uint8)
    crop_id = await asyncio.to_thread(engine.anpr.crops.put, crop, "cam", time.time())
    headers = {"Authorization": f"Bearer {server.token}", ACTOR_HEADER: "{not json"}
    url = f"http://127.0.0.1:{server.port}/api/crops/{crop_id}.jpg"
    async with http.get(url, headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["translation_key"] == "invalid_request"


async def test_a_stream_probe_keeps_its_frame_for_the_forms(
    start_server: ServerFactory, connect: Connect, rtsp_server: Any
) -> None:
    stream = rtsp_server(media("vtest.avi"), seconds=5, user="viewer", password="s3cr#t/?")
    server = await start_server()
    client = await connect(server)
    url = f"rtsp://127.0.0.1:{stream.port}/stream"
    probe = await client.call(
        vp.ProbeStream(url=url, username="viewer", password="s3cr#t/?"), vp.StreamProbe
    )
    assert (probe.width, probe.height) == (768, 576)
    assert probe.frame_id
    jpeg = await client.fetch(f"/api/frames/{probe.frame_id}.jpg")
    assert jpeg[:2] == b"\xff\xd8"
    with pytest.raises(ServerError) as refused:
        await client.request(vp.ProbeStream(url=url, username="viewer", password="wrong"))
    assert refused.value.translation_key == "invalid_auth"
    with pytest.raises(ServerError) as bad:
        await client.request(vp.ProbeStream(url="file:///etc/passwd"))
    assert bad.value.translation_key == "invalid_url"
    # An '@' after host:port may end an unencoded password: refused, never guessed.
    with pytest.raises(ServerError) as ambiguous:
        await client.request(vp.ProbeStream(url=f"rtsp://admin:1234/x@127.0.0.1:{stream.port}/s"))
    assert ambiguous.value.translation_key == "invalid_url"
    assert "percent-encode" in ambiguous.value.message
