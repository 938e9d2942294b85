"""Privacy in Home Assistant: context gating in flows, repairs, access log, actions, retention."""

from __future__ import annotations

from datetime import timedelta
import json
import os
from pathlib import Path
import time
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_fire_time_changed,
    async_mock_service,
)
import voluptuous as vol

from custom_components.vigil.const import (
    CONF_ACKNOWLEDGED_BY,
    CONF_ACKNOWLEDGEMENTS,
    CONF_CAMERA,
    CONF_CHANGE_REASON,
    CONF_CLASSES,
    CONF_CONFIRM,
    CONF_CONTROLLER,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_DOWNLOAD_MODELS,
    CONF_INERTIA,
    CONF_JUSTIFICATION,
    CONF_LEGAL_BASIS,
    CONF_MIN_DWELL,
    CONF_MODELS_DIR,
    CONF_POLYGON,
    CONF_RETENTION,
    DOMAIN,
    SUBENTRY_ZONE,
)
from custom_components.vigil.privacy import DATA_ACCESS_LOG
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ENTRY_ID,
    ZONE_POLYGON,
    FakeEngine,
    camera_subentry,
    fake_frame,
    setup_entry,
)

DWELL_ZONE_ID = "01JVIGIL00000000000ZONEDW"
JUSTIFICATION = "Repeated assaults at the bus stop at night, reported by the police."


def hub(context: str | None, *subentries: ConfigSubentryData) -> MockConfigEntry:
    data: dict[str, Any] = {CONF_DOWNLOAD_MODELS: False}
    if context is not None:
        data[CONF_DEPLOYMENT_CONTEXT] = context
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        entry_id=ENTRY_ID,
        data=data,
        subentries_data=[camera_subentry(), *subentries],
    )


def dwell_zone(acknowledgements: dict[str, Any] | None = None) -> ConfigSubentryData:
    data: dict[str, Any] = {
        CONF_CAMERA: CAMERA_ID,
        CONF_POLYGON: ZONE_POLYGON,
        CONF_CLASSES: ["person"],
        CONF_INERTIA: 3,
        CONF_MIN_DWELL: 60.0,
    }
    if acknowledgements is not None:
        data[CONF_ACKNOWLEDGEMENTS] = acknowledgements
    return ConfigSubentryData(
        data=data,
        subentry_id=DWELL_ZONE_ID,
        subentry_type=SUBENTRY_ZONE,
        title="Bus stop",
        unique_id=None,
    )


def log_entries(hass: HomeAssistant) -> list[dict[str, Any]]:
    return hass.data[DATA_ACCESS_LOG].entries()


async def zone_flow_to_save(
    hass: HomeAssistant, entry: MockConfigEntry, dwell: float
) -> dict[str, Any]:
    """Run the zone flow up to the preview and choose save."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ZONE), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Bus stop", CONF_CAMERA: CAMERA_ID}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_POLYGON: "0.2,0.2 0.8,0.2 0.8,0.8 0.2,0.8",
            CONF_CLASSES: ["person"],
            CONF_INERTIA: 2,
            CONF_MIN_DWELL: dwell,
        },
    )
    assert result["step_id"] == "preview"
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "save"}
    )


# --- the hub's flows --------------------------------------------------------------------------


async def test_context_is_chosen_at_setup_and_logged(
    hass: HomeAssistant, engines: list[FakeEngine]
) -> None:
    with patch(
        "custom_components.vigil.validation.resolve_model",
        return_value=Path("/models/yolox_nano.onnx"),
    ):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DOWNLOAD_MODELS: True}
        )
    assert result["step_id"] == "context"
    # No default: the person chooses.
    [marker] = result["data_schema"].schema
    assert marker.default is vol.UNDEFINED
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "public_space"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_DEPLOYMENT_CONTEXT] == "public_space"
    await hass.async_block_till_done()
    [entry] = log_entries(hass)
    assert entry["action"] == "context_change"
    assert entry["details"] == {"from": None, "to": "public_space"}
    assert entry["actor"]["name"] == "settings (administrator)"
    assert engines[-1].config.privacy.context == "public_space"


async def test_context_change_needs_a_reason_and_is_logged(
    hass: HomeAssistant, engines: list[FakeEngine], tmp_path: Path
) -> None:
    entry = hub("private_premises")
    await setup_entry(hass, entry)
    result = await entry.start_reconfigure_flow(hass)
    form = {CONF_MODELS_DIR: "", CONF_DOWNLOAD_MODELS: False}
    with patch("custom_components.vigil.validation.resolve_model", return_value=tmp_path):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], form | {CONF_DEPLOYMENT_CONTEXT: "public_space"}
        )
        assert result["errors"] == {CONF_CHANGE_REASON: "reason_required"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            form
            | {CONF_DEPLOYMENT_CONTEXT: "public_space", CONF_CHANGE_REASON: "Moved to the square"},
        )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_DEPLOYMENT_CONTEXT] == "public_space"
    [logged] = log_entries(hass)
    assert logged["action"] == "context_change"
    assert logged["reason"] == "Moved to the square"
    assert logged["details"] == {"from": "private_premises", "to": "public_space"}
    assert engines[-1].config.privacy.context == "public_space"


async def test_retention_and_controller_options(
    hass: HomeAssistant, engines: list[FakeEngine]
) -> None:
    entry = hub("private_premises")
    await setup_entry(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    # The sections show the current values (the defaults).
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "analysis_fps": 5,
            "confidence": 0.25,
            "motion_gating": True,
            CONF_RETENTION: {
                "snapshots": 3.0,
                "access_log": 400.0,
                CONF_CHANGE_REASON: "DPO advice",
            },
            CONF_CONTROLLER: {"name": " ACME Parking ", "contact": "dpo@acme.example"},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    retention = entry.options[CONF_RETENTION]
    assert retention["snapshots"] == 3 and retention["access_log"] == 400
    assert retention["events"] == 30 and CONF_CHANGE_REASON not in retention
    assert entry.options[CONF_CONTROLLER] == {
        "name": "ACME Parking",
        "contact": "dpo@acme.example",
        "dpo_contact": "",
    }
    privacy = engines[-1].config.privacy
    assert privacy.retention.snapshots == 3 and privacy.controller.name == "ACME Parking"
    assert engines[-1].retention.spec.access_log == 400
    [logged] = log_entries(hass)
    assert logged["action"] == "retention_change"
    assert logged["reason"] == "DPO advice"
    assert logged["details"] == {
        "snapshots": {"from": 7, "to": 3},
        "access_log": {"from": 365, "to": 400},
    }


# --- gating in a subentry flow ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "dwell", "gated"),
    [
        ("public_space", 30, True),
        ("public_space", 0, False),
        ("private_premises", 30, False),
        ("private_home", 30, False),
    ],
)
async def test_zone_flow_gates_loitering_by_context(
    hass: HomeAssistant,
    engines: list[FakeEngine],
    context: str,
    dwell: float,
    gated: bool,
) -> None:
    entry = hub(context)
    await setup_entry(hass, entry)
    engines[-1].frames[CAMERA_SLUG] = fake_frame()
    result = await zone_flow_to_save(hass, entry, dwell)
    if not gated:
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert CONF_ACKNOWLEDGEMENTS not in result["data"]
        return
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "acknowledge"
    assert result["description_placeholders"] == {
        "detectors": "Loitering",
        "context": "Public space",
    }
    answer = {
        CONF_LEGAL_BASIS: "public_task",
        CONF_JUSTIFICATION: "too short",
        CONF_ACKNOWLEDGED_BY: "Alice Martin",
        CONF_CONFIRM: True,
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], answer)
    assert result["errors"] == {CONF_JUSTIFICATION: "justification_too_short"}
    answer[CONF_JUSTIFICATION] = JUSTIFICATION
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], answer | {CONF_ACKNOWLEDGED_BY: "  "}
    )
    assert result["errors"] == {CONF_ACKNOWLEDGED_BY: "name_required"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], answer | {CONF_CONFIRM: False}
    )
    assert result["errors"] == {CONF_CONFIRM: "confirm_required"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], answer)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    ack = result["data"][CONF_ACKNOWLEDGEMENTS]["loitering"]
    assert ack["legal_basis"] == "public_task"
    assert ack["justification"] == JUSTIFICATION
    assert ack["by"] == "Alice Martin"
    assert ack["context"] == "public_space"
    await hass.async_block_till_done()
    [logged] = log_entries(hass)
    assert logged["action"] == "acknowledgement"
    assert logged["actor"]["name"] == "Alice Martin"
    assert logged["target"] == "loitering"
    assert logged["reason"] == JUSTIFICATION
    # The reloaded engine runs the zone, with its acknowledgement.
    config = engines[-1].config
    assert [z.min_dwell_s for z in config.cameras[0].zones] == [30.0]
    assert next(iter(config.privacy.acknowledgements.values())).by == "Alice Martin"


async def test_reconfigure_keeps_a_given_acknowledgement(
    hass: HomeAssistant, engines: list[FakeEngine]
) -> None:
    ack = {
        "detector": "loitering",
        "legal_basis": "public_task",
        "justification": JUSTIFICATION,
        "by": "Alice Martin",
        "at": "2025-05-02T10:00:00+00:00",
        "context": "public_space",
    }
    entry = hub("public_space", dwell_zone({"loitering": ack}))
    await setup_entry(hass, entry)
    engines[-1].frames[CAMERA_SLUG] = fake_frame()
    result = await entry.start_subentry_reconfigure_flow(hass, SUBENTRY_ZONE, DWELL_ZONE_ID)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Bus stop", CONF_CAMERA: CAMERA_ID}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_POLYGON: "0.1,0.1 0.9,0.1 0.9,0.9", CONF_CLASSES: ["person"], CONF_INERTIA: 2,
         CONF_MIN_DWELL: 45},
    )  # fmt: skip
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "save"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[DWELL_ZONE_ID]
    assert subentry.data[CONF_ACKNOWLEDGEMENTS] == {"loitering": ack}
    assert subentry.data[CONF_MIN_DWELL] == 45
    assert log_entries(hass) == []


# --- repairs and enforcement ------------------------------------------------------------------


async def test_held_back_detector_raises_an_issue_and_does_not_run(
    hass: HomeAssistant,
    engines: list[FakeEngine],
    issue_registry: ir.IssueRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = hub("public_space", dwell_zone())
    await setup_entry(hass, entry)
    issue = issue_registry.async_get_issue(DOMAIN, "privacy_01jvigil00000000000zonedw_loitering")
    assert issue is not None
    assert issue.translation_key == "detector_held_back"
    assert issue.translation_placeholders == {
        "name": "Bus stop",
        "detector": "Loitering",
        "camera": "Front door",
        "context": "Public space",
    }
    # Neither an engine rule nor entities for the held-back zone.
    assert engines[-1].config.cameras[0].zones == []
    assert entry.runtime_data.zones == {}
    unique_ids = {e.unique_id for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)}
    assert not any(DWELL_ZONE_ID.lower() in unique_id for unique_id in unique_ids)

    # Private premises allow it: the issue goes, the zone runs.
    hass.config_entries.async_update_entry(
        entry, data=entry.data | {CONF_DEPLOYMENT_CONTEXT: "private_premises"}
    )
    await hass.async_block_till_done()
    assert (
        issue_registry.async_get_issue(DOMAIN, "privacy_01jvigil00000000000zonedw_loitering")
        is None
    )
    assert [z.id for z in engines[-1].config.cameras[0].zones] == [DWELL_ZONE_ID.lower()]


async def test_undeclared_context_raises_an_issue(
    hass: HomeAssistant, engines: list[FakeEngine], issue_registry: ir.IssueRegistry
) -> None:
    entry = hub(None, dwell_zone())
    await setup_entry(hass, entry)
    issue = issue_registry.async_get_issue(DOMAIN, "privacy_context_missing")
    assert issue is not None and issue.translation_key == "context_missing"
    assert [z.min_dwell_s for z in engines[-1].config.cameras[0].zones] == [60.0]


# --- services ---------------------------------------------------------------------------------


@pytest.fixture
async def loaded(hass: HomeAssistant, engines: list[FakeEngine]) -> MockConfigEntry:
    entry = hub("private_premises")
    await setup_entry(hass, entry)
    return entry


async def test_sensitive_services_refuse_non_admin_users(
    hass: HomeAssistant, loaded: MockConfigEntry, hass_read_only_user: MockUser
) -> None:
    context = Context(user_id=hass_read_only_user.id)
    for service, data in (
        ("verify_access_log", {}),
        ("export_access_log", {"reason": "curious"}),
        ("generate_impact_assessment", {}),
    ):
        with pytest.raises(Unauthorized) as err:
            await hass.services.async_call(
                DOMAIN, service, data, blocking=True, context=context, return_response=True
            )
        assert err.value.translation_key == "admin_required"
        assert str(err.value).startswith("Only an administrator can do this")
    assert log_entries(hass) == []


async def test_button_refuses_non_admin_users(
    hass: HomeAssistant, loaded: MockConfigEntry, hass_read_only_user: MockUser
) -> None:
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": "button.vigil_write_the_impact_assessment"},
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
        )


async def test_verify_export_and_tamper_detection(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    hass_admin_user: MockUser,
    privacy_folder: Path,
) -> None:
    context = Context(user_id=hass_admin_user.id)
    response = await hass.services.async_call(
        DOMAIN, "verify_access_log", {"reason": "monthly"}, blocking=True, context=context,
        return_response=True,
    )  # fmt: skip
    assert response is not None
    assert response["ok"] is True and response["entries"] == 0
    response = await hass.services.async_call(
        DOMAIN, "export_access_log", {"reason": "DPO request"}, blocking=True, context=context,
        return_response=True,
    )  # fmt: skip
    assert response is not None
    path = Path(str(response["path"]))
    assert path.parent == privacy_folder / "vigil" / "exports"
    exported = json.loads(await hass.async_add_executor_job(path.read_text))
    assert [e["action"] for e in exported["entries"]] == ["log_verify", "log_export"]
    assert exported["entries"][1]["actor"] == {
        "user_id": hass_admin_user.id,
        "name": hass_admin_user.name,
        "is_admin": True,
    }
    assert exported["entries"][1]["reason"] == "DPO request"
    assert exported["verification"]["ok"] is True

    # Someone edits the reason of the first entry in the file: the check finds it.
    log_file = privacy_folder / ".storage" / "vigil" / "access_log.jsonl"
    lines = log_file.read_text().splitlines()
    lines[0] = lines[0].replace("monthly", "nothing")
    log_file.write_text("\n".join(lines) + "\n")
    response = await hass.services.async_call(
        DOMAIN, "verify_access_log", {}, blocking=True, context=context, return_response=True
    )
    assert response is not None
    assert response["ok"] is False
    assert response["first_broken"] == 0
    assert response["reason"] == "content does not match its hash"


async def test_generate_documents_by_service_and_button(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    hass_admin_user: MockUser,
    privacy_folder: Path,
) -> None:
    context = Context(user_id=hass_admin_user.id)
    response = await hass.services.async_call(
        DOMAIN, "generate_impact_assessment", {"reason": "new camera"}, blocking=True,
        context=context, return_response=True,
    )  # fmt: skip
    assert response is not None
    files = sorted(Path(p).name for p in response["files"])  # type: ignore[union-attr]
    assert len(files) == 12 and "impact_assessment.fr.pdf" in files
    folder = privacy_folder / "vigil" / "documents"
    french = (folder / "impact_assessment.fr.md").read_text()
    assert "Locaux privés. Les caméras filment les locaux" in french
    assert "### Caméra « Front door »" in french
    assert "Administrateurs de Home Assistant (1)" in french
    assert "refusés aux utilisateurs qui ne sont pas administrateurs" in french
    assert (folder / "signage.en.pdf").read_bytes().startswith(b"%PDF-")

    for path in folder.iterdir():
        path.unlink()
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": "button.vigil_write_the_impact_assessment"},
        blocking=True,
        context=context,
    )
    await hass.async_block_till_done()
    assert (folder / "record_of_processing.en.md").exists()
    assert [e["action"] for e in log_entries(hass)] == ["assessment", "assessment"]
    state = hass.states.get("button.vigil_write_the_impact_assessment")
    assert state is not None and state.attributes["folder"] == "vigil/documents"


async def test_services_need_a_loaded_hub(hass: HomeAssistant, engines: list[FakeEngine]) -> None:
    entry = hub("private_home")
    await setup_entry(hass, entry)
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "verify_access_log", {}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "not_loaded"


# --- retention --------------------------------------------------------------------------------


async def test_periodic_purge_of_files_log_and_recorder_history(
    hass: HomeAssistant, loaded: MockConfigEntry, privacy_folder: Path
) -> None:
    purges = async_mock_service(hass, "recorder", "purge_entities")
    old = time.time() - 40 * 86400
    exports = privacy_folder / "vigil" / "exports"
    snapshots = privacy_folder / "vigil" / "snapshots" / "cam"
    for folder, name in ((exports, "old.json"), (exports, "new.json"), (snapshots, "old.jpg")):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    os.utime(exports / "old.json", (old, old))
    os.utime(snapshots / "old.jpg", (old, old))

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=301))
    await hass.async_block_till_done(wait_background_tasks=True)

    assert sorted(p.name for p in exports.iterdir()) == ["new.json"]
    assert not (snapshots / "old.jpg").exists()
    assert len(purges) == 1
    assert purges[0].data["keep_days"] == 30
    assert "button.vigil_write_the_impact_assessment" in purges[0].data["entity_id"]
    runtime = loaded.runtime_data.privacy
    assert runtime is not None and runtime.retention.last_purge is not None
    assert runtime.retention.last_purge.removed["access_log_exports"] == 1

    # And again every 6 hours.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=6, seconds=302))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(purges) == 2
