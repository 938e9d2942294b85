"""Rule entities on a real server: typed states and events mapped, line totals persisted and reset.

The camera streams the session's live test pattern to a real in-process Vigil server, which
runs every rule kind. A test that checks how a state or an event shows publishes it on the
server's bus: it goes through the server's board, the protocol and the store exactly like a
real detection. Line totals are the server's own persisted counters.
"""

from __future__ import annotations

import json
from pathlib import Path
import time
from typing import Any

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import floor_registry as fr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.vigil.const import CONF_CAMERA, DOMAIN
from custom_components.vigil.server_config import (
    CONF_KIND,
    SUBENTRY_CAMERA_SETTING,
    SUBENTRY_RULE,
)
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ENTRY_ID,
    ZONE_ID,
    camera_subentry,
    camera_uid_of,
    rule_event,
    rule_state,
    server_data,
    setup_entry,
    wait_until,
    zone_subentry,
)
from vigil_core.events.model import EventPhase
from vigil_core.server import VigilServer
import vigil_protocol as vp

ZONE2_ID = "01JVIGIL000000000000ZONE02"
RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "01JVIGIL0000000000000LINE1": (
        "line_crossing",
        {"line": [[0.5, 0.3], [0.5, 0.7]], "direction": "both"},
    ),
    "01JVIGIL0000000000000LOIT1": ("loitering", {"zone": ZONE_ID, "dwell_s": 20.0}),
    "01JVIGIL000000000000CROWD1": (
        "crowd",
        {"zone": ZONE_ID, "metric": "density", "high": 1.0, "critical": 2.0, "movement": True},
    ),
    "01JVIGIL0000000000000FAST1": (
        "fast_move",
        {"speed_unit": "kmh", "speed": 12.0, "min_duration_s": 1.0},
    ),
    "01JVIGIL0000000000000WRONG": (
        "wrong_way",
        {"zone": ZONE_ID, "allowed_direction": [[0.1, 0.5], [0.9, 0.5]]},
    ),
    "01JVIGIL00000000000OBJECT1": ("object_left", {"detect": ["left", "removed"]}),
    "01JVIGIL0000000000000ROUTE": ("route", {"zones": [ZONE_ID, ZONE2_ID]}),
}
NAMES = {
    "line_crossing": "Gate",
    "loitering": "Porch",
    "crowd": "Square",
    "fast_move": "Runner",
    "wrong_way": "Lane",
    "object_left": "Hall",
    "route": "Arrival",
}
SLUG = {kind: subentry_id.lower() for subentry_id, (kind, _) in RULES.items()}
LINE = SLUG["line_crossing"]
A_TO_B = "sensor.front_door_gate_a_to_b"
B_TO_A = "sensor.front_door_gate_b_to_a"


def _entry(server: VigilServer, url: str, rules: dict[str, Any] | None = None) -> MockConfigEntry:
    subentries = [
        ConfigSubentryData(
            data={CONF_CAMERA: CAMERA_ID, CONF_KIND: kind, **data},
            subentry_id=subentry_id,
            subentry_type=SUBENTRY_RULE,
            title=NAMES[kind],
            unique_id=None,
        )
        for subentry_id, (kind, data) in (rules or RULES).items()
    ]
    calibration = ConfigSubentryData(
        data={
            CONF_CAMERA: CAMERA_ID,
            CONF_KIND: "calibration",
            "image_points": [[0.05, 0.38], [0.95, 0.28], [0.95, 0.85], [0.05, 0.85]],
            "distances": [20.0, 10.0, 20.0, 10.0],
        },
        subentry_type=SUBENTRY_CAMERA_SETTING,
        title="Ground",
        unique_id=None,
    )
    mask = ConfigSubentryData(
        data={
            CONF_CAMERA: CAMERA_ID,
            CONF_KIND: "privacy_mask",
            "polygon": [[0, 0], [0.2, 0], [0.2, 0.2]],
        },
        subentry_type=SUBENTRY_CAMERA_SETTING,
        title="Window",
        unique_id=None,
    )
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        unique_id=server.server_id,
        data=server_data(server),
        subentries_data=[
            camera_subentry(url),
            zone_subentry(),
            zone_subentry(subentry_id=ZONE2_ID, title="Path"),
            calibration,
            mask,
            *subentries,
        ],
    )


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def _loaded(hass: HomeAssistant, server: VigilServer, url: str) -> MockConfigEntry:
    entry = _entry(server, url)
    await setup_entry(hass, entry)
    await wait_until(hass, lambda: _state(hass, A_TO_B) == "0", "the camera online, the line at 0")
    return entry


async def test_the_server_runs_every_rule_with_the_masks_and_calibration(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Every rule kind reaches the server with the camera's mask and ground calibration."""
    await _loaded(hass, vigil_server, pattern_stream)
    assert vigil_server.engine is not None
    camera = vigil_server.engine.config.cameras[0]
    assert sorted(rule.type for rule in camera.rules) == sorted(NAMES)
    assert sorted(rule.id for rule in camera.rules) == sorted(SLUG.values())
    assert camera.privacy_masks == [[(0, 0), (0.2, 0), (0.2, 0.2)]]
    assert camera.calibration is not None


async def test_entities_map_states_and_events(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    snapshot: SnapshotAssertion,
) -> None:
    """States come from each rule's typed state, happenings from its events."""
    await _loaded(hass, vigil_server, pattern_stream)
    now = time.time()
    states: dict[str, vp.StateValue] = {
        "loitering": vp.LoiteringState(
            loitering=True, count=1, counts={"person": 1}, max_dwell_s=24.5
        ),
        "crowd": vp.CrowdState(
            count=7, density_m2=1.4, area_m2=5.0, metric="density", level="high",
            over_threshold=True,
        ),
        "object_left": vp.ObjectLeftState(active=True, left=1, removed=0),
        "fast_move": vp.FastMoveState(
            active=False, count=0, unit="km/h", threshold=12.0, last_speed=14.2,
            last_label="person",
        ),
        "line_crossing": vp.LineState(
            a_to_b=1, b_to_a=2,
            by_class={"person": vp.LineCounts(a_to_b=1, b_to_a=0),
                      "car": vp.LineCounts(a_to_b=0, b_to_a=2)},
            last_a_to_b=vp.LineCrossing(direction="a_to_b", label="person", wall_time=now - 60),
            last_b_to_a=vp.LineCrossing(direction="b_to_a", label="car", wall_time=now),
        ),
    }  # fmt: skip
    for kind, state in states.items():
        rule_state(vigil_server, state, rule_id=SLUG[kind])
    speed = {"speed_kmh": 14.2, "speed_px_s": 180.0, "unit": "km/h", "speed_is_estimate": True}
    events: list[tuple[str, str, EventPhase, dict[str, Any]]] = [
        ("line_crossing", "line_crossing", EventPhase.INSTANT,
         {"label": "person", "direction": "a_to_b", "count": 1}),
        ("loitering", "loitering", EventPhase.STARTED, {"label": "person", "dwell_s": 20.0}),
        ("crowd", "crowd_movement", EventPhase.INSTANT, {"movement": "dispersal", "people": 5}),
        ("fast_move", "fast_move", EventPhase.STARTED, {"label": "person", **speed}),
        ("wrong_way", "wrong_way", EventPhase.STARTED, {"label": "car"}),
        ("object_left", "object_left", EventPhase.STARTED, {"label": "backpack"}),
        ("route", "route", EventPhase.INSTANT, {"label": "person", "duration_s": 12.5}),
    ]  # fmt: skip
    for kind, event_kind, phase, attrs in events:
        rule_event(vigil_server, event_kind, phase, rule_id=SLUG[kind], track_id=3, **attrs)
    route = "event.front_door_arrival_route"
    await wait_until(hass, lambda: _state(hass, route) not in (None, STATE_UNKNOWN), "the events")
    found = {
        state.entity_id: (state.state, dict(state.attributes))
        for state in hass.states.async_all()
        if any(name.lower() in state.entity_id for name in NAMES.values())
    }
    for entity_id, (value, attributes) in found.items():
        if entity_id.startswith("event."):
            found[entity_id] = ("<fired>" if value != STATE_UNKNOWN else value, attributes)
        for key in ("time",):
            if isinstance(last := attributes.get("last"), dict) and key in last:
                attributes["last"] = {**last, key: "<time>"}
    assert found == snapshot
    speed = hass.states.get("sensor.front_door_runner_last_speed")
    assert speed is not None
    assert speed.state == "14.2"
    assert speed.attributes["estimate"] is True
    assert speed.attributes["unit_of_measurement"] == "km/h"
    assert _state(hass, "binary_sensor.front_door_porch_loitering") == "on"
    assert _state(hass, "sensor.front_door_square_level") == "high"
    event = hass.states.get("event.front_door_hall_object")
    assert event is not None
    assert event.attributes["event_type"] == "left"


async def test_each_direction_has_its_own_last_crossing(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """The B-to-A sensor's last crossing is the last one from B to A, not the line's last."""
    await _loaded(hass, vigil_server, pattern_stream)
    now = time.time()
    rule_state(
        vigil_server,
        vp.LineState(
            a_to_b=3,
            b_to_a=1,
            by_class={"person": vp.LineCounts(a_to_b=3, b_to_a=1)},
            last_a_to_b=vp.LineCrossing(direction="a_to_b", label="person", wall_time=now),
            last_b_to_a=vp.LineCrossing(direction="b_to_a", label="person", wall_time=now - 90),
        ),
        rule_id=LINE,
    )
    await wait_until(hass, lambda: _state(hass, B_TO_A) == "1", "the totals")
    a_to_b = hass.states.get(A_TO_B)
    b_to_a = hass.states.get(B_TO_A)
    assert a_to_b is not None and b_to_a is not None
    assert a_to_b.attributes["last"]["direction"] == "a_to_b"
    assert b_to_a.attributes["last"]["direction"] == "b_to_a"
    assert b_to_a.attributes["last"]["time"] < a_to_b.attributes["last"]["time"]
    assert (a_to_b.attributes["counts"], b_to_a.attributes["counts"]) == (
        {"person": 3},
        {"person": 1},
    )


async def test_line_totals_persist_across_reloads_and_reset(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The server keeps the totals: a reload shows them; reset_counter clears them on disk."""
    entry = await _loaded(hass, vigil_server, pattern_stream)
    engine = vigil_server.engine
    assert engine is not None

    def count() -> None:
        engine.counters.add(CAMERA_SLUG, LINE, "person", "a_to_b", 5)
        engine.counters.add(CAMERA_SLUG, LINE, "car", "b_to_a", 2)
        engine.pipeline(CAMERA_SLUG).republish_state(LINE)

    await hass.async_add_executor_job(count)
    await wait_until(hass, lambda: _state(hass, A_TO_B) == "5", "the totals")
    assert await hass.config_entries.async_reload(entry.entry_id)
    await wait_until(hass, lambda: _state(hass, A_TO_B) == "5", "the totals after a reload")
    a_to_b = hass.states.get(A_TO_B)
    assert a_to_b is not None
    assert a_to_b.attributes["counts"] == {"person": 5, "car": 0}
    assert _state(hass, B_TO_A) == "2"

    await hass.services.async_call(DOMAIN, "reset_counter", {"entity_id": A_TO_B}, blocking=True)
    await wait_until(hass, lambda: _state(hass, A_TO_B) == "0", "the reset")
    assert _state(hass, B_TO_A) == "0"
    saved = json.loads(
        await hass.async_add_executor_job(
            (Path(vigil_server.data.state_dir) / "counters.json").read_text
        )
    )
    assert saved["counters"] == {}

    # A camera's device targets its line counters; its other sensors are left alone.
    await hass.async_add_executor_job(count)
    await wait_until(hass, lambda: _state(hass, A_TO_B) == "5", "counted again")
    device = device_registry.async_get_device(identifiers={(DOMAIN, camera_uid_of(hass))})
    assert device is not None
    await hass.services.async_call(
        DOMAIN, "reset_counter", target={"device_id": device.id}, blocking=True
    )
    await wait_until(hass, lambda: _state(hass, A_TO_B) == "0", "the reset by device")

    # So do an area and a floor the camera is in (Home Assistant resolves them).
    ground = fr.async_get(hass).async_create("Ground floor")
    porch = ar.async_get(hass).async_create("Porch", floor_id=ground.floor_id)
    device_registry.async_update_device(device.id, area_id=porch.id)
    for target in ({"area_id": porch.id}, {"floor_id": ground.floor_id}):
        await hass.async_add_executor_job(count)
        await wait_until(hass, lambda: _state(hass, A_TO_B) == "5", "counted again")
        await hass.services.async_call(DOMAIN, "reset_counter", target=target, blocking=True)
        await wait_until(hass, lambda: _state(hass, A_TO_B) == "0", f"the reset by {target}")

    # Naming a sensor that counts nothing is refused.
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "reset_counter",
            {"entity_id": "sensor.front_door_square_people"},
            blocking=True,
        )
    assert err.value.translation_key == "not_a_counter"


async def test_line_direction_decides_the_sensors(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    entity_registry: er.EntityRegistry,
) -> None:
    """A one-way line has one counter; a pixel-speed rule reports px/s; no movement, no event."""
    rules = {
        "01JVIGIL0000000000000LINE1": (
            "line_crossing",
            {"line": [[0.5, 0.3], [0.5, 0.7]], "direction": "b_to_a"},
        ),
        "01JVIGIL0000000000000FAST1": ("fast_move", {"speed_unit": "px_s", "speed": 90.0}),
        "01JVIGIL000000000000CROWD1": (
            "crowd",
            {"zone": ZONE_ID, "metric": "count", "high": 5, "critical": 10},
        ),
    }
    await setup_entry(hass, _entry(vigil_server, pattern_stream, rules))
    unique_ids = {e.unique_id for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)}
    prefix = f"{camera_uid_of(hass)}_"
    assert f"{prefix}{LINE}_b_to_a" in unique_ids
    assert f"{prefix}{LINE}_a_to_b" not in unique_ids
    crowd = SLUG["crowd"]
    assert f"{prefix}{crowd}_crowd_density" in unique_ids  # the camera is calibrated
    assert f"{prefix}{crowd}_movement" not in unique_ids
    speed = entity_registry.async_get("sensor.front_door_runner_last_speed")
    assert speed is not None
    assert speed.unit_of_measurement == "px/s"
