"""Zone subentry flow through a real Vigil server: the picture, the preview, checks, save.

The camera streams the session's RTSP test pattern (a white ball on black); its picture comes
from the server (the latest analysed frame, or a frame a probe kept) and every drawing is the
server's, with the camera's privacy masks blanked (grey).
"""

from __future__ import annotations

from http import HTTPStatus
from types import MappingProxyType
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER, ConfigSubentry, ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.vigil.const import (
    CONF_ACKNOWLEDGEMENTS,
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_FRIGATE_CAMERA,
    CONF_INERTIA,
    CONF_MIN_DWELL,
    CONF_POLYGON,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    SOURCE_FRIGATE,
    SUBENTRY_ZONE,
)
from custom_components.vigil.preview import PreviewStore
from custom_components.vigil.server_config import (
    CONF_KIND,
    KIND_PRIVACY_MASK,
    SUBENTRY_CAMERA_SETTING,
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
    picture_path,
    picture_ready,
    region_mean,
    reloaded,
    server_entry,
    suggested,
)
from vigil_core.server import VigilServer

SQUARE = "0.2,0.2 0.8,0.2 0.8,0.8 0.2,0.8"
LEFT_HALF = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
MASK = ConfigSubentryData(
    data={CONF_CAMERA: CAMERA_ID, CONF_KIND: KIND_PRIVACY_MASK, CONF_POLYGON: LEFT_HALF},
    subentry_id="01JVIGIL00000000000000MASK",
    subentry_type=SUBENTRY_CAMERA_SETTING,
    title="Neighbours",
    unique_id=None,
)
OTHER_CAMERA = "01JVIGIL00000000000CAMERA2"


@pytest.fixture
async def hub(
    hass: HomeAssistant, config_entry: MockConfigEntry, vigil_server: VigilServer
) -> MockConfigEntry:
    """Return the loaded server entry, its camera analysed (the server has its picture)."""
    await loaded(hass, config_entry)
    await picture_ready(hass, vigil_server, CAMERA_SLUG)
    return config_entry


def _camera_step(name: str = "Lawn", camera: str = CAMERA_ID) -> dict[str, Any]:
    return {CONF_NAME: name, CONF_CAMERA: camera}


def _zone_step(polygon: str = SQUARE, **extra: Any) -> dict[str, Any]:
    return {CONF_POLYGON: polygon, CONF_CLASSES: ["person"], CONF_INERTIA: 2, **extra}


async def _start(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ZONE), context={"source": SOURCE_USER}
    )
    return result


async def _submit(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_configure(flow_id, data)
    return result


async def _to_zone_step(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await _start(hass, entry)
    result = await _submit(hass, result["flow_id"], _camera_step())
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zone"
    return result


async def test_add_zone_with_picture_and_preview(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    vigil_server: VigilServer,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The zone is typed over the camera's picture, previewed, saved, and run by the server."""
    result = await _start(hass, hub)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await _submit(hass, result["flow_id"], _camera_step())
    assert result["step_id"] == "zone"
    assert result["description_placeholders"]["zone"] == "Lawn"
    # The running camera's latest frame is drawn on: no stream was opened for it.
    assert not vigil_server.frames._frames
    grid = picture_path(result)
    picture = await fetch_picture(hass, hass_client_no_auth, result)
    assert picture.size == (320, 180)

    result = await _submit(hass, result["flow_id"], _zone_step())
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "preview"
    assert result["menu_options"] == ["save", "zone"]
    client = await hass_client_no_auth()
    assert (await client.get(grid)).status == HTTPStatus.NOT_FOUND
    preview = picture_path(result)
    assert (await client.get(preview)).status == HTTPStatus.OK
    # The address is signed by Home Assistant: without its signature, or with another's, no.
    unsigned, _, signature = preview.partition("?")
    assert signature.startswith("authSig=")
    assert (await client.get(unsigned)).status == HTTPStatus.UNAUTHORIZED
    assert (await client.get(f"{unsigned}?authSig=forged")).status == HTTPStatus.UNAUTHORIZED

    result = await _submit(hass, result["flow_id"], {"next_step_id": "save"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Lawn"
    assert result["data"] == {
        CONF_CAMERA: CAMERA_ID,
        CONF_POLYGON: [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]],
        CONF_CLASSES: ["person"],
        CONF_INERTIA: 2,
    }
    # The picture is gone with the flow; the server runs the new zone.
    assert (await client.get(preview)).status == HTTPStatus.NOT_FOUND
    await reloaded(hass, hub)
    assert vigil_server.engine is not None
    zones = vigil_server.engine.config.cameras[0].zones
    assert sorted(zone.name for zone in zones) == ["Driveway", "Lawn"]


async def test_a_fresh_picture_has_the_masks_blanked(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A camera the server does not analyse is probed; its masks are blanked all the same."""
    hub = await loaded(hass, server_entry(vigil_server, camera_subentry(pattern_stream), MASK))
    # The camera stops being analysed (another client changed the server's configuration).
    await vigil_server.apply({"cameras": []})
    result = await _to_zone_step(hass, hub)
    assert vigil_server.frames._frames, "a frame was decoded for the form"
    picture = await fetch_picture(hass, hass_client_no_auth, result)
    # The mask covers the left half: flat grey (128), away from the grid lines; the right half
    # is the pattern's black background.
    assert 120 < region_mean(picture, (0.12, 0.12, 0.18, 0.18)) < 136
    assert region_mean(picture, (0.62, 0.02, 0.68, 0.08)) < 60


async def test_the_picture_is_taken_again_when_it_is_gone(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """The camera stopped meanwhile: the next drawing decodes a new frame of its stream."""
    result = await _to_zone_step(hass, hub)
    assert not vigil_server.frames._frames
    await vigil_server.apply({"cameras": []})
    result = await _submit(hass, result["flow_id"], _zone_step())
    assert result["step_id"] == "preview"
    assert vigil_server.frames._frames


async def test_the_picture_cannot_be_taken_again(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """The camera stopped and its stream is gone: the form says so."""
    result = await _to_zone_step(hass, hub)
    camera = hub.subentries[CAMERA_ID]
    hass.config_entries.async_update_subentry(hub, camera, data={**camera.data, "url": CLOSED_URL})
    await reloaded(hass, hub)
    await vigil_server.apply({"cameras": []})
    result = await _submit(hass, result["flow_id"], _zone_step())
    assert result["step_id"] == "zone"
    assert result["errors"] == {"base": "cannot_connect"}
    assert result["description_placeholders"]["picture"].startswith("![Lawn](/api/vigil/preview/")


async def test_edit_after_preview(hass: HomeAssistant, hub: MockConfigEntry) -> None:
    """Editing goes back to the zone form with what was typed, then previews again."""
    result = await _to_zone_step(hass, hub)
    result = await _submit(hass, result["flow_id"], _zone_step())
    result = await _submit(hass, result["flow_id"], {"next_step_id": "zone"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zone"
    assert suggested(result)[CONF_POLYGON] == SQUARE

    result = await _submit(hass, result["flow_id"], _zone_step("0.1,0.1 0.5,0.1 0.5,0.5"))
    assert result["step_id"] == "preview"
    result = await _submit(hass, result["flow_id"], {"next_step_id": "save"})
    assert result["data"][CONF_POLYGON] == [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]
    await reloaded(hass, hub)


async def test_polygon_errors_then_recovers(hass: HomeAssistant, hub: MockConfigEntry) -> None:
    """Each bad polygon is an error on the polygon field; a good one goes on to the preview."""
    result = await _to_zone_step(hass, hub)
    cases = [
        ("", "polygon_invalid"),
        ("0.1,0.2 0.3", "polygon_invalid"),
        ("0.1,0.1 0.9,0.9", "polygon_too_few_points"),
        ("0.1,0.1 1.2,0.1 0.5,0.9", "polygon_outside_frame"),
        ("-0.1,0.1 0.9,0.1 0.5,0.9", "polygon_outside_frame"),
        ("0,0 1,1 1,0 0,1", "polygon_self_intersecting"),
        ("0,0 0.5,0.5 1,1", "polygon_no_area"),
    ]
    for polygon, error in cases:
        result = await _submit(hass, result["flow_id"], _zone_step(polygon))
        assert result["type"] is FlowResultType.FORM, polygon
        assert result["errors"] == {CONF_POLYGON: error}, polygon
    result = await _submit(hass, result["flow_id"], _zone_step())
    assert result["step_id"] == "preview"


async def test_duplicate_name_and_offline_camera(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A name used on the camera, or a camera that cannot show a picture, is refused.

    The offline camera is a Frigate camera: its restream is probed without Frigate's login.
    """
    offline = ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_FRIGATE, "url": "http://127.0.0.1:9", "username": "admin",
            "password": "frigate-pass", CONF_FRIGATE_CAMERA: "back", CONF_STREAM_URL: CLOSED_URL,
        },
        subentry_id=OTHER_CAMERA,
        subentry_type="camera",
        title="Back door",
        unique_id="frigate+http://127.0.0.1:9/back",
    )  # fmt: skip
    hub = await loaded(
        hass,
        server_entry(vigil_server, camera_subentry(pattern_stream), offline, zone_subentry()),
    )
    result = await _start(hass, hub)
    result = await _submit(hass, result["flow_id"], _camera_step(name="driveway"))
    assert result["errors"] == {CONF_NAME: "zone_exists"}
    result = await _submit(hass, result["flow_id"], _camera_step(camera=OTHER_CAMERA))
    assert result["errors"] == {"base": "cannot_connect"}
    # The camera removed while the form was open is an unknown error, not a crash.
    hass.config_entries.async_remove_subentry(hub, OTHER_CAMERA)
    await reloaded(hass, hub)
    result = await _submit(hass, result["flow_id"], _camera_step(camera=OTHER_CAMERA))
    assert result["errors"] == {"base": "unknown"}
    result = await _submit(hass, result["flow_id"], _camera_step())
    assert result["step_id"] == "zone"


async def test_reconfigure_zone(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """A zone keeps its id when renamed and reshaped; its own name is not a duplicate."""
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_ZONE, ZONE_ID)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await _submit(hass, result["flow_id"], _camera_step(name="Driveway"))
    assert result["step_id"] == "zone"
    # The saved zone is prefilled and drawn on the picture.
    assert suggested(result)[CONF_POLYGON] == "0.1,0.5 0.9,0.5 0.9,1 0.1,1"
    assert suggested(result)[CONF_CLASSES] == ["person", "car"]

    # Every class this time: no class chosen.
    result = await _submit(
        hass, result["flow_id"], {CONF_POLYGON: "0,0 1,0 1,1 0,1", CONF_INERTIA: 4}
    )
    assert result["menu_options"] == ["save", "zone"]
    result = await _submit(hass, result["flow_id"], {"next_step_id": "save"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await reloaded(hass, hub)
    zone = hub.subentries[ZONE_ID]
    assert zone.title == "Driveway"
    assert zone.data[CONF_POLYGON] == [[0, 0], [1, 0], [1, 1], [0, 1]]
    assert (zone.data[CONF_CLASSES], zone.data[CONF_INERTIA]) == ([], 4)
    assert vigil_server.engine is not None
    [running] = vigil_server.engine.config.cameras[0].zones
    assert (running.id, running.classes) == (ZONE_ID.lower(), [])


async def test_a_dwell_time_in_public_space_asks_for_a_legal_basis(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A zone with a dwell time is a loitering alert: public space wants its legal basis."""
    hub = await loaded(
        hass, server_entry(vigil_server, camera_subentry(pattern_stream), context="public_space")
    )
    result = await _to_zone_step(hass, hub)
    result = await _submit(hass, result["flow_id"], _zone_step(**{CONF_MIN_DWELL: 30}))
    result = await _submit(hass, result["flow_id"], {"next_step_id": "save"})
    assert result["step_id"] == "acknowledge"
    statement = {
        "legal_basis": "public_task",
        "justification": "Repeated night-time break-ins at this entrance.",
        "acknowledged_by": "Site manager",
        "confirm": True,
    }
    for wrong, error in (
        ({"acknowledged_by": " "}, "name_required"),
        ({"confirm": False}, "confirm_required"),
    ):
        result = await _submit(hass, result["flow_id"], statement | wrong)
        assert result["errors"] == {next(iter(wrong)): error}
    result = await _submit(hass, result["flow_id"], statement)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_MIN_DWELL] == 30
    assert "loitering" in result["data"][CONF_ACKNOWLEDGEMENTS]
    await reloaded(hass, hub)


async def test_without_a_declared_context_nothing_is_asked(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """An entry whose context was never declared saves a dwell zone without the gate."""
    hub = await loaded(
        hass, server_entry(vigil_server, camera_subentry(pattern_stream), context="")
    )
    result = await _to_zone_step(hass, hub)
    result = await _submit(hass, result["flow_id"], _zone_step(**{CONF_MIN_DWELL: 30}))
    result = await _submit(hass, result["flow_id"], {"next_step_id": "save"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, hub)


async def test_without_cameras_or_server(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Without cameras there is nothing to draw on; without the server, no picture."""
    empty = await loaded(hass, server_entry(vigil_server))
    result = await _start(hass, empty)
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "no_cameras")

    camera = ConfigSubentry(
        data=MappingProxyType(dict(camera_subentry(pattern_stream)["data"])),
        subentry_type="camera",
        title="Front door",
        unique_id=pattern_stream,
    )
    hass.config_entries.async_add_subentry(empty, camera)
    await reloaded(hass, empty)
    result = await _start(hass, empty)
    flow_id = result["flow_id"]
    result = await _submit(hass, flow_id, _camera_step(camera=camera.subentry_id))
    assert result["step_id"] == "zone"
    await vigil_server.stop()
    await wait_until(hass, lambda: not empty.runtime_data.store.connected, "disconnected")
    result = await _submit(hass, flow_id, _zone_step())
    assert result["errors"] == {"base": "server_unreachable"}
    result = await _start(hass, empty)
    assert result["reason"] == "server_unavailable"


def test_preview_pictures_expire() -> None:
    """A preview picture is served for a few minutes at most."""
    store = PreviewStore()
    with patch("custom_components.vigil.preview.time.monotonic", return_value=100.0):
        token = store.add(b"jpeg")
        assert store.get(token) == b"jpeg"
    with patch("custom_components.vigil.preview.time.monotonic", return_value=100.0 + 601):
        assert store.get(token) is None
    assert not store.images
