"""The Frigate client against each version's recorded API, with and without its login."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
import contextlib
import socket
from typing import Any

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
import pytest

from tests.support.frigate_api import VERSIONS, FrigateApi, load_config
from tests.support.onvif_emulator import OnvifEmulator
from vigil_core.errors import AuthFailed, FrigateConfigInvalid, SourceUnavailable
from vigil_core.feeds.frigate import FrigateCamera, fetch_frigate, zone_polygon

pytestmark = pytest.mark.usefixtures("socket_enabled")

USER = "ha-reader"
PASSWORD = "Fr1gate/p@ss:word"
FRONT_ZONES = {
    "porch": ((0.115, 0.6), (0.5, 0.6), (0.5, 1.0), (0.115, 1.0)),
    "sidewalk": ((0.0, 0.35), (1.0, 0.3), (1.0, 0.45), (0.0, 0.5)),
}
DRIVE_ZONE = ((0.0, 0.45), (1.0, 0.45), (1.0, 1.0), (0.0, 1.0))


def _assert_zones(
    zones: Mapping[str, tuple[tuple[float, float], ...]],
    expected: Mapping[str, tuple[tuple[float, float], ...]],
) -> None:
    assert set(zones) == set(expected)
    for name, polygon in expected.items():
        flat = [value for point in zones[name] for value in point]
        assert flat == pytest.approx([value for point in polygon for value in point], abs=0.002)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def _html_site() -> AsyncIterator[str]:
    """Serve the same HTML page on every path, like a web UI with client-side routing."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>Router</title>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_each_version_gives_cameras_restreams_and_relative_zones(version: str) -> None:
    async with FrigateApi(version) as server:
        frigate = await fetch_frigate(server.url)

    assert frigate.version == server.version_text
    assert frigate.version.startswith(f"{version}.")
    cameras = {camera.name: camera for camera in frigate.cameras}
    expected_names = ["front_door", "driveway", "garage"]
    if version >= "0.16":
        expected_names.append("gate_lpr")
    assert [camera.name for camera in frigate.cameras] == expected_names

    front = cameras["front_door"]
    assert (front.width, front.height, front.fps, front.enabled) == (640, 360, 5.0, True)
    assert front.restream_url == "rtsp://127.0.0.1:8554/front_door"
    assert front.detect_restream_url == "rtsp://127.0.0.1:8554/front_door_sub"
    assert front.objects == ("person", "dog", "cat")
    _assert_zones(front.zones, FRONT_ZONES)

    drive = cameras["driveway"]
    assert (drive.width, drive.height, drive.enabled) == (1280, 720, True)
    assert drive.restream_url is None and drive.detect_restream_url is None
    assert drive.objects == ("person", "car")
    _assert_zones(drive.zones, {"drive": DRIVE_ZONE})

    garage = cameras["garage"]
    assert garage.enabled is False
    assert garage.restream_url == garage.detect_restream_url == "rtsp://127.0.0.1:8554/garage"
    assert dict(garage.zones) == {}

    if version >= "0.16":
        gate = cameras["gate_lpr"]
        assert (gate.width, gate.height, gate.fps) == (1920, 1080, 10.0)
        assert gate.objects == ("car", "license_plate")
        _assert_zones(gate.zones, {"gate": ((0.3, 0.2), (0.7, 0.2), (0.7, 0.9), (0.3, 0.9))})


@pytest.mark.parametrize("version", ["0.14", "0.17"])
async def test_login_opens_the_authenticated_api(version: str) -> None:
    async with FrigateApi(version, username=USER, password=PASSWORD) as server:
        frigate = await fetch_frigate(server.url, username=USER, password=PASSWORD)

    assert server.logins == 1
    assert server.requests == ["POST /api/login", "GET /api/version", "GET /api/config"]
    assert frigate.cameras[0].restream_url == "rtsp://127.0.0.1:8554/front_door"


async def test_login_required_without_credentials_is_auth_failed() -> None:
    async with FrigateApi("0.16", username=USER, password=PASSWORD) as server:
        with pytest.raises(AuthFailed, match="requires a valid login") as caught:
            await fetch_frigate(server.url)

    assert caught.value.translation_key == "invalid_auth"


async def test_wrong_password_is_auth_failed_without_leaking_it() -> None:
    async with FrigateApi("0.15", username=USER, password=PASSWORD) as server:
        with pytest.raises(AuthFailed, match="refused the credentials") as caught:
            await fetch_frigate(server.url, username=USER, password="Wr0ng-Guess!")

    assert "Wr0ng-Guess!" not in str(caught.value) and USER not in str(caught.value)
    assert server.requests == ["POST /api/login"]


async def test_credentials_for_a_server_older_than_logins_are_not_needed() -> None:
    async with FrigateApi("0.13") as server:
        frigate = await fetch_frigate(server.url, username=USER, password=PASSWORD)

    assert frigate.version.startswith("0.13.")
    assert server.requests == ["POST /api/login", "GET /api/version", "GET /api/config"]


async def test_a_shared_session_with_the_default_cookie_jar_logs_in_by_ip() -> None:
    async with (
        FrigateApi("0.17", username=USER, password=PASSWORD) as server,
        ClientSession() as session,
    ):
        frigate = await fetch_frigate(server.url, username=USER, password=PASSWORD, session=session)
        assert not session.closed

    assert len(session.cookie_jar) == 0  # the jar refused the IP host's cookie...
    assert len(frigate.cameras) == 4  # ...yet the token went back with each request


@pytest.mark.parametrize(
    "shape",
    [
        "{host}:{port}",
        "http://{host}:{port}/",
        "http://{host}:{port}/api/",
        "http://u:p@{host}:{port}",
    ],
)
async def test_url_forms_a_user_may_paste(shape: str) -> None:
    async with FrigateApi("0.14") as server:
        frigate = await fetch_frigate(shape.format(host=server.host, port=server.port))

    assert len(frigate.cameras) == 3
    assert server.requests == ["GET /api/version", "GET /api/config"]


async def test_not_found_is_not_frigate() -> None:
    async with OnvifEmulator() as other:
        with pytest.raises(SourceUnavailable, match="HTTP 404") as caught:
            await fetch_frigate(other.url)

    assert caught.value.translation_key == "cannot_connect"


async def test_html_everywhere_is_not_frigate() -> None:
    async with _html_site() as url:
        with pytest.raises(SourceUnavailable, match="not a Frigate server"):
            await fetch_frigate(url)


async def test_config_without_cameras_is_unavailable() -> None:
    async with FrigateApi("0.15", config={"mqtt": {"enabled": False}}) as server:
        with pytest.raises(SourceUnavailable, match="without cameras"):
            await fetch_frigate(server.url)


async def test_closed_port_is_unavailable() -> None:
    with pytest.raises(SourceUnavailable, match="cannot be reached"):
        await fetch_frigate(f"http://127.0.0.1:{_closed_port()}", timeout_s=5)


async def test_go2rtc_rtsp_listen_port_is_followed() -> None:
    moved = load_config("0.15")
    moved["go2rtc"]["rtsp"] = {"listen": "0.0.0.0:8564"}
    switched_off = load_config("0.15")
    switched_off["go2rtc"]["rtsp"] = {"listen": ""}

    async with FrigateApi("0.15", config=moved) as server:
        moved_front: FrigateCamera = (await fetch_frigate(server.url)).cameras[0]
    async with FrigateApi("0.15", config=switched_off) as server:
        off_front: FrigateCamera = (await fetch_frigate(server.url)).cameras[0]

    assert moved_front.restream_url == "rtsp://127.0.0.1:8564/front_door"
    assert moved_front.detect_restream_url is None  # its input still reads port 8554
    assert off_front.restream_url is None


async def test_a_broken_zone_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config("0.16")
    config["cameras"]["front_door"]["zones"]["porch"]["coordinates"] = "0.1,0.2,oops"
    async with FrigateApi("0.16", config=config) as server:
        front = (await fetch_frigate(server.url)).cameras[0]

    assert set(front.zones) == {"sidewalk"}
    assert "front_door/porch" in caplog.text


def _set(config: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    section = config
    for part in parents:
        section = section[int(part)] if isinstance(section, list) else section[part]
    section[last] = value


BAD_FIELDS = [
    ("objects.track", "person"),
    ("objects.track", 5),
    ("zones.porch.objects", {"person": 1}),
    ("zones.porch.objects", 7),
    ("ffmpeg.inputs", 5),
    ("ffmpeg.inputs", "rtsp://127.0.0.1:8554/front_door"),
    ("ffmpeg.inputs.0.roles", 5),
    ("detect.width", float("inf")),
    ("detect.height", float("nan")),
    ("detect.width", 1e300),
    ("detect.fps", float("inf")),
]


@pytest.mark.parametrize(("path", "value"), BAD_FIELDS)
async def test_a_malformed_camera_is_skipped_and_the_others_kept(
    path: str, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A field of the wrong shape costs its camera, named with the field; the rest is kept."""
    config = load_config("0.16")
    _set(config["cameras"]["front_door"], path, value)
    async with FrigateApi("0.16", config=config) as server:
        frigate = await fetch_frigate(server.url)

    names = [camera.name for camera in frigate.cameras]
    assert "front_door" not in names
    assert names == [name for name in load_config("0.16")["cameras"] if name != "front_door"]
    assert path.rsplit(".", 1)[-1] in frigate.skipped["front_door"]
    assert "front_door" in caplog.text


async def test_every_camera_malformed_is_a_clear_error() -> None:
    config = load_config("0.15")
    for camera in config["cameras"].values():
        camera["objects"]["track"] = 3
    async with FrigateApi("0.15", config=config) as server:
        with pytest.raises(FrigateConfigInvalid, match=r"objects\.track") as err:
            await fetch_frigate(server.url)
    assert err.value.translation_key == "frigate_config_invalid"


async def test_other_digits_in_the_go2rtc_port_are_no_port() -> None:
    config = load_config("0.15")
    config["go2rtc"]["rtsp"] = {"listen": ":²"}
    async with FrigateApi("0.15", config=config) as server:
        front = (await fetch_frigate(server.url)).cameras[0]
    assert front.restream_url is None


def test_zone_polygon_reads_pixels_and_both_relative_forms() -> None:
    assert zone_polygon("0,360,640,360,640,0", 640, 360) == ((0, 1), (1, 1), (1, 0))
    assert zone_polygon(["0.25,0.5", "0.75,0.5", "0.5,1.0"], None, None) == (
        (0.25, 0.5),
        (0.75, 0.5),
        (0.5, 1.0),
    )
    assert zone_polygon("0.1,0.1,0.9,0.1,0.9,0.9", 640, 360)[2] == (0.9, 0.9)
    assert zone_polygon("-4,0,700,0,700,400", 640, 360) == ((0, 0), (1, 0), (1, 1))


@pytest.mark.parametrize(
    ("coordinates", "width"),
    [
        ("0.1,0.2,0.3,0.4", 640),
        ("0,0,640,0,640", 640),
        ("0,0,640,0,640,360", None),
        (None, 640),
        ("0,0,inf,0,0.5,0.5", 640),
        ("0,0,nan,0,0.5,0.5", 640),
    ],
)
def test_zone_polygon_refuses_what_is_not_a_polygon(coordinates: object, width: int | None) -> None:
    with pytest.raises(ValueError, match=r"."):
        zone_polygon(coordinates, width, 360 if width else None)
