"""Setting up, reloading and unloading the hub; model problems; the engine's configuration."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_URL,
    CONF_USERNAME,
    EVENT_HOMEASSISTANT_STOP,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_DOWNLOAD_MODELS,
    CONF_MODELS_DIR,
    CONF_SOURCE_TYPE,
    CONF_STREAM_URL,
    DOMAIN,
    SOURCE_FRIGATE,
    SOURCE_ONVIF,
    SUBENTRY_CAMERA,
)
from tests.ha.conftest import (
    CAMERA_SLUG,
    ENTRY_ID,
    ZONE_SLUG,
    FakeEngine,
    camera_subentry,
    setup_entry,
    zone_subentry,
)
from vigil_core.errors import ModelChecksumMismatch, ModelMissing, SourceError

RESOLVE = "custom_components.vigil.resolve_model"


async def test_setup_builds_engine_config(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> None:
    """Cameras and zones become engine specs with slug ids derived from subentry ids."""
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    engine = engines[0]
    assert engine.started
    assert engine.config.models_dir == "/models"
    camera = engine.config.cameras[0]
    assert camera.id == CAMERA_SLUG
    assert camera.name == "Front door"
    # The engine keeps the credentials apart and composes them only to open the stream.
    assert camera.source.url == "rtsp://192.0.2.10:554/stream1"
    assert camera.source.address.authenticated() == "rtsp://viewer:s3cret@192.0.2.10:554/stream1"
    assert camera.zones[0].id == ZONE_SLUG
    assert camera.zones[0].classes == ["person", "car"]
    assert config_entry.runtime_data.engine is engine


async def test_unload_stops_engine(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> None:
    """Unloading stops the engine."""
    await setup_entry(hass, config_entry)
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.NOT_LOADED
    assert engines[0].stopped


async def test_stop_event_stops_engine(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> None:
    """Home Assistant stopping stops the engine's threads."""
    await setup_entry(hass, config_entry)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert engines[0].stopped


@pytest.mark.parametrize(
    ("error", "issue_key"),
    [
        (ModelMissing("gone", {"model": "yolox_nano", "file": "yolox_nano.onnx"}), "model_missing"),
        (
            ModelChecksumMismatch("bad", {"model": "yolox_nano", "path": "/m/yolox_nano.onnx"}),
            "model_checksum",
        ),
    ],
)
async def test_model_problem_retries_with_issue(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    error: Exception,
    issue_key: str,
) -> None:
    """A missing or corrupt model retries the setup and raises a repair issue until fixed."""
    config_entry.add_to_hass(hass)
    with patch(RESOLVE, side_effect=error) as resolve:
        await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert resolve.call_args.kwargs["allow_download"] is False
    issue = issue_registry.async_get_issue(DOMAIN, "model")
    assert issue is not None
    assert issue.translation_key == issue_key
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["model"] == "yolox_nano"

    with (
        patch(RESOLVE, return_value=Path("/m/yolox_nano.onnx")),
        patch("custom_components.vigil.Engine", FakeEngine),
    ):
        await hass.config_entries.async_reload(config_entry.entry_id)
        await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, "model") is None


async def test_model_lookup_uses_entry_data(hass: HomeAssistant) -> None:
    """The models folder and the download choice reach the model lookup."""
    entry = MockConfigEntry(
        domain=DOMAIN, data={CONF_MODELS_DIR: "/srv/models", CONF_DOWNLOAD_MODELS: True}
    )
    entry.add_to_hass(hass)
    with (
        patch(RESOLVE, return_value=Path("/srv/models/yolox_nano.onnx")) as resolve,
        patch("custom_components.vigil.Engine", FakeEngine),
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    assert resolve.call_args.args == ("yolox_nano",)
    assert resolve.call_args.kwargs["models_dir"] == "/srv/models"
    assert resolve.call_args.kwargs["allow_download"] is True
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_engine_start_failure_retries(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> None:
    """An engine that cannot start is retried later and leaves nothing running."""
    with patch.object(FakeEngine, "start_error", SourceError("no decoder")):
        config_entry.add_to_hass(hass)
        await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert engines[0].stopped


async def test_sources_of_each_type(hass: HomeAssistant, engines: list[FakeEngine]) -> None:
    """ONVIF streams get the camera's login; Frigate restreams never get the API's."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_DOWNLOAD_MODELS: False},
        subentries_data=[
            ConfigSubentryData(
                data={
                    CONF_SOURCE_TYPE: SOURCE_ONVIF,
                    CONF_HOST: "192.0.2.40",
                    CONF_PORT: 80,
                    CONF_USERNAME: "admin",
                    CONF_PASSWORD: "p w",
                    CONF_STREAM_URL: "rtsp://192.0.2.40:554/sub",
                },
                subentry_id="01JVIGIL0000000000000ONVIF",
                subentry_type=SUBENTRY_CAMERA,
                title="Gate",
                unique_id="onvif://192.0.2.40:80/Profile_2",
            ),
            ConfigSubentryData(
                data={
                    CONF_SOURCE_TYPE: SOURCE_FRIGATE,
                    CONF_URL: "http://192.0.2.50:8971",
                    CONF_USERNAME: "admin",
                    CONF_PASSWORD: "frigate",
                    CONF_STREAM_URL: "rtsp://192.0.2.50:8554/garage",
                },
                subentry_id="01JVIGIL000000000000FRIGATE",
                subentry_type=SUBENTRY_CAMERA,
                title="Garage",
                unique_id="frigate+http://192.0.2.50:8971/garage",
            ),
        ],
    )
    await setup_entry(hass, entry)
    urls = {
        camera.name: camera.source.address.authenticated() for camera in engines[0].config.cameras
    }
    assert urls == {
        "Gate": "rtsp://admin:p%20w@192.0.2.40:554/sub",
        "Garage": "rtsp://192.0.2.50:8554/garage",
    }


async def test_zone_on_removed_camera_is_skipped(
    hass: HomeAssistant, engines: list[FakeEngine], caplog: pytest.LogCaptureFixture
) -> None:
    """A zone whose camera is gone is left out with a warning."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_DOWNLOAD_MODELS: False},
        subentries_data=[zone_subentry(camera="01JVIGIL0000000000000GONE1")],
    )
    await setup_entry(hass, entry)
    assert engines[0].config.cameras == []
    assert "refers to a camera that was removed" in caplog.text


async def test_devices_and_subentry_removal(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    engines: list[FakeEngine],
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The camera's device hangs under the hub; removing the camera removes it."""
    await setup_entry(hass, config_entry)
    hub = device_registry.async_get_device(identifiers={(DOMAIN, ENTRY_ID)})
    camera = device_registry.async_get_device(identifiers={(DOMAIN, f"{ENTRY_ID}_{CAMERA_SLUG}")})
    assert hub is not None
    assert camera is not None
    assert camera.via_device_id == hub.id
    assert hub.sw_version == version("vigil-analytics")
    assert camera.name == "Front door"
    assert er.async_entries_for_device(entity_registry, camera.id)

    zone_id = next(s for s in config_entry.subentries.values() if s.title == "Driveway").subentry_id
    hass.config_entries.async_remove_subentry(config_entry, zone_id)
    await hass.async_block_till_done()
    remaining = {e.unique_id for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)}
    assert not any(ZONE_SLUG in unique_id for unique_id in remaining)

    camera_id = next(s for s in config_entry.subentries.values()).subentry_id
    hass.config_entries.async_remove_subentry(config_entry, camera_id)
    await hass.async_block_till_done()
    assert (
        device_registry.async_get_device(identifiers={(DOMAIN, f"{ENTRY_ID}_{CAMERA_SLUG}")})
        is None
    )
    # Only the hub's own entity (the impact assessment button) remains.
    assert [e.unique_id for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)] == [
        f"{ENTRY_ID}_impact_assessment"
    ]


async def test_remove_entry_clears_issues(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    engines: list[FakeEngine],
    issue_registry: ir.IssueRegistry,
) -> None:
    """Deleting the hub deletes its repair issues."""
    await setup_entry(hass, config_entry)
    ir.async_create_issue(
        hass, DOMAIN, "stream_x", is_fixable=False, severity=ir.IssueSeverity.WARNING,
        translation_key="stream_unreachable",
    )  # fmt: skip
    ir.async_create_issue(
        hass, "other", "keep", is_fixable=False, severity=ir.IssueSeverity.WARNING,
        translation_key="x",
    )  # fmt: skip
    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "stream_x") is None
    assert issue_registry.async_get_issue("other", "keep") is not None


async def test_second_camera_gets_own_device(
    hass: HomeAssistant, engines: list[FakeEngine], device_registry: dr.DeviceRegistry
) -> None:
    """Each camera is its own device."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        entry_id=ENTRY_ID,
        data={CONF_DOWNLOAD_MODELS: False},
        subentries_data=[
            camera_subentry(),
            camera_subentry("01JVIGIL00000000000CAMERA2", "Back door", "rtsp://192.0.2.11/s"),
        ],
    )
    await setup_entry(hass, entry)
    devices = dr.async_entries_for_config_entry(device_registry, ENTRY_ID)
    assert sorted(d.name or "" for d in devices) == ["Back door", "Front door", "Vigil"]
