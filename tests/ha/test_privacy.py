"""Privacy through a real server: context, retention, held-back detectors, actions, purges.

The deployment context, the retention and the controller are the entry's; the server runs the
rules that use them and keeps the access log. Home Assistant raises the repair issues of what
the context holds back, carries out the access-log actions for administrators, and purges what
Vigil leaves on its side (the recorder's history of Vigil's entities, exports and documents).
The privacy gate in the zone and rule forms is tested with those forms.
"""

from __future__ import annotations

from datetime import date, timedelta
import json
import os
from pathlib import Path
import time
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_SSL, CONF_VERIFY_SSL
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

from custom_components.vigil import privacy_flow
from custom_components.vigil.const import (
    CONF_ACKNOWLEDGEMENTS,
    CONF_CAMERA,
    CONF_CHANGE_REASON,
    CONF_CLASSES,
    CONF_CONTROLLER,
    CONF_DEPLOYMENT_CONTEXT,
    CONF_INERTIA,
    CONF_MIN_DWELL,
    CONF_PAPERWORK,
    CONF_POLYGON,
    CONF_RETENTION,
    CONF_TOKEN,
    DOMAIN,
    SUBENTRY_ZONE,
)
from custom_components.vigil.issues import context_issue_id, paperwork_issue_id
from custom_components.vigil.privacy_flow import retention_days
from custom_components.vigil.server_config import SUBENTRY_PLATE_READING
from tests.ha.conftest import (
    CAMERA_SLUG,
    ENTRY_ID,
    ZONE_POLYGON,
    camera_subentry,
    camera_uid_of,
    server_data,
    setup_entry,
    wait_until,
)
from vigil_core.server import VigilServer

DWELL_ZONE_ID = "01JVIGIL00000000000ZONEDW"
DWELL_ZONE_SLUG = DWELL_ZONE_ID.lower()
HELD_ISSUE = f"privacy_{ENTRY_ID}_{DWELL_ZONE_SLUG}_loitering"
JUSTIFICATION = "Repeated assaults at the bus stop at night, reported by the police."
ASSESSMENT = "button.vigil_write_the_impact_assessment"
ANALYSIS = {"analysis_fps": 5, "confidence": 0.25, "motion_gating": True}
PAPERWORK = {
    "assessment_reference": " DPIA-2026-04 ",
    "assessment_date": "2026-03-02",
    "authorisation_reference": "Prefectoral order 2026-117",
    "signs_posted": True,
}


def dwell_zone(acknowledgements: dict[str, Any] | None = None) -> ConfigSubentryData:
    """Return a zone that reports loitering (a dwell time), gated in public space."""
    data: dict[str, Any] = {
        CONF_CAMERA: "01JVIGIL00000000000CAMERA1",
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


def server_entry(
    server: VigilServer, url: str, context: str | None, *subentries: ConfigSubentryData
) -> MockConfigEntry:
    """Return a server entry with its camera (and more subentries) in a deployment context."""
    data = server_data(server)
    if context is None:
        data.pop(CONF_DEPLOYMENT_CONTEXT)
    else:
        data[CONF_DEPLOYMENT_CONTEXT] = context
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil",
        entry_id=ENTRY_ID,
        version=2,
        unique_id=server.server_id,
        data=data,
        subentries_data=[camera_subentry(url), *subentries],
    )


async def log_entries(hass: HomeAssistant, server: VigilServer) -> list[dict[str, Any]]:
    """Return the server's access log."""
    assert server.access_log is not None
    return await hass.async_add_executor_job(server.access_log.entries)


@pytest.fixture
def privacy_folder(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Keep Home Assistant's configuration folder (its vigil/ folder) in tmp_path."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path


# --- the server entry's context, retention and controller --------------------------------------


async def test_context_is_chosen_at_setup_and_logged(
    hass: HomeAssistant, vigil_server: VigilServer
) -> None:
    """The person chooses the context (no default); the server's log and config have it."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: vigil_server.port,
            CONF_TOKEN: vigil_server.token,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        },
    )
    assert result["step_id"] == "context"
    [marker] = result["data_schema"].schema
    assert marker.default is vol.UNDEFINED
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEPLOYMENT_CONTEXT: "public_space"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_DEPLOYMENT_CONTEXT] == "public_space"
    await hass.async_block_till_done()
    [logged] = await log_entries(hass, vigil_server)
    assert logged["action"] == "context_change"
    assert logged["details"] == {"from": None, "to": "public_space"}
    assert logged["actor"]["name"] == "settings (administrator)"
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.privacy.context == "public_space"


async def test_context_change_needs_a_reason_and_is_logged(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Changing the context asks why; the change and its reason are in the server's log."""
    entry = server_entry(vigil_server, pattern_stream, "private_premises")
    await setup_entry(hass, entry)
    result = await entry.start_reconfigure_flow(hass)
    form = {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: vigil_server.port,
        CONF_TOKEN: vigil_server.token,
        CONF_SSL: False,
        CONF_VERIFY_SSL: True,
        CONF_DEPLOYMENT_CONTEXT: "public_space",
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["errors"] == {CONF_CHANGE_REASON: "reason_required"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form | {CONF_CHANGE_REASON: "Moved to the square"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_DEPLOYMENT_CONTEXT] == "public_space"
    [logged] = await log_entries(hass, vigil_server)
    assert (logged["action"], logged["reason"]) == ("context_change", "Moved to the square")
    assert logged["details"] == {"from": "private_premises", "to": "public_space"}
    assert vigil_server.engine is not None
    await wait_until(
        hass,
        lambda: (
            vigil_server.engine is not None
            and vigil_server.engine.config.privacy.context == "public_space"
        ),
        "the server in public space",
    )


async def test_retention_and_controller_reach_the_server(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """The options' retention and controller run on the server; a retention change is logged."""
    entry = server_entry(vigil_server, pattern_stream, "private_premises")
    await setup_entry(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
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
    assert (retention["snapshots"], retention["access_log"], retention["events"]) == (3, 400, 30)
    assert CONF_CHANGE_REASON not in retention
    await wait_until(
        hass,
        lambda: (
            vigil_server.engine is not None
            and vigil_server.engine.config.privacy.retention.snapshots == 3
        ),
        "the retention on the server",
    )
    assert vigil_server.engine is not None
    privacy = vigil_server.engine.config.privacy
    assert privacy.controller.name == "ACME Parking"
    assert vigil_server.engine.retention.spec.access_log == 400
    [logged] = await log_entries(hass, vigil_server)
    assert (logged["action"], logged["reason"]) == ("retention_change", "DPO advice")
    assert logged["details"] == {"snapshots": [7, 3], "access_log": [365, 400]}


async def test_paperwork_reaches_the_server_and_is_logged(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """The paperwork runs on the server; a reference too long is refused, a change is logged."""
    entry = server_entry(vigil_server, pattern_stream, "private_premises")
    await setup_entry(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    too_long = PAPERWORK | {"authorisation_reference": "x" * 201}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], ANALYSIS | {CONF_PAPERWORK: too_long}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "reference_too_long"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        ANALYSIS | {CONF_PAPERWORK: PAPERWORK | {CONF_CHANGE_REASON: "Signed by the mayor"}},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    expected = PAPERWORK | {"assessment_reference": "DPIA-2026-04"}
    assert entry.options[CONF_PAPERWORK] == expected
    await wait_until(
        hass,
        lambda: (vigil_server.raw_config or {}).get("privacy", {}).get("paperwork") == expected,
        "the paperwork in the server's configuration",
    )
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.privacy.paperwork.assessment_date == date(2026, 3, 2)
    [logged] = await log_entries(hass, vigil_server)
    assert (logged["action"], logged["reason"]) == ("paperwork_change", "Signed by the mayor")
    assert logged["details"] == {
        "assessment_reference": ["", "DPIA-2026-04"],
        "assessment_date": [None, "2026-03-02"],
        "authorisation_reference": ["", "Prefectoral order 2026-117"],
        "signs_posted": [False, True],
    }


async def test_public_space_without_paperwork_raises_an_issue_until_it_is_filled(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The server says what a public space lacks; the issue names it, and goes once filled."""
    entry = server_entry(vigil_server, pattern_stream, "public_space")
    await setup_entry(hass, entry)
    issue_id = paperwork_issue_id(ENTRY_ID)

    def missing() -> str | None:
        issue = issue_registry.async_get_issue(DOMAIN, issue_id)
        return None if issue is None else (issue.translation_placeholders or {}).get("missing")

    await wait_until(hass, lambda: missing() is not None, "the paperwork issue")
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.translation_key == "paperwork_missing"
    assert issue.translation_placeholders == {
        "server": "Vigil",
        "missing": "Signs posted, Impact assessment reference, Authorisation reference",
    }

    # Signs posted: the references are still missing, named in Home Assistant's language.
    hass.config.language = "fr"
    hass.config_entries.async_update_entry(entry, options={CONF_PAPERWORK: {"signs_posted": True}})
    await hass.async_block_till_done()
    await wait_until(
        hass,
        lambda: missing() == "Référence de l'analyse d'impact, Référence de l'autorisation",
        "the references still missing",
    )

    # Everything recorded through the options form: the issue goes.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], ANALYSIS | {CONF_PAPERWORK: PAPERWORK}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None, "the issue gone"
    )


async def test_paperwork_is_not_asked_outside_public_space(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Private premises need no paperwork issue (the server decides, and says nothing)."""
    entry = server_entry(vigil_server, pattern_stream, "private_premises")
    await setup_entry(hass, entry)
    assert entry.runtime_data.store.applied is not None
    assert entry.runtime_data.store.applied.paperwork_missing == ()
    assert issue_registry.async_get_issue(DOMAIN, paperwork_issue_id(ENTRY_ID)) is None


def test_plate_hashes_never_outlive_plate_texts() -> None:
    """The options' retention keeps plate hashes no longer than plate texts (issue 21)."""
    assert retention_days({})["plate_hashes"] == retention_days({})["plate_reads"] == 7
    days = retention_days({CONF_RETENTION: {"plate_reads": 5, "plate_hashes": 90}})
    assert (days["plate_reads"], days["plate_hashes"]) == (5, 5)
    days = retention_days({CONF_RETENTION: {"plate_reads": 20, "plate_hashes": 3}})
    assert (days["plate_reads"], days["plate_hashes"]) == (20, 3)


async def test_an_older_plate_hash_retention_is_clamped_for_the_server(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Saved before the bounds changed (hashes 30 days, texts 7): the server still takes it."""
    entry = server_entry(vigil_server, pattern_stream, "private_premises")
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={CONF_RETENTION: {"plate_reads": 7, "plate_hashes": 30, "snapshots": 3}}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert vigil_server.engine is not None
    retention = vigil_server.engine.config.privacy.retention
    assert (retention.plate_reads, retention.plate_hashes, retention.snapshots) == (7, 7, 3)

    # The options form saves what the server runs: hashes no longer than texts.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "analysis_fps": 5,
            "confidence": 0.25,
            "motion_gating": True,
            CONF_RETENTION: {"plate_reads": 10.0, "plate_hashes": 20.0, CONF_CHANGE_REASON: "DPO"},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    saved = entry.options[CONF_RETENTION]
    assert (saved["plate_reads"], saved["plate_hashes"]) == (10, 10)


# --- what the context holds back ---------------------------------------------------------------


async def test_held_back_detector_raises_an_issue_and_has_no_entities(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    issue_registry: ir.IssueRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Loitering in public space without a legal basis: not run, no entity, a repair issue."""
    entry = server_entry(vigil_server, pattern_stream, "public_space", dwell_zone())
    await setup_entry(hass, entry)
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, HELD_ISSUE) is not None, "the issue"
    )
    issue = issue_registry.async_get_issue(DOMAIN, HELD_ISSUE)
    assert issue is not None
    assert issue.translation_key == "detector_held_back"
    assert issue.translation_placeholders == {
        "name": "Bus stop",
        "detector": "Loitering",
        "camera": "Front door",
        "context": "Public space",
    }
    # Neither a running zone on the server nor entities for it.
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.cameras[0].zones == []
    unique_ids = {e.unique_id for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)}
    assert not any(DWELL_ZONE_SLUG in unique_id for unique_id in unique_ids)

    # Private premises allow it: the issue goes, the zone runs and has its entities.
    hass.config_entries.async_update_entry(
        entry, data=entry.data | {CONF_DEPLOYMENT_CONTEXT: "private_premises"}
    )
    await hass.async_block_till_done()
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, HELD_ISSUE) is None, "gone"
    )
    assert [z.id for z in vigil_server.engine.config.cameras[0].zones] == [DWELL_ZONE_SLUG]
    unique_ids = {e.unique_id for e in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)}
    assert f"{camera_uid_of(hass)}_{DWELL_ZONE_SLUG}_occupied" in unique_ids


async def test_held_back_issue_is_named_in_french(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The server names the detector and the context in Home Assistant's language."""
    hass.config.language = "fr"
    await setup_entry(
        hass, server_entry(vigil_server, pattern_stream, "public_space", dwell_zone())
    )
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, HELD_ISSUE) is not None, "the issue"
    )
    issue = issue_registry.async_get_issue(DOMAIN, HELD_ISSUE)
    assert issue is not None and issue.translation_placeholders is not None
    assert issue.translation_placeholders["context"] == "Espace public"
    assert issue.translation_placeholders["detector"] != "Loitering"


async def test_undeclared_context_holds_back_what_a_home_would(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """No context: a home's rules apply; hashed plates are saved unacknowledged and held back.

    The zone (loitering, allowed at home) runs; the plate reading form asks no legal basis
    against an unknown context; both issues point at the context and go once it is declared.
    """
    entry = server_entry(vigil_server, pattern_stream, None, dwell_zone())
    await setup_entry(hass, entry)
    issue = issue_registry.async_get_issue(DOMAIN, context_issue_id(ENTRY_ID))
    assert issue is not None
    assert issue.translation_key == "context_missing"
    assert issue.translation_placeholders == {"server": "Vigil"}
    assert entry.runtime_data.store.applied is not None
    assert entry.runtime_data.store.applied.held_back == ()

    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PLATE_READING), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_CAMERA: "01JVIGIL00000000000CAMERA1"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"enabled": True, "mode": "both", "privacy": "hashed"}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "plate_reading_saved")
    await hass.async_block_till_done()
    held_id = f"privacy_{ENTRY_ID}_{CAMERA_SLUG}_anpr_hashed"
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, held_id) is not None, "held back"
    )
    held = issue_registry.async_get_issue(DOMAIN, held_id)
    assert held is not None and held.translation_key == "detector_held_back_no_context"
    assert held.translation_placeholders is not None
    assert held.translation_placeholders["camera"] == "Front door"
    assert CONF_ACKNOWLEDGEMENTS not in entry.subentries["01JVIGIL00000000000CAMERA1"].data

    # Private premises allow hashed plates: both issues go.
    hass.config_entries.async_update_entry(
        entry, data=entry.data | {CONF_DEPLOYMENT_CONTEXT: "private_premises"}
    )
    await hass.async_block_till_done()
    await wait_until(
        hass,
        lambda: not {held_id, context_issue_id(ENTRY_ID)} & {i for _, i in issue_registry.issues},
        "the issues gone",
    )


# --- actions -----------------------------------------------------------------------------------


@pytest.fixture
async def loaded(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str, privacy_folder: Path
) -> MockConfigEntry:
    """Set up a server entry on private premises."""
    entry = server_entry(vigil_server, pattern_stream, "private_premises")
    await setup_entry(hass, entry)
    return entry


async def test_sensitive_services_refuse_non_admin_users(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    vigil_server: VigilServer,
    hass_read_only_user: MockUser,
) -> None:
    """Reading or exporting the log and writing the documents are for administrators only."""
    context = Context(user_id=hass_read_only_user.id)
    for service, data in (
        ("verify_access_log", {}),
        ("export_access_log", {"reason": "curious"}),
        ("generate_impact_assessment", {}),
    ):
        with pytest.raises(Unauthorized):
            await hass.services.async_call(
                DOMAIN, service, data, blocking=True, context=context, return_response=True
            )
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            "button", "press", {"entity_id": ASSESSMENT}, blocking=True, context=context
        )
    assert await log_entries(hass, vigil_server) == []


async def test_verify_export_and_tamper_detection(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    vigil_server: VigilServer,
    hass_admin_user: MockUser,
    privacy_folder: Path,
) -> None:
    """The export lands in config/vigil/exports; an edited log line is found by the check."""
    context = Context(user_id=hass_admin_user.id)
    response: Any = await hass.services.async_call(
        DOMAIN, "verify_access_log", {"reason": "monthly"}, blocking=True, context=context,
        return_response=True,
    )  # fmt: skip
    assert response["ok"] is True
    response = await hass.services.async_call(
        DOMAIN, "export_access_log", {"reason": "DPO request"}, blocking=True, context=context,
        return_response=True,
    )  # fmt: skip
    path = Path(str(response["path"]))
    assert path.parent == privacy_folder / "vigil" / "exports"
    exported = json.loads(await hass.async_add_executor_job(path.read_text))
    assert [e["action"] for e in exported["entries"]] == ["log_verify", "log_export"]
    assert exported["entries"][1]["actor"]["user_id"] == hass_admin_user.id
    assert exported["entries"][1]["reason"] == "DPO request"

    # Someone edits the reason of the first entry in the server's file: the check finds it.
    log_file = vigil_server.data.access_log

    def edit() -> None:
        lines = log_file.read_text().splitlines()
        first = next(i for i, line in enumerate(lines) if "monthly" in line)
        lines[first] = lines[first].replace("monthly", "nothing")
        log_file.write_text("\n".join(lines) + "\n")

    await hass.async_add_executor_job(edit)
    response = await hass.services.async_call(
        DOMAIN, "verify_access_log", {}, blocking=True, context=context, return_response=True
    )
    assert response["ok"] is False


async def test_generate_documents_by_service_and_button(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    vigil_server: VigilServer,
    hass_admin_user: MockUser,
    privacy_folder: Path,
) -> None:
    """The server writes the documents; Home Assistant keeps a copy in config/vigil/documents."""
    context = Context(user_id=hass_admin_user.id)
    response: Any = await hass.services.async_call(
        DOMAIN, "generate_impact_assessment", {"reason": "new camera"}, blocking=True,
        context=context, return_response=True,
    )  # fmt: skip
    files = sorted(Path(p).name for p in response["files"])
    assert len(files) == 12 and "impact_assessment.fr.pdf" in files
    folder = privacy_folder / "vigil" / "documents"
    french = (folder / "impact_assessment.fr.md").read_text()
    assert "Locaux privés. Les caméras filment les locaux" in french
    assert "### Caméra « Front door »" in french
    assert "Administrateurs de Home Assistant (1)" in french
    assert (folder / "signage.en.pdf").read_bytes().startswith(b"%PDF-")

    for path in folder.iterdir():
        path.unlink()
    await hass.services.async_call(
        "button", "press", {"entity_id": ASSESSMENT}, blocking=True, context=context
    )
    await hass.async_block_till_done()
    assert (folder / "record_of_processing.en.md").exists()
    logged = await log_entries(hass, vigil_server)
    assert [e["action"] for e in logged] == ["assessment", "assessment"]
    assert [e["reason"] for e in logged] == ["new camera", "button"]
    state = hass.states.get(ASSESSMENT)
    assert state is not None and state.attributes["folder"] == "vigil/documents"


async def test_services_need_a_loaded_server(
    hass: HomeAssistant, loaded: MockConfigEntry, hass_admin_user: MockUser
) -> None:
    """With the server entry unloaded, the actions say Vigil is not running."""
    await hass.config_entries.async_unload(loaded.entry_id)
    for service, data in (
        ("verify_access_log", {}),
        (
            "query_plate",
            {"plate": "AB123CD", "reason": "why not", "legal_basis": "public_task"},
        ),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, service, data, blocking=True, return_response=True,
                context=Context(user_id=hass_admin_user.id),
            )  # fmt: skip
        assert err.value.translation_key == "not_loaded"


# --- retention on Home Assistant's side --------------------------------------------------------


async def test_periodic_purge_of_exports_documents_and_recorder_history(
    hass: HomeAssistant, loaded: MockConfigEntry, privacy_folder: Path
) -> None:
    """A few minutes after the start, then every 6 hours, old files and history go."""
    purges = async_mock_service(hass, "recorder", "purge_entities")
    old = time.time() - 40 * 86400
    exports = privacy_folder / "vigil" / "exports"
    documents = privacy_folder / "vigil" / "documents" / "2025"
    for folder, name in ((exports, "old.json"), (exports, "new.json"), (documents, "old.md")):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    os.utime(exports / "old.json", (old, old))
    os.utime(documents / "old.md", (old, old))

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=301))
    await hass.async_block_till_done(wait_background_tasks=True)

    assert sorted(p.name for p in exports.iterdir()) == ["new.json"]
    assert not (documents / "old.md").exists()
    assert len(purges) == 1
    assert purges[0].data["keep_days"] == 30
    assert ASSESSMENT in purges[0].data["entity_id"]

    # A shorter retention of events applies at the next purge, 6 hours later.
    hass.config_entries.async_update_entry(
        loaded, options={**loaded.options, CONF_RETENTION: {"events": 3}}
    )
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=6, seconds=302))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert purges[-1].data["keep_days"] == 3


def test_stored_paperwork_with_a_date_that_is_not_one_reads_as_unset() -> None:
    """Options edited by hand (or by an older version) never break the privacy pages."""
    stored = {
        "paperwork": {
            "assessment_reference": " DPIA-12 ",
            "assessment_date": "2026-02-30",
            "signs_posted": 1,
        }
    }
    clean = privacy_flow.paperwork(stored)
    assert clean["assessment_reference"] == "DPIA-12"
    assert clean["assessment_date"] is None
    assert clean["signs_posted"] is True
    assert (
        privacy_flow.paperwork({"paperwork": {"assessment_date": "2026-03-02"}})["assessment_date"]
        == "2026-03-02"
    )
