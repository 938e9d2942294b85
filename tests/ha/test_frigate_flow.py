"""Frigate through a real Vigil server: its cameras (several at once), detections and zones.

Each supported version's recorded API is served on 127.0.0.1 (tests/support/frigate_api.py),
behind its login from 0.14, with go2rtc's restreams pointing at the session's real RTSP test
pattern; the server reads the API and probes each restream. A Frigate login that stops working
raises a repair issue whose fix flow asks for it again (frigate_setup.py, repairs.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.const import (
    CONF_NAME,
    CONF_PASSWORD,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_CAMERA,
    CONF_CAMERA_KEY,
    CONF_CLASSES,
    CONF_DETECT_HEIGHT,
    CONF_DETECT_WIDTH,
    CONF_DETECTIONS,
    CONF_FRIGATE_CAMERA,
    CONF_FRIGATE_CAMERAS,
    CONF_IMPORT_ZONES,
    CONF_INERTIA,
    CONF_POLYGON,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    CONF_TOPIC_PREFIX,
    DETECTIONS_FRIGATE,
    DETECTIONS_VIGIL,
    DOMAIN,
    SOURCE_FRIGATE,
    SUBENTRY_CAMERA,
    SUBENTRY_ZONE,
)
from custom_components.vigil.frigate_setup import async_check_frigate
from custom_components.vigil.server_config import server_config
from custom_components.vigil.validation import camera_key
from tests.ha.conftest import CLOSED_URL
from tests.ha.flows import frigate_config, loaded, options, reloaded, server_entry
from tests.ha.repair_flows import check_fix_flow_strings
from tests.support.frigate_api import FrigateApi
from vigil_core.server import VigilServer

USER, PASSWORD = "admin", "frigate-pass"
PORCH = [[0.115, 0.6], [0.5, 0.6], [0.5, 1.0], [0.115, 1.0]]
FRONT_ID = "01JVIGIL00000000000FRIGATE1"
GATE_ID = "01JVIGIL00000000000FRIGATE2"


@pytest.fixture
async def hub(hass: HomeAssistant, vigil_server: VigilServer) -> MockConfigEntry:
    """Return a loaded server entry without cameras."""
    return await loaded(hass, server_entry(vigil_server))


@pytest.fixture
def mqtt_entry(hass: HomeAssistant) -> MockConfigEntry:
    """Return Home Assistant's MQTT integration entry (configured; not needed running here)."""
    entry = MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1"})
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def frigate(pattern_stream: str, socket_enabled: None) -> AsyncIterator[FrigateApi]:
    """Serve Frigate 0.16's API behind its login, its garage camera enabled."""
    config = frigate_config("0.16", pattern_stream)
    config["cameras"]["garage"]["enabled"] = True
    async with FrigateApi("0.16", username=USER, password=PASSWORD, config=config) as api:
        yield api


async def _start(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    result = await _submit(hass, result["flow_id"], {"next_step_id": SOURCE_FRIGATE})
    assert result["step_id"] == SOURCE_FRIGATE
    return result


async def _submit(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_configure(flow_id, data)
    return result


async def _server(
    hass: HomeAssistant, flow_id: str, api: FrigateApi, password: str | None = PASSWORD
) -> dict[str, Any]:
    data: dict[str, Any] = {CONF_URL: api.url + "/", CONF_VERIFY_SSL: True}
    if api.username:
        data |= {CONF_USERNAME: USER, CONF_PASSWORD: password}
    return await _submit(hass, flow_id, data)


def _of(entry: MockConfigEntry, kind: str) -> list[Any]:
    return [s for s in entry.subentries.values() if s.subentry_type == kind]


@pytest.mark.parametrize("version", ["0.14", "0.15", "0.16", "0.17"])
async def test_cameras_and_zones_of_each_version(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    mqtt_entry: MockConfigEntry,
    pattern_stream: str,
    version: str,
) -> None:
    """Several cameras at once, on Frigate's detections, with Frigate's zones as Vigil zones."""
    config = frigate_config(version, pattern_stream)
    async with FrigateApi(version, username=USER, password=PASSWORD, config=config) as api:
        result = await _start(hass, hub)
        result = await _server(hass, result["flow_id"], api)
        assert result["step_id"] == "frigate_camera"
        names = [option["value"] for option in options(result, CONF_FRIGATE_CAMERAS)]
        # Disabled cameras and cameras go2rtc does not restream are left out.
        expected = ["front_door", "gate_lpr"] if version >= "0.16" else ["front_door"]
        assert names == expected
        result = await _submit(
            hass,
            result["flow_id"],
            {
                CONF_FRIGATE_CAMERAS: names,
                CONF_DETECTIONS: DETECTIONS_FRIGATE,
                CONF_IMPORT_ZONES: True,
            },
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "frigate_cameras_added"
    await reloaded(hass, hub)
    cameras = {s.data[CONF_FRIGATE_CAMERA]: s for s in _of(hub, SUBENTRY_CAMERA)}
    assert sorted(cameras) == sorted(names)
    front = cameras["front_door"]
    assert front.title == ("Front door" if version == "0.17" else "front_door")
    assert front.unique_id == f"frigate+{api.url}/front_door"
    assert dict(front.data) == {
        CONF_SOURCE_TYPE: SOURCE_FRIGATE,
        CONF_URL: api.url,
        CONF_USERNAME: USER,
        CONF_PASSWORD: PASSWORD,
        CONF_VERIFY_SSL: True,
        CONF_FRIGATE_CAMERA: "front_door",
        CONF_STREAM_URL: pattern_stream,  # Frigate's detect restream, without the API's login
        CONF_DETECTIONS: DETECTIONS_FRIGATE,
        CONF_TOPIC_PREFIX: "frigate",
        CONF_DETECT_WIDTH: 640,
        CONF_DETECT_HEIGHT: 360,
        CONF_CAMERA_KEY: camera_key(f"frigate+{api.url}/front_door"),
    }
    zones = {z.title.lower(): z for z in _of(hub, SUBENTRY_ZONE)}
    expected_zones = ["porch", "sidewalk"] + (["gate"] if version >= "0.16" else [])
    assert sorted(zones) == sorted(expected_zones)
    porch = zones["porch"].data
    assert porch[CONF_CAMERA] == front.subentry_id
    assert porch[CONF_POLYGON] == PORCH
    assert (porch[CONF_CLASSES], porch[CONF_INERTIA]) == (["person"], 3)
    assert zones["sidewalk"].data[CONF_CLASSES] == []  # Frigate's "every class"

    # The server takes these cameras' tracks from Frigate, at its detect resolution.
    camera = next(c for c in server_config(hub)["cameras"] if c["name"] == front.title)
    assert camera["detections"] == "frigate"
    assert camera["frigate"] == {
        "camera": "front_door", "detect_size": [640, 360], "topic_prefix": "frigate",
    }  # fmt: skip
    assert camera["source"] == {"url": pattern_stream}
    assert [z["polygon"] for z in camera["zones"] if z["name"].lower() == "porch"] == [PORCH]


async def test_one_camera_without_zones(
    hass: HomeAssistant, hub: MockConfigEntry, frigate: FrigateApi, pattern_stream: str
) -> None:
    """One camera and no zones to import: the flow creates its subentry the usual way."""
    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    result = await _submit(
        hass,
        result["flow_id"],
        {
            CONF_FRIGATE_CAMERAS: ["garage"],
            CONF_DETECTIONS: DETECTIONS_VIGIL,
            CONF_IMPORT_ZONES: True,
            CONF_NAME: "Garage door",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Garage door"
    assert result["data"][CONF_DETECTIONS] == DETECTIONS_VIGIL
    assert result["data"][CONF_STREAM_URL] == pattern_stream
    await reloaded(hass, hub)

    # Another camera under the same name (case and spaces aside) is refused on the name field.
    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    chosen = {CONF_DETECTIONS: DETECTIONS_VIGIL, CONF_IMPORT_ZONES: False}
    result = await _submit(
        hass,
        result["flow_id"],
        {CONF_FRIGATE_CAMERAS: ["front_door"], CONF_NAME: " garage DOOR", **chosen},
    )
    assert result["errors"] == {CONF_NAME: "name_taken"}
    porch_form = {CONF_FRIGATE_CAMERAS: ["front_door"], CONF_NAME: "Porch", **chosen}
    result = await _submit(hass, result["flow_id"], porch_form)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, hub)
    # Nor can a camera be renamed to another's name.
    porch = next(sub for sub in _of(hub, SUBENTRY_CAMERA) if sub.title == "Porch")
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, porch.subentry_id)
    result = await _server(hass, result["flow_id"], frigate)
    renamed = {CONF_FRIGATE_CAMERA: "front_door", CONF_NAME: "Garage door"}
    result = await _submit(hass, result["flow_id"], renamed | {CONF_DETECTIONS: DETECTIONS_VIGIL})
    assert result["errors"] == {CONF_NAME: "name_taken"}


async def test_vigil_detection_imports_zones_for_its_classes(
    hass: HomeAssistant, hub: MockConfigEntry, frigate: FrigateApi
) -> None:
    """With Vigil's own detector, imported zones watch only classes it detects.

    A zone whose edges cross (Frigate draws whatever it is given) is left out.
    """
    frigate.config["cameras"]["gate_lpr"]["zones"]["bowtie"] = {
        "coordinates": "0.1,0.1,0.9,0.9,0.9,0.1,0.1,0.9",
        "objects": ["car"],
    }
    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    result = await _submit(
        hass,
        result["flow_id"],
        {
            CONF_FRIGATE_CAMERAS: ["gate_lpr"],
            CONF_DETECTIONS: DETECTIONS_VIGIL,
            CONF_IMPORT_ZONES: True,
            CONF_NAME: "Gate",  # one camera: its name is used
        },
    )
    assert result["reason"] == "frigate_cameras_added"
    await reloaded(hass, hub)
    [camera] = _of(hub, SUBENTRY_CAMERA)
    [zone] = _of(hub, SUBENTRY_ZONE)
    assert camera.title == "Gate"
    assert zone.data[CONF_CLASSES] == ["car"]


async def test_errors_then_recovers(
    hass: HomeAssistant, hub: MockConfigEntry, frigate: FrigateApi
) -> None:
    """Bad URL, refused login, no server, no choice, no MQTT, duplicates."""
    result = await _start(hass, hub)
    flow_id = result["flow_id"]
    result = await _submit(hass, flow_id, {CONF_URL: "rtsp://127.0.0.1/x", CONF_VERIFY_SSL: True})
    assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await _server(hass, flow_id, frigate, password="wrong")
    assert result["errors"] == {"base": "invalid_auth"}
    result = await _submit(hass, flow_id, {CONF_URL: "http://127.0.0.1:9", CONF_VERIFY_SSL: True})
    assert result["errors"] == {"base": "cannot_connect"}
    result = await _server(hass, flow_id, frigate)
    assert result["step_id"] == "frigate_camera"
    # Without Home Assistant's MQTT, Vigil's own detection is offered first.
    assert result["data_schema"]({CONF_FRIGATE_CAMERAS: ["garage"]})[CONF_DETECTIONS] == (
        DETECTIONS_VIGIL
    )

    choice = {CONF_DETECTIONS: DETECTIONS_FRIGATE, CONF_IMPORT_ZONES: False}
    result = await _submit(hass, flow_id, {CONF_FRIGATE_CAMERAS: [], **choice})
    assert result["errors"] == {CONF_FRIGATE_CAMERAS: "no_camera_chosen"}
    result = await _submit(hass, flow_id, {CONF_FRIGATE_CAMERAS: ["garage"], **choice})
    assert result["errors"] == {CONF_DETECTIONS: "mqtt_required"}

    MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1"}).add_to_hass(hass)
    result = await _submit(hass, flow_id, {CONF_FRIGATE_CAMERAS: ["garage"], **choice})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_DETECTIONS] == DETECTIONS_FRIGATE
    await reloaded(hass, hub)

    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    result = await _submit(
        hass, result["flow_id"], {CONF_FRIGATE_CAMERAS: ["front_door", "garage"], **choice}
    )
    assert result["errors"] == {"base": "already_configured"}


async def test_a_restream_that_does_not_play(
    hass: HomeAssistant, hub: MockConfigEntry, socket_enabled: None
) -> None:
    """go2rtc's restream is probed before anything is saved."""
    config = frigate_config("0.15", CLOSED_URL)
    async with FrigateApi("0.15", config=config) as api:
        result = await _start(hass, hub)
        result = await _server(hass, result["flow_id"], api)
        result = await _submit(
            hass,
            result["flow_id"],
            {
                CONF_FRIGATE_CAMERAS: ["front_door"],
                CONF_DETECTIONS: DETECTIONS_VIGIL,
                CONF_IMPORT_ZONES: False,
            },
        )
    assert result["errors"] == {"base": "cannot_connect"}
    assert not _of(hub, SUBENTRY_CAMERA)


async def test_no_detect_size(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    mqtt_entry: MockConfigEntry,
    pattern_stream: str,
    socket_enabled: None,
) -> None:
    """Frigate's detections need its detect resolution: without it, only Vigil's detection."""
    config = frigate_config("0.15", pattern_stream)
    del config["cameras"]["front_door"]["detect"]["width"]
    async with FrigateApi("0.15", config=config) as api:
        result = await _start(hass, hub)
        result = await _server(hass, result["flow_id"], api)
        choice = {CONF_FRIGATE_CAMERAS: ["front_door"], CONF_IMPORT_ZONES: False}
        result = await _submit(
            hass, result["flow_id"], {**choice, CONF_DETECTIONS: DETECTIONS_FRIGATE}
        )
        assert result["errors"] == {"base": "no_detect_size"}
        result = await _submit(
            hass, result["flow_id"], {**choice, CONF_DETECTIONS: DETECTIONS_VIGIL}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_DETECT_WIDTH not in result["data"]
    await reloaded(hass, hub)


async def test_without_cameras(
    hass: HomeAssistant, hub: MockConfigEntry, socket_enabled: None
) -> None:
    """A Frigate server with no usable camera cannot be used."""
    async with FrigateApi("0.13", config={"cameras": {}}) as api:
        result = await _start(hass, hub)
        result = await _server(hass, result["flow_id"], api)
    assert result["errors"] == {"base": "no_frigate_cameras"}


async def test_reconfigure(
    hass: HomeAssistant, hub: MockConfigEntry, mqtt_entry: MockConfigEntry, frigate: FrigateApi
) -> None:
    """A Frigate camera moves to another camera and detection mode; its password is kept."""
    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    result = await _submit(
        hass,
        result["flow_id"],
        {
            CONF_FRIGATE_CAMERAS: ["garage"],
            CONF_DETECTIONS: DETECTIONS_VIGIL,
            CONF_IMPORT_ZONES: False,
            CONF_NAME: "Porch",
        },
    )
    await reloaded(hass, hub)
    [porch] = _of(hub, SUBENTRY_CAMERA)

    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, porch.subentry_id)
    assert result["step_id"] == SOURCE_FRIGATE
    result = await _server(hass, result["flow_id"], frigate, password="")
    assert result["step_id"] == "frigate_camera"
    assert [o["value"] for o in options(result, CONF_FRIGATE_CAMERA)] == [
        "front_door",
        "garage",
        "gate_lpr",
    ]
    assert result["data_schema"]({})[CONF_FRIGATE_CAMERA] == "garage"
    result = await _submit(
        hass,
        result["flow_id"],
        {
            CONF_FRIGATE_CAMERA: "front_door",
            CONF_DETECTIONS: DETECTIONS_FRIGATE,
            CONF_NAME: "Porch",
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await reloaded(hass, hub)
    data = hub.subentries[porch.subentry_id].data
    assert data[CONF_FRIGATE_CAMERA] == "front_door"
    assert data[CONF_DETECTIONS] == DETECTIONS_FRIGATE
    assert (data[CONF_DETECT_WIDTH], data[CONF_DETECT_HEIGHT]) == (640, 360)
    assert data[CONF_PASSWORD] == PASSWORD
    assert hub.subentries[porch.subentry_id].title == "Porch"

    # A camera Frigate no longer has: the form offers the first one instead.
    del frigate.config["cameras"]["front_door"]
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, porch.subentry_id)
    result = await _server(hass, result["flow_id"], frigate, password="")
    assert result["data_schema"]({})[CONF_FRIGATE_CAMERA] == "garage"
    result = await _submit(
        hass, result["flow_id"], {CONF_FRIGATE_CAMERA: "garage", CONF_DETECTIONS: "vigil"}
    )
    assert result["reason"] == "reconfigure_successful"
    await reloaded(hass, hub)
    assert hub.subentries[porch.subentry_id].title == "garage"  # no name typed: Frigate's


# --- the Frigate login, checked after setup ----------------------------------------------------


def _frigate_camera(
    subentry_id: str, api: FrigateApi, name: str, password: str, size: tuple[int, int]
) -> ConfigSubentryData:
    return ConfigSubentryData(
        data={
            CONF_SOURCE_TYPE: SOURCE_FRIGATE,
            CONF_URL: api.url,
            CONF_USERNAME: USER,
            CONF_PASSWORD: password,
            CONF_VERIFY_SSL: True,
            CONF_FRIGATE_CAMERA: name,
            CONF_STREAM_URL: CLOSED_URL,
            CONF_DETECTIONS: DETECTIONS_VIGIL,
            CONF_TOPIC_PREFIX: "frigate",
            CONF_DETECT_WIDTH: size[0],
            CONF_DETECT_HEIGHT: size[1],
        },
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_CAMERA,
        title=name,
        unique_id=f"frigate+{api.url}/{name}",
    )


async def test_refused_login_is_a_repair_issue_fixed_in_its_flow(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    frigate: FrigateApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Frigate refuses the saved login: one issue per server; its fix saves every camera."""
    entry = await loaded(
        hass,
        server_entry(
            vigil_server,
            _frigate_camera(FRONT_ID, frigate, "front_door", "old", (640, 360)),
            _frigate_camera(GATE_ID, frigate, "gate_lpr", "old", (1920, 1080)),
        ),
    )
    async_check_frigate(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "refuses Vigil's login" in caplog.text
    assert "old" not in caplog.text
    issue_id = f"frigate_auth_failed_{entry.entry_id}_{FRONT_ID.lower()}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.is_fixable
    assert issue.translation_placeholders == {"camera": "front_door", "url": frigate.url}

    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    # A fix started, then its cameras removed: it ends, saying so.
    result = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    stale = result["flow_id"]
    result = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    check_fix_flow_strings("frigate_auth_failed", result)
    assert result["step_id"] == "frigate_login"
    assert result["description_placeholders"] == {"camera": "front_door", "url": frigate.url}
    result = await manager.async_configure(
        result["flow_id"], {CONF_USERNAME: USER, CONF_PASSWORD: "still-wrong"}
    )
    check_fix_flow_strings("frigate_auth_failed", result)
    assert result["errors"] == {"base": "invalid_auth"}
    result = await manager.async_configure(
        result["flow_id"], {CONF_USERNAME: USER, CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await reloaded(hass, entry)
    assert {s.data[CONF_PASSWORD] for s in entry.subentries.values()} == {PASSWORD}
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None

    # With the right login, a check asks nothing; a changed detect size is saved (a camera
    # Frigate no longer has keeps what it had).
    caplog.clear()
    frigate.config["cameras"]["gate_lpr"]["detect"] |= {"width": 1280, "height": 720}
    del frigate.config["cameras"]["front_door"]
    async_check_frigate(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    await reloaded(hass, entry)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    gate = entry.subentries[GATE_ID].data
    assert (gate[CONF_DETECT_WIDTH], gate[CONF_DETECT_HEIGHT]) == (1280, 720)
    assert entry.subentries[FRONT_ID].data[CONF_DETECT_WIDTH] == 640  # unchanged

    # The fix started first is still open; its cameras are removed meanwhile: it ends so.
    for subentry_id in list(entry.subentries):
        hass.config_entries.async_remove_subentry(entry, subentry_id)
    await reloaded(hass, entry)
    result = await manager.async_configure(stale, {CONF_USERNAME: USER, CONF_PASSWORD: PASSWORD})
    check_fix_flow_strings("frigate_auth_failed", result)
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "camera_removed")


async def test_an_unreachable_frigate_is_only_logged(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    socket_enabled: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Frigate server that does not answer delays nothing and asks for nothing."""
    async with FrigateApi("0.16", username=USER, password=PASSWORD) as api:
        gone = api.url
    camera = _frigate_camera(FRONT_ID, api, "front_door", PASSWORD, (640, 360))
    entry = server_entry(vigil_server, camera)
    # Not loaded (no server connection): nothing is checked.
    entry.add_to_hass(hass)
    async_check_frigate(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "Frigate at" not in caplog.text
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async_check_frigate(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert f"Frigate at {gone} cannot be checked" in caplog.text
    assert not [i for _d, i in ir.async_get(hass).issues if i.startswith("frigate_auth_failed")]
