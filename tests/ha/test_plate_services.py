"""Plate records through a real server: review of watchlist matches, export, erasure, objections.

A match is kept by the server's plate store as its plate stage keeps it (pending, the plate only
as its keyed hash) and published on its bus as the stage publishes it; everything after that is
the real path: the action, the protocol request, the server's review and access log, the
confirmed event back through the board and the store to the event entity (issue 21).
"""

from __future__ import annotations

import json
from pathlib import Path
import time
from typing import Any

from homeassistant.core import Context, HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.vigil.const import DOMAIN
from custom_components.vigil.plate_services import PLATE_SERVICES
from tests.ha.conftest import CAMERA_SLUG, ENTRY_ID, camera_uid, wait_until
from tests.ha.test_watchlist import PLATE, PLATE_TEXT, WATCH_ID, _entry, _loaded, _match
from vigil_core.server import VigilServer

ENTRY_SLUG = WATCH_ID.lower()


@pytest.fixture
def exports(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Keep Home Assistant's configuration folder (its vigil/ folder) in tmp_path."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path / "vigil" / "exports"


async def _call(
    hass: HomeAssistant, service: str, data: dict[str, Any], user: MockUser | None
) -> Any:
    context = Context(user_id=user.id) if user is not None else Context()
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True, context=context
    )


async def _refusal(
    hass: HomeAssistant, service: str, data: dict[str, Any], user: MockUser
) -> str | None:
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, service, data, user)
    return err.value.translation_key


def _state(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def _entity(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


async def _pending_match(hass: HomeAssistant, server: VigilServer, match_id: str) -> None:
    """Keep a pending match in the server's plate store and publish its event, as the stage."""
    engine = server.engine
    assert engine is not None
    await hass.async_add_executor_job(
        lambda: engine.anpr.store().add_match(
            match_id=match_id,
            entry_id=ENTRY_SLUG,
            camera_id=CAMERA_SLUG,
            plate=PLATE_TEXT,
            at=time.time(),
            distance=0.0,
            crop_id=None,
        )
    )
    _match(server, match_id=match_id, status="pending", crop_id=None, plate=None)


async def _log(hass: HomeAssistant, server: VigilServer, action: str) -> list[dict[str, Any]]:
    assert server.access_log is not None
    entries = await hass.async_add_executor_job(server.access_log.entries)
    return [e for e in entries if e["action"] == action]


async def test_a_confirmed_match_fires_the_event_automations_use(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    """Pending, then confirmed by an administrator: the event entity fires the confirmed event."""
    entry = _entry(vigil_server, pattern_stream)
    await _loaded(hass, entry)
    event_id = _entity(hass, "event", f"{camera_uid(entry)}_watchlist_match")
    last_id = _entity(hass, "sensor", f"{ENTRY_ID}_last_watchlist_match")
    await _pending_match(hass, vigil_server, "m1")
    await wait_until(
        hass, lambda: _state(hass, event_id).attributes.get("match_id") == "m1", "the match"
    )
    pending = _state(hass, event_id).attributes
    assert (pending["event_type"], pending["status"]) == ("watchlist_match", "pending")
    await wait_until(
        hass, lambda: _state(hass, last_id).attributes.get("status") == "pending", "pending"
    )
    listed = await _call(hass, "list_matches", {}, hass_admin_user)
    assert [(m["match_id"], m["status"], m["label"]) for m in listed["matches"]] == [
        ("m1", "pending", "Stolen van")
    ]
    assert listed["matches"][0]["camera"] == "Gate"

    # Not a user's, nor an automation's to review.
    for user in (hass_read_only_user, None):
        with pytest.raises(Unauthorized):
            await _call(hass, "confirm_match", {"match_id": "m1"}, user)
    assert await _log(hass, vigil_server, "match_confirm") == []

    answer = await _call(
        hass, "confirm_match", {"match_id": "m1", "reason": "crop checked"}, hass_admin_user
    )
    assert answer["match"]["status"] == "confirmed"
    assert answer["match"]["reviewed_by"] == hass_admin_user.name
    await wait_until(
        hass,
        lambda: _state(hass, event_id).attributes.get("event_type") == "watchlist_match_confirmed",
        "the confirmed event",
    )
    confirmed = _state(hass, event_id).attributes
    assert (confirmed["match_id"], confirmed["status"]) == ("m1", "confirmed")
    assert (confirmed["label"], confirmed["reason"]) == ("Stolen van", "police notice")
    assert PLATE not in json.dumps(dict(confirmed))
    await wait_until(
        hass, lambda: _state(hass, last_id).attributes.get("status") == "confirmed", "confirmed"
    )
    (logged,) = await _log(hass, vigil_server, "match_confirm")
    assert logged["target"] == "m1" and logged["reason"] == "crop checked"
    assert logged["actor"]["user_id"] == hass_admin_user.id

    # Reviewed once; an unknown match is said so.
    data = {"match_id": "m1"}
    assert await _refusal(hass, "reject_match", data, hass_admin_user) == "match_already_reviewed"
    data = {"match_id": "nope"}
    assert await _refusal(hass, "confirm_match", data, hass_admin_user) == "unknown_match"

    # A rejected match fires its own event; the list by status follows.
    await _pending_match(hass, vigil_server, "m2")
    await wait_until(
        hass, lambda: _state(hass, event_id).attributes.get("match_id") == "m2", "the 2nd match"
    )
    await _call(hass, "reject_match", {"match_id": "m2", "reason": "8 read as B"}, hass_admin_user)
    await wait_until(
        hass,
        lambda: _state(hass, event_id).attributes.get("event_type") == "watchlist_match_rejected",
        "the rejected event",
    )
    assert _state(hass, last_id).attributes["status"] == "rejected"
    assert (await _call(hass, "list_matches", {}, hass_admin_user))["matches"] == []
    every = await _call(hass, "list_matches", {"status": "all"}, hass_admin_user)
    assert [(m["match_id"], m["status"]) for m in every["matches"]] == [
        ("m2", "rejected"),
        ("m1", "confirmed"),
    ]


async def test_export_erase_and_objections_through_actions(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
    exports: Path,
) -> None:
    """The keepers' rights, by administrators only; each one in the server's access log."""
    await _loaded(hass, _entry(vigil_server, pattern_stream, "hashed"))
    engine = vigil_server.engine
    assert engine is not None
    now = time.time()
    await hass.async_add_executor_job(
        lambda: engine.anpr.store().add_hashed(CAMERA_SLUG, PLATE_TEXT, now, "receding")
    )

    # Nobody but an administrator in person, for every plate action.
    minimal: dict[str, dict[str, Any]] = {
        "confirm_match": {"match_id": "m"},
        "reject_match": {"match_id": "m"},
        "list_matches": {},
        "export_plate_records": {"plate": PLATE, "reason": "request"},
        "erase_plate_records": {"plate": PLATE, "reason": "request"},
        "add_objection": {"plate": PLATE, "reason": "request"},
        "remove_objection": {"objection_id": "o", "reason": "request"},
        "list_objections": {},
    }
    assert set(minimal) == set(PLATE_SERVICES)
    for service, data in minimal.items():
        for user in (hass_read_only_user, None):
            with pytest.raises(Unauthorized):
                await _call(hass, service, data, user)

    asked = {"plate": PLATE, "reason": "keeper's request"}
    for plate, key in (("AB*", "pattern_too_loose"), ("AB-*-CD", "invalid_plate")):
        data = asked | {"plate": plate}
        assert await _refusal(hass, "export_plate_records", data, hass_admin_user) == key
    data = asked | {"camera": "nowhere"}
    assert await _refusal(hass, "erase_plate_records", data, hass_admin_user) == "unknown_camera"

    exported = await _call(hass, "export_plate_records", asked, hass_admin_user)
    path = Path(exported["path"])
    assert path.parent == exports and path.name == exported["filename"]
    document = json.loads(await hass.async_add_executor_job(path.read_text))
    assert [s["camera_id"] for s in document["sightings"]] == [CAMERA_SLUG]
    assert "content" not in exported  # the plate stays in the file
    (logged,) = await _log(hass, vigil_server, "plate_export")
    assert logged["actor"]["user_id"] == hass_admin_user.id
    assert PLATE_TEXT not in json.dumps(logged)

    erased = await _call(hass, "erase_plate_records", asked, hass_admin_user)
    assert erased == {"hashed": 1, "reads": 0, "matches": 0, "crops": 0}
    again = await _call(hass, "export_plate_records", asked, hass_admin_user)
    document = json.loads(await hass.async_add_executor_job(Path(again["path"]).read_text))
    assert document["sightings"] == []

    added = await _call(
        hass, "add_objection", asked | {"reason": "objection by letter"}, hass_admin_user
    )
    assert added["created"] is True
    assert added["erased"] == {"hashed": 0, "reads": 0, "matches": 0, "crops": 0}
    listed = await _call(hass, "list_objections", {}, hass_admin_user)
    assert listed["objections"] == [
        {
            "objection_id": added["objection_id"],
            "added_at": added["added_at"],
            "reason": "objection by letter",
        }
    ]
    withdraw = {"objection_id": added["objection_id"], "reason": "withdrawn by the keeper"}
    assert (await _call(hass, "remove_objection", withdraw, hass_admin_user))["removed"] is True
    assert await _refusal(hass, "remove_objection", withdraw, hass_admin_user) == (
        "unknown_objection"
    )
    assert (await _call(hass, "list_objections", {}, hass_admin_user))["objections"] == []
    for action in ("plate_erase", "objection_add", "objection_remove"):
        (entry,) = await _log(hass, vigil_server, action)
        assert entry["actor"]["user_id"] == hass_admin_user.id, action
        assert PLATE_TEXT not in json.dumps(entry), action
