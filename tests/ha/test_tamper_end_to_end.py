"""End to end: a real Home Assistant on a real RTSP camera whose lens gets covered mid-stream.

The stream (tests/support/tamper_stream.py) is the shared occlusion clip's clear view, bubble wrap
sliding over the lens and off again, the clear view, then the wrap for good; GStreamer's RTSP
server on 127.0.0.1 plays it in real time to the real engine, set up through the config flows.
Every wait polls against a deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import time

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME, CONF_URL, STATE_OFF, STATE_ON
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_state_change_event
import pytest

from custom_components.vigil.const import (
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    CONF_MODELS_DIR,
    DOMAIN,
    SUBENTRY_CAMERA,
)
from tests.integration.conftest import (  # noqa: F401 - fixtures used by name
    RtspServerFactory,
    rtsp_media_dir,
    rtsp_server,
)
from tests.support.rtsp import RtspServer
from tests.support.tamper_stream import build_stream, covered_twice

OBSTRUCTION = "binary_sensor.gate_obstruction"
DEFOCUS = "binary_sensor.gate_defocus"
ORIENTATION = "binary_sensor.gate_orientation_change"
STREAM_LOSS = "binary_sensor.gate_stream_loss"
TAMPER = "event.gate_tamper"
CONDITIONS = (OBSTRUCTION, DEFOCUS, ORIENTATION, STREAM_LOSS)


@pytest.fixture(scope="module")
def covered_stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Encode the covered-twice stream once (about 3 s)."""
    return build_stream(tmp_path_factory.mktemp("tamper-stream"), covered_twice())


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state else None


async def wait_for(
    hass: HomeAssistant, condition: Callable[[], bool], what: str, timeout_s: float
) -> float:
    """Poll `condition` on the loop until it holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            states = {entity_id: _state(hass, entity_id) for entity_id in CONDITIONS}
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}; states {states}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def _set_up_camera(hass: HomeAssistant, models_dir: Path, server: RtspServer) -> str:
    """Add the hub and the camera through their flows; return the camera's subentry id."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODELS_DIR: str(models_dir), CONF_DOWNLOAD_MODELS: False}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "private_premises"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED

    camera = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    camera = await hass.config_entries.subentries.async_configure(
        camera["flow_id"], {"next_step_id": "stream"}
    )
    camera = await hass.config_entries.subentries.async_configure(
        camera["flow_id"], {CONF_NAME: "Gate", CONF_URL: server.url}
    )
    assert camera["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return next(iter(entry.subentries))


async def test_covered_lens_end_to_end(
    hass: HomeAssistant,
    rtsp_server: RtspServerFactory,  # noqa: F811 - the imported fixture
    covered_stream: Path,
    models_dir: Path,
) -> None:
    """The cover starts an obstruction; it ends when the view returns, then on a re-capture."""
    server = rtsp_server(covered_stream)
    await _set_up_camera(hass, models_dir, server)
    entry = hass.config_entries.async_entries(DOMAIN)[0]

    fired: list[State] = []
    turned_on: set[str] = set()

    def on_event(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.attributes.get("event_type"):
            fired.append(new)

    def on_condition(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.state == STATE_ON:
            turned_on.add(new.entity_id)

    unsubscribe = [
        async_track_state_change_event(hass, TAMPER, on_event),
        async_track_state_change_event(hass, list(CONDITIONS), on_condition),
    ]
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the camera online", 30)
    assert _state(hass, STREAM_LOSS) == STATE_OFF

    # Bubble wrap slides over the lens (stream time 4-6 s): an obstruction, with its score.
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_ON, "the obstruction", 30)
    covered = hass.states.get(OBSTRUCTION)
    assert covered is not None
    assert covered.attributes["source"] == ["vigil"]
    assert covered.attributes["score"] >= covered.attributes["threshold"] == 0.5
    assert covered.attributes["since"]
    await wait_for(hass, lambda: len(fired) == 1, "the started event", 5)
    started = fired[0].attributes
    assert started["event_type"] == "obstruction_started"
    assert (started["condition"], started["source"]) == ("obstruction", "vigil")
    assert started["score"] >= started["threshold"] == 0.5

    # The wrap comes off (9-11 s): the obstruction ends once the view stays clear (end_s 3 s).
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the view back", 30)
    await wait_for(hass, lambda: len(fired) == 2, "the ended event", 5)
    ended = fired[1].attributes
    assert ended["event_type"] == "obstruction_ended"
    assert ended["score"] < 0.5
    assert "reason" not in ended
    assert hass.states.get(OBSTRUCTION).attributes["source"] == []  # type: ignore[union-attr]

    # Covered again (16-18 s), for good: only re-capturing the reference ends it.
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_ON, "the second cover", 30)
    assert turned_on == {OBSTRUCTION}
    device = dr.async_get(hass).async_get_device(
        identifiers={(DOMAIN, f"{entry.entry_id}_{next(iter(entry.subentries)).lower()}")}
    )
    assert device is not None
    await hass.services.async_call(
        DOMAIN, "recapture_reference", target={"device_id": device.id}, blocking=True
    )
    # Ends on the next analysed frame: the view stays covered, so nothing else could end it.
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the re-capture", 10)
    await wait_for(hass, lambda: len(fired) == 4, "the ended event", 5)
    assert [state.attributes["event_type"] for state in fired] == [
        "obstruction_started",
        "obstruction_ended",
        "obstruction_started",
        "obstruction_ended",
    ]
    assert fired[3].attributes["reason"] == "reference_recaptured"

    for cancel in unsubscribe:
        cancel()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
