"""The ONVIF client against the emulator: identity, profiles, clock skew and every failure path."""

from __future__ import annotations

from collections.abc import AsyncIterator
import logging
from pathlib import Path
import socket
import time

import onvif  # type: ignore[import-untyped, unused-ignore]
from onvif import ONVIFCamera  # type: ignore[import-untyped, unused-ignore]
import pytest
from zeep.exceptions import Fault

from tests.support.frigate_api import FrigateApi
from tests.support.onvif_emulator import MAIN_TOKEN, SUB_TOKEN, AuthFailure, OnvifEmulator
from vigil_core.errors import AuthFailed, SourceUnavailable
from vigil_core.feeds.onvif import (
    OnvifDeviceInfo,
    OnvifProfile,
    fetch_onvif_device,
    pick_analysis_profile,
    pick_snapshot_profile,
    with_credentials,
    without_credentials,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

USER = "cam-operator"
PASSWORD = "S3cret/p@ss:w0rd"
WRONG_PASSWORD = "Wr0ng-Guess!"


@pytest.fixture
async def camera() -> AsyncIterator[OnvifEmulator]:
    async with OnvifEmulator(username=USER, password=PASSWORD) as emulator:
        yield emulator


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _profile(
    token: str, encoding: str, width: int, height: int, **uris: str | None
) -> OnvifProfile:
    return OnvifProfile(
        token=token, name=token, encoding=encoding, width=width, height=height, fps=15.0,
        stream_uri=uris.get("stream_uri", f"rtsp://192.0.2.30/{token}"),
        snapshot_uri=uris.get("snapshot_uri"),
    )  # fmt: skip


async def test_reads_identity_profiles_and_uris(camera: OnvifEmulator) -> None:
    device = await fetch_onvif_device(camera.host, camera.port, USER, PASSWORD)

    assert device.info == OnvifDeviceInfo(
        manufacturer="Acme Vision", model="AV-IPC-4MP", firmware="V5.7.3 build 230911",
        serial="AV4MP20230911AAWR000001", hardware_id="88",
    )  # fmt: skip
    shapes = [(p.token, p.name, p.encoding, p.width, p.height, p.fps) for p in device.profiles]
    assert shapes == [
        (MAIN_TOKEN, "mainStream", "H264", 1920, 1080, 25.0),
        (SUB_TOKEN, "subStream", "H264", 640, 360, 15.0),
    ]
    main, sub = device.profiles
    assert main.stream_uri == camera.stream_uri(MAIN_TOKEN)
    assert sub.stream_uri == camera.stream_uri(SUB_TOKEN)
    assert main.snapshot_uri == camera.snapshot_uri(MAIN_TOKEN)
    assert abs(device.clock_offset_s) < 2
    assert camera.auth_failures == []
    assert {"GetDeviceInformation", "GetProfiles", "GetStreamUri"} <= set(camera.calls)


async def test_sub_stream_is_analysed_and_main_stream_snapshotted(camera: OnvifEmulator) -> None:
    device = await fetch_onvif_device(camera.host, camera.port, USER, PASSWORD)

    analysis = pick_analysis_profile(device.profiles)
    snapshot = pick_snapshot_profile(device.profiles)

    assert analysis is not None and (analysis.token, analysis.width) == (SUB_TOKEN, 640)
    assert snapshot is not None and (snapshot.token, snapshot.width) == (MAIN_TOKEN, 1920)


@pytest.mark.parametrize("skew_s", [2 * 3600.0, -3 * 3600.0 - 17])
async def test_requests_are_signed_on_the_camera_clock(skew_s: float) -> None:
    async with OnvifEmulator(username=USER, password=PASSWORD, clock_skew_s=skew_s) as camera:
        device = await fetch_onvif_device(camera.host, camera.port, USER, PASSWORD)

    assert device.clock_offset_s == pytest.approx(skew_s, abs=2)
    assert len(device.profiles) == 2
    assert camera.auth_failures == []


async def test_emulator_refuses_a_client_that_ignores_the_camera_clock() -> None:
    async with OnvifEmulator(username=USER, password=PASSWORD, clock_skew_s=7200) as camera:
        wsdl = str(Path(onvif.__file__).parent / "wsdl")
        client = ONVIFCamera(camera.host, camera.port, USER, PASSWORD, wsdl, no_cache=True)
        try:
            with pytest.raises(Fault):
                await client.update_xaddrs()
        finally:
            await client.close()

    assert camera.auth_failures
    assert all("clock tolerance" in failure for failure in camera.auth_failures)


@pytest.mark.parametrize("auth_failure", ["fault", "http401"])
async def test_wrong_password_is_auth_failed_without_leaking_it(
    auth_failure: AuthFailure, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with OnvifEmulator(username=USER, password=PASSWORD, auth_failure=auth_failure) as camera:
        with pytest.raises(AuthFailed) as caught:
            await fetch_onvif_device(camera.host, camera.port, USER, WRONG_PASSWORD)

    assert caught.value.translation_key == "invalid_auth"
    message = str(caught.value)
    assert f"127.0.0.1:{camera.port}" in message
    assert WRONG_PASSWORD not in message and USER not in message
    assert WRONG_PASSWORD not in caplog.text
    vigil_logs = [r.getMessage() for r in caplog.records if r.name.startswith("vigil_core")]
    assert vigil_logs and not any(USER in line for line in vigil_logs)


async def test_closed_port_is_unavailable_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="cannot reach") as caught:
        await fetch_onvif_device("127.0.0.1", _closed_port(), USER, PASSWORD, timeout_s=30)

    assert time.monotonic() - started < 10  # refused at once, not after the 30 s timeout
    assert caught.value.translation_key == "cannot_connect"


async def test_silent_device_times_out() -> None:
    async with OnvifEmulator(username=USER, password=PASSWORD, delay_s=30) as camera:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match=r"did not answer within 0\.5 s"):
            await fetch_onvif_device(camera.host, camera.port, USER, PASSWORD, timeout_s=0.5)

    assert time.monotonic() - started < 10  # gave up long before the camera's 30 s answer


@pytest.mark.parametrize("operation", ["GetSystemDateAndTime", "GetProfiles"])
async def test_malformed_reply_is_unavailable(operation: str) -> None:
    malformed = frozenset({operation})
    async with OnvifEmulator(username=USER, password=PASSWORD, malformed=malformed) as camera:
        with pytest.raises(SourceUnavailable, match="malformed response"):
            await fetch_onvif_device(camera.host, camera.port, USER, PASSWORD)


async def test_web_server_that_is_not_onvif_is_unavailable() -> None:
    async with FrigateApi("0.15") as server:
        with pytest.raises(SourceUnavailable, match="not answer as an ONVIF device"):
            await fetch_onvif_device(server.host, server.port, USER, PASSWORD)


async def test_uris_come_back_without_the_credentials_a_camera_embeds() -> None:
    embedded = {
        SUB_TOKEN: f"rtsp://{USER}:pw@127.0.0.1:8554/sub?channel=1&user={USER}&password=pw",
        MAIN_TOKEN: "rtsp://127.0.0.1:8554/main",
    }
    snapshot = {MAIN_TOKEN: f"http://{USER}:pw@127.0.0.1/snap.jpg?pwd=pw&ch=1"}
    async with OnvifEmulator(
        username=USER, password=PASSWORD, stream_uris=embedded, snapshot_uris=snapshot
    ) as camera:
        device = await fetch_onvif_device(camera.host, camera.port, USER, PASSWORD)

    main, sub = device.profiles
    assert sub.stream_uri == "rtsp://127.0.0.1:8554/sub?channel=1"
    assert main.snapshot_uri == "http://127.0.0.1/snap.jpg?ch=1"
    assert with_credentials(sub.stream_uri, USER, PASSWORD) == (
        "rtsp://cam-operator:S3cret%2Fp%40ss%3Aw0rd@127.0.0.1:8554/sub?channel=1"
    )


def test_with_credentials_replaces_user_info_and_keeps_ipv6_hosts() -> None:
    assert with_credentials("rtsp://old:pw@[fe80::2]:554/live", "ad min", "") == (
        "rtsp://ad%20min@[fe80::2]:554/live"
    )
    assert with_credentials("rtsp://old:pw@192.0.2.9/live", "", "x") == "rtsp://192.0.2.9/live"
    assert without_credentials("rtsp://192.0.2.9:554/a?b=1") == "rtsp://192.0.2.9:554/a?b=1"


def test_analysis_profile_is_the_smallest_h264_or_h265_at_least_320_wide() -> None:
    main = _profile("main", "H265", 2560, 1440)
    sub = _profile("sub", "H264", 640, 360)
    tiny = _profile("tiny", "H264", 176, 144)
    mjpeg = _profile("mjpeg", "JPEG", 320, 240)
    no_uri = _profile("no_uri", "H264", 480, 270, stream_uri=None)

    assert pick_analysis_profile([main, sub, tiny, mjpeg, no_uri]) is sub
    assert pick_analysis_profile([main, tiny, mjpeg]) is main
    assert pick_analysis_profile([tiny, mjpeg]) is None
    assert pick_analysis_profile([]) is None


def test_snapshot_profile_is_the_largest() -> None:
    main = _profile("main", "H264", 1920, 1080)
    sub = _profile("sub", "H264", 640, 360, snapshot_uri="http://192.0.2.30/snap")
    twin = _profile("twin", "H264", 1920, 1080, snapshot_uri="http://192.0.2.30/twin")

    assert pick_snapshot_profile([sub, main]) is main
    assert pick_snapshot_profile([main, twin, sub]) is twin
    assert pick_snapshot_profile([]) is None
