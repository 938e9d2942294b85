"""The camera flow's ONVIF steps through a real Vigil server: discovery, profiles, errors.

The camera is the ONVIF emulator in tests/support (WS-Security digest checked), its profiles
streaming the session's RTSP test pattern; WS-Discovery answers come from a responder on
127.0.0.1 that the server probes (its discovery targets point there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.const import (
    CONF_HOST,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_CAMERA_KEY,
    CONF_PROFILE,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    SOURCE_ONVIF,
    SUBENTRY_CAMERA,
)
from custom_components.vigil.validation import camera_key
from tests.ha.conftest import CLOSED_URL, ServerFactory, wait_until
from tests.ha.flows import loaded, options, reloaded, server_entry, start_camera_flow, suggested
from tests.support.onvif_emulator import MAIN_TOKEN, MEDIA_PATH, SUB_TOKEN, OnvifEmulator, SoapFault
from tests.support.ws_discovery import Answer, DiscoveryResponder
from vigil_core.server import VigilServer

ONVIF_ID = "01JVIGIL0000000000000ONVIF"


@pytest.fixture(autouse=True)
def short_discovery() -> Any:
    """Listen for WS-Discovery answers as briefly as the server allows."""
    with patch("custom_components.vigil.onvif_flow.DISCOVERY_TIMEOUT_S", 0.5):
        yield


@pytest.fixture
async def hub(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """Return the loaded server entry, with its camera on the test pattern and its zone."""
    return await loaded(hass, config_entry)


async def _start(hass: HomeAssistant, entry: MockConfigEntry, source: str) -> dict[str, Any]:
    return await start_camera_flow(hass, entry, source)


async def _submit(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_configure(flow_id, data)
    return result


@pytest.fixture
async def onvif(pattern_stream: str, socket_enabled: None) -> AsyncIterator[OnvifEmulator]:
    """Serve an ONVIF camera on 127.0.0.1 whose profiles stream the test pattern."""
    streams = {MAIN_TOKEN: pattern_stream, SUB_TOKEN: pattern_stream}
    async with OnvifEmulator(clock_skew_s=120.0, stream_uris=streams) as emulator:
        yield emulator


@pytest.fixture
async def responder(socket_enabled: None) -> AsyncIterator[DiscoveryResponder]:
    """Answer WS-Discovery probes on 127.0.0.1 (with no camera until a test adds some)."""
    async with DiscoveryResponder() as found:
        yield found


async def _discovering_hub(
    hass: HomeAssistant,
    start_server: ServerFactory,
    responder: DiscoveryResponder,
    *subentries: ConfigSubentryData,
) -> tuple[MockConfigEntry, VigilServer]:
    """Return a loaded entry whose server searches the responder, and the server."""
    server = await start_server(discovery_targets=(responder.target,))
    return await loaded(hass, server_entry(server, *subentries)), server


def _onvif_form(emulator: OnvifEmulator, password: str | None = None) -> dict[str, Any]:
    return {
        CONF_NAME: "Gate",
        CONF_HOST: emulator.host,
        CONF_PORT: emulator.port,
        CONF_USERNAME: emulator.username,
        CONF_PASSWORD: password if password is not None else emulator.password,
    }


async def test_discovered_onvif_camera_is_offered_then_added(
    hass: HomeAssistant,
    start_server: ServerFactory,
    responder: DiscoveryResponder,
    onvif: OnvifEmulator,
    pattern_stream: str,
) -> None:
    """The server's WS-Discovery answer is listed; picking it fills the ONVIF form."""
    responder.answers = [
        Answer("HIKVISION DS-2CD2143G2-I", "DS-2CD2143G2-I", onvif.host, onvif.port, "gate")
    ]
    hub, _server = await _discovering_hub(hass, start_server, responder)
    result = await _start(hass, hub, SOURCE_ONVIF)
    assert result["step_id"] == "onvif_discovery"
    assert options(result, "device") == [
        {"value": "urn:uuid:gate", "label": f"HIKVISION DS-2CD2143G2-I (127.0.0.1:{onvif.port})"},
        {"value": "manual", "label": "manual"},
    ]
    result = await _submit(hass, result["flow_id"], {"device": "urn:uuid:gate"})
    assert result["step_id"] == SOURCE_ONVIF
    assert suggested(result) == {
        CONF_NAME: "HIKVISION DS-2CD2143G2-I", CONF_HOST: "127.0.0.1", CONF_PORT: onvif.port,
    }  # fmt: skip

    result = await _submit(hass, result["flow_id"], _onvif_form(onvif))
    assert result["step_id"] == "onvif_profile"
    # The server lists the profile best for analysis (the 640-pixel sub-stream) first.
    assert [o["value"] for o in options(result, CONF_PROFILE)] == [SUB_TOKEN, MAIN_TOKEN]
    result = await _submit(hass, result["flow_id"], {CONF_PROFILE: SUB_TOKEN})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Gate"
    assert result["data"] == {
        CONF_SOURCE_TYPE: SOURCE_ONVIF,
        CONF_HOST: onvif.host,
        CONF_PORT: onvif.port,
        CONF_USERNAME: onvif.username,
        CONF_PASSWORD: onvif.password,
        CONF_PROFILE: SUB_TOKEN,
        CONF_STREAM_URL: pattern_stream,
        CONF_CAMERA_KEY: camera_key(f"onvif://127.0.0.1:{onvif.port}/{SUB_TOKEN}"),
    }
    assert result["unique_id"] == f"onvif://127.0.0.1:{onvif.port}/{SUB_TOKEN}"
    await reloaded(hass, hub)


async def test_manual_entry_known_cameras_and_a_silent_network(
    hass: HomeAssistant,
    start_server: ServerFactory,
    responder: DiscoveryResponder,
    onvif: OnvifEmulator,
) -> None:
    """'Enter the address myself' shows an empty form; known or no answers skip the list."""
    known = ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_ONVIF, CONF_HOST: "127.0.0.1", CONF_PORT: onvif.port,
            CONF_USERNAME: onvif.username, CONF_PASSWORD: onvif.password,
            CONF_PROFILE: SUB_TOKEN, CONF_STREAM_URL: onvif.stream_uri(SUB_TOKEN),
        },
        subentry_id=ONVIF_ID,
        subentry_type=SUBENTRY_CAMERA,
        title="Gate",
        unique_id=f"onvif://127.0.0.1:{onvif.port}/{SUB_TOKEN}",
    )  # fmt: skip
    responder.answers = [Answer("Yard", "X", "127.0.0.1", 9)]
    hub, server = await _discovering_hub(hass, start_server, responder, known)
    result = await _start(hass, hub, SOURCE_ONVIF)
    assert result["step_id"] == "onvif_discovery"
    result = await _submit(hass, result["flow_id"], {"device": "manual"})
    assert result["step_id"] == SOURCE_ONVIF
    assert suggested(result) == {}
    # The camera already added is not offered again: nothing new, straight to the form.
    responder.answers = [Answer("Gate", "X", onvif.host, onvif.port)]
    result = await _start(hass, hub, SOURCE_ONVIF)
    assert result["step_id"] == SOURCE_ONVIF
    responder.answers = []
    result = await _start(hass, hub, SOURCE_ONVIF)
    assert result["step_id"] == SOURCE_ONVIF

    # A search that fails (the server gone meanwhile) is no error either: the form shows.
    menu = await hass.config_entries.subentries.async_init(
        (hub.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    await server.stop()
    await wait_until(hass, lambda: not hub.runtime_data.store.connected, "disconnected")
    result = await _submit(hass, menu["flow_id"], {"next_step_id": SOURCE_ONVIF})
    assert result["step_id"] == SOURCE_ONVIF


async def test_onvif_errors_then_recovers(
    hass: HomeAssistant, hub: MockConfigEntry, onvif: OnvifEmulator, pattern_stream: str
) -> None:
    """Refused credentials, no device, a dead stream and a duplicate are form errors."""
    result = await _start(hass, hub, SOURCE_ONVIF)
    flow_id = result["flow_id"]
    result = await _submit(hass, flow_id, _onvif_form(onvif) | {CONF_NAME: "FRONT door "})
    assert result["errors"] == {CONF_NAME: "name_taken"}  # the hub's camera's name
    result = await _submit(hass, flow_id, _onvif_form(onvif, password="wrong"))
    assert result["errors"] == {"base": "invalid_auth"}
    result = await _submit(
        hass, flow_id, {CONF_NAME: "Gate", CONF_HOST: "127.0.0.1", CONF_PORT: 9, CONF_USERNAME: "a"}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    onvif._stream_uris[MAIN_TOKEN] = CLOSED_URL
    result = await _submit(hass, flow_id, _onvif_form(onvif))
    assert result["step_id"] == "onvif_profile"
    result = await _submit(hass, flow_id, {CONF_PROFILE: MAIN_TOKEN})
    assert result["errors"] == {"base": "cannot_connect"}
    result = await _submit(hass, flow_id, {CONF_PROFILE: SUB_TOKEN})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, hub)

    # The same profile of the same camera again is a duplicate (under another name too).
    result = await _start(hass, hub, SOURCE_ONVIF)
    result = await _submit(hass, result["flow_id"], _onvif_form(onvif) | {CONF_NAME: "Gate 2"})
    result = await _submit(hass, result["flow_id"], {CONF_PROFILE: SUB_TOKEN})
    assert result["errors"] == {"base": "already_configured"}


async def test_onvif_device_without_streams(
    hass: HomeAssistant, hub: MockConfigEntry, onvif: OnvifEmulator
) -> None:
    """A device whose profiles have no stream cannot be added."""

    def refuse(_: Any) -> str:
        raise SoapFault("ActionNotSupported", "no streams here", sender=False)

    onvif.register(MEDIA_PATH, "GetStreamUri", refuse)
    result = await _start(hass, hub, SOURCE_ONVIF)
    result = await _submit(hass, result["flow_id"], _onvif_form(onvif))
    assert result["errors"] == {"base": "no_profiles"}


async def test_reconfigure_onvif_keeps_its_password(
    hass: HomeAssistant, vigil_server: VigilServer, onvif: OnvifEmulator, pattern_stream: str
) -> None:
    """An ONVIF camera is reconfigured through the same two steps, keeping its password."""
    camera = ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_ONVIF, CONF_HOST: onvif.host, CONF_PORT: onvif.port,
            CONF_USERNAME: onvif.username, CONF_PASSWORD: onvif.password,
            CONF_PROFILE: SUB_TOKEN, CONF_STREAM_URL: pattern_stream,
        },
        subentry_id=ONVIF_ID,
        subentry_type=SUBENTRY_CAMERA,
        title="Gate",
        unique_id=f"onvif://127.0.0.1:{onvif.port}/{SUB_TOKEN}",
    )  # fmt: skip
    hub = await loaded(hass, server_entry(vigil_server, camera))
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, ONVIF_ID)
    assert result["step_id"] == SOURCE_ONVIF  # no discovery when reconfiguring
    result = await _submit(hass, result["flow_id"], _onvif_form(onvif, password=""))
    assert result["step_id"] == "onvif_profile"
    assert result["data_schema"]({})[CONF_PROFILE] == SUB_TOKEN  # the saved one first
    result = await _submit(hass, result["flow_id"], {CONF_PROFILE: MAIN_TOKEN})
    assert result["reason"] == "reconfigure_successful"
    await reloaded(hass, hub)
    saved = hub.subentries[ONVIF_ID].data
    assert (saved[CONF_PROFILE], saved[CONF_PASSWORD]) == (MAIN_TOKEN, onvif.password)
