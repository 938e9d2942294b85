"""The Vigil panel's side in Home Assistant: its sidebar entry, device links and commands.

The commands go to a real Vigil server (in this process) whose camera streams the session's
RTSP test pattern. Saving must give exactly the subentries the flows give, refuse what they
refuse (shapes, names, the server's dry run) and send a gated detector to the form.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
import json
from pathlib import Path
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

import custom_components.vigil
from custom_components.vigil.const import (
    CONF_ACKNOWLEDGEMENTS,
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_INERTIA,
    CONF_POLYGON,
    DOMAIN,
    SUBENTRY_ZONE,
)
from custom_components.vigil.editor_shapes import SERVER_ERRORS
from custom_components.vigil.server_config import (
    CONF_DIRECTION,
    CONF_DWELL,
    CONF_KIND,
    CONF_LINE,
    KIND_LINE,
    KIND_LOITERING,
    KIND_PRIVACY_MASK,
    SUBENTRY_CAMERA_SETTING,
    SUBENTRY_RULE,
)
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ENTRY_ID,
    ZONE_ID,
    ZONE_POLYGON,
    camera_subentry,
    camera_uid,
    zone_subentry,
)
from tests.ha.flows import loaded, picture_ready, reloaded, server_entry
from tests.ha.translations import load
from vigil_core.server import VigilServer

LINE_ID = "01JVIGIL0000000000000LINE1"
AREA_ID = "01JVIGIL0000000000000AREA1"
MASK_ID = "01JVIGIL0000000000000MASK1"
SQUARE = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]
BOW_TIE = [[0.1, 0.1], [0.4, 0.1], [0.1, 0.4], [0.4, 0.4]]
ACK = {
    "detector": "loitering",
    "legal_basis": "legitimate_interests",
    "justification": "Night-time break-ins at the back door of the shop.",
    "by": "Jane Doe",
    "at": "2026-12-01T10:00:00+00:00",
    "context": "public_space",
}


def _rule(subentry_id: str, title: str, data: dict[str, Any]) -> ConfigSubentryData:
    return ConfigSubentryData(
        data={CONF_CAMERA: CAMERA_ID, **data},
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_RULE,
        title=title,
        unique_id=None,
    )


LINE = _rule(LINE_ID, "Gate", {CONF_KIND: KIND_LINE, CONF_LINE: [[0.5, 0.1], [0.5, 0.9]]})
AREA = _rule(
    AREA_ID,
    "Bench",
    {CONF_KIND: KIND_LOITERING, CONF_POLYGON: SQUARE, CONF_DWELL: 30.0, CONF_CLASSES: ["person"]},
)
MASK = ConfigSubentryData(
    data={CONF_CAMERA: CAMERA_ID, CONF_KIND: KIND_PRIVACY_MASK, CONF_POLYGON: SQUARE},
    subentry_id=MASK_ID,
    subentry_type=SUBENTRY_CAMERA_SETTING,
    title="Neighbours",
    unique_id=None,
)


@pytest.fixture
async def hub(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> MockConfigEntry:
    """Return a loaded server entry: a camera with a zone, a line, an area and a mask."""
    entry = server_entry(
        vigil_server, camera_subentry(pattern_stream), zone_subentry(), LINE, AREA, MASK
    )
    return await loaded(hass, entry)


async def _command(client: Any, **message: Any) -> dict[str, Any]:
    await client.send_json_auto_id(message)
    answer: dict[str, Any] = await client.receive_json()
    return answer


async def _save(client: Any, shape: dict[str, Any]) -> dict[str, Any]:
    answer = await _command(
        client, type="vigil/editor/save", entry_id=ENTRY_ID, camera=CAMERA_ID, shape=shape
    )
    assert answer["success"], answer
    result: dict[str, Any] = answer["result"]
    return result


# --- the sidebar and the links ---------------------------------------------------------------


async def test_the_panel_is_for_administrators_and_its_files_are_served(
    hass: HomeAssistant, hub: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    panel = hass.data["frontend_panels"]["vigil"]
    assert panel.require_admin
    assert panel.sidebar_title == "Vigil"
    custom = panel.config["_panel_custom"]
    assert custom["name"] == "vigil-panel"
    assert custom["module_url"].startswith("/vigil_static/vigil-panel.js?v=")
    client = await hass_client()
    for name in ("vigil-panel.js", "editing.js", "shapes.js", "i18n/fr.json"):
        response = await client.get(f"/vigil_static/{name}")
        assert response.status == HTTPStatus.OK, name


async def test_each_camera_device_links_to_the_panel_with_it_chosen(
    hass: HomeAssistant, hub: MockConfigEntry
) -> None:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, camera_uid(hub))})
    assert device is not None
    assert device.configuration_url == f"homeassistant://vigil?camera={CAMERA_ID}"


async def test_the_zone_and_rule_forms_link_to_the_panel(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    await picture_ready(hass, vigil_server, CAMERA_SLUG)
    for subentry_type, name in ((SUBENTRY_ZONE, "Porch"), (SUBENTRY_RULE, "Door")):
        result = await hass.config_entries.subentries.async_init(
            (ENTRY_ID, subentry_type), context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_NAME: name, CONF_CAMERA: CAMERA_ID}
        )
        if subentry_type == SUBENTRY_RULE:
            result = await hass.config_entries.subentries.async_configure(
                result["flow_id"], {"next_step_id": KIND_LINE}
            )
        assert result["description_placeholders"]["editor"] == f"/vigil?camera={CAMERA_ID}"
        hass.config_entries.subentries.async_abort(result["flow_id"])


# --- reading ---------------------------------------------------------------------------------


async def test_cameras_and_their_shapes(
    hass: HomeAssistant, hub: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    client = await hass_ws_client(hass)
    answer = await _command(client, type="vigil/editor/cameras")
    assert answer["success"], answer
    (server,) = answer["result"]["servers"]
    assert server["entry_id"] == ENTRY_ID
    assert server["connected"] and server["replay"]
    (camera,) = server["cameras"]
    assert camera["id"] == CAMERA_ID
    assert camera["name"] == "Front door"
    shapes = {shape["name"]: shape for shape in camera["shapes"]}
    assert [s["type"] for s in camera["shapes"]] == ["zone", "line", "area", "mask"]
    assert shapes["Driveway"] == {
        "id": ZONE_ID,
        "name": "Driveway",
        "type": "zone",
        "kind": "zone_presence",
        "points": ZONE_POLYGON,
        "replay": True,
    }
    assert shapes["Gate"]["direction"] == "both"
    assert shapes["Bench"]["kind"] == KIND_LOITERING
    assert shapes["Neighbours"]["replay"] is False


async def test_only_administrators_use_the_commands(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    hass_read_only_access_token: str,
) -> None:
    client = await hass_ws_client(hass, hass_read_only_access_token)
    for message in (
        {"type": "vigil/editor/cameras"},
        {"type": "vigil/editor/picture", "entry_id": ENTRY_ID, "camera": CAMERA_ID},
        {
            "type": "vigil/editor/save",
            "entry_id": ENTRY_ID,
            "camera": CAMERA_ID,
            "shape": {"type": "zone", "name": "X", "points": SQUARE},
        },
    ):
        answer = await _command(client, **message)
        assert answer["error"]["code"] == "unauthorized", message
    assert len(hub.subentries) == 5


async def test_the_picture_comes_through_home_assistant(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    vigil_server: VigilServer,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """The browser gets the picture from Home Assistant; the server's token stays there."""
    await picture_ready(hass, vigil_server, CAMERA_SLUG)
    client = await hass_ws_client(hass)
    answer = await _command(
        client, type="vigil/editor/picture", entry_id=ENTRY_ID, camera=CAMERA_ID
    )
    assert answer["success"], answer
    image: str = answer["result"]["image"]
    assert image.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(image.split(",", 1)[1])[:2] == b"\xff\xd8"
    assert answer["result"]["live"] is True
    assert vigil_server.token not in str(answer)
    missing = await _command(client, type="vigil/editor/picture", entry_id=ENTRY_ID, camera="x")
    assert missing["error"]["code"] == "not_found"


async def test_a_replay_through_home_assistant(
    hass: HomeAssistant, hub: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    client = await hass_ws_client(hass)
    shape = {"type": "line", "name": "Gate", "points": [[0.3, 0.1], [0.3, 0.9]], "id": LINE_ID}
    answer = await _command(
        client, type="vigil/editor/replay", entry_id=ENTRY_ID, camera=CAMERA_ID, shape=shape
    )
    assert answer["success"], answer
    assert answer["result"]["kind"] == "rule_replay"
    assert answer["result"]["rule_kind"] == "line_crossing"
    assert {"a_to_b", "b_to_a", "span_s", "tracks", "paths"} <= set(answer["result"])
    mask = {"type": "mask", "name": "Neighbours", "points": SQUARE, "id": MASK_ID}
    answer = await _command(
        client, type="vigil/editor/replay", entry_id=ENTRY_ID, camera=CAMERA_ID, shape=mask
    )
    assert answer["error"]["code"] == "replay_unsupported"
    crossed = {"type": "zone", "name": "X", "points": BOW_TIE}
    answer = await _command(
        client, type="vigil/editor/replay", entry_id=ENTRY_ID, camera=CAMERA_ID, shape=crossed
    )
    assert answer["error"]["code"] == "polygon_self_intersecting"


# --- saving ----------------------------------------------------------------------------------


async def test_new_shapes_are_saved_as_the_flows_save_them(
    hass: HomeAssistant, hub: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    client = await hass_ws_client(hass)
    shapes = [
        {"type": "zone", "name": "Lawn", "points": SQUARE},
        {"type": "line", "name": "Path", "points": [[0.1, 0.5], [0.9, 0.5]], "direction": "a_to_b"},
        {"type": "mask", "name": "Window", "points": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]]},
        {"type": "area", "name": "Corner", "points": [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9]]},
    ]
    saved = {}
    for shape in shapes:
        result = await _save(client, shape)
        assert result["status"] == "saved", result
        saved[shape["name"]] = hub.subentries[result["id"]]
        await reloaded(hass, hub)
        client = await hass_ws_client(hass)
    assert saved["Lawn"].subentry_type == SUBENTRY_ZONE
    assert dict(saved["Lawn"].data) == {
        CONF_CAMERA: CAMERA_ID,
        CONF_POLYGON: SQUARE,
        CONF_CLASSES: ["person"],
        CONF_INERTIA: 3,
    }
    assert saved["Path"].subentry_type == SUBENTRY_RULE
    assert dict(saved["Path"].data) == {
        CONF_CAMERA: CAMERA_ID,
        CONF_KIND: KIND_LINE,
        CONF_LINE: [[0.1, 0.5], [0.9, 0.5]],
        CONF_DIRECTION: "a_to_b",
        CONF_CLASSES: ["person"],
    }
    assert saved["Window"].subentry_type == SUBENTRY_CAMERA_SETTING
    assert dict(saved["Window"].data) == {
        CONF_CAMERA: CAMERA_ID,
        CONF_KIND: KIND_PRIVACY_MASK,
        CONF_POLYGON: [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]],
    }
    assert dict(saved["Corner"].data) == {
        CONF_CAMERA: CAMERA_ID,
        CONF_KIND: KIND_LOITERING,
        CONF_POLYGON: [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9]],
        CONF_DWELL: 20.0,
        CONF_CLASSES: ["person"],
    }
    # The server runs them: the entry's configuration has the zone, the line and the mask.
    runtime = hub.runtime_data
    assert {zone.name for zone in runtime.zones.values()} == {"Driveway", "Lawn"}
    assert {rule.name for rule in runtime.rules.values()} == {"Gate", "Bench", "Path", "Corner"}


async def test_a_changed_shape_keeps_everything_but_its_geometry_and_name(
    hass: HomeAssistant, hub: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    client = await hass_ws_client(hass)
    result = await _save(
        client, {"type": "zone", "id": ZONE_ID, "name": "Front lawn", "points": SQUARE}
    )
    assert result == {"status": "saved", "id": ZONE_ID}
    zone = hub.subentries[ZONE_ID]
    assert zone.title == "Front lawn"
    assert dict(zone.data) == {
        CONF_CAMERA: CAMERA_ID,
        CONF_POLYGON: SQUARE,
        CONF_CLASSES: ["person", "car"],
        CONF_INERTIA: 3,
    }
    await reloaded(hass, hub)
    client = await hass_ws_client(hass)
    flipped = [[0.5, 0.9], [0.5, 0.1]]
    result = await _save(
        client,
        {"type": "line", "id": LINE_ID, "name": "Gate", "points": flipped, "direction": "b_to_a"},
    )
    assert result["status"] == "saved"
    assert hub.subentries[LINE_ID].data[CONF_LINE] == flipped
    assert hub.subentries[LINE_ID].data[CONF_DIRECTION] == "b_to_a"
    await reloaded(hass, hub)


async def test_saving_refuses_what_the_forms_refuse(
    hass: HomeAssistant, hub: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    client = await hass_ws_client(hass)
    tiny = [[0.5, 0.5], [0.501, 0.5]]
    outside = [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]
    cases = [
        ("zone", "Lawn", BOW_TIE, {"points": "polygon_self_intersecting"}),
        ("zone", "driveway", SQUARE, {"name": "zone_exists"}),
        ("line", "gate", [[0.1, 0.1], [0.9, 0.1]], {"name": "rule_exists"}),
        ("mask", " ", SQUARE, {"name": "name_required"}),
        ("line", "Tiny", tiny, {"points": "line_zero_length"}),
        ("zone", "Out", outside, {"points": "polygon_outside_frame"}),
    ]
    for kind, name, points, errors in cases:
        result = await _save(client, {"type": kind, "name": name, "points": points})
        assert result == {"status": "invalid", "errors": errors}, name
    # A shape of another type, or of another camera, is not changed through this one.
    answer = await _command(
        client,
        type="vigil/editor/save",
        entry_id=ENTRY_ID,
        camera=CAMERA_ID,
        shape={"type": "line", "id": ZONE_ID, "name": "Driveway", "points": SQUARE[:2]},
    )
    assert answer["error"]["code"] == "not_found"
    answer = await _command(
        client,
        type="vigil/editor/save",
        entry_id=ENTRY_ID,
        camera=CAMERA_ID,
        shape={"type": "zone", "name": "X", "points": [[0.1]]},
    )
    assert answer["error"]["code"] == "invalid_format"
    assert len(hub.subentries) == 5


async def test_the_servers_dry_run_is_asked(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    vigil_server: VigilServer,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Before saving, the server checks the camera with the new zone beside its others."""
    client = await hass_ws_client(hass)
    calls: list[dict[str, Any]] = []
    original = vigil_server.apply

    async def watch(raw: dict[str, Any], *, dry_run: bool = False) -> Any:
        calls.append({"dry_run": dry_run, "cameras": raw["cameras"]})
        return await original(raw, dry_run=dry_run)

    vigil_server.apply = watch  # type: ignore[method-assign]
    result = await _save(client, {"type": "zone", "name": "Lawn", "points": SQUARE})
    assert result["status"] == "saved"
    (checked,) = [call for call in calls if call["dry_run"]]
    (camera,) = checked["cameras"]
    assert [zone["name"] for zone in camera["zones"]] == ["Driveway", "Lawn"]
    await reloaded(hass, hub)


async def test_a_detector_the_context_gates_is_sent_to_the_form(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_ws_client: WebSocketGenerator,
) -> None:
    acknowledged = _rule(
        AREA_ID,
        "Bench",
        {
            CONF_KIND: KIND_LOITERING,
            CONF_POLYGON: SQUARE,
            CONF_DWELL: 30.0,
            CONF_ACKNOWLEDGEMENTS: {"loitering": ACK},
        },
    )
    entry = server_entry(
        vigil_server, camera_subentry(pattern_stream), acknowledged, context="public_space"
    )
    await loaded(hass, entry)
    client = await hass_ws_client(hass)
    new_area = {"type": "area", "name": "Stairs", "points": [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3]]}
    result = await _save(client, new_area)
    assert result["status"] == "acknowledge"
    assert result["detectors"] and result["context"]
    assert len(entry.subentries) == 2
    moved = [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6]]
    result = await _save(client, {"type": "area", "id": AREA_ID, "name": "Bench", "points": moved})
    assert result["status"] == "saved"
    assert entry.subentries[AREA_ID].data[CONF_ACKNOWLEDGEMENTS] == {"loitering": ACK}
    assert entry.subentries[AREA_ID].data[CONF_POLYGON] == moved
    await reloaded(hass, entry)


async def test_a_server_that_is_gone_is_said_so(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    vigil_server: VigilServer,
    hass_ws_client: WebSocketGenerator,
) -> None:
    await vigil_server.stop()
    client = await hass_ws_client(hass)
    answer = await _command(
        client,
        type="vigil/editor/save",
        entry_id=ENTRY_ID,
        camera=CAMERA_ID,
        shape={"type": "zone", "name": "Lawn", "points": SQUARE},
    )
    assert answer["error"]["code"] == "server_unreachable"
    answer = await _command(client, type="vigil/editor/cameras")
    assert answer["result"]["servers"][0]["connected"] is False


def test_the_panel_speaks_english_and_french() -> None:
    """Both languages have every string; every error the commands give has a translation."""
    frontend = Path(custom_components.vigil.__file__).parent / "frontend" / "i18n"
    panel = {lang: json.loads((frontend / f"{lang}.json").read_text()) for lang in ("en", "fr")}
    assert set(panel["en"]) == set(panel["fr"])
    assert all(panel["fr"][key].strip() for key in panel["fr"])
    codes = ("server_unreachable", "not_found", "replay_held_back", "replay_unsupported")
    for code in codes:
        assert f"error_{code}" in panel["en"], code
    line_errors = {"line_zero_length", "line_outside_frame", "line_invalid"}
    for lang in ("en", "fr"):
        sections = load(lang)["config_subentries"]
        common = {*SERVER_ERRORS, "name_required", "invalid_settings"}
        assert {*common, "zone_exists"} <= set(sections["zone"]["error"]), lang
        assert {*common, *line_errors, "rule_exists"} <= set(sections["rule"]["error"]), lang
        assert {*common, "rule_exists"} <= set(sections["camera_setting"]["error"]), lang
