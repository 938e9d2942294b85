"""Repair issues for a stream that stays unreachable or refuses the login."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.vigil.const import DOMAIN
from tests.ha.conftest import CAMERA_SLUG, FakeEngine, setup_entry
from vigil_core.events.model import SourceState

ISSUE_ID = f"stream_{CAMERA_SLUG}"


async def test_stream_issue_after_a_long_outage(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    engines: list[FakeEngine],
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An outage raises an issue only once it lasts; frames flowing again clear it."""
    await setup_entry(hass, config_entry)
    engine = engines[0]
    engine.source_state(CAMERA_SLUG, SourceState.ONLINE)
    with patch("custom_components.vigil.bridge.monotonic", return_value=1000.0):
        engine.source_state(CAMERA_SLUG, SourceState.OFFLINE, "refused", "cannot_connect")
        await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_ID) is None

    with patch("custom_components.vigil.bridge.monotonic", return_value=1000.0 + 301):
        freezer.tick(timedelta(seconds=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == "stream_unreachable"
    assert issue.translation_placeholders == {"camera": "Front door", "reason": "refused"}

    engine.source_state(CAMERA_SLUG, SourceState.ONLINE)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_ID) is None


async def test_refused_login_raises_an_issue_at_once(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    engines: list[FakeEngine],
    issue_registry: ir.IssueRegistry,
) -> None:
    """Wrong credentials will not fix themselves: the issue comes with the first refusal."""
    await setup_entry(hass, config_entry)
    engines[0].source_state(CAMERA_SLUG, SourceState.OFFLINE, "access refused", "invalid_auth")
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == "stream_auth_failed"
