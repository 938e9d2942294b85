"""The fix flow of a camera that refuses its login (repairs.py), through a real Vigil server.

issues.py raises the issue from the camera's state (translation key ``camera_auth_failed``,
fixable, data ``{"subentry_id": ...}``); here the tests raise it the same way, then fix it.
The streams and the ONVIF camera are real (a clip behind a login; the emulator).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from homeassistant.components.repairs import ConfirmRepairFlow, repairs_flow_manager
from homeassistant.components.repairs.issue_handler import RepairsFlowManager
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_PROFILE,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    DOMAIN,
    SOURCE_ONVIF,
    SUBENTRY_CAMERA,
)
from custom_components.vigil.repairs import CAMERA_AUTH_ISSUE, async_create_fix_flow
from tests.ha.conftest import CAMERA_ID, CAMERA_SLUG, camera_subentry, wait_until
from tests.ha.flows import loaded, reloaded, server_entry
from tests.ha.repair_flows import check_fix_flow_strings
from tests.integration.conftest import RtspServerFactory
from tests.support.onvif_emulator import SUB_TOKEN, OnvifEmulator
from tests.support.rtsp import RtspServer
from tests.support.shared import media
from vigil_core.server import VigilServer

USER, PASSWORD = "viewer", "n3w/p@ss"
ONVIF_ID = "01JVIGIL0000000000000ONVIF"


@pytest.fixture
def locked(rtsp_server: RtspServerFactory) -> RtspServer:
    """Return a stream that needs a login (a real clip)."""
    return rtsp_server(media("vtest.avi"), seconds=20, user=USER, password=PASSWORD)


@pytest.fixture
async def manager(hass: HomeAssistant) -> RepairsFlowManager:
    """Return Home Assistant's repairs flow manager."""
    assert await async_setup_component(hass, "repairs", {})
    found = repairs_flow_manager(hass)
    assert found is not None
    return found


def _raise_issue(hass: HomeAssistant, subentry_id: str, issue_id: str = "auth") -> str:
    """Raise the issue the way issues.py does for a camera refusing its login."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key=CAMERA_AUTH_ISSUE,
        translation_placeholders={"camera": "Front door", "reason": "401"},
        data={"subentry_id": subentry_id},
    )
    return issue_id


async def _step(
    manager: RepairsFlowManager, flow_id: str | None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    result: dict[str, Any]
    if flow_id is None:
        result = await manager.async_init(DOMAIN, data=data)
    else:
        result = await manager.async_configure(flow_id, data)
    check_fix_flow_strings(CAMERA_AUTH_ISSUE, result)
    return result


async def test_a_stream_camera_gets_its_login_again(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    locked: RtspServer,
    manager: RepairsFlowManager,
) -> None:
    """Wrong credentials stay a form error; the right ones are saved, the camera runs again."""
    camera = camera_subentry(locked.url_as())
    camera["data"] = {**camera["data"], CONF_USERNAME: USER, CONF_PASSWORD: "old"}
    entry = await loaded(hass, server_entry(vigil_server, camera))
    issue_id = _raise_issue(hass, CAMERA_ID)

    result = await _step(manager, None, {"issue_id": issue_id})
    assert result["step_id"] == "credentials"
    assert result["description_placeholders"] == {"camera": "Front door", "host": locked.url_as()}
    assert result["data_schema"]({})[CONF_USERNAME] == USER
    result = await _step(manager, result["flow_id"], {CONF_USERNAME: USER, CONF_PASSWORD: "bad"})
    assert result["errors"] == {"base": "invalid_auth"}
    result = await _step(manager, result["flow_id"], {CONF_USERNAME: USER, CONF_PASSWORD: PASSWORD})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    await reloaded(hass, entry)
    assert entry.subentries[CAMERA_ID].data[CONF_PASSWORD] == PASSWORD
    store = entry.runtime_data.store
    await wait_until(hass, lambda: store.camera_online(CAMERA_SLUG), "the camera's frames")


@pytest.fixture
async def onvif(pattern_stream: str, socket_enabled: None) -> AsyncIterator[OnvifEmulator]:
    """Serve an ONVIF camera on 127.0.0.1 streaming the test pattern."""
    async with OnvifEmulator(clock_skew_s=60.0, stream_uris={SUB_TOKEN: pattern_stream}) as camera:
        yield camera


async def test_an_onvif_camera_gets_its_login_again(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    onvif: OnvifEmulator,
    pattern_stream: str,
    manager: RepairsFlowManager,
) -> None:
    """The server logs in to the ONVIF camera with the new credentials before they are saved."""
    camera = ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_ONVIF, CONF_HOST: onvif.host, CONF_PORT: onvif.port,
            CONF_USERNAME: onvif.username, CONF_PASSWORD: "old",
            CONF_PROFILE: SUB_TOKEN, CONF_STREAM_URL: pattern_stream,
        },
        subentry_id=ONVIF_ID,
        subentry_type=SUBENTRY_CAMERA,
        title="Gate",
        unique_id=f"onvif://127.0.0.1:{onvif.port}/{SUB_TOKEN}",
    )  # fmt: skip
    entry = await loaded(hass, server_entry(vigil_server, camera))
    issue_id = _raise_issue(hass, ONVIF_ID)
    result = await _step(manager, None, {"issue_id": issue_id})
    assert result["description_placeholders"] == {
        "camera": "Gate", "host": f"127.0.0.1:{onvif.port}",
    }  # fmt: skip
    result = await _step(manager, result["flow_id"], {CONF_USERNAME: onvif.username})
    assert result["errors"] == {"base": "invalid_auth"}
    result = await _step(
        manager, result["flow_id"], {CONF_USERNAME: onvif.username, CONF_PASSWORD: onvif.password}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, entry)
    assert entry.subentries[ONVIF_ID].data[CONF_PASSWORD] == onvif.password


async def test_a_camera_removed_or_a_server_gone(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    vigil_server: VigilServer,
    manager: RepairsFlowManager,
) -> None:
    """A camera removed since, or a server not connected, ends the flow with why."""
    await loaded(hass, config_entry)
    result = await _step(manager, None, {"issue_id": _raise_issue(hass, "gone", "a")})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "camera_removed")

    # Removed while the form is open.
    issue_id = _raise_issue(hass, CAMERA_ID, "b")
    result = await _step(manager, None, {"issue_id": issue_id})
    flow_id = result["flow_id"]
    result = await _step(manager, None, {"issue_id": _raise_issue(hass, CAMERA_ID, "c")})
    await vigil_server.stop()
    await wait_until(hass, lambda: not config_entry.runtime_data.store.connected, "disconnected")
    result = await _step(manager, result["flow_id"], {CONF_USERNAME: "u", CONF_PASSWORD: "p"})
    assert result["errors"] == {"base": "server_unreachable"}
    result = await _step(manager, None, {"issue_id": _raise_issue(hass, CAMERA_ID, "d")})
    assert (result["reason"], result["description_placeholders"]) == (
        "server_unavailable",
        {"server": "Vigil test server"},
    )
    hass.config_entries.async_remove_subentry(config_entry, CAMERA_ID)
    await hass.async_block_till_done()
    result = await _step(manager, flow_id, {CONF_USERNAME: "u", CONF_PASSWORD: "p"})
    assert result["reason"] == "camera_removed"


async def test_an_issue_without_a_camera_is_only_confirmed(hass: HomeAssistant) -> None:
    """Any other fixable issue gets Home Assistant's confirmation flow."""
    assert isinstance(await async_create_fix_flow(hass, "other", None), ConfirmRepairFlow)
    assert isinstance(await async_create_fix_flow(hass, "other", {"x": 1}), ConfirmRepairFlow)
