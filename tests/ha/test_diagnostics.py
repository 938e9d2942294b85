"""Diagnostics: the snapshot, with every credential, address and folder redacted."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from tests.ha.conftest import CAMERA_SLUG, FakeEngine, setup_entry
from vigil_core.events.model import EventPhase, SourceState


async def test_diagnostics(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    engines: list[FakeEngine],
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """Diagnostics show states and figures, never a password, login, host or stream URL."""
    await setup_entry(hass, config_entry)
    engine = engines[0]
    engine.source_state(
        CAMERA_SLUG, SourceState.OFFLINE, "rtsp://viewer:s3cret@192.0.2.10/x refused"
    )
    engine.source_state(CAMERA_SLUG, SourceState.ONLINE)
    engine.zone_event(EventPhase.STARTED, counts={"person": 2})
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await hass.async_block_till_done()
    engine.source_state(CAMERA_SLUG, SourceState.STALLED, "no frame from rtsp://192.0.2.10/x")
    await hass.async_block_till_done()

    result = await get_diagnostics_for_config_entry(hass, hass_client, config_entry)
    text = str(result)
    for secret in ("s3cret", "viewer", "192.0.2.10"):
        assert secret not in text
    assert result == snapshot(exclude=props("created_at", "modified_at"))
