"""Frigate in the flows: its cameras (several at once), their detections and zones; reauth.

Each supported version's recorded API is served on 127.0.0.1 (tests/support/frigate_api.py),
behind its login from 0.14. The hub entry is only added, not set up: these flows need no
running engine, and Home Assistant saves subentries either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState, ConfigSubentryData
from homeassistant.const import (
    CONF_NAME,
    CONF_PASSWORD,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_CAMERA,
    CONF_CLASSES,
    CONF_DETECT_HEIGHT,
    CONF_DETECT_WIDTH,
    CONF_DETECTIONS,
    CONF_DOWNLOAD_MODELS,
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
from custom_components.vigil.engine_config import build_engine_config, configured
from custom_components.vigil.frigate_setup import async_check_frigate
from tests.support.frigate_api import FrigateApi, load_config
from vigil_core.errors import NotVideo

PROBE = "custom_components.vigil.validation.probe"
USER, PASSWORD = "admin", "frigate-pass"
PORCH = [[0.115, 0.6], [0.5, 0.6], [0.5, 1.0], [0.115, 1.0]]


@pytest.fixture
def probe() -> Iterator[MagicMock]:
    """Replace the stream probe; by default every restream plays."""
    with patch(PROBE, return_value=None) as mock:
        yield mock


@pytest.fixture
def hub(hass: HomeAssistant) -> MockConfigEntry:
    """Return the hub entry, added but not set up."""
    entry = MockConfigEntry(domain=DOMAIN, title="Vigil", data={CONF_DOWNLOAD_MODELS: False})
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
def mqtt_entry(hass: HomeAssistant) -> MockConfigEntry:
    """Return Home Assistant's MQTT integration entry (configured; not needed running here)."""
    entry = MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1"})
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def frigate(socket_enabled: None) -> AsyncIterator[FrigateApi]:
    """Serve Frigate 0.16's API behind its login, its garage camera enabled."""
    config = load_config("0.16")
    config["cameras"]["garage"]["enabled"] = True
    async with FrigateApi("0.16", username=USER, password=PASSWORD, config=config) as api:
        yield api


async def _start(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": SOURCE_FRIGATE}
    )
    assert result["step_id"] == SOURCE_FRIGATE
    return result


async def _server(
    hass: HomeAssistant, flow_id: str, api: FrigateApi, password: str | None = PASSWORD
) -> dict[str, Any]:
    data: dict[str, Any] = {CONF_URL: api.url + "/", CONF_VERIFY_SSL: True}
    if api.username:
        data |= {CONF_USERNAME: USER, CONF_PASSWORD: password}
    result: dict[str, Any] = await hass.config_entries.subentries.async_configure(flow_id, data)
    return result


def _options(result: dict[str, Any], key: str) -> list[Any]:
    for marker, selector in result["data_schema"].schema.items():
        if marker == key:
            options: list[Any] = selector.config["options"]
            return options
    raise AssertionError(f"no field {key}")


def _of(entry: MockConfigEntry, kind: str) -> list[Any]:
    return [s for s in entry.subentries.values() if s.subentry_type == kind]


@pytest.mark.parametrize("version", ["0.14", "0.15", "0.16", "0.17"])
async def test_cameras_and_zones_of_each_version(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    mqtt_entry: MockConfigEntry,
    probe: MagicMock,
    socket_enabled: None,
    version: str,
) -> None:
    """Several cameras at once, on Frigate's detections, with Frigate's zones as Vigil zones."""
    async with FrigateApi(version, username=USER, password=PASSWORD) as api:
        result = await _start(hass, hub)
        result = await _server(hass, result["flow_id"], api)
        assert result["step_id"] == "frigate_camera"
        names = [option["value"] for option in _options(result, CONF_FRIGATE_CAMERAS)]
        # Disabled cameras and cameras go2rtc does not restream are left out.
        expected = ["front_door", "gate_lpr"] if version >= "0.16" else ["front_door"]
        assert names == expected
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {
                CONF_FRIGATE_CAMERAS: names,
                CONF_DETECTIONS: DETECTIONS_FRIGATE,
                CONF_IMPORT_ZONES: True,
            },
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "frigate_cameras_added"
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
        CONF_STREAM_URL: "rtsp://127.0.0.1:8554/front_door_sub",
        CONF_DETECTIONS: DETECTIONS_FRIGATE,
        CONF_TOPIC_PREFIX: "frigate",
        CONF_DETECT_WIDTH: 640,
        CONF_DETECT_HEIGHT: 360,
    }
    zones = {z.title.lower(): z for z in _of(hub, SUBENTRY_ZONE)}
    expected_zones = ["porch", "sidewalk"] + (["gate"] if version >= "0.16" else [])
    assert sorted(zones) == sorted(expected_zones)
    porch = zones["porch"].data
    assert porch[CONF_CAMERA] == front.subentry_id
    assert porch[CONF_POLYGON] == PORCH
    assert porch[CONF_CLASSES] == ["person"]
    assert porch[CONF_INERTIA] == 3
    assert zones["sidewalk"].data[CONF_CLASSES] == []  # Frigate's "every class"
    # Every restream was probed, never with Frigate's login in it.
    assert sorted(call.args[0] for call in probe.call_args_list) == sorted(
        f"rtsp://127.0.0.1:8554/{'front_door_sub' if n == 'front_door' else n}" for n in names
    )

    # The engine takes these cameras' tracks from Frigate, at its detect resolution.
    cams, zone_infos = configured(hub)
    config = build_engine_config(hub, cams, zone_infos, None)
    spec = next(c for c in config.cameras if c.name == front.title)
    assert spec.detections == "frigate"
    assert spec.frigate is not None
    assert (spec.frigate.camera, spec.frigate.detect_size) == ("front_door", (640, 360))
    assert spec.source.url == "rtsp://127.0.0.1:8554/front_door_sub"
    assert [z.polygon for z in spec.zones if z.name.lower() == "porch"] == [
        [tuple(p) for p in PORCH]
    ]


async def test_one_camera_without_zones(
    hass: HomeAssistant, hub: MockConfigEntry, probe: MagicMock, frigate: FrigateApi
) -> None:
    """One camera and no zones to import: the flow creates its subentry the usual way."""
    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    result = await hass.config_entries.subentries.async_configure(
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
    assert result["data"][CONF_STREAM_URL] == "rtsp://127.0.0.1:8554/garage"


async def test_vigil_detection_imports_zones_for_its_classes(
    hass: HomeAssistant, hub: MockConfigEntry, probe: MagicMock, frigate: FrigateApi
) -> None:
    """With Vigil's own detector, imported zones watch only classes it detects."""
    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_FRIGATE_CAMERAS: ["gate_lpr"],
            CONF_DETECTIONS: DETECTIONS_VIGIL,
            CONF_IMPORT_ZONES: True,
            CONF_NAME: "Gate",  # one camera: its name is used
        },
    )
    assert result["reason"] == "frigate_cameras_added"
    [camera] = _of(hub, SUBENTRY_CAMERA)
    [zone] = _of(hub, SUBENTRY_ZONE)
    assert camera.title == "Gate"
    assert zone.data[CONF_CLASSES] == ["car"]


async def test_errors_then_recovers(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    probe: MagicMock,
    frigate: FrigateApi,
) -> None:
    """Bad URL, refused login, no server, no choice, no MQTT, dead restream, duplicates."""
    result = await _start(hass, hub)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_URL: "rtsp://127.0.0.1/x", CONF_VERIFY_SSL: True}
    )
    assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await _server(hass, result["flow_id"], frigate, password="wrong")
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_URL: "http://127.0.0.1:9", CONF_VERIFY_SSL: True}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await _server(hass, result["flow_id"], frigate)
    assert result["step_id"] == "frigate_camera"

    choice = {CONF_DETECTIONS: DETECTIONS_FRIGATE, CONF_IMPORT_ZONES: False}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_FRIGATE_CAMERAS: [], **choice}
    )
    assert result["errors"] == {CONF_FRIGATE_CAMERAS: "no_camera_chosen"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_FRIGATE_CAMERAS: ["garage"], **choice}
    )
    assert result["errors"] == {CONF_DETECTIONS: "mqtt_required"}

    MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1"}).add_to_hass(hass)
    probe.side_effect = NotVideo("no video")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_FRIGATE_CAMERAS: ["garage"], **choice}
    )
    assert result["errors"] == {"base": "not_video"}
    probe.side_effect = None
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_FRIGATE_CAMERAS: ["garage"], **choice}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_DETECTIONS] == DETECTIONS_FRIGATE

    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_FRIGATE_CAMERAS: ["front_door", "garage"], **choice}
    )
    assert result["errors"] == {"base": "already_configured"}


async def test_no_detect_size(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    mqtt_entry: MockConfigEntry,
    probe: MagicMock,
    socket_enabled: None,
) -> None:
    """Frigate's detections need its detect resolution: without it, only Vigil's detection."""
    config = load_config("0.15")
    del config["cameras"]["front_door"]["detect"]["width"]
    async with FrigateApi("0.15", config=config) as api:
        result = await _start(hass, hub)
        result = await _server(hass, result["flow_id"], api)
        choice = {CONF_FRIGATE_CAMERAS: ["front_door"], CONF_IMPORT_ZONES: False}
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {**choice, CONF_DETECTIONS: DETECTIONS_FRIGATE}
        )
        assert result["errors"] == {"base": "no_detect_size"}
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {**choice, CONF_DETECTIONS: DETECTIONS_VIGIL}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_without_cameras(
    hass: HomeAssistant, hub: MockConfigEntry, socket_enabled: None
) -> None:
    """A Frigate server with no usable camera cannot be used."""
    async with FrigateApi("0.13", config={"cameras": {}}) as api:
        result = await _start(hass, hub)
        result = await _server(hass, result["flow_id"], api)
    assert result["errors"] == {"base": "no_frigate_cameras"}


async def test_reconfigure(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    mqtt_entry: MockConfigEntry,
    probe: MagicMock,
    frigate: FrigateApi,
) -> None:
    """A Frigate camera moves to another camera and detection mode; its password is kept."""
    result = await _start(hass, hub)
    result = await _server(hass, result["flow_id"], frigate)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_FRIGATE_CAMERAS: ["garage"],
            CONF_DETECTIONS: DETECTIONS_VIGIL,
            CONF_IMPORT_ZONES: False,
            CONF_NAME: "Porch",
        },
    )
    [porch] = _of(hub, SUBENTRY_CAMERA)

    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_CAMERA, porch.subentry_id)
    assert result["step_id"] == SOURCE_FRIGATE
    result = await _server(hass, result["flow_id"], frigate, password="")
    assert result["step_id"] == "frigate_camera"
    assert [o["value"] for o in _options(result, CONF_FRIGATE_CAMERA)] == [
        "front_door",
        "garage",
        "gate_lpr",
    ]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_FRIGATE_CAMERA: "front_door",
            CONF_DETECTIONS: DETECTIONS_FRIGATE,
            CONF_NAME: "Porch",
        },
    )
    assert result["reason"] == "reconfigure_successful"
    data = hub.subentries[porch.subentry_id].data
    assert data[CONF_FRIGATE_CAMERA] == "front_door"
    assert data[CONF_DETECTIONS] == DETECTIONS_FRIGATE
    assert (data[CONF_DETECT_WIDTH], data[CONF_DETECT_HEIGHT]) == (640, 360)
    assert data[CONF_PASSWORD] == PASSWORD
    assert hub.subentries[porch.subentry_id].title == "Porch"


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
            CONF_STREAM_URL: f"rtsp://127.0.0.1:8554/{name}",
            CONF_DETECTIONS: DETECTIONS_FRIGATE,
            CONF_TOPIC_PREFIX: "frigate",
            CONF_DETECT_WIDTH: size[0],
            CONF_DETECT_HEIGHT: size[1],
        },
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_CAMERA,
        title=name,
        unique_id=f"frigate+{api.url}/{name}",
    )


async def test_refused_login_starts_reauth(
    hass: HomeAssistant, frigate: FrigateApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Frigate refuses the saved login: reauth asks once for the server, fixes every camera."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_DOWNLOAD_MODELS: False},
        subentries_data=[
            _frigate_camera(
                "01JVIGIL00000000000FRIGATE1", frigate, "front_door", "old", (640, 360)
            ),
            _frigate_camera(
                "01JVIGIL00000000000FRIGATE2", frigate, "gate_lpr", "old", (1920, 1080)
            ),
        ],
    )
    entry.add_to_hass(hass)
    cameras, _ = configured(entry)
    async_check_frigate(hass, entry, cameras)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "refuses Vigil's login" in caplog.text
    assert "old" not in caplog.text
    [flow] = entry.async_get_active_flows(hass, {"reauth"})
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "frigate_reauth"
    placeholders = result["description_placeholders"]
    assert (placeholders["camera"], placeholders["url"]) == ("front_door", frigate.url)

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USER, CONF_PASSWORD: "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USER, CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert {s.data[CONF_PASSWORD] for s in entry.subentries.values()} == {PASSWORD}
    assert entry.state is ConfigEntryState.NOT_LOADED  # never stopped for it

    # With the right login, a check finds nothing to ask; a changed detect size is saved.
    caplog.clear()
    assert frigate.config["cameras"]["gate_lpr"]["detect"]["width"] == 1920
    frigate.config["cameras"]["gate_lpr"]["detect"] |= {"width": 1280, "height": 720}
    cameras, _ = configured(entry)
    async_check_frigate(hass, entry, cameras)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not list(entry.async_get_active_flows(hass, {"reauth"}))
    gate = entry.subentries["01JVIGIL00000000000FRIGATE2"].data
    assert (gate[CONF_DETECT_WIDTH], gate[CONF_DETECT_HEIGHT]) == (1280, 720)


async def test_unreachable_server_is_only_logged(
    hass: HomeAssistant, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A Frigate server that does not answer at setup delays nothing and asks for nothing."""
    async with FrigateApi("0.16", username=USER, password=PASSWORD) as api:
        gone = api.url
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_DOWNLOAD_MODELS: False},
        subentries_data=[
            _frigate_camera("01JVIGIL00000000000FRIGATE1", api, "front_door", PASSWORD, (640, 360))
        ],
    )
    entry.add_to_hass(hass)
    cameras, _ = configured(entry)
    async_check_frigate(hass, entry, cameras)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert f"Frigate at {gone} cannot be checked" in caplog.text
    assert not list(entry.async_get_active_flows(hass, {"reauth"}))
