"""Camera subentry flows through a real Vigil server: stream URLs, reconfigure, no server.

Streams are real (the session's RTSP test pattern; a clip behind a login). The ONVIF steps are
in test_onvif_flow.py, the Frigate steps in test_frigate_flow.py.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    CONF_NAME,
    CONF_PASSWORD,
    CONF_URL,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_CAMERA_KEY,
    CONF_SOURCE_TYPE,
    SOURCE_STREAM,
    SUBENTRY_CAMERA,
)
from custom_components.vigil.validation import camera_key
from tests.ha.conftest import (
    CAMERA_ID,
    CLOSED_URL,
    camera_subentry,
    wait_until,
)
from tests.ha.flows import loaded, reloaded, server_entry, start_camera_flow, suggested
from tests.integration.conftest import RtspServerFactory
from tests.support.rtsp import RtspServer
from tests.support.shared import media
from vigil_core.server import VigilServer

USER, PASSWORD = "viewer", "p@ss:/1"


@pytest.fixture
async def hub(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """Return the loaded server entry, with its camera on the test pattern and its zone."""
    return await loaded(hass, config_entry)


@pytest.fixture
def locked(rtsp_server: RtspServerFactory) -> RtspServer:
    """Return a stream that needs a login (a real clip)."""
    return rtsp_server(media("vtest.avi"), seconds=20, user=USER, password=PASSWORD)


async def _start(hass: HomeAssistant, entry: MockConfigEntry, source: str) -> dict[str, Any]:
    return await start_camera_flow(hass, entry, source)


async def _submit(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_configure(flow_id, data)
    return result


def _camera(entry: MockConfigEntry, title: str) -> Any:
    return next(s for s in entry.subentries.values() if s.title == title)


# --- stream URLs -------------------------------------------------------------------------------


async def test_stream_camera_with_its_login(
    hass: HomeAssistant, hub: MockConfigEntry, locked: RtspServer, vigil_server: VigilServer
) -> None:
    """Credentials typed in the URL move to their fields; the server probes the stream with them."""
    result = await _start(hass, hub, SOURCE_STREAM)
    assert result["step_id"] == SOURCE_STREAM
    result = await _submit(
        hass, result["flow_id"], {CONF_NAME: "Hall", CONF_URL: locked.url_as(USER, "wrong")}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    typed = locked.url_as().replace("rtsp://", "rtsp://viewer:p%40ss%3A%2F1@")
    result = await _submit(hass, result["flow_id"], {CONF_NAME: " Hall ", CONF_URL: typed})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Hall"
    assert result["data"] == {
        CONF_SOURCE_TYPE: SOURCE_STREAM,
        CONF_URL: locked.url_as(),
        CONF_USERNAME: USER,
        CONF_PASSWORD: PASSWORD,
        CONF_CAMERA_KEY: camera_key(locked.url_as()),
    }
    assert result["unique_id"] == locked.url_as()
    # The entry reloads; the server runs the new camera with its login.
    await reloaded(hass, hub)
    hall = _camera(hub, "Hall").subentry_id.lower()
    store = hub.runtime_data.store
    await wait_until(hass, lambda: store.camera_online(hall), "the new camera's frames")


async def test_stream_password_typed_unencoded(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    rtsp_server: RtspServerFactory,
    vigil_server: VigilServer,
) -> None:
    """A password with '#', '?' and '/' typed as is in the URL still moves to its field."""
    secret = "pa#ss?w/d"
    stream = rtsp_server(media("vtest.avi"), seconds=20, user=USER, password=secret)
    typed = stream.url_as().replace("rtsp://", f"rtsp://{USER}:{secret}@")
    result = await _start(hass, hub, SOURCE_STREAM)
    result = await _submit(hass, result["flow_id"], {CONF_NAME: "Yard", CONF_URL: typed})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == stream.url_as()
    assert (result["data"][CONF_USERNAME], result["data"][CONF_PASSWORD]) == (USER, secret)
    assert result["unique_id"] == stream.url_as()


async def test_stream_errors_then_recovers(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    pattern_stream: str,
    vigil_server: VigilServer,
    rtsp_server: RtspServerFactory,
) -> None:
    """Every failure is a form error and saves nothing; a good stream then saves."""
    result = await _start(hass, hub, SOURCE_STREAM)
    flow_id = result["flow_id"]
    cases = [
        ("ftp://127.0.0.1/x", {CONF_URL: "invalid_url"}),
        ("rtsp:///nohost", {CONF_URL: "invalid_url"}),
        ("rtsp://[::1/broken", {CONF_URL: "invalid_url"}),
        ("rtsp://127.0.0.1:99999/a", {CONF_URL: "invalid_url"}),
        # A password holding '/' or a path holding '@'? Refused until one is percent-encoded.
        ("rtsp://127.0.0.1:554/a@b", {CONF_URL: "url_ambiguous"}),
        (pattern_stream.replace("rtsp://", "RTSP://"), {"base": "already_configured"}),
        (CLOSED_URL, {"base": "cannot_connect"}),
        (f"http://127.0.0.1:{vigil_server.port}/api/health", {"base": "not_video"}),
    ]
    for url, errors in cases:
        result = await _submit(hass, flow_id, {CONF_NAME: "Hall", CONF_URL: url})
        assert result["type"] is FlowResultType.FORM, url
        assert result["errors"] == errors, url
    assert len(hub.subentries) == 2

    other = rtsp_server(size=(320, 180), fps=5).url
    # The server's other camera's name, whatever its case and spaces, is refused on the field.
    result = await _submit(hass, flow_id, {CONF_NAME: " front DOOR ", CONF_URL: other})
    assert result["errors"] == {CONF_NAME: "name_taken"}
    result = await _submit(hass, flow_id, {CONF_NAME: "Hall", CONF_URL: other})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, hub)
    assert len(hub.subentries) == 3


async def test_reconfigure_stream_keeps_its_password(
    hass: HomeAssistant, vigil_server: VigilServer, locked: RtspServer, pattern_stream: str
) -> None:
    """A blank password keeps the saved one; another user drops it; the camera keeps its id."""
    camera = camera_subentry(locked.url_as())
    camera["data"] = {**camera["data"], CONF_USERNAME: USER, CONF_PASSWORD: PASSWORD}
    entry = await loaded(hass, server_entry(vigil_server, camera))

    result = await entry.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, CAMERA_ID)
    assert result["step_id"] == SOURCE_STREAM
    assert suggested(result) == {
        CONF_NAME: "Front door", CONF_URL: locked.url_as(), CONF_USERNAME: USER,
    }  # fmt: skip
    # Another user without a password: the saved password is not sent for them.
    result = await _submit(
        hass, result["flow_id"], {CONF_NAME: "Porch", CONF_URL: locked.url_as(), CONF_USERNAME: "x"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await _submit(
        hass,
        result["flow_id"],
        {CONF_NAME: "Porch", CONF_URL: locked.url_as(), CONF_USERNAME: USER},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await reloaded(hass, entry)
    saved = entry.subentries[CAMERA_ID]
    assert (saved.title, saved.data[CONF_PASSWORD]) == ("Porch", PASSWORD)

    # Its own URL is no duplicate of itself; a new user without a password saves none.
    result = await entry.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, CAMERA_ID)
    result = await _submit(
        hass, result["flow_id"], {CONF_NAME: "Porch", CONF_URL: pattern_stream, CONF_USERNAME: "u"}
    )
    assert result["reason"] == "reconfigure_successful"
    await reloaded(hass, entry)
    assert CONF_PASSWORD not in entry.subentries[CAMERA_ID].data
    assert entry.subentries[CAMERA_ID].unique_id == pattern_stream
    # Another stream, the same camera: it keeps the key its device and entities are keyed on.
    assert entry.subentries[CAMERA_ID].data[CONF_CAMERA_KEY] == camera_key(locked.url_as())


async def test_without_its_server(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """No server, no camera: the flow says the server is not connected, or stopped answering."""
    await loaded(hass, config_entry)
    result = await _start(hass, config_entry, SOURCE_STREAM)
    await vigil_server.stop()
    await wait_until(hass, lambda: not config_entry.runtime_data.store.connected, "disconnected")
    result = await _submit(hass, result["flow_id"], {CONF_NAME: "Hall", CONF_URL: CLOSED_URL})
    assert result["errors"] == {"base": "server_unreachable"}

    for start in (
        hass.config_entries.subentries.async_init(
            (config_entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
        ),
        config_entry.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, CAMERA_ID),
    ):
        result = await start
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "server_unavailable"
        assert result["description_placeholders"] == {"server": "Vigil test server"}


async def test_an_entry_not_loaded_asks_for_its_server(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    await vigil_server.stop()
    await setup_entry_retrying(hass, config_entry)
    result = await hass.config_entries.subentries.async_init(
        (config_entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    assert result["reason"] == "server_unavailable"


async def setup_entry_retrying(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
