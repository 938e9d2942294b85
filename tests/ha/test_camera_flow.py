"""Camera subentry flows: RTSP/HTTP URL and ONVIF camera; add and reconfigure.

The Frigate camera steps are tested in test_frigate_flow.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import SOURCE_USER, ConfigSubentry
from homeassistant.const import (
    CONF_HOST,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_URL,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_PROFILE,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    SOURCE_FRIGATE,
    SOURCE_ONVIF,
    SOURCE_STREAM,
    SUBENTRY_CAMERA,
)
from tests.ha.conftest import CAMERA_ID, STREAM_URL, FakeEngine, setup_entry
from tests.support.onvif_emulator import SUB_TOKEN, OnvifEmulator
from vigil_core.errors import AuthFailed, NotVideo, SourceUnavailable

PROBE = "custom_components.vigil.validation.probe"


@pytest.fixture
def probe() -> Iterator[MagicMock]:
    """Replace the stream probe; by default every stream plays."""
    with patch(PROBE, return_value=None) as mock:
        yield mock


@pytest.fixture
async def hub(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> MockConfigEntry:
    """Return the loaded hub with its camera and zone."""
    await setup_entry(hass, config_entry)
    return config_entry


async def _start(hass: HomeAssistant, entry: MockConfigEntry, source: str) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == [SOURCE_STREAM, SOURCE_ONVIF, SOURCE_FRIGATE]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": source}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == source
    return result


def _camera(entry: MockConfigEntry, title: str) -> ConfigSubentry:
    return next(s for s in entry.subentries.values() if s.title == title)


async def test_stream_camera(hass: HomeAssistant, hub: MockConfigEntry, probe: MagicMock) -> None:
    """A stream URL is probed with its credentials and saved without them in the URL."""
    result = await _start(hass, hub, SOURCE_STREAM)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_NAME: " Garden ", CONF_URL: "rtsp://cam:p%40ss@192.0.2.30:554/live?ch=1"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Garden"
    assert result["data"] == {
        CONF_SOURCE_TYPE: SOURCE_STREAM,
        CONF_URL: "rtsp://192.0.2.30:554/live?ch=1",
        CONF_USERNAME: "cam",
        CONF_PASSWORD: "p@ss",
    }
    assert result["unique_id"] == "rtsp://192.0.2.30:554/live?ch=1"
    probe.assert_called_once_with("rtsp://cam:p%40ss@192.0.2.30:554/live?ch=1", timeout_s=10.0)
    await hass.async_block_till_done()
    assert _camera(hub, "Garden").subentry_type == SUBENTRY_CAMERA


@pytest.mark.parametrize(
    ("url", "side_effect", "errors"),
    [
        ("ftp://192.0.2.30/x", None, {CONF_URL: "invalid_url"}),
        ("rtsp:///nohost", None, {CONF_URL: "invalid_url"}),
        ("rtsp://[::1/broken", None, {CONF_URL: "invalid_url"}),
        ("rtsp://192.0.2.31:99999/a", None, {CONF_URL: "invalid_url"}),
        ("RTSP://192.0.2.10:554/stream1", None, {"base": "already_configured"}),
        ("rtsp://192.0.2.31/a", SourceUnavailable("down"), {"base": "cannot_connect"}),
        ("rtsp://192.0.2.31/a", AuthFailed("no"), {"base": "invalid_auth"}),
        ("rtsp://192.0.2.31/a", NotVideo("audio"), {"base": "not_video"}),
        ("rtsp://192.0.2.31/a", RuntimeError("boom"), {"base": "unknown"}),
    ],
)
async def test_stream_errors_then_recovers(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    probe: MagicMock,
    url: str,
    side_effect: Exception | None,
    errors: dict[str, str],
) -> None:
    """Every failure is a form error and saves nothing; a good stream then saves."""
    result = await _start(hass, hub, SOURCE_STREAM)
    probe.side_effect = side_effect
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Garden", CONF_URL: url, CONF_USERNAME: "u"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert len(hub.subentries) == 2

    probe.side_effect = None
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Garden", CONF_URL: "rtsp://192.0.2.31/a"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert len(hub.subentries) == 3


async def test_reconfigure_stream_keeps_password(
    hass: HomeAssistant, hub: MockConfigEntry, probe: MagicMock, engines: list[FakeEngine]
) -> None:
    """A blank password keeps the saved one; the camera keeps its id and reloads."""
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, CAMERA_ID)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == SOURCE_STREAM
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_NAME: "Porch", CONF_URL: "rtsp://192.0.2.10:8554/main", CONF_USERNAME: "viewer"},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    camera = hub.subentries[CAMERA_ID]
    assert camera.title == "Porch"
    assert camera.data[CONF_PASSWORD] == "s3cret"
    assert camera.unique_id == "rtsp://192.0.2.10:8554/main"
    source = engines[-1].config.cameras[0].source
    assert source.address.authenticated() == "rtsp://viewer:s3cret@192.0.2.10:8554/main"


async def test_reconfigure_stream_to_its_own_url(
    hass: HomeAssistant, hub: MockConfigEntry, probe: MagicMock
) -> None:
    """Keeping the same URL is not a duplicate of itself; a new user drops the old password."""
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, CAMERA_ID)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Front door", CONF_URL: STREAM_URL, CONF_USERNAME: "other"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert CONF_PASSWORD not in hub.subentries[CAMERA_ID].data


@pytest.fixture
async def onvif(socket_enabled: None) -> AsyncIterator[OnvifEmulator]:
    """Serve an ONVIF camera on 127.0.0.1."""
    async with OnvifEmulator(clock_skew_s=120.0) as emulator:
        yield emulator


async def _onvif_form(
    hass: HomeAssistant, flow_id: str, emulator: OnvifEmulator, password: str | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_configure(
        flow_id,
        {
            CONF_NAME: "Gate",
            CONF_HOST: emulator.host,
            CONF_PORT: emulator.port,
            CONF_USERNAME: emulator.username,
            CONF_PASSWORD: password if password is not None else emulator.password,
        },
    )
    return result


async def test_onvif_camera(
    hass: HomeAssistant, hub: MockConfigEntry, probe: MagicMock, onvif: OnvifEmulator
) -> None:
    """The camera's profiles are listed, the sub-stream first; the chosen stream is probed."""
    result = await _start(hass, hub, SOURCE_ONVIF)
    result = await _onvif_form(hass, result["flow_id"], onvif)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "onvif_profile"
    schema = result["data_schema"].schema
    options = next(iter(schema.values())).config["options"]
    assert [o["value"] for o in options] == [SUB_TOKEN, "Profile_1"]

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PROFILE: SUB_TOKEN}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Gate"
    stream = onvif.stream_uri(SUB_TOKEN)
    assert result["data"] == {
        CONF_SOURCE_TYPE: SOURCE_ONVIF,
        CONF_HOST: onvif.host,
        CONF_PORT: onvif.port,
        CONF_USERNAME: onvif.username,
        CONF_PASSWORD: onvif.password,
        CONF_PROFILE: SUB_TOKEN,
        CONF_STREAM_URL: stream,
    }
    assert probe.call_args.args[0] == stream.replace("rtsp://", "rtsp://admin:Secret-Pass1@")
    await hass.async_block_till_done()


async def test_onvif_errors_then_recovers(
    hass: HomeAssistant, hub: MockConfigEntry, probe: MagicMock, onvif: OnvifEmulator
) -> None:
    """Refused credentials, an unreachable device and a stream that fails are form errors."""
    result = await _start(hass, hub, SOURCE_ONVIF)
    result = await _onvif_form(hass, result["flow_id"], onvif, password="wrong")
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_NAME: "Gate", CONF_HOST: "127.0.0.1", CONF_PORT: 9, CONF_USERNAME: "admin"},
    )
    assert result["errors"] == {"base": "cannot_connect"}

    result = await _onvif_form(hass, result["flow_id"], onvif)
    assert result["step_id"] == "onvif_profile"
    probe.side_effect = SourceUnavailable("no route")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PROFILE: SUB_TOKEN}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    probe.side_effect = None
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PROFILE: SUB_TOKEN}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    # The same profile of the same camera again is a duplicate.
    result = await _start(hass, hub, SOURCE_ONVIF)
    result = await _onvif_form(hass, result["flow_id"], onvif)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PROFILE: SUB_TOKEN}
    )
    assert result["errors"] == {"base": "already_configured"}


async def test_onvif_without_profiles(
    hass: HomeAssistant, hub: MockConfigEntry, onvif: OnvifEmulator
) -> None:
    """A device without a video profile with a stream cannot be added."""
    result = await _start(hass, hub, SOURCE_ONVIF)
    with patch("custom_components.vigil.validation.fetch_onvif_device") as fetch:
        fetch.return_value.profiles = ()
        result = await _onvif_form(hass, result["flow_id"], onvif)
    assert result["errors"] == {"base": "no_profiles"}


async def test_reconfigure_onvif(
    hass: HomeAssistant, hub: MockConfigEntry, probe: MagicMock, onvif: OnvifEmulator
) -> None:
    """An ONVIF camera is reconfigured through the same two steps, keeping its password."""
    result = await _start(hass, hub, SOURCE_ONVIF)
    result = await _onvif_form(hass, result["flow_id"], onvif)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PROFILE: SUB_TOKEN}
    )
    await hass.async_block_till_done()
    gate = _camera(hub, "Gate")

    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, gate.subentry_id)
    assert result["step_id"] == SOURCE_ONVIF
    result = await _onvif_form(hass, result["flow_id"], onvif, password="")
    assert result["step_id"] == "onvif_profile"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PROFILE: "Profile_1"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert hub.subentries[gate.subentry_id].data[CONF_PROFILE] == "Profile_1"
    assert hub.subentries[gate.subentry_id].data[CONF_PASSWORD] == onvif.password
