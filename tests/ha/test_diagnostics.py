"""Diagnostics: the entry, the server's own diagnostics and the states, every secret redacted."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_URL,
    CONF_USERNAME,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.vigil.const import CONF_SOURCE_TYPE, DOMAIN, SOURCE_STREAM, SUBENTRY_CAMERA
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ENTRY_ID,
    QUIET_HEALTH,
    ServerFactory,
    camera_settings,
    camera_subentry,
    rule_state,
    server_data,
    setup_entry,
    stream_state,
    wait_until,
    zone_subentry,
)
from tests.ha.test_watchlist import PLATE, PLATE_TEXT, _match
from tests.ha.test_watchlist import _entry as plate_entry
from tests.integration.conftest import RtspServerFactory
from vigil_core.events.model import SourceState
from vigil_core.server import VigilServer
import vigil_protocol as vp

USER, PASSWORD = "viewer", "s3cret-Pass"
PROBLEM = "binary_sensor.front_door_stream_problem"
FPS = "sensor.front_door_analysed_frame_rate"
VOLATILE = (
    "created_at",
    "modified_at",
    "analysed_fps",
    "inference_ms",
    "frames_analysed",
    "frames_inferred",
    "events",
    "cpu_percent",
    "cpu_count",
    "analysed_share",
    "inference_p50_ms",
    "inference_p95_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "state",
    "server_version",
)
"""What a running server measures or times; the rest of the diagnostics stays the same."""


def _camera(url: str) -> ConfigSubentryData:
    """Return a stream camera with a login (the test pattern ignores it)."""
    return ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_STREAM,
            CONF_URL: url,
            CONF_USERNAME: USER,
            CONF_PASSWORD: PASSWORD,
        },
        subentry_id=CAMERA_ID,
        subentry_type=SUBENTRY_CAMERA,
        title="Front door",
        unique_id=url,
    )


def _entry(server: VigilServer, url: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        unique_id=server.server_id,
        data=server_data(server),
        subentries_data=[_camera(url), zone_subentry()],
    )


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def _loaded(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    with camera_settings(**QUIET_HEALTH):
        await setup_entry(hass, entry)
    await wait_until(hass, lambda: _state(hass, FPS) not in (None, STATE_UNAVAILABLE), "online")


@pytest.fixture
async def still_server(start_server: ServerFactory) -> AsyncIterator[VigilServer]:
    """Return a server that does not refresh its figures (the snapshot stays still)."""
    with patch("vigil_core.server.app.REFRESH_S", 3600.0):
        yield await start_server()


async def test_diagnostics(
    hass: HomeAssistant,
    still_server: VigilServer,
    pattern_stream: str,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """Diagnostics show states and figures, never a password, login, token, host or URL."""
    entry = _entry(still_server, pattern_stream)
    await _loaded(hass, entry)
    rule_state(still_server, vp.ZoneState(counts={"person": 2}))
    stream_state(
        still_server,
        SourceState.OFFLINE,
        reason=f"rtsp://{USER}:{PASSWORD}@127.0.0.1:8554/x refused",
        wall_time=1_750_000_000.0,
    )
    stream_state(still_server, SourceState.ONLINE)
    stream_state(
        still_server,
        SourceState.STALLED,
        reason="no frame from 127.0.0.1 for 3 s",
        wall_time=1_750_000_100.0,
    )
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_ON, "the stall")

    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(result)
    for secret in (PASSWORD, USER, still_server.token, "127.0.0.1", pattern_stream):
        assert secret not in text
    camera = result["states"]["cameras"][CAMERA_SLUG]["camera"]
    assert (camera["stream"], camera["failing"]) == ("stalled", True)
    assert camera["reason"] == "no frame from **REDACTED** for 3 s"
    assert result["states"]["cameras"][CAMERA_SLUG]["rules"] == {
        "01jvigil000000000000zone01": {"kind": "zone", "counts": {"person": 2}}
    }
    assert result == snapshot(exclude=props(*VOLATILE))


async def test_a_recovered_camera_shows_no_stale_reason(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    rtsp_server: RtspServerFactory,
    hass_client: ClientSessionGenerator,
) -> None:
    """After a real outage the stream is online again, and no reason of the outage is left."""
    stream = rtsp_server(size=(320, 180), fps=5)
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(vigil_server),
        subentries_data=[camera_subentry(stream.url)],
    )
    await _loaded(hass, entry)
    await hass.async_add_executor_job(stream.stop)
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_ON, "the outage", 120)
    failing = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert failing["states"]["cameras"][CAMERA_SLUG]["camera"]["reason"]
    await hass.async_add_executor_job(stream.start)
    await wait_until(hass, lambda: _state(hass, PROBLEM) == STATE_OFF, "the recovery", 120)
    await wait_until(
        hass,
        lambda: (
            vigil_server.engine is not None
            and vigil_server.engine.status(CAMERA_SLUG).state is SourceState.ONLINE
        ),
        "the pipeline online",
    )

    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    camera = result["states"]["cameras"][CAMERA_SLUG]["camera"]
    assert (camera["stream"], camera["failing"], camera["reason"]) == ("online", False, "")
    server_camera = result["server"]["cameras"][CAMERA_SLUG]
    assert (server_camera["state"], server_camera["error"]) == ("online", None)


async def test_diagnostics_hold_no_plate(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_client: ClientSessionGenerator,
) -> None:
    """Watchlist entries and plate figures appear without any plate, even in full mode."""
    entry = plate_entry(vigil_server, pattern_stream, "full", acknowledged=True)
    with camera_settings(**QUIET_HEALTH):
        await setup_entry(hass, entry)
    _match(vigil_server)
    store = entry.runtime_data.store
    await wait_until(
        hass,
        lambda: getattr(store.state(CAMERA_SLUG, None, "plates"), "last_match", None) is not None,
        "the match",
    )
    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(result)
    assert PLATE not in text
    assert PLATE_TEXT not in text
    assert result["server"]["anpr"]["watchlist_entries"] == 1
    assert result["server"]["anpr"]["modes"] == {
        CAMERA_SLUG: "full",
        "01jvigil00000000000camera2": "watchlist",
    }
    watchlist = [
        s for s in result["entry"]["subentries"] if s["subentry_type"] == "watchlist_entry"
    ]
    assert watchlist[0]["title"] == "**REDACTED**"
    match = result["states"]["cameras"][CAMERA_SLUG]["plate_reading"]["last_match"]
    assert match["plate"] == "**REDACTED**"
    assert match["label"] == "Stolen van"
