"""Hub config flow, its reconfigure flow and the options flow."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.vigil.const import (
    CONF_ANALYSIS_FPS,
    CONF_CONFIDENCE,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    CONF_MODELS_DIR,
    CONF_MOTION_GATING,
    DOMAIN,
)
from tests.ha.conftest import FakeEngine, setup_entry
from vigil_core.errors import ModelChecksumMismatch, ModelMissing

RESOLVE = "custom_components.vigil.validation.resolve_model"
PRIVATE_HOME = {CONF_DEPLOYMENT_CONTEXT: "private_home"}


@pytest.fixture
def model_found() -> Path:
    """Pretend the detector model is found and verified."""
    with patch(RESOLVE, return_value=Path("/models/yolox_nano.onnx")):
        yield Path("/models/yolox_nano.onnx")


async def test_user_creates_hub(
    hass: HomeAssistant, model_found: Path, engines: list[FakeEngine]
) -> None:
    """The hub is created with the models folder, the download choice and the context."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODELS_DIR: " /tmp ", CONF_DOWNLOAD_MODELS: False}
    )
    assert result["step_id"] == "context"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "private_premises"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Vigil"
    assert result["data"] == {
        CONF_MODELS_DIR: "/tmp",
        CONF_DOWNLOAD_MODELS: False,
        CONF_DEPLOYMENT_CONTEXT: "private_premises",
    }
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("user_input", "side_effect", "field", "error"),
    [
        ({CONF_MODELS_DIR: "/no/such/folder"}, None, CONF_MODELS_DIR, "models_dir_not_found"),
        ({CONF_DOWNLOAD_MODELS: False}, ModelMissing("gone"), "base", "model_missing"),
        ({CONF_DOWNLOAD_MODELS: True}, ModelChecksumMismatch("bad"), "base", "model_checksum"),
    ],
)
async def test_user_errors_then_recovers(
    hass: HomeAssistant,
    engines: list[FakeEngine],
    user_input: dict[str, object],
    side_effect: Exception | None,
    field: str,
    error: str,
) -> None:
    """Each model problem is a form error; fixing it creates the hub."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(RESOLVE, side_effect=side_effect):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DOWNLOAD_MODELS: True, **user_input}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    assert not hass.config_entries.async_entries(DOMAIN)

    with patch(RESOLVE, return_value=Path("/models/yolox_nano.onnx")):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DOWNLOAD_MODELS: True}
        )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], PRIVATE_HOME)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_missing_model_is_fine_when_downloads_are_on(
    hass: HomeAssistant, engines: list[FakeEngine]
) -> None:
    """Downloads on: a model found nowhere is fetched at setup, so the flow accepts it."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(RESOLVE, side_effect=ModelMissing("gone")):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DOWNLOAD_MODELS: True}
        )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], PRIVATE_HOME)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_single_instance(hass: HomeAssistant, config_entry: MockConfigEntry) -> None:
    """A second hub is refused."""
    config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "single_instance_allowed"


async def test_reconfigure_hub(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine], tmp_path: Path
) -> None:
    """The models folder can be changed; a bad one is refused first."""
    await setup_entry(hass, config_entry)
    result = await config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_MODELS_DIR: str(tmp_path / "missing"), CONF_DOWNLOAD_MODELS: True, **PRIVATE_HOME},
    )
    assert result["errors"] == {CONF_MODELS_DIR: "models_dir_not_found"}

    with patch(RESOLVE, return_value=tmp_path / "yolox_nano.onnx"):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_MODELS_DIR: str(tmp_path), CONF_DOWNLOAD_MODELS: False, **PRIVATE_HOME},
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert config_entry.data == {
        CONF_MODELS_DIR: str(tmp_path),
        CONF_DOWNLOAD_MODELS: False,
        **PRIVATE_HOME,
    }
    assert len(engines) == 2  # reloaded


async def test_options(
    hass: HomeAssistant, config_entry: MockConfigEntry, engines: list[FakeEngine]
) -> None:
    """Options change the engine's rate, confidence and gating, and reload it."""
    await setup_entry(hass, config_entry)
    assert engines[0].config.cameras[0].fps == 5.0

    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_ANALYSIS_FPS: 2.5, CONF_CONFIDENCE: 0.4, CONF_MOTION_GATING: False},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    config = engines[-1].config
    assert len(engines) == 2
    assert config.cameras[0].fps == 2.5
    assert config.cameras[0].motion.enabled is False
    assert config.detector.confidence == 0.4
