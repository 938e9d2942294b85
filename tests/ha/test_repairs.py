"""Repair issues from the server's states: lasting outages, refused logins, the model.

A refused login is fixed from its issue by repairs.py's flow (its own tests are in
test_camera_login_repair.py and test_frigate_flow.py); here the issue comes from a real refusal
and is fixed the way a user fixes it, through Home Assistant's repairs flow manager.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import time
from types import SimpleNamespace
from unittest.mock import patch

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.vigil.const import (
    CONF_DETECTIONS,
    CONF_FRIGATE_CAMERA,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    DETECTIONS_VIGIL,
    DOMAIN,
    SOURCE_FRIGATE,
    SUBENTRY_CAMERA,
)
from custom_components.vigil.issues import (
    camera_auth_issue_id,
    model_issue_id,
    stream_issue_id,
)
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ENTRY_ID,
    ServerFactory,
    camera_subentry,
    server_data,
    setup_entry,
    stream_state,
    wait_until,
)
from tests.ha.flows import reloaded
from tests.ha.repair_flows import check_fix_flow_strings
from tests.integration.conftest import RtspServerFactory
from vigil_core.events.model import SourceState
from vigil_core.server import VigilServer

STREAM_ISSUE = stream_issue_id(ENTRY_ID, CAMERA_SLUG)
AUTH_ISSUE = camera_auth_issue_id(ENTRY_ID, CAMERA_SLUG)


def _issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


async def test_stream_issue_after_a_long_outage(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """An outage raises an issue only once it lasts five minutes; frames flowing clear it."""
    await setup_entry(hass, config_entry)
    outage = time.time()
    stream_state(vigil_server, SourceState.OFFLINE, reason="refused", wall_time=outage)
    store = config_entry.runtime_data.store
    await wait_until(hass, lambda: getattr(store.camera(CAMERA_SLUG), "failing", False), "down")
    assert _issue(hass, STREAM_ISSUE) is None

    # Five minutes later (the watcher's timer fires, and its clock says so).
    later = SimpleNamespace(time=lambda: outage + 301)
    with patch("custom_components.vigil.issues.time", later):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=301))
        await hass.async_block_till_done()
    issue = _issue(hass, STREAM_ISSUE)
    assert issue is not None
    assert issue.translation_key == "stream_unreachable"
    assert issue.translation_placeholders == {"camera": "Front door", "reason": "refused"}
    assert not issue.is_fixable

    stream_state(vigil_server, SourceState.ONLINE)
    await wait_until(hass, lambda: _issue(hass, STREAM_ISSUE) is None, "the issue cleared")


async def test_an_outage_that_began_long_ago_is_an_issue_at_once(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """The server says when the outage began: Home Assistant restarted late raises it at once."""
    await setup_entry(hass, config_entry)
    stream_state(vigil_server, SourceState.OFFLINE, reason="timeout", wall_time=time.time() - 3600)
    await wait_until(hass, lambda: _issue(hass, STREAM_ISSUE) is not None, "the issue")


async def test_refused_login_raises_a_fixable_issue_at_once(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Wrong credentials will not fix themselves: a fixable issue names the camera to fix."""
    await setup_entry(hass, config_entry)
    stream_state(vigil_server, SourceState.OFFLINE, reason="401 Unauthorized", key="invalid_auth")
    await wait_until(hass, lambda: _issue(hass, AUTH_ISSUE) is not None, "the issue")
    issue = _issue(hass, AUTH_ISSUE)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "camera_auth_failed"
    assert issue.translation_placeholders == {"camera": "Front door", "reason": "401 Unauthorized"}
    # What repairs.py's fix flow reads: the camera to ask the login of, nothing else.
    assert issue.data == {"subentry_id": CAMERA_ID}
    assert _issue(hass, STREAM_ISSUE) is None

    stream_state(vigil_server, SourceState.ONLINE)
    await wait_until(hass, lambda: _issue(hass, AUTH_ISSUE) is None, "the issue cleared")


async def test_a_damaged_model_is_an_issue_until_the_server_has_a_good_one(
    hass: HomeAssistant, start_server: ServerFactory, pattern_stream: str, tmp_path: Path
) -> None:
    """The server cannot load its detector: an issue names the server and the error."""
    damaged = tmp_path / "models"
    damaged.mkdir()
    # The models folder is searched first: a damaged copy there is what the server finds.
    (damaged / "yolox_nano.onnx").write_bytes(b"not a model")
    server = await start_server(models_dir=damaged)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Garage server",
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(server),
        subentries_data=[camera_subentry(pattern_stream)],
    )
    await setup_entry(hass, entry)
    issue_id = model_issue_id(ENTRY_ID)
    await wait_until(hass, lambda: _issue(hass, issue_id) is not None, "the model issue")
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_key == "model_checksum"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["server"] == "Garage server"
    assert "yolox" in issue.translation_placeholders["error"]

    # The server comes back with the right models: Home Assistant reconnects, the issue goes.
    port, data = server.port, server.data.root
    await server.stop()
    await start_server(data=data, port=port)
    await wait_until(hass, lambda: _issue(hass, issue_id) is None, "the issue cleared", 120)


async def test_a_camera_refusing_its_login_is_fixed_from_its_issue(
    hass: HomeAssistant, vigil_server: VigilServer, rtsp_server: RtspServerFactory
) -> None:
    """A real stream refuses the saved password; the issue's fix flow saves the right one."""
    locked = rtsp_server(user="viewer", password="n3w/p@ss")
    camera = camera_subentry(locked.url_as())
    camera["data"] = {**camera["data"], CONF_USERNAME: "viewer", CONF_PASSWORD: "old"}
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(vigil_server),
        subentries_data=[camera],
    )
    await setup_entry(hass, entry)
    await wait_until(hass, lambda: _issue(hass, AUTH_ISSUE) is not None, "the issue", 120)
    issue = _issue(hass, AUTH_ISSUE)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "camera_auth_failed"
    assert issue.data == {"subentry_id": CAMERA_ID}
    assert "old" not in str(issue.translation_placeholders)

    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": AUTH_ISSUE})
    check_fix_flow_strings("camera_auth_failed", result)
    assert result["step_id"] == "credentials"
    result = await manager.async_configure(
        result["flow_id"], {CONF_USERNAME: "viewer", CONF_PASSWORD: "n3w/p@ss"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, entry)
    assert entry.subentries[CAMERA_ID].data[CONF_PASSWORD] == "n3w/p@ss"
    store = entry.runtime_data.store
    await wait_until(hass, lambda: store.camera_online(CAMERA_SLUG), "the camera's frames", 120)
    assert _issue(hass, AUTH_ISSUE) is None


def _frigate_camera(url: str) -> ConfigSubentryData:
    """Return a Frigate camera analysed by Vigil on its restream (no API login saved)."""
    return ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_FRIGATE,
            CONF_URL: "http://127.0.0.1:9",
            CONF_USERNAME: "",
            CONF_PASSWORD: "",
            CONF_VERIFY_SSL: True,
            CONF_FRIGATE_CAMERA: "front_door",
            CONF_STREAM_URL: url,
            CONF_DETECTIONS: DETECTIONS_VIGIL,
        },
        subentry_id=CAMERA_ID,
        subentry_type=SUBENTRY_CAMERA,
        title="Front door",
        unique_id="frigate+http://127.0.0.1:9/front_door",
    )


async def test_frigate_cameras_and_their_login_issues(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A refused restream is an outage (Frigate's API login would not open it); a Frigate
    login issue naming a camera no longer there is removed."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(vigil_server),
        subentries_data=[_frigate_camera(pattern_stream)],
    )
    await setup_entry(hass, entry)

    # frigate_setup.py raises these when Frigate refuses the saved login.
    def frigate_issue(issue_id: str, subentry_id: str) -> None:
        ir.async_create_issue(
            hass, DOMAIN, issue_id, is_fixable=True, severity=ir.IssueSeverity.WARNING,
            translation_key="frigate_auth_failed",
            translation_placeholders={"camera": "Front door", "url": "http://127.0.0.1:9"},
            data={"subentry_id": subentry_id},
        )  # fmt: skip

    kept = f"frigate_auth_failed_{ENTRY_ID}_{CAMERA_SLUG}"
    stale = f"frigate_auth_failed_{ENTRY_ID}_01jvigil0000000000removed"
    other = "frigate_auth_failed_01JVIGIL000000000000OTHER_x"
    frigate_issue(kept, CAMERA_ID)
    frigate_issue(stale, "01JVIGIL0000000000REMOVED")
    frigate_issue(other, "01JVIGIL0000000000REMOVED")

    # The restream refuses the server: an outage (begun long ago, so an issue at once).
    stream_state(vigil_server, SourceState.OFFLINE, reason="401", key="invalid_auth", wall_time=1.0)
    await wait_until(hass, lambda: _issue(hass, STREAM_ISSUE) is not None, "the outage issue")
    assert _issue(hass, AUTH_ISSUE) is None
    # The watcher looked: the issue naming a camera the entry does not have is gone.
    assert _issue(hass, stale) is None
    assert _issue(hass, kept) is not None
    assert _issue(hass, other) is not None  # another entry's
    stream_state(vigil_server, SourceState.ONLINE)
    await wait_until(hass, lambda: _issue(hass, STREAM_ISSUE) is None, "the outage over")
    assert _issue(hass, kept) is not None

    # The camera removed: its Frigate login issue goes with it.
    hass.config_entries.async_remove_subentry(entry, CAMERA_ID)
    await reloaded(hass, entry)
    await wait_until(hass, lambda: _issue(hass, kept) is None, "the issue removed")
