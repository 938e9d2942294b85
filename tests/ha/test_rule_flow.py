"""Rule and camera-setting subentry flows: every kind, every error and its recovery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_ACKNOWLEDGEMENTS,
    CONF_CAMERA,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    DOMAIN,
)
from custom_components.vigil.rule_config import (
    CONF_KIND,
    SUBENTRY_CAMERA_SETTING,
    SUBENTRY_RULE,
)
from tests.ha.conftest import CAMERA_ID, ZONE_ID, camera_subentry, zone_subentry
from vigil_core.errors import SourceUnavailable

GRAB = "custom_components.vigil.validation.grab_frame"
ZONE2_ID = "01JVIGIL000000000000ZONE02"
CALIBRATION = ConfigSubentryData(
    data={
        CONF_CAMERA: CAMERA_ID,
        CONF_KIND: "calibration",
        "image_points": [[0.05, 0.38], [0.95, 0.28], [0.95, 0.85], [0.05, 0.85]],
        "distances": [20.0, 10.0, 20.0, 10.0],
    },
    subentry_id="01JVIGIL0000000000000CALIB",
    subentry_type=SUBENTRY_CAMERA_SETTING,
    title="Ground",
    unique_id=None,
)


@pytest.fixture(autouse=True)
def grab() -> Iterator[MagicMock]:
    """Replace the frame grabber with a grey 320×180 picture."""
    with patch(GRAB, return_value=np.full((180, 320, 3), 80, dtype=np.uint8)) as mock:
        yield mock


def _entry(context: str = "private_home", *extra: ConfigSubentryData) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        data={CONF_DOWNLOAD_MODELS: False, CONF_DEPLOYMENT_CONTEXT: context},
        subentries_data=[
            camera_subentry(),
            zone_subentry(),
            zone_subentry(subentry_id=ZONE2_ID, title="Path"),
            *extra,
        ],
    )


async def _start(
    hass: HomeAssistant, entry: MockConfigEntry, kind: str, subentry_type: str = SUBENTRY_RULE
) -> dict[str, Any]:
    entry.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, subentry_type), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Gate", CONF_CAMERA: CAMERA_ID}
    )
    assert result["type"] is FlowResultType.MENU and result["step_id"] == "kind"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": kind}
    )
    assert result["type"] is FlowResultType.FORM and result["step_id"] == kind
    assert "/api/vigil/preview/" in result["description_placeholders"]["picture"]
    return result


async def _submit(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return await hass.config_entries.subentries.async_configure(flow_id, data)


async def _save(hass: HomeAssistant, flow_id: str) -> dict[str, Any]:
    return await hass.config_entries.subentries.async_configure(flow_id, {"next_step_id": "save"})


KINDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "line_crossing",
        {"line": "0.5,0.3 0.5,0.7", "direction": "a_to_b", "classes": ["person"]},
        {"line": [[0.5, 0.3], [0.5, 0.7]], "direction": "a_to_b", "classes": ["person"]},
    ),
    (
        "loitering",
        {"zone": ZONE_ID, "dwell_s": 15},
        {"zone": ZONE_ID, "dwell_s": 15.0},
    ),
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


@pytest.mark.parametrize(("kind", "answer", "saved"), KINDS, ids=[k[0] for k in KINDS])
async def test_add_each_rule_kind(
    hass: HomeAssistant, kind: str, answer: dict[str, Any], saved: dict[str, Any]
) -> None:
    """Every kind goes name → kind → geometry → preview → save."""
    entry = _entry()
    result = await _start(hass, entry, kind)
    result = await _submit(hass, result["flow_id"], answer)
    assert result["type"] is FlowResultType.MENU and result["step_id"] == "preview"
    assert result["menu_options"] == ["save", "edit"]
    result = await _save(hass, result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    sub = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_RULE)
    assert sub.title == "Gate"
    assert sub.data[CONF_KIND] == kind and sub.data[CONF_CAMERA] == CAMERA_ID
    assert saved.items() <= dict(sub.data).items()


ERRORS: list[tuple[str, dict[str, Any], dict[str, str], dict[str, Any]]] = [
    ("line_crossing", {"line": "0.5,0.3", "direction": "both"}, {"line": "line_invalid"}, {}),
    (
        "line_crossing",
        {"line": "0.5,0.3 1.5,0.7", "direction": "both"},
        {"line": "line_outside_frame"},
        {},
    ),
    (
        "line_crossing",
        {"line": "0.5,0.5 0.5,0.5", "direction": "both"},
        {"line": "line_zero_length"},
        {},
    ),
    ("loitering", {"dwell_s": 10}, {"base": "area_required"}, {}),
    (
        "loitering",
        {"zone": ZONE_ID, "polygon": "0,0 1,0 1,1", "dwell_s": 10},
        {"base": "area_both"},
        {},
    ),
    ("loitering", {"polygon": "0,0 1,0", "dwell_s": 10}, {"polygon": "polygon_too_few_points"}, {}),
    ("loitering", {"polygon": "0,0 1", "dwell_s": 10}, {"polygon": "polygon_invalid"}, {}),
    (
        "loitering",
        {"polygon": "0,0 2,0 1,1", "dwell_s": 10},
        {"polygon": "polygon_outside_frame"},
        {},
    ),
    (
        "loitering",
        {"polygon": "0,0 1,1 1,0 0,1", "dwell_s": 10},
        {"polygon": "polygon_self_intersecting"},
        {},
    ),
    (
        "crowd",
        {"zone": ZONE_ID, "metric": "count", "high": 8, "critical": 8},
        {"critical": "critical_not_above_high"},
        {},
    ),
    (
        "crowd",
        {"zone": ZONE_ID, "metric": "density", "high": 1, "critical": 2},
        {"metric": "needs_calibration"},
        {},
    ),
    (
        "fast_move",
        {"speed_unit": "kmh", "speed": 12, "min_duration_s": 1},
        {"speed_unit": "needs_calibration"},
        {},
    ),
    (
        "wrong_way",
        {"zone": ZONE_ID, "allowed_direction": "0.1,0.5 0.1,0.5", "tolerance_deg": 45},
        {"allowed_direction": "line_zero_length"},
        {},
    ),
    ("object_left", {"detect": [], "static_s": 10}, {"detect": "detect_required"}, {}),
    ("route", {"zones": [ZONE_ID], "max_step_s": 30}, {"zones": "route_too_few_zones"}, {}),
    (
        "object_left",
        {"detect": ["left"], "static_s": 10},
        {"base": "invalid_settings"},
        {"patch_spec": True},
    ),
]


@pytest.mark.parametrize(
    ("kind", "answer", "errors", "options"),
    ERRORS,
    ids=[f"{k[0]}-{next(iter(k[2].values()))}" for k in ERRORS],
)
async def test_errors_then_recovery(
    hass: HomeAssistant,
    kind: str,
    answer: dict[str, Any],
    errors: dict[str, str],
    options: dict[str, Any],
) -> None:
    """Each wrong answer shows its translated error; a right answer then goes on."""
    entry = _entry()
    result = await _start(hass, entry, kind)
    if options.get("patch_spec"):
        with patch(
            "custom_components.vigil.rule_flow.rule_spec", side_effect=ValueError("refused")
        ):
            result = await _submit(hass, result["flow_id"], answer)
    else:
        result = await _submit(hass, result["flow_id"], answer)
    assert result["type"] is FlowResultType.FORM and result["step_id"] == kind
    assert result["errors"] == errors
    good = next(answer for k, answer, _ in KINDS if k == kind)
    result = await _submit(hass, result["flow_id"], good)
    assert result["type"] is FlowResultType.MENU and result["step_id"] == "preview"


async def test_kmh_and_density_with_a_calibration(hass: HomeAssistant) -> None:
    """With the camera calibrated, km/h and density are accepted."""
    entry = _entry("private_home", CALIBRATION)
    result = await _start(hass, entry, "fast_move")
    result = await _submit(
        hass, result["flow_id"], {"speed_unit": "kmh", "speed": 12, "min_duration_s": 1}
    )
    assert result["step_id"] == "preview"
    assert (await _save(hass, result["flow_id"]))["type"] is FlowResultType.CREATE_ENTRY


async def test_name_camera_errors_and_edit(hass: HomeAssistant, grab: MagicMock) -> None:
    """Empty or duplicate names and an offline camera are refused; edit returns to the form."""
    entry = _entry(
        "private_home",
        ConfigSubentryData(
            data={CONF_CAMERA: CAMERA_ID, CONF_KIND: "route", "zones": [ZONE_ID, ZONE2_ID]},
            subentry_type=SUBENTRY_RULE,
            title="Gate",
            unique_id=None,
        ),
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RULE), context={"source": "user"}
    )
    flow_id = result["flow_id"]
    result = await _submit(hass, flow_id, {CONF_NAME: "  ", CONF_CAMERA: CAMERA_ID})
    assert result["errors"] == {CONF_NAME: "name_required"}
    result = await _submit(hass, flow_id, {CONF_NAME: "gate", CONF_CAMERA: CAMERA_ID})
    assert result["errors"] == {CONF_NAME: "rule_exists"}
    grab.side_effect = SourceUnavailable("down")
    result = await _submit(hass, flow_id, {CONF_NAME: "Door", CONF_CAMERA: CAMERA_ID})
    assert result["errors"] == {"base": "cannot_connect"}
    grab.side_effect = None
    result = await _submit(hass, flow_id, {CONF_NAME: "Door", CONF_CAMERA: CAMERA_ID})
    result = await _submit(hass, flow_id, {"next_step_id": "line_crossing"})
    result = await _submit(hass, flow_id, {"line": "0.1,0.1 0.9,0.9", "direction": "both"})
    result = await _submit(hass, flow_id, {"next_step_id": "edit"})
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "line_crossing"
    result = await _submit(hass, flow_id, {"line": "0.2,0.1 0.2,0.9", "direction": "b_to_a"})
    result = await _save(hass, flow_id)
    sub = next(s for s in entry.subentries.values() if s.title == "Door")
    assert sub.data["line"] == [[0.2, 0.1], [0.2, 0.9]]
    assert sub.data["direction"] == "b_to_a"


async def test_reconfigure_rule(hass: HomeAssistant) -> None:
    """Reconfigure starts from the saved rule and keeps its kind."""
    entry = _entry(
        "private_home",
        ConfigSubentryData(
            data={
                CONF_CAMERA: CAMERA_ID,
                CONF_KIND: "line_crossing",
                "line": [[0.5, 0.3], [0.5, 0.7]],
                "direction": "both",
            },
            subentry_id="01JVIGIL0000000000000RULE1",
            subentry_type=SUBENTRY_RULE,
            title="Gate",
            unique_id=None,
        ),
    )
    entry.add_to_hass(hass)
    result = await entry.start_subentry_reconfigure_flow(
        hass, SUBENTRY_RULE, "01JVIGIL0000000000000RULE1"
    )
    assert result["step_id"] == "reconfigure"
    result = await _submit(hass, result["flow_id"], {CONF_NAME: "Gate", CONF_CAMERA: CAMERA_ID})
    assert result["step_id"] == "line_crossing"
    schema_values = {str(k): k.description for k in result["data_schema"].schema}
    assert schema_values["line"] == {"suggested_value": "0.5,0.3 0.5,0.7"}
    result = await _submit(
        hass, result["flow_id"], {"line": "0.4,0.3 0.4,0.7", "direction": "both"}
    )
    result = await _save(hass, result["flow_id"])
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "reconfigure_successful"
    assert entry.subentries["01JVIGIL0000000000000RULE1"].data["line"] == [[0.4, 0.3], [0.4, 0.7]]


async def test_gated_kind_asks_for_a_legal_basis(hass: HomeAssistant) -> None:
    """In public space a loitering rule needs an acknowledgement, stored with the rule."""
    entry = _entry("public_space")
    result = await _start(hass, entry, "loitering")
    result = await _submit(hass, result["flow_id"], {"zone": ZONE_ID, "dwell_s": 20})
    result = await _save(hass, result["flow_id"])
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "acknowledge"
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
    sub = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_RULE)
    assert "loitering" in sub.data[CONF_ACKNOWLEDGEMENTS]


async def test_no_cameras(hass: HomeAssistant) -> None:
    """Without a camera there is nothing to watch."""
    entry = MockConfigEntry(domain=DOMAIN, data={CONF_DEPLOYMENT_CONTEXT: "private_home"})
    entry.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RULE), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "no_cameras"


async def test_privacy_mask(hass: HomeAssistant) -> None:
    """A mask needs a polygon; it is saved as a camera setting."""
    entry = _entry()
    result = await _start(hass, entry, "privacy_mask", SUBENTRY_CAMERA_SETTING)
    result = await _submit(hass, result["flow_id"], {})
    assert result["errors"] == {"base": "area_required"}
    result = await _submit(hass, result["flow_id"], {"polygon": "0,0 0.3,0 0.3,0.2 0,0.2"})
    result = await _save(hass, result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    sub = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CAMERA_SETTING)
    assert sub.data == {
        CONF_CAMERA: CAMERA_ID,
        CONF_KIND: "privacy_mask",
        "polygon": [[0, 0], [0.3, 0], [0.3, 0.2], [0, 0.2]],
    }


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
    (
        {"image_points": "0.1,0.4 0.9,0.4 0.9,0.9 0.1,0.9", "distances": "10 5 30 5"},
        {"base": "calibration_invalid"},
    ),
]


async def test_calibration_errors_then_saved(hass: HomeAssistant) -> None:
    """Every calibration error, then ground points that fit."""
    entry = _entry()
    result = await _start(hass, entry, "calibration", SUBENTRY_CAMERA_SETTING)
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


async def test_second_calibration_refused(hass: HomeAssistant) -> None:
    """A camera has one calibration: a second is refused, reconfiguring the first is not."""
    entry = _entry("private_home", CALIBRATION)
    result = await _start(hass, entry, "calibration", SUBENTRY_CAMERA_SETTING)
    answer = {"image_points": "0.1,0.4 0.9,0.4 0.9,0.9 0.1,0.9", "distances": "10 5 10 5"}
    result = await _submit(hass, result["flow_id"], answer)
    assert result["errors"] == {"base": "calibration_exists"}
    result = await entry.start_subentry_reconfigure_flow(
        hass, SUBENTRY_CAMERA_SETTING, str(CALIBRATION.get("subentry_id"))
    )
    result = await _submit(hass, result["flow_id"], {CONF_NAME: "Ground", CONF_CAMERA: CAMERA_ID})
    assert result["step_id"] == "calibration"
    result = await _submit(hass, result["flow_id"], answer)
    result = await _save(hass, result["flow_id"])
    assert result["reason"] == "reconfigure_successful"
