"""Rule and camera-setting subentry flows through a real Vigil server: every kind and error.

The form checks what it reads (points, shapes, calibration needs); the server then checks the
camera with the new rule or setting (a dry run), and its field errors land on the form.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.vigil.const import CONF_ACKNOWLEDGEMENTS, CONF_CAMERA, CONF_POLYGON
from custom_components.vigil.rule_flow import rule_detectors
from custom_components.vigil.server_config import (
    CONF_KIND,
    SUBENTRY_CAMERA_SETTING,
    SUBENTRY_RULE,
)
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    CLOSED_URL,
    ZONE_ID,
    camera_subentry,
    wait_until,
    zone_subentry,
)
from tests.ha.flows import (
    fetch_picture,
    loaded,
    picture_ready,
    region_mean,
    reloaded,
    server_entry,
    suggested,
)
from vigil_core.server import VigilServer

ZONE2_ID = "01JVIGIL000000000000ZONE02"
OTHER_CAMERA = "01JVIGIL00000000000CAMERA2"
RULE_ID = "01JVIGIL0000000000000RULE1"
CALIBRATION_ID = "01JVIGIL0000000000000CALIB"
MASK_ID = "01JVIGIL00000000000000MASK"
CALIBRATION = ConfigSubentryData(
    data={
        CONF_CAMERA: CAMERA_ID,
        CONF_KIND: "calibration",
        "image_points": [[0.05, 0.38], [0.95, 0.28], [0.95, 0.85], [0.05, 0.85]],
        "distances": [20.0, 10.0, 20.0, 10.0],
    },
    subentry_id=CALIBRATION_ID,
    subentry_type=SUBENTRY_CAMERA_SETTING,
    title="Ground",
    unique_id=None,
)


async def _hub(
    hass: HomeAssistant,
    server: VigilServer,
    stream: str,
    *extra: ConfigSubentryData,
    context: str = "private_home",
) -> MockConfigEntry:
    entry = server_entry(
        server,
        camera_subentry(stream),
        zone_subentry(),
        zone_subentry(subentry_id=ZONE2_ID, title="Path"),
        *extra,
        context=context,
    )
    await loaded(hass, entry)
    await picture_ready(hass, server, CAMERA_SLUG)
    return entry


@pytest.fixture
async def hub(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> MockConfigEntry:
    """Return the loaded server entry: a camera on the test pattern with two zones."""
    return await _hub(hass, vigil_server, pattern_stream)


async def _submit(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_configure(flow_id, data)
    return result


async def _start(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    kind: str,
    subentry_type: str = SUBENTRY_RULE,
    name: str = "Gate",
) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, subentry_type), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"
    result = await _submit(hass, result["flow_id"], {CONF_NAME: name, CONF_CAMERA: CAMERA_ID})
    assert result["type"] is FlowResultType.MENU and result["step_id"] == "kind"
    result = await _submit(hass, result["flow_id"], {"next_step_id": kind})
    assert result["type"] is FlowResultType.FORM and result["step_id"] == kind
    assert "/api/vigil/preview/" in result["description_placeholders"]["picture"]
    return result


async def _save(hass: HomeAssistant, flow_id: str) -> dict[str, Any]:
    return await _submit(hass, flow_id, {"next_step_id": "save"})


KINDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "line_crossing",
        {"line": "0.5,0.3 0.5,0.7", "direction": "a_to_b", "classes": ["person"]},
        {"line": [[0.5, 0.3], [0.5, 0.7]], "direction": "a_to_b", "classes": ["person"]},
    ),
    ("loitering", {"zone": ZONE_ID, "dwell_s": 15}, {"zone": ZONE_ID, "dwell_s": 15.0}),
    (
        "crowd",
        {"polygon": "0,0.3 1,0.3 1,1 0,1", "metric": "count", "high": 4, "critical": 8},
        {"polygon": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]], "high": 4.0, "critical": 8.0},
    ),
    (
        "fast_move",
        {"speed_unit": "px_s", "speed": 150, "min_duration_s": 1},
        {"speed_unit": "px_s", "speed": 150.0},
    ),
    (
        "wrong_way",
        {"zone": ZONE_ID, "allowed_direction": "0.1,0.5 0.9,0.5", "tolerance_deg": 45},
        {"allowed_direction": [[0.1, 0.5], [0.9, 0.5]], "tolerance_deg": 45.0},
    ),
    (
        "object_left",
        {"detect": ["left", "removed"], "static_s": 10},
        {"detect": ["left", "removed"], "static_s": 10.0},
    ),
    (
        "route",
        {"zones": [ZONE_ID, ZONE2_ID], "max_step_s": 30},
        {"zones": [ZONE_ID, ZONE2_ID], "max_step_s": 30.0},
    ),
]
LINE_KINDS = ("line_crossing", "wrong_way")


async def test_add_each_rule_kind(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Every kind goes name → kind → geometry → preview → save, and the server runs it."""
    for index, (kind, answer, saved) in enumerate(KINDS):
        name = f"Rule {index}"
        result = await _start(hass, hub, kind, name=name)
        result = await _submit(hass, result["flow_id"], answer)
        # The preview speaks of a line A → B only where there is one.
        preview = "preview_line" if kind in LINE_KINDS else "preview"
        assert (result["type"], result["step_id"]) == (FlowResultType.MENU, preview), kind
        assert result["menu_options"] == ["save", "edit"]
        result = await _save(hass, result["flow_id"])
        assert result["type"] is FlowResultType.CREATE_ENTRY, kind
        await reloaded(hass, hub)
        sub = next(s for s in hub.subentries.values() if s.title == name)
        assert sub.data[CONF_KIND] == kind and sub.data[CONF_CAMERA] == CAMERA_ID
        assert saved.items() <= dict(sub.data).items(), kind
    assert vigil_server.engine is not None
    running = {rule.name: rule.type for rule in vigil_server.engine.config.cameras[0].rules}
    assert running == {f"Rule {i}": kind for i, (kind, _a, _s) in enumerate(KINDS)}


ERRORS: dict[str, list[tuple[dict[str, Any], dict[str, str]]]] = {
    "line_crossing": [
        ({"line": "0.5,0.3", "direction": "both"}, {"line": "line_invalid"}),
        ({"line": "0.5,0.3 1.5,0.7", "direction": "both"}, {"line": "line_outside_frame"}),
        ({"line": "0.5,0.5 0.5,0.5", "direction": "both"}, {"line": "line_zero_length"}),
    ],
    "loitering": [
        ({"dwell_s": 10}, {"base": "area_required"}),
        ({"zone": ZONE_ID, "polygon": "0,0 1,0 1,1", "dwell_s": 10}, {"base": "area_both"}),
        ({"polygon": "0,0 1,0", "dwell_s": 10}, {"polygon": "polygon_too_few_points"}),
        ({"polygon": "0,0 1", "dwell_s": 10}, {"polygon": "polygon_invalid"}),
        ({"polygon": "0,0 2,0 1,1", "dwell_s": 10}, {"polygon": "polygon_outside_frame"}),
        ({"polygon": "0,0 1,1 1,0 0,1", "dwell_s": 10}, {"polygon": "polygon_self_intersecting"}),
        ({"polygon": "0,0 0.5,0.5 1,1", "dwell_s": 10}, {"polygon": "polygon_no_area"}),
    ],
    "crowd": [
        (
            {"zone": ZONE_ID, "metric": "count", "high": 8, "critical": 8},
            {"critical": "critical_not_above_high"},
        ),
        (
            {"zone": ZONE_ID, "metric": "density", "high": 1, "critical": 2},
            {"metric": "needs_calibration"},
        ),
    ],
    "fast_move": [
        (
            {"speed_unit": "kmh", "speed": 12, "min_duration_s": 1},
            {"speed_unit": "needs_calibration"},
        ),
    ],
    "wrong_way": [
        (
            {"zone": ZONE_ID, "allowed_direction": "0.1,0.5 0.1,0.5", "tolerance_deg": 45},
            {"allowed_direction": "line_zero_length"},
        ),
    ],
    "object_left": [({"detect": [], "static_s": 10}, {"detect": "detect_required"})],
    "route": [({"zones": [ZONE_ID], "max_step_s": 30}, {"zones": "route_too_few_zones"})],
}


async def test_errors_then_recovery(hass: HomeAssistant, hub: MockConfigEntry) -> None:
    """Each wrong answer shows its translated error; a right answer then goes on."""
    for kind, cases in ERRORS.items():
        result = await _start(hass, hub, kind)
        for answer, errors in cases:
            result = await _submit(hass, result["flow_id"], answer)
            assert (result["type"], result["step_id"]) == (FlowResultType.FORM, kind)
            assert result["errors"] == errors, answer
        good = next(answer for k, answer, _ in KINDS if k == kind)
        result = await _submit(hass, result["flow_id"], good)
        assert result["type"] is FlowResultType.MENU, kind
        assert len(hub.subentries) == 3  # nothing saved


async def test_kmh_and_density_with_a_calibration(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A calibrated camera takes km/h and densities; the server refuses what it cannot run."""
    hub = await _hub(hass, vigil_server, pattern_stream, CALIBRATION)
    result = await _start(hass, hub, "fast_move")
    # 500 km/h passes the form but not the server (at most 400): its error is on the field.
    result = await _submit(
        hass, result["flow_id"], {"speed_unit": "kmh", "speed": 500, "min_duration_s": 1}
    )
    assert result["errors"] == {"speed": "out_of_range"}
    result = await _submit(
        hass, result["flow_id"], {"speed_unit": "kmh", "speed": 12, "min_duration_s": 1}
    )
    assert result["step_id"] == "preview"
    assert (await _save(hass, result["flow_id"]))["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, hub)
    result = await _start(hass, hub, "crowd", name="Square")
    result = await _submit(
        hass, result["flow_id"], {"zone": ZONE_ID, "metric": "density", "high": 1, "critical": 2}
    )
    assert result["step_id"] == "preview"


async def test_name_camera_errors_and_edit(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Empty or duplicate names and an offline camera are refused; edit returns to the form."""
    route = ConfigSubentryData(
        data={CONF_CAMERA: CAMERA_ID, CONF_KIND: "route", "zones": [ZONE_ID, ZONE2_ID]},
        subentry_type=SUBENTRY_RULE,
        title="Gate",
        unique_id=None,
    )
    offline = camera_subentry(CLOSED_URL, OTHER_CAMERA, "Back door")
    hub = await _hub(hass, vigil_server, pattern_stream, route, offline)
    result = await hass.config_entries.subentries.async_init(
        (hub.entry_id, SUBENTRY_RULE), context={"source": "user"}
    )
    flow_id = result["flow_id"]
    result = await _submit(hass, flow_id, {CONF_NAME: "  ", CONF_CAMERA: CAMERA_ID})
    assert result["errors"] == {CONF_NAME: "name_required"}
    result = await _submit(hass, flow_id, {CONF_NAME: "gate", CONF_CAMERA: CAMERA_ID})
    assert result["errors"] == {CONF_NAME: "rule_exists"}
    result = await _submit(hass, flow_id, {CONF_NAME: "Door", CONF_CAMERA: OTHER_CAMERA})
    assert result["errors"] == {"base": "cannot_connect"}
    result = await _submit(hass, flow_id, {CONF_NAME: "Door", CONF_CAMERA: CAMERA_ID})
    result = await _submit(hass, flow_id, {"next_step_id": "line_crossing"})
    result = await _submit(hass, flow_id, {"line": "0.1,0.1 0.9,0.9", "direction": "both"})
    assert result["step_id"] == "preview_line"
    result = await _submit(hass, flow_id, {"next_step_id": "edit"})
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "line_crossing")
    assert suggested(result)["line"] == "0.1,0.1 0.9,0.9"
    result = await _submit(hass, flow_id, {"line": "0.2,0.1 0.2,0.9", "direction": "b_to_a"})
    result = await _save(hass, flow_id)
    await reloaded(hass, hub)
    sub = next(s for s in hub.subentries.values() if s.title == "Door")
    assert sub.data["line"] == [[0.2, 0.1], [0.2, 0.9]]
    assert sub.data["direction"] == "b_to_a"


async def test_reconfigure_rule(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Reconfigure starts from the saved rule and keeps its kind and its id."""
    rule = ConfigSubentryData(
        data={
            CONF_CAMERA: CAMERA_ID,
            CONF_KIND: "line_crossing",
            "line": [[0.5, 0.3], [0.5, 0.7]],
            "direction": "both",
        },
        subentry_id=RULE_ID,
        subentry_type=SUBENTRY_RULE,
        title="Gate",
        unique_id=None,
    )
    hub = await _hub(hass, vigil_server, pattern_stream, rule)
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_RULE, RULE_ID)
    assert result["step_id"] == "reconfigure"
    result = await _submit(hass, result["flow_id"], {CONF_NAME: "Gate", CONF_CAMERA: CAMERA_ID})
    assert result["step_id"] == "line_crossing"
    assert suggested(result)["line"] == "0.5,0.3 0.5,0.7"
    result = await _submit(
        hass, result["flow_id"], {"line": "0.4,0.3 0.4,0.7", "direction": "both"}
    )
    result = await _save(hass, result["flow_id"])
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    await reloaded(hass, hub)
    assert hub.subentries[RULE_ID].data["line"] == [[0.4, 0.3], [0.4, 0.7]]
    assert vigil_server.engine is not None
    [running] = vigil_server.engine.config.cameras[0].rules
    assert (running.id, running.line) == (RULE_ID.lower(), [(0.4, 0.3), (0.4, 0.7)])


async def test_gated_kind_asks_for_a_legal_basis(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """In public space a loitering rule needs an acknowledgement, stored with the rule."""
    hub = await _hub(hass, vigil_server, pattern_stream, context="public_space")
    result = await _start(hass, hub, "loitering")
    result = await _submit(hass, result["flow_id"], {"zone": ZONE_ID, "dwell_s": 20})
    result = await _save(hass, result["flow_id"])
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "acknowledge")
    result = await _submit(
        hass,
        result["flow_id"],
        {
            "legal_basis": "public_task",
            "justification": "Repeated night-time break-ins at this entrance.",
            "acknowledged_by": "Site manager",
            "confirm": True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "loitering" in result["data"][CONF_ACKNOWLEDGEMENTS]
    await reloaded(hass, hub)


def test_the_detectors_a_rule_runs() -> None:
    """The privacy gate asks about each detector a rule runs."""
    assert rule_detectors("object_left", {"detect": ["left", "removed"]}) == [
        "object_left",
        "object_removed",
    ]
    assert rule_detectors("object_left", {}) == ["object_left"]
    assert rule_detectors("crowd", {"movement": True}) == ["crowd", "crowd_movement"]
    assert rule_detectors("line_crossing", {}) == ["line_crossing"]


async def test_the_server_gone_before_the_first_drawing(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """The form still shows, without a picture, saying the server stopped answering."""
    result = await hass.config_entries.subentries.async_init(
        (hub.entry_id, SUBENTRY_RULE), context={"source": "user"}
    )
    result = await _submit(hass, result["flow_id"], {CONF_NAME: "Gate", CONF_CAMERA: CAMERA_ID})
    await vigil_server.stop()
    await wait_until(hass, lambda: not hub.runtime_data.store.connected, "disconnected")
    result = await _submit(hass, result["flow_id"], {"next_step_id": "loitering"})
    assert (result["step_id"], result["errors"]) == ("loitering", {"base": "server_unreachable"})
    assert result["description_placeholders"]["picture"] == ""


async def test_without_cameras_or_server(hass: HomeAssistant, vigil_server: VigilServer) -> None:
    """Without a camera there is nothing to watch; without the server, nothing to check."""
    entry = await loaded(hass, server_entry(vigil_server))
    for kind in (SUBENTRY_RULE, SUBENTRY_CAMERA_SETTING):
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, kind), context={"source": "user"}
        )
        assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "no_cameras")
    await vigil_server.stop()
    await hass.config_entries.async_unload(entry.entry_id)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RULE), context={"source": "user"}
    )
    assert result["reason"] == "server_unavailable"


async def test_privacy_mask(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    vigil_server: VigilServer,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A mask is blanked on its preview as it is drawn; it is saved as a camera setting."""
    result = await _start(hass, hub, "privacy_mask", SUBENTRY_CAMERA_SETTING)
    result = await _submit(hass, result["flow_id"], {})
    assert result["errors"] == {"base": "area_required"}
    result = await _submit(hass, result["flow_id"], {"polygon": "0,0 0.5,0 0.5,1 0,1"})
    assert result["step_id"] == "preview"
    picture = await fetch_picture(hass, hass_client_no_auth, result)
    assert 120 < region_mean(picture, (0.12, 0.12, 0.18, 0.18)) < 136
    result = await _save(hass, result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, hub)
    sub = next(s for s in hub.subentries.values() if s.subentry_type == SUBENTRY_CAMERA_SETTING)
    assert sub.data == {
        CONF_CAMERA: CAMERA_ID,
        CONF_KIND: "privacy_mask",
        CONF_POLYGON: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]],
    }
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.cameras[0].privacy_masks == [
        [(0, 0), (0.5, 0), (0.5, 1), (0, 1)]
    ]


async def test_reconfigure_a_privacy_mask_on_a_fresh_frame(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A mask being moved is drawn on a newly decoded frame, the old place visible again."""
    mask = ConfigSubentryData(
        data={
            CONF_CAMERA: CAMERA_ID,
            CONF_KIND: "privacy_mask",
            CONF_POLYGON: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]],
        },
        subentry_id=MASK_ID,
        subentry_type=SUBENTRY_CAMERA_SETTING,
        title="Neighbours",
        unique_id=None,
    )
    hub = await _hub(hass, vigil_server, pattern_stream, mask)
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA_SETTING, MASK_ID)
    result = await _submit(
        hass, result["flow_id"], {CONF_NAME: "Neighbours", CONF_CAMERA: CAMERA_ID}
    )
    assert result["step_id"] == "privacy_mask"
    assert vigil_server.frames._frames, "the analysed frame has the old mask burnt in"
    result = await _submit(hass, result["flow_id"], {"polygon": "0.5,0 1,0 1,1 0.5,1"})
    picture = await fetch_picture(hass, hass_client_no_auth, result)
    assert region_mean(picture, (0.12, 0.12, 0.18, 0.18)) < 60
    assert 120 < region_mean(picture, (0.82, 0.12, 0.88, 0.18)) < 136
    result = await _save(hass, result["flow_id"])
    assert result["reason"] == "reconfigure_successful"
    await reloaded(hass, hub)


CALIBRATION_ERRORS: list[tuple[dict[str, Any], dict[str, str]]] = [
    ({"image_points": "0.1,0.1 0.9,0.1 0.9,0.9"}, {"image_points": "calibration_four_points"}),
    (
        {"image_points": "0.1,0.1 1.9,0.1 0.9,0.9 0.1,0.9", "distances": "1 1 1 1"},
        {"image_points": "polygon_outside_frame"},
    ),
    (
        {"image_points": "0.1,0.4 0.9,0.4 0.9,0.9 0.1,0.9"},
        {"base": "calibration_ground_or_distances"},
    ),
    (
        {"image_points": "0.1,0.4 0.9,0.4 0.9,0.9 0.1,0.9", "ground_points": "0,0 1,0"},
        {"ground_points": "calibration_four_points"},
    ),
    (
        {"image_points": "0.1,0.4 0.9,0.4 0.9,0.9 0.1,0.9", "distances": "10 5 10"},
        {"distances": "calibration_four_distances"},
    ),
    # The server's check: opposite sides 10 m and 30 m do not make a usable calibration.
    (
        {"image_points": "0.1,0.4 0.9,0.4 0.9,0.9 0.1,0.9", "distances": "10 5 30 5"},
        {"base": "calibration_invalid"},
    ),
]


async def test_calibration_errors_then_saved(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Every calibration error, then ground points that fit."""
    result = await _start(hass, hub, "calibration", SUBENTRY_CAMERA_SETTING)
    for answer, errors in CALIBRATION_ERRORS:
        result = await _submit(hass, result["flow_id"], answer)
        assert result["errors"] == errors, answer
    result = await _submit(
        hass,
        result["flow_id"],
        {"image_points": "0.1,0.4 0.9,0.4 0.9,0.9 0.1,0.9", "ground_points": "0,0 8,0 8,6 0,6"},
    )
    assert result["step_id"] == "preview"
    assert (await _save(hass, result["flow_id"]))["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, hub)
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.cameras[0].calibration is not None


async def test_second_calibration_refused(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A camera has one calibration: a second is refused, reconfiguring the first is not."""
    hub = await _hub(hass, vigil_server, pattern_stream, CALIBRATION)
    result = await _start(hass, hub, "calibration", SUBENTRY_CAMERA_SETTING)
    answer = {"image_points": "0.1,0.4 0.9,0.4 0.9,0.9 0.1,0.9", "distances": "10 5 10 5"}
    result = await _submit(hass, result["flow_id"], answer)
    assert result["errors"] == {"base": "calibration_exists"}
    result = await hub.start_subentry_reconfigure_flow(
        hass, SUBENTRY_CAMERA_SETTING, CALIBRATION_ID
    )
    result = await _submit(hass, result["flow_id"], {CONF_NAME: "Ground", CONF_CAMERA: CAMERA_ID})
    assert result["step_id"] == "calibration"
    assert suggested(result)["distances"] == "20 10 20 10"
    result = await _submit(hass, result["flow_id"], answer)
    result = await _save(hass, result["flow_id"])
    assert result["reason"] == "reconfigure_successful"
    await reloaded(hass, hub)
