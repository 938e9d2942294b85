"""End to end: a real Home Assistant and `vigil-analytics serve` on a camera covered mid-stream.

The stream (tests/support/tamper_stream.py) is the shared occlusion clip's clear view, bubble wrap
sliding over the lens and off again, the clear view, then the wrap for good; GStreamer's RTSP
server on 127.0.0.1 plays it in real time to a real Vigil server running as its own process, set
up through the flows. Every wait polls against a deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import time

from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_state_change_event
import pytest

from custom_components.vigil.const import DOMAIN
from tests.ha.conftest import ProcessFactory, camera_uid_of
from tests.ha.test_end_to_end import add_camera, add_server
from tests.integration.conftest import RtspServerFactory
from tests.support.tamper_stream import build_stream, covered_twice

pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.slow]

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


async def test_covered_lens_end_to_end(
    hass: HomeAssistant,
    serve: ProcessFactory,
    rtsp_server: RtspServerFactory,
    covered_stream: Path,
) -> None:
    """The cover starts an obstruction; it ends when the view returns, then on a re-capture."""
    stream = rtsp_server(covered_stream)
    entry = await add_server(hass, await serve())
    camera_id = await add_camera(hass, entry, "Gate", stream.url)

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
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the camera online", 60)
    assert _state(hass, STREAM_LOSS) == STATE_OFF

    # Bubble wrap slides over the lens (stream time 4-6 s): an obstruction, with its score.
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_ON, "the obstruction", 60)
    covered = hass.states.get(OBSTRUCTION)
    assert covered is not None
    assert covered.attributes["source"] == ["vigil"]
    assert covered.attributes["score"] >= covered.attributes["threshold"] == 0.5
    assert covered.attributes["since"]
    await wait_for(hass, lambda: len(fired) == 1, "the started event", 60)
    started = fired[0].attributes
    assert started["event_type"] == "obstruction_started"
    assert (started["condition"], started["source"]) == ("obstruction", "vigil")
    assert started["score"] >= started["threshold"] == 0.5

    # The wrap comes off (9-11 s): the obstruction ends once the view stays clear (end_s 3 s).
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the view back", 60)
    await wait_for(hass, lambda: len(fired) == 2, "the ended event", 60)
    ended = fired[1].attributes
    assert ended["event_type"] == "obstruction_ended"
    assert ended["score"] < 0.5
    assert "reason" not in ended
    assert hass.states.get(OBSTRUCTION).attributes["source"] == []  # type: ignore[union-attr]

    # Covered again (16-18 s), for good: only re-capturing the reference ends it.
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_ON, "the second cover", 60)
    assert turned_on == {OBSTRUCTION}
    device = dr.async_get(hass).async_get_device(
        identifiers={(DOMAIN, camera_uid_of(hass, camera_id.lower(), entry.entry_id))}
    )
    assert device is not None
    await hass.services.async_call(
        DOMAIN, "recapture_reference", target={"device_id": device.id}, blocking=True
    )
    # Ends on the next analysed frame: the view stays covered, so nothing else could end it.
    await wait_for(hass, lambda: _state(hass, OBSTRUCTION) == STATE_OFF, "the re-capture", 60)
    await wait_for(hass, lambda: len(fired) == 4, "the ended event", 60)
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
