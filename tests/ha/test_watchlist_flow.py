"""Watchlist and plate-reading subentry flows through a real Vigil server.

The server validates a watched plate (a dry run of the watchlist) and takes the saved watchlist
live; the access log (the server's) records each change without the plate.
"""

from __future__ import annotations

from datetime import timedelta
import json
import time
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser

from custom_components.vigil.const import CONF_ACKNOWLEDGEMENTS, DOMAIN
from custom_components.vigil.issues import watchlist_issue_id
from custom_components.vigil.server_config import (
    DEFAULT_MAX_DISTANCE,
    PATTERN_MIN_FIXED,
    PUBLIC_WATCH_MAX_DAYS,
    SUBENTRY_PLATE_READING,
    SUBENTRY_WATCHLIST,
    WATCH_REASON_MIN_CHARS,
    pattern_too_loose,
)
from custom_components.vigil.watchlist_flow import COUNTRIES, _expiry_error
from tests.ha.conftest import CAMERA_ID, ENTRY_ID, camera_subentry, wait_until
from tests.ha.flows import loaded, reloaded, server_entry, suggested
from vigil_core import config as core_config
from vigil_core.plates import watchlist as core_watchlist
from vigil_core.plates.normalize import COUNTRIES as SERVER_COUNTRIES
from vigil_core.server import VigilServer

PLATE = "AB-123-CD"
WATCH_ID = "01JVIGIL0000000000WATCH001"
REASON = "stolen from the yard"


def _in_days(days: int) -> str:
    return (dt_util.now().date() + timedelta(days=days)).isoformat()


def _entry_input(**values: Any) -> dict[str, Any]:
    """Return a complete watchlist form (reason and expiry are required), with `values`."""
    return {"plate": PLATE, "label": "Van", "reason": REASON, "expires": _in_days(20)} | values


ACKNOWLEDGEMENT = {
    "legal_basis": "legitimate_interests",
    "justification": "Repeated thefts from the private courtyard, logged by police.",
    "acknowledged_by": "Alex",
    "confirm": True,
}


@pytest.fixture
async def hub(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """Return the loaded server entry, with its camera on the test pattern."""
    return await loaded(hass, config_entry)


async def _start(hass: HomeAssistant, entry: MockConfigEntry, kind: str, **context: Any) -> Any:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, kind), context={"source": SOURCE_USER, **context}
    )


async def _submit(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_configure(flow_id, data)
    return result


async def _log(hass: HomeAssistant, server: VigilServer) -> list[dict[str, Any]]:
    assert server.access_log is not None
    entries: list[dict[str, Any]] = await hass.async_add_executor_job(server.access_log.entries)
    return entries


def _matches(server: VigilServer, plate: str) -> bool:
    assert server.engine is not None
    return server.engine.anpr.watchlist.match(plate, time.time()) is not None


async def test_watchlist_flow_errors_recovery_and_access_log(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Every error is shown on its field; the saved entry reaches the server and its log."""
    result = await _start(hass, hub, SUBENTRY_WATCHLIST)
    assert result["type"] is FlowResultType.FORM
    flow_id = result["flow_id"]
    yesterday = (dt_util.now().date() - timedelta(days=1)).isoformat()
    cases = [
        # The server's checks, with its translation keys.
        (_entry_input(plate="AB#12"), {"plate": "invalid_plate"}),
        (_entry_input(plate="A"), {"plate": "plate_too_short"}),
        (_entry_input(plate="ABCDEFGHIJK1"), {"plate": "plate_too_long"}),
        (_entry_input(plate="AB-*-1"), {"plate": "pattern_too_loose"}),
        (_entry_input(plate="A?B*"), {"plate": "pattern_too_loose"}),
        (_entry_input(label="x" * 65), {"label": "too_long"}),
        (_entry_input(reason="r" * 201), {"reason": "too_long"}),
        (_entry_input(reason="our vans"), {"reason": "too_short"}),
        (_entry_input(reason="          "), {"reason": "too_short"}),
        # The form's own.
        (_entry_input(label="   "), {"label": "label_required"}),
        (_entry_input(expires=yesterday), {"expires": "expires_in_past"}),
    ]
    for user_input, errors in cases:
        result = await _submit(hass, flow_id, user_input)
        assert result["type"] is FlowResultType.FORM, user_input
        assert result["errors"] == errors, user_input
        assert suggested(result)["plate"] == user_input["plate"]  # kept while the form is open
    # Reason and expiry are required fields of the form.
    for missing in ("reason", "expires"):
        with pytest.raises(InvalidData):
            await _submit(hass, flow_id, {k: v for k, v in _entry_input().items() if k != missing})
    # A date the date field takes without leading zeros (it crashed the flow before); a year
    # ahead is fine outside public space. A 4-character pattern is the loosest accepted.
    next_year = dt_util.now().year + 1
    result = await _submit(
        hass,
        flow_id,
        _entry_input(
            plate="AB-*-CD",
            label="Fleet",
            reason="our vans, fleet check",
            expires=f"{next_year}-1-5",
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    sub = next(s for s in hub.subentries.values() if s.subentry_type == SUBENTRY_WATCHLIST)
    assert sub.data == {
        "plate": "AB-*-CD",
        "label": "Fleet",
        "reason": "our vans, fleet check",
        "expires": f"{next_year}-01-05",
    }
    # Taken live by the server (no reload), the new entry matches, with the 0.6 tolerance.
    await wait_until(hass, lambda: _matches(vigil_server, "AB777CD"), "the watchlist live")
    assert vigil_server.engine is not None
    (watched,) = vigil_server.engine.anpr.watchlist.entries
    assert watched.max_distance == pytest.approx(DEFAULT_MAX_DISTANCE)
    assert not watched.legal_obligation
    log = await _log(hass, vigil_server)
    added = next(e for e in log if e["action"] == "watchlist_add")
    assert added["reason"] == "our vans, fleet check"
    assert added["actor"]["name"] == "settings (administrator)"
    assert added["details"] == {"label": "Fleet", "expires": f"{next_year}-01-05"}
    assert "AB" not in json.dumps(added["details"]) + added["target"]

    # Reconfigure: the change is logged, the server gets the new plate.
    result = await hub.start_subentry_reconfigure_flow(hass, SUBENTRY_WATCHLIST, sub.subentry_id)
    assert suggested(result)["label"] == "Fleet"
    result = await _submit(hass, result["flow_id"], _entry_input(plate="A", label="Fleet"))
    assert result["errors"] == {"plate": "plate_too_short"}
    result = await _submit(
        hass,
        result["flow_id"],
        _entry_input(
            plate="GH-123-KL",
            label="Fleet",
            reason="new van, police notice",
            max_distance=0.5,
            legal_obligation=True,
        ),
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    await wait_until(hass, lambda: _matches(vigil_server, "GH123KL"), "the new plate live")
    assert not _matches(vigil_server, "AB777CD")
    (watched,) = vigil_server.engine.anpr.watchlist.entries
    assert watched.legal_obligation
    log = await _log(hass, vigil_server)
    reason = "new van, police notice"
    changed = [e for e in log if e["action"] == "watchlist_change" and e["reason"] == reason]
    assert [e["target"] for e in changed] == [sub.subentry_id]
    assert changed[0]["details"]["max_distance"] == 0.5
    assert changed[0]["details"]["legal_obligation"] is True


def test_an_expiry_that_is_not_a_date_is_a_form_error() -> None:
    """The flow parses the expiry as the date field does; anything else is its own error."""
    assert _expiry_error("tomorrow") == "invalid_date"
    assert _expiry_error("2026-13-45") == "invalid_date"
    assert _expiry_error(None) == "required"
    # In public space, 30 days at most (counted from the earlier of local and UTC today).
    assert _expiry_error(_in_days(29), public_space=True) is None
    assert _expiry_error(_in_days(31), public_space=True) == "watchlist_expiry_too_long"
    assert _expiry_error(_in_days(31)) is None


def test_the_form_asks_what_the_server_asks() -> None:
    """The limits the integration checks itself are the server's."""
    assert WATCH_REASON_MIN_CHARS == core_config.WATCH_REASON_MIN_CHARS
    assert PUBLIC_WATCH_MAX_DAYS == core_config.PUBLIC_WATCH_MAX_DAYS
    assert PATTERN_MIN_FIXED == core_watchlist.MIN_PATTERN_CHARACTERS
    assert round(DEFAULT_MAX_DISTANCE, 6) == round(core_watchlist.DEFAULT_MAX_DISTANCE, 6)
    for plate in ("AB*", "A?B*", "*8*8*8*", "AB-*-1"):
        assert pattern_too_loose(plate), plate
        with pytest.raises(core_watchlist.PatternTooLoose):
            core_watchlist.parse_pattern(plate)
    for plate in ("AB-*-CD", "AB-123-CD", "AB"):
        assert not pattern_too_loose(plate), plate
        core_watchlist.parse_pattern(plate)


async def test_watchlist_flow_refuses_a_non_admin_user(
    hass: HomeAssistant, hub: MockConfigEntry, hass_read_only_user: MockUser
) -> None:
    """A flow that carries a user who is not an administrator saves nothing."""
    result = await _start(hass, hub, SUBENTRY_WATCHLIST, user_id=hass_read_only_user.id)
    result = await _submit(hass, result["flow_id"], _entry_input())
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "admin_required")
    assert not [s for s in hub.subentries.values() if s.subentry_type == SUBENTRY_WATCHLIST]


async def test_watchlist_flow_by_an_administrator_names_them(
    hass: HomeAssistant,
    hub: MockConfigEntry,
    vigil_server: VigilServer,
    hass_admin_user: MockUser,
) -> None:
    """A flow that carries an administrator logs their name."""
    result = await _start(hass, hub, SUBENTRY_WATCHLIST, user_id=hass_admin_user.id)
    result = await _submit(hass, result["flow_id"], _entry_input())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    log = await _log(hass, vigil_server)
    added = next(e for e in log if e["action"] == "watchlist_add")
    assert added["actor"]["user_id"] == hass_admin_user.id
    await hass.async_block_till_done()


async def test_without_the_server(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """No server, nothing to check: the flows say so."""
    result = await _start(hass, hub, SUBENTRY_WATCHLIST)
    await vigil_server.stop()
    await wait_until(hass, lambda: not hub.runtime_data.store.connected, "disconnected")
    result = await _submit(hass, result["flow_id"], _entry_input())
    assert result["errors"] == {"base": "server_unreachable"}
    for kind in (SUBENTRY_WATCHLIST, SUBENTRY_PLATE_READING):
        result = await _start(hass, hub, kind)
        assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "server_unavailable")


def _watch(subentry_id: str, title: str, **data: Any) -> ConfigSubentryData:
    return ConfigSubentryData(
        data={"plate": PLATE, "label": title, **data},
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_WATCHLIST,
        title=title,
        unique_id=None,
    )


async def test_public_space_caps_the_expiry_and_old_entries_are_left_out(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Public space: 30 days at most. Entries saved before the rules are named, not sent."""
    complete = _watch(WATCH_ID, "Stolen van", reason="police notice 118", expires=_in_days(10))
    no_reason = _watch("01JVIGIL0000000000WATCH002", "Old van", expires=_in_days(10))
    no_expiry = _watch("01JVIGIL0000000000WATCH003", "Old car", reason="police notice 7")
    too_long = _watch(
        "01JVIGIL0000000000WATCH004", "Far car", reason="police notice 9", expires=_in_days(90)
    )
    entry = await loaded(
        hass,
        server_entry(
            vigil_server,
            camera_subentry(pattern_stream),
            complete,
            no_reason,
            no_expiry,
            too_long,
            context="public_space",
        ),
    )
    # The server took the configuration, with the complete entry only.
    assert vigil_server.engine is not None
    assert [e.entry_id for e in vigil_server.engine.anpr.watchlist.entries] == [WATCH_ID.lower()]
    issue = ir.async_get(hass).async_get_issue(DOMAIN, watchlist_issue_id(ENTRY_ID))
    assert issue is not None
    assert issue.translation_key == "watchlist_incomplete"
    assert issue.translation_placeholders == {
        "server": entry.title,
        "entries": "Far car, Old car, Old van",
    }

    # The form: more than 30 days ahead is refused on its field.
    result = await _start(hass, entry, SUBENTRY_WATCHLIST)
    result = await _submit(hass, result["flow_id"], _entry_input(expires=_in_days(45)))
    assert result["errors"] == {"expires": "watchlist_expiry_too_long"}

    # Completing the old entries (reconfigure) sends them and clears the issue.
    fixes = {
        "01JVIGIL0000000000WATCH002": _entry_input(label="Old van", reason="police notice 22"),
        "01JVIGIL0000000000WATCH003": _entry_input(label="Old car", reason="police notice 7"),
    }
    for subentry_id, user_input in fixes.items():
        result = await entry.start_subentry_reconfigure_flow(hass, SUBENTRY_WATCHLIST, subentry_id)
        result = await _submit(hass, result["flow_id"], user_input)
        assert result["reason"] == "reconfigure_successful", result
        await hass.async_block_till_done()
    await wait_until(
        hass, lambda: len(vigil_server.engine.anpr.watchlist.entries) == 3, "completed entries"
    )
    issue = ir.async_get(hass).async_get_issue(DOMAIN, watchlist_issue_id(ENTRY_ID))
    assert issue is not None
    assert issue.translation_placeholders["entries"] == "Far car"
    assert hass.config_entries.async_remove_subentry(entry, "01JVIGIL0000000000WATCH004")
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, watchlist_issue_id(ENTRY_ID)) is None


# --- plate reading ---------------------------------------------------------------------------


async def test_plate_reading_watchlist_then_full_mode_behind_the_gate(
    hass: HomeAssistant, hub: MockConfigEntry, vigil_server: VigilServer
) -> None:
    """Watchlist mode saves at once; full mode needs its confirmation and a legal basis."""
    result = await _start(hass, hub, SUBENTRY_PLATE_READING)
    assert result["step_id"] == "user"
    result = await _submit(hass, result["flow_id"], {"camera": CAMERA_ID})
    assert result["step_id"] == "settings"
    assert suggested(result)["enabled"] is True  # never set up: offered switched on
    result = await _submit(
        hass,
        result["flow_id"],
        {"enabled": True, "mode": "both", "countries": ["fr"], "privacy": "watchlist"},
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "plate_reading_saved")
    await reloaded(hass, hub)
    assert vigil_server.engine is not None
    spec = vigil_server.engine.config.cameras[0].anpr
    assert (spec.enabled, spec.mode, spec.countries, spec.privacy) == (
        True,
        "both",
        ["fr"],
        "watchlist",
    )

    result = await _start(hass, hub, SUBENTRY_PLATE_READING)
    result = await _submit(hass, result["flow_id"], {"camera": CAMERA_ID})
    assert suggested(result)["mode"] == "both"  # what is saved
    result = await _submit(
        hass, result["flow_id"], {"enabled": True, "mode": "full_frame", "privacy": "full"}
    )
    assert result["step_id"] == "full"
    result = await _submit(hass, result["flow_id"], {"full_acknowledged": False})
    assert result["errors"] == {"full_acknowledged": "full_ack_required"}
    result = await _submit(hass, result["flow_id"], {"full_acknowledged": True})
    assert result["step_id"] == "acknowledge"
    result = await _submit(hass, result["flow_id"], {**ACKNOWLEDGEMENT, "justification": "short"})
    assert result["errors"] == {"justification": "justification_too_short"}
    result = await _submit(hass, result["flow_id"], ACKNOWLEDGEMENT)
    assert result["reason"] == "plate_reading_saved"
    await reloaded(hass, hub)
    camera = hub.subentries[CAMERA_ID]
    assert "anpr_full" in camera.data[CONF_ACKNOWLEDGEMENTS]
    assert CONF_PASSWORD in camera.data  # the camera's own data is kept
    spec = vigil_server.engine.config.cameras[0].anpr
    assert (spec.privacy, spec.full_acknowledged, spec.countries) == ("full", True, [])
    log = await _log(hass, vigil_server)
    assert log[-1]["action"] == "acknowledgement"

    # Acknowledged once, full mode is changed without asking again; off needs nothing.
    for settings in (
        {"enabled": True, "mode": "vehicle_crops", "privacy": "full"},
        {"enabled": False, "mode": "vehicle_crops", "privacy": "hashed"},
    ):
        result = await _start(hass, hub, SUBENTRY_PLATE_READING)
        result = await _submit(hass, result["flow_id"], {"camera": CAMERA_ID})
        result = await _submit(hass, result["flow_id"], settings)
        if settings["privacy"] == "full":
            result = await _submit(hass, result["flow_id"], {"full_acknowledged": True})
        assert result["reason"] == "plate_reading_saved"
        await reloaded(hass, hub)
    assert hub.subentries[CAMERA_ID].data["anpr"]["enabled"] is False


async def test_plate_reading_needs_a_camera(hass: HomeAssistant, vigil_server: VigilServer) -> None:
    entry = await loaded(hass, server_entry(vigil_server))
    result = await _start(hass, entry, SUBENTRY_PLATE_READING)
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "no_cameras")


def test_the_form_offers_the_countries_the_server_knows() -> None:
    """The country list is the server's: every choice the form offers is one it accepts."""
    assert tuple(COUNTRIES) == tuple(SERVER_COUNTRIES)


async def test_hashed_mode_in_public_space_asks_for_a_legal_basis(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    watch = ConfigSubentryData(
        data={
            "plate": PLATE,
            "label": "Stolen van",
            "reason": "police notice",
            "expires": _in_days(10),
        },
        subentry_id=WATCH_ID,
        subentry_type=SUBENTRY_WATCHLIST,
        title="Stolen van",
        unique_id=None,
    )
    entry = await loaded(
        hass,
        server_entry(vigil_server, camera_subentry(pattern_stream), watch, context="public_space"),
    )
    result = await _start(hass, entry, SUBENTRY_PLATE_READING)
    result = await _submit(hass, result["flow_id"], {"camera": CAMERA_ID})
    result = await _submit(
        hass, result["flow_id"], {"enabled": True, "mode": "vehicle_crops", "privacy": "hashed"}
    )
    assert result["step_id"] == "acknowledge"
    result = await _submit(
        hass, result["flow_id"], {**ACKNOWLEDGEMENT, "legal_basis": "public_task"}
    )
    assert result["reason"] == "plate_reading_saved"
    await reloaded(hass, entry)
    assert "anpr_hashed" in entry.subentries[CAMERA_ID].data[CONF_ACKNOWLEDGEMENTS]


async def test_watchlist_mode_in_public_space_asks_for_a_legal_basis(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Public space: even watchlist-only reading needs a stated legal basis (issue 21)."""
    entry = await loaded(
        hass, server_entry(vigil_server, camera_subentry(pattern_stream), context="public_space")
    )
    result = await _start(hass, entry, SUBENTRY_PLATE_READING)
    result = await _submit(hass, result["flow_id"], {"camera": CAMERA_ID})
    result = await _submit(
        hass, result["flow_id"], {"enabled": True, "mode": "vehicle_crops", "privacy": "watchlist"}
    )
    assert result["step_id"] == "acknowledge"
    assert "{" not in result["description_placeholders"]["detectors"]
    result = await _submit(
        hass, result["flow_id"], {**ACKNOWLEDGEMENT, "legal_basis": "public_task"}
    )
    assert result["reason"] == "plate_reading_saved"
    await reloaded(hass, entry)
    stored = entry.subentries[CAMERA_ID].data[CONF_ACKNOWLEDGEMENTS]
    assert stored["anpr_watchlist"]["legal_basis"] == "public_task"
    # The server has it under the camera's key, and reads plates on the camera.
    engine = vigil_server.engine
    assert engine is not None
    assert f"{CAMERA_ID.lower()}:anpr_watchlist" in engine.config.privacy.acknowledgements
    spec = engine.config.cameras[0].anpr
    assert (spec.enabled, spec.privacy) == (True, "watchlist")
    assert not [h for h in entry.runtime_data.store.applied.held_back if h.camera_id]
    log = await _log(hass, vigil_server)
    assert log[-1]["action"] == "acknowledgement"
    assert log[-1]["target"] == "anpr_watchlist"
