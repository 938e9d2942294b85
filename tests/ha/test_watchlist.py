"""Plate reading in Home Assistant through a real server: entities, the plate query, crops.

Two cameras read plates on a real in-process Vigil server (their streams: the session's live
test pattern). Plate events are published on the server's bus as its plate stage publishes
them; the server decides what leaves it (no plate text unless a camera keeps plates in full,
a crop only where crops are kept, and only to administrators, each view logged). The forms are
tested in test_watchlist_flow.py.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
import json
import time
from typing import Any

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import Context, HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import voluptuous as vol

from custom_components.vigil.const import CONF_ACKNOWLEDGEMENTS, DOMAIN
from custom_components.vigil.picture_view import CROP_URL
from custom_components.vigil.server_config import SUBENTRY_WATCHLIST
from tests.ha.conftest import (
    CAMERA_ID,
    CAMERA_SLUG,
    ENTRY_ID,
    QUIET_HEALTH,
    camera_settings,
    camera_subentry,
    camera_uid_of,
    rule_event,
    server_data,
    setup_entry,
    wait_until,
)
from vigil_core.events.model import EventPhase
from vigil_core.privacy.context import Acknowledgement, DeploymentContext, LegalBasis
from vigil_core.privacy.purposes import DetectorKind
from vigil_core.server import VigilServer

CAMERA2_ID = "01JVIGIL00000000000CAMERA2"
CAMERA2_SLUG = CAMERA2_ID.lower()
PLATE = "AB-123-CD"
PLATE_TEXT = "AB123CD"
WATCH_ID = "01JVIGIL0000000000WATCH001"


def _camera(
    subentry_id: str, title: str, url: str, anpr: dict[str, Any], **extra: Any
) -> ConfigSubentryData:
    sub = camera_subentry(url, subentry_id, title)
    sub["data"] = {**sub["data"], "anpr": anpr, **extra}
    return sub


def _full_ack() -> dict[str, Any]:
    return {
        "anpr_full": Acknowledgement(
            detector=DetectorKind.ANPR_FULL,
            legal_basis=LegalBasis("legitimate_interests"),
            justification="Repeated thefts in the private car park of the company.",
            by="Alex",
            at=dt_util.utcnow(),
            context=DeploymentContext("private_premises"),
        ).model_dump(mode="json")
    }


def _entry(
    server: VigilServer,
    url: str,
    privacy: str = "watchlist",
    *,
    acknowledged: bool = False,
    crops2: bool = True,
) -> MockConfigEntry:
    anpr = {"enabled": True, "privacy": privacy, "full_acknowledged": privacy == "full"}
    extra = {CONF_ACKNOWLEDGEMENTS: _full_ack()} if acknowledged else {}
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=ENTRY_ID,
        version=2,
        data=server_data(server, "private_premises"),
        subentries_data=[
            _camera(CAMERA_ID, "Gate", url, anpr, **extra),
            _camera(CAMERA2_ID, "Barrier", url, {"enabled": True, "crops": crops2}),
            ConfigSubentryData(
                data={
                    "plate": PLATE,
                    "label": "Stolen van",
                    "reason": "police notice",
                    "expires": (dt_util.now().date() + timedelta(days=20)).isoformat(),
                },
                subentry_id=WATCH_ID,
                subentry_type=SUBENTRY_WATCHLIST,
                title="Stolen van",
                unique_id=None,
            ),
        ],
    )


async def _loaded(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    with camera_settings(**QUIET_HEALTH):
        await setup_entry(hass, entry)
    passages = [_entity(hass, "plate_passages", camera) for camera in (CAMERA_SLUG, CAMERA2_SLUG)]
    await wait_until(
        hass, lambda: all(_state(hass, e).state == "0" for e in passages), "the cameras online"
    )
    return entry


def _state(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def _entity(hass: HomeAssistant, key: str, camera: str | None = CAMERA_SLUG) -> str:
    unique_id = f"{camera_uid_of(hass, camera)}_{key}" if camera else f"{ENTRY_ID}_{key}"
    platform = {"watchlist_match": "event", "plate_route": "event"}.get(key, "sensor")
    if key == "watchlist_match_crop":
        platform = "image"
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def _match(server: VigilServer, camera_id: str = CAMERA_SLUG, **extra: Any) -> None:
    """Publish a watchlist match as the server's plate stage does."""
    attrs: dict[str, Any] = {
        "entry_id": WATCH_ID.lower(),
        "label": "Stolen van",
        "reason": "police notice",
        "plate": PLATE,
        "distance": 0.3,
        "exact": False,
        "confidence": 0.91,
        "direction": "approaching",
        "crop_id": "crop-1",
    }
    rule_event(
        server,
        "watchlist_match",
        EventPhase.INSTANT,
        camera_id=camera_id,
        rule_id="anpr",
        track_id=3,
        **(attrs | extra),
    )


async def test_entities_follow_plate_events_without_plates(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Matches, routes and passages reach their entities; no plate unless full mode."""
    await _loaded(hass, _entry(vigil_server, pattern_stream))
    match_id = _entity(hass, "watchlist_match")
    last_id = _entity(hass, "last_watchlist_match", None)
    passages_id = _entity(hass, "plate_passages")
    route_id = _entity(hass, "plate_route", None)

    _match(vigil_server)
    rule_event(
        vigil_server, "plate_passage", EventPhase.INSTANT, rule_id="anpr",
        passages_today=3, direction="approaching", watchlisted=True,
    )  # fmt: skip
    rule_event(
        vigil_server, "plate_route", EventPhase.INSTANT, camera_id=CAMERA2_SLUG, rule_id="anpr",
        route_id="r1", entry_id=WATCH_ID.lower(), label="Stolen van",
        cameras=[CAMERA_SLUG, CAMERA2_SLUG], from_camera=CAMERA_SLUG, elapsed_s=42.0,
    )  # fmt: skip
    await wait_until(hass, lambda: _state(hass, route_id).state != STATE_UNKNOWN, "the route")
    await wait_until(hass, lambda: _state(hass, passages_id).state == "3", "the passages")

    match = _state(hass, match_id).attributes
    assert match["event_type"] == "watchlist_match"
    assert (match["label"], match["reason"]) == ("Stolen van", "police notice")
    assert (match["distance"], match["direction"]) == (0.3, "approaching")
    assert match["crop_id"] == "crop-1"
    last = _state(hass, last_id)
    assert last.state == "Stolen van"
    assert last.attributes["camera"] == "Gate"
    assert "time" in last.attributes
    route = _state(hass, route_id).attributes
    assert route["cameras"] == ["Gate", "Barrier"]
    assert (route["from_camera"], route["to_camera"]) == ("Gate", "Barrier")
    assert route["elapsed_s"] == 42.0
    for entity_id in (match_id, last_id, route_id, passages_id):
        assert PLATE not in json.dumps(dict(_state(hass, entity_id).attributes))
    # The other camera's match entity did not fire.
    assert _state(hass, _entity(hass, "watchlist_match", CAMERA2_SLUG)).state == STATE_UNKNOWN


async def test_full_mode_held_back_without_acknowledgement(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """Full mode not acknowledged: the server reads in watchlist mode and sends no plate."""
    await _loaded(hass, _entry(vigil_server, pattern_stream, "full"))
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.cameras[0].anpr.privacy == "watchlist"
    _match(vigil_server)
    match_id = _entity(hass, "watchlist_match")
    await wait_until(hass, lambda: _state(hass, match_id).state != STATE_UNKNOWN, "the match")
    assert "plate" not in _state(hass, _entity(hass, "last_watchlist_match", None)).attributes
    assert "plate" not in _state(hass, match_id).attributes


async def test_full_mode_acknowledged_shows_the_plate(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A camera that keeps plates in full (acknowledged) shows the matched plate."""
    await _loaded(hass, _entry(vigil_server, pattern_stream, "full", acknowledged=True))
    assert vigil_server.engine is not None
    assert vigil_server.engine.config.cameras[0].anpr.privacy == "full"
    _match(vigil_server)
    last_id = _entity(hass, "last_watchlist_match", None)
    await wait_until(hass, lambda: _state(hass, last_id).state == "Stolen van", "the match")
    assert _state(hass, last_id).attributes["plate"] == PLATE
    assert _state(hass, _entity(hass, "watchlist_match")).attributes["plate"] == PLATE


async def test_removing_a_watched_plate_is_logged_without_the_plate(
    hass: HomeAssistant, vigil_server: VigilServer, pattern_stream: str
) -> None:
    """A removal runs no flow: the entry's listener writes it to the server's access log."""
    entry = await _loaded(hass, _entry(vigil_server, pattern_stream))
    store = entry.runtime_data.store
    engine = vigil_server.engine
    assert engine is not None
    assert engine.anpr.watchlist.match(PLATE_TEXT, time.time()) is not None
    log = vigil_server.access_log
    assert log is not None

    def removals() -> list[dict[str, Any]]:
        return [e for e in log.entries() if e["action"] == "watchlist_remove"]

    assert await hass.async_add_executor_job(removals) == []
    assert hass.config_entries.async_remove_subentry(entry, WATCH_ID)
    await hass.async_block_till_done()
    removed = await hass.async_add_executor_job(removals)
    assert len(removed) == 1
    assert removed[0]["target"] == WATCH_ID
    assert removed[0]["details"] == {"label": "Stolen van"}
    assert removed[0]["actor"]["name"] == "settings (administrator)"
    assert PLATE not in json.dumps(removed[0])
    assert PLATE_TEXT not in json.dumps(removed[0])
    # Taken live, without a reload: the same store, and the plate no longer matches.
    assert entry.runtime_data.store is store
    assert vigil_server.engine is not None
    assert vigil_server.engine.anpr.watchlist.match(PLATE_TEXT, time.time()) is None

    # Any other change logs no removal (and the next removal is logged once).
    camera = entry.subentries[CAMERA2_ID]
    hass.config_entries.async_update_subentry(entry, camera, title="Barrier 2")
    await hass.async_block_till_done()
    assert len(await hass.async_add_executor_job(removals)) == 1


async def test_query_plate_refusals_and_answer(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    """Non-admins are refused; an admin's search is answered and written to the access log."""
    await _loaded(hass, _entry(vigil_server, pattern_stream, "hashed"))
    engine = vigil_server.engine
    assert engine is not None
    now = time.time()
    await hass.async_add_executor_job(
        lambda: engine.anpr.store().add_hashed(CAMERA_SLUG, PLATE_TEXT, now, "receding")
    )
    data = {"plate": PLATE, "reason": "police request 42", "legal_basis": "legitimate_interests"}
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN, "query_plate", data, blocking=True, return_response=True,
            context=Context(user_id=hass_read_only_user.id),
        )  # fmt: skip
    # An automation has no user: it cannot search plates either.
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN, "query_plate", data, blocking=True, return_response=True
        )
    admin = Context(user_id=hass_admin_user.id)
    # The legal basis is required, one of article 6(1)'s.
    for basis in (None, "curiosity"):
        asked = {k: v for k, v in (data | {"legal_basis": basis}).items() if v is not None}
        with pytest.raises(vol.Invalid):
            await hass.services.async_call(
                DOMAIN, "query_plate", asked, blocking=True, return_response=True, context=admin
            )
    for plate, key in (
        ("AB*", "pattern_too_loose"),
        ("AB-*-CD", "invalid_plate"),
        ("A", "plate_too_short"),
        ("AB#12", "invalid_plate"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "query_plate", {**data, "plate": plate}, blocking=True,
                return_response=True, context=admin,
            )  # fmt: skip
        assert err.value.translation_key == key, plate
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "query_plate", {**data, "camera": "nowhere"}, blocking=True,
            return_response=True, context=admin,
        )  # fmt: skip
    assert err.value.translation_key == "unknown_camera"

    response: Any = await hass.services.async_call(
        DOMAIN, "query_plate", {**data, "camera": CAMERA_ID}, blocking=True,
        return_response=True, context=admin,
    )  # fmt: skip
    assert response["count"] == 1
    sighting = response["sightings"][0]
    assert (sighting["camera"], sighting["direction"]) == ("Gate", "receding")
    assert "plate" not in sighting
    assert vigil_server.access_log is not None
    log = await hass.async_add_executor_job(vigil_server.access_log.entries)
    query = log[-1]
    assert query["action"] == "plate_query"
    assert query["reason"] == "police request 42"
    assert query["details"]["legal_basis"] == "legitimate_interests"
    assert hass_admin_user.id in query["actor"]["name"]
    assert PLATE_TEXT not in json.dumps(query)


async def test_query_plate_refused_in_watchlist_mode(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_admin_user: MockUser,
) -> None:
    """Without a camera that keeps plates there is nothing to search."""
    await _loaded(hass, _entry(vigil_server, pattern_stream))
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "query_plate",
            {"plate": PLATE, "reason": "curious", "legal_basis": "legitimate_interests"},
            blocking=True,
            return_response=True, context=Context(user_id=hass_admin_user.id),
        )  # fmt: skip
    assert err.value.translation_key == "plate_queries_disabled"


async def test_match_crop_only_for_administrators_each_view_logged(
    hass: HomeAssistant,
    vigil_server: VigilServer,
    pattern_stream: str,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
    hass_read_only_access_token: str,
) -> None:
    """A match's crop is no image entity: Vigil's view serves it to administrators, logged."""
    registry = er.async_get(hass)
    entry = _entry(vigil_server, pattern_stream)
    entry.add_to_hass(hass)
    # The crop image entity an older version made (keyed on the camera's subentry) is removed.
    unique_id = f"{ENTRY_ID}_{CAMERA_SLUG}_watchlist_match_crop"
    old = registry.async_get_or_create("image", DOMAIN, unique_id, config_entry=entry)
    await _loaded(hass, entry)
    assert registry.async_get(old.entity_id) is None
    admin = await hass_client()
    assert (await admin.get(f"/api/image_proxy/{old.entity_id}")).status == HTTPStatus.NOT_FOUND

    engine, log = vigil_server.engine, vigil_server.access_log
    assert engine is not None
    assert log is not None
    crop = np.full((40, 120, 3), 200, np.uint8)
    crop_id = await hass.async_add_executor_job(
        engine.anpr.crops.put, crop, CAMERA_SLUG, time.time()
    )
    _match(vigil_server, crop_id=crop_id)
    event = _entity(hass, "watchlist_match")
    await wait_until(hass, lambda: _state(hass, event).state != STATE_UNKNOWN, "the match")
    assert _state(hass, event).attributes["crop_id"] == crop_id
    url = CROP_URL.format(entry_id=ENTRY_ID, crop_id=crop_id)

    def views() -> list[dict[str, Any]]:
        return [e for e in log.entries() if e["action"] == "crop_view"]

    reader = await hass_client(hass_read_only_access_token)
    refused = await reader.get(url)
    assert refused.status == HTTPStatus.FORBIDDEN
    assert views() == []

    response = await admin.get(url)
    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/jpeg"
    assert (await response.read()).startswith(b"\xff\xd8")
    (view,) = views()
    assert view["target"] == crop_id
    assert view["actor"] == {
        "user_id": hass_admin_user.id,
        "name": hass_admin_user.name,
        "is_admin": True,
    }
    assert view["details"] == {"picture": "plate_crop", "camera": CAMERA_SLUG}

    # Retention: once the server purged the crop, there is nothing to see (nor to log).
    await hass.async_add_executor_job(engine.anpr.crops.purge, time.time() + 1)
    assert (await admin.get(url)).status == HTTPStatus.NOT_FOUND
    assert len(views()) == 1
