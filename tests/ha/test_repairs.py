"""Repair issues from the server's states: lasting outages, refused logins, the model."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import time
from types import SimpleNamespace
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.vigil.const import DOMAIN
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
    assert issue.data == {"entry_id": ENTRY_ID, "subentry_id": CAMERA_ID}
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
