"""Zone subentry flow: validation, the preview picture, save, edit and reconfigure."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
import re
from typing import Any
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.vigil.const import (
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_DOWNLOAD_MODELS,
    CONF_INERTIA,
    CONF_POLYGON,
    DOMAIN,
    SUBENTRY_ZONE,
)
from custom_components.vigil.preview import PreviewStore
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ZONE_ID,
    FakeEngine,
    camera_subentry,
    fake_frame,
    setup_entry,
)
from vigil_core.errors import SourceUnavailable

GRAB = "custom_components.vigil.validation.grab_frame"
SQUARE = "0.2,0.2 0.8,0.2 0.8,0.8 0.2,0.8"


@pytest.fixture
def grab() -> Iterator[MagicMock]:
    """Replace the frame grabber with a grey 320×180 picture."""
    with patch(GRAB, return_value=np.full((180, 320, 3), 80, dtype=np.uint8)) as mock:
        yield mock


@pytest.fixture
async def hub(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> MockConfigEntry:
    """Return the loaded hub with its camera and zone."""
    await setup_entry(hass, config_entry)
    return config_entry


def _camera_step(name: str = "Lawn", camera: str = CAMERA_ID) -> dict[str, Any]:
    return {CONF_NAME: name, CONF_CAMERA: camera}


def _zone_step(polygon: str = SQUARE) -> dict[str, Any]:
    return {CONF_POLYGON: polygon, CONF_CLASSES: ["person"], CONF_INERTIA: 2}


def _picture_path(result: dict[str, Any]) -> str:
    match = re.search(
        r"\((/api/vigil/preview/[^)]+)\)", result["description_placeholders"]["picture"]
    )
    assert match
    return match.group(1)


async def _start(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ZONE), context={"source": SOURCE_USER}
    )
    return result


async def _to_zone_step(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], _camera_step())
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zone"
    return result


async def test_add_zone_with_picture_and_preview(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    grab: MagicMock,
    engines: list[FakeEngine],
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The zone is typed over the camera's picture, previewed, then saved."""
    result = await _start(hass, hub)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"

    result = await hass.config_entries.subentries.async_configure(result["flow_id"], _camera_step())
    assert result["step_id"] == "zone"
    assert result["description_placeholders"]["zone"] == "Lawn"
    # The camera is not analysed yet, so one frame is decoded from its stream, with its login.
    assert grab.call_args.args == ("rtsp://viewer:s3cret@192.0.2.10:554/stream1",)
    assert grab.call_args.kwargs == {"timeout_s": 10.0, "max_width": 1280}

    client = await hass_client_no_auth()
    grid = _picture_path(result)
    response = await client.get(grid)
    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/jpeg"
    assert (await response.read())[:2] == b"\xff\xd8"

    result = await hass.config_entries.subentries.async_configure(result["flow_id"], _zone_step())
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "preview"
    assert result["menu_options"] == ["save", "zone"]
    preview = _picture_path(result)
    assert preview != grid
    assert (await client.get(grid)).status == HTTPStatus.NOT_FOUND
    assert (await client.get(preview)).status == HTTPStatus.OK

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "save"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Lawn"
    assert result["data"] == {
        CONF_CAMERA: CAMERA_ID,
        CONF_POLYGON: [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]],
        CONF_CLASSES: ["person"],
        CONF_INERTIA: 2,
    }
    # The picture is gone with the flow, and the stream was opened only once.
    assert (await client.get(preview)).status == HTTPStatus.NOT_FOUND
    assert grab.call_count == 1
    await hass.async_block_till_done()
    zones = engines[-1].config.cameras[0].zones
    assert sorted(zone.name for zone in zones) == ["Driveway", "Lawn"]


async def test_picture_from_the_running_camera(
    hass: HomeAssistant, hub: MockConfigEntry, grab: MagicMock, engines: list[FakeEngine]
) -> None:
    """When the camera is analysed, its latest frame is used and the stream is not reopened."""
    engines[0].frames[CAMERA_SLUG] = fake_frame()
    await _to_zone_step(hass, hub)
    grab.assert_not_called()


async def test_edit_after_preview(
    hass: HomeAssistant, hub: MockConfigEntry, grab: MagicMock
) -> None:
    """Editing goes back to the zone form with what was typed, then previews again."""
    result = await _to_zone_step(hass, hub)
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], _zone_step())
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "zone"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zone"
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested[CONF_POLYGON] == SQUARE

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], _zone_step("0.1,0.1 0.5,0.1 0.5,0.5")
    )
    assert result["step_id"] == "preview"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "save"}
    )
    assert result["data"][CONF_POLYGON] == [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]


@pytest.mark.parametrize(
    ("polygon", "error"),
    [
        ("", "polygon_invalid"),
        ("0.1,0.2 0.3", "polygon_invalid"),
        ("0.1,0.1 0.9,0.9", "polygon_too_few_points"),
        ("0.1,0.1 1.2,0.1 0.5,0.9", "polygon_outside_frame"),
        ("-0.1,0.1 0.9,0.1 0.5,0.9", "polygon_outside_frame"),
        ("0,0 1,1 1,0 0,1", "polygon_self_intersecting"),
        ("0,0 0.5,0.5 1,1", "polygon_self_intersecting"),
    ],
)
async def test_polygon_errors_then_recovers(
    hass: HomeAssistant, hub: MockConfigEntry, grab: MagicMock, polygon: str, error: str
) -> None:
    """Each bad polygon is an error on the polygon field; a good one goes on to the preview."""
    result = await _to_zone_step(hass, hub)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], _zone_step(polygon)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_POLYGON: error}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], _zone_step())
    assert result["step_id"] == "preview"


async def test_duplicate_name_and_offline_camera(
    hass: HomeAssistant, hub: MockConfigEntry, grab: MagicMock
) -> None:
    """A name used on the camera, or a camera that cannot show a picture, is refused."""
    result = await _start(hass, hub)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], _camera_step(name="driveway")
    )
    assert result["errors"] == {CONF_NAME: "zone_exists"}

    grab.side_effect = SourceUnavailable("down")
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], _camera_step())
    assert result["errors"] == {"base": "cannot_connect"}

    grab.side_effect = None
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], _camera_step())
    assert result["step_id"] == "zone"


async def test_reconfigure_zone(
    hass: HomeAssistant, hub: MockConfigEntry, grab: MagicMock, engines: list[FakeEngine]
) -> None:
    """A zone keeps its id when renamed and reshaped; its own name is not a duplicate."""
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_ZONE, ZONE_ID)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], _camera_step(name="Driveway")
    )
    assert result["step_id"] == "zone"
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    # The saved zone is prefilled and drawn on the picture.
    assert suggested[CONF_POLYGON] == "0.1,0.5 0.9,0.5 0.9,1 0.1,1"
    assert suggested[CONF_CLASSES] == ["person", "car"]

    # Every class this time: no class chosen.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_POLYGON: "0,0 1,0 1,1 0,1", CONF_INERTIA: 4}
    )
    assert result["menu_options"] == ["save", "zone"]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "save"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    zone = hub.subentries[ZONE_ID]
    assert zone.title == "Driveway"
    assert zone.data[CONF_POLYGON] == [[0, 0], [1, 0], [1, 1], [0, 1]]
    assert zone.data[CONF_CLASSES] == []
    assert zone.data[CONF_INERTIA] == 4
    assert engines[-1].config.cameras[0].zones[0].id == ZONE_ID.lower()
    assert engines[-1].config.cameras[0].zones[0].classes == []


async def test_zone_needs_a_camera(hass: HomeAssistant, engines: list[FakeEngine]) -> None:
    """Without cameras there is nothing to draw on."""
    entry = MockConfigEntry(domain=DOMAIN, data={CONF_DOWNLOAD_MODELS: False})
    await setup_entry(hass, entry)
    result = await _start(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_cameras"


async def test_zone_camera_removed_meanwhile(
    hass: HomeAssistant, engines: list[FakeEngine], grab: MagicMock
) -> None:
    """A camera removed while the form was open is an unknown error, not a crash."""
    other = "01JVIGIL00000000000CAMERA2"
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_DOWNLOAD_MODELS: False},
        subentries_data=[
            camera_subentry(),
            camera_subentry(other, "Back door", "rtsp://192.0.2.11/stream"),
        ],
    )
    await setup_entry(hass, entry)
    result = await _start(hass, entry)
    hass.config_entries.async_remove_subentry(entry, other)
    await hass.async_block_till_done()
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], _camera_step(camera=other)
    )
    assert result["errors"] == {"base": "unknown"}


def test_preview_pictures_expire() -> None:
    """A preview picture is served for a few minutes at most."""
    store = PreviewStore()
    with patch("custom_components.vigil.preview.time.monotonic", return_value=100.0):
        token = store.add(b"jpeg")
        assert store.get(token) == b"jpeg"
    with patch("custom_components.vigil.preview.time.monotonic", return_value=100.0 + 601):
        assert store.get(token) is None
    assert not store.images
